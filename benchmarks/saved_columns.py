"""Benchmark: native kernels that take the saved columns as an argument, against the
kernels of an earlier commit that had them in their text (one compile per set).

Both engines run in this one process: the earlier one is the package as it was at
``--before`` (``git archive``), imported under another name, so that the machine's
load hits both alike. Each figure is the median CPU time of interleaved repeats
(`engine.interleaved`), per call, of

- one run saving every variable (what a plain ``simulate`` does);
- one run saving a few columns (``return_columns``: the model's first stocks);
- one run saving a third of the variables (every third, inner ones too);
- one run at every TIME STEP saving every variable, inner ones too (what the
  dashboard's dominance strip reads);
- an ensemble of ``--members`` members saving every variable;
- the same ensemble saving those few columns (what the dashboard's bands do).

Usage::

    python benchmarks/saved_columns.py --before REV [--models flagship,teacup,SIR,regional_services_300]
        [--repeats 9] [--members 1000]
"""

from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import ENSEMBLE_RANGES, MODELS, ROOT, interleaved, ms

MODELS = {"flagship": ROOT / "models" / "nested_systems.mdl", **MODELS}
RANGES = {
    "flagship": {"Strain build time": (1.0, 4.0), "Climate worsening time": (6.0, 18.0)},
    **ENSEMBLE_RANGES,
}
FEW = 4  # columns of the narrow runs


def earlier_package(revision: str, folder: Path) -> Any:
    """The package ``nestedsystems`` as it was at ``revision``, imported as
    ``nestedsystems_before`` (its imports are relative, so it stays whole)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src/nestedsystems"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "src" / "nestedsystems").rename(folder / "nestedsystems_before")
    sys.path.insert(0, str(folder))
    return importlib.import_module("nestedsystems_before")


def cases(ns: Any, name: str, members: int) -> dict[str, Callable[[], object]]:
    model = ns.load(MODELS[name])
    compiled = ns.compile_model(model, native=True)
    few = [v.name for v in model.stocks[:FEW]]
    every = [v.name for v in model.variables if v.kind is not ns.Kind.LOOKUP]
    # SAVEPER set to TIME STEP, unless it is an equation (teacup's already reads TIME STEP)
    steps = {"SAVEPER": compiled.defaults[compiled.parameters.index("TIME STEP")]}
    steps = steps if "SAVEPER" in compiled.parameters else {}
    rng = np.random.default_rng(20261204)
    arrays = {k: rng.uniform(low, high, members) for k, (low, high) in RANGES[name].items()}
    calls = {
        "run, every column": lambda: ns.simulate(compiled),
        f"run, {len(few)} columns": lambda: ns.simulate(compiled, return_columns=few),
        "run, a third of the variables": lambda: ns.simulate(compiled, return_columns=every[::3]),
        "run at every step, every variable": lambda: ns.simulate(
            compiled, params=steps, return_columns=every
        ),
        f"{members} members, every column": lambda: ns.simulate(compiled, params=arrays),
        f"{members} members, {len(few)} columns": lambda: ns.simulate(
            compiled, params=arrays, return_columns=few
        ),
    }
    for call in calls.values():
        call()  # compiles, or loads from numba's disk cache
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git revision to compare with")
    parser.add_argument("--models", default="flagship,teacup,SIR,regional_services_300")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args(argv)
    import nestedsystems as now

    with tempfile.TemporaryDirectory() as folder:
        before = earlier_package(args.before, Path(folder))
        print(f"| model | run | before ({args.before}) | now | now / before |")
        print("|---|---|---:|---:|---:|")
        for name in args.models.split(","):
            old = cases(before, name, args.members)
            new = cases(now, name, args.members)
            for case in old:
                times = interleaved({"before": old[case], "now": new[case]}, args.repeats)
                change = times["now"] / times["before"]
                print(f"| {name} | {case} | {ms(times['before'])} | {ms(times['now'])} | {change:.3f} |")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
