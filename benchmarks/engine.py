"""Benchmark: the engine against PySD 3.14 and pysimlin 0.8 on four models.

Prints markdown tables (ready for the README) of

- loading: ``ns.load`` against PySD's translation ``pysd.read_vensim`` (and
  pysimlin's ``simlin.load``), plus what compiling costs us on top;
- one run, steady state (model loaded and compiled, kernels warm): our
  ``simulate(compiled)`` with native (numba) kernels and with the generated-Python
  kernels, PySD's ``model.run()`` and pysimlin's ``model.simulate().run_to_end()``;
- an ensemble of 1,000 members: our one call with arrays as parameters (native
  kernel, every variable saved; the numpy kernels beside it) against a loop of
  single runs in each peer, timed on a sample of members and given per member.

Models: teacup and SIR from the conformance suite, ``models/benchmark/services60.mdl``
and ``models/benchmark/regional_services_300.mdl``.

Measurements are medians of repeats of the process's CPU time (``--wall`` for wall
time), ours and the peers' interleaved in one process so that the machine's load
(other jobs share its two cores) hits all alike: quote the ratios, and the absolute
times only with the machine. A PySD run that would
take longer than ``--pysd-budget`` seconds (regional_services_300: minutes, nearly
all in its lookups' xarray interpolation) is timed on two short horizons and
extrapolated to the full one (fixed cost plus cost per step); the table says so.

Usage::

    python benchmarks/engine.py [--models teacup,SIR,services60,regional_services_300]
        [--repeats 5] [--members 1000] [--pysd-budget 30] [--json results.json] [--wall]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "conformance" / "test-models" / "samples"
MODELS = {
    "teacup": SAMPLES / "teacup" / "teacup.mdl",
    "SIR": SAMPLES / "SIR" / "SIR.mdl",
    "services60": ROOT / "models" / "benchmark" / "services60.mdl",
    "regional_services_300": ROOT / "models" / "benchmark" / "regional_services_300.mdl",
}
# What each ensemble varies: constant -> (low, high), drawn uniformly per member.
ENSEMBLE_RANGES = {
    "teacup": {"Characteristic Time": (5.0, 15.0), "Room Temperature": (60.0, 80.0)},
    "SIR": {"Contact Infectivity": (0.2, 0.5), "Duration": (3.0, 8.0)},
    "services60": {
        "Normal help seeking fraction": (0.05, 0.08),
        "Target caseload": (18.0, 30.0),
        "Recruitment delay": (2.0, 8.0),
    },
    "regional_services_300": {
        "Metro target caseload": (18.0, 30.0),
        "Weight of need in allocation": (0.0, 1.0),
        "Inland need shock size": (0.1, 0.5),
    },
}
CONTROL = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")


@dataclass
class Result:
    model: str
    variables: int = 0  # what a modeler sees (a run's columns)
    lowered: int = 0  # after SMOOTH, DELAY... became stocks of their own
    lookups: int = 0
    steps: int = 0
    load: dict[str, float] = field(default_factory=dict)  # seconds
    compile: dict[str, float] = field(default_factory=dict)
    run: dict[str, float] = field(default_factory=dict)
    member: dict[str, float] = field(default_factory=dict)  # ensemble, seconds per member
    ensemble_total: float = 0.0
    notes: list[str] = field(default_factory=list)


def quiet(function: Callable[[], object]) -> object:
    # PySD (and xarray under it) warn about their internals on every call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function()


# CPU time of this process by default: the machine is shared, and wall-clock time
# then measures the other jobs as much as the engines. Every engine here computes
# in this one thread, so its CPU time is its cost. ``--wall`` switches to wall time.
TIMER = time.process_time


def clock(function: Callable[[], object], number: int = 1) -> float:
    start = TIMER()
    for _ in range(number):
        function()
    return (TIMER() - start) / number


def batch_size(function: Callable[[], object], target: float = 0.05) -> int:
    """How many calls make one timing sample of about ``target`` seconds."""
    once = clock(function)
    return max(1, min(1000, int(target / max(once, 1e-7))))


def interleaved(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, the functions taking turns."""
    sizes = {name: batch_size(f) for name, f in functions.items()}
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            samples[name].append(clock(f, sizes[name]))
    return {name: statistics.median(s) for name, s in samples.items()}


def simlin_name(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip('"').strip().lower())


class Peers:
    """PySD and pysimlin holding one model, in a temporary folder (PySD writes its
    translation next to the .mdl)."""

    def __init__(self, path: Path, folder: Path):
        import pysd
        import simlin

        self.pysd, self.simlin = pysd, simlin
        self.mdl = Path(shutil.copy(path, folder / path.name))
        self.translate()
        self.py = self.mdl.with_suffix(".py")
        self.pysd_model = quiet(lambda: pysd.load(str(self.py)))
        self.simlin_model = simlin.load(str(path))

    def translate(self) -> object:
        return quiet(lambda: self.pysd.read_vensim(str(self.mdl)))

    def pysd_run(self, params: dict[str, float] | None = None, final_time: float | None = None) -> object:
        # PySD keeps a final_time (and params) given to one run for the next ones:
        # always say which horizon is meant.
        return quiet(lambda: self.pysd_model.run(params=params, final_time=final_time))

    def simlin_run(self, params: dict[str, float] | None = None) -> object:
        overrides = {simlin_name(k): float(v) for k, v in (params or {}).items()}
        sim = self.simlin_model.simulate(overrides=overrides) if overrides else self.simlin_model.simulate()
        sim.run_to_end()
        return sim


def pysd_time(
    peers: Peers,
    t0: float,
    dt: float,
    final: float,
    budget: float,
    repeats: int,
    params: dict[str, float] | None = None,
) -> tuple[float, str | None]:
    """Seconds for PySD's full run; extrapolated from two short horizons when one
    full run would take longer than ``budget`` seconds."""
    steps = round((final - t0) / dt)
    short = max(4, min(steps // 4, 20))
    # The first run of a model pays for PySD's caches: warm it up on a short horizon.
    peers.pysd_run(params, t0 + short * dt)
    one = clock(lambda: peers.pysd_run(params, t0 + short * dt))
    estimate = one / short * steps
    if estimate <= budget:
        runs = max(1, min(repeats, int(budget / max(estimate, 1e-9))))
        return statistics.median(clock(lambda: peers.pysd_run(params, final)) for _ in range(runs)), None
    a = statistics.median(clock(lambda: peers.pysd_run(params, t0 + short * dt)) for _ in range(repeats))
    b = statistics.median(clock(lambda: peers.pysd_run(params, t0 + 2 * short * dt)) for _ in range(repeats))
    per_step = max(b - a, 0.0) / short
    fixed = max(a - per_step * short, 0.0)
    return (
        fixed + per_step * steps,
        f"PySD timed on {short}- and {2 * short}-step runs, extrapolated to {steps} steps",
    )


def agreement(ours: object, sim: object) -> float:
    """Largest relative difference between our run and pysimlin's over common variables."""
    worst = 0.0
    names = set(sim.get_var_names())  # type: ignore[attr-defined]
    for name in ours.names:  # type: ignore[attr-defined]
        key = simlin_name(name).replace(".", "\u2024")  # pysimlin spells '.' in names as a one-dot leader
        if key not in names:
            continue
        a = np.asarray(sim.get_series(key), float)  # type: ignore[attr-defined]
        b = ours[name].reshape(-1)  # type: ignore[index]
        if a.shape != b.shape:
            continue
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-9))))
    return worst


def benchmark(name: str, repeats: int, members: int, pysd_budget: float, folder: Path) -> Result:
    import nestedsystems as ns

    path = MODELS[name]
    result = Result(name)
    model = ns.load(path)
    peers = Peers(path, folder)

    # Loading, interleaved. Ours parses with PySD's parser too (not its builder).
    times = interleaved(
        {
            "ours": lambda: ns.load(path),
            "PySD": peers.translate,
            "pysimlin": lambda: peers.simlin.load(str(path)),
        },
        repeats=max(3, repeats // 2),
    )
    result.load = times
    # Compiling: the Python kernels (generated, compiled by CPython) and the native
    # ones (numba; its machine code is cached on disk, so this is a warm-cache figure
    # after the first process that ever compiled this model).
    fresh = ns.load(path)
    result.compile["python"] = clock(lambda: ns.simulate(ns.compile_model(fresh, native=False)))
    result.compile["native"] = clock(lambda: ns.simulate(ns.compile_model(fresh, native=True)))

    python = ns.compile_model(model, native=False)
    native = ns.compile_model(model, native=True)
    run = ns.simulate(native)
    result.variables = len(run.names)
    result.lowered = len(model.variables)
    result.lookups = sum(v.kind is ns.Kind.LOOKUP for v in model.variables)
    t0, final = float(run.times[0]), float(run.times[-1])
    dt = float(python.defaults[python.parameter_index("time step")])
    result.steps = round((final - t0) / dt)

    sim = peers.simlin_run()
    worst = agreement(run, sim)
    if worst > 1e-6:
        result.notes.append(f"pysimlin differs from ours by up to {worst:.2g} (relative)")

    # One run, steady state.
    result.run = interleaved(
        {
            "ours": lambda: ns.simulate(native),
            "ours (Python kernels)": lambda: ns.simulate(python),
            "pysimlin": lambda: peers.simlin_run(),
        },
        repeats=repeats,
    )
    result.run["PySD"], note = pysd_time(peers, t0, dt, final, pysd_budget, repeats)
    if note:
        result.notes.append(note)

    # Ensembles: our one call against a loop of the peers' single runs.
    rng = np.random.default_rng(20261129)
    ranges = ENSEMBLE_RANGES[name]
    arrays = {k: rng.uniform(lo, hi, members) for k, (lo, hi) in ranges.items()}
    ns.simulate(native, params=arrays)  # compiles the members' kernel (or finds it on disk)
    ns.simulate(python, params=arrays)  # builds the numpy kernels
    ensembles = {
        "ours": lambda: ns.simulate(native, params=arrays),
        "ours (numpy kernels)": lambda: ns.simulate(python, params=arrays),
    }
    samples: dict[str, list[float]] = {k: [] for k in ensembles}
    for _ in range(max(3, repeats // 2)):
        for k, f in ensembles.items():
            samples[k].append(clock(f))
    result.ensemble_total = statistics.median(samples["ours"])
    result.member.update({k: statistics.median(v) / members for k, v in samples.items()})
    sample = [{k: float(v[i]) for k, v in arrays.items()} for i in range(min(members, 50))]
    result.member["pysimlin"] = statistics.median(clock(lambda p=p: peers.simlin_run(p)) for p in sample)
    pysd_members = [pysd_time(peers, t0, dt, final, pysd_budget, 1, params=p)[0] for p in sample[:3]]
    result.member["PySD"] = statistics.median(pysd_members)
    return result


def ms(seconds: float) -> str:
    value = seconds * 1e3
    if value >= 1000:
        return f"{seconds:,.1f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    if value >= 0.1:
        return f"{value:.2f} ms"
    return f"{value * 1e3:.1f} µs"


def ratio(theirs: float, ours: float) -> str:
    x = theirs / ours
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 1 else f"{x:.2f}x"


def tables(results: list[Result], members: int) -> str:
    lines = [
        "### Models",
        "",
        "| model | variables (modeler's) | after lowering | lookups | Euler steps |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r.model} | {r.variables} | {r.lowered} | {r.lookups} | {r.steps} |" for r in results]
    lines += [
        "",
        "### Loading (parse to a runnable model)",
        "",
        "| model | ours `ns.load` | PySD `read_vensim` | pysimlin `load` | PySD / ours | "
        "+ our compile, Python kernels | + our compile, native (warm disk cache) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {ms(r.load['ours'])} | {ms(r.load['PySD'])} | {ms(r.load['pysimlin'])} | "
        f"{ratio(r.load['PySD'], r.load['ours'])} | {ms(r.compile['python'])} | {ms(r.compile['native'])} |"
        for r in results
    ]
    lines += [
        "",
        "### One run, steady state",
        "",
        "| model | ours (native) | ours (Python kernels) | PySD | pysimlin | PySD / ours | pysimlin / ours |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {ms(r.run['ours'])} | {ms(r.run['ours (Python kernels)'])} | {ms(r.run['PySD'])} | "
        f"{ms(r.run['pysimlin'])} | {ratio(r.run['PySD'], r.run['ours'])} | "
        f"{ratio(r.run['pysimlin'], r.run['ours'])} |"
        for r in results
    ]
    lines += [
        "",
        f"### Ensemble of {members:,} members (per member)",
        "",
        "| model | ours, one call (total) | ours | ours (numpy kernels) | PySD loop | pysimlin loop "
        "| PySD / ours | pysimlin / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.model} | {ms(r.ensemble_total)} | {ms(r.member['ours'])} | "
        f"{ms(r.member['ours (numpy kernels)'])} | {ms(r.member['PySD'])} | "
        f"{ms(r.member['pysimlin'])} | {ratio(r.member['PySD'], r.member['ours'])} | "
        f"{ratio(r.member['pysimlin'], r.member['ours'])} |"
        for r in results
    ]
    notes = [f"- {r.model}: {n}" for r in results for n in r.notes]
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        "Targets: one run ≥30x faster than PySD and no slower than pysimlin (pysimlin / ours ≥ 1); "
        "ensemble members ≥1,000x faster than PySD and ≥5x faster than pysimlin; loading no slower than "
        "PySD's translation (PySD / ours ≥ 1).",
    ]
    misses = []
    for r in results:
        checks = {
            "one run vs PySD (≥30x)": r.run["PySD"] / r.run["ours"] >= 30,
            "one run vs pysimlin (≥1x)": r.run["pysimlin"] / r.run["ours"] >= 1,
            "ensemble vs PySD (≥1,000x)": r.member["PySD"] / r.member["ours"] >= 1000,
            "ensemble vs pysimlin (≥5x)": r.member["pysimlin"] / r.member["ours"] >= 5,
            "loading vs PySD (≥1x)": r.load["PySD"] / r.load["ours"] >= 1,
        }
        misses += [f"{r.model}: {k}" for k, ok in checks.items() if not ok]
    lines += ["", "Missed: " + ("; ".join(misses) if misses else "none")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS)
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument(
        "--pysd-budget",
        type=float,
        default=30.0,
        help="seconds one PySD run may take before it is extrapolated from short runs",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    args = parser.parse_args(argv)
    global TIMER
    if args.wall:
        TIMER = time.perf_counter
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; expected some of {list(MODELS)}")

    import nestedsystems as ns

    results = []
    with tempfile.TemporaryDirectory() as folder:
        # Pay each library's imports and first-call costs before anything is timed.
        warm = Peers(MODELS["teacup"], Path(folder))
        warm.pysd_run(final_time=30)
        ns.simulate(ns.load(MODELS["teacup"]))
        for name in names:
            print(f"benchmarking {name}...", file=sys.stderr, flush=True)
            results.append(benchmark(name, args.repeats, args.members, args.pysd_budget, Path(folder)))
    print(tables(results, args.members))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
