"""Scenarios as data: lever settings plus time-shaped interventions.

A scenario file is TOML::

    name = "Funding cut with reserves"
    description = "A 20% rate cut at month 24, met with six months of reserves."

    [set]                       # constants, held for the whole run
    "Contract rate change" = -0.2
    "Reserve policy" = 6

    [[intervention]]            # a constant that changes during the run
    variable = "Acuity growth"
    kind = "step"               # step | ramp | pulse
    start = 12
    height = 0.02

A step adds ``height`` from ``start`` on; a ramp climbs by ``height`` (or at
``slope`` per time unit) from ``start`` to ``end``; a pulse adds ``height`` for
``duration`` time units from ``start``.

`apply_scenario` is a pure function: it returns a new `Model` in which each set
constant holds its new value and each intervened constant has become an auxiliary
``base + height * STEP/RAMP/PULSE(...)`` built from IR nodes, so the engine runs it
like any other equation and nothing is ever evaluated from text. The model passed
in is not changed.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ParameterError
from .expressions import Binary, Call, Expr, Number, Op
from .model import Kind, Model, Variable

__all__ = [
    "Intervention",
    "InterventionKind",
    "Scenario",
    "apply_scenario",
    "load_scenario",
    "scenario_from_mapping",
]


class InterventionKind(enum.Enum):
    """The shape of a change in time."""

    STEP = "step"
    RAMP = "ramp"
    PULSE = "pulse"


@dataclass(frozen=True, slots=True)
class Intervention:
    """A change to one constant during a run.

    Parameters
    ----------
    variable:
        The constant it changes, as the model spells it.
    kind:
        Step, ramp or pulse.
    start:
        When the change begins, in the model's time unit.
    height:
        How much the constant changes (for a ramp: in total, from `start` to `end`).
    duration:
        How long a pulse lasts. Only for pulses.
    end:
        When a ramp stops climbing. Only for ramps.
    """

    variable: str
    kind: InterventionKind
    start: float
    height: float
    duration: float | None = None
    end: float | None = None

    def expression(self) -> Expr:
        """``height * STEP/RAMP/PULSE(...)`` as an IR expression (without the base)."""
        if self.kind is InterventionKind.STEP:
            return Call("step", (Number(self.height), Number(self.start)))
        if self.kind is InterventionKind.RAMP:
            assert self.end is not None
            slope = self.height / (self.end - self.start)
            return Call("ramp", (Number(slope), Number(self.start), Number(self.end)))
        assert self.duration is not None
        return Binary(Op.MUL, Number(self.height), Call("pulse", (Number(self.start), Number(self.duration))))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of lever settings and interventions.

    Parameters
    ----------
    name, description:
        What a reader sees in a list of scenarios and in reports.
    settings:
        ``(constant, value)`` pairs, in file order.
    interventions:
        Time-shaped changes, in file order.
    source:
        The file it was read from, for messages.
    """

    name: str
    description: str = ""
    settings: tuple[tuple[str, float], ...] = ()
    interventions: tuple[Intervention, ...] = ()
    source: str | None = None


_TOP_KEYS = frozenset({"name", "description", "set", "intervention"})
_INTERVENTION_KEYS = frozenset({"variable", "kind", "start", "height", "slope", "duration", "end"})


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (TOML, format in the module docstring).

    Raises
    ------
    ParameterError
        The file is missing or is not valid TOML, or a key is unknown, missing or
        of the wrong type; the message names the file and the key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ParameterError(f"{path}: cannot read the scenario file ({error.strerror or error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(
            f"{path}: expected a TOML scenario file, found a syntax error ({error})"
        ) from None
    return scenario_from_mapping(data, source=str(path), default_name=path.stem)


def scenario_from_mapping(
    data: Mapping[str, Any], *, source: str | None = None, default_name: str = "scenario"
) -> Scenario:
    """Build a `Scenario` from parsed TOML (or any mapping of the same shape)."""
    where = source or "scenario"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ParameterError(
            f"{where}: unknown key {unknown[0]!r}; "
            "expected only name, description, [set] and [[intervention]]"
        )
    name = _text(data, "name", where, default_name)
    description = _text(data, "description", where, "")

    settings_table = data.get("set", {})
    if not isinstance(settings_table, Mapping):
        raise ParameterError(
            f"{where}: key 'set' must be a table of constant = number, found {settings_table!r}"
        )
    settings = tuple((str(key), _number(value, where, f"set.{key}")) for key, value in settings_table.items())

    entries = data.get("intervention", [])
    if not isinstance(entries, list):
        raise ParameterError(f"{where}: key 'intervention' must be an array of tables ([[intervention]])")
    interventions = tuple(_intervention(entry, where, i) for i, entry in enumerate(entries, start=1))
    return Scenario(name, description, settings, interventions, source)


def apply_scenario(model: Model, scenario: Scenario) -> Model:
    """A copy of `model` with the scenario's settings and interventions applied.

    Parameters
    ----------
    model:
        The model; it is not changed.
    scenario:
        What to set and what to change during the run.

    Returns
    -------
    Model
        Set constants hold their new value; intervened constants become auxiliaries
        ``base + sum of interventions``, where base is the set value if any, else the
        model's own.

    Raises
    ------
    ParameterError
        A name the model does not define or that is not a constant, or a value that
        leaves the lever's range ``[min, max]`` at any time of the run.
    """
    where = scenario.source or f"scenario {scenario.name!r}"
    changed: dict[str, Variable] = {}
    for name, value in scenario.settings:
        variable = _constant(model, name, where, f"set.{name}")
        _check_range(variable, value, value, where, f"set.{name}")
        changed[variable.key] = replace(variable, equation=Number(float(value)))

    by_variable: dict[str, list[Intervention]] = {}
    for i, intervention in enumerate(scenario.interventions, start=1):
        variable = _constant(model, intervention.variable, where, f"intervention[{i}].variable")
        by_variable.setdefault(variable.key, []).append(intervention)

    for key, interventions in by_variable.items():
        variable = changed.get(key) or model[key]
        assert isinstance(variable.equation, Number)
        base = variable.equation.value
        # A step or ramp holds its height from then on; a pulse returns. The extremes
        # over the run are therefore bounded by the base plus all rises (or all falls).
        low = base + sum(min(0.0, x.height) for x in interventions)
        high = base + sum(max(0.0, x.height) for x in interventions)
        _check_range(variable, low, high, where, f"intervention on {variable.name!r}")
        equation: Expr = Number(base)
        for intervention in interventions:
            equation = Binary(Op.ADD, equation, intervention.expression())
        changed[key] = replace(variable, kind=Kind.AUXILIARY, equation=equation, initial=None)

    return model.with_variables(*changed.values())


# ---------------------------------------------------------------- validation helpers


def _text(data: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ParameterError(f"{where}: key {key!r} must be a string, found {value!r}")
    return value


def _number(value: Any, where: str, key: str) -> float:
    # bool is an int in Python; a scenario saying `true` for a number is a mistake
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"{where}: key {key!r} must be a finite number, found {value!r}")
    return float(value)


def _intervention(entry: Any, where: str, index: int) -> Intervention:
    key = f"intervention[{index}]"
    if not isinstance(entry, Mapping):
        raise ParameterError(f"{where}: {key} must be a table, found {entry!r}")
    unknown = sorted(set(entry) - _INTERVENTION_KEYS)
    if unknown:
        raise ParameterError(
            f"{where}: unknown key '{key}.{unknown[0]}'; expected variable, kind, start, height, "
            "and duration (pulse) or end (ramp)"
        )
    for required in ("variable", "kind", "start"):
        if required not in entry:
            raise ParameterError(f"{where}: key '{key}.{required}' is missing")
    variable = entry["variable"]
    if not isinstance(variable, str) or not variable.strip():
        raise ParameterError(f"{where}: key '{key}.variable' must name a constant, found {variable!r}")
    try:
        kind = InterventionKind(entry["kind"])
    except ValueError:
        raise ParameterError(
            f"{where}: key '{key}.kind' must be one of step, ramp, pulse; found {entry['kind']!r}"
        ) from None
    start = _number(entry["start"], where, f"{key}.start")

    def forbid(*names: str) -> None:
        for name in names:
            if name in entry:
                raise ParameterError(f"{where}: key '{key}.{name}' does not apply to a {kind.value}")

    def need(name: str) -> float:
        if name not in entry:
            raise ParameterError(f"{where}: key '{key}.{name}' is missing (a {kind.value} needs it)")
        return _number(entry[name], where, f"{key}.{name}")

    if kind is InterventionKind.STEP:
        forbid("duration", "end", "slope")
        return Intervention(variable, kind, start, need("height"))
    if kind is InterventionKind.PULSE:
        forbid("end", "slope")
        duration = need("duration")
        if duration <= 0:
            raise ParameterError(f"{where}: key '{key}.duration' must be positive, found {duration}")
        return Intervention(variable, kind, start, need("height"), duration=duration)
    forbid("duration")
    end = need("end")
    if end <= start:
        raise ParameterError(f"{where}: key '{key}.end' must come after start ({start}), found {end}")
    if ("height" in entry) == ("slope" in entry):
        raise ParameterError(f"{where}: {key} (a ramp) needs exactly one of 'height' and 'slope'")
    height = need("height") if "height" in entry else need("slope") * (end - start)
    return Intervention(variable, kind, start, height, end=end)


def _constant(model: Model, name: str, where: str, key: str) -> Variable:
    variable = model.get(name)
    if variable is None:
        raise ParameterError(f"{where}: key {key!r}: the model {model.name!r} defines no variable {name!r}")
    if variable.kind is not Kind.CONSTANT or not isinstance(variable.equation, Number):
        raise ParameterError(
            f"{where}: key {key!r}: expected a constant, found {variable.name!r} which is "
            f"{'an' if variable.kind is Kind.AUXILIARY else 'a'} {variable.kind.value}"
        )
    return variable


def _check_range(variable: Variable, low: float, high: float, where: str, key: str) -> None:
    minimum, maximum = variable.range.minimum, variable.range.maximum
    if minimum is not None and low < minimum - 1e-12:
        raise ParameterError(
            f"{where}: key {key!r}: {variable.name!r} must stay within [{minimum}, {maximum}], found {low:g}"
        )
    if maximum is not None and high > maximum + 1e-12:
        raise ParameterError(
            f"{where}: key {key!r}: {variable.name!r} must stay within [{minimum}, {maximum}], found {high:g}"
        )
