"""Compile a model into Python kernels, once, as a pure function of the model.

Each variable becomes a local ``v<i>`` (``i`` its index in ``model.variables``),
each lookup a pair of tuples ``_X<i>``/``_Y<i>``, each number its ``repr``. No text
from the model file ever reaches the generated source: identifiers come from that
whitelist and numbers are re-printed from floats, so a model cannot inject code.

Two flavours are generated from the same equations (see `builtins`): *scalar*, in
plain floats, for a single run, and *vector*, in numpy over a leading run axis, for
ensembles. Kernels:

- ``initial(t, dt, p)`` -> the state (stocks, then memories) at the initial time;
- ``evaluate(t, dt, state, p)`` -> (stock derivatives, next memories, saved values):
  the right-hand side used by RK4, scipy's solvers and loop analysis;
- ``euler(p, state, t0, dt, n, every, out, cols)``: the whole Euler loop inlined,
  for Vensim-exact runs;
- the native kernels (`native`): initial values and Euler loop in one function that
  numba compiles, for one run or for every member of an ensemble.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import builtins, noise
from . import native as native_kernels
from .errors import UnsupportedError
from .expressions import (
    Binary,
    Call,
    Expr,
    If,
    LookupCall,
    LookupMode,
    Number,
    Op,
    Ref,
    Table,
    Unary,
    UnaryOp,
    canonical,
    references,
    walk,
)
from .model import CONTROL_VARIABLES, Kind, Model, Variable
from .ordering import initial_order, run_order

__all__ = ["CompiledModel", "Plan", "compile_model"]

SCALAR = "scalar"
VECTOR = "vector"
# Ensemble members a native kernel advances side by side (see `_Source.euler_native`)
# when one step is a short chain of operations: two lanes make SIR 1.5x faster, four
# add little more and compiling grows faster than the code. A step of more than
# SHORT_STEP equations already keeps the processor busy (services60 gains nothing)
# and one lane spares the compile.
LANES = 2
SHORT_STEP = 32
# A native kernel picks the saved columns one by one when they are at most one
# variable in SWITCHED (or SWITCHED columns), and otherwise writes every variable
# (see `_Source.euler_native`).
SWITCHED = 8


def _switched(layout: _Layout) -> int:
    """The most columns a native kernel picks one by one."""
    return max(len(layout.reported) // SWITCHED, SWITCHED)


def _lanes(layout: _Layout) -> int:
    varying = sum(v.key in layout.varying for v in layout.auxiliaries)
    step = varying + len(layout.stocks) + len(layout.memories)
    return LANES if step <= SHORT_STEP else 1


_ARITHMETIC = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/"}
_COMPARISON = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_LOOKUP_FUNCTIONS = {
    LookupMode.INTERPOLATE: "_lookup",
    LookupMode.EXTRAPOLATE: "_lookup_extrapolate",
    LookupMode.FORWARD: "_lookup_forward",
    LookupMode.BACKWARD: "_lookup_backward",
}


def _number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "_nan"
    if math.isinf(value):
        return "_inf" if value > 0 else "(-_inf)"
    return repr(value)


class _Emitter:
    """Turns equation trees into Python expressions of one flavour."""

    def __init__(self, model: Model, flavour: str, tables: dict[str, tuple[tuple, tuple]], lane: str = ""):
        self.model = model
        self.flavour = flavour
        self.calls = builtins.SCALAR_CALLS if flavour == SCALAR else builtins.VECTOR_CALLS
        self.position = {v.key: i for i, v in enumerate(model.variables)}
        # ``lane`` tells apart the copies of one equation when several members run side by side.
        self.local = {key: f"v{i}{lane}" for key, i in self.position.items()}
        self.tables = tables  # shared by both flavours (and all lanes): name -> (xs, ys)
        self.variable: Variable | None = None  # for error messages

    def table(self, node: Ref | Table) -> tuple[str, LookupMode]:
        if isinstance(node, Ref):
            i = self.position[node.name]
            table = self.model.variables[i].equation
            assert isinstance(table, Table)
            name = f"_T{i}"
        else:
            table = node
            points = (table.x, table.y)
            known = (n for n, t in self.tables.items() if n.startswith("_I") and t == points)
            name = next(known, f"_I{len(self.tables)}")
        self.tables.setdefault(name, (table.x, table.y))
        return name, table.mode

    def expression(self, node: Expr) -> str:
        e = self.expression
        if isinstance(node, Number):
            return _number(node.value)
        if isinstance(node, Ref):
            return "t" if node.name == "time" else self.local[node.name]
        if isinstance(node, Unary):
            if node.op is UnaryOp.NEG:
                return f"(-{e(node.operand)})"
            if self.flavour == SCALAR:
                return f"(0.0 if {e(node.operand)} else 1.0)"
            return f"_f({e(node.operand)} == 0)"
        if isinstance(node, Binary):
            return self._binary(node)
        if isinstance(node, If):
            if self.flavour == SCALAR:
                return f"({e(node.then)} if {e(node.condition)} else {e(node.otherwise)})"
            return f"_np.where({e(node.condition)}, {e(node.then)}, {e(node.otherwise)})"
        if isinstance(node, LookupCall):
            name, mode = self.table(node.table)
            mode = node.mode or mode
            if mode is LookupMode.INVERT:
                return f"_lookup({e(node.argument)}, {name}[1], {name}[0])"
            return f"{_LOOKUP_FUNCTIONS[mode]}({e(node.argument)}, {name}[0], {name}[1])"
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"not an expression node: {node!r}")

    def _binary(self, node: Binary) -> str:
        a, b = self.expression(node.left), self.expression(node.right)
        if node.op in _ARITHMETIC:
            return f"({a} {_ARITHMETIC[node.op]} {b})"
        if node.op is Op.POW:
            return f"_pow({a}, {b})" if self.flavour == SCALAR else f"_np.power({a}, {b})"
        if node.op in _COMPARISON:
            test = f"{a} {_COMPARISON[node.op]} {b}"
            return f"(1.0 if {test} else 0.0)" if self.flavour == SCALAR else f"_f({test})"
        word = "and" if node.op is Op.AND else "or"
        if self.flavour == SCALAR:
            return f"(1.0 if ({a} {word} {b}) else 0.0)"
        return f"_f(_np.logical_{word}({a}, {b}))"

    def _call(self, node: Call) -> str:
        template = self.calls.get(node.function)
        if template is None:
            variable = self.variable
            from .array_calls import ARRAY_CALLS  # (the array functions' own table)

            reason = (
                "works on subscripted variables (arrays of agents and their profiles); found numbers"
                if node.function in ARRAY_CALLS
                else "reached the compiler unlowered"
            )
            raise UnsupportedError(
                f"{node.function.upper()} {reason}",
                file=self.model.source,
                line=variable.line if variable else None,
                variable=variable.name if variable else None,
            )
        args = [self.expression(a) for a in node.args]
        if node.function == "ramp" and len(args) == 2:
            args.append("_inf")
        return template.format(*args)

    def assign(self, variable: Variable, expr: Expr) -> str:
        self.variable = variable
        return f"{self.local[variable.key]} = {self.expression(expr)}"

    # Hooks the array emitter (`arrays.ArrayEmitter`) overrides; here they keep the
    # text of scalar models exactly as it was.

    def preamble(self) -> list[str]:
        return []

    def value(self, variable: Variable, expr: Expr) -> str:
        self.variable = variable
        return self.expression(expr)

    def save_lines(self, saved: tuple[Variable, ...]) -> list[str]:
        return [f"out[row, cols[{j}]] = {self.local[v.key]}" for j, v in enumerate(saved)] + ["row += 1"]

    def saved_values(self, saved: tuple[Variable, ...]) -> str:
        return "".join(self.local[v.key] + ", " for v in saved)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which variable sits where in the state, the parameters and the outputs."""

    constants: tuple[Variable, ...]
    stocks: tuple[Variable, ...]
    memories: tuple[Variable, ...]
    auxiliaries: tuple[Variable, ...]  # in run order
    initials: tuple[Variable, ...]  # in initialisation order
    varying: frozenset[str]  # auxiliaries that change during a run (the rest are hoisted)
    driving: frozenset[str]  # varying auxiliaries the next state reads (the rest only report)
    outputs: tuple[Variable, ...]  # what a run reports, in model order
    reported: tuple[Variable, ...]  # what a run may report, inner variables too, in model order
    fixed: frozenset[str]  # constants and the auxiliaries hoisted out of the time loop
    dynamic_time: bool  # TIME STEP, SAVEPER or FINAL TIME change during the run


def _layout(model: Model) -> _Layout:
    for name in CONTROL_VARIABLES:
        if name not in model:
            raise UnsupportedError(
                f"the model does not define {name.upper()}", file=model.source, variable=name.upper()
            )
    auxiliaries = tuple(run_order(model))
    initials = tuple(initial_order(model))
    outputs = tuple(v for v in model.variables if v.kind is not Kind.LOOKUP and v.origin is None)
    varying = {"time"} | {v.key for v in model.of_kind(Kind.STOCK, Kind.MEMORY)}
    for v in auxiliaries:
        if v.dependencies & varying or _reads_clock(v.equation):  # type: ignore[arg-type]
            varying.add(v.key)
    driving = _read_by_the_state(model, frozenset(varying))
    reported = tuple(v for v in model.variables if v.kind is not Kind.LOOKUP)
    fixed = {v.key for v in model.constants} | {v.key for v in auxiliaries if v.key not in varying}
    return _Layout(
        constants=model.constants,
        stocks=model.stocks,
        memories=model.of_kind(Kind.MEMORY),
        auxiliaries=auxiliaries,
        initials=initials,
        varying=frozenset(varying),
        driving=driving,
        outputs=outputs,
        reported=reported,
        fixed=frozenset(fixed),
        dynamic_time=_time_dependent(model),
    )


def _read_by_the_state(model: Model, varying: frozenset[str]) -> frozenset[str]:
    """The varying auxiliaries that stocks' net flows and memories' next values read,
    directly or through others."""
    stack = [key for v in model.of_kind(Kind.STOCK, Kind.MEMORY) for key in references(v.equation)]
    found: set[str] = set()
    while stack:
        key = stack.pop()
        if key in found or key not in varying or key not in model:
            continue
        variable = model[key]
        if variable.kind is not Kind.AUXILIARY:
            continue
        found.add(key)
        stack.extend(references(variable.equation))
    return frozenset(found)


_CLOCK_FUNCTIONS = frozenset({"step", "ramp", "pulse", "pulse train"})


def _reads_clock(expr: Expr) -> bool:
    """Whether an equation reads the time through a function (STEP, RAMP, PULSE)."""
    return any(isinstance(n, Call) and n.function in _CLOCK_FUNCTIONS for n in walk(expr))


def _time_dependent(model: Model) -> bool:
    """Whether a control variable reads TIME or the state, directly or not."""
    seen: set[str] = set()
    stack = [n for n in CONTROL_VARIABLES if n in model and n != "initial time"]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name == "time":
            return True
        variable = model[name]
        if variable.kind in (Kind.STOCK, Kind.MEMORY):
            return True
        stack.extend(references(variable.equation) if variable.kind is not Kind.LOOKUP else ())
    return False


def _pairwise_sum(names: list[str]) -> str:
    """``a + b + c + d`` as ``((a + b) + (c + d))``: a tree the processor adds in
    parallel, where a chain would make every addition wait for the one before."""
    if len(names) == 1:
        return names[0]
    half = len(names) // 2
    return f"({_pairwise_sum(names[:half])} + {_pairwise_sum(names[half:])})"


def _indent(lines: list[str], depth: int) -> str:
    pad = "    " * depth
    return "\n".join(pad + line for line in lines)


class _Source:
    """The source text of one flavour's kernels."""

    def __init__(self, model: Model, layout: _Layout, flavour: str, tables: dict, lane: str = ""):
        self.model, self.layout, self.flavour, self.lane = model, layout, flavour, lane
        if model.dimensions and flavour == VECTOR:
            from .arrays import ArrayEmitter

            self.emit: _Emitter = ArrayEmitter(model, tables)
        else:
            self.emit = _Emitter(model, flavour, tables, lane)
        self.local = self.emit.local

    def names(self, variables: tuple[Variable, ...]) -> str:
        return "".join(self.local[v.key] + ", " for v in variables)

    def bind_constants(self) -> list[str]:
        lines = [f"{self.local[v.key]} = p{self.lane}[{j}]" for j, v in enumerate(self.layout.constants)]
        return lines + self.emit.preamble()

    def bind_state(self, source: str) -> list[str]:
        state = self.layout.stocks + self.layout.memories
        return [f"({self.names(state)}) = {source}"] if state else []

    def auxiliaries(self, which: str = "all") -> list[str]:
        """Assignments of the auxiliaries: ``"all"``, only the ``"static"`` ones
        (fixed for a whole run, computed once before the time loop), the ``"varying"``,
        or of those the ``"driving"`` ones (which the next state reads) and the
        ``"reporting"`` ones (read by nothing but a saved row)."""
        varying, driving = self.layout.varying, self.layout.driving
        chosen = {
            "all": lambda key: True,
            "static": lambda key: key not in varying,
            "varying": lambda key: key in varying,
            "driving": lambda key: key in driving,
            "reporting": lambda key: key in varying and key not in driving,
        }[which]
        return [
            self.emit.assign(v, v.equation)  # type: ignore[arg-type]
            for v in self.layout.auxiliaries
            if chosen(v.key)
        ]

    def rates(self) -> list[str]:
        lines = [
            f"d{j}{self.lane} = {self.emit.value(v, v.equation)}"  # type: ignore[arg-type]
            for j, v in enumerate(self.layout.stocks)
        ]
        lines += [
            f"n{j}{self.lane} = {self.emit.value(v, v.equation)}"  # type: ignore[arg-type]
            for j, v in enumerate(self.layout.memories)
        ]
        return lines

    def initial(self) -> str:
        lines = self.bind_constants()
        for v in self.layout.initials:
            if v.kind is Kind.CONSTANT:
                continue
            expr = v.initial if v.initial is not None else v.equation
            lines.append(self.emit.assign(v, expr))  # type: ignore[arg-type]
        lines.append(f"return ({self.names(self.layout.stocks + self.layout.memories)})")
        return "def initial(t, dt, p):\n" + _indent(lines, 1) + "\n"

    def evaluate(self, saved: tuple[Variable, ...]) -> str:
        n_stocks, n_memories = len(self.layout.stocks), len(self.layout.memories)
        lines = self.bind_constants() + self.bind_state("state") + self.auxiliaries() + self.rates()
        derivatives = "".join(f"d{j}, " for j in range(n_stocks))
        memories = "".join(f"n{j}, " for j in range(n_memories))
        lines.append(f"return ({derivatives}), ({memories}), ({self.emit.saved_values(saved)})")
        return "def evaluate(t, dt, state, p):\n" + _indent(lines, 1) + "\n"

    def update(self) -> list[str]:
        lines = []
        for j, v in enumerate(self.layout.stocks):
            name = self.local[v.key]
            step = f"{name} + dt * d{j}{self.lane}"
            if v.non_negative:
                step = f"_max({step}, 0.0)" if self.flavour == SCALAR else f"_np.maximum({step}, 0.0)"
            lines.append(f"{name} = {step}")
        lines += [f"{self.local[v.key]} = n{j}{self.lane}" for j, v in enumerate(self.layout.memories)]
        return lines

    def euler(self, saved: tuple[Variable, ...], every_step: bool = False) -> str:
        """The Euler loop, inlined. The last step is peeled off the loop (it saves
        but does not integrate), and with ``every_step`` (SAVEPER = TIME STEP)
        the save needs no test: both spare a branch on every step."""
        if self.flavour == SCALAR:
            save = [f"out.extend(({self.names(saved)}))"]
        else:
            save = self.emit.save_lines(saved)
        clock = ["t = t0 + k * dt"] if self.reads_time() else []
        varying = self.auxiliaries("varying")
        body = [*clock, *varying]
        body += save if every_step else ["if k % every == 0:", *["    " + line for line in save]]
        body += [*self.rates(), *self.update()]
        last = ["k = n", "t = t0 + n * dt", *varying, "if n % every == 0:", *["    " + line for line in save]]
        lines = [*self.bind_constants(), *self.bind_state("state"), "t = t0", *self.auxiliaries("static")]
        lines += ["row = 0", "for k in range(n):", *["    " + line for line in body], *last, "return out"]
        # ``cols``: where each saved value goes among the run's columns (numpy flavour)
        return "def euler(p, state, t0, dt, n, every, out, cols=()):\n" + _indent(lines, 1) + "\n"

    def euler_native(self, members: bool = False) -> str:
        """The whole run in the subset of Python that numba compiles: the initial
        values, then the Euler loop, writing the run's final (times, columns) array
        ``out``.

        What a run reports is an argument, not part of the text, so that one compiled
        kernel serves every choice of columns (each compile of a large model costs
        tens of seconds): ``index`` (`Plan.index`) holds the number of columns, then
        ``picks``, then ``where``: column ``c`` of a saved row is variable ``picks[c]``
        of `_Layout.reported`. Three ways to fill a row, each the cheapest for its case:

        - an empty ``picks`` asks for the default columns (`_Layout.outputs`, in
          order), written straight into the row, as a kernel for those columns alone
          would;
        - a few columns (`_switched`): each chosen by a switch on ``picks[c]`` (a
          jump table), so that they cost what they write. A switch costs a few
          nanoseconds a column more than a write;
        - more: every variable written straight to its column ``where[i]``, those
          not asked for to a spare column past the run's (`Plan.width`), where
          they overwrite each other.

        A kernel compiled for a few columns also skips whatever they do not read
        (the 300-variable model's first four stocks: 5% of its run); this one
        computes every variable, and those that only a saved row reads (no stock
        does) only at saved steps.

        The kernel returns the sum of every value it wrote: NaN and infinity
        survive a sum, so a finite total spares the caller a scan of the result.

        With ``members`` the run repeats for the rows of the parameter matrix ``P``
        (``out`` then has a run axis first), ``CompiledModel.lanes`` members side by
        side: each member's step is a chain of dependent operations, and the
        processor works on several independent chains at once. ``P`` holds a
        multiple of ``lanes`` rows.
        """
        if members:
            tables, count = self.emit.tables, _lanes(self.layout)
            lanes = [_Source(self.model, self.layout, self.flavour, tables, f"_{j}") for j in range(count)]
        else:
            lanes = [self]

        def together(part: Callable[[_Source], list[str]]) -> list[str]:
            return [line for group in zip(*map(part, lanes), strict=True) for line in group]

        starting = [
            (v, v.equation if v.initial is None else v.initial)
            for v in self.layout.initials
            if v.kind is not Kind.CONSTANT
        ]

        def initial(source: _Source) -> list[str]:
            return [source.emit.assign(v, e) for v, e in starting]  # type: ignore[arg-type]

        reported = self.layout.reported
        fixed = self.layout.fixed

        def cell(source: _Source, column: str) -> str:
            return f"out[m + {lanes.index(source)}, row, {column}]" if members else f"out[row, {column}]"

        def scatter(source: _Source) -> list[str]:
            lines = [f"{cell(source, f'where[{i}]')} = {source.local[v.key]}" for i, v in enumerate(reported)]
            names = [source.local[v.key] for v in reported if v.key not in fixed]
            return lines + ([f"total{source.lane} += {_pairwise_sum(names)}"] if names else [])

        def write(source: _Source) -> list[str]:
            outputs = self.layout.outputs
            lines = [f"{cell(source, str(j))} = {source.local[v.key]}" for j, v in enumerate(outputs)]
            names = [source.local[v.key] for v in outputs if v.key not in fixed]
            return lines + ([f"total{source.lane} += {_pairwise_sum(names)}"] if names else [])

        def switch() -> list[str]:  # ``c``: the column
            lines = ["j = picks[c]"]
            for i, v in enumerate(reported):
                lines.append(f"{'if' if i == 0 else 'elif'} j == {i}:")
                lines += [f"    x{source.lane} = {source.local[v.key]}" for source in lanes]
            lines += ["else:", *[f"    x{source.lane} = _nan" for source in lanes]]
            for source in lanes:
                lines += [f"{cell(source, 'c')} = x{source.lane}", f"total{source.lane} += x{source.lane}"]
            return lines

        # What only a saved row reads is computed only for saved rows.
        saving = [
            *together(lambda source: source.auxiliaries("reporting")),
            "if picks.shape[0] == 0:",
            *["    " + line for line in together(write)],
            f"elif picks.shape[0] <= {_switched(self.layout)}:",
            "    for c in range(picks.shape[0]):",
            *["        " + line for line in switch()],
            "else:",
            *["    " + line for line in together(scatter)],
            "row += 1",
        ]
        clock = ["t = t0 + k * dt"] if self.reads_time() else []
        varying = together(lambda source: source.auxiliaries("driving"))
        lines = [*together(_Source.bind_constants), "t = t0", *together(initial)]
        lines += [*together(lambda source: source.auxiliaries("static")), "row = 0"]
        # The last step saves but does not integrate. Leaving the loop there, rather
        # than peeling the step off, keeps one copy of the saving code: it is most of
        # the kernel, and compiling costs time in proportion.
        body = [
            *clock,
            *varying,
            "if k % every == 0:",
            *["    " + x for x in saving],
            "if k == n:",
            "    break",
        ]
        body += [*together(_Source.rates), *together(_Source.update)]
        lines += ["for k in range(n + 1):", *["    " + line for line in body]]
        totals = [f"total{source.lane}" for source in lanes]
        start = [f"{total} = 0.0" for total in totals]
        start += ["picks = index[1 : 1 + index[0]]", "where = index[1 + index[0] :]"]
        if members:
            rows = [f"    p_{j} = P[m + {j}]" for j in range(len(lanes))]
            loop = f"for m in range(0, P.shape[0], {len(lanes)}):"
            lines = [*start, loop, *rows, *["    " + x for x in lines]]
            head = "def euler(P, t0, dt, n, every, out, index):\n"
        else:
            lines = [*start, *lines]
            head = "def euler(p, t0, dt, n, every, out, index):\n"
        return head + _indent([*lines, f"return {' + '.join(totals)}"], 1) + "\n"

    def reads_time(self) -> bool:
        """Whether anything computed inside the time loop reads the clock."""
        inside = [v.equation for v in self.layout.auxiliaries if v.key in self.layout.varying]
        inside += [v.equation for v in self.layout.stocks + self.layout.memories]
        return any("time" in references(e) or _reads_clock(e) for e in inside)  # type: ignore[arg-type]

    def euler_dynamic(self, saved: tuple[Variable, ...]) -> str:
        """Euler for models whose TIME STEP, SAVEPER or FINAL TIME change as it runs.

        Time accumulates here (it cannot be ``t0 + k*dt`` when dt changes), and a
        value is saved whenever the time since the start is a multiple of SAVEPER.
        """
        control = {name: self.local[name] for name in CONTROL_VARIABLES}
        body = [
            *self.auxiliaries(),
            f"dt = {control['time step']}",
            f"saveper = {control['saveper']}",
            "q = (t - t0) / saveper",
            "if abs(q - round(q)) < 1e-9:",
            f"    out.append((t, {self.names(saved)}))",
            f"if t >= {control['final time']} - 1e-9 * abs(dt):",
            "    break",
            *self.rates(),
            *self.update(),
            "t = t + dt",
        ]
        lines = [*self.bind_constants(), *self.bind_state("state"), "t = t0", "dt = dt0"]
        lines += ["while True:", *["    " + line for line in body], "return out"]
        return "def euler_dynamic(p, state, t0, dt0, out):\n" + _indent(lines, 1) + "\n"


@dataclass(frozen=True, slots=True)
class Plan:
    """What one kind of run stores, worked out once per choice of columns."""

    names: tuple[str, ...]  # reported columns, as named in the model file
    saved: tuple[Variable, ...]  # time-varying columns the kernel stores, in kernel order
    saved_columns: tuple[int, ...]  # where each saved variable goes among ``names``
    constant_columns: tuple[int, ...]  # columns that are parameters ...
    constant_parameters: tuple[int, ...]  # ... and which parameter fills each
    dependencies: dict[str, tuple[str, ...]]  # for NaN reports: each saved variable's inputs
    order: tuple[str, ...]  # saved variables in evaluation order, for NaN reports
    # arrayed variables: name -> (dimension names, elements of each), their columns row-major
    dimensions: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = field(default_factory=dict)
    # when single elements were asked for (``Stock[a1]``): which of ``names`` a run keeps
    selected: tuple[int, ...] | None = None
    # what a native kernel writes (int64, one array: a kernel's every argument costs
    # its call): the number of columns, the position in `_Layout.reported` of each
    # (none for the default columns), then, when the kernel writes every variable,
    # the column of each, a spare one past ``names`` for those not asked for
    # (see `_Source.euler_native`)
    index: Any = None
    # columns of the array a native kernel fills: ``names`` and that spare one
    width: int = 0


class CompiledModel:
    """A model turned into kernels; built by `compile_model`, used by `simulate`.

    Attributes
    ----------
    model:
        The model it was compiled from.
    parameters:
        Names of the constants a run may override, in the order of ``defaults``.
    outputs:
        Names of the variables a run reports (stocks, auxiliaries, constants).
    """

    def __init__(self, model: Model, native: bool | None = None):
        self.model = model
        self._layout = _layout(model)
        layout = self._layout
        self.parameters: tuple[str, ...] = tuple(v.name for v in layout.constants)
        # Subscripted models run in numpy even for one run (the run axis then has
        # length 1): their equations are whole-array operations (see `arrays`).
        self.arrayed = bool(model.dimensions)
        self.defaults: tuple[Any, ...] = tuple(
            self._array_default(v) if v.dims else float(v.equation.value)  # type: ignore[union-attr]
            for v in layout.constants
        )
        self.outputs: tuple[str, ...] = tuple(v.name for v in layout.outputs)
        self.stocks: tuple[str, ...] = tuple(v.name for v in layout.stocks)
        self.dynamic_time = layout.dynamic_time
        self.lanes = _lanes(layout)  # ensemble members a native kernel runs side by side
        # Single Euler runs use numba-compiled kernels where numba is installed, unless
        # told otherwise: compiling costs seconds, worth it for a model run many times.
        self.native = native_kernels.by_default() if native is None else native and native_kernels.available()
        self.native = self.native and not self.arrayed
        # RANDOM draws call numpy and scipy, which machine code cannot: those runs stay interpreted.
        self.native = self.native and not noise.draws_random(model)
        self._parameter_index = {v.key: j for j, v in enumerate(layout.constants)}
        self._tables: dict[str, tuple[tuple, tuple]] = {}
        self._kernels: dict[tuple, Callable[..., Any]] = {}
        self._native_kernels: dict[bool, Callable[..., Any]] = {}
        self._control_cache: dict[tuple, Any] = {}  # simulation's Clock per parameter set
        self._plans: dict[tuple[str, ...] | None, Plan] = {}
        self._equations: dict[tuple, tuple[tuple[str, ...], Callable[..., Any]]] = {}
        # Compile both initial functions now so that a model the compiler cannot
        # handle fails here, at compile time, not in the middle of a run.
        if not self.arrayed:
            self.kernel(SCALAR, "initial")
        self.kernel(VECTOR, "initial")

    def __reduce__(self) -> tuple:
        # Kernels are generated code; ship the model and compile again on arrival.
        return CompiledModel, (self.model, self.native)

    def __repr__(self) -> str:
        return (
            f"<CompiledModel {self.model.name!r}: {len(self.outputs)} variables, {len(self.stocks)} stocks>"
        )

    def parameter_index(self, key: str) -> int | None:
        return self._parameter_index.get(key)

    def _array_default(self, variable: Variable) -> Any:
        from .arrays import Space, constant_value

        return constant_value(Space(self.model), variable)

    def shape(self, variable: Variable) -> tuple[int, ...]:
        """The sizes of a variable's dimensions; () for a scalar."""
        if not variable.dims:
            return ()
        from .arrays import Space

        return Space(self.model).shape(variable.dims)

    def width(self, saved: tuple[Variable, ...]) -> int:
        """Columns the kernels write for ``saved``: one per element."""
        if not self.arrayed:
            return len(saved)
        from .arrays import Space

        space = Space(self.model)
        return sum(space.width(v) for v in saved)

    def plan(self, columns: tuple[str, ...] | None = None) -> Plan:
        """What a run reporting ``columns`` (default: every output) stores, and where."""
        plan = self._plans.get(columns)
        if plan is None:
            model = self.model
            owners = () if columns is None else tuple(self._owner(c) for c in columns)
            wanted = self._layout.outputs if columns is None else tuple(dict.fromkeys(owners))
            # Arrayed constants go through the kernels, which write one column per element.
            saved = tuple(v for v in wanted if v.kind is not Kind.CONSTANT or v.dims)
            constants = [(j, v) for j, v in enumerate(wanted) if v.kind is Kind.CONSTANT and not v.dims]
            evaluation = {v.key: i for i, v in enumerate(self._layout.auxiliaries)}
            names, saved_columns, constant_columns = self._columns(wanted)
            index, spare = (None, 0) if self.arrayed else self._index(None if columns is None else wanted)
            plan = self._plans[columns] = Plan(
                names=names,
                saved=saved,
                saved_columns=saved_columns,
                constant_columns=constant_columns,
                constant_parameters=tuple(self._parameter_index[v.key] for _, v in constants),
                dependencies={
                    v.name: tuple(model[d].name for d in sorted(v.dependencies) if d in model) for v in saved
                },
                order=tuple(v.name for v in sorted(saved, key=lambda v: evaluation.get(v.key, -1))),
                dimensions=self._dimensions(tuple(v for v in wanted if not columns or v.name in columns)),
                selected=self._selected(columns, names),
                index=index,
                width=len(names) + spare,
            )
        return plan

    def _index(self, wanted: tuple[Variable, ...] | None) -> tuple[Any, int]:
        """`Plan.index` of a scalar model's run, and whether it writes a spare column."""
        import numpy as np

        reported, wanted = self._layout.reported, wanted or ()
        position = {v.key: i for i, v in enumerate(reported)}
        picks = [position[v.key] for v in wanted]
        where: list[int] = []
        if len(wanted) > _switched(self._layout):
            column = {v.key: c for c, v in enumerate(wanted)}
            where = [column.get(v.key, len(wanted)) for v in reported]
        index = np.array([len(picks), *picks, *where], dtype=np.int64)
        index.flags.writeable = False
        return index, int(bool(where) and len(wanted) < len(reported))

    def _owner(self, column: str) -> Variable:
        """The variable a column belongs to: ``Stock[a1]`` to ``Stock``."""
        variable = self.model.get(column)
        if variable is None and "[" in column:
            variable = self.model.get(column[: column.index("[")])
        if variable is None:
            raise KeyError(f"no variable named {column!r} in {self.model.name}")
        return variable

    def _selected(self, columns: tuple[str, ...] | None, names: tuple[str, ...]) -> tuple[int, ...] | None:
        if columns is None or all(c in self.model for c in columns):
            return None
        from .arrays import Space

        space = Space(self.model)
        position = {canonical(n): j for j, n in enumerate(names)}
        selected: list[int] = []
        for column in columns:
            whole = self.model.get(column)
            parts = space.columns(whole) if whole is not None else [column]
            selected.extend(position[canonical(p)] for p in parts)
        return tuple(selected)

    def _dimensions(
        self, wanted: tuple[Variable, ...]
    ) -> dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]]:
        by_key = {d.key: d for d in self.model.dimensions}
        return {
            v.name: (tuple(by_key[d].name for d in v.dims), tuple(by_key[d].elements for d in v.dims))
            for v in wanted
            if v.dims
        }

    def _columns(
        self, wanted: tuple[Variable, ...]
    ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
        """Column names (one per element, ``Name[a1,b2]``) and where saved variables
        and scalar constants go among them."""
        if not self.arrayed:
            saved = tuple(j for j, v in enumerate(wanted) if v.kind is not Kind.CONSTANT)
            constant = tuple(j for j, v in enumerate(wanted) if v.kind is Kind.CONSTANT)
            return tuple(v.name for v in wanted), saved, constant
        from .arrays import Space

        space = Space(self.model)
        names: list[str] = []
        saved_columns: list[int] = []
        constant_columns: list[int] = []
        for v in wanted:
            columns = space.columns(v)
            place = saved_columns if v.kind is not Kind.CONSTANT or v.dims else constant_columns
            place.extend(range(len(names), len(names) + len(columns)))
            names.extend(columns)
        return tuple(names), tuple(saved_columns), tuple(constant_columns)

    def native_kernel(self, members: bool) -> Callable[..., Any]:
        """The machine-code Euler run, for one run or for ensemble members (see
        `_Source.euler_native`), whatever columns it reports (``plan(...).index``);
        found in one dictionary lookup, as a single run's fixed cost is counted in
        microseconds."""
        kernel = self._native_kernels.get(members)
        if kernel is None:
            kind = "euler_native_members" if members else "euler_native"
            kernel = self._native_kernels[members] = self.kernel(SCALAR, kind)
        return kernel

    def kernel(self, flavour: str, kind: str, saved: tuple[Variable, ...] = ()) -> Callable[..., Any]:
        """The generated function ``kind`` ('initial', 'evaluate', 'euler',
        'euler_every_step', 'euler_dynamic') of one flavour, generated on first use and kept."""
        key = (flavour, kind, tuple(map(id, saved)))
        function = self._kernels.get(key)
        if function is None:
            source = _Source(self.model, self._layout, flavour, self._tables)
            if kind in ("euler_native", "euler_native_members"):
                text = source.euler_native(members=kind == "euler_native_members")
                function = self._kernels[key] = native_kernels.build(text, dict(self._tables), "euler")
                return function
            if kind == "initial":
                text = source.initial()
            elif kind == "euler_every_step":
                text = source.euler(saved, every_step=True)
            else:
                text = getattr(source, kind)(saved)
            namespace: dict[str, Any] = dict(
                builtins.SCALAR_NAMESPACE if flavour == SCALAR else builtins.VECTOR_NAMESPACE
            )
            code = compile(text, f"<nestedsystems {kind} {flavour}>", "exec")
            namespace.update(self._table_values(flavour))
            exec(code, namespace)  # generated from indices and numbers only (see module docstring)
            function = self._kernels[key] = namespace[kind.removesuffix("_every_step")]
        return function

    def _table_values(self, flavour: str) -> dict[str, Any]:
        if flavour == SCALAR:
            return dict(self._tables)
        import numpy as np

        values: dict[str, Any] = {
            name: (np.asarray(x, float), np.asarray(y, float))
            for name, (x, y) in ((n, t) for n, t in self._tables.items() if not n.startswith("_K"))
        }
        if self.arrayed:
            from .arrays import ARRAY_NAMESPACE

            values.update(ARRAY_NAMESPACE)
            values.update((n, t) for n, t in self._tables.items() if n.startswith("_K"))
        return values

    def equation_function(
        self, name: str, expression: Expr | None = None
    ) -> tuple[tuple[str, ...], Callable[..., Any]]:
        """A variable's equation as a vectorised function of its inputs.

        Returns the input names (canonical keys; ``"time"`` when it reads the clock)
        and ``fn(*inputs)``. For a stock the function gives its net flow. Used by
        loop analysis to re-evaluate one equation with one input moved. In a
        subscripted model inputs and result are whole arrays, ``(*dims, R)``, and
        ``fn`` takes the run axis' length as ``_R``. `expression`, when given, is
        read instead, over the variable's subscripts (one term of a net flow).
        """
        variable = self.model[name]
        key = (variable.key, expression)
        if key in self._equations:
            return self._equations[key]
        if variable.kind is Kind.LOOKUP:
            raise ValueError(f"{variable.name!r} is a lookup, not an equation")
        expr = variable.equation if expression is None else expression
        read = {
            n for n in references(expr) if self.model.get(n) is None or self.model[n].kind is not Kind.LOOKUP
        }
        if _reads_clock(expr):  # type: ignore[arg-type]
            read.add("time")  # STEP, RAMP and PULSE read the clock without naming TIME
        inputs = tuple(sorted(read))
        if self.arrayed:
            from .arrays import ArrayEmitter

            arrayed = ArrayEmitter(self.model, self._tables)
            emitter: _Emitter = arrayed
            body, keywords = arrayed.value(variable, expr), ["dt=0.0", "_R=1"]  # type: ignore[arg-type]
        else:
            emitter = _Emitter(self.model, VECTOR, self._tables)
            body, keywords = emitter.expression(expr), ["dt=0.0"]  # type: ignore[arg-type]
        arguments = ", ".join(["t" if n == "time" else emitter.local[n] for n in inputs] + keywords)
        text = f"def equation({arguments}):\n    return {body}\n"
        namespace: dict[str, Any] = dict(builtins.VECTOR_NAMESPACE)
        namespace.update(self._table_values(VECTOR))
        exec(compile(text, "<nestedsystems equation>", "exec"), namespace)
        self._equations[key] = (inputs, namespace["equation"])
        return self._equations[key]


@functools.lru_cache(maxsize=64)
def compile_model(model: Model | CompiledModel, *, native: bool | None = None) -> CompiledModel:
    """Compile `model` into kernels (cached: the same model compiles once).

    Parameters
    ----------
    model:
        A loaded (and lowered) `Model`.
    native:
        Run single Euler runs as machine code (numba). Default: when numba is
        installed. The first run of a model then compiles for a few seconds (kept
        on disk for later processes); worth it for a model run many times
        (dashboards, calibration), not for one quick run.

    Returns
    -------
    CompiledModel
    """
    if isinstance(model, CompiledModel):
        return model
    return CompiledModel(model, native)
