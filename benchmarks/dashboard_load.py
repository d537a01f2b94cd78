"""Many sessions at once: 20 concurrent sessions move sliders against a loopback server.

Starts ``nestedsystems serve`` (the what-if app on the flagship model) in a subprocess
on 127.0.0.1, opens N sessions with Bokeh's own client (the same websocket protocol as
a browser, without drawing), each in its own process (Bokeh's client is not safe to
run in many threads of one process), and has every session release a
slider M times as fast as answers come back. A round trip is timed from the release
to the moment the server's answer, the new chart data, has been applied in the client.

Prints p50/p95/max of the round trip and the throughput. Run:

    python benchmarks/dashboard_load.py [--sessions 20] [--moves 20] [--model PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEVERS = ("Supervision hours", "Staffing ratio", "Relative pay", "Leadership participation")


def session_worker(url: str, moves: int, seed: int, results, start) -> None:  # type: ignore[no-untyped-def]
    times: list[float] = []
    errors: list[str] = []
    try:
        _moves(url, moves, seed, times, errors, start)
    finally:
        results.put((times, errors))


def _moves(url: str, moves: int, seed: int, times: list[float], errors: list[str], start) -> None:  # type: ignore[no-untyped-def]
    from bokeh.client import pull_session

    rng = np.random.default_rng(seed)
    try:
        session = pull_session(url=url)
    except Exception as error:  # report, do not hang the barrier
        errors.append(f"session {seed}: {error}")
        start.abort()
        return
    try:
        # Browsers send with TCP_NODELAY; Bokeh's Python client does not, and Nagle's
        # algorithm would then hold its multi-frame messages for a delayed ACK.
        session._connection._socket._socket.protocol.set_nodelay(True)
        doc = session.document
        source = doc.get_model_by_name("run")
        arrived = []
        source.on_change("data", lambda attr, old, new: arrived.append(time.perf_counter()))
        start.wait()
        for k in range(moves):
            lever = LEVERS[(seed + k) % len(LEVERS)]
            slider = doc.get_model_by_name(f"lever:{lever}")
            steps = round((slider.end - slider.start) / slider.step)
            value = slider.start + slider.step * int(rng.integers(0, steps + 1))
            if value == slider.value:
                value = slider.start if value != slider.start else slider.end
            count = len(arrived)
            begin = time.perf_counter()
            slider.set_from_json("value", value)
            slider.set_from_json("value_throttled", value)
            # Bokeh's client applies changes the server pushes only while its loop runs
            # idle; this private call runs it until the new data has been applied.
            session._connection._loop_until(lambda count=count: len(arrived) > count)
            end = time.perf_counter()
            times.append((end - begin) * 1000)
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--moves", type=int, default=20, help="slider releases per session")
    parser.add_argument("--model", default=str(ROOT / "models" / "nested_systems.mdl"))
    args = parser.parse_args()

    from nestedsystems.dashboard.browser import ServerProcess

    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(args.model, store=Path(folder) / "scenarios.sqlite") as server,
    ):
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(args.sessions + 1)
        results = context.Queue()
        workers = [
            context.Process(target=session_worker, args=(server.url, args.moves, k, results, start))
            for k in range(args.sessions)
        ]
        for worker in workers:
            worker.start()
        start.wait()  # every session is open before any slider moves
        began = time.perf_counter()
        times: list[float] = []
        errors: list[str] = []
        for _ in workers:
            done, failed = results.get()
            times.extend(done)
            errors.extend(failed)
        elapsed = time.perf_counter() - began
        for worker in workers:
            worker.join()

    if errors:
        print("errors:", *errors[:10], sep="\n  ")
    values = np.array(times)
    print(f"dashboard load: {args.sessions} concurrent sessions x {args.moves} slider releases, loopback")
    print(
        f"  round trip (release -> new data in the client), ms: "
        f"p50 {np.percentile(values, 50):.1f}  p95 {np.percentile(values, 95):.1f}  "
        f"max {values.max():.1f}  mean {statistics.fmean(values):.1f}"
    )
    print(f"  throughput: {len(values) / elapsed:.1f} reruns/s over {elapsed:.1f} s ({len(values)} reruns)")


if __name__ == "__main__":
    main()
