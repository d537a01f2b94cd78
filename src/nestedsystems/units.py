"""Units Check: every equation's units agree with the units its variable declares.

Units are read by `unit_text` (Vensim's spelling, its default units equivalents and
the file's own). The rules are Vensim's (its Units Check and its documentation):

- ``+``, ``-``, comparisons, MIN, MAX and the branches of IF THEN ELSE need like
  units; ``*`` and ``/`` combine them; ``^`` takes a numeric power.
- A number written in an equation is dimensionless in a product and takes whatever
  units it must beside a sum or a comparison: ``1 - x`` is fine whatever ``x`` is,
  while ``x / 12`` is not a conversion from months to years (that needs a named
  constant with units ``Month/Year``).
- A stock's net flow is in the stock's units per time unit (TIME STEP's units).
- A lookup returns its own units and wants a dimensionless input (Vensim warns
  otherwise), or the time unit, for lookups of time (data, schedules).
- The equations checked are those the modeler wrote (`Variable.written`), SMOOTH and
  DELAY included, not the stocks lowering made of them; variables made by lowering
  or macros are not reported on, but their units are inferred where something reads
  them. A modeler's variable without units is not guessed at: what reads it is
  "not checked", as is a variable calling a function without a rule here; both are
  counted and named in `UnitsCheck.not_checked`, never passed as consistent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from .expressions import (
    Binary,
    Call,
    Defined,
    Expr,
    If,
    LookupCall,
    Number,
    Numbers,
    Op,
    Position,
    Ref,
    Table,
    Unary,
    UnaryOp,
)
from .model import Kind, Model, Variable
from .unit_text import (
    DMNL,
    VENSIM_EQUIVALENTS,
    Units,
    UnitsSyntaxError,
    parse_units,
    synonyms,
)

__all__ = ["UnitIssue", "UnitsCheck", "check_units", "units_check"]


@dataclass(frozen=True, slots=True)
class UnitIssue:
    """One disagreement, where it is and what was expected and found."""

    variable: str
    line: int | None
    file: str | None
    expected: str
    found: str
    message: str  # the whole line: where, which variable, what
    detail: str = ""  # the message without where it is

    @property
    def location(self) -> str:
        """``file:line``, as compilers print it (the model's name when it has no file)."""
        return f"{self.file or 'model'}" + (f":{self.line}" if self.line is not None else "")


@dataclass(frozen=True, slots=True)
class UnitsCheck:
    """What a Units Check saw: the issues, how many variables were checked, and
    those that were not, each with why (a function without a rule, no units)."""

    issues: tuple[UnitIssue, ...]
    checked: int
    not_checked: tuple[tuple[str, str], ...] = ()


def check_units(model: Model, equivalents: Iterable[Iterable[str]] | None = None) -> tuple[UnitIssue, ...]:
    """Every units issue of `model`: Vensim's Units Check (see the module's rules).

    Parameters
    ----------
    model:
        The model; its variables' ``units`` are read as Vensim reads them.
    equivalents:
        Groups of unit names that mean the same (``[("Fox", "Foxes")]``), besides
        Vensim's defaults. None takes those the model declares (`Model.units_equivalents`).
    """
    return units_check(model, equivalents).issues


def units_check(model: Model, equivalents: Iterable[Iterable[str]] | None = None) -> UnitsCheck:
    """`check_units` with its counts: variables checked and not checked."""
    if equivalents is None:
        equivalents = model.units_equivalents
    return _Checker(model, synonyms((*VENSIM_EQUIVALENTS, *equivalents))).run()


# A number written in an equation: dimensionless in products, any units beside a sum.
class _Free:
    pass


FREE = _Free()
Inferred = Units | _Free | None  # None: not known (a function without a rule, ...)


class _Mismatch(Exception):
    def __init__(self, expected: str, found: str, message: str) -> None:
        self.expected, self.found, self.message = expected, found, message


def _product(left: Inferred, right: Inferred, divide: bool) -> Inferred:
    if left is None or right is None:
        return None
    if isinstance(left, _Free) and isinstance(right, _Free):
        return FREE
    a = DMNL if isinstance(left, _Free) else left
    b = DMNL if isinstance(right, _Free) else right
    return a / b if divide else a * b


def _alike(items: Iterable[Inferred], what: str) -> Inferred:
    """The common units of operands that must agree (a sum, MIN, IF's branches)."""
    items = list(items)
    known = [u for u in items if isinstance(u, Units)]
    for other in known[1:]:
        if other != known[0]:
            raise _Mismatch(
                str(known[0]), str(other), f"{what} must have like units, found {known[0]} and {other}"
            )
    if known:
        return known[0]
    return FREE if items and all(isinstance(u, _Free) for u in items) else None


_SAME_AS_ARGUMENT = frozenset({"abs", "integer", "initial", "sum", "vmin", "vmax"})
_TRANSCENDENTAL = (
    "exp",
    "ln",
    "log",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
)
_DIMENSIONLESS_RESULT = frozenset((*_TRANSCENDENTAL, "pi", "random 0 1", "gamma ln"))
_ALIKE = frozenset({"min", "max", "modulo", "quantum", "active initial", "random uniform"})
# (output argument, time arguments, arguments like the output): stateful functions
# as written, before lowering; DELAY's output is its input delayed, so like it.
_STATEFUL: Mapping[str, tuple[int, tuple[int, ...], tuple[int, ...]]] = {
    **dict.fromkeys(
        ("smooth", "smooth3", "smooth n", "delay1", "delay3", "delay n", "delay fixed"), (0, (1,), (2,))
    ),
    "forecast": (0, (1, 2), ()),
    "sample if true": (1, (), (2,)),
}


class _Checker:
    def __init__(self, model: Model, synonyms: Mapping[str, str]) -> None:
        self.model = model
        self.synonyms = synonyms
        self.time = self.parse(model.time_units) if model.time_units.strip() else None
        self.declared: dict[str, Units | None] = {}
        self.inferred: dict[str, Inferred] = {}
        self.issues: list[UnitIssue] = []
        self.unknown: set[str] = set()  # functions met without a rule, for one variable

    def run(self) -> UnitsCheck:
        checked = 0
        not_checked: list[tuple[str, str]] = []
        for variable in self.model.variables:
            if variable.origin is not None or variable.kind is Kind.LOOKUP:
                continue
            units = self.units_of(variable)
            if units is None:
                if not variable.units.strip():
                    not_checked.append((variable.name, "no units"))
                continue
            self.unknown = set()
            before = len(self.issues)
            known = self.check(variable, units)
            if known or len(self.issues) > before:
                checked += 1
            elif self.unknown:
                functions = ", ".join(sorted(f.upper() for f in self.unknown))
                not_checked.append((variable.name, f"functions: {functions}"))
            else:
                not_checked.append((variable.name, "inputs without units"))
        return UnitsCheck(tuple(self.issues), checked, tuple(not_checked))

    # ------------------------------------------------------------ declared units

    def parse(self, text: str) -> Units | None:
        try:
            return parse_units(text, self.synonyms)
        except UnitsSyntaxError:
            return None

    def units_of(self, variable: Variable) -> Units | None:
        """The variable's declared units; None when it declares none or they do not parse."""
        if variable.key not in self.declared:
            self.declared[variable.key] = None
            if variable.units.strip():
                try:
                    self.declared[variable.key] = parse_units(variable.units, self.synonyms)
                except UnitsSyntaxError as error:
                    if variable.origin is None:
                        self.report(variable, "units such as clients/Month", repr(variable.units), str(error))
        return self.declared[variable.key]

    def reference(self, name: str) -> Inferred:
        """The units of a name read by an equation: declared, else inferred from its own."""
        if name == "time":
            return self.time
        variable = self.model.get(name)
        if variable is None:
            return None
        declared = self.units_of(variable)
        if declared is not None or variable.units.strip() or variable.origin is None:
            return declared  # a modeler's variable without units: unknown, as in Vensim
        if name not in self.inferred:
            self.inferred[name] = None  # a cycle of variables without units stays unknown
            equation, initial = variable.as_written
            source = initial if variable.kind in (Kind.STOCK, Kind.MEMORY) else equation
            try:
                self.inferred[name] = (
                    self.infer(source) if source is not None and not isinstance(source, Table) else None
                )
            except _Mismatch:
                self.inferred[name] = None  # reported, if at all, where it is written
        return self.inferred[name]

    # ------------------------------------------------------------ checking

    def check(self, variable: Variable, units: Units) -> bool:
        """Report where `variable`'s equations disagree with `units`; False when some
        equation's units could not be inferred (nothing was checked there)."""
        equation, initial = variable.as_written
        if variable.kind is Kind.STOCK:
            flow = units / self.time if self.time is not None else None
            known = flow is None or self.expect(variable, equation, flow, "its net flow")
        else:
            known = self.expect(variable, equation, units, "its equation")
        return self.expect(variable, initial, units, "its initial value") and known

    def expect(self, variable: Variable, expr: Expr | Table | None, units: Units, what: str) -> bool:
        if expr is None or isinstance(expr, Table):
            return True
        try:
            found = self.infer(expr)
        except _Mismatch as mismatch:
            self.report(variable, mismatch.expected, mismatch.found, mismatch.message)
            return True
        if isinstance(found, Units) and found != units:
            declared = variable.units.strip()
            should = f", so {what} should be in {units}," if variable.kind is Kind.STOCK else ""
            self.report(
                variable, str(units), str(found), f"units are {declared}{should} but {what} gives {found}"
            )
        return found is not None

    def report(self, variable: Variable, expected: str, found: str, detail: str) -> None:
        where = f"{self.model.source or self.model.name}" + (
            f" line {variable.line}" if variable.line else ""
        )
        message = f"{where}, variable {variable.name!r}: {detail}"
        source = self.model.source
        self.issues.append(UnitIssue(variable.name, variable.line, source, expected, found, message, detail))

    def want(self, found: Inferred, wanted: Units | None, what: str) -> None:
        if isinstance(found, Units) and wanted is not None and found != wanted:
            raise _Mismatch(str(wanted), str(found), f"{what} should be in {wanted}, found {found}")

    # ------------------------------------------------------------ inference

    def infer(self, expr: Expr) -> Inferred:
        if isinstance(expr, Number | Numbers):
            return FREE
        if isinstance(expr, Position):
            return DMNL
        if isinstance(expr, Ref):
            return self.reference(expr.name)
        if isinstance(expr, Unary):
            operand = self.infer(expr.operand)
            return operand if expr.op is UnaryOp.NEG else DMNL
        if isinstance(expr, Binary):
            return self.binary(expr)
        if isinstance(expr, If):
            self.infer(expr.condition)
            return _alike([self.infer(expr.then), self.infer(expr.otherwise)], "IF THEN ELSE's branches")
        if isinstance(expr, LookupCall):
            return self.lookup(expr)
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Defined):
            return _alike(
                [self.infer(p) for _, p in expr.parts if not isinstance(p, Table)],
                "the parts of its definition",
            )
        return None

    def binary(self, expr: Binary) -> Inferred:
        left, right = self.infer(expr.left), self.infer(expr.right)
        if expr.op in (Op.MUL, Op.DIV):
            return _product(left, right, expr.op is Op.DIV)
        if expr.op is Op.POW:
            return self.power(left, expr.right, right)
        if expr.op in (Op.AND, Op.OR):
            return DMNL
        common = _alike([left, right], f"the two sides of '{expr.op.value}'")
        return common if expr.op in (Op.ADD, Op.SUB) else DMNL

    def power(self, base: Inferred, exponent: Expr, exponent_units: Inferred) -> Inferred:
        self.want(exponent_units, DMNL, "a power")
        value = _constant(exponent)
        if isinstance(base, _Free) or base == DMNL:
            return base
        if base is None or value is None:
            return None  # a power read from a variable: its units are not known here
        return base ** Fraction(value).limit_denominator(1000)

    def lookup(self, expr: LookupCall) -> Inferred:
        argument = self.infer(expr.argument)
        if isinstance(argument, Units) and argument != DMNL and argument != self.time:
            name = expr.table.name if isinstance(expr.table, Ref) else "an inline lookup"
            raise _Mismatch(
                "Dmnl",
                str(argument),
                f"the input of lookup {name!r} should be dimensionless (Dmnl), found {argument}",
            )
        if isinstance(expr.table, Table):
            return FREE
        variable = self.model.get(expr.table.name)
        return self.units_of(variable) if variable is not None else None

    def call(self, expr: Call) -> Inferred:
        name, args = expr.function, expr.args
        if name in _STATEFUL:
            output, times, like = _STATEFUL[name]
            units = [self.infer(a) for a in args]
            for i in times:
                self.want(units[i], self.time, f"{name.upper()}'s time")
            return _alike(
                [units[output]] + [units[i] for i in like if i < len(units)],
                f"{name.upper()}'s input and initial value",
            )
        if name == "trend":
            units = [self.infer(a) for a in args]
            self.want(units[1], self.time, "TREND's time")
            return self.time**-1 if self.time is not None else None
        if name in ("step", "ramp", "pulse", "pulse train"):
            return self.time_shape(name, args)
        units = [self.infer(a) for a in args]
        if name in _SAME_AS_ARGUMENT:
            return units[0]
        if name in _DIMENSIONLESS_RESULT:
            return DMNL
        if name in _ALIKE:
            return _alike(units[:2] if name == "random uniform" else units, f"{name.upper()}'s arguments")
        if name == "random normal":
            return _alike(units[:4], "RANDOM NORMAL's arguments")
        if name == "sqrt":
            return units[0] ** Fraction(1, 2) if isinstance(units[0], Units) else units[0]
        if name == "power":
            return self.power(units[0], args[1], units[1])
        if name == "zidz":
            return _product(units[0], units[1], divide=True)
        if name == "xidz":
            return _alike(
                [_product(units[0], units[1], divide=True), units[2]], "XIDZ's quotient and its fallback"
            )
        self.unknown.add(name)
        return None

    def time_shape(self, name: str, args: tuple[Expr, ...]) -> Inferred:
        """STEP(height, time), RAMP(slope, start, end), PULSE(start, width), PULSE TRAIN."""
        units = [self.infer(a) for a in args]
        first_time = 0 if name.startswith("pulse") else 1
        for i in range(first_time, len(args)):
            self.want(units[i], self.time, f"{name.upper()}'s times")
        if name == "step":
            return units[0]
        if name == "ramp":  # a slope written as a number takes the units it must
            free = isinstance(units[0], _Free) or self.time is None
            return units[0] if free else _product(units[0], self.time, divide=False)
        return DMNL


def _constant(expr: Expr) -> float | None:
    """The value of a power written as a number (``2``, ``-1``, ``1/2``), else None."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Unary) and expr.op is UnaryOp.NEG:
        inner = _constant(expr.operand)
        return None if inner is None else -inner
    if isinstance(expr, Binary) and expr.op is Op.DIV:
        a, b = _constant(expr.left), _constant(expr.right)
        return a / b if a is not None and b else None
    return None
