"""Write a `Model` as an XMILE 1.0 document (isee Stella/iThink): `save_xmile`.

The document is built with `xml.etree.ElementTree`, which escapes every name, unit
and line of documentation: nothing from the model is pasted into markup.

What is written, and how it reads back through `load` (PySD's XMILE parser):

- ``<sim_specs>`` from INITIAL TIME, FINAL TIME and TIME STEP. XMILE has no SAVEPER:
  a run of the written file saves every TIME STEP.
- A stock's net flow, when it is a sum of plain references to auxiliaries, lists
  them as ``<inflow>``/``<outflow>`` (written as ``<flow>``); any other net flow
  becomes a flow of its own, ``<stock> net flow``, as XMILE names only flows there.
  A non-negative stock says so (``<non_negative/>``).
- Lookups are ``<gf>`` with their points (``<xpts>``, exact, beside the scale);
  an inline table that is a whole equation is the auxiliary's own ``<gf>``, any
  other gets a graphical function of its own, ``<variable> data``.
- Stateful calls as the modeler wrote them (`Variable.written`), in XMILE's
  spelling: SMTH1, SMTH3, SMTHN, DELAY1, DELAY3, DELAYN, DELAY (Vensim's DELAY
  FIXED), TREND, FORCST, INIT; XIDZ and ZIDZ are SAFEDIV; Vensim's PULSE and
  QUANTUM, which XMILE lacks, are written as the IF THEN ELSE they compute.
- Names in equations with underscores for spaces, quoted when they hold anything
  else; the control variables as PySD's XMILE reader names them (TIME_STEP, ...).
- Subscripts: ``<dimensions>`` and arrayed variables, defined over their whole
  dimensions or element by element.
- One ``<view>`` per `Variable.group`, laid out by `sketch`.

Refused with `NotWritableError`, naming the variable, the construct and why: Vensim
functions XMILE has no counterpart for (or that PySD's XMILE reader cannot read
back): vector and allocation functions, RANDOM, ACTIVE INITIAL, SAMPLE IF TRUE,
NPV, DELAY CONVEYOR, ...; subscript mappings; lookups read forward or inverted.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from .expressions import (
    Binary,
    Call,
    Defined,
    Expr,
    If,
    LookupCall,
    LookupMode,
    Number,
    Numbers,
    Op,
    Position,
    Ref,
    Table,
    Unary,
    UnaryOp,
    canonical,
    rebuild,
    references,
)
from .mdl_writer import NOT_AVAILABLE, NotWritableError, _as_written, _read_as_written
from .model import CONTROL_VARIABLES, Dimension, Kind, Model, Variable

__all__ = ["XMILE_NAMESPACE", "save_xmile", "to_xmile"]

XMILE_NAMESPACE = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"
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
_GF_TYPES = {LookupMode.INTERPOLATE: "continuous", LookupMode.EXTRAPOLATE: "extrapolate"}
_GF_TYPES[LookupMode.BACKWARD] = "discrete"
# A stock's inflows and outflows (keys), and the net flow made for it, if any.
_Flows = tuple[list[str], list[str], str | None]
_KEYWORDS = {"and", "or", "not", "mod", "if", "then", "else"}
_PLAIN = re.compile(r"[^\W\d]\w*")
# What the control variables are called in PySD's XMILE reader (XMILE's DT,
# STARTTIME and STOPTIME it does not know).
_CONTROL_NAMES = {"initial time": "INITIAL_TIME", "final time": "FINAL_TIME", "time step": "TIME_STEP"}
_CONTROL_NAMES |= {"saveper": "TIME_STEP", "time": "TIME"}


def save_xmile(model: Model, path: str | Path) -> Path:
    """Write `model` as an XMILE 1.0 file (``.xmile``, ``.stmx``, ``.xml``).

    Raises
    ------
    NotWritableError
        A construct XMILE cannot express, named with its variable and the reason.
    """
    path = Path(path)
    path.write_text(to_xmile(model), encoding="utf-8")
    return path


def to_xmile(model: Model) -> str:
    """The text of `model` as an XMILE 1.0 document."""
    root = _Document(model).build()
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def xmile_name(name: str) -> str:
    """A name as an XMILE ``name`` attribute holds it: Vensim's quotes dropped."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attributes)
    if text is not None:
        node.text = text
    return node


class _Document:
    """One model's XMILE tree: equations as text, variables as elements."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.spelled: dict[str, str] = {}
        for dimension in model.dimensions:
            self.spelled.setdefault(dimension.key, dimension.name)
            for key, element in zip(dimension.element_keys, dimension.elements, strict=True):
                self.spelled.setdefault(key, element)
        for variable in model.variables:
            self.spelled[variable.key] = variable.name
        made = {v.key: v for v in model.variables if v.origin is not None}
        read = _read_as_written(model, made)
        self.internal = {k: v for k, v in made.items() if k not in read}
        self.written = [
            v
            for v in model.variables
            if v.key not in CONTROL_VARIABLES and not (v.origin is not None and v.key in self.internal)
        ]
        self.current: Variable | None = None
        self.taken = {canonical(n) for n in self.spelled.values()}
        self.made: list[ET.Element] = []  # graphical functions made for the current variable

    # -- errors and names

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
        if key in _CONTROL_NAMES:
            return _CONTROL_NAMES[key]
        if key in self.internal:
            raise self.error(
                f"it reads {self.spelled.get(key, key)!r}, made by lowering a stateful function "
                "the IR no longer holds as written"
            )
        return _in_equation(self.attribute_name(self.spelled.get(key, key)))

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
            return "NOT " + self.expr(e.operand, _NOT), _NOT
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
        if value == NOT_AVAILABLE:
            value = float(NOT_AVAILABLE)  # Vensim's :NA: is this number; XMILE has no word for it
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
        self.made.append(self.gf(ET.Element("gf", name=name), Table(table.x, table.y, mode or table.mode)))
        return f"{_in_equation(name)}({argument})"

    # -- elements

    def gf(self, node: ET.Element, table: Table) -> ET.Element:
        kind = _GF_TYPES.get(table.mode)
        if kind is None:
            raise self.error(f"a lookup read {table.mode.value}, which an XMILE graphical function cannot be")
        node.set("type", kind)
        num = lambda v: self.number(v)[0]  # noqa: E731
        _element(node, "xscale", min=num(min(table.x)), max=num(max(table.x)))
        _element(node, "yscale", min=num(min(table.y)), max=num(max(table.y)))
        _element(node, "xpts", ",".join(num(x) for x in table.x))
        _element(node, "ypts", ",".join(num(y) for y in table.y))
        return node

    def equation(self, node: ET.Element, equation: Expr | Table) -> None:
        """The `<eqn>` of `node` (an auxiliary's own graphical function, when the
        equation is a table read at its argument)."""
        if isinstance(equation, LookupCall) and isinstance(equation.table, Table) and equation.mode is None:
            _element(node, "eqn", self.expr(equation.argument))
            self.gf(_element(node, "gf"), equation.table)
        else:
            _element(node, "eqn", self.expr(equation))

    def build(self) -> ET.Element:
        model = self.model
        root = ET.Element("xmile", {"version": "1.0", "xmlns": XMILE_NAMESPACE})
        header = _element(root, "header")
        if model.dimensions:
            options = _element(header, "options")
            depth = max((len(v.dims) for v in model.variables), default=1)
            _element(options, "uses_arrays", maximum_dimensions=str(max(depth, 1)))
        _element(header, "name", model.name)
        _element(header, "vendor", "nestedsystems")
        _element(header, "product", "nestedsystems", version="1.0", lang="en")
        self.sim_specs(root)
        if model.dimensions:
            dims = _element(root, "dimensions")
            for dimension in model.dimensions:
                self.dimension(dims, dimension)
        body = _element(root, "model")
        variables = _element(body, "variables")
        flows = self.flows()
        for variable in self.written:
            for node in self.variable(variable, flows):
                variables.append(node)
        from .sketch import places  # networkx is imported only when a diagram is drawn

        self.views(_element(body, "views"), flows, places(model))
        return root

    def sim_specs(self, root: ET.Element) -> None:
        specs = _element(root, "sim_specs", method="Euler", time_units=self.model.time_units)
        for tag, key in (("start", "initial time"), ("stop", "final time"), ("dt", "time step")):
            variable = self.model.get(key)
            if variable is None:
                raise NotWritableError(f"cannot write it as XMILE: the model has no {key.upper()}")
            self.current = variable
            _element(specs, tag, self.expr(_as_written(variable)[0]))

    def dimension(self, parent: ET.Element, dimension: Dimension) -> None:
        if dimension.mapping:
            raise NotWritableError(
                f"cannot write it as XMILE: the subscript range {dimension.name!r} maps onto another (->), "
                "which XMILE has no way to say",
                file=self.model.source,
            )
        node = _element(parent, "dim", name=self.attribute_name(dimension.name))
        for element in dimension.elements:
            _element(node, "elem", name=self.attribute_name(element))

    def flows(self) -> dict[str, _Flows]:
        """Each stock's inflows and outflows (keys), and the name of the net flow
        made here when XMILE cannot list its flows (anything but a sum of auxiliaries)."""
        claimed: set[tuple[str, int]] = set()
        found: dict[str, _Flows] = {}
        for stock in (v for v in self.written if v.kind is Kind.STOCK):
            equation = _as_written(stock)[0]
            terms = _terms(equation)
            keys = [k for k, _ in terms]
            fits = len(set(keys)) == len(keys)
            for key, sign in terms:
                flow = self.model.get(key)
                fits = fits and flow is not None and flow.kind in (Kind.AUXILIARY, Kind.CONSTANT)
                fits = fits and flow is not None and flow.dims == stock.dims and flow.initial is None
                fits = fits and key not in self.internal and (key, sign) not in claimed
            if equation == Number(0.0):
                found[stock.key] = ([], [], None)
            elif terms and fits:
                claimed.update(terms)
                found[stock.key] = ([k for k, s in terms if s > 0], [k for k, s in terms if s < 0], None)
            else:
                found[stock.key] = ([], [], self.fresh(xmile_name(stock.name) + " net flow"))
        return found

    def variable(self, variable: Variable, flows: dict[str, _Flows]) -> Iterator[ET.Element]:
        self.current, self.made = variable, []
        equation, initial = _as_written(variable)
        is_flow = any(variable.key in i or variable.key in o for i, o, _ in flows.values())
        if variable.kind is Kind.MEMORY:
            raise self.error("a memory that no stateful function of the file accounts for")
        if variable.kind is not Kind.STOCK and initial is not None:
            raise self.error(f"ACTIVE INITIAL: {_NO_COUNTERPART['active initial']}")
        if variable.kind is Kind.LOOKUP and variable.dims:
            raise self.error("an arrayed lookup: PySD's XMILE reader reads one table per graphical function")
        tag = {Kind.STOCK: "stock", Kind.LOOKUP: "gf"}.get(variable.kind, "flow" if is_flow else "aux")
        node = ET.Element(tag, name=self.attribute_name(variable.name))
        made: list[ET.Element] = []
        if variable.dims:
            dims = _element(node, "dimensions")
            for d in variable.dims:
                _element(dims, "dim", name=self.attribute_name(self.spelled.get(d, d)))
        if variable.kind is Kind.STOCK:
            inflows, outflows, net = flows[variable.key]
            if initial is None:
                raise self.error("a stock without an initial value")
            if isinstance(equation, Defined) or isinstance(initial, Defined):
                raise self.error("a stock defined element by element, which XMILE's stocks cannot be")
            _element(node, "eqn", self.expr(initial))
            for key in inflows:
                _element(node, "inflow", self.name(key))
            for key in outflows:
                _element(node, "outflow", self.name(key))
            if net is not None:
                _element(node, "inflow", _in_equation(net))
                made.append(self.net_flow(variable, net, equation))
            if variable.non_negative:
                _element(node, "non_negative")
        elif isinstance(equation, Table):
            self.gf(node, equation)
        elif isinstance(equation, (Defined, Numbers)):
            self.elements(node, variable, equation)
        else:
            self.equation(node, equation)
        self.describe(node, variable)
        yield from self.made
        yield node
        yield from made

    def net_flow(self, stock: Variable, name: str, equation: Expr | Table) -> ET.Element:
        node = ET.Element("flow", name=name)
        if stock.dims:
            dims = _element(node, "dimensions")
            for d in stock.dims:
                _element(dims, "dim", name=self.attribute_name(self.spelled.get(d, d)))
        _element(node, "eqn", self.expr(equation))
        _element(node, "doc", f"The net flow of {xmile_name(stock.name)}, which XMILE lists by flows.")
        return node

    def elements(self, node: ET.Element, variable: Variable, equation: Defined | Numbers) -> None:
        """An arrayed variable defined element by element (or by a list of numbers)."""
        by_key = {d.key: d for d in self.model.dimensions}
        spans = [by_key[d].element_keys for d in variable.dims]
        cells = list(itertools.product(*spans))
        parts: list[tuple[tuple[str, ...], Expr | Table]]
        if isinstance(equation, Numbers):
            parts = [(cell, Number(v)) for cell, v in zip(cells, equation.values, strict=True)]
        else:
            parts = []
            for selector, part in equation.parts:
                if selector.excepted:
                    raise self.error("a definition with :EXCEPT:, which XMILE has no way to say")
                covered = [by_key[s].element_keys if s in by_key else (s,) for s in selector.subscripts]
                for n, cell in enumerate(itertools.product(*covered)):
                    binding = {s: c for s, c in zip(selector.subscripts, cell, strict=True) if s in by_key}
                    parts.append((cell, self.bind(part, binding, n)))
        for cell, part in parts:
            child = _element(
                node, "element", subscript=",".join(self.attribute_name(self.spelled[c]) for c in cell)
            )
            if isinstance(part, Table):
                raise self.error(
                    "an arrayed lookup: PySD's XMILE reader reads one table per graphical function"
                )
            # PySD reads the variable's own <gf> only, not an element's: a table
            # read here gets a graphical function of its own.
            _element(child, "eqn", self.expr(part))

    def bind(self, part: Expr | Table, binding: dict[str, str], n: int) -> Expr | Table:
        """One element's equation out of a part defined over ranges: each range
        read at the element being defined."""
        if isinstance(part, Table):
            return part
        if isinstance(part, Numbers):
            return Number(part.values[n])

        def visit(e: Expr) -> Expr | None:
            if isinstance(e, Ref) and e.subscripts:
                return Ref(e.name, tuple(binding.get(s, s) for s in e.subscripts))
            return None

        return rebuild(part, visit)

    def describe(self, node: ET.Element, variable: Variable) -> None:
        if variable.units:
            _element(node, "units", " ".join(variable.units.split()))
        if variable.documentation:
            _element(node, "doc", variable.documentation)
        # XMILE's range has both ends (PySD reads none without both): a one-sided
        # Vensim range is left out.
        limits = variable.range
        bounds = (limits.minimum, limits.maximum)
        if variable.kind is not Kind.LOOKUP and all(b is not None and math.isfinite(b) for b in bounds):
            low, high = (self.number(b)[0] for b in bounds if b is not None)
            _element(node, "range", min=low, max=high)

    # -- the diagram

    def views(
        self, parent: ET.Element, flows: dict[str, _Flows], places: dict[str, tuple[str, int, int]]
    ) -> None:
        """One view per group: stocks, flows (a pipe between their stocks, or from or
        to a cloud), auxiliaries, and a connector for every link read in a view."""
        names = {v.key: xmile_name(v.name) for v in self.written}
        ends: dict[str, list[str | None]] = {}  # flow -> [stock it drains, stock it fills]
        for stock, (inflows, outflows, net) in flows.items():
            for key in [*inflows, *([canonical(net)] if net else [])]:
                ends.setdefault(key, [None, None])[1] = stock
            for key in outflows:
                ends.setdefault(key, [None, None])[0] = stock
            if net is not None:
                names[canonical(net)] = net
        spots = {v.key: places.get(v.key, ("", 0, 0)) for v in self.written}
        for key, (source, target) in ends.items():
            if key not in spots:  # a net flow made here: beside its stock
                view, x, y = spots[target or source or ""]
                spots[key] = (view, x - 130, y + 60)
        views: dict[str, ET.Element] = {}
        for key, (view, x, y) in spots.items():
            if view not in views:
                views[view] = _element(parent, "view", name=view or "View 1")
            variable = self.model.get(key)
            kind = "flow" if key in ends else "stock" if variable and variable.kind is Kind.STOCK else "aux"
            node = _element(views[view], kind, name=names[key], x=str(x), y=str(y))
            if kind == "flow":
                source, target = ends[key]
                points = _element(node, "pts")
                left = spots[source][1] + 45 if source else x - 120
                right = spots[target][1] - 45 if target else x + 120
                _element(points, "pt", x=str(left), y=str(y))
                _element(points, "pt", x=str(right), y=str(y))
        uid = itertools.count()
        for variable in self.written:
            if variable.kind in (Kind.STOCK, Kind.LOOKUP):
                continue  # a stock is read through its pipes, not connectors
            view = spots[variable.key][0]
            for read in sorted(_reads(variable)):
                if read in spots and read != variable.key and spots[read][0] == view:
                    connector = _element(views[view], "connector", uid=str(next(uid)))
                    _element(connector, "from", names[read])
                    _element(connector, "to", names[variable.key])


def _in_equation(name: str) -> str:
    """A name as an XMILE equation reads it: underscores for spaces, quoted when it
    holds anything else or could read as a keyword or a number (PySD's grammar
    reads a leading "not" as the operator)."""
    plain = "_".join(name.split())
    lower = plain.lower()
    if _PLAIN.fullmatch(plain) and lower not in _KEYWORDS and not lower.startswith("not"):
        return plain
    return f'"{name}"'


def _reads(variable: Variable) -> frozenset[str]:
    equation, initial = _as_written(variable)
    return references(None if isinstance(equation, Table) else equation) | references(initial)


def _terms(expr: Expr | Table, sign: int = 1) -> list[tuple[str, int]]:
    """The (flow, sign) terms of a net flow written as a sum of plain references;
    empty when it is anything else."""
    if isinstance(expr, Ref) and not expr.subscripts and expr.name != "time":
        return [(expr.name, sign)]
    if isinstance(expr, Unary) and expr.op is UnaryOp.NEG:
        inner = _terms(expr.operand, -sign)
        return inner
    if isinstance(expr, Binary) and expr.op in (Op.ADD, Op.SUB):
        left, right = _terms(expr.left, sign), _terms(expr.right, -sign if expr.op is Op.SUB else sign)
        return left + right if left and right else []
    return []


def _pulse(start: Expr, width: Expr) -> Expr:
    """Vensim's PULSE(start, width) as the IF THEN ELSE it computes: 1 from start
    (less Vensim's small number) for width, or one TIME STEP when width is 0."""
    span = If(Binary(Op.GT, width, Number(0.0)), width, Ref("time step"))
    began = Binary(Op.LE, Binary(Op.SUB, start, Number(SMALL)), Ref("time"))
    running = Binary(Op.LT, Ref("time"), Binary(Op.ADD, start, span))
    return If(Binary(Op.AND, began, running), Number(1.0), Number(0.0))
