"""Native runs: the scalar Euler kernel compiled to machine code by numba.

A single run in generated Python pays the interpreter on every operation of every
step; compiled, the same loop runs 10-70x faster, which is what keeps a dashboard's
slider instant on a large model. An ensemble is the same loop over its members
inside one compiled call, faster than numpy over a run axis (whose every operation
allocates an array). Compiling costs seconds, so the generated module
is written to a cache folder under the hash of its text and numba caches its
machine code beside it: each model compiles once per machine, not once per run.

The kernel's source is the scalar flavour's (see `compiler`), built from indices
and re-printed numbers only. Helpers below are the scalar built-ins, compiled.
Division by zero and domain errors give inf/NaN as in numpy (``error_model="numpy"``),
and the run's finiteness check reports them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["available", "build", "by_default"]

SMALL = 1e-6


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


def _xidz(a, b, x):  # type: ignore[no-untyped-def]
    return x if abs(b) < SMALL else a / b


def _zidz(a, b):  # type: ignore[no-untyped-def]
    return 0.0 if abs(b) < SMALL else a / b


def _quantum(a, q):  # type: ignore[no-untyped-def]
    return a if q < SMALL else q * math.trunc(a / q)


def _modulo(a, m):  # type: ignore[no-untyped-def]
    return a - _quantum(a, m)


def _ramp(t, slope, start, end):  # type: ignore[no-untyped-def]
    return slope * (min(end, t) - start) if t + SMALL > start else 0.0


def _pulse(t, dt, start, width):  # type: ignore[no-untyped-def]
    width = width if width > 0 else dt
    return 1.0 if start - SMALL <= t < start + width else 0.0


def _pulse_train(t, dt, start, width, interval, end):  # type: ignore[no-untyped-def]
    width = width if width > 0 else dt
    if not start <= t < end:
        return 0.0
    if interval <= 0:
        return 1.0 if t < start + width else 0.0
    return 1.0 if (t - start + SMALL) % interval < width else 0.0


def _pow(a, b):  # type: ignore[no-untyped-def]
    return a**b


def _trunc(x):  # type: ignore[no-untyped-def]
    return math.trunc(x)


# The names the scalar templates call; compiled on first use (importing numba
# costs a second, which plain runs should not pay).
_PLAIN = {
    "_math": math,
    "_np": np,
    "_pow": _pow,
    "_min": min,
    "_max": max,
    "_trunc": _trunc,
    "_lookup": _lookup,
    "_lookup_extrapolate": _lookup_extrapolate,
    "_lookup_backward": _lookup_backward,
    "_lookup_forward": _lookup_forward,
    "_xidz": _xidz,
    "_zidz": _zidz,
    "_quantum": _quantum,
    "_modulo": _modulo,
    "_ramp": _ramp,
    "_pulse": _pulse,
    "_pulse_train": _pulse_train,
    "_inf": math.inf,
    "_nan": math.nan,
}
_HELPERS = frozenset(name for name, f in _PLAIN.items() if getattr(f, "__module__", None) == __name__)
_COMPILED: dict[str, Any] = {}


def jitted() -> dict[str, Any]:
    """The helper namespace with every helper function compiled by numba."""
    if not _COMPILED:
        import numba

        jit = numba.njit(cache=True, error_model="numpy")
        compiled = {name: jit(f) if name in _HELPERS else f for name, f in _PLAIN.items()}
        # Helpers call each other through module globals: point those at the compiled ones.
        globals().update({name: compiled[name] for name in _HELPERS})
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
        return namespace[name]  # type: ignore[no-any-return]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # numba's disk cache finds a function's globals again through its module, by name.
    sys.modules[module_name] = module
    module._NAMESPACE_JIT = numba.njit(cache=True, error_model="numpy")  # type: ignore[attr-defined]
    spec.loader.exec_module(module)
    return getattr(module, name)  # type: ignore[no-any-return]
