"""``nestedsystems convert``: read a model in one format and write it in another."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "convert a model between Vensim (.mdl) and XMILE (.xmile, .stmx)"

DESCRIPTION = """\
Load IN (Vensim .mdl or XMILE .xmile/.stmx) and write it to OUT in the format OUT's
suffix names: .mdl for Vensim, .xmile, .stmx or .xml for XMILE (Stella, iThink).
What the target format cannot say (a Vensim-only function in XMILE, a non-negative
stock in a .mdl, ...) stops the conversion with the variable and the reason. What
it has no place for but does not change a run (Reality Checks and SAVEPER in XMILE)
is left out with a note on stderr.

examples:
  nestedsystems convert models/nested_systems.mdl nested_systems.xmile
  nestedsystems convert teacup.stmx teacup.mdl
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", metavar="IN", help="model file to read (.mdl, .xmile, .stmx)")
    parser.add_argument("output", metavar="OUT", help="file to write (.mdl, .xmile, .stmx, .xml)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from .. import load, save
    from ..vensim import XMILE_SUFFIXES
    from ..xmile_writer import not_carried

    model = load(args.input)
    written = save(model, args.output)
    if Path(args.output).suffix.lower() in XMILE_SUFFIXES:
        for lost in not_carried(model):
            print(f"nestedsystems: note: {written} leaves out {lost}", file=sys.stderr)
    print(f"wrote {written}")
    return 0
