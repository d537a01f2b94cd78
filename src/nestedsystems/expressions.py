"""Equation trees of the intermediate representation.

An equation is a tree of small frozen nodes. Names in `Ref` are canonical keys
(`canonical`), so that Vensim's rule "case, spaces and underscores do not matter"
is applied once, here, and never again.

Function names in `Call` come from one closed vocabulary, `FUNCTIONS`: the Vensim
functions the compiler knows. Stateful functions (SMOOTH, DELAY, ...) are in the
vocabulary only until `lowering.lower` replaces them by stocks and memories.

Subscripts (arrays) add three things, all with defaults that leave a scalar model's
trees unchanged:

- ``Ref.subscripts``: canonical names of dimensions, subranges or elements, one per
  dimension of the referenced variable; a trailing ``!`` marks the dimension a vector
  function (SUM, PROD, VMIN, VMAX) reduces.
- `Numbers`: an array of numbers, row-major, as Vensim lists them (``1, 2, 3`` or a
  tabbed 2-D table); its dimensions are those of the definition holding it.
- `Position`: a subscript range read as a number, ``x[d] = d``: the element's
  position (from 1) in the largest range that holds it.
- `Defined`: a variable defined piece by piece, ``x[a1] = ...; x[sub] = ...``, or with
  EXCEPT: each part is a `Selector` (which elements) and the expression for them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "FUNCTIONS",
    "STATEFUL_FUNCTIONS",
    "Binary",
    "Call",
    "Defined",
    "Expr",
    "If",
    "LookupCall",
    "LookupMode",
    "Number",
    "Numbers",
    "Op",
    "Position",
    "Ref",
    "Selector",
    "Table",
    "Unary",
    "UnaryOp",
    "canonical",
    "rebuild",
    "references",
    "rename",
    "walk",
]

_SEPARATORS = re.compile(r"[\s_]+")


def canonical(name: str) -> str:
    """The key under which Vensim considers two names equal.

    Vensim ignores case and treats runs of spaces and underscores alike;
    surrounding quotes are part of a quoted name's spelling, not of its identity.
    """
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return _SEPARATORS.sub(" ", name.lower()).strip()


class Op(enum.Enum):
    """Binary operators, spelled as in Vensim."""

    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    POW = "^"
    EQ = "="
    NE = "<>"
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    AND = ":AND:"
    OR = ":OR:"


class UnaryOp(enum.Enum):
    NEG = "-"
    NOT = ":NOT:"


class LookupMode(enum.Enum):
    """How a graphical function is read between and beyond its points."""

    INTERPOLATE = "interpolate"  # linear inside, held constant outside (Vensim's default)
    EXTRAPOLATE = "extrapolate"  # linear inside and outside
    FORWARD = "forward"  # step: the value of the next point
    BACKWARD = "backward"  # step: the value of the previous point (hold backward)
    INVERT = "invert"  # x for a given y


# name -> (min args, max args). Arity is checked when a Call is made, so that a
# malformed equation is refused at load rather than deep inside a run.
FUNCTIONS: dict[str, tuple[int, int]] = {
    "abs": (1, 1),
    "exp": (1, 1),
    "ln": (1, 1),
    "log": (2, 2),
    "sqrt": (1, 1),
    "power": (2, 2),
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "arcsin": (1, 1),
    "arccos": (1, 1),
    "arctan": (1, 1),
    "sinh": (1, 1),
    "cosh": (1, 1),
    "tanh": (1, 1),
    "min": (2, 2),
    "max": (2, 2),
    "integer": (1, 1),
    "modulo": (2, 2),
    "quantum": (2, 2),
    "xidz": (3, 3),
    "zidz": (2, 2),
    "step": (2, 2),
    "ramp": (2, 3),
    "pulse": (2, 2),
    "pulse train": (4, 4),
    "pi": (0, 0),
    # vector functions: reduce the dimensions marked with ``!`` in their argument
    "sum": (1, 1),
    "prod": (1, 1),
    "vmin": (1, 1),
    "vmax": (1, 1),
    "vector select": (5, 5),
    "vector elm map": (2, 2),
    "invert matrix": (2, 2),
    "gamma ln": (1, 1),
    # RANDOM: Vensim's arguments, then the noise seed, call site and time (see `noise`)
    "random 0 1": (0, 3),
    "random uniform": (3, 6),
    "random normal": (5, 8),
    "random exponential": (5, 8),
    "random poisson": (6, 9),
    # along the last subscript of the argument (the equation's, for ALLOCATE)
    "vector sort order": (2, 2),
    "vector rank": (2, 2),
    "vector reorder": (2, 2),
    "allocate by priority": (5, 5),
    "allocate available": (3, 3),
    "demand at price": (3, 3),
    "supply at price": (3, 3),
    # along the last subscript of the quantities, which the result does not have
    "find market price": (4, 4),
    # stateful: lowered to stocks and memories before compiling
    "initial": (1, 1),
    "active initial": (2, 2),
    "smooth": (3, 3),
    "smooth3": (3, 3),
    "smooth n": (4, 4),
    "delay1": (3, 3),
    "delay3": (3, 3),
    "delay n": (4, 4),
    "delay fixed": (3, 3),
    "trend": (3, 3),
    "forecast": (4, 4),
    "sample if true": (3, 3),
    "npv": (4, 4),
    "npve": (4, 4),
    "depreciate straightline": (4, 4),
    "delay conveyor": (6, 6),
    # algebra over a lookup's points: written out by lowering, too
    "lookup area": (3, 3),
}

STATEFUL_FUNCTIONS = frozenset(
    {
        "initial",
        "active initial",
        "smooth",
        "smooth3",
        "smooth n",
        "delay1",
        "delay3",
        "delay n",
        "delay fixed",
        "trend",
        "forecast",
        "sample if true",
        "npv",
        "npve",
        "depreciate straightline",
        "delay conveyor",
    }
)


@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class Numbers:
    """Numbers given as a list or table (``x[d] = 1, 2, 3``), row-major in ``shape``."""

    values: tuple[float, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a variable (by canonical key) or to ``time``.

    ``subscripts`` (canonical; ``!`` suffixed for a vector function's dimension)
    say which elements of an arrayed variable are read; empty reads the variable
    over its own dimensions.
    """

    name: str
    subscripts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: Op
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class If:
    """IF THEN ELSE. Both branches are evaluated, as in Vensim."""

    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        arity = FUNCTIONS.get(self.function)
        if arity is None:
            raise ValueError(f"unknown function {self.function!r}")
        if not arity[0] <= len(self.args) <= arity[1]:
            raise ValueError(
                f"{self.function.upper()} takes {arity[0]}"
                + (f" to {arity[1]}" if arity[1] != arity[0] else "")
                + f" arguments, found {len(self.args)}"
            )


@dataclass(frozen=True, slots=True)
class Table:
    """A graphical function: strictly the points, sorted by x."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    mode: LookupMode = LookupMode.INTERPOLATE

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError(f"a lookup needs as many x as y values, found {len(self.x)} and {len(self.y)}")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("a lookup's x values must be in increasing order")


@dataclass(frozen=True, slots=True)
class LookupCall:
    """Read a graphical function: a lookup variable (`Ref`) or an inline `Table`.

    ``mode`` None reads the table the way it was defined; LOOKUP EXTRAPOLATE,
    FORWARD, BACKWARD and INVERT set it.
    """

    table: Ref | Table
    argument: Expr
    mode: LookupMode | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """A subscript range read as a number (``x[d] = d``): the position, from 1, of the
    element being computed in the largest range holding it."""

    dimension: str


@dataclass(frozen=True, slots=True)
class Selector:
    """Which elements one part of a definition covers: one subscript per dimension
    of the variable (a dimension, a subrange or an element), minus those EXCEPT names
    (each a tuple with one subscript per dimension)."""

    subscripts: tuple[str, ...]
    excepted: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Defined:
    """An arrayed variable defined in parts; parts never overlap (Vensim refuses that).
    A lookup defined element by element has a `Table` for each part."""

    parts: tuple[tuple[Selector, Expr | Table], ...]


Expr = Number | Numbers | Ref | Unary | Binary | If | Call | LookupCall | Defined | Position


def rebuild(expr: Expr, visit: Callable[[Expr], Expr | None]) -> Expr:
    """`expr` with `visit(node)` standing in for each node it answers (not None);
    the others keep their shape, their children rebuilt. Literal tables are data and
    are not visited (a lookup read through a name is: its `Ref`)."""

    def walk(e: Expr) -> Expr:
        instead = visit(e)
        if instead is not None:
            return instead
        if isinstance(e, Unary):
            return Unary(e.op, walk(e.operand))
        if isinstance(e, Binary):
            return Binary(e.op, walk(e.left), walk(e.right))
        if isinstance(e, If):
            return If(walk(e.condition), walk(e.then), walk(e.otherwise))
        if isinstance(e, Call):
            return Call(e.function, tuple(walk(a) for a in e.args))
        if isinstance(e, LookupCall):
            table = walk(e.table) if isinstance(e.table, Ref) else e.table
            return LookupCall(table, walk(e.argument), e.mode)  # type: ignore[arg-type]
        if isinstance(e, Defined):
            return Defined(tuple((s, p if isinstance(p, Table) else walk(p)) for s, p in e.parts))
        return e

    return walk(expr)


def rename(expr: Expr, names: Mapping[str, str]) -> Expr:
    """`expr` with each reference to a key of `names` made to its value instead."""

    def visit(e: Expr) -> Expr | None:
        return Ref(names.get(e.name, e.name), e.subscripts) if isinstance(e, Ref) else None

    return rebuild(expr, visit)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of `expr`, parents before children."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))
        elif isinstance(node, If):
            stack.extend((node.otherwise, node.then, node.condition))
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, LookupCall):
            stack.append(node.argument)
            if isinstance(node.table, Ref):
                stack.append(node.table)
        elif isinstance(node, Defined):
            stack.extend(reversed([e for _, e in node.parts if not isinstance(e, Table)]))


def references(expr: Expr | Table | None) -> frozenset[str]:
    """The canonical names `expr` reads (``time`` included when it reads TIME)."""
    if expr is None or isinstance(expr, Table):
        return frozenset()
    return frozenset(node.name for node in walk(expr) if isinstance(node, Ref))
