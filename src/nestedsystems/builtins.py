"""Vensim's built-in functions, twice: for one run (floats) and for many (numpy).

A single run is fastest in plain Python floats (numpy costs about a microsecond per
operation, which a scalar run pays on every operation of every step); an ensemble
is fastest in numpy over the run axis. The compiler emits calls to the names
below; each template's ``{0}``, ``{1}``... are the compiled arguments. ``t`` and
``dt`` are the kernel's current time and time step.

Vensim's semantics follow PySD's runtime, which the SDXorg test-models confirm:
STEP switches at ``t + dt/2``, RAMP and PULSE use Vensim's small number 1e-6,
XIDZ and ZIDZ treat ``|x| < 1e-6`` as zero, INTEGER truncates toward zero.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from . import noise

__all__ = ["SCALAR_CALLS", "SCALAR_NAMESPACE", "VECTOR_CALLS", "VECTOR_NAMESPACE"]

SMALL = 1e-6  # what Vensim's help calls zero


# --- one run: plain floats ------------------------------------------------------------


def _lookup(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1 = xs[i - 1], xs[i]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)


def _lookup_extrapolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) == 1:
        return ys[0]
    if x < xs[0]:
        return ys[0] + (ys[1] - ys[0]) * (x - xs[0]) / (xs[1] - xs[0])
    if x > xs[-1]:
        return ys[-1] + (ys[-1] - ys[-2]) * (x - xs[-1]) / (xs[-1] - xs[-2])
    return _lookup(x, xs, ys)


def _lookup_backward(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    i = bisect.bisect_right(xs, x) - 1
    return ys[max(i, 0)]


def _lookup_forward(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    i = bisect.bisect_left(xs, x)
    return ys[min(i, len(ys) - 1)]


def _xidz(a: float, b: float, x: float) -> float:
    return x if abs(b) < SMALL else a / b


def _zidz(a: float, b: float) -> float:
    return 0.0 if abs(b) < SMALL else a / b


def _quantum(a: float, q: float) -> float:
    return a if q < SMALL else q * math.trunc(a / q)


def _modulo(a: float, m: float) -> float:
    return a - _quantum(a, m)


def _ramp(t: float, slope: float, start: float, end: float = math.inf) -> float:
    return slope * (min(end, t) - start) if t + SMALL > start else 0.0


def _pulse(t: float, dt: float, start: float, width: float) -> float:
    width = width if width > 0 else dt  # Vensim: a zero width lasts one time step
    return 1.0 if start - SMALL <= t < start + width else 0.0


def _pulse_train(t: float, dt: float, start: float, width: float, interval: float, end: float) -> float:
    width = width if width > 0 else dt
    if not start <= t < end:
        return 0.0
    if interval <= 0:
        return 1.0 if t < start + width else 0.0
    return 1.0 if (t - start + SMALL) % interval < width else 0.0


SCALAR_NAMESPACE = {
    "_math": math,
    "_pow": math.pow,
    "_min": min,
    "_max": max,
    "_trunc": math.trunc,
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

SCALAR_CALLS = {
    "abs": "abs({0})",
    "exp": "_math.exp({0})",
    "ln": "_math.log({0})",
    "log": "(_math.log({0}) / _math.log({1}))",
    "sqrt": "_math.sqrt({0})",
    "power": "_pow({0}, {1})",
    "sin": "_math.sin({0})",
    "cos": "_math.cos({0})",
    "tan": "_math.tan({0})",
    "arcsin": "_math.asin({0})",
    "arccos": "_math.acos({0})",
    "arctan": "_math.atan({0})",
    "sinh": "_math.sinh({0})",
    "cosh": "_math.cosh({0})",
    "tanh": "_math.tanh({0})",
    "min": "_min({0}, {1})",
    "max": "_max({0}, {1})",
    "integer": "float(_trunc({0}))",
    "modulo": "_modulo({0}, {1})",
    "quantum": "_quantum({0}, {1})",
    "xidz": "_xidz({0}, {1}, {2})",
    "zidz": "_zidz({0}, {1})",
    "step": "({0} if t + 0.5 * dt > {1} else 0.0)",
    "ramp": "_ramp(t, {0}, {1}, {2})",
    "pulse": "_pulse(t, dt, {0}, {1})",
    "pulse train": "_pulse_train(t, dt, {0}, {1}, {2}, {3})",
    "pi": "_math.pi",
    "gamma ln": "_math.lgamma({0})",
}


# --- many runs: numpy over the run axis -----------------------------------------------


def _vlookup(x, xs, ys):  # type: ignore[no-untyped-def]
    return np.interp(x, xs, ys)


def _vlookup_extrapolate(x, xs, ys):  # type: ignore[no-untyped-def]
    inside = np.interp(x, xs, ys)
    if len(xs) == 1:
        return inside
    low = ys[0] + (ys[1] - ys[0]) * (x - xs[0]) / (xs[1] - xs[0])
    high = ys[-1] + (ys[-1] - ys[-2]) * (x - xs[-1]) / (xs[-1] - xs[-2])
    return np.where(x < xs[0], low, np.where(x > xs[-1], high, inside))


def _vlookup_backward(x, xs, ys):  # type: ignore[no-untyped-def]
    i = np.searchsorted(xs, x, side="right") - 1
    return np.asarray(ys)[np.maximum(i, 0)]


def _vlookup_forward(x, xs, ys):  # type: ignore[no-untyped-def]
    i = np.searchsorted(xs, x, side="left")
    return np.asarray(ys)[np.minimum(i, len(ys) - 1)]


def _vxidz(a, b, x):  # type: ignore[no-untyped-def]
    small = np.abs(b) < SMALL
    return np.where(small, x, a / np.where(small, 1.0, b))


def _vzidz(a, b):  # type: ignore[no-untyped-def]
    return _vxidz(a, b, 0.0)


def _vquantum(a, q):  # type: ignore[no-untyped-def]
    small = q < SMALL
    return np.where(small, a, q * np.trunc(a / np.where(small, 1.0, q)))


def _vmodulo(a, m):  # type: ignore[no-untyped-def]
    return a - _vquantum(a, m)


def _vramp(t, slope, start, end=np.inf):  # type: ignore[no-untyped-def]
    return np.where(t + SMALL > start, slope * (np.minimum(end, t) - start), 0.0)


def _vpulse(t, dt, start, width):  # type: ignore[no-untyped-def]
    width = np.where(width > 0, width, dt)
    return np.where((start - SMALL <= t) & (t < start + width), 1.0, 0.0)


def _vpulse_train(t, dt, start, width, interval, end):  # type: ignore[no-untyped-def]
    width = np.where(width > 0, width, dt)
    active = (start <= t) & (t < end)
    repeating = np.where(interval > 0, (t - start + SMALL) % np.where(interval > 0, interval, 1.0), t - start)
    return np.where(active & (repeating < width), 1.0, 0.0)


def _vfloat(x):  # type: ignore[no-untyped-def]
    return x * 1.0


# math.lgamma element by element: the same numbers as a single run's, to the last bit.
_vgamma_ln = np.vectorize(math.lgamma, otypes=[float])


VECTOR_NAMESPACE = {
    "_np": np,
    "_f": _vfloat,
    "_lookup": _vlookup,
    "_lookup_extrapolate": _vlookup_extrapolate,
    "_lookup_backward": _vlookup_backward,
    "_lookup_forward": _vlookup_forward,
    "_xidz": _vxidz,
    "_zidz": _vzidz,
    "_quantum": _vquantum,
    "_modulo": _vmodulo,
    "_ramp": _vramp,
    "_pulse": _vpulse,
    "_pulse_train": _vpulse_train,
    "_gamma_ln": _vgamma_ln,
    "_inf": np.inf,
    "_nan": np.nan,
}

VECTOR_CALLS = {
    "abs": "_np.abs({0})",
    "exp": "_np.exp({0})",
    "ln": "_np.log({0})",
    "log": "(_np.log({0}) / _np.log({1}))",
    "sqrt": "_np.sqrt({0})",
    "power": "_np.power({0}, {1})",
    "sin": "_np.sin({0})",
    "cos": "_np.cos({0})",
    "tan": "_np.tan({0})",
    "arcsin": "_np.arcsin({0})",
    "arccos": "_np.arccos({0})",
    "arctan": "_np.arctan({0})",
    "sinh": "_np.sinh({0})",
    "cosh": "_np.cosh({0})",
    "tanh": "_np.tanh({0})",
    "min": "_np.minimum({0}, {1})",
    "max": "_np.maximum({0}, {1})",
    "integer": "_np.trunc({0})",
    "modulo": "_modulo({0}, {1})",
    "quantum": "_quantum({0}, {1})",
    "xidz": "_xidz({0}, {1}, {2})",
    "zidz": "_zidz({0}, {1})",
    "step": "_np.where(t + 0.5 * dt > {1}, {0}, 0.0)",
    "ramp": "_ramp(t, {0}, {1}, {2})",
    "pulse": "_pulse(t, dt, {0}, {1})",
    "pulse train": "_pulse_train(t, dt, {0}, {1}, {2}, {3})",
    "pi": "_np.pi",
    "gamma ln": "_gamma_ln({0})",
}

# RANDOM functions: one numpy implementation serves both flavours (see `noise`).
SCALAR_NAMESPACE.update(noise.SCALAR_HELPERS)
VECTOR_NAMESPACE.update(noise.VECTOR_HELPERS)
SCALAR_CALLS.update(noise.TEMPLATES)
VECTOR_CALLS.update(noise.TEMPLATES)
