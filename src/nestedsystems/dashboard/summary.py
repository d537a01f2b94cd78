"""The plain-language comparison of a scenario with the baseline.

A board member should not have to read a chart to learn what a lever did. The summary
is a sentence of clauses, each made by one `Statement` from the two runs at one moment
("By year 5"):

- `Level`: "turnover is 18% instead of 41%";
- `Change`: "restraint falls by two thirds", in the fractions people say aloud;
- `Dip`: "reserves dip below one month in year 2" (with the baseline's year when it
  dips too).

A clause is left out when the scenario and the baseline agree within a tolerance, so
the summary speaks only of what the levers changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .figures import Readable, TimeAxis

__all__ = ["Change", "Dip", "Level", "Statement", "fraction_words", "summarize"]

# Fractions people say aloud, for "falls by ..." and "rises by ...".
_FALLS = (
    (0.25, "a quarter"),
    (1 / 3, "a third"),
    (0.5, "half"),
    (2 / 3, "two thirds"),
    (0.75, "three quarters"),
)
_RISES = (*_FALLS[:3], (2 / 3, "two thirds"), (1.0, "double"))
_MULTIPLES = ((3.0, "triples"), (4.0, "quadruples"))


def fraction_words(ratio: float) -> str:
    """How a value that became ``ratio`` times its old self changed, in words.

    >>> fraction_words(1 / 3)
    'falls by two thirds'
    >>> fraction_words(1.52)
    'rises by half'
    >>> fraction_words(0.9)
    'falls by 10%'
    """
    if not math.isfinite(ratio):
        return "changes beyond measure"
    if abs(ratio - 1.0) < 0.05:
        return "stays about the same"
    if ratio < 1.0:
        fall = 1.0 - ratio
        if fall > 0.97:
            return "all but disappears"
        for value, words in _FALLS:
            if abs(fall - value) <= 0.03:
                return f"falls by {words}"
        return f"falls by {fall:.0%}"
    for value, words in _MULTIPLES:
        if abs(ratio - value) <= 0.1 * value:
            return words
    rise = ratio - 1.0
    for value, words in _RISES:
        if abs(rise - value) <= 0.03 * max(1.0, value):
            return "doubles" if words == "double" else f"rises by {words}"
    if rise > 1.0:
        return f"rises {ratio:.1f}-fold"
    return f"rises by {rise:.0%}"


def _at(run: Readable, variable: str, time: float) -> float:
    times = np.asarray(run.times, dtype=float)
    return float(np.interp(time, times, np.asarray(run[variable], dtype=float)))


class Statement:
    """One clause of the summary, or ``None`` when the runs agree on it."""

    variable: str

    def clause(self, scenario: Readable, baseline: Readable, time: float, axis: TimeAxis) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Level(Statement):
    """ "<phrase> is <value> instead of <baseline value>"."""

    variable: str
    phrase: str
    format: str = "{:.3g}"
    tolerance: float = 0.02

    def clause(self, scenario: Readable, baseline: Readable, time: float, axis: TimeAxis) -> str | None:
        now, then = _at(scenario, self.variable, time), _at(baseline, self.variable, time)
        if abs(now - then) <= self.tolerance * max(abs(then), 1e-12):
            return None
        return f"{self.phrase} is {self.format.format(now)} instead of {self.format.format(then)}"


@dataclass(frozen=True, slots=True)
class Change(Statement):
    """ "<phrase> falls by two thirds" (scenario relative to baseline)."""

    variable: str
    phrase: str

    def clause(self, scenario: Readable, baseline: Readable, time: float, axis: TimeAxis) -> str | None:
        now, then = _at(scenario, self.variable, time), _at(baseline, self.variable, time)
        if then == 0.0:
            if now == 0.0:
                return None
            return f"{self.phrase} rises from none to {now:.3g}"
        words = fraction_words(now / then)
        if words == "stays about the same":
            return None
        return f"{self.phrase} {words}"


@dataclass(frozen=True, slots=True)
class Dip(Statement):
    """ "<phrase> <threshold words> in year 2": the first time a value falls below a
    threshold, anywhere in the run."""

    variable: str
    phrase: str
    threshold: float

    def clause(self, scenario: Readable, baseline: Readable, time: float, axis: TimeAxis) -> str | None:
        now, then = (
            _first_below(scenario, self.variable, self.threshold),
            _first_below(baseline, self.variable, self.threshold),
        )
        if now is None and then is None:
            return None
        if now is None:
            return f"{self.phrase} no longer {_dip_verb(self.phrase)} (baseline: {_when(then, axis)})"
        if then is None:
            return f"{self.phrase} {_when(now, axis)}"
        if _when(now, axis) == _when(then, axis):
            return None
        return f"{self.phrase} {_when(now, axis)} (baseline: {_when(then, axis)})"


def _dip_verb(phrase: str) -> str:
    # "reserves dip below one month" -> "no longer dip below one month"
    words = phrase.split()
    return " ".join(words[1:]) if len(words) > 1 else "dips"


def _first_below(run: Readable, variable: str, threshold: float) -> float | None:
    values = np.asarray(run[variable], dtype=float)
    below = np.flatnonzero(values < threshold)
    if below.size == 0:
        return None
    return float(np.asarray(run.times, dtype=float)[below[0]])


def _when(time: float | None, axis: TimeAxis) -> str:
    if time is None:
        return "never"
    if axis.label == "Year":
        # "in year 2" counts as people do: months 0-11 are year 1.
        return f"in year {math.floor(time * axis.factor) + 1}"
    return f"at {axis.label.lower()} {time * axis.factor:g}"


def summary_time(run: Readable, axis: TimeAxis, *, years: float = 5.0) -> float:
    """When the summary reads the runs: year 5 where the run is that long, else its end
    (in model time units)."""
    times = np.asarray(run.times, dtype=float)
    if axis.label == "Year":
        wanted = years / axis.factor
        if times[0] <= wanted <= times[-1]:
            return wanted
    return float(times[-1])


def summarize(
    scenario: Readable,
    baseline: Readable,
    statements: Sequence[Statement],
    axis: TimeAxis,
    *,
    years: float = 5.0,
) -> str:
    """One sentence comparing the scenario with the baseline.

    Parameters
    ----------
    scenario, baseline:
        Runs of the same model (``times`` and ``run[name]``).
    statements:
        The clauses to try, in order; those on variables the runs lack are skipped.
    axis:
        How model time reads (months become years).
    years:
        When to read levels and changes, where the run is that long.
    """
    time = summary_time(baseline, axis, years=years)
    names = set(getattr(scenario, "names", ())) & set(getattr(baseline, "names", ()))
    clauses = []
    for statement in statements:
        if names and statement.variable not in names:
            continue
        clause = statement.clause(scenario, baseline, time, axis)
        if clause:
            clauses.append(clause)
    if not clauses:
        return "These levers give the same results as the baseline: move a lever to see what changes."
    if axis.label == "Year" and time != float(np.asarray(baseline.times)[-1]):
        when = f"By year {time * axis.factor:g}"
    else:
        when = "By the end of the run"
    text = f"{when} " + "; ".join(clauses) + "."
    return text[0].upper() + text[1:]
