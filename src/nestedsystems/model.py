"""The intermediate representation: a model is a frozen tuple of variables.

The IR holds no runtime objects, so it pickles (ensembles, dask) and hashes (caches).
Edits return new objects (`Model.replace`).

Kinds of variable, after lowering:

- `Kind.STOCK`: ``equation`` is the net flow, ``initial`` the initial value.
- `Kind.AUXILIARY`: ``equation`` computed every step. ``initial``, when set, is used
  instead during initialisation (Vensim's ACTIVE INITIAL).
- `Kind.CONSTANT`: ``equation`` is a `Number`; a parameter that runs may override.
- `Kind.LOOKUP`: ``equation`` is a `Table` (a graphical function).
- `Kind.MEMORY`: a discrete state. ``initial`` gives its value at the start and
  ``equation`` its value at the next time step, evaluated at this one. INITIAL,
  SAMPLE IF TRUE and DELAY FIXED lower to memories; integration methods never see them.

The control variables (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) are ordinary
variables under their Vensim names; they may be constant expressions.

Subscripts (arrays):

- `Model.dimensions` lists every subscript range as a `Dimension` (name and elements
  in order). A *subrange* is a dimension whose elements are all elements of another;
  nothing marks it but that. Vensim's copies (``B <-> A``) arrive as dimensions with
  A's elements, numeric ranges (``(a1-a10)``) with their elements spelled out.
  ``Dimension.mapping`` names the dimensions a ``->`` maps it onto, position by position.
- `Variable.dims` are the canonical names of the dimensions a variable spans (empty:
  a scalar). Its values are one per element, row-major over ``dims``.
- A variable defined in one piece over its dimensions has an ordinary equation, read
  element by element: ``y[a, b] = x[b, a]`` transposes, ``y[a, b] = x[a]`` repeats.
  A variable defined in pieces (``x[a1] = ...``, ``x[sub] = ...``, EXCEPT) has a
  `Defined` equation (and a `Defined` initial for a stock): each part a `Selector`
  and its expression, read over the selector's subscripts.
- An arrayed constant's equation is a `Number` (one value for every element), a
  `Numbers` (a list or table) or a `Defined` of those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .expressions import Expr, Table, canonical, references

__all__ = [
    "CONTROL_VARIABLES",
    "Dimension",
    "Kind",
    "Model",
    "NamedLoop",
    "Range",
    "RealityCheck",
    "Variable",
]

CONTROL_VARIABLES = ("initial time", "final time", "time step", "saveper")


class Kind(enum.Enum):
    STOCK = "stock"
    AUXILIARY = "auxiliary"
    CONSTANT = "constant"
    LOOKUP = "lookup"
    MEMORY = "memory"


@dataclass(frozen=True, slots=True)
class Range:
    """Vensim's ``[min, max, step]`` after the units: the bounds a slider may use."""

    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None


@dataclass(frozen=True, slots=True)
class Dimension:
    """A subscript range: its name and its elements, in order, as the file spells them.

    ``mapping`` names (canonically) the dimensions this one maps onto with ``->``:
    its i-th element stands for their i-th element.
    """

    name: str
    elements: tuple[str, ...]
    mapping: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def element_keys(self) -> tuple[str, ...]:
        return tuple(canonical(e) for e in self.elements)


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    kind: Kind
    equation: Expr | Table
    initial: Expr | None = None
    units: str = ""
    range: Range = Range()
    documentation: str = ""
    line: int | None = None
    non_negative: bool = False
    origin: str | None = None  # for variables made by lowering: the modeler's variable
    group: str = ""  # the sector or view the variable belongs to
    dims: tuple[str, ...] = ()  # canonical names of its dimensions; empty for a scalar
    # Set by lowering, for writers: ((equation, initial) as the modeler wrote them,
    # (equation, initial) lowering made of them). Trust the first pair only while the
    # variable still holds the second: an edit after loading makes it stale.
    # Not compared, so that a model equals its copy whatever it was lowered from.
    written: tuple[Any, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def as_written(self) -> tuple[Expr | Table, Expr | None]:
        """(equation, initial) as the modeler wrote them (a SMOOTH call, not the stock
        lowering made of it), while lowering's record of them is current."""
        if self.written is not None and self.written[1] == (self.equation, self.initial):
            equation, initial = self.written[0]
            return equation, initial
        return self.equation, self.initial

    @property
    def dependencies(self) -> frozenset[str]:
        """Names read by the equation used while the model runs."""
        return references(self.equation)

    @property
    def initial_dependencies(self) -> frozenset[str]:
        """Names read while the model is initialised."""
        if self.kind in (Kind.STOCK, Kind.MEMORY):
            return references(self.initial)
        if self.initial is not None:
            return references(self.initial)
        return references(self.equation)


@dataclass(frozen=True, slots=True)
class RealityCheck:
    """A Vensim Reality Check statement, kept with the model; `reality_checks` runs it.

    A constraint (``name :THE CONDITION: condition :IMPLIES: consequence``) says what
    must follow when its condition holds; a test input (``name :TEST INPUT: variable =
    expression``) is a change a constraint's condition may switch on. The parts are
    kept as the file's text and, where they parse, as equations (a test input's
    ``variable = expression`` as that equality; RC function calls as `MacroCall`
    nodes, which only `reality_checks` reads).
    """

    name: str
    test_input: bool  # True for :TEST INPUT:, False for a :THE CONDITION: constraint
    condition: str  # the constraint's condition, or the test input's ``variable = expression``
    consequence: str = ""  # what a constraint :IMPLIES:
    line: int | None = None
    condition_expr: Expr | None = None  # ``condition`` parsed, None if it does not parse
    consequence_expr: Expr | None = None  # ``consequence`` parsed
    documentation: str = ""  # the statement's comment


@dataclass(frozen=True, slots=True)
class NamedLoop:
    """A feedback loop the model's author named (R1, B2, ...)."""

    id: str
    name: str
    variables: tuple[str, ...] = ()  # the causal chain as written, when given
    description: str = ""


@dataclass(frozen=True, slots=True)
class Model:
    """A system-dynamics model: variables plus what the file said about itself."""

    variables: tuple[Variable, ...]
    name: str = "model"
    source: str | None = None  # the file it was loaded from
    time_units: str = ""
    loops: tuple[NamedLoop, ...] = ()
    dimensions: tuple[Dimension, ...] = ()
    checks: tuple[RealityCheck, ...] = ()  # Reality Check statements, kept as written
    # Units that mean the same (``("Client", "Clients")``): the Units Equivalents of a
    # .mdl's settings, besides Vensim's defaults; the Units Check reads them.
    units_equivalents: tuple[tuple[str, ...], ...] = ()
    _index: dict[str, Variable] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, Variable] = {}
        for variable in self.variables:
            if variable.key in index:
                raise ValueError(f"variable {variable.name!r} is defined twice")
            index[variable.key] = variable
        object.__setattr__(self, "_index", index)

    def __getstate__(self) -> dict[str, Any]:
        # Every field but the index, which `__setstate__` rebuilds (it is derived).
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()

    def __contains__(self, name: str) -> bool:
        return canonical(name) in self._index

    def __getitem__(self, name: str) -> Variable:
        try:
            return self._index[canonical(name)]
        except KeyError:
            raise KeyError(f"no variable named {name!r} in {self.name}") from None

    def dimension(self, name: str) -> Dimension | None:
        """The subscript range called `name` (any spelling Vensim accepts), or None."""
        key = canonical(name)
        return next((d for d in self.dimensions if d.key == key), None)

    def get(self, name: str) -> Variable | None:
        return self._index.get(canonical(name))

    def of_kind(self, *kinds: Kind) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.kind in kinds)

    @property
    def stocks(self) -> tuple[Variable, ...]:
        return self.of_kind(Kind.STOCK)

    @property
    def constants(self) -> tuple[Variable, ...]:
        return self.of_kind(Kind.CONSTANT)

    def replace(self, **changes: Any) -> Model:
        """A copy with fields changed (`dataclasses.replace`)."""
        return replace(self, **changes)

    def with_variables(self, *variables: Variable) -> Model:
        """A copy in which each given variable replaces the one of the same name,
        or is appended when new."""
        new = {v.key: v for v in variables}
        kept = tuple(new.pop(v.key, v) for v in self.variables)
        return replace(self, variables=kept + tuple(new.values()))
