"""Benchmark: what Loops That Matter costs beside a plain run, and loop enumeration on big models.

Prints, for the flagship model in its drift scenario (else SIR):

- the median time of a plain Euler run (the generated Python kernel, saving at SAVEPER,
  as ``nestedsystems run`` does) and of `loop_scores` on the same run, with the ratio,
  for every loop found and for the loops the author named, and where the scoring
  time goes: the run saved at every TIME STEP, the link scores (one re-evaluation
  per link, vectorised over time), and the loop products;
- the same for a 100-member ensemble (one vectorised scoring pass);
- pysimlin's run with its LTM against its plain run, when pysimlin loads the model;
- `find_loops` on the biggest benchmark model and on a dense synthetic model, each
  stopping at its bound (``max_loops``, ``max_length``), with the time and the note;
- loops and loop scores, element by element, on a subscripted 10-region model.

Usage::

    python benchmarks/loops_cost.py [--model FILE] [--repeat 5] [--max-loops 2000]

Times are CPU time of the process (``time.process_time``), medians of repeats in which
the plain run and the scoring take turns, as in ``engine.py``: on a shared machine
wall-clock time mostly measures the neighbours. Quote the ratios, with the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "nested_systems.mdl"
BIG = ROOT / "models" / "benchmark" / "regional_services_300.mdl"
SIR = ROOT.parent / "shared" / "conformance" / "test-models" / "samples" / "SIR" / "SIR.mdl"
DRIFT = {"Acuity growth": 0.02, "Inflation rate": 0.03}


def median_time(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.process_time()
        result = function()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def interleaved(functions: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median CPU time of each function, the functions taking turns within each repeat."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.process_time()
            function()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def dense_model(n: int) -> Any:
    """n stocks, each fed by all the others: n·(n-1) links and a vast number of loops."""
    from nestedsystems.expressions import Binary, Number, Op, Ref
    from nestedsystems.model import Kind, Model, Variable

    variables = []
    for i in range(n):
        net = Number(0.0)
        for j in range(n):
            if j != i:
                net = Binary(Op.ADD, net, Binary(Op.MUL, Number(0.01), Ref(f"s{j}")))
        variables.append(Variable(f"s{i}", Kind.STOCK, net, initial=Number(1.0)))
    control = [
        Variable(name, Kind.CONSTANT, Number(value))
        for name, value in (("INITIAL TIME", 0), ("FINAL TIME", 10), ("TIME STEP", 0.5), ("SAVEPER", 0.5))
    ]
    return Model(tuple(variables + control), name=f"dense{n}")


def regions_model(n: int) -> str:
    """A subscripted model: n regions, each with births (R), deaths (B) and people
    leaving (B) for the next region round a ring (one R loop through every region)."""
    regions = [f"r{k}" for k in range(1, n + 1)]
    arriving = "".join(
        f"arriving[{region}] = leaving[{regions[k - 1]}] ~~|\n" for k, region in enumerate(regions)
    )
    return (
        "{UTF-8}\n"
        f"Region: {', '.join(regions)} ~ ~ |\n"
        "Population[Region] = INTEG(births[Region] - deaths[Region] - leaving[Region]"
        " + arriving[Region], 100) ~ people ~ |\n"
        "births[Region] = Population[Region] * birth rate[Region] ~ people/year ~ |\n"
        f"birth rate[Region] = {', '.join(f'{0.02 + 0.002 * k:g}' for k in range(n))} ~ 1/year ~ |\n"
        "deaths[Region] = Population[Region] / 50 ~ people/year ~ |\n"
        "leaving[Region] = Population[Region] * 0.05 ~ people/year ~ |\n"
        f"{arriving}"
        "FINAL TIME = 50 ~ year ~ |\nINITIAL TIME = 0 ~ year ~ |\n"
        "SAVEPER = 1 ~ year ~ |\nTIME STEP = 0.25 ~ year ~ |\n"
    )


def arrayed(repeat: int) -> None:
    """Loops and their scores, element by element, on a 10-region model."""
    import tempfile

    import nestedsystems as ns
    from nestedsystems import dominance
    from nestedsystems.loops import find_loops

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "regions10.mdl"
        path.write_text(regions_model(10))
        model = ns.load(path)
    seconds, loops = median_time(lambda: find_loops(model), 1)
    compiled = ns.compile_model(model, native=False)
    dominance.loop_scores(compiled, loops=loops)
    medians = interleaved(
        {
            "plain": lambda: ns.simulate(compiled),
            "scored": lambda: dominance.loop_scores(compiled, loops=loops),
        },
        repeat,
    )
    print(
        f"subscripted model (10 regions, {len(loops.graph)} element nodes): find_loops {len(loops)} loops "
        f"in {seconds:.2f} s; plain run {medians['plain'] * 1e3:.1f} ms, loop scores "
        f"{medians['scored'] * 1e3:.1f} ms, ratio {medians['scored'] / medians['plain']:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FLAGSHIP if FLAGSHIP.exists() else SIR)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-loops", type=int, default=2000)
    args = parser.parse_args(argv)

    import nestedsystems as ns
    from nestedsystems import dominance
    from nestedsystems.loops import find_loops
    from nestedsystems.trajectories import Trajectories, every_step_run

    model = ns.load(args.model)
    params = {k: v for k, v in DRIFT.items() if k in model}
    compiled = ns.compile_model(model, native=False)
    print(
        f"model: {args.model.name} ({len(model.variables)} variables, {len(model.stocks)} stocks), "
        f"scenario: {params or 'reference'}"
    )

    seconds, loops = median_time(lambda: find_loops(model, max_loops=args.max_loops), 1)
    print(
        f"find_loops: {len(loops)} loops, {sum(loop.named for loop in loops)} named, "
        f"{len(loops.partitions)} partitions in {seconds:.2f} s; complete={loops.complete}"
    )
    for note in loops.notes:
        print(f"  note: {note}")

    run = ns.simulate(compiled, params=params)
    scores = dominance.loop_scores(compiled, loops=loops, params=params)  # warm: equation functions
    named = loops.named() if any(loop.named for loop in loops) else None
    timed = {
        "plain": lambda: ns.simulate(compiled, params=params),
        "all": lambda: dominance.loop_scores(compiled, loops=loops, params=params),
    }
    if named is not None:
        dominance.loop_scores(compiled, loops=named, params=params)
        timed["named"] = lambda: dominance.loop_scores(compiled, loops=named, params=params)
    medians = interleaved(timed, args.repeat)
    plain = medians["plain"]
    print(
        f"plain run: {plain * 1e3:.1f} ms ({len(run.times)} saved times); "
        f"loop scores: {medians['all'] * 1e3:.1f} ms ({len(scores.times)} steps, {len(loops)} loops); "
        f"ratio {medians['all'] / plain:.2f}x"
    )
    if named is not None:
        print(
            f"loop scores of the {len(named)} named loops: {medians['named'] * 1e3:.1f} ms; "
            f"ratio {medians['named'] / plain:.2f}x"
        )

    # Where the scoring time goes.
    plan = dominance._plan(loops)
    every, (scoring_compiled, scoring_run) = median_time(
        lambda: every_step_run(compiled, params, True, loops), args.repeat
    )
    links_time, (links, guards) = median_time(
        lambda: dominance._score_links(Trajectories(scoring_compiled, loops.graph, scoring_run), plan),
        args.repeat,
    )
    products, _ = median_time(lambda: dominance._products(plan, links, guards), args.repeat)
    print(
        f"  of which: run saving every step and variable {every * 1e3:.1f} ms, "
        f"{len(links)} link scores {links_time * 1e3:.1f} ms, loop products {products * 1e3:.1f} ms "
        f"({len(plan.segment_rows)} stock-to-stock segments)"
    )

    # An ensemble keeps a (runs, times, loops) array of each kind of score: with
    # thousands of loops that is gigabytes, so the ensemble is scored through the
    # lens of the loops the author named (all loops when none are).
    members = 100
    lens = loops.named() if any(loop.named for loop in loops) else loops
    name, value = next(iter(params.items())) if params else (compiled.parameters[0], compiled.defaults[0])
    ensemble_params = {**params, name: np.linspace(0.5, 1.5, members) * value}
    ensemble = interleaved(
        {
            "plain": lambda: ns.simulate(compiled, params=ensemble_params),
            "scored": lambda: dominance.loop_scores(compiled, loops=lens, params=ensemble_params),
        },
        max(1, args.repeat // 2),
    )
    plain_e, scored_e = ensemble["plain"], ensemble["scored"]
    print(
        f"{members}-member ensemble ({name} varied), {len(lens)} loops: plain {plain_e * 1e3:.0f} ms, "
        f"loop scores {scored_e * 1e3:.0f} ms, ratio {scored_e / plain_e:.1f}x"
    )

    try:
        import simlin

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            simlin_model = simlin.load(str(args.model))
            simlin_plain, _ = median_time(lambda: simlin_model.run(analyze_loops=False), args.repeat)
            simlin_ltm, simlin_run = median_time(lambda: simlin_model.run(analyze_loops=True), args.repeat)
        print(
            f"pysimlin: plain {simlin_plain * 1e3:.1f} ms, with LTM {simlin_ltm * 1e3:.1f} ms "
            f"({len(simlin_run.loops)} loops, mode {simlin_run.ltm_mode}), "
            f"ratio {simlin_ltm / simlin_plain:.1f}x"
        )
    except Exception as error:  # pysimlin is optional and may refuse a model we load
        print(f"pysimlin: not compared ({type(error).__name__}: {str(error)[:100]})")

    for name, big, bounds in (
        (BIG.name, ns.load(BIG) if BIG.exists() else None, {"max_loops": args.max_loops}),
        ("dense 12-stock model", dense_model(12), {"max_loops": args.max_loops}),
        ("dense 12-stock model", dense_model(12), {"max_loops": 10**9, "max_length": 6}),
    ):
        if big is None:
            continue
        seconds, found = median_time(lambda big=big, bounds=bounds: find_loops(big, **bounds), 1)
        print(
            f"find_loops on {name} with {bounds}: {len(found)} loops in {seconds:.2f} s; "
            f"complete={found.complete}"
        )
        for note in found.notes[:2]:
            print(f"  note: {note}")
    arrayed(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
