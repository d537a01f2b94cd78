"""``nestedsystems check``: the checks a modeler runs before trusting a model.

Each check is a section: a title and a function of the loaded model that prints
one line per problem and returns a `Section` (a summary line and whether it found
problems). A new check is one more function in `SECTIONS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .. import load
from ..model import Model
from ..reality_checks import run_checks
from ..units import units_check

HELP = "check a model: units agree with every equation, its Reality Checks hold"

DESCRIPTION = """\
Check MODEL and print one line per problem (file:line: what), then a summary
line per check. Exit code 0 when every check passes, 1 when one found a problem,
2 when the model cannot be read.

Units: every equation's units must agree with its variable's declared units, a
stock's net flow must be in its units per time unit, and like units are added,
compared and chosen between (Vensim's Units Check rules).

Reality checks: every Reality Check constraint in the file (name :THE CONDITION:
... :IMPLIES: ...) is run, its test inputs applied, and each one that fails is
printed with the first time it failed and the values then (Vensim's Reality Check).

examples:
  nestedsystems check models/nested_systems.mdl
  nestedsystems check models/teaching/burnout_cycle.mdl
"""


@dataclass(frozen=True, slots=True)
class Section:
    """What one check found: its summary line, and whether that is a failure."""

    summary: str
    failed: bool


def check_units_section(model: Model) -> Section:
    result = units_check(model)
    for issue in result.issues:
        print(f"{issue.location}: variable {issue.variable!r}: {issue.detail}")
    reasons = sorted({reason for _, reason in result.not_checked})
    why = f" ({'; '.join(reasons)})" if reasons else ""
    summary = (
        f"units: {result.checked} variables checked, {_count(len(result.issues), 'issue')}, "
        f"{len(result.not_checked)} not checked{why}"
    )
    return Section(summary, failed=bool(result.issues))


def check_reality_section(model: Model) -> Section:
    results = run_checks(model)
    for result in results:
        if not result.passed:
            print(result)
    passed = sum(result.passed for result in results)
    return Section(f"reality checks: {len(results)} run, {passed} passed", failed=passed < len(results))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# (title, check): run in this order, each printing its problems then its summary.
SECTIONS: tuple[tuple[str, Callable[[Model], Section]], ...] = (
    ("units", check_units_section),
    ("reality checks", check_reality_section),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.mdl, .xmile, .stmx)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    model = load(args.model)
    failed = False
    for _, check in SECTIONS:
        section = check(model)
        print(section.summary)
        failed = failed or section.failed
    return 1 if failed else 0
