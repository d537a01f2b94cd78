"""Benchmark: ensembles against loops of single runs in PySD and pysimlin, and the memory of 100,000 members.

Prints, for the flagship model when present (else SIR):

- the time of a 10,000-member ensemble (`run_ensemble`, chunks of 1,000) and its cost
  per member;
- the cost per member of a loop of PySD runs (``pysd.read_vensim(f).run(params=...)``)
  and of pysimlin runs (reset, set the constants, run to the end), measured on a few
  members and extrapolated, and how many times slower each is than the ensemble;
- the peak resident memory of a 100,000-member ensemble saving 10 variables,
  measured in a fresh subprocess (``VmHWM``), beside the same process's peak just
  before the ensemble starts, and with ``--trace`` the ensemble's own allocations
  (``tracemalloc``; off by default so that it cannot slow the timed run).

With ``--bands`` it measures the what-if dashboard's uncertainty view instead: the
ensemble behind one scenario's bands (the members and spans of
``models/nested_systems.uncertainty.toml``), against the same members run one at a
time by our own engine; the loop shares table; and what a slider's run costs while
that ensemble runs on the background thread, against the same run on an idle server.

Usage::

    python benchmarks/ensembles.py [--model FILE] [--members 10000] [--large 100000]
        [--pysd-runs 3] [--simlin-runs 20] [--chunk-size 1000] [--trace]
    python benchmarks/ensembles.py --bands [--repeats 5]

Costs are CPU time of this process (`time.process_time`), so that other work on a
busy machine does not inflate them; wall time is printed beside them. Figures are
medians where repeated; quote them with the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "nested_systems.mdl"
SIR = ROOT.parent / "shared" / "conformance" / "test-models" / "samples" / "SIR" / "SIR.mdl"
SIR_RANGES = {"Contact Infectivity": (0.1, 0.6), "Duration": (2.0, 10.0)}


def uncertain_constants(model, limit: int = 6) -> dict[str, tuple[float, float]]:
    """Constants with a continuous slider range in the model (levers), else SIR's two."""
    ranges = {}
    for variable in model.constants:
        r = variable.range
        if r.minimum is None or r.maximum is None or not r.minimum < r.maximum:
            continue
        if r.step is not None and r.step >= (r.maximum - r.minimum) / 2:  # a switch, not a dial
            continue
        ranges[variable.name] = (float(r.minimum), float(r.maximum))
    if not ranges:
        ranges = {k: v for k, v in SIR_RANGES.items() if k in model}
    return dict(list(ranges.items())[:limit])


def saved_variables(model, count: int = 10) -> list[str]:
    names = [v.name for v in model.stocks if v.origin is None]
    if len(names) < count:
        from nestedsystems.model import Kind

        names += [v.name for v in model.of_kind(Kind.AUXILIARY) if v.origin is None and v.name not in names]
    return names[:count]


def members_table(ranges, n: int, seed: int = 0):
    from nestedsystems.sampling import Uniform, sample

    return sample({name: Uniform(*bounds) for name, bounds in ranges.items()}, n, seed=seed)


def time_ensemble(path: Path, n: int, chunk_size: int) -> dict:
    import nestedsystems as ns
    from nestedsystems.ensembles import run_ensemble

    model = ns.load(path)
    ranges = uncertain_constants(model)
    save = saved_variables(model)
    table = members_table(ranges, n)
    run_ensemble(
        model, table.iloc[:chunk_size], save=save, chunk_size=chunk_size, progress=False
    )  # compile, warm
    start, cpu = time.perf_counter(), time.process_time()
    result = run_ensemble(model, table, save=save, chunk_size=chunk_size, progress=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "model": model.name,
        "members": n,
        "times": len(result.times),
        "saved": len(save),
        "varied": list(ranges),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "per_member_ms": 1e3 * cpu / n,
        "exact": result.exact,
        "first_member_final": {k: float(v) for k, v in result.outcomes("final").iloc[0].items()},
        "table": table,
        "save": save,
    }


def time_pysd(path: Path, table, runs: int) -> float:
    """Milliseconds per PySD run (loading excluded), median over ``runs`` members."""
    import pysd

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy = Path(folder) / path.name
        shutil.copy(path, copy)  # PySD writes its translation beside the model
        model = pysd.read_vensim(str(copy))
        costs = []
        for i in range(runs + 1):
            start = time.process_time()
            model.run(params=dict(table.iloc[i]))
            costs.append(time.process_time() - start)
            # the first run pays one-off costs of about a second; beyond ten
            # seconds they no longer matter and the run counts as a sample
            if i == 0 and costs[0] < 10.0:
                costs.pop()
            if len(costs) == runs:
                break
    return 1e3 * statistics.median(costs)


def _readable_by_simlin(path: Path, folder: Path) -> Path:
    """A copy pysimlin 0.8 can parse: it refuses '%' in units and multi-view sketches.

    Neither changes a number of the simulation: units are dropped to plain words
    and the sketch (diagram layout only) is cut off.
    """
    text = path.read_text(encoding="utf-8")
    sketch = text.find("\\\\\\---///")
    equations = text if sketch < 0 else text[:sketch]
    copy = folder / path.name
    copy.write_text(equations.replace("%", "percent"), encoding="utf-8")
    return copy


def time_simlin(path: Path, table, runs: int, save: list[str]) -> tuple[float, float | None]:
    """Milliseconds per pysimlin run, and its first member's final value of ``save[0]``."""
    import simlin

    with tempfile.TemporaryDirectory() as folder:
        model = simlin.load(_readable_by_simlin(path, Path(folder)))  # held in memory once loaded

    def key(name: str) -> str:
        return "_".join(name.lower().split())

    with model.simulate() as sim:
        known = set(sim.get_var_names())
        costs, first = [], None
        for i in range(runs + 1):
            start = time.process_time()
            sim.reset()
            for name, value in table.iloc[i].items():
                sim.set_value(key(name), float(value))
            sim.run_to_end()
            series = [sim.get_series(key(name)) for name in save if key(name) in known]
            if i == 0:
                first = float(series[0][-1]) if series else None
                continue  # the first run pays one-off costs
            costs.append(time.process_time() - start)
    return 1e3 * statistics.median(costs), first


LARGE_SCRIPT = """
import json, sys, time, tracemalloc
import nestedsystems as ns
sys.path.insert(0, {bench!r})
from ensembles import members_table, saved_variables, uncertain_constants
from nestedsystems.ensembles import run_ensemble

def high_water_mb():
    # VmHWM, not getrusage's maxrss: maxrss survives exec and so reports the
    # parent's size at fork when the parent is larger than this process.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

model = ns.load({path!r})
ranges, save = uncertain_constants(model), saved_variables(model)
table = members_table(ranges, {n})
run_ensemble(model, table.iloc[:10], save=save, progress=False)
before = high_water_mb()
if {trace}:
    tracemalloc.start()
start, cpu = time.perf_counter(), time.process_time()
result = run_ensemble(model, table, save=save, chunk_size={chunk}, progress=False)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
quantiles = result.quantiles([0.05, 0.5, 0.95])
traced = tracemalloc.get_traced_memory()[1] / 2**20 if {trace} else None
peak = high_water_mb()
def relative_error(name):
    # against the variable's whole range over members and time; a variable that
    # never moves has no range and its (padding-sized) bins say nothing
    span = float(quantiles[name].max() - quantiles[name].min())
    return float(result.quantile_error([0.05, 0.5, 0.95])[name].max()) / span if span > 0 else 0.0

error = max(relative_error(v) for v in result.names)
print(json.dumps({{"members": {n}, "saved": len(save), "times": len(result.times), "exact": result.exact,
    "seconds": seconds, "cpu_seconds": cpu, "hwm_before_mb": before, "hwm_peak_mb": peak,
    "traced_peak_mb": traced, "kept_would_need_mb": {n} * len(result.times) * len(save) * 8 / 2**20,
    "max_quantile_error_relative": error}}))
"""


def large_ensemble_memory(path: Path, n: int, chunk_size: int, trace: bool = False) -> dict:
    script = LARGE_SCRIPT.format(
        bench=str(Path(__file__).parent), path=str(path), n=n, chunk=chunk_size, trace=trace
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_bands(path: Path, repeats: int) -> dict:
    """The uncertainty view's costs, as `main` prints them for ``--bands``."""
    import threading

    import nestedsystems as ns
    from nestedsystems.dashboard.assumptions import assumptions_for
    from nestedsystems.dashboard.figures import time_axis
    from nestedsystems.dashboard.levers import levers_of
    from nestedsystems.dashboard.uncertainty import loop_shares, scenario_bands
    from nestedsystems.dashboard.whatif import FLAGSHIP as SPEC
    from nestedsystems.loops import find_loops

    model = ns.load(path)
    levers = [lever.name for lever in levers_of(model, ranged_only=True)]
    assumptions = assumptions_for(path, model, levers=levers)
    save = list(dict.fromkeys(item.variable for item in (*SPEC.trajectories, *SPEC.indicators)))
    # the kernels a server's sessions run: machine code where numba is installed
    compiled = ns.compile_model(model)
    ns.simulate(compiled)
    scenario = {"Sanctuary adoption": 1.0}
    scenario_bands(compiled, assumptions, scenario, save)  # warm

    def cpu_ms(call, n=repeats):
        costs = []
        for _ in range(n):
            cpu = time.process_time()
            call()
            costs.append(1e3 * (time.process_time() - cpu))
        return statistics.median(costs)

    bands_ms = cpu_ms(lambda: scenario_bands(compiled, assumptions, scenario, save))
    table = assumptions.samples()
    rows = [dict(row, **scenario) for row in table.head(20).to_dict("records")]
    singles = cpu_ms(lambda: [ns.simulate(compiled, params=row, return_columns=save) for row in rows], 3)
    one_by_one_ms = singles / len(rows) * assumptions.members
    loops = find_loops(model).named()
    axis = time_axis(model.time_units)
    shares_ms = cpu_ms(lambda: loop_shares(compiled, loops, assumptions, scenario, axis, members=100), 1)

    # A slider's run on an idle server, then while ensembles run on a background thread.
    def slider_ms(n=30):
        costs = []
        for k in range(n):
            start = time.perf_counter()
            ns.simulate(compiled, params={"Relative pay": 0.9 + 0.01 * k})
            costs.append(1e3 * (time.perf_counter() - start))
        return statistics.median(costs), sorted(costs)[int(0.95 * (n - 1))]

    idle = slider_ms()
    stop = threading.Event()

    def background():
        while not stop.is_set():
            scenario_bands(compiled, assumptions, scenario, save)

    worker = threading.Thread(target=background, daemon=True)
    worker.start()
    time.sleep(0.2)
    busy = slider_ms()
    stop.set()
    worker.join()
    return {
        "members": assumptions.members,
        "spans": len(assumptions.spans),
        "saved": len(save),
        "bands_ms": bands_ms,
        "one_by_one_ms": one_by_one_ms,
        "shares_ms": shares_ms,
        "loops": len(loops.loops),
        "native": bool(getattr(compiled, "native", False)),
        "idle_slider_ms": idle,
        "busy_slider_ms": busy,
    }


def print_bands(figures: dict) -> None:
    print(
        f"uncertainty bands: {figures['members']} members over {figures['spans']} assumptions, "
        f"{figures['saved']} variables saved ({'native' if figures['native'] else 'interpreted'} kernels)"
    )
    print(
        f"- the band set's ensemble: {figures['bands_ms']:.0f} ms CPU; the same members one run at a time: "
        f"{figures['one_by_one_ms']:.0f} ms ({figures['one_by_one_ms'] / figures['bands_ms']:.1f}x)"
    )
    print(f"- loop shares, 100 members x {figures['loops']} named loops: {figures['shares_ms']:.0f} ms CPU")
    (idle, idle95), (busy, busy95) = figures["idle_slider_ms"], figures["busy_slider_ms"]
    print(
        f"- a slider's run, wall: idle {idle:.1f} ms median ({idle95:.1f} ms p95); while an ensemble runs "
        f"on the background thread {busy:.1f} ms ({busy95:.1f} ms p95), {busy / idle:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLAGSHIP if FLAGSHIP.exists() else SIR)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000, help="members of the memory run (0 skips it)")
    parser.add_argument("--pysd-runs", type=int, default=3)
    parser.add_argument("--simlin-runs", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="also trace allocations of the memory run")
    parser.add_argument(
        "--bands", action="store_true", help="the what-if dashboard's uncertainty view instead"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each --bands figure (median)")
    args = parser.parse_args(argv)
    if args.bands:
        print_bands(time_bands(args.model, args.repeats))
        return 0

    ours = time_ensemble(args.model, args.members, args.chunk_size)
    per_member = ours["per_member_ms"]
    print(
        f"model {ours['model']} ({args.model}): {ours['times']} saved times, "
        f"{ours['saved']} variables saved, varying {', '.join(ours['varied'])}"
    )
    print(
        f"nestedsystems run_ensemble, {ours['members']:,} members (chunks of {args.chunk_size}): "
        f"{ours['seconds']:.2f} s wall, {ours['cpu_seconds']:.2f} s CPU, {per_member:.3f} ms CPU per member"
    )
    if args.pysd_runs:
        pysd_ms = time_pysd(args.model, ours["table"], args.pysd_runs)
        print(
            f"PySD loop: {pysd_ms:.1f} ms CPU per run (median of {args.pysd_runs}) -> "
            f"{pysd_ms / per_member:,.0f}x the ensemble's cost per member; {ours['members']:,} runs "
            f"would take {pysd_ms * ours['members'] / 1e3:,.0f} s"
        )
    if args.simlin_runs:
        simlin_ms, first = time_simlin(args.model, ours["table"], args.simlin_runs, ours["save"])
        ratio = simlin_ms / per_member
        verdict = (
            f"{ratio:.2f}x the ensemble's cost per member"
            if ratio >= 1
            else (f"{1 / ratio:.2f}x faster than the ensemble per member")
        )
        ours_first = ours["first_member_final"][ours["save"][0]]
        print(
            f"pysimlin loop: {simlin_ms:.3f} ms CPU per run (median of {args.simlin_runs}) -> {verdict}; "
            f"first member's final {ours['save'][0]}: pysimlin {first}, nestedsystems {ours_first:.6g}"
        )
    if args.large:
        memory = large_ensemble_memory(args.model, args.large, args.chunk_size, args.trace)
        traced = memory["traced_peak_mb"]
        own = f"the ensemble's own allocations peak at {traced:.0f} MB (tracemalloc); " if traced else ""
        print(
            f"{memory['members']:,} members saving {memory['saved']} variables over {memory['times']} times: "
            f"{memory['seconds']:.1f} s wall ({memory['cpu_seconds']:.1f} s CPU); peak RSS "
            f"{memory['hwm_peak_mb']:.0f} MB ({memory['hwm_before_mb']:.0f} MB before the ensemble); {own}"
            f"keeping every member would need {memory['kept_would_need_mb']:,.0f} MB; quantiles "
            f"{'exact' if memory['exact'] else 'from merged histograms'}, largest error "
            f"{100 * memory['max_quantile_error_relative']:.2f}% of the variable's range"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
