"""How long a slider move takes: on the server, and in the browser until the chart is redrawn.

1. Server side, in process: the what-if app built into a plain Bokeh document; the
   time of the callback a slider release runs (re-run the model, reassign
   ``source.data``, rewrite the summary), and of the model run alone inside it.
2. Browser round trip: ``nestedsystems serve`` on loopback, the page in Debian's
   headless Chromium; from the release (``value_throttled`` set as the slider does)
   to the new data arriving, and to the charts being redrawn (two animation frames
   after the data: the first draws, the second starts once that one was painted).

Prints medians and p95. Run:

    python benchmarks/dashboard_latency.py [--repeats 30] [--model PATH] [--no-browser]
"""

from __future__ import annotations

import argparse
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

    with tempfile.TemporaryDirectory() as folder:
        app = whatif.build_document(
            Document(), model_path=model, store=Path(folder) / "s.sqlite", arguments={}
        )
        slider = app.sliders[LEVER]
        callback, run_only = [], []
        compiled = prepared_model(model).compiled
        for k in range(repeats + 3):
            value = VALUES[k % len(VALUES)]
            begin = time.perf_counter()
            slider.set_from_json("value_throttled", value)
            middle = time.perf_counter()
            ns.simulate(compiled, params={LEVER: value})
            end = time.perf_counter()
            if k >= 3:  # the first runs warm caches
                callback.append((middle - begin) * 1000)
                run_only.append((end - middle) * 1000)
    print("server side (in process, no network):")
    describe("slider callback (run + source.data + summary)", callback)
    describe("model run alone", run_only)


def browser(model: str, repeats: int) -> None:
    from nestedsystems.dashboard.browser import DashboardPage, ServerProcess

    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(model, store=Path(folder) / "s.sqlite") as server,
        DashboardPage() as page,
    ):
        page.open(server.url)
        data, drawn = [], []
        for k in range(repeats + 3):
            result = page.round_trip(f"lever:{LEVER}", VALUES[k % len(VALUES)])
            if k >= 3:
                data.append(result["data"])
                drawn.append(result["drawn"])
    print("browser round trip (headless chromium, loopback, TCP_NODELAY):")
    describe("release -> new data in the page", data)
    describe("release -> charts redrawn", drawn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--model", default=str(ROOT / "models" / "nested_systems.mdl"))
    parser.add_argument("--no-browser", action="store_true", help="server side only")
    args = parser.parse_args()
    server_side(args.model, args.repeats)
    if not args.no_browser:
        browser(args.model, args.repeats)


if __name__ == "__main__":
    main()
