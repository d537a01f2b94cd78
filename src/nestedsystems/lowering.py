"""Lower Vensim's stateful functions to plain stocks, auxiliaries and memories.

After `lower`, no equation calls SMOOTH, DELAY, TREND, FORECAST, SAMPLE IF TRUE,
INITIAL, ACTIVE INITIAL, NPV, DEPRECIATE STRAIGHTLINE or LOOKUP AREA: each call
became variables of its own, named after the function and the modeler's variable
(``"SMOOTH3 of Perceived quality [2]"``) with ``origin`` set to that variable, or
plain algebra, so the solver only ever sees stocks, algebra and the memories of
`Kind.MEMORY`.

The structures follow Vensim's documented equivalents (and PySD's runtime, which
matches Vensim's output):

- SMOOTH(in, T, init): a stock S, S(0) = init, dS/dt = (in - S)/T; output S.
  SMOOTH3 and SMOOTH N chain n such stocks with time T/n each.
- DELAY1/DELAY3/DELAY N(in, T, init, n): n stages L1..Ln, each Li(0) = init*T/n,
  outflow_i = Li/(T/n), inflow_1 = in; output outflow_n. The order is fixed at the
  initial time and, as in PySD, reduced while n*TIME STEP exceeds the delay time.
- DELAY FIXED(in, T, init): a shift register of n = round(T/TIME STEP) memories
  (at least one), T read at the initial time; output in(t - n*dt), init before.
- DELAY CONVEYOR(in, T, leak, profile, total, T0): without leakage, with a flat
  initial profile and T0 = T (both read at the initial time), a DELAY FIXED of in
  by T whose conveyor starts holding total spread evenly: total/T comes out until
  the first input does.
- TREND(in, T, trend0): an average stock A, A(0) = in/(1 + trend0*T),
  dA/dt = (in - A)/T; output ZIDZ(in - A, T*ABS(A)).
- FORECAST(in, T, horizon, trend0): in*(1 + TREND(in, T, trend0)*horizon).
- SAMPLE IF TRUE(cond, in, init): output IF cond THEN in ELSE previous, the
  previous output kept in a memory that starts at init.
- INITIAL(x): a memory whose initial value is x and whose next value is itself.
- ACTIVE INITIAL(a, i): an auxiliary with equation a and initial equation i.
- LOOKUP AREA(lookup, start, end), not stateful but written out here too, where the
  lookup's points are known: the integral of the lookup as it reads (linear between
  points, held beyond them), per segment y_a*d + slope*d^2/2 with d clamped to it.
- NPV(stream, rate, init, factor): as Vensim documents it, a discount factor stock
  D, D(0) = 1, dD/dt = -D*rate/(1 + rate*TIME STEP), and an accumulation N,
  N(0) = init, dN/dt = stream*D; output (N + stream*TIME STEP*D)*factor, which
  counts this step's stream as received at its end.
- NPVE(stream, rate, init, factor): NPV with the stream valued at the end of each
  step, as Vensim documents it: the discount factor starts at 1/(1 + rate*TIME STEP).
- DEPRECIATE STRAIGHTLINE(stream, T, fiscal period, init): each step's spending
  stream*TIME STEP written off in equal parts over the n = T/TIME STEP steps from
  the one it is made in, so the output is the mean of the stream over those steps,
  the current one included: a shift register of n - 1 memories of the stream,
  started at init as if the stream had been init for the last T. Vensim lumps
  spending by fiscal period; only a fiscal period of one TIME STEP, where that
  lumping is the step itself, is reproduced (T a whole number of steps, both read
  at the initial time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from .errors import UnsupportedError
from .expressions import (
    STATEFUL_FUNCTIONS,
    Binary,
    Call,
    Defined,
    Expr,
    If,
    LookupCall,
    LookupMode,
    Number,
    Op,
    Ref,
    Selector,
    Table,
    Unary,
    UnaryOp,
    canonical,
    rebuild,
)
from .model import Kind, Model, Variable

__all__ = ["lower"]

# Vensim rounds a delay's number of steps after adding this, so 1.5 steps makes 2.
SMALL_VENSIM = 1e-6


def lower(model: Model) -> Model:
    """A copy of `model` in which no equation calls a stateful function.

    Parameters
    ----------
    model:
        A model whose equations may call SMOOTH, DELAY, INITIAL and the like,
        anywhere inside an expression.

    Returns
    -------
    Model
        The same variables, each followed by the variables lowering made for it.

    Raises
    ------
    UnsupportedError
        A delay order or DELAY FIXED delay time that cannot be computed at the
        initial time from constants.
    """
    lowerer = _Lowerer(model)
    variables: list[Variable] = []
    for variable in model.variables:
        variables.extend(lowerer.variable(variable))
    return model.replace(variables=tuple(variables))


class _NotConstant(Exception):
    pass


class _Lowerer:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.index: dict[str, Variable] = {v.key: v for v in model.variables}
        self.made: list[Variable] = []
        self.origin: Variable | None = None

    # -- walking

    def variable(self, variable: Variable) -> list[Variable]:
        self.made = []
        self.origin = variable
        equation, initial = variable.equation, variable.initial
        if isinstance(equation, Call) and equation.function == "active initial" and initial is None:
            equation, initial = equation.args
        if not isinstance(equation, Table):
            equation = self.expression(equation)
        if initial is not None:
            initial = self.expression(initial)
        lowered = replace(variable, equation=equation, initial=initial)
        if (equation, initial) != (variable.equation, variable.initial):
            # Keep the call the modeler wrote, so that a writer can give it back.
            written = ((variable.equation, variable.initial), (equation, initial))
            lowered = replace(lowered, written=written)
        self.index[lowered.key] = lowered
        return [lowered, *self.made]

    def expression(self, expr: Expr) -> Expr:
        if isinstance(expr, Unary):
            return Unary(expr.op, self.expression(expr.operand))
        if isinstance(expr, Binary):
            return Binary(expr.op, self.expression(expr.left), self.expression(expr.right))
        if isinstance(expr, If):
            return If(*(self.expression(e) for e in (expr.condition, expr.then, expr.otherwise)))
        if isinstance(expr, LookupCall):
            return LookupCall(expr.table, self.expression(expr.argument), expr.mode)
        if isinstance(expr, Call):
            args = tuple(self.expression(a) for a in expr.args)
            if expr.function == "lookup area":
                return self.lookup_area(*args)
            if expr.function in STATEFUL_FUNCTIONS:
                return self.stateful(expr.function, args)
            return Call(expr.function, args)
        if isinstance(expr, Defined):
            return self.defined(expr)
        return expr

    def defined(self, expr: Defined) -> Defined:
        """Each part of an arrayed definition lowered on its own: what a part makes
        spans the variable's dimensions but is defined, and read, at the part's
        elements only."""
        parts: list[tuple[Selector, Expr | Table]] = []
        for selector, part in expr.parts:
            if isinstance(part, Table):
                parts.append((selector, part))
                continue
            before = len(self.made)
            lowered = self.expression(part)
            made = self.made[before:]
            if made:
                keys = frozenset(v.key for v in made)

                def local(e: Expr, keys: frozenset[str] = keys, selector: Selector = selector) -> Expr:
                    return _subscripted(e, keys, selector.subscripts)

                made = [
                    replace(
                        v,
                        equation=Defined(((selector, local(v.equation)),)),  # type: ignore[arg-type]
                        initial=None if v.initial is None else Defined(((selector, local(v.initial)),)),
                    )
                    for v in made
                ]
                self.made[before:] = made
                self.index.update((v.key, v) for v in made)
                lowered = local(lowered)
            parts.append((selector, lowered))
        return Defined(tuple(parts))

    # -- making variables

    def name(self, function: str) -> str:
        assert self.origin is not None
        origin = self.origin.origin or self.origin.name
        base = f"{function.upper()} of {origin}"
        candidate, n = base, 1
        while canonical(candidate) in self.index or any(
            canonical(v).startswith(canonical(candidate) + " [") for v in self.index
        ):
            n += 1
            candidate = f"{base} ({n})"
        return candidate

    def add(self, name: str, kind: Kind, equation: Expr, initial: Expr | None = None) -> Ref:
        assert self.origin is not None
        variable = Variable(
            name=name,
            kind=kind,
            equation=equation,
            initial=initial,
            units=self.origin.units if kind is not Kind.STOCK else "",
            line=self.origin.line,
            origin=self.origin.origin or self.origin.name,
            group=self.origin.group,
            dims=self.origin.dims,  # an array's SMOOTH is an array of stocks
        )
        self.index[variable.key] = variable
        self.made.append(variable)
        return Ref(variable.key)

    def stateful(self, function: str, args: tuple[Expr, ...]) -> Expr:
        base = self.name(function)
        if function == "initial":
            key = canonical(base)
            return self.add(base, Kind.MEMORY, Ref(key), args[0])
        if function == "active initial":
            return self.add(base, Kind.AUXILIARY, args[0], args[1])
        if function in ("smooth", "smooth3", "smooth n"):
            order = {"smooth": 1, "smooth3": 3}.get(function) or self.order(args[3], "order")
            return self.smooth(base, args[0], args[1], args[2], order)
        if function in ("delay1", "delay3", "delay n"):
            order = {"delay1": 1, "delay3": 3}.get(function) or self.order(args[3], "order")
            return self.delay(base, args[0], args[1], args[2], order)
        if function == "delay fixed":
            return self.delay_fixed(base, *args)
        if function == "trend":
            return self.trend(base, *args)
        if function == "forecast":
            value, time, horizon, trend0 = args
            trend = self.trend(f"TREND in {base}", value, time, trend0)
            return self.add(base, Kind.AUXILIARY, _mul(value, _add(Number(1.0), _mul(trend, horizon))))
        if function == "sample if true":
            condition, value, initial = args
            previous = canonical(f"{base} [previous]")
            output = self.add(base, Kind.AUXILIARY, If(condition, value, Ref(previous)))
            self.add(f"{base} [previous]", Kind.MEMORY, output, initial)
            return output
        if function in ("npv", "npve"):
            return self.npv(base, *args, end_of_period=function == "npve")
        if function == "depreciate straightline":
            return self.depreciate_straightline(base, *args)
        if function == "delay conveyor":
            return self.delay_conveyor(base, *args)
        raise AssertionError(f"no lowering for {function}")

    def smooth(self, base: str, value: Expr, time: Expr, initial: Expr, order: int) -> Expr:
        stage_time = time if order == 1 else _div(time, Number(float(order)))
        target = value
        for i in range(1, order + 1):
            name = base if order == 1 else f"{base} [{i}]"
            key = canonical(name)
            target = self.add(name, Kind.STOCK, _div(_sub(target, Ref(key)), stage_time), initial)
        return target

    def delay(self, base: str, value: Expr, time: Expr, initial: Expr, order: int) -> Ref:
        order = self.reduced(order, time)
        stage_time = time if order == 1 else _div(time, Number(float(order)))
        inflow = value
        for i in range(1, order + 1):
            key = canonical(f"{base} [{i}]")
            outflow = _div(Ref(key), stage_time)
            self.add(f"{base} [{i}]", Kind.STOCK, _sub(inflow, outflow), _mul(initial, stage_time))
            inflow = outflow
        return self.add(base, Kind.AUXILIARY, inflow)

    def delay_fixed(self, base: str, value: Expr, time: Expr, initial: Expr) -> Expr:
        steps = self.constant(time, "delay time") / self.constant(Ref("time step"), "TIME STEP")
        count = round(max(steps, 1.0) + SMALL_VENSIM)
        previous = value
        for i in range(1, count + 1):
            name = base if count == 1 else f"{base} [{i}]"
            previous = self.add(name, Kind.MEMORY, previous, initial)
        return previous

    def trend(self, base: str, value: Expr, time: Expr, trend0: Expr) -> Ref:
        average_name = f"{base} [average]"
        average = Ref(canonical(average_name))
        start = _div(value, _add(Number(1.0), _mul(trend0, time)))
        self.add(average_name, Kind.STOCK, _div(_sub(value, average), time), start)
        scale = _mul(time, Call("abs", (average,)))
        return self.add(base, Kind.AUXILIARY, Call("zidz", (_sub(value, average), scale)))

    def npv(
        self, base: str, stream: Expr, rate: Expr, initial: Expr, factor: Expr, *, end_of_period: bool
    ) -> Ref:
        step = Ref("time step")
        discount_name = f"{base} [discount factor]"
        discount = Ref(canonical(discount_name))
        per_step = _add(Number(1.0), _mul(rate, step))
        decay = _div(_mul(Unary(UnaryOp.NEG, discount), rate), per_step)
        start = _div(Number(1.0), per_step) if end_of_period else Number(1.0)
        self.add(discount_name, Kind.STOCK, decay, start)
        total = self.add(f"{base} [accumulated]", Kind.STOCK, _mul(stream, discount), initial)
        value = _mul(_add(total, _mul(_mul(stream, step), discount)), factor)
        return self.add(base, Kind.AUXILIARY, value)

    def depreciate_straightline(
        self, base: str, stream: Expr, time: Expr, fiscal: Expr, initial: Expr
    ) -> Ref:
        step = self.constant(Ref("time step"), "TIME STEP")
        if not math.isclose(self.constant(fiscal, "fiscal period"), step, rel_tol=1e-9):
            raise self.unsupported(
                "DEPRECIATE STRAIGHTLINE with a fiscal period other than TIME STEP is not supported "
                "yet: Vensim's lumping of spending within a longer fiscal period is not documented "
                "precisely enough to reproduce"
            )
        steps = self.constant(time, "depreciation time") / step
        count = round(steps)
        if count < 1 or not math.isclose(steps, count, rel_tol=1e-9):
            raise self.unsupported(
                f"DEPRECIATE STRAIGHTLINE over {steps:g} time steps is not supported: expected a "
                "depreciation time of a whole number of fiscal periods (Vensim adjusts it otherwise)"
            )
        terms = [stream]
        for i in range(1, count):
            terms.append(self.add(f"{base} [{i} ago]", Kind.MEMORY, terms[-1], initial))
        return self.add(base, Kind.AUXILIARY, _div(_sum(terms), Number(float(count))))

    def delay_conveyor(
        self, base: str, value: Expr, time: Expr, leak: Expr, profile: Expr, total: Expr, initial_time: Expr
    ) -> Expr:
        table = self.named_table(profile)
        flat = table is not None and len(set(table.y)) == 1
        steady = time == initial_time or self.constant(time, "conveyance time") == self.constant(
            initial_time, "initial conveyance time"
        )
        if not (flat and steady and self.constant(leak, "leakage") == 0):
            raise self.unsupported(
                "DELAY CONVEYOR with leakage, an initial profile that is not flat or an initial "
                "conveyance time other than the conveyance time is not supported: how Vensim rescales "
                "a profile and follows a changing conveyance time is not documented precisely enough "
                "to reproduce"
            )
        return self.delay_fixed(base, value, time, _div(total, initial_time))

    def lookup_area(self, lookup: Expr, start: Expr, end: Expr) -> Expr:
        """LOOKUP AREA(lookup, start, end): the integral of the lookup, read as it
        reads (linear between points, held beyond them), from start to end."""
        table = self.named_table(lookup)
        if table is None or table.mode is not LookupMode.INTERPOLATE:
            raise self.unsupported(
                "LOOKUP AREA of anything but the name of a lookup defined by its points is not supported yet"
            )
        return _sub(_area_to(table, end), _area_to(table, start))

    def named_table(self, expr: Expr) -> Table | None:
        """The points of the lookup `expr` names, if it names one defined by points."""
        variable = self.index.get(expr.name) if isinstance(expr, Ref) and not expr.subscripts else None
        return variable.equation if variable is not None and isinstance(variable.equation, Table) else None

    # -- constants at the initial time

    def reduced(self, order: int, time: Expr) -> int:
        """PySD's rule: fewer stages while order*TIME STEP exceeds the delay time."""
        try:
            delay = _evaluate_initial(time, self.index)
            step = _evaluate_initial(Ref("time step"), self.index)
        except _NotConstant:
            return order
        while order > 1 and order * step > delay:
            order -= 1
        return order

    def order(self, expr: Expr, what: str) -> int:
        value = self.constant(expr, what)
        if not math.isfinite(value) or value < 1:
            raise self.unsupported(f"a {what} of {value:g}; expected a whole number of at least 1")
        return int(value)

    def constant(self, expr: Expr, what: str) -> float:
        try:
            return _evaluate_initial(expr, self.index)
        except _NotConstant as error:
            raise self.unsupported(
                f"a {what} that cannot be computed at the initial time from constants ({error})"
            ) from None

    def unsupported(self, message: str) -> UnsupportedError:
        assert self.origin is not None
        return UnsupportedError(
            message, file=self.model.source, line=self.origin.line, variable=self.origin.name
        )


def _subscripted(expr: Expr, keys: frozenset[str], subscripts: tuple[str, ...]) -> Expr:
    """``expr`` with plain references to ``keys`` read at ``subscripts``."""

    def visit(e: Expr) -> Expr | None:
        if isinstance(e, Ref):
            return Ref(e.name, subscripts) if e.name in keys and not e.subscripts else e
        return e if isinstance(e, Defined) else None  # (a partial definition is whole already)

    return rebuild(expr, visit)


def _area_to(table: Table, x: Expr) -> Expr:
    """The integral of `table` from its first point to `x` (negative below it): per
    segment [a, b] of slope m, with d = MIN(MAX(x, a), b) - a, y_a*d + m*d^2/2; held
    at the end values beyond the points."""
    xs, ys = table.x, table.y
    terms = [_mul(Number(ys[0]), _sub(Call("min", (x, Number(xs[0]))), Number(xs[0])))]
    for a, b, ya, yb in zip(xs, xs[1:], ys, ys[1:], strict=False):
        if b == a:
            continue
        d = _sub(Call("min", (Call("max", (x, Number(a))), Number(b))), Number(a))
        slope = (yb - ya) / (b - a)
        terms.append(_add(_mul(Number(ya), d), _mul(Number(slope / 2), _mul(d, d))))
    terms.append(_mul(Number(ys[-1]), _sub(Call("max", (x, Number(xs[-1]))), Number(xs[-1]))))
    return _sum(terms)


def _sum(terms: list[Expr]) -> Expr:
    """The terms added pairwise, so that a long sum makes a shallow tree."""
    while len(terms) > 1:
        pairs = [_add(a, b) for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def _add(a: Expr, b: Expr) -> Expr:
    return Binary(Op.ADD, a, b)


def _sub(a: Expr, b: Expr) -> Expr:
    return Binary(Op.SUB, a, b)


def _mul(a: Expr, b: Expr) -> Expr:
    return Binary(Op.MUL, a, b)


def _div(a: Expr, b: Expr) -> Expr:
    return Binary(Op.DIV, a, b)


# -- a small evaluator for values fixed at the initial time (delay orders and times)

_BINARY = {
    Op.ADD: lambda a, b: a + b,
    Op.SUB: lambda a, b: a - b,
    Op.MUL: lambda a, b: a * b,
    Op.DIV: lambda a, b: a / b,
    Op.POW: lambda a, b: a**b,
    Op.EQ: lambda a, b: float(a == b),
    Op.NE: lambda a, b: float(a != b),
    Op.LT: lambda a, b: float(a < b),
    Op.LE: lambda a, b: float(a <= b),
    Op.GT: lambda a, b: float(a > b),
    Op.GE: lambda a, b: float(a >= b),
    Op.AND: lambda a, b: float(bool(a) and bool(b)),
    Op.OR: lambda a, b: float(bool(a) or bool(b)),
}

_CALLS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "exp": math.exp,
    "ln": math.log,
    "log": lambda x, base: math.log(x) / math.log(base),
    "sqrt": math.sqrt,
    "power": lambda a, b: a**b,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
    "integer": lambda x: float(int(x)),
    "modulo": lambda a, b: a % b,
    "xidz": lambda a, b, x: x if b == 0 else a / b,
    "zidz": lambda a, b: 0.0 if b == 0 else a / b,
    "pi": lambda: math.pi,
}


def _evaluate_initial(
    expr: Expr, variables: dict[str, Variable], _seen: frozenset[str] = frozenset()
) -> float:
    """The value of `expr` at the initial time, computed from constants.

    Stocks and memories count as their initial values, ``time`` as INITIAL TIME.
    Raises `_NotConstant` (an internal signal) for anything else.
    """

    def value(e: Expr) -> float:
        return _evaluate_initial(e, variables, _seen)

    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Ref):
        name = "initial time" if expr.name == "time" else expr.name
        variable = variables.get(name)
        if variable is None or name in _seen or variable.kind is Kind.LOOKUP:
            raise _NotConstant(f"it reads {expr.name!r}")
        initialised = variable.initial is not None or variable.kind in (Kind.STOCK, Kind.MEMORY)
        source: Expr | Table | None = variable.initial if initialised else variable.equation
        assert source is not None and not isinstance(source, Table)
        return _evaluate_initial(source, variables, _seen | {name})
    try:
        if isinstance(expr, Unary):
            operand = value(expr.operand)
            return -operand if expr.op is UnaryOp.NEG else float(not operand)
        if isinstance(expr, Binary):
            return float(_BINARY[expr.op](value(expr.left), value(expr.right)))
        if isinstance(expr, If):
            return value(expr.then) if value(expr.condition) else value(expr.otherwise)
        if isinstance(expr, Call):
            if expr.function == "step":
                height, start = (value(a) for a in expr.args)
                return height if value(Ref("time")) >= start else 0.0
            if expr.function in _CALLS:
                return float(_CALLS[expr.function](*(value(a) for a in expr.args)))
        if isinstance(expr, LookupCall) and expr.mode in (None, LookupMode.INTERPOLATE):
            table: Expr | Table | None = expr.table
            if isinstance(table, Ref):
                defined = variables.get(table.name)
                table = defined.equation if defined is not None else None
            if isinstance(table, Table) and table.mode is LookupMode.INTERPOLATE:
                x = value(expr.argument)
                return float(_interpolate(table, x))
    except (ArithmeticError, ValueError) as error:
        raise _NotConstant(str(error)) from None
    raise _NotConstant(f"it uses {type(expr).__name__.lower()} {getattr(expr, 'function', '')}".strip())


def _interpolate(table: Table, x: float) -> float:
    if x <= table.x[0]:
        return table.y[0]
    if x >= table.x[-1]:
        return table.y[-1]
    for i in range(1, len(table.x)):
        if x <= table.x[i]:
            x0, x1, y0, y1 = table.x[i - 1], table.x[i], table.y[i - 1], table.y[i]
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table.y[-1]
