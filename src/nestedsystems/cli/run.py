"""``nestedsystems run``: simulate a model file once and write or summarise the result."""

from __future__ import annotations

import argparse
import math

from ..errors import ParameterError

HELP = "simulate a Vensim (.mdl) or XMILE (.xmile, .stmx) model and write its results"

DESCRIPTION = """\
Simulate MODEL once. With --output the results go to a CSV file (Parquet when the
name ends in .parquet): a `time` column first, then every variable, named as in the
model file. Without --output a short summary is printed.

examples:
  nestedsystems run models/nested_systems.mdl
  nestedsystems run teacup.mdl --set "Room Temperature=60" --output teacup.csv
  nestedsystems run models/nested_systems.mdl --scenario models/scenarios/drift.toml
  nestedsystems run sir.mdl --method RK45 --rtol 1e-8
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.mdl, .xmile, .stmx)")
    parser.add_argument(
        "--method",
        default="euler",
        help="euler or rk4 at the model's TIME STEP (Vensim-exact; default euler), "
        "or a scipy solve_ivp method: RK45, RK23, DOP853, LSODA, BDF, Radau",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a constant (repeatable); names as in the model file",
    )
    parser.add_argument("--scenario", metavar="FILE", help="apply a scenario file (.toml) before running")
    parser.add_argument("--output", "-o", metavar="FILE", help="write results to FILE (.csv or .parquet)")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of solve_ivp methods")
    parser.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance of solve_ivp methods")
    parser.add_argument(
        "--keep-nonfinite",
        action="store_true",
        help="keep going when a variable becomes NaN or infinite (default: stop with an error)",
    )
    parser.set_defaults(handler=handle)


def parse_settings(settings: list[str]) -> dict[str, float]:
    """``["a=1", "b c=2.5"]`` -> ``{"a": 1.0, "b c": 2.5}``; a clear error otherwise."""
    params: dict[str, float] = {}
    for item in settings:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--set {item!r}: expected NAME=VALUE")
        try:
            value = float(text)
        except ValueError:
            raise ParameterError(
                f"--set {item!r}: expected a number after '=', found {text.strip()!r}"
            ) from None
        if not math.isfinite(value):
            raise ParameterError(f"--set {item!r}: expected a finite number, found {text.strip()!r}")
        params[name.strip()] = value
    return params


def handle(args: argparse.Namespace) -> int:
    from .. import compile_model, load, simulate

    params = parse_settings(args.settings)
    # One run: the interpreter finishes before a native compile would.
    compiled = compile_model(load(args.model), native=False)
    run = simulate(
        compiled,
        params=params,
        scenario=args.scenario,
        method=args.method,
        rtol=args.rtol,
        atol=args.atol,
        on_nonfinite="ignore" if args.keep_nonfinite else "raise",
    )
    if args.output:
        path = run.write(args.output)
        print(f"wrote {len(run.times)} times x {len(run.names)} variables to {path}")
    else:
        print(run.summary())
    return 0
