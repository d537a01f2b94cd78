"""Samples of uncertain constants, and lookups made uncertain.

An ensemble asks "what if we are wrong about these numbers?". Each uncertain
constant gets a distribution (`Uniform`, `Normal`, `Triangular`); `sample` draws a
table of parameter sets from them, by plain random sampling or by Latin hypercube
(`scipy.stats.qmc`), which covers every stratum of every range with as many members
as random sampling needs for one.

Both ways go through the unit hypercube and each distribution's inverse CDF, so one
seed gives one design whatever the distributions are, and the same table on every
machine.

Graphical functions (lookups: "effect of workload on error rate") are often the
least known part of a model. `distort_lookup` bends one into a new model (a pure
function on the IR); `expose_lookup_strength` instead adds a constant that scales the
lookup's effect inside the equations, so that a whole ensemble can vary the curve in
one vectorised run instead of recompiling per member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from .errors import ParameterError
from .expressions import Binary, Expr, If, LookupCall, Number, Op, Ref, Table, Unary, canonical
from .expressions import Call as _Call
from .model import Kind, Model, Variable

__all__ = [
    "Distribution",
    "Normal",
    "Triangular",
    "Uniform",
    "distort_lookup",
    "expose_lookup_strength",
    "parse_range",
    "ranges_from_model",
    "sample",
]


@dataclass(frozen=True, slots=True)
class Uniform:
    """Every value between ``low`` and ``high`` equally likely."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ParameterError(f"uniform range: expected low < high, found {self.low} and {self.high}")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True, slots=True)
class Normal:
    """A bell around ``mean``; truncated to ``[low, high]`` when given (rates cannot go negative)."""

    mean: float
    sd: float
    low: float = -np.inf
    high: float = np.inf

    def __post_init__(self) -> None:
        if not self.sd > 0:
            raise ParameterError(f"normal distribution: expected sd > 0, found {self.sd}")
        if not self.low < self.high:
            raise ParameterError(f"normal truncation: expected low < high, found {self.low} and {self.high}")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        a, b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        return stats.truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd)


@dataclass(frozen=True, slots=True)
class Triangular:
    """An expert's "between low and high, most likely mode"."""

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ParameterError(
                f"triangular distribution: expected low <= mode <= high, "
                f"found {self.low}, {self.mode}, {self.high}"
            )

    def ppf(self, u: np.ndarray) -> np.ndarray:
        width = self.high - self.low
        return stats.triang.ppf(u, (self.mode - self.low) / width, loc=self.low, scale=width)


Distribution = Uniform | Normal | Triangular

METHODS = ("lhs", "random")


def sample(
    distributions: Mapping[str, Distribution],
    n: int,
    *,
    method: str = "lhs",
    seed: int | None = None,
) -> pd.DataFrame:
    """Draw ``n`` parameter sets.

    Parameters
    ----------
    distributions:
        Constant name -> distribution. The column order of the result follows it.
    n:
        Number of members.
    method:
        ``"lhs"`` (Latin hypercube, the default) or ``"random"``.
    seed:
        Makes the design reproducible; None draws a fresh one.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, one column per constant, ready for `run_ensemble`.
    """
    if n < 1:
        raise ParameterError(f"sample size: expected at least 1 member, found {n}")
    if not distributions:
        raise ParameterError("sample: expected at least one uncertain constant, found none")
    names = list(distributions)
    if method == "lhs":
        unit = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(seed)).random(n)
    elif method == "random":
        unit = np.random.default_rng(seed).random((n, len(names)))
    else:
        raise ParameterError(f"sampling method: expected one of {', '.join(METHODS)}, found {method!r}")
    columns = {name: distributions[name].ppf(unit[:, i]) for i, name in enumerate(names)}
    return pd.DataFrame(columns)


def parse_range(text: str) -> tuple[str, float | None, float | None]:
    """Split ``"NAME=LOW:HIGH"`` (or a bare ``"NAME"``) from the command line."""
    name, sep, bounds = text.partition("=")
    name = name.strip()
    if not name:
        raise ParameterError(f"{text!r}: expected NAME=LOW:HIGH, found no name")
    if not sep:
        return name, None, None
    low_text, colon, high_text = bounds.partition(":")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise ParameterError(f"{name!r}: expected LOW:HIGH as two numbers, found {bounds!r}") from None
    if not colon or not low < high:
        raise ParameterError(f"{name!r}: expected LOW:HIGH with LOW < HIGH, found {bounds!r}")
    return name, low, high


def ranges_from_model(
    model: Model, names: Sequence[str] | Mapping[str, tuple[float | None, float | None]]
) -> dict[str, tuple[float, float]]:
    """Bounds for each named constant: the given ones, else the model's ``[min, max]``.

    Raises `ParameterError` for a name that is not a constant of the model, or one
    with neither given bounds nor a range in the model.
    """
    given = dict(names) if isinstance(names, Mapping) else dict.fromkeys(names, (None, None))
    ranges: dict[str, tuple[float, float]] = {}
    for name, (low, high) in given.items():
        variable = _constant(model, name)
        if low is None:
            low = variable.range.minimum
        if high is None:
            high = variable.range.maximum
        if low is None or high is None:
            raise ParameterError(
                f"{variable.name!r}: expected LOW:HIGH or a [min,max] range in the model, found neither"
            )
        if not low < high:
            raise ParameterError(f"{variable.name!r}: expected LOW < HIGH, found {low} and {high}")
        ranges[variable.name] = (float(low), float(high))
    return ranges


def _constant(model: Model, name: str) -> Variable:
    variable = model.get(name)
    if variable is None or variable.kind is not Kind.CONSTANT:
        found = "no such variable" if variable is None else f"a {variable.kind.value}"
        raise ParameterError(f"{name!r}: expected a constant of {model.name}, found {found}")
    return variable


def _lookup(model: Model, name: str) -> Variable:
    variable = model.get(name)
    if variable is None or variable.kind is not Kind.LOOKUP:
        found = "no such variable" if variable is None else f"a {variable.kind.value}"
        raise ParameterError(f"{name!r}: expected a lookup of {model.name}, found {found}")
    return variable


def _pivot(table: Table, reference: float) -> float:
    # An effect function is neutral at its normal input (x = 1 -> y = 1 by convention);
    # bending the curve about that point changes how strong the effect is without
    # changing what "normal" means, so the model's equilibrium survives.
    return float(np.interp(reference, table.x, table.y))


def distort_lookup(
    model: Model,
    name: str,
    *,
    strength: float = 1.0,
    shift: float = 0.0,
    reference: float = 1.0,
) -> Model:
    """A model whose lookup ``name`` is bent: ``y' = p + strength * (y - p) + shift``.

    ``p`` is the curve's value at ``reference`` (the normal input of an effect
    function), so ``strength`` 0 flattens the effect, 1 keeps it, 2 doubles every
    departure from normal; ``shift`` moves the whole curve.

    Returns a new `Model`; ``model`` is unchanged.
    """
    variable = _lookup(model, name)
    table = variable.equation
    assert isinstance(table, Table)
    pivot = _pivot(table, reference)
    y = tuple(float(pivot + strength * (v - pivot) + shift) for v in table.y)
    return model.with_variables(replace(variable, equation=Table(table.x, y, table.mode)))


def expose_lookup_strength(model: Model, name: str, *, reference: float = 1.0) -> tuple[Model, str]:
    """Add a constant ``"<name> strength"`` (default 1) that bends lookup ``name``.

    Every call of the lookup becomes ``p + strength * (lookup(x) - p)``, the same
    bend as `distort_lookup` with ``shift`` 0, but as a parameter: an ensemble can
    then vary the curve member by member in one vectorised run.

    Returns
    -------
    (Model, str)
        The new model and the name of the added constant.
    """
    variable = _lookup(model, name)
    table = variable.equation
    assert isinstance(table, Table)
    pivot = _pivot(table, reference)
    strength_name = f"{variable.name} strength"
    if strength_name in model:
        raise ParameterError(f"{strength_name!r}: expected a new name, found it already in {model.name}")
    strength_ref = Ref(canonical(strength_name))

    def bend(expr: Expr) -> Expr:
        if isinstance(expr, LookupCall):
            inner = LookupCall(expr.table, bend(expr.argument), expr.mode)
            if isinstance(expr.table, Ref) and expr.table.name == variable.key:
                departure = Binary(Op.SUB, inner, Number(pivot))
                return Binary(Op.ADD, Number(pivot), Binary(Op.MUL, strength_ref, departure))
            return inner
        if isinstance(expr, Unary):
            return Unary(expr.op, bend(expr.operand))
        if isinstance(expr, Binary):
            return Binary(expr.op, bend(expr.left), bend(expr.right))
        if isinstance(expr, If):
            return If(bend(expr.condition), bend(expr.then), bend(expr.otherwise))
        if isinstance(expr, _Call):
            return _Call(expr.function, tuple(bend(a) for a in expr.args))
        return expr

    changed = []
    for other in model.variables:
        if isinstance(other.equation, Table):
            continue
        equation = bend(other.equation)
        initial = bend(other.initial) if other.initial is not None else None
        if equation != other.equation or initial != other.initial:
            changed.append(replace(other, equation=equation, initial=initial))
    strength = Variable(
        strength_name,
        Kind.CONSTANT,
        Number(1.0),
        documentation=f"Scales departures of {variable.name!r} from its value at x={reference}.",
        origin=variable.name,
    )
    return model.with_variables(*changed, strength), strength_name
