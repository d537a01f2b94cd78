"""A Bokeh server for the dashboards, started from Python.

`make_server` maps an app name (``whatif``, ``explorer``, ``classroom``, or any app
registered with `register_app`) to a Bokeh `~bokeh.server.server.Server` serving it at
``/``, bound to localhost unless told otherwise. Before it starts it:

- prepares the model once (load, compile, baseline run), so the first visitor does not
  pay for it and a broken model file is reported at start-up as well as in the page;
- switches on TCP_NODELAY for every websocket. Bokeh's messages are small and come in
  pairs; with Nagle's algorithm on, the second waits for the delayed acknowledgement
  of the first, 40 ms or more on loopback per round trip (see
  ``shared/design/performance-notes.md``).

A Bokeh server runs every session's callbacks on one thread, so one process uses at
most one core for them. ``processes=N`` forks N server processes sharing the port
(the kernel spreads new connections among them); the model is prepared, and its
machine code compiled, once before the fork, so every process starts with it.
"""

from __future__ import annotations

import functools
import gc
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from .cache import find_model, prepared_model
from .store import ScenarioStore, open_store

__all__ = [
    "APPS",
    "default_app_for",
    "enable_nodelay",
    "free_port",
    "freeze_long_lived",
    "make_server",
    "parse_app_arguments",
    "register_app",
    "resolve_app",
    "serve_forever",
    "server_url",
    "websocket_origins",
]

# App name -> module with build_document(doc, *, model_path, store). Another app is
# one more entry (register_app), or a module nestedsystems.dashboard.<name>.
APPS: dict[str, str] = {
    "whatif": "nestedsystems.dashboard.whatif",
    "explorer": "nestedsystems.dashboard.explorer",
    "classroom": "nestedsystems.dashboard.classroom",
}


def register_app(name: str, module: str) -> None:
    """Make ``--app name`` serve ``module.build_document``."""
    APPS[name] = module


def resolve_app(name: str) -> Callable[..., Any]:
    """The ``build_document`` of an app name.

    Raises
    ------
    ParameterError
        No such app.
    """
    module_name = APPS.get(name, f"nestedsystems.dashboard.{name}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        known = ", ".join(sorted(APPS))
        raise ParameterError(f"unknown app {name!r}; expected one of {known}") from None
    build = getattr(module, "build_document", None)
    if build is None:
        raise ParameterError(f"app {name!r} ({module_name}) has no build_document(doc)")
    return build


_nodelay_enabled = False


def enable_nodelay() -> None:
    """Set TCP_NODELAY on each Bokeh websocket as it opens (idempotent, process-wide).

    Tornado offers ``WebSocketHandler.set_nodelay`` but Bokeh's handler never calls it
    and builds its routes from a fixed class, so we wrap that class's ``open``.
    """
    global _nodelay_enabled
    if _nodelay_enabled:
        return
    from bokeh.server.views.ws import WSHandler

    original_open = WSHandler.open

    @functools.wraps(original_open)
    def open_with_nodelay(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return original_open(self, *args, **kwargs)

    WSHandler.open = open_with_nodelay  # type: ignore[method-assign]
    _nodelay_enabled = True


def default_app_for(model_path: Path | None) -> str:
    """The what-if app for the flagship model, the explorer for any other."""
    if model_path is None or model_path.name == "nested_systems.mdl":
        return "whatif"
    return "explorer"


def make_server(
    model_path: str | Path | None = None,
    *,
    app: str | None = None,
    port: int = 5006,
    address: str = "localhost",
    allow_websocket_origin: Sequence[str] = (),
    store: ScenarioStore | str | Path | None = None,
    io_loop: Any = None,
    check_model: bool = True,
    processes: int = 1,
) -> Any:
    """A Bokeh server for one app and one model, not yet started.

    Parameters
    ----------
    model_path:
        The model; the flagship ``models/nested_systems.mdl`` by default.
    app:
        ``"whatif"``, ``"explorer"`` or a registered app; by default what-if for the
        flagship model and the explorer for any other. Without a model, an app module
        that defines ``default_model()`` opens that model.
    port:
        0 picks a free port (read it back from ``server.port``).
    address:
        Interface to bind; localhost unless told otherwise.
    allow_websocket_origin:
        Extra ``host[:port]`` origins allowed to open the websocket (behind a proxy).
    store:
        The scenario store or its path; the user's default when ``None``.
    check_model:
        Prepare the model before serving, so a broken file fails here.
    processes:
        Server processes sharing the port (0: one per core). Each process runs its
        sessions' callbacks on one core; the server forks when it is made, after
        the model is prepared and its machine code compiled. Not with ``io_loop``.

    Raises
    ------
    ParameterError
        Unknown app, a store path that cannot be used, or ``processes`` other than
        1 with an ``io_loop``.
    ModelError, SimulationError
        The model failed to load or run (when ``check_model``).
    """
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import Server

    name = app or default_app_for(Path(model_path) if model_path is not None else None)
    build = resolve_app(name)
    if model_path is not None:
        path = Path(model_path)
    else:
        # An app may name its own default model (the classroom starts on a teaching
        # model); the others open the flagship.
        default = getattr(importlib.import_module(build.__module__), "default_model", None)
        path = Path(default()) if callable(default) else find_model()
    if processes != 1 and io_loop is not None:
        raise ParameterError("several server processes need their own event loops; give no io_loop")
    if check_model:
        prepared = prepared_model(path)
        if processes != 1:
            # A thread does not survive a fork (and could hold numba's locks in it):
            # every process should start with the machine code, not without it.
            prepared.wait_for_native()
    freeze_long_lived()
    opened, problem = open_store(store)
    if opened is None and store is not None:
        raise ParameterError(problem)

    def modify(doc: Any) -> None:
        build(doc, model_path=path, store=opened)

    enable_nodelay()
    if port == 0:
        port = free_port(address)
    kwargs: dict[str, Any] = {}
    if io_loop is not None:
        kwargs["io_loop"] = io_loop
    return Server(
        {"/": Application(FunctionHandler(modify))},
        port=port,
        address=address,
        allow_websocket_origin=websocket_origins(address, port, allow_websocket_origin),
        num_procs=processes,
        **kwargs,
    )


def freeze_long_lived() -> None:
    """Keep what is alive now out of the garbage collector's full passes.

    Called once the libraries are imported and the model prepared: all of it lives as
    long as the server. A full pass stops every session for the time it takes to walk
    the heap, and this part was half of it with twenty sessions open (400 ms instead
    of 720-930 ms on the 2-core machine under load); forked processes also leave it
    unwritten, so shared.
    """
    gc.freeze()


def free_port(address: str = "localhost") -> int:
    """A port nobody listens on now (the OS's choice)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address if address != "localhost" else "127.0.0.1", 0))
        return int(probe.getsockname()[1])


def websocket_origins(address: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """The pages allowed to open a websocket: the server's own address (both spellings
    of loopback) plus any given; Bokeh refuses every other origin."""
    hosts = ["localhost", "127.0.0.1"] if address in {"localhost", "127.0.0.1", "::1"} else [address]
    return list(dict.fromkeys([*(f"{host}:{port}" for host in hosts), *extra]))


def server_url(server: Any) -> str:
    """The address a person types to reach a started server."""
    address = server.address or "localhost"
    if address in {"0.0.0.0", "::", ""}:
        address = "localhost"
    return f"http://{address}:{server.port}/"


def serve_forever(server: Any, *, announce: Callable[[str], None] = print) -> None:
    """Start the server, announce its URL, run until interrupted."""
    server.start()
    announce(server_url(server))
    try:
        server.io_loop.start()
    finally:
        server.stop()


def parse_app_arguments(argv: Sequence[str]) -> tuple[Path | None, Path | None]:
    """``[MODEL] [--store PATH]`` as given to ``bokeh serve dashboards/<app> --args ...``."""
    import argparse

    parser = argparse.ArgumentParser(prog="bokeh serve dashboards/<app> --args", add_help=False)
    parser.add_argument("model", nargs="?")
    parser.add_argument("--store")
    known, _ = parser.parse_known_args(list(argv))
    return (
        Path(known.model) if known.model else None,
        Path(known.store) if known.store else None,
    )
