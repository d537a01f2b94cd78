"""Native runs: the scalar Euler kernel compiled to machine code by numba.

A single run in generated Python pays the interpreter on every operation of every
step; compiled, the same loop runs 10-70x faster, which is what keeps a dashboard's
slider instant on a large model. An ensemble is the same loop over its members
inside one compiled call, faster than numpy over a run axis (whose every operation
allocates an array). Compiling costs seconds, so the generated module
is written to a cache folder under the hash of its text and numba caches its
machine code beside it: each model compiles once per machine, not once per run.

The kernel's source is the scalar flavour's (see `compiler`), built from indices
and re-printed numbers only. It calls the scalar built-ins of `builtins`, compiled,
and the lookups below.
Division by zero and domain errors give inf/NaN as in numpy (``error_model="numpy"``),
and the run's finiteness check reports them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import builtins

__all__ = ["available", "build", "by_default"]


def available() -> bool:
    """Whether native kernels can be built here: numba is installed (it is the
    accelerator, not a requirement)."""
    return importlib.util.find_spec("numba") is not None


def by_default() -> bool:
    """Whether models compile natively unless told otherwise: where numba is
    installed and ``NESTEDSYSTEMS_NATIVE`` is not ``0`` (the test suite sets it, so
    that each of its hundreds of models does not pay a compile; tests that ask for
    native kernels still get them)."""
    return available() and os.environ.get("NESTEDSYSTEMS_NATIVE", "1") != "0"


def _lookup(x, xs, ys):  # type: ignore[no-untyped-def]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = np.searchsorted(xs, x, side="right")
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def _lookup_extrapolate(x, xs, ys):  # type: ignore[no-untyped-def]
    if len(xs) == 1:
        return ys[0]
    if x < xs[0]:
        return ys[0] + (ys[1] - ys[0]) * (x - xs[0]) / (xs[1] - xs[0])
    if x > xs[-1]:
        return ys[-1] + (ys[-1] - ys[-2]) * (x - xs[-1]) / (xs[-1] - xs[-2])
    return _lookup(x, xs, ys)


def _lookup_backward(x, xs, ys):  # type: ignore[no-untyped-def]
    i = np.searchsorted(xs, x, side="right") - 1
    return ys[max(i, 0)]


def _lookup_forward(x, xs, ys):  # type: ignore[no-untyped-def]
    i = np.searchsorted(xs, x, side="left")
    return ys[min(i, len(ys) - 1)]


# The names the scalar templates call: the interpreter's own (`builtins`), but for
# the lookups, compiled on first use (importing numba costs a second, which plain runs
# should not pay). Where Python raises (``math.pow(-8, 1/3)``, ``math.pow(0, -1)``),
# the interpreter reruns in numpy and machine code computes on: both reach numpy's
# NaN or infinity, which stops the run naming the variable, as Vensim stops on a
# floating point error.
_PLAIN: dict[str, Any] = {
    **builtins.SCALAR_NAMESPACE,
    "_np": np,
    "_lookup": _lookup,
    "_lookup_extrapolate": _lookup_extrapolate,
    "_lookup_backward": _lookup_backward,
    "_lookup_forward": _lookup_forward,
}
# Lookups here read numpy arrays with ``np.searchsorted`` (the interpreter's read
# tuples with `bisect`, which numba cannot compile); they call each other.
_LOOKUPS = frozenset(name for name, f in _PLAIN.items() if getattr(f, "__module__", None) == __name__)
_SHARED = frozenset(name for name, f in _PLAIN.items() if getattr(f, "__module__", None) == builtins.__name__)
_COMPILED: dict[str, Any] = {}


def jitted() -> dict[str, Any]:
    """The helper namespace, every helper function callable from machine code."""
    if not _COMPILED:
        import numba
        from numba.extending import register_jitable

        jit = numba.njit(cache=True, error_model="numpy")
        compiled = {name: jit(f) if name in _LOOKUPS else f for name, f in _PLAIN.items()}
        # Lookups call each other through module globals: point those at the compiled ones.
        globals().update({name: compiled[name] for name in _LOOKUPS})
        # The interpreter's helpers stay plain Python for it, and compile inside kernels.
        for name in _SHARED:
            register_jitable(error_model="numpy")(_PLAIN[name])
        _COMPILED.update(compiled)
    return _COMPILED


def cache_folder() -> Path:
    """Where generated modules and numba's machine code are kept
    (``NESTEDSYSTEMS_CACHE_DIR``, else the user's cache directory)."""
    configured = os.environ.get("NESTEDSYSTEMS_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("nestedsystems")) / "kernels"


def build(source: str, tables: dict[str, tuple[tuple, tuple]], name: str) -> Callable[..., Any]:
    """Compile the function ``name`` defined in ``source`` with numba.

    ``source`` is generated code (indices and numbers only); ``tables`` are the
    lookups it reads, written into the module as literal arrays.
    """
    lines = [
        "# Generated by nestedsystems from a model's equations: indices and numbers only.",
        "import numpy as np",
        "from nestedsystems.native import jitted as _jitted",
        "globals().update(_jitted())",
    ]
    for table, (xs, ys) in sorted(tables.items()):
        x = ", ".join(repr(float(v)) for v in xs)
        y = ", ".join(repr(float(v)) for v in ys)
        lines.append(f"{table} = (np.array([{x}]), np.array([{y}]))")
    lines += [source, f"{name} = _NAMESPACE_JIT({name})"]
    text = "\n".join(lines) + "\n"
    import numba

    jitted()
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    module_name = f"nestedsystems_kernel_{digest}"
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{module_name}.py"
        if not path.exists():
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(text)
            temporary.replace(path)  # atomic: a concurrent builder never sees half a file
    except OSError:
        # No writable cache: compile in memory, without numba's disk cache.
        namespace: dict[str, Any] = {"_NAMESPACE_JIT": numba.njit(error_model="numpy")}
        exec(compile(text, f"<{module_name}>", "exec"), namespace)
        return namespace[name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # numba's disk cache finds a function's globals again through its module, by name.
    sys.modules[module_name] = module
    module._NAMESPACE_JIT = numba.njit(cache=True, error_model="numpy")  # type: ignore[attr-defined]
    spec.loader.exec_module(module)
    return getattr(module, name)
