"""Benchmark: memory and time of a 10,000-member ensemble of the 357-variable model.

One call, ``ns.simulate(compiled, params={...arrays of 10,000...}, return_columns=[10 names])``,
on ``models/benchmark/regional_services_300.mdl`` (480 Euler steps, saved monthly),
run in a fresh subprocess so that its peak resident memory is its own:
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by this process after the
child exits, beside the child's own peak just before the ensemble started (the
libraries, the model and its compiled kernels). Target: peak below 2 GiB. Time is
given as the child's CPU time (the machine is shared) and its wall time.

Usage::

    python benchmarks/big_model.py [--members 10000] [--model FILE] [--all-columns] [--numpy]

Prints a markdown table. ``--all-columns`` keeps every variable instead of ten, to
show what ``return_columns`` saves (10,000 members x 121 saved times x 357
variables is 3.5 GB of float64 before any copy).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "benchmark" / "regional_services_300.mdl"
REGIONS = ("Metro", "North Coast", "Inland", "Highlands")
COLUMNS = [f"{r} {what}" for r in REGIONS for what in ("waiting list", "clinicians")] + [
    "State funding",
    "Political pressure",
]
RANGES = {
    "Metro target caseload": (18.0, 30.0),
    "Weight of need in allocation": (0.0, 1.0),
    "Inland need shock size": (0.1, 0.5),
    "Highlands recruitment delay": (3.0, 9.0),
    "State funding growth": (0.0, 0.004),
}
GIB = 2**30


def _maxrss_bytes(usage: resource.struct_rusage) -> int:
    # Linux reports kilobytes (macOS bytes; this benchmark runs on Linux).
    return usage.ru_maxrss * 1024


def child(model_path: Path, members: int, all_columns: bool, numpy_kernels: bool = False) -> None:
    """Run the ensemble and print its figures as one JSON line."""
    import numpy as np

    import nestedsystems as ns

    model = ns.load(model_path)
    # The default kernel (native where numba is installed: one machine-code call
    # writes only the kept columns); --numpy measures the numpy kernels instead.
    compiled = ns.compile_model(model, native=False if numpy_kernels else None)
    columns = None if all_columns else COLUMNS
    rng = np.random.default_rng(20261129)
    params = {k: rng.uniform(lo, hi, members) for k, (lo, hi) in RANGES.items()}
    ns.simulate(
        compiled, params={k: v[:2] for k, v in params.items()}, return_columns=columns
    )  # build kernels
    before = _maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))
    start, cpu = time.perf_counter(), time.process_time()
    run = ns.simulate(compiled, params=params, return_columns=columns)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps(
            {
                "members": members,
                "variables": len(ns.simulate(compiled, params={"FINAL TIME": 1.0}).names),
                "saved": len(run.names),
                "shape": list(run.values.shape),
                "result_bytes": int(run.values.nbytes),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "before_bytes": before,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--all-columns", action="store_true")
    parser.add_argument(
        "--numpy", action="store_true", help="the numpy kernels instead of the default (native)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.model, args.members, args.all_columns, args.numpy)
        return 0

    command = [
        sys.executable,
        __file__,
        "--child",
        "--members",
        str(args.members),
        "--model",
        str(args.model),
    ]
    command += ["--all-columns"] if args.all_columns else []
    command += ["--numpy"] if args.numpy else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        print(f"the ensemble's subprocess failed (exit {done.returncode})", file=sys.stderr)
        return 1
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    peak = _maxrss_bytes(resource.getrusage(resource.RUSAGE_CHILDREN))
    saved = "every variable" if args.all_columns else f"{figures['saved']} variables (`return_columns`)"
    saved += ", numpy kernels" if args.numpy else ", native kernel"
    print(
        "| model | members | saved | CPU time (wall) | CPU per member | result array | peak RSS before | "
        "peak RSS | target |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    print(
        f"| {args.model.stem} ({figures['variables']} variables) | {figures['members']:,} | {saved} | "
        f"{figures['cpu_seconds']:.1f} s ({figures['seconds']:.1f} s) | "
        f"{figures['cpu_seconds'] / figures['members'] * 1e3:.2f} ms | "
        f"{figures['result_bytes'] / 2**20:,.0f} MiB | {figures['before_bytes'] / 2**20:,.0f} MiB | "
        f"{peak / 2**20:,.0f} MiB | {'met' if peak < 2 * GIB else 'MISSED'} (< 2 GiB) |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
