"""How long a slider move takes: on the server, and in the browser until the chart is redrawn.

1. Server side, in process: the what-if app built into a plain Bokeh document; the
   time of the callback a slider release runs (re-run the model, reassign
   ``source.data``, rewrite the summary), and of the model run alone inside it.
2. The dominance strip's cost: the same slider callback in two sessions taking
   turns, one drawing the strip (loop scores of the named loops on the run the
   charts draw) and one with the strip switched off; their ratio, and the strip's
   parts: the run at every TIME STEP against a plain run, the scoring, the redraw
   (CPU time of the process, which the machine's other jobs barely move).
3. Browser round trip: ``nestedsystems serve`` on loopback, the page in Debian's
   headless Chromium; from the release (``value_throttled`` set as the slider does)
   to the new data arriving, and to the charts being redrawn (two animation frames
   after the data: the first draws, the second starts once that one was painted);
   within that, the page's time painting the plots and laying the page out; and the
   CPU time per move of the server and of Chromium, which a loaded machine inflates
   far less than the wall-clock times.

Prints medians and p95. Run:

    python benchmarks/dashboard_latency.py [--repeats 30] [--model PATH] [--no-browser]
    python benchmarks/dashboard_latency.py --browser-only [--processes 2]

Sessions run machine code once its compile in the background is done; the script
waits for it, and ``NESTEDSYSTEMS_NATIVE=0`` measures the generated-Python kernels.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEVER = "Supervision hours"
VALUES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 1.0)


def describe(label: str, milliseconds: list[float]) -> None:
    values = np.array(milliseconds)
    print(f"  {label:<48} median {np.median(values):7.1f} ms   p95 {np.percentile(values, 95):7.1f} ms")


def server_side(model: str, repeats: int) -> None:
    from bokeh.document import Document

    import nestedsystems as ns
    from nestedsystems.dashboard import whatif
    from nestedsystems.dashboard.cache import prepared_model

    kernels = native_ready(model)
    with tempfile.TemporaryDirectory() as folder:
        app = whatif.build_document(
            Document(), model_path=model, store=Path(folder) / "s.sqlite", arguments={}
        )
        slider = app.sliders[LEVER]
        callback, run_only = [], []
        compiled = prepared_model(model).compiled
        for k in range(repeats + 3):
            value = VALUES[k % len(VALUES)]
            # CPU time: what a move costs the server, whatever else the machine runs.
            begin = time.process_time()
            slider.set_from_json("value_throttled", value)
            middle = time.process_time()
            ns.simulate(compiled, params={LEVER: value})
            end = time.process_time()
            if k >= 3:  # the first runs warm caches
                callback.append((middle - begin) * 1000)
                run_only.append((end - middle) * 1000)
    print(f"server side (in process, no network, {kernels} kernels, CPU time):")
    describe("slider callback (run, charts, words, strip)", callback)
    describe("model run alone", run_only)


def native_ready(model: str, patience: float = 300.0) -> str:
    """Wait for the server's machine-code kernels (when it compiles them) and say which run."""
    from nestedsystems import native
    from nestedsystems.dashboard.cache import prepared_model

    prepared = prepared_model(model)
    deadline = time.monotonic() + patience
    while native.by_default() and prepared.compiled is prepared.interpreted and time.monotonic() < deadline:
        time.sleep(0.5)
    return "generated Python" if prepared.compiled is prepared.interpreted else "machine code (numba)"


def strip_cost(model: str, repeats: int) -> None:
    from bokeh.document import Document

    import nestedsystems as ns
    from nestedsystems.dashboard import whatif
    from nestedsystems.dashboard.cache import prepared_model
    from nestedsystems.dashboard.scored_run import scored_run
    from nestedsystems.dominance import loop_scores
    from nestedsystems.trajectories import every_step_run

    kernels = native_ready(model)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "s.sqlite"
        drawn = whatif.build_document(Document(), model_path=model, store=store, arguments={})
        plain = whatif.build_document(Document(), model_path=model, store=store, arguments={})
        if drawn.dominance is None:
            print("the model names no loops: no dominance strip to measure")
            return
        plain.dominance = None  # the session as it was before the strip: one plain run, no scores
        strip = drawn.dominance  # its run at every step uses the server's kernel
        compiled = prepared_model(model).compiled

        def two_runs(params: dict[str, float]) -> None:
            """What the strip would cost without reading the charts' run from its own."""
            ns.simulate(compiled, params=params)
            every_step_run(compiled, params, True, strip.basis.loops)

        parts = ("with", "without", "run", "fine", "two", "scores", "show")
        times: dict[str, list[float]] = {key: [] for key in parts}
        for k in range(repeats + 3):
            value = VALUES[k % len(VALUES)]
            params = {LEVER: value}
            steps = [
                ("with", functools.partial(drawn.sliders[LEVER].set_from_json, "value_throttled", value)),
                ("without", functools.partial(plain.sliders[LEVER].set_from_json, "value_throttled", value)),
                ("run", functools.partial(ns.simulate, compiled, params=params)),
                ("fine", functools.partial(scored_run, compiled, strip.basis, params)),
                ("two", functools.partial(two_runs, params)),
            ]
            for key, step in steps[::-1] if k % 2 else steps:  # take turns, whatever the machine does
                begin = time.process_time()
                step()
                if k >= 3:
                    times[key].append((time.process_time() - begin) * 1000)
            run = scored_run(compiled, strip.basis, params)
            begin = time.process_time()
            loop_scores(compiled, loops=strip.basis.loops, run=run.every_step)
            middle = time.process_time()
            strip.show(run)
            end = time.process_time()
            if k >= 3:
                times["scores"].append((middle - begin) * 1000)
                times["show"].append((end - middle) * 1000)
    median = {key: float(np.median(values)) for key, values in times.items()}
    # CPU time of this process: the callback computes in this thread and nothing else
    # runs here, while wall-clock time on a shared machine mostly measures the neighbours.
    print(f"dominance strip ({len(strip.basis.loops)} named loops, {kernels} kernels, CPU time):")
    describe("slider callback with the strip", times["with"])
    describe("slider callback without the strip", times["without"])
    describe("plain run at SAVEPER", times["run"])
    describe("run at every TIME STEP, read at SAVEPER", times["fine"])
    describe("instead: a plain run and loop_scores' own run", times["two"])
    describe("loop scores on that run", times["scores"])
    describe("strip redraw (scores, periods, words)", times["show"])
    print(
        f"  | {kernels} | {median['without']:.1f} ms | {median['with']:.1f} ms | "
        f"{median['with'] / median['without']:.2f}x | +{median['with'] - median['without']:.1f} ms |"
    )


# Time spent in the page's own work during a round trip: painting the plots' canvases
# and laying the page out again (a Div whose text changes makes BokehJS lay out the
# whole page). Wrapped around every plot view and the root view.
TIMING_JS = """
const doc = Bokeh.documents[0];
window.__spent = {paint: 0, layout: 0, paints: 0, layouts: 0};
const wrap = (view, method, key) => {
    const original = view[method];
    view[method] = function (...args) {
        const begin = performance.now();
        try {
            return original.apply(this, args);
        } finally {
            window.__spent[key] += performance.now() - begin;
            window.__spent[key + "s"] += 1;
        }
    };
};
let plots = 0;
for (const model of doc.all_models) {
    const view = Bokeh.index.find_one(model);
    if (view != null && typeof view._actual_paint === "function") {
        wrap(view, "_actual_paint", "paint");
        plots++;
    }
}
for (const root of doc.roots()) { wrap(Bokeh.index.find_one(root), "compute_layout", "layout"); }
return plots;
"""


def browser(model: str, repeats: int, processes: int) -> None:
    import psutil
    from dashboard_load import cpu_seconds, wait_until_idle, warm_native_cache

    from nestedsystems.dashboard.browser import DashboardPage, ServerProcess

    warm_native_cache(model)
    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(
            model, store=Path(folder) / "s.sqlite", extra=["--processes", str(processes)]
        ) as server,
        DashboardPage() as page,
    ):
        assert server.process is not None
        serving = psutil.Process(server.process.pid)
        chromium = psutil.Process(page.driver.service.process.pid)  # chromedriver; chromium is its child
        wait_until_idle(serving)
        page.open(server.url)
        wait_until_idle(serving)  # the first session may start the strip's compile
        plots = page.driver.execute_script(TIMING_JS)
        data, drawn, paint, layout, counts = [], [], [], [], []
        for k in range(repeats + 3):
            if k == 3:  # the first moves warm caches
                server_cpu, browser_cpu = cpu_seconds(serving), cpu_seconds(chromium)
            page.driver.execute_script("window.__spent = {paint: 0, layout: 0, paints: 0, layouts: 0};")
            result = page.round_trip(f"lever:{LEVER}", VALUES[k % len(VALUES)])
            spent = page.driver.execute_script("return window.__spent;")
            if k >= 3:
                data.append(result["data"])
                drawn.append(result["drawn"])
                paint.append(spent["paint"])
                layout.append(spent["layout"])
                counts.append((spent["paints"], spent["layouts"]))
        server_cpu = (cpu_seconds(serving) - server_cpu) * 1000 / repeats
        browser_cpu = (cpu_seconds(chromium) - browser_cpu) * 1000 / repeats
    print(
        f"browser round trip (headless chromium, loopback, TCP_NODELAY, {processes} server "
        f"process{'es' if processes != 1 else ''}):"
    )
    describe("release -> new data in the page", data)
    describe("release -> charts redrawn", drawn)
    describe(f"of which painting the {plots} plots", paint)
    describe("of which laying the page out", layout)
    paints, layouts = np.median(np.array(counts), axis=0)
    print(f"  per move: {paints:.0f} plot paints, {layouts:.0f} whole-page layouts (medians)")
    print(f"  CPU per move: server {server_cpu:.1f} ms, chromium (all its processes) {browser_cpu:.1f} ms")
    print("  load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--model", default=str(ROOT / "models" / "nested_systems.mdl"))
    parser.add_argument("--no-browser", action="store_true", help="server side only")
    parser.add_argument("--browser-only", action="store_true", help="the browser round trip only")
    parser.add_argument("--processes", type=int, default=1, help="server processes for the browser's server")
    args = parser.parse_args()
    if not args.browser_only:
        server_side(args.model, args.repeats)
        strip_cost(args.model, args.repeats)
    if not args.no_browser:
        browser(args.model, args.repeats, args.processes)


if __name__ == "__main__":
    main()
