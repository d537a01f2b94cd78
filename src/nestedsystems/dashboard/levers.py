"""Levers: a model's constants as things a person can move, with bounds and plain words.

A `Lever` is read off a constant of the model (or, for a subscripted constant, off
each of its elements, named as its run column ``birth rate[north]``): its bounds from the constant's Vensim
range ``[min, max, step]``, its unit and a one-line explanation from the units and
documentation fields, its sector from the view it sits in. Where a bound is missing
the lever spans a sensible interval around the model's value (see `span_around`).

Values arrive from sliders, from saved scenarios (which may predate a change of the
model's ranges) and from the page's URL (typed by people). `Lever.check` turns each
into a number within bounds or a `ParameterError` a board member can read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NestedSystemsError, ParameterError
from ..expressions import Number, canonical
from ..model import CONTROL_VARIABLES, Model, Variable

__all__ = [
    "Lever",
    "array_params",
    "element_levers",
    "group_levers",
    "lever_of",
    "levers_of",
    "nice_step",
    "one_line",
    "read_lever_arguments",
    "span_around",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_MAX_EXPLANATION = 160


@dataclass(frozen=True, slots=True)
class Lever:
    """A constant a user may set, with the bounds a slider offers.

    Attributes
    ----------
    name:
        The constant's name in the model (the key of ``params``).
    default:
        The model's own value.
    start, end, step:
        Slider bounds and increment; ``start <= default <= end`` unless the model's
        value lies outside its own range.
    units:
        As written in the model, ``""`` when dimensionless.
    explanation:
        One line from the documentation.
    group:
        The sector (view) it belongs to.
    """

    name: str
    default: float
    start: float
    end: float
    step: float
    units: str = ""
    explanation: str = ""
    group: str = ""

    @property
    def title(self) -> str:
        """What a slider shows above itself: the name and, when there is one, the unit."""
        units = self.units.strip()
        if not units or units.lower() in {"dmnl", "dimensionless", "1"}:
            return self.name
        return f"{self.name} ({units})"

    def check(self, value: object) -> float:
        """``value`` as a float within the lever's bounds.

        Raises
        ------
        ParameterError
            Not a number, not finite, or outside ``[start, end]``; the message says
            which lever, what is allowed and what was given.
        """
        if isinstance(value, bool):
            raise ParameterError(f"{self.name} must be a number; got {value!r}.")
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        try:
            number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name} must be a number; got {_shown(value)}.") from None
        if not math.isfinite(number):
            raise ParameterError(f"{self.name} must be a finite number; got {_shown(value)}.")
        # A hair of tolerance: slider values arrive as start + k*step in floating point.
        tolerance = 1e-9 * max(1.0, abs(self.start), abs(self.end))
        if not (self.start - tolerance <= number <= self.end + tolerance):
            units = f" {self.units}" if self.units and self.title != self.name else ""
            raise ParameterError(
                f"{self.name} must be between {_plain(self.start)} and {_plain(self.end)}{units}; "
                f"got {_plain(number)}."
            )
        return min(max(number, self.start), self.end)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


def _plain(number: float) -> str:
    return f"{number:g}"


def one_line(documentation: str) -> str:
    """The first sentence of a documentation string, on one line, shortened if long."""
    text = " ".join(documentation.replace("\\", " ").split())
    if not text:
        return ""
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    if len(first) > _MAX_EXPLANATION:
        first = first[: _MAX_EXPLANATION - 1].rsplit(" ", 1)[0] + "…"
    return first


def nice_step(span: float, divisions: int = 100) -> float:
    """A round increment (1, 2 or 5 times a power of ten) giving about ``divisions``
    steps across ``span``."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / divisions
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def span_around(
    value: float, minimum: float | None = None, maximum: float | None = None
) -> tuple[float, float]:
    """Slider bounds for a constant: its range where given, else a span around its value.

    Most constants in a system-dynamics model are positive quantities (times, rates,
    fractions), so the span runs from zero to twice the value: halving or doubling a
    constant is the usual first sensitivity test. Zero gets ``[0, 1]``; a negative
    value ``[2·value, 0]``. A bound the model does give always wins, and a span
    clipped by one is widened on the other side so it never collapses.
    """
    if minimum is not None and maximum is not None and maximum > minimum:
        return float(minimum), float(maximum)
    if value > 0:
        start, end = 0.0, 2.0 * value
    elif value < 0:
        start, end = 2.0 * value, 0.0
    else:
        start, end = 0.0, 1.0
    if minimum is not None:
        start = max(start, float(minimum))
        if end <= start:
            end = start + max(abs(value), 1.0)
    if maximum is not None:
        end = min(end, float(maximum))
        if start >= end:
            start = end - max(abs(value), 1.0)
    return start, end


def lever_of(variable: Variable, *, name: str | None = None, value: float | None = None) -> Lever:
    """The lever for a constant of the model, or for one element of it (`name` its
    column, ``birth rate[north]``, and `value` the element's value).

    Raises
    ------
    ParameterError
        The variable is not a constant with a numeric value.
    """
    if value is None:
        if not isinstance(variable.equation, Number):
            raise ParameterError(f"{variable.name!r} is not a numeric constant, so it cannot be a lever")
        value = variable.equation.value
    value = float(value)
    start, end = span_around(value, variable.range.minimum, variable.range.maximum)
    step = variable.range.step
    if step is None or not step > 0 or step > end - start:
        step = nice_step(end - start)
    return Lever(
        name=variable.name if name is None else name,
        default=value,
        start=start,
        end=end,
        step=float(step),
        units=variable.units,
        explanation=one_line(variable.documentation),
        group=variable.group,
    )


def levers_of(
    model: Model, *, ranged_only: bool = False, exclude: Iterable[str] = (), elements: bool = False
) -> tuple[Lever, ...]:
    """A lever for each numeric constant of ``model``, in the model's order.

    Parameters
    ----------
    elements:
        Give a subscripted constant one lever per element (`element_levers`), rather
        than one lever for all its elements when they share a value (and none when
        they do not).
    ranged_only:
        Keep only constants whose modeller gave both a minimum and a maximum: in a
        documented model those are the ones meant to be moved.
    exclude:
        Names to leave out (shocks shown elsewhere, for instance). The control
        variables (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) are always left out.
    """
    skipped = {model[name].key for name in exclude if name in model}
    levers: list[Lever] = []
    for variable in model.constants:
        if variable.key in CONTROL_VARIABLES or variable.key in skipped:
            continue
        if ranged_only and (variable.range.minimum is None or variable.range.maximum is None):
            continue
        if elements and variable.dims:
            levers.extend(element_levers(model, variable))
            continue
        if not isinstance(variable.equation, Number):
            continue
        levers.append(lever_of(variable))
    return tuple(levers)


def element_levers(model: Model, variable: Variable) -> tuple[Lever, ...]:
    """One lever per element of a subscripted constant, named as its run column;
    none when its elements are not plain numbers."""
    from ..arrays import Space, constant_value

    space = Space(model)
    try:
        values = constant_value(space, variable)[..., 0].ravel()
    except NestedSystemsError:
        return ()
    return tuple(
        lever_of(variable, name=column, value=float(value))
        for column, value in zip(space.columns(variable), values, strict=True)
    )


def array_params(model: Model, values: Mapping[str, Any]) -> dict[str, Any]:
    """Lever values as `simulate` takes them: each element's value
    (``birth rate[north]``) set in its variable's array, the others unchanged."""
    from ..arrays import Space, constant_value

    space = Space(model)
    params: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in values.items():
        owner = model.get(name[: name.index("[")]) if "[" in name and name not in model else None
        if owner is None or not owner.dims:
            params[name] = value
            continue
        if owner.name not in arrays:
            arrays[owner.name] = constant_value(space, owner)[..., 0].copy()
        columns = [canonical(column) for column in space.columns(owner)]
        arrays[owner.name].flat[columns.index(canonical(name))] = value
    return {**params, **arrays}


def group_levers(levers: Iterable[Lever], *, default_group: str = "Other") -> dict[str, list[Lever]]:
    """Levers by sector, sectors in order of first appearance."""
    groups: dict[str, list[Lever]] = {}
    for lever in levers:
        groups.setdefault(lever.group or default_group, []).append(lever)
    return groups


def read_lever_arguments(
    levers: Iterable[Lever], arguments: Mapping[str, object]
) -> tuple[dict[str, float], list[str]]:
    """Lever values given in a page's URL, and a plain message for each one refused.

    ``?Staffing ratio=1.2`` sets the lever of that name (case and spacing as Vensim
    compares names). Arguments naming no lever are ignored: the page has its own
    (``scenario``, Bokeh's ``bokeh-session-id``).

    Parameters
    ----------
    arguments:
        Name → value, or name → list of values (Tornado gives lists of bytes); the
        last value wins, as in a query string typed twice.

    Returns
    -------
    values, messages:
        The accepted values by lever name, and one sentence per refused value.
    """
    from ..expressions import canonical

    by_key = {canonical(lever.name): lever for lever in levers}
    values: dict[str, float] = {}
    messages: list[str] = []
    for key, raw in arguments.items():
        lever = by_key.get(canonical(key))
        if lever is None:
            continue
        if isinstance(raw, list | tuple):
            if not raw:
                continue
            raw = raw[-1]
        try:
            values[lever.name] = lever.check(raw)
        except ParameterError as error:
            messages.append(f"{error} Kept {_plain(lever.default)}.")
    return values, messages
