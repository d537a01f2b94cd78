"""Vensim's RANDOM functions as reproducible streams of numbers.

A draw is a pure function of four numbers: the run's seed (the constant
``NOISE SEED``), the call site (each RANDOM call in the model is numbered at load),
the call's own seed argument, and the time. Nothing is kept between steps, so the
kernels stay pure functions of (time, state, parameters), RK4's half steps draw
numbers of their own, and a run is reproduced exactly from its seed:

- a single run uses ``NOISE SEED`` (0 unless the model or ``params`` say otherwise;
  ``simulate(..., seed=)`` sets it);
- in an ensemble each member gets its own stream: member ``j`` of a run with seed
  ``s`` draws with seed ``s + j``, as Vensim's sensitivity runs increment their noise
  seed, so it can be rerun alone with ``seed=s + j``.

The numbers come from a counter-based hash (SplitMix64's finaliser over the four
keys, 53 bits to a uniform in (0, 1)), then each distribution's inverse cumulative
distribution, truncated to the call's [min, max]:

- RANDOM 0 1(): uniform on (0, 1);
- RANDOM UNIFORM(min, max, seed);
- RANDOM NORMAL(min, max, mean, sd, seed): a normal truncated to [min, max];
- RANDOM EXPONENTIAL(min, max, shift, stretch, seed): shift + stretch * an
  exponential of mean 1, kept within [min, max];
- RANDOM POISSON(min, max, mean, shift, stretch, seed): shift + stretch * a Poisson
  count of the given mean, kept within [min, max].

The streams are not Vensim's: a model draws the same distributions, not the same
numbers. Each distribution does the same floating-point operations on one number
(a single run, in plain floats) as on an array (an ensemble), so a single run with
seed ``s + j`` and member ``j`` draw identical bits; `run_ensemble` numbers members by
their row, whatever chunk or worker runs them. Models that draw are not compiled to
machine code: the draws call numpy and scipy.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .expressions import Binary, Call, Expr, If, LookupCall, Number, Ref, Table, Unary, walk
from .model import Kind, Model, Variable

__all__ = ["RANDOM_FUNCTIONS", "SEED", "draws_random", "number_streams"]

SEED = "noise seed"
# Vensim's name -> its number of arguments; the IR's calls carry three more
# (the noise seed, the call site and the time), added by `number_streams`.
RANDOM_FUNCTIONS = {
    "random 0 1": 0,
    "random uniform": 3,
    "random normal": 5,
    "random exponential": 5,
    "random poisson": 6,
}
_MASK = (1 << 64) - 1


def draws_random(model: Model) -> bool:
    """Whether any equation of `model` calls a RANDOM function."""
    return any(
        isinstance(node, Call) and node.function in RANDOM_FUNCTIONS
        for v in model.variables
        for expr in (v.equation, v.initial)
        if expr is not None and not isinstance(expr, Table)
        for node in walk(expr)
    )


def number_streams(model: Model) -> Model:
    """Give every RANDOM call its stream: the noise seed, a site number, the time.

    Adds the constant ``NOISE SEED`` (0) when the model calls a RANDOM function and
    does not define it. Sites are numbered in model order, after macros are
    expanded, so that each copy of a macro draws its own numbers.
    """
    if not draws_random(model):
        return model
    counter = iter(range(1, 1 << 30))

    def number(expr: Expr) -> Expr:
        if isinstance(expr, Call):
            args = tuple(number(a) for a in expr.args)
            if expr.function in RANDOM_FUNCTIONS and len(args) == RANDOM_FUNCTIONS[expr.function]:
                args += (Ref(SEED), Number(float(next(counter))), Ref("time"))
            return Call(expr.function, args)
        if isinstance(expr, Unary):
            return Unary(expr.op, number(expr.operand))
        if isinstance(expr, Binary):
            return Binary(expr.op, number(expr.left), number(expr.right))
        if isinstance(expr, If):
            return If(number(expr.condition), number(expr.then), number(expr.otherwise))
        if isinstance(expr, LookupCall):
            return LookupCall(expr.table, number(expr.argument), expr.mode)
        return expr

    variables = []
    for v in model.variables:
        equation = v.equation if isinstance(v.equation, Table) else number(v.equation)
        initial = None if v.initial is None else number(v.initial)
        unchanged = (equation, initial) == (v.equation, v.initial)
        variables.append(v if unchanged else replace(v, equation=equation, initial=initial))
    if SEED not in model:
        variables.append(
            Variable(
                name="NOISE SEED",
                kind=Kind.CONSTANT,
                equation=Number(0.0),
                documentation="The seed of the RANDOM functions' streams: the same seed, the same run.",
            )
        )
    return model.replace(variables=tuple(variables))


# ------------------------------------------------------------------ the streams


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches every output bit."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _key(value: Any) -> np.ndarray:
    """A whole number (a seed, a site) as 64 bits."""
    array = np.atleast_1d(np.asarray(value, dtype=float))
    return np.trunc(array).astype(np.int64).astype(np.uint64)


def _mix_one(z: int) -> int:
    """`_mix` on one Python integer: the same bits, without numpy's per-call cost."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _uniform_one(seed: float, site: float, stream: float, time: float) -> float:
    z = _mix_one(math.trunc(seed) & _MASK)
    z = _mix_one(z ^ (math.trunc(site) & _MASK))
    z = _mix_one(z ^ (math.trunc(stream) & _MASK))
    z = _mix_one(z ^ struct.unpack("<Q", struct.pack("<d", time))[0])
    return ((z >> 11) + 0.5) * 2.0**-53


def uniform(seed: Any, site: Any, stream: Any, time: Any) -> Any:
    """Uniform numbers in (0, 1), one per element of the broadcast arguments (a float
    when all are numbers). Times are keyed by their bits, so every distinct time,
    RK4's half steps included, draws anew."""
    if type(seed) is type(site) is type(stream) is type(time) is float:  # one run: no numpy
        return _uniform_one(seed, site, stream, time)
    shape = np.broadcast_shapes(np.shape(seed), np.shape(site), np.shape(stream), np.shape(time))
    times = np.atleast_1d(np.asarray(time, dtype=float)).view(np.uint64)
    z = _mix(_key(seed))
    z = _mix(z ^ _key(site))
    z = _mix(z ^ _key(stream))
    z = _mix(z ^ times)
    u = ((z >> np.uint64(11)).astype(float) + 0.5) * 2.0**-53
    return np.broadcast_to(u, shape)


def random_0_1(seed: Any, site: Any, time: Any) -> Any:
    return uniform(seed, site, 0.0, time)


def random_uniform(low: Any, high: Any, stream: Any, seed: Any, site: Any, time: Any) -> Any:
    return low + (high - low) * uniform(seed, site, stream, time)


# Each distribution below has a path for one run (Python floats, numpy's ufuncs called
# on numbers) and one for arrays, doing the same operations in the same order: a
# single run and an ensemble member with the same seed draw the same bits.


def random_normal(
    low: Any, high: Any, mean: Any, sd: Any, stream: Any, seed: Any, site: Any, time: Any
) -> Any:
    from scipy.special import ndtr, ndtri

    u = uniform(seed, site, stream, time)
    if isinstance(u, float):
        if not sd > 0:
            return math.nan
        lower, upper = ndtr((low - mean) / sd), ndtr((high - mean) / sd)
        return min(max(float(mean + sd * ndtri(lower + u * (upper - lower))), low), high)
    sd = np.where(np.asarray(sd) > 0, sd, np.nan)
    lower, upper = ndtr((low - mean) / sd), ndtr((high - mean) / sd)
    return np.clip(mean + sd * ndtri(lower + u * (upper - lower)), low, high)


def random_exponential(
    low: Any, high: Any, shift: Any, stretch: Any, stream: Any, seed: Any, site: Any, time: Any
) -> Any:
    u = uniform(seed, site, stream, time)
    # An exponential of mean 1 has F(e) = 1 - exp(-e); truncate in that scale.
    if isinstance(u, float):
        if not stretch > 0:
            return math.nan
        lower = -np.expm1(-max((low - shift) / stretch, 0.0))
        upper = -np.expm1(-max((high - shift) / stretch, 0.0))
        e = -np.log1p(-(lower + u * (upper - lower)))
        return min(max(float(shift + stretch * e), low), high)
    stretch = np.where(np.asarray(stretch) > 0, stretch, np.nan)
    lower = -np.expm1(-np.maximum((low - shift) / stretch, 0.0))
    upper = -np.expm1(-np.maximum((high - shift) / stretch, 0.0))
    e = -np.log1p(-(lower + u * (upper - lower)))
    return np.clip(shift + stretch * e, low, high)


def random_poisson(
    low: Any, high: Any, mean: Any, shift: Any, stretch: Any, stream: Any, seed: Any, site: Any, time: Any
) -> Any:
    from scipy.special import pdtr

    u = uniform(seed, site, stream, time)
    if isinstance(u, float):
        return _poisson_one(low, high, mean, shift, stretch, u)
    mean = np.asarray(mean, dtype=float)
    stretch = np.where(np.asarray(stretch) != 0, stretch, np.nan)
    first = np.maximum(np.ceil((low - shift) / stretch), 0.0)
    last = np.floor((high - shift) / stretch)
    lower = np.where(first > 0, pdtr(first - 1, mean), 0.0)
    target = lower + u * (pdtr(last, mean) - lower)
    count = np.zeros(np.shape(target))
    probability = np.exp(-mean) * np.ones_like(count)
    cumulative = probability.copy()
    k = 0
    limit = float(np.nanmax(np.minimum(last, mean + 40 * np.sqrt(mean) + 40), initial=0.0))
    while k < limit:
        below = (cumulative < target) & (k < np.minimum(last, mean + 40 * np.sqrt(mean) + 40))
        if not below.any():
            break
        k += 1
        count = count + below
        probability = probability * mean / k
        cumulative = cumulative + probability
    return np.clip(shift + stretch * np.clip(count, first, last), low, high)


def _poisson_one(low: float, high: float, mean: float, shift: float, stretch: float, u: float) -> float:
    from scipy.special import pdtr

    if stretch == 0:
        return math.nan
    # The counts whose shifted, stretched values lie in [low, high].
    first = max(math.ceil((low - shift) / stretch), 0.0)
    last = math.floor((high - shift) / stretch)
    lower = float(pdtr(first - 1, mean)) if first > 0 else 0.0
    target = lower + u * (float(pdtr(last, mean)) - lower)
    # The inverse distribution, summing probabilities up to the target.
    count, k = 0.0, 0
    probability = float(np.exp(-mean))
    cumulative = probability
    limit = min(last, mean + 40 * math.sqrt(mean) + 40)
    while k < limit and cumulative < target:
        k += 1
        count += 1.0
        probability = probability * mean / k
        cumulative = cumulative + probability
    return min(max(shift + stretch * min(max(count, first), last), low), high)


def _scalar(function: Callable[..., Any]) -> Callable[..., float]:
    def one(*args: float) -> float:
        return float(function(*args))

    one.__name__ = function.__name__
    return one


# The compiler's tables (see `builtins`): name -> template, and the helpers by name.
VECTOR_HELPERS: dict[str, Callable[..., Any]] = {
    "_random_0_1": random_0_1,
    "_random_uniform": random_uniform,
    "_random_normal": random_normal,
    "_random_exponential": random_exponential,
    "_random_poisson": random_poisson,
}
SCALAR_HELPERS = {name: _scalar(f) for name, f in VECTOR_HELPERS.items()}
TEMPLATES = {
    name: f"_{name.replace(' ', '_')}(" + ", ".join(f"{{{i}}}" for i in range(arity + 3)) + ")"
    for name, arity in RANDOM_FUNCTIONS.items()
}
