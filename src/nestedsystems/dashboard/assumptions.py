"""What a model's uncertain assumptions are, and how far each may be off.

From, in order:

1. a file beside the model, ``<model stem>.uncertainty.toml``, that a modeler edits: a
   ``[spans]`` table of ``"Constant" = [low, high]``, the ensemble's ``members`` and
   ``seed``, and the ``[outlook]`` the "how sure is this?" sentence reads (see
   ``models/nested_systems.uncertainty.toml``);
2. failing that, every constant whose documentation says "(assumption)" and that is
   not a lever, each within ±20% of its value.

`uncertainty` runs the ensembles over them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ModelFileError

__all__ = [
    "DEFAULT_MEMBERS",
    "DEFAULT_SPREAD",
    "Assumptions",
    "Outlook",
    "assumptions_for",
    "documented_assumptions",
    "load_assumptions",
]

DEFAULT_SPREAD = 0.2
DEFAULT_MEMBERS = 300
_ASSUMPTION = re.compile(r"\(assumption\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outlook:
    """What "how sure is this?" reads: one variable at one (model) time.

    ``better`` is ``"lower"`` or ``"higher"`` (which way a scenario beats the
    baseline), or ``""`` when neither is better and no comparison is made.
    """

    variable: str
    phrase: str
    format: str = "{:.3g}"
    time: float | None = None
    better: str = ""


@dataclass(frozen=True, slots=True)
class Assumptions:
    """The uncertain constants of a model and the ensemble drawn over them.

    Attributes
    ----------
    spans:
        ``(constant, low, high)``, each drawn uniformly.
    members, seed:
        Ensemble size and the seed of its Latin hypercube (the same draws every time).
    source:
        Where they came from, in words for the page.
    outlook:
        What the sentence reads, or None (then the first banded indicator).
    """

    spans: tuple[tuple[str, float, float], ...]
    members: int = DEFAULT_MEMBERS
    seed: int = 0
    source: str = ""
    outlook: Outlook | None = None

    def samples(self) -> pd.DataFrame:
        """The members: one row each, one column per uncertain constant."""
        from ..sampling import Uniform, sample

        return sample(
            {name: Uniform(low, high) for name, low, high in self.spans}, self.members, seed=self.seed
        )


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def load_assumptions(path: str | Path, model: Any, *, levers: Sequence[str] = ()) -> Assumptions:
    """Read an uncertainty file (see the module docstring) and check it against ``model``.

    Raises
    ------
    ModelFileError
        Naming the file, line and constant: bad TOML, a name the model lacks or that is
        not a constant, a lever, a span that is not ``[low, high]`` with low < high or
        that leaves out the model's own value, a bad ``members``, ``seed`` or outlook.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib says where only in its message: "Invalid value (at line 2, column 18)"
        where = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = int(where.group(1)) if where else None
        found = str(error).replace(where.group(0), "").strip() if where else str(error)
        raise ModelFileError(f"expected TOML, found {found}", file=path, line=line) from None

    def fail(message: str, needle: str, variable: str | None = None) -> ModelFileError:
        return ModelFileError(message, file=path, line=_line_of(text, needle), variable=variable)

    from ..model import Kind

    spans = data.get("spans")
    if not isinstance(spans, dict) or not spans:
        raise fail('expected a [spans] table of "Constant" = [low, high], found none', "[spans]")
    lever_keys = {model[name].key for name in levers if name in model}
    checked = []
    for name, span in spans.items():
        needle = f'"{name}"'
        variable = model.get(name)
        if variable is None or variable.kind is not Kind.CONSTANT:
            found = "no such variable" if variable is None else f"a {variable.kind.value}"
            raise fail(f"expected a constant of {model.name}, found {found}", needle, name)
        if variable.key in lever_keys:
            raise fail("expected an uncertain assumption, found a lever (a board's choice)", needle, name)
        if (
            not isinstance(span, list)
            or len(span) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in span)
        ):
            raise fail(f"expected [low, high], found {span!r}", needle, name)
        low, high = float(span[0]), float(span[1])
        value = float(variable.equation.value)
        if not low < high:
            raise fail(f"expected low < high, found [{low:g}, {high:g}]", needle, name)
        if not low <= value <= high:
            raise fail(
                f"expected a span around the model's value {value:g}, found [{low:g}, {high:g}]", needle, name
            )
        checked.append((variable.name, low, high))
    members = data.get("members", DEFAULT_MEMBERS)
    if isinstance(members, bool) or not isinstance(members, int) or not 20 <= members <= 100_000:
        raise fail(f"members: expected a whole number from 20 to 100000, found {members!r}", "members")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail(f"seed: expected a whole number of at least 0, found {seed!r}", "seed")
    return Assumptions(
        tuple(checked), members, seed, source=path.name, outlook=_outlook(data.get("outlook"), model, fail)
    )


def _outlook(table: Any, model: Any, fail: Any) -> Outlook | None:
    if table is None:
        return None
    if not isinstance(table, dict) or not isinstance(table.get("variable"), str):
        raise fail("[outlook]: expected a table with a variable name, found none", "[outlook]")
    name = table["variable"]
    if name not in model:
        raise fail(f"[outlook]: expected a variable of {model.name}, found no such variable", name, name)
    better = table.get("better", "")
    if better not in ("", "lower", "higher"):
        raise fail(f"[outlook] better: expected 'lower' or 'higher', found {better!r}", "better")
    form = table.get("format", "{:.3g}")
    try:
        form.format(1.0)
    except (AttributeError, IndexError, KeyError, ValueError):
        example = "'{:.0f}%'"
        problem = f"[outlook] format: expected a Python format such as {example}, found {form!r}"
        raise fail(problem, "format") from None
    time = table.get("time")
    if time is not None and (isinstance(time, bool) or not isinstance(time, int | float)):
        raise fail(f"[outlook] time: expected a number (model time), found {time!r}", "time")
    return Outlook(model[name].name, str(table.get("phrase", name)), form, time, better)


def documented_assumptions(
    model: Any, *, levers: Sequence[str] = (), spread: float = DEFAULT_SPREAD
) -> Assumptions:
    """Every constant documented as an "(assumption)", not a lever and not zero, within
    ±``spread`` of its value."""
    skipped = {model[name].key for name in levers if name in model}
    spans = []
    for variable in model.constants:
        value = getattr(variable.equation, "value", None)
        if variable.key in skipped or not isinstance(value, int | float) or value == 0:
            continue
        if _ASSUMPTION.search(variable.documentation or ""):
            low, high = sorted((value * (1 - spread), value * (1 + spread)))
            spans.append((variable.name, low, high))
    return Assumptions(tuple(spans), source=f"the model's documented assumptions, ±{spread:.0%} each")


def assumptions_for(model_path: str | Path, model: Any, *, levers: Sequence[str] = ()) -> Assumptions | None:
    """The uncertainty file beside the model if there is one, else its documented
    assumptions; None when it has neither."""
    path = Path(model_path)
    beside = path.with_name(f"{path.stem}.uncertainty.toml")
    if beside.exists():
        return load_assumptions(beside, model, levers=levers)
    found = documented_assumptions(model, levers=levers)
    return found if found.spans else None
