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
  stopping at its bound (``max_loops``, ``max_length``), with the time and the note.

Usage::

    python benchmarks/loops_cost.py [--model FILE] [--repeat 5] [--max-loops 2000]

Figures are medians; the machine's load matters, so quote them with the machine.
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
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


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

    ns.simulate(compiled, params=params)
    dominance.loop_scores(compiled, loops=loops, params=params)  # warm: equation functions, kernels
    plain, run = median_time(lambda: ns.simulate(compiled, params=params), args.repeat)
    scored, scores = median_time(
        lambda: dominance.loop_scores(compiled, loops=loops, params=params), args.repeat
    )
    print(
        f"plain run: {plain * 1e3:.1f} ms ({len(run.times)} saved times); "
        f"loop scores: {scored * 1e3:.1f} ms ({len(scores.times)} steps, {len(loops)} loops); "
        f"ratio {scored / plain:.1f}x"
    )

    if any(loop.named for loop in loops):
        named = loops.named()
        dominance.loop_scores(compiled, loops=named, params=params)
        lens, _ = median_time(
            lambda: dominance.loop_scores(compiled, loops=named, params=params), args.repeat
        )
        print(f"loop scores of the {len(named)} named loops: {lens * 1e3:.1f} ms; ratio {lens / plain:.1f}x")

    # Where the scoring time goes.
    every, (scoring_compiled, scoring_run) = median_time(
        lambda: every_step_run(compiled, params, True, loops), args.repeat
    )
    trajectories = Trajectories(scoring_compiled, loops.graph, scoring_run)
    links_time, (links, guards) = median_time(
        lambda: dominance._score_links(trajectories, loops), args.repeat
    )
    shape = trajectories.values["time"].shape
    products, _ = median_time(lambda: dominance._products(loops, links, guards, shape), args.repeat)
    print(
        f"  of which: run saving every step and variable {every * 1e3:.1f} ms, "
        f"{len(links)} link scores {links_time * 1e3:.1f} ms, loop products {products * 1e3:.1f} ms"
    )

    # An ensemble keeps a (runs, times, loops) array of each kind of score: with
    # thousands of loops that is gigabytes, so the ensemble is scored through the
    # lens of the loops the author named (all loops when none are).
    members = 100
    lens = loops.named() if any(loop.named for loop in loops) else loops
    name, value = next(iter(params.items())) if params else (compiled.parameters[0], compiled.defaults[0])
    ensemble_params = {**params, name: np.linspace(0.5, 1.5, members) * value}
    plain_e, _ = median_time(lambda: ns.simulate(compiled, params=ensemble_params), max(1, args.repeat // 2))
    scored_e, _ = median_time(
        lambda: dominance.loop_scores(compiled, loops=lens, params=ensemble_params), max(1, args.repeat // 2)
    )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
