"""The dashboard server: app names, origins, the `serve` command, and a live server in a
thread answering Bokeh's own client over websockets with TCP_NODELAY set."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nestedsystems.cli import build_parser, main
from nestedsystems.dashboard import explorer, whatif
from nestedsystems.dashboard.server import (
    default_app_for,
    make_server,
    parse_app_arguments,
    resolve_app,
    server_url,
    websocket_origins,
)
from nestedsystems.errors import ModelError, ParameterError

ROOT = Path(__file__).resolve().parents[1]
TEACUP = ROOT.parent / "shared" / "conformance" / "test-models" / "samples" / "teacup" / "teacup.mdl"
if not TEACUP.exists():
    TEACUP = Path("/work/shared/conformance/test-models/samples/teacup/teacup.mdl")


def test_apps_resolve_by_name():
    assert resolve_app("whatif") is whatif.build_document
    assert resolve_app("explorer") is explorer.build_document
    with pytest.raises(
        ParameterError, match="unknown app 'nope'; expected one of classroom, explorer, whatif"
    ):
        resolve_app("nope")


def test_flagship_gets_whatif_and_others_the_explorer():
    assert default_app_for(None) == "whatif"
    assert default_app_for(Path("models/nested_systems.mdl")) == "whatif"
    assert default_app_for(TEACUP) == "explorer"


def test_websocket_origins_are_the_servers_own_plus_given():
    assert websocket_origins("localhost", 5006) == ["localhost:5006", "127.0.0.1:5006"]
    assert websocket_origins("10.0.0.5", 80, ["board.example.org"]) == ["10.0.0.5:80", "board.example.org"]


def test_bokeh_serve_arguments():
    assert parse_app_arguments([]) == (None, None)
    assert parse_app_arguments(["m.mdl", "--store", "s.sqlite"]) == (Path("m.mdl"), Path("s.sqlite"))


def test_serve_command_line():
    args = build_parser().parse_args(
        ["serve", "teacup.mdl", "--app", "explorer", "--port", "0", "--allow-websocket-origin", "x:1"]
    )
    assert (args.model, args.app, args.port, args.address) == ("teacup.mdl", "explorer", 0, "localhost")
    assert args.allow_websocket_origin == ["x:1"]
    assert args.store is None


def test_serve_refuses_a_broken_model_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.mdl"
    broken.write_text("{UTF-8}\nStock = INTEG(flow,\n")
    assert main(["serve", str(broken), "--port", "0", "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nestedsystems: error: ")
    assert "broken.mdl" in err
    assert len(err.strip().splitlines()) == 1


def test_make_server_refuses_unknown_app_and_bad_store(tmp_path):
    with pytest.raises(ParameterError, match="unknown app"):
        make_server(TEACUP, app="nope", port=0, store=tmp_path / "s.sqlite")
    not_a_database = tmp_path / "s.sqlite"
    not_a_database.write_bytes(b"x" * 2000)
    with pytest.raises(ParameterError, match="cannot use as a scenario store"):
        make_server(TEACUP, port=0, store=not_a_database)
    with pytest.raises(ModelError):
        make_server(tmp_path / "missing.mdl", port=0, store=tmp_path / "t.sqlite")


@contextlib.contextmanager
def serving(model, store):
    """A server from a thread with its own event loop, stopped on leaving."""
    started = threading.Event()
    holder = {}

    def serve():
        asyncio.set_event_loop(asyncio.new_event_loop())
        server = make_server(model, port=0, address="127.0.0.1", store=store)
        server.start()
        holder["server"] = server
        started.set()
        server.io_loop.start()
        server.io_loop.close(all_fds=True)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait()
    server = holder["server"]
    try:
        yield server
    finally:

        def stop():
            server.stop()
            server.io_loop.stop()

        server.io_loop.add_callback(stop)
        thread.join()


@pytest.fixture
def live_server(tmp_path):
    """The explorer on teacup."""
    with serving(TEACUP, tmp_path / "s.sqlite") as server:
        yield server


def _nodelay(server) -> list[int]:
    # Bokeh keeps its websocket connections privately; reading them is the only way to
    # see the option on the server's side of the socket.
    return [
        connection._socket.ws_connection.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        for connection in server._tornado._clients
    ]


def test_live_server_serves_the_page_and_sessions(live_server):
    from bokeh.client import pull_session

    url = server_url(live_server)
    assert url == f"http://127.0.0.1:{live_server.port}/"
    with urllib.request.urlopen(url) as response:
        page = response.read().decode()
    assert response.status == 200
    assert "Explorer: teacup.mdl" in page

    session = pull_session(url=url)
    try:
        doc = session.document
        source = doc.get_model_by_name("run")
        assert doc.get_model_by_name("lever:Room Temperature").value == 70
        baseline = np.array(source.data["slot 0"])
        assert baseline[0] == 180
        assert all(_nodelay(live_server))
        assert len(_nodelay(live_server)) == 1

        # Move a slider the way the browser does, and run the client until the answer
        # is applied (Bokeh's client applies pushed changes only while its loop runs
        # idle, which only this private call offers).
        slider = doc.get_model_by_name("lever:Room Temperature")
        arrived = []
        source.on_change("data", lambda attr, old, new: arrived.append(new))
        slider.set_from_json("value", 100.0)
        slider.set_from_json("value_throttled", 100.0)
        session._connection._loop_until(lambda: bool(arrived))
        after = np.array(source.data["slot 0"])
        assert after[-1] > baseline[-1]
        assert after[-1] == pytest.approx(100 + 80 * np.exp(-3.0), rel=5e-3)
    finally:
        session.close()


def test_model_is_compiled_once_per_server(tmp_path, monkeypatch):
    from bokeh.client import pull_session

    import nestedsystems

    calls = []
    real = nestedsystems.compile_model
    monkeypatch.setattr(
        nestedsystems, "compile_model", lambda model, **options: calls.append(model) or real(model, **options)
    )
    model = tmp_path / "teacup.mdl"
    model.write_text(TEACUP.read_text())  # a new file, so no earlier test's cache applies
    with serving(model, tmp_path / "s.sqlite") as server:
        sessions = [pull_session(url=server_url(server)) for _ in range(3)]
        try:
            assert all(s.document.get_model_by_name("run") is not None for s in sessions)
            assert len(_nodelay(server)) == 3
            assert all(_nodelay(server))
        finally:
            for session in sessions:
                session.close()
    assert len(calls) == 1


def test_several_processes_need_their_own_event_loops(tmp_path):
    from tornado.ioloop import IOLoop

    with pytest.raises(ParameterError, match="several server processes"):
        make_server(TEACUP, port=0, store=tmp_path / "s.sqlite", processes=2, io_loop=IOLoop.current())


def test_a_server_of_two_processes_answers_and_stops_whole(tmp_path):
    """``serve --processes 2``: two forked workers share the port, each answers a
    session with the model's numbers, and stopping the server stops them both."""
    import psutil
    from bokeh.client import pull_session

    from nestedsystems.dashboard.browser import ServerProcess

    with ServerProcess(TEACUP, store=tmp_path / "s.sqlite", extra=["--processes", "2"]) as server:
        assert server.process is not None
        workers = psutil.Process(server.process.pid).children()
        assert len(workers) == 2
        session = pull_session(url=server.url)
        try:
            doc = session.document
            source = doc.get_model_by_name("run")
            slider = doc.get_model_by_name("lever:Room Temperature")
            arrived = []
            source.on_change("data", lambda attr, old, new: arrived.append(new))
            slider.set_from_json("value", 100.0)
            slider.set_from_json("value_throttled", 100.0)
            session._connection._loop_until(lambda: bool(arrived))
            assert source.data["slot 0"][-1] == pytest.approx(100 + 80 * np.exp(-3.0), rel=5e-3)
        finally:
            session.close()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []


def test_bokeh_serve_hooks_prepare_the_model_and_freeze_what_lives_as_long(tmp_path, monkeypatch):
    """``bokeh serve dashboards/whatif`` prepares its model before any visitor and keeps
    the long-lived heap out of the collector's full passes, as ``nestedsystems serve``."""
    import gc
    import importlib.util

    from nestedsystems.dashboard.cache import prepared_model

    model = tmp_path / "teacup.mdl"
    model.write_text(TEACUP.read_text())  # a new file: nothing prepared it before
    path = ROOT / "dashboards" / "whatif" / "app_hooks.py"
    spec = importlib.util.spec_from_file_location("whatif_hooks", path)
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    monkeypatch.setattr("sys.argv", ["main.py", str(model)])
    gc.unfreeze()
    hooks.on_server_loaded(None)
    prepared = prepared_model(model)
    assert prepared.baseline["Teacup Temperature"][0] == 180
    # The collector walks what get_objects() lists; the frozen heap is not in it.
    assert gc.is_tracked(prepared)
    assert all(obj is not prepared for obj in gc.get_objects())
    gc.unfreeze()
    assert any(obj is prepared for obj in gc.get_objects())
