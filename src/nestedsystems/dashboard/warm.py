"""A model's machine code, compiled in a process of its own.

numba holds the GIL while LLVM optimises a kernel: for the flagship on a new machine
that is tens of seconds in one call, and compiled on a server thread it stalls every
session's callbacks, interpreted ones included. A child process compiles the kernels
the server will ask for (one for its runs, one for its ensembles) into numba's disk
cache, which is keyed by each kernel's text, the same in every process; the
server's own compile then loads them in milliseconds. Without a writable cache the
child gains nothing and the server compiles as before.

Run as ``python -m nestedsystems.dashboard.warm MODEL``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["compile_elsewhere", "compile_here"]


def compile_here(path: str | Path) -> None:
    """Compile (or load from the disk cache) the kernels a dashboard on `path` runs:
    one for its runs, whatever they save (the strip's run at every TIME STEP too),
    and one for the "uncertainty" toggle's ensembles, where the model has assumptions."""
    import nestedsystems as ns

    from ..errors import NestedSystemsError
    from .assumptions import assumptions_for

    model = ns.load(path)
    compiled = ns.compile_model(model, native=True)
    ns.simulate(compiled)
    try:
        assumptions = assumptions_for(path, model)
    except NestedSystemsError:  # a broken uncertainty file: the app shows no bands either
        return
    if assumptions is not None:
        members = assumptions.samples().iloc[: compiled.lanes]
        ns.simulate(compiled, params={name: members[name].to_numpy() for name in members.columns})


def compile_elsewhere(path: str | Path) -> bool:
    """`compile_here` in a child process; whether it succeeded. The calling thread
    waits without holding the GIL."""
    command = [sys.executable, "-m", "nestedsystems.dashboard.warm", str(path)]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


if __name__ == "__main__":
    compile_here(sys.argv[1])
