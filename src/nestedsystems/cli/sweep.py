"""``nestedsystems sweep``: run an ensemble over uncertain constants and rank them."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError, SimulationError

HELP = "run an ensemble over uncertain constants and say which ones matter"

DESCRIPTION = """\
Run MODEL once per member of a sampled design over the constants named by --vary,
write the members (or, for very large ensembles, their quantiles) with --output,
and print which constants move the outcome most, in words.

A lookup (graphical function) named by --vary becomes uncertain too: LOW:HIGH
then scale its departures from its value at input 1 ("<lookup> strength"; 1 is the
curve as drawn, 0 flattens it).

Designs: lhs (Latin hypercube, default) and random rank constants by rank
correlation; sobol (variance shares, S1 and ST) and morris (elementary effects)
use SALib. --n is the number of members; sobol and morris round it to what their
design needs.

examples:
  nestedsystems sweep sir.mdl --vary "Contact Infectivity=0.1:0.6" --vary Duration=2:10 --n 10000
  nestedsystems sweep sir.mdl --vary "Contact Infectivity=0.1:0.6" --vary Duration=2:10 \\
      --method sobol --n 4096 --outcome Recovered --output sweep.nc
  nestedsystems sweep models/nested_systems.mdl --vary "Staff trauma vulnerability=1:1.3" \\
      --n 100000 --scheduler tcp://10.0.0.5:8786
"""

DESIGNS = ("lhs", "random", "sobol", "morris")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.mdl, .xmile, .stmx)")
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        required=True,
        metavar="NAME[=LOW:HIGH]",
        help="an uncertain constant and its range (repeatable); without a range, the model's [min,max]",
    )
    parser.add_argument("--n", type=int, default=1000, help="members of the ensemble (default 1000)")
    parser.add_argument("--method", choices=DESIGNS, default="lhs", help="sampling design (default lhs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the design (default 0)")
    parser.add_argument(
        "--save",
        action="append",
        metavar="NAME",
        help="variable to keep (repeatable; default the model's stocks)",
    )
    parser.add_argument(
        "--outcome",
        metavar="NAME",
        help="variable whose sensitivity is reported (saved too; default the first saved)",
    )
    parser.add_argument(
        "--statistic",
        choices=("final", "min", "max", "mean"),
        default="final",
        help="which number of the outcome's series is analysed (default final)",
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="write the ensemble to FILE (.nc, .parquet, .csv)"
    )
    parser.add_argument("--scenario", metavar="FILE", help="apply a scenario file before running")
    parser.add_argument("--integration", default="euler", help="integration method (default euler)")
    parser.add_argument(
        "--chunk-size", type=int, default=1000, help="members per vectorised run (default 1000)"
    )
    parser.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="run the chunks on this Dask scheduler"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(handler=handle)


def _design(
    method: str, ranges: dict[str, tuple[float, float]], n: int, seed: int
) -> tuple[pd.DataFrame, Any]:
    from ..sampling import Uniform, sample

    if method in ("lhs", "random"):
        return sample(
            {name: Uniform(*bounds) for name, bounds in ranges.items()}, n, method=method, seed=seed
        ), None
    from ..sensitivity import design

    k = len(ranges)
    if method == "sobol":
        # Sobol sequences want a power of two; stay at or under the members asked for
        base = 2 ** max(1, math.floor(math.log2(max(2, n // (k + 2)))))
    else:
        base = max(2, n // (k + 1))
    plan = design(ranges, base, method=method, seed=seed)
    return plan.samples, plan


def rank_sentences(samples: pd.DataFrame, outcome: np.ndarray, label: str, top: int = 5) -> list[str]:
    """Rank constants by the strength of their monotone link to the outcome, in words."""
    ranks = pd.Series(outcome).rank().to_numpy()
    scores = {}
    for name in samples.columns:
        column = samples[name].rank().to_numpy()
        if np.std(column) == 0 or np.std(ranks) == 0:
            scores[name] = 0.0
        else:
            scores[name] = float(np.corrcoef(column, ranks)[0, 1])
    lines = []
    for name, rho in sorted(scores.items(), key=lambda item: -abs(item[1]))[:top]:
        direction = "raises" if rho > 0 else "lowers"
        strength = "strongly" if abs(rho) >= 0.5 else "moderately" if abs(rho) >= 0.2 else "barely"
        lines.append(f"{name} {strength} {direction} {label} (rank correlation {rho:+.2f})")
    return lines


def handle(args: argparse.Namespace) -> int:
    from .. import load
    from ..ensembles import connect, run_ensemble
    from ..model import Kind
    from ..sampling import expose_lookup_strength, parse_range, ranges_from_model

    if args.n < 2:
        raise ParameterError(f"--n: expected at least 2 members, found {args.n}")
    model = load(args.model)
    parsed = []
    for name, low, high in (parse_range(text) for text in args.vary):
        variable = model.get(name)
        if variable is not None and variable.kind is Kind.LOOKUP:
            # an uncertain curve: vary how strongly it departs from its normal point
            model, name = expose_lookup_strength(model, name)
        parsed.append((name, low, high))
    ranges = ranges_from_model(model, {name: (low, high) for name, low, high in parsed})
    samples, plan = _design(args.method, ranges, args.n, args.seed)
    save = list(args.save) if args.save else [v.name for v in model.stocks if v.origin is None]
    if args.outcome and args.outcome not in save:
        save.append(args.outcome)  # the outcome must be kept to be analysed
    client = connect(args.scheduler) if args.scheduler else None
    try:
        result = run_ensemble(
            model,
            samples,
            scenario=args.scenario,
            method=args.integration,
            save=save,
            chunk_size=args.chunk_size,
            client=client,
            progress=False if args.quiet else None,
        )
    finally:
        if client is not None:
            client.close()
    outcome_name = args.outcome or result.names[0]
    outcome = result.outcomes(args.statistic)[outcome_name].to_numpy()
    label = f"{args.statistic} {outcome_name}"
    finite = ~result.failed
    if not finite.any():
        raise SimulationError(result.failure_message() + "; no member is left to summarise")
    low, middle, high = np.quantile(outcome[finite], [0.05, 0.5, 0.95])
    print(
        f"ran {len(result)} members ({args.method}) of {model.name}: {label} "
        f"median {middle:.4g}, 90% of members between {low:.4g} and {high:.4g}"
    )
    if result.n_failed:
        print(result.failure_message())
    if plan is not None and result.n_failed:
        # Sobol and Morris indices read a whole design: a hole in it has no estimate
        print(f"no {args.method} indices: they need every member of the design")
        return 0
    if plan is not None:
        from ..sensitivity import describe

        sentences = describe(plan.analyse(outcome), label)
    else:
        sentences = rank_sentences(samples[finite], outcome[finite], label)
    print("what matters most:")
    for sentence in sentences:
        print(f"  {sentence}")
    if args.output:
        path = result.save(args.output)
        kept = "members" if result.exact else "quantiles (members too many to keep)"
        print(f"wrote {kept} to {path}")
    return 0
