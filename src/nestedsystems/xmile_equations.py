"""Equations in XMILE's syntax, as isee's tools and PySD's XMILE parser read them.

`Equations` spells a model's names and expression trees: names with underscores for
spaces, quoted when they hold anything else; operators parenthesised wherever PySD's
grammar and XMILE's could read them differently; the IR's functions by XMILE's names
(SMTH1, DELAYN, SAFEDIV, INIT, ...), or as the algebra they compute where XMILE
lacks them (Vensim's PULSE and QUANTUM, LOG to a base); XMILE's own PULSE, which
the loader reads as algebra, is recognised and written back as PULSE. A function
XMILE has no counterpart for is refused, with the variable and why.

The text reads back through `load` into the same model. isee's functions of the same
name can differ from Vensim's at the edges: XMILE's SAFEDIV tests for a zero divisor
where Vensim's XIDZ and ZIDZ take anything under 1e-6 as zero.

A lookup read with a keyword (EXTRAPOLATE, HOLD BACKWARD), or an inline table read
inside a larger expression, needs a graphical function of its own in XMILE: the
tables made so are left in `Equations.made` for the document to write.
"""

from __future__ import annotations

import math
import re

from .expressions import (
    Binary,
    Call,
    Expr,
    If,
    LookupCall,
    LookupMode,
    Number,
    Op,
    Position,
    Ref,
    Table,
    Unary,
    UnaryOp,
    canonical,
)
from .mdl_writer import NotWritableError
from .model import Model, Variable

__all__ = ["CONTROLS", "Equations", "in_equation", "xmile_name"]

SMALL = 1e-6  # Vensim's zero in PULSE and QUANTUM, as `builtins` computes them

# Binding strength, loosest first, as PySD's XMILE grammar reads it. AND and OR
# share a level there but not in XMILE (AND binds tighter), so a logical operand
# of a logical operator is always parenthesised; so is any compound operand of MOD
# (PySD reads MOD looser than * and /, XMILE alike) and of ^.
_IF = 0.25
_UNARY = 0.5
_LOGIC = 2.0
_NOT = 2.5
_MOD = 4.5
_ATOM = 8.0
_PRECEDENCE = {Op.OR: _LOGIC, Op.AND: _LOGIC, Op.ADD: 4, Op.SUB: 4, Op.MUL: 5, Op.DIV: 5, Op.POW: 7}
_PRECEDENCE |= dict.fromkeys((Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE), 3)
_SPELLED = {Op.AND: "AND", Op.OR: "OR"}

# IR function -> XMILE's name, where the arguments stay in order.
_SAME = {
    "abs": "ABS",
    "exp": "EXP",
    "ln": "LN",
    "sqrt": "SQRT",
    "sin": "SIN",
    "cos": "COS",
    "tan": "TAN",
    "arcsin": "ARCSIN",
    "arccos": "ARCCOS",
    "arctan": "ARCTAN",
    "min": "MIN",
    "max": "MAX",
    "integer": "INT",
    "xidz": "SAFEDIV",
    "zidz": "SAFEDIV",
    "step": "STEP",
    "ramp": "RAMP",
    "smooth": "SMTH1",
    "smooth3": "SMTH3",
    "delay1": "DELAY1",
    "delay3": "DELAY3",
    "delay fixed": "DELAY",
    "trend": "TREND",
    "forecast": "FORCST",
    "initial": "INIT",
}
# XMILE puts the order before the initial value; the IR after it.
_ORDER_FIRST = {"smooth n": "SMTHN", "delay n": "DELAYN"}
# Why a function has no XMILE spelling here, where there is more to say.
_NO_COUNTERPART = dict.fromkeys(
    ("sum", "prod", "vmin", "vmax"),
    "XMILE says it with a wildcard, x[*], which PySD's XMILE reader cannot read back",
)
_NO_COUNTERPART |= dict.fromkeys(
    ("random 0 1", "random uniform", "random normal", "random exponential", "random poisson"),
    "XMILE's RANDOM and NORMAL draw other numbers, and PySD's XMILE reader reads neither",
)
_NO_COUNTERPART |= dict.fromkeys(("sinh", "cosh", "tanh"), "XMILE has no hyperbolic functions")
_NO_COUNTERPART["active initial"] = "an XMILE auxiliary has one equation, not a second for the start"
_KEYWORDS = {"and", "or", "not", "mod", "if", "then", "else"}
_PLAIN = re.compile(r"[^\W\d]\w*")
# What the control variables are called in PySD's XMILE reader, which does not know
# XMILE's own names for them (the document defines these as XMILE's, `CONTROLS`).
_CONTROL_NAMES = {"initial time": "INITIAL_TIME", "final time": "FINAL_TIME", "time step": "TIME_STEP"}
CONTROLS = {"initial time": "STARTTIME", "final time": "STOPTIME", "time step": "DT"}


def xmile_name(name: str) -> str:
    """A name as an XMILE ``name`` attribute holds it: Vensim's quotes dropped."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name


class Equations:
    """A model's names and equations in XMILE's spelling.

    ``internal`` are the variables lowering made that nothing written reads;
    ``current`` is the variable being written, which errors name.
    """

    def __init__(self, model: Model, internal: dict[str, Variable]) -> None:
        self.model = model
        self.internal = internal
        self.spelled: dict[str, str] = {}
        for dimension in model.dimensions:
            self.spelled.setdefault(dimension.key, dimension.name)
            for key, element in zip(dimension.element_keys, dimension.elements, strict=True):
                self.spelled.setdefault(key, element)
        for variable in model.variables:
            self.spelled[variable.key] = variable.name
        self.taken = {canonical(n) for n in self.spelled.values()}
        self.current: Variable | None = None
        self.made: list[tuple[str, Table]] = []  # graphical functions made for `current`
        self.controls: set[str] = set()  # the control variables equations read

    def error(self, message: str) -> NotWritableError:
        variable = self.current.name if self.current is not None else None
        return NotWritableError(
            f"cannot write it as XMILE: {message}", file=self.model.source, variable=variable
        )

    def attribute_name(self, name: str) -> str:
        name = xmile_name(name)
        # A quote inside a name is escaped, ``\\"``, as in Vensim's quoted names (which
        # keep the backslash): PySD compares the escaped spelling with the attribute.
        # PySD reads ``\\n`` in a name as XMILE's line break, a space.
        if re.search(r'(?<!\\)"|\\n|[\r\n]|\\$', name) or not name:
            raise self.error(f"the name {name!r} holds a line break, \\n, a bare quote or a final backslash")
        return name

    def name(self, key: str) -> str:
        """A name as an XMILE equation reads it: underscores for spaces, quoted
        when it holds anything else or could read as a keyword or a number."""
        if key == "time":
            return "TIME"
        if key in _CONTROL_NAMES:
            self.controls.add(key)
            return _CONTROL_NAMES[key]
        if key == "saveper":
            saveper = self.model.get("saveper")
            if saveper is None or saveper.equation not in (
                Ref("time step"),
                self.model["time step"].equation,
            ):
                raise self.error("it reads SAVEPER, which XMILE has not: a run saves every TIME STEP")
            return self.name("time step")
        if key in self.internal:
            raise self.error(
                f"it reads {self.spelled.get(key, key)!r}, made by lowering a stateful function "
                "the IR no longer holds as written"
            )
        return in_equation(self.attribute_name(self.spelled.get(key, key)))

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while canonical(name) in self.taken:
            n += 1
            name = f"{base} {n}"
        self.taken.add(canonical(name))
        return name

    # -- expressions

    def expr(self, e: Expr | Table, parent: float = 0) -> str:
        text, strength = self._expr(e)
        return f"({text})" if strength <= parent else text

    def _expr(self, e: Expr | Table) -> tuple[str, float]:
        if isinstance(e, Number):
            return self.number(e.value)
        if isinstance(e, Ref):
            return self.ref(e), _ATOM
        if isinstance(e, Unary):
            if e.op is UnaryOp.NEG:
                return "-" + self.expr(e.operand, _ATOM - 1), _UNARY
            # XMILE binds NOT as tightly as a minus, PySD as loosely as AND: parentheses
            # make both read the same.
            return "NOT " + self.expr(e.operand, _ATOM - 1), _NOT
        if isinstance(e, Binary) and (pulse := _xmile_pulse(e)) is not None:
            return f"PULSE({', '.join(self.expr(a) for a in pulse)})", _ATOM
        if isinstance(e, Binary):
            strength = _PRECEDENCE[e.op]
            if strength == _LOGIC:
                left, right = self.expr(e.left, _NOT - 0.1), self.expr(e.right, _NOT - 0.1)
            elif e.op is Op.POW or strength == 3:
                left, right = self.expr(e.left, strength), self.expr(e.right, strength)
            else:
                left, right = self.expr(e.left, strength - 1), self.expr(e.right, strength)
            spaced = f" {_SPELLED.get(e.op, e.op.value)} " if strength <= 4 else e.op.value
            return left + spaced + right, strength
        if isinstance(e, If):
            parts = (self.expr(p, _IF) for p in (e.condition, e.then, e.otherwise))
            return "IF {} THEN {} ELSE {}".format(*parts), _IF
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, LookupCall):
            return self.lookup_call(e), _ATOM
        if isinstance(e, Position):
            raise self.error("a subscript range read as a number, which XMILE has no way to say")
        raise self.error(f"an expression of type {type(e).__name__} inside an equation")

    def number(self, value: float) -> tuple[str, float]:
        # Vensim's :NA: is the number -2**109 to the IR, and is written as that.
        if not math.isfinite(value):
            raise self.error(f"the number {value}, which XMILE cannot spell")
        text = repr(float(value))
        text = text[:-2] if text.endswith(".0") else text
        return text, (_UNARY if value < 0 else _ATOM)

    def ref(self, e: Ref) -> str:
        if not e.subscripts:
            return self.name(e.name)
        if any(s.endswith("!") for s in e.subscripts):
            raise self.error(
                "a vector function's marked dimension (!), which PySD's XMILE reader cannot read"
            )
        return self.name(e.name) + "[" + ", ".join(self.name(s) for s in e.subscripts) + "]"

    def call(self, e: Call) -> tuple[str, float]:
        f, args = e.function, e.args
        if f in _SAME:
            return f"{_SAME[f]}({', '.join(self.expr(a) for a in args)})", _ATOM
        if f in _ORDER_FIRST:
            first, time, initial, order = args
            return (
                f"{_ORDER_FIRST[f]}({', '.join(self.expr(a) for a in (first, time, order, initial))})",
                _ATOM,
            )
        if f == "modulo":
            # Lower case: PySD's grammar knows no other spelling; XMILE ignores case.
            return f"{self.expr(args[0], _ATOM - 1)} mod {self.expr(args[1], _ATOM - 1)}", _MOD
        if f == "power":
            return self._expr(Binary(Op.POW, *args))
        if f == "log":  # LOG(x, base); XMILE's LOG10 has one base only
            return self._expr(Binary(Op.DIV, Call("ln", args[:1]), Call("ln", args[1:])))
        if f == "pi":
            return self.number(math.pi)
        if f == "pulse":
            return self._expr(_pulse(*args))
        if f == "quantum":
            a, q = args
            whole = Binary(Op.MUL, q, Call("integer", (Binary(Op.DIV, a, q),)))
            return self._expr(If(Binary(Op.LT, q, Number(SMALL)), a, whole))
        raise self.error(
            f"the function {f.upper()}: {_NO_COUNTERPART.get(f, 'Vensim has it, XMILE does not')}"
        )

    def lookup_call(self, e: LookupCall) -> str:
        argument = self.expr(e.argument)
        table = e.table
        mode = e.mode or (table.mode if isinstance(table, Table) else None)
        if isinstance(table, Ref) and mode in (None, LookupMode.INTERPOLATE):
            return f"{self.ref(table)}({argument})"
        if isinstance(table, Ref):
            source = self.model.get(table.name)
            if source is None or not isinstance(source.equation, Table) or table.subscripts:
                raise self.error(f"a lookup read by {mode.value if mode else 'name'} that is not one table")
            table = source.equation
        assert self.current is not None
        name = self.fresh(xmile_name(self.current.name) + " data")
        self.made.append((name, Table(table.x, table.y, mode or table.mode)))
        return f"{in_equation(name)}({argument})"


def in_equation(name: str) -> str:
    """A name as an XMILE equation reads it: underscores for spaces, quoted when it
    holds anything else or could read as a keyword or a number (PySD's grammar
    reads a leading "not" as the operator)."""
    plain = "_".join(name.split())
    lower = plain.lower()
    if _PLAIN.fullmatch(plain) and lower not in _KEYWORDS and not lower.startswith("not"):
        return plain
    return f'"{name}"'


def _pulse(start: Expr, width: Expr) -> Expr:
    """Vensim's PULSE(start, width) as the IF THEN ELSE it computes: 1 from start
    (less Vensim's small number) for width, or one TIME STEP when width is 0."""
    span = If(Binary(Op.GT, width, Number(0.0)), width, Ref("time step"))
    began = Binary(Op.LE, Binary(Op.SUB, start, Number(SMALL)), Ref("time"))
    running = Binary(Op.LT, Ref("time"), Binary(Op.ADD, start, span))
    return If(Binary(Op.AND, began, running), Number(1.0), Number(0.0))


def _xmile_pulse(e: Binary) -> tuple[Expr, ...] | None:
    """The arguments of XMILE's PULSE(volume, first[, interval]) when `e` is the
    algebra the loader reads it as (`vensim_calls`), so that it is written back so."""
    step = Ref("time step")
    half_step = Binary(Op.DIV, step, Number(2.0))
    if e.op is not Op.MUL or not isinstance(e.right, Call) or not isinstance(e.left, Binary):
        return None
    volume, shape = e.left, e.right
    if volume.op is not Op.DIV or volume.right != step:
        return None
    if shape.function == "pulse" and shape.args[1] == half_step:
        return volume.left, shape.args[0]
    train_end = Binary(Op.ADD, Ref("final time"), step)
    if shape.function == "pulse train" and shape.args[1] == half_step and shape.args[3] == train_end:
        return volume.left, shape.args[0], shape.args[2]
    return None
