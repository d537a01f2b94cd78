"""A model's machine code, compiled in a process of its own.

numba holds the GIL while LLVM optimises a kernel: for the flagship on a new machine
that is tens of seconds in one call, and compiled on a server thread it stalls every
session's callbacks, interpreted ones included. A child process compiles the kernels
the server will ask for (its runs, the strip's run at every TIME STEP, and the
"uncertainty" toggle's ensemble) into numba's disk cache, which is keyed by each
kernel's text, the same in every process; the server's own compile then loads them
in milliseconds. Without a writable cache
the child gains nothing and the server compiles as before.

Run as ``python -m nestedsystems.dashboard.warm MODEL``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..model import Kind

__all__ = ["compile_elsewhere", "compile_here", "every_step_columns"]


def every_step_columns(model: Any) -> tuple[str, ...] | None:
    """What the strip's run at every TIME STEP saves: every variable, inner ones
    included; ``None`` when TIME STEP or SAVEPER is an equation (the strip then runs
    its own, interpreted)."""
    controls = [model.get(name) for name in ("time step", "saveper")]
    if not all(v is not None and v.kind is Kind.CONSTANT for v in controls):
        return None
    return tuple(v.name for v in model.variables if v.kind is not Kind.LOOKUP)


def compile_here(path: str | Path, spec: Any = None) -> None:
    """Compile (or load from the disk cache) the kernels a dashboard on `path` runs;
    `spec` is the what-if app's (`whatif.WhatIfSpec`, the flagship's by default)."""
    import nestedsystems as ns

    model = ns.load(path)
    compiled = ns.compile_model(model, native=True)
    ns.simulate(compiled)
    columns = every_step_columns(model)
    if columns is not None and getattr(model, "loops", ()):
        time_step = float(model["time step"].equation.value)
        ns.simulate(compiled, params={"saveper": time_step}, return_columns=columns)
    _uncertainty_ensemble(path, model, compiled, spec)


def _uncertainty_ensemble(path: str | Path, model: Any, compiled: Any, spec: Any) -> None:
    """The baseline's bands, asked for as the what-if app asks (its series, its
    assumptions file, its engine): the same columns, so the same ensemble kernel."""
    from ..errors import NestedSystemsError
    from .figures import time_axis
    from .uncertainty_view import view_for_app
    from .whatif import FLAGSHIP, _fit_spec

    fitted, _ = _fit_spec(spec or FLAGSHIP, model)
    # What the engine reads of the server's prepared model, with the machine code.
    prepared = SimpleNamespace(path=Path(path), model=model, compiled=compiled, interpreted=compiled)
    axis = time_axis(getattr(model, "time_units", ""))
    try:
        view = view_for_app(prepared, (), fitted.trajectories, fitted.indicators, axis)
    except NestedSystemsError:  # a broken uncertainty file: the app shows no bands either
        return
    if view is not None:
        view.engine.bands({}).result()


def compile_elsewhere(path: str | Path) -> bool:
    """`compile_here` in a child process; whether it succeeded. The calling thread
    waits without holding the GIL."""
    command = [sys.executable, "-m", "nestedsystems.dashboard.warm", str(path)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


if __name__ == "__main__":
    compile_here(sys.argv[1])
