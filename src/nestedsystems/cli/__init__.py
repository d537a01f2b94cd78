"""The ``nestedsystems`` command line: one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``handler`` (a function of the parsed arguments returning an exit code).
Errors from the library become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import NestedSystemsError

__all__ = ["main"]

# Subcommands, in the order --help lists them.
COMMANDS = ("run", "check", "convert", "loops", "serve", "sweep", "calibrate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nestedsystems",
        description=(
            "System dynamics of nested human-service systems: run Vensim/XMILE models, "
            "explore what-if scenarios, find the feedback loops that drive them."
        ),
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 bad input or failed run)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except NestedSystemsError as error:
        print(f"nestedsystems: error: {error}", file=sys.stderr)
        return 2
    except (OSError, KeyboardInterrupt) as error:
        print(f"nestedsystems: error: {error}", file=sys.stderr)
        return 2
