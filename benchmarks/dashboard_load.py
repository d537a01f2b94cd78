"""Many board members at once: N sessions of the what-if dashboard move sliders together.

Starts ``nestedsystems serve`` (the what-if app on the flagship model) in a subprocess
on 127.0.0.1 and opens N sessions from this one process, all in one asyncio loop. Each
session speaks Bokeh's websocket protocol as a browser does (Bokeh's own `Receiver`
assembles the server's messages) but builds no document: it reads the ids of the
sliders and of the run's data source from the document the server sends, and then, as
many times as asked:

1. waits a person's pause (``--think``, uniform between the two bounds, seconds);
2. releases a slider at a new value: one PATCH-DOC setting ``value`` and
   ``value_throttled``, what BokehJS sends when a slider is let go;
3. times until the server's PATCH-DOC carrying the run source's new data has been
   received whole (this is what a page would then draw).

A client that builds no Bokeh models costs little CPU, so the clients can share the
two cores with the server without measuring mostly themselves; their CPU time is
reported beside the server's all the same, and ``--pin`` puts the server on one core
and the clients on the other.

Before timing, the model's machine code is compiled into numba's disk cache (in a
subprocess) and the benchmark waits until the server has gone idle, so every session
runs the compiled kernel, as a long-running server does.

Prints round trip median, p95 and max, the throughput, the server's CPU time per move
and its share of one core, the clients' CPU, and the load average. Run:

    python benchmarks/dashboard_load.py [--sessions 20] [--moves 20] [--think 0.5 2.0] [--pin]
    python benchmarks/dashboard_load.py --think 0 0     # as fast as answers come back
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
LEVERS = ("Supervision hours", "Staffing ratio", "Relative pay", "Leadership participation")


@dataclass
class Slider:
    id: str
    start: float
    end: float
    step: float
    value: float

    def new_value(self, rng: random.Random) -> float:
        steps = round((self.end - self.start) / self.step)
        value = self.start + self.step * rng.randint(0, steps)
        if value == self.value:
            value = self.start if value != self.start else self.end
        return value


@dataclass
class Session:
    """One websocket session, as a browser's page holds it, without the drawing."""

    socket: Any
    receiver: Any
    run_id: str
    sliders: dict[str, Slider]
    received: dict[str, int] = field(default_factory=lambda: {"messages": 0, "bytes": 0})
    # Messages as they arrive, read by a task of their own, so that what comes after
    # the charts' data (the strip, the words) is timed when it arrives.
    inbox: asyncio.Queue[tuple[float, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Future[None] | None = None
    released: float = 0.0
    last: float = 0.0

    def listen(self) -> None:
        self.reader = asyncio.ensure_future(self._read_forever())

    async def _read_forever(self) -> None:
        while True:
            message = await self.next_message()
            await self.inbox.put((time.perf_counter(), message))

    def settled(self) -> float:
        """Milliseconds from the last release to the last message received since: the
        charts' data, then the strip and the sentences that follow it."""
        while not self.inbox.empty():
            self.last = max(self.last, self.inbox.get_nowait()[0])
        return (self.last - self.released) * 1000

    def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        self.socket.close()

    async def next_message(self) -> Any:
        """The next whole message from the server (header, metadata, content, buffers)."""
        while True:
            fragment = await self.socket.read_message()
            if fragment is None:
                raise ConnectionError("the server closed the session")
            self.received["bytes"] += len(fragment)
            message = await self.receiver.consume(fragment)
            if message is not None:
                self.received["messages"] += 1
                return message

    async def send(self, msgtype: str, content: dict[str, Any]) -> None:
        from bokeh.protocol.message import Message
        from bokeh.util.serialization import make_id

        message = Message({"msgid": make_id(), "msgtype": msgtype}, {}, content)
        await message.send(self.socket)

    async def release(self, lever: str, value: float) -> float:
        """Let go of a slider at ``value``; milliseconds until the new run's data is here."""
        slider = self.sliders[lever]
        events = [
            {"kind": "ModelChanged", "model": {"id": slider.id}, "attr": attr, "new": value}
            for attr in ("value", "value_throttled")
        ]
        self.settled()  # what is left of the previous move
        self.released = time.perf_counter()
        await self.send("PATCH-DOC", {"events": events})
        while True:
            arrived, message = await self.inbox.get()
            if message.msgtype == "ERROR":
                raise RuntimeError(f"the server refused the move: {message.content}")
            if message.msgtype == "PATCH-DOC" and any(
                event.get("model", {}).get("id") == self.run_id for event in message.content["events"]
            ):
                slider.value = value
                self.last = arrived
                return (arrived - self.released) * 1000


def _models(node: Any) -> Any:
    """Every model in a serialized Bokeh document (nested objects, refs skipped)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "attributes" in node:
            yield node
        for value in node.values():
            yield from _models(value)
    elif isinstance(node, list):
        for value in node:
            yield from _models(value)


async def open_session(url: str) -> Session:
    from bokeh.client.websocket import WebSocketClientConnectionWrapper
    from bokeh.protocol import Protocol
    from bokeh.protocol.receiver import Receiver
    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = url.replace("http://", "ws://").rstrip("/") + "/ws"
    token = generate_jwt_token(generate_session_id())
    raw = await websocket_connect(HTTPRequest(ws_url), subprotocols=["bokeh", token])
    # Browsers send with TCP_NODELAY; tornado's client does not, and Nagle's
    # algorithm would hold each message's later frames for a delayed ACK.
    raw.protocol.set_nodelay(True)
    session = Session(WebSocketClientConnectionWrapper(raw), Receiver(Protocol()), "", {})
    acknowledged = await session.next_message()
    if acknowledged.msgtype != "ACK":
        raise RuntimeError(f"expected ACK, got {acknowledged.msgtype}")
    await session.send("PULL-DOC-REQ", {})
    reply = await session.next_message()
    for model in _models(reply.content["doc"]["roots"]):
        attributes, name = model["attributes"], model["attributes"].get("name") or ""
        if name == "run":
            session.run_id = model["id"]
        elif name.startswith("lever:"):
            session.sliders[name[len("lever:") :]] = Slider(
                model["id"],
                attributes["start"],
                attributes["end"],
                attributes.get("step", 1.0),
                attributes["value"],
            )
    missing = [lever for lever in LEVERS if lever not in session.sliders]
    if not session.run_id or missing:
        raise RuntimeError(f"the page lacks the run source or the sliders {missing}")
    session.listen()
    return session


async def board_member(
    session: Session,
    moves: int,
    think: tuple[float, float],
    rng: random.Random,
    go: asyncio.Event,
    settled: list[float],
) -> list[float]:
    await go.wait()
    times = []
    for k in range(moves):
        # A pause before the first move too: twenty people do not let go at one instant.
        await asyncio.sleep(rng.uniform(*think))
        if k:
            settled.append(session.settled())
        lever = LEVERS[(rng.randrange(len(LEVERS)) + k) % len(LEVERS)]
        times.append(await session.release(lever, session.sliders[lever].new_value(rng)))
    if think[1] > 0:  # as fast as answers come back, a move's last messages overlap the next
        await asyncio.sleep(max(think[0], 0.5))
        settled.append(session.settled())
    return times


async def load(
    url: str, server: psutil.Process, sessions: int, moves: int, think: tuple[float, float], seed: int
) -> dict[str, Any]:
    # One after another, as people open a page: at the same instant, one of several
    # server processes would take most connections in one accept loop.
    opened, opening = [], []
    for _ in range(sessions):
        begin, server_began = time.perf_counter(), cpu_seconds(server)
        opened.append(await open_session(url))
        opening.append(((time.perf_counter() - begin) * 1000, (cpu_seconds(server) - server_began) * 1000))
    # One move each, untimed: the first callback of a session warms its own caches.
    for session in opened:
        lever = LEVERS[0]
        await session.release(lever, session.sliders[lever].new_value(random.Random(seed)))
    # A first session may start more compiles in the background (the dominance
    # strip's kernel): a server that has run a while has them done.
    await asyncio.to_thread(wait_until_idle, server)
    received_before = sum(s.received["bytes"] for s in opened), sum(s.received["messages"] for s in opened)
    go = asyncio.Event()
    settled: list[float] = []
    members = [
        asyncio.ensure_future(board_member(s, moves, think, random.Random(seed + k), go, settled))
        for k, s in enumerate(opened)
    ]
    began, cpu_began, server_began = time.perf_counter(), time.process_time(), cpu_seconds(server)
    load_before = os.getloadavg()
    go.set()
    results = await asyncio.gather(*members)
    elapsed, client_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    server_cpu = cpu_seconds(server) - server_began
    for session in opened:
        session.close()
    return {
        "times": np.array([t for member in results for t in member]),
        "settled": np.array(settled if think[1] > 0 else []),
        "opening": np.array(opening),
        "elapsed": elapsed,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "load": (load_before, os.getloadavg()),
        "bytes": sum(s.received["bytes"] for s in opened) - received_before[0],
        "messages": sum(s.received["messages"] for s in opened) - received_before[1],
    }


def warm_native_cache(model: str) -> None:
    """Compile the model's machine code once, into numba's disk cache, so the server's
    own compile in the background becomes a quick load."""
    code = "import sys, nestedsystems as ns; ns.simulate(ns.compile_model(ns.load(sys.argv[1]), native=True))"
    subprocess.run([sys.executable, "-c", code, model], check=True)


def wait_until_idle(process: psutil.Process, *, below: float = 0.1, patience: float = 600.0) -> float:
    """Seconds until the server (all its processes) used under ``below`` of a core over
    two seconds in a row: its compile in the background is done."""
    began = time.monotonic()
    quiet, used = 0, cpu_seconds(process)
    while quiet < 2 and time.monotonic() - began < patience:
        time.sleep(1.0)
        now = cpu_seconds(process)
        quiet, used = (quiet + 1 if now - used < below else 0), now
    return time.monotonic() - began


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a server and of the processes it forked."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--moves", type=int, default=20, help="slider releases per session")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(0.5, 2.0),
        metavar=("LOW", "HIGH"),
        help="seconds a person looks at the charts between two moves (uniform)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes (nestedsystems serve --processes)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="server on CPU 0, clients on CPU 1 (one server process)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default=str(ROOT / "models" / "nested_systems.mdl"))
    args = parser.parse_args()

    from nestedsystems.dashboard.browser import ServerProcess

    warm_native_cache(args.model)
    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(
            args.model, store=Path(folder) / "scenarios.sqlite", extra=["--processes", str(args.processes)]
        ) as server,
    ):
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        if args.pin:
            process.cpu_affinity([0])
            os.sched_setaffinity(0, {1})
        settled = wait_until_idle(process)
        result = asyncio.run(
            load(server.url, process, args.sessions, args.moves, tuple(args.think), args.seed)
        )

    server_cpu, (load_before, load_after) = result["server_cpu"], result["load"]
    times, elapsed, moves = result["times"], result["elapsed"], len(result["times"])
    think = (
        "as fast as answers come back"
        if max(args.think) == 0
        else f"{args.think[0]:g}-{args.think[1]:g} s between moves"
    )
    print(
        f"dashboard load: {args.sessions} sessions x {args.moves} slider releases, {think}, "
        f"loopback, {args.processes} server process{'es' if args.processes != 1 else ''}"
        f"{', pinned' if args.pin else ''} (server settled {settled:.0f} s)"
    )
    print(
        f"  round trip (release -> new run data received), ms: median {np.median(times):.1f}  "
        f"p95 {np.percentile(times, 95):.1f}  max {times.max():.1f}  ({moves} moves)"
    )
    settled = result["settled"]
    if len(settled):
        print(
            f"  release -> the move's last message (the strip and the sentences after the charts), ms: "
            f"median {np.median(settled):.1f}  p95 {np.percentile(settled, 95):.1f}  max {settled.max():.1f}"
        )
    print(f"  throughput: {moves / elapsed:.1f} moves/s over {elapsed:.1f} s")
    opening = result["opening"]
    print(
        f"  opening a session (the page's document built and sent, one after another), ms: "
        f"median {np.median(opening[:, 0]):.0f}  max {opening[:, 0].max():.0f}; "
        f"server CPU median {np.median(opening[:, 1]):.0f}"
    )
    print(
        f"  server CPU: {server_cpu * 1000 / moves:.1f} ms per move, "
        f"{100 * server_cpu / elapsed:.0f}% of one core; "
        f"clients' CPU: {result['client_cpu'] * 1000 / moves:.1f} ms per move, "
        f"{100 * result['client_cpu'] / elapsed:.0f}% of one core"
    )
    print(
        f"  received per move: {result['messages'] / moves:.1f} messages, "
        f"{result['bytes'] / moves / 1024:.1f} KiB"
    )
    print(
        "  load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.1f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.1f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
