"""``nestedsystems calibrate``: fit constants of a model to observed time series."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import ParameterError

HELP = "fit constants of a model to observed time series, with confidence intervals"

DESCRIPTION = """\
Fit the constants named by --fit so that MODEL reproduces the series in --data (a
CSV file with a `time` column and one column per observed variable, named as in
the model; empty cells are missing observations). Prints the fitted values with
confidence intervals and RMSE / R² per series, and writes a plot of the fit
against the data as an HTML page.

Each series counts in units of its own spread; --weight NAME=W multiplies that.

examples:
  nestedsystems calibrate sir.mdl --data cases.csv --fit "Contact Infectivity=0.05:1" --fit Duration=1:20
  nestedsystems calibrate sir.mdl --data cases.csv --fit Duration=1:20 --weight Recovered=0.5 \\
      --starts 8 --scheduler tcp://10.0.0.5:8786 --plot fit.html
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.mdl, .xmile, .stmx)")
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="observed series (.csv with a time column)"
    )
    parser.add_argument(
        "--fit",
        action="append",
        required=True,
        metavar="NAME[=LOW:HIGH]",
        help="a constant to fit and its bounds (repeatable); without bounds, the model's [min,max]",
    )
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="weight of an observed series (repeatable)",
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="level of the intervals (default 0.95)"
    )
    parser.add_argument(
        "--starts", type=int, default=1, help="starting points, the best fit kept (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the extra starting points (default 0)")
    parser.add_argument("--plot", metavar="FILE", help="where to write the plot (default MODEL-fit.html)")
    parser.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--scenario", metavar="FILE", help="apply a scenario file before fitting")
    parser.add_argument("--integration", default="euler", help="integration method (default euler)")
    parser.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="run the starts on this Dask scheduler"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(handler=handle)


def parse_weights(items: list[str]) -> dict[str, float]:
    """``["Recovered=0.5"]`` -> ``{"Recovered": 0.5}``; a clear error otherwise."""
    weights = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not sep or not name.strip() or not math.isfinite(value) or value < 0:
            raise ParameterError(f"--weight {item!r}: expected NAME=W with W a number >= 0")
        weights[name.strip()] = value
    return weights


def handle(args: argparse.Namespace) -> int:
    from .. import load
    from ..calibration import calibrate, plot_fit
    from ..ensembles import connect
    from ..sampling import parse_range

    if not 0 < args.confidence < 1:
        raise ParameterError(f"--confidence: expected a level between 0 and 1, found {args.confidence}")
    if args.starts < 1:
        raise ParameterError(f"--starts: expected at least 1, found {args.starts}")
    model = load(args.model)
    fit = {name: (low, high) for name, low, high in (parse_range(text) for text in args.fit)}
    client = connect(args.scheduler) if args.scheduler else None
    try:
        calibration = calibrate(
            model,
            args.data,
            fit,
            weights=parse_weights(args.weight),
            scenario=args.scenario,
            method=args.integration,
            confidence=args.confidence,
            starts=args.starts,
            seed=args.seed,
            client=client,
            progress=False if args.quiet else None,
        )
    finally:
        if client is not None:
            client.close()
    print(calibration.summary())
    if not args.no_plot:
        path = Path(args.plot) if args.plot else Path(f"{Path(args.model).stem}-fit.html")
        print(f"wrote the plot of fit against data to {plot_fit(calibration, path)}")
    return 0 if calibration.success else 1
