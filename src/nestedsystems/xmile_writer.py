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
- Equations as the modeler wrote them (stateful calls included, `Variable.written`),
  in XMILE's syntax and function names (`xmile_equations`).
- Subscripts: ``<dimensions>`` and arrayed variables, defined over their whole
  dimensions or element by element.
- One ``<view>`` per `Variable.group`, laid out by `sketch`.

Refused with `NotWritableError`, naming the variable, the construct and why: what
XMILE cannot say or PySD's XMILE reader cannot read back (Vensim-only functions,
subscript mappings, EXCEPT, stocks or lookups defined element by element, lookups
read forward), and names XMILE cannot spell.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from .arrays import Space
from .expressions import (
    Binary,
    Defined,
    Expr,
    LookupCall,
    LookupMode,
    Number,
    Numbers,
    Op,
    Position,
    Ref,
    Selector,
    Table,
    Unary,
    UnaryOp,
    canonical,
    rebuild,
    references,
    walk,
)

# What "as the modeler wrote it" means is the .mdl writer's, shared by both writers.
from .mdl_writer import NotWritableError, _read_as_written
from .model import CONTROL_VARIABLES, Dimension, Kind, Model, Variable
from .xmile_equations import CONTROLS, Equations, in_equation, xmile_name

__all__ = ["XMILE_NAMESPACE", "not_carried", "save_xmile", "to_xmile", "xmile_name"]

XMILE_NAMESPACE = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"

_GF_TYPES = {LookupMode.INTERPOLATE: "continuous", LookupMode.EXTRAPOLATE: "extrapolate"}
_GF_TYPES[LookupMode.BACKWARD] = "discrete"
# A stock's inflows and outflows (keys), and the net flow made for it, if any.
_Flows = tuple[list[str], list[str], str | None]


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


def not_carried(model: Model) -> tuple[str, ...]:
    """What of `model` an XMILE file does not keep, each in a sentence: the file
    runs the same, but these are gone from it (XMILE has no place for them)."""
    lost = []
    if model.checks:
        inputs = sum(check.test_input for check in model.checks)
        constraints = len(model.checks) - inputs
        lost.append(
            f"its Reality Checks ({constraints} constraint(s), {inputs} test input(s)): XMILE has none"
        )
    saveper, time_step = model.get("saveper"), model.get("time step")
    if (
        saveper is not None
        and time_step is not None
        and saveper.equation not in (Ref("time step"), time_step.equation)
    ):
        lost.append("SAVEPER: XMILE has no save interval, so a run of the file saves every TIME STEP")
    return tuple(lost)


def to_xmile(model: Model) -> str:
    """The text of `model` as an XMILE 1.0 document."""
    root = _Document(model).build()
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attributes)
    if text is not None:
        node.text = text
    return node


class _Document:
    """One model's XMILE tree: its variables as elements, its diagram as views."""

    def __init__(self, model: Model) -> None:
        self.model = model
        made = {v.key: v for v in model.variables if v.origin is not None}
        read = _read_as_written(model, made)
        internal = {k: v for k, v in made.items() if k not in read}
        self.eq = Equations(model, internal)
        self.written = [
            v for v in model.variables if v.key not in CONTROL_VARIABLES and v.key not in internal
        ]

    def gf(self, node: ET.Element, table: Table) -> ET.Element:
        kind = _GF_TYPES.get(table.mode)
        if kind is None:
            raise self.eq.error(
                f"a lookup read {table.mode.value}, which an XMILE graphical function cannot be"
            )
        node.set("type", kind)
        num = lambda v: self.eq.number(v)[0]  # noqa: E731
        _element(node, "xscale", min=num(min(table.x)), max=num(max(table.x)))
        _element(node, "yscale", min=num(min(table.y)), max=num(max(table.y)))
        _element(node, "xpts", ",".join(num(x) for x in table.x))
        _element(node, "ypts", ",".join(num(y) for y in table.y))
        return node

    def equation(self, node: ET.Element, equation: Expr | Table) -> None:
        """The `<eqn>` of `node` (an auxiliary's own graphical function, when the
        equation is a table read at its argument)."""
        if isinstance(equation, LookupCall) and isinstance(equation.table, Table) and equation.mode is None:
            _element(node, "eqn", self.eq.expr(equation.argument))
            self.gf(_element(node, "gf"), equation.table)
        else:
            _element(node, "eqn", self.eq.expr(equation))

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
        # Equations read the control variables by the names PySD's reader gives
        # them; defined here as XMILE's own, they read the same in Stella. PySD
        # skips an auxiliary named like a control variable and keeps its own.
        for key in sorted(self.eq.controls):
            control = _element(variables, "aux", name=self.model[key].name)
            _element(control, "eqn", CONTROLS[key])
            _element(control, "doc", f"XMILE's {CONTROLS[key]}, under the name the equations read.")
        from .sketch import places  # networkx is imported only when a diagram is drawn

        self.views(_element(body, "views"), flows, places(model))
        return root

    def sim_specs(self, root: ET.Element) -> None:
        specs = _element(root, "sim_specs", method="Euler")
        if self.model.time_units:
            specs.set("time_units", self.model.time_units)
        for tag, key in (("start", "initial time"), ("stop", "final time"), ("dt", "time step")):
            variable = self.model.get(key)
            if variable is None:
                raise self.eq.error(f"the model has no {key.upper()}, which XMILE's <{tag}> needs")
            self.eq.current = variable
            _element(specs, tag, self.eq.expr(variable.as_written[0]))

    def dimension(self, parent: ET.Element, dimension: Dimension) -> None:
        if dimension.mapping:
            raise NotWritableError(
                f"cannot write it as XMILE: the subscript range {dimension.name!r} maps onto another (->), "
                "which XMILE has no way to say",
                file=self.model.source,
            )
        node = _element(parent, "dim", name=self.eq.attribute_name(dimension.name))
        for element in dimension.elements:
            _element(node, "elem", name=self.eq.attribute_name(element))

    def flows(self) -> dict[str, _Flows]:
        """Each stock's inflows and outflows (keys), and the name of the net flow
        made here when XMILE cannot list its flows (anything but a sum of auxiliaries)."""
        claimed: set[tuple[str, int]] = set()
        found: dict[str, _Flows] = {}
        for stock in (v for v in self.written if v.kind is Kind.STOCK):
            equation = stock.as_written[0]
            terms = _terms(equation)
            keys = [k for k, _ in terms]
            fits = len(set(keys)) == len(keys)
            for key, sign in terms:
                flow = self.model.get(key)
                fits = fits and flow is not None and flow.kind in (Kind.AUXILIARY, Kind.CONSTANT)
                fits = fits and flow is not None and flow.dims == stock.dims and flow.initial is None
                fits = fits and key not in self.eq.internal and (key, sign) not in claimed
            if equation == Number(0.0):
                found[stock.key] = ([], [], None)
            elif terms and fits:
                claimed.update(terms)
                found[stock.key] = ([k for k, s in terms if s > 0], [k for k, s in terms if s < 0], None)
            else:
                found[stock.key] = ([], [], self.eq.fresh(xmile_name(stock.name) + " net flow"))
        return found

    def variable(self, variable: Variable, flows: dict[str, _Flows]) -> Iterator[ET.Element]:
        self.eq.current, self.eq.made = variable, []
        equation, initial = variable.as_written
        is_flow = any(variable.key in i or variable.key in o for i, o, _ in flows.values())
        if variable.kind is Kind.MEMORY:
            raise self.eq.error("a memory that no stateful function of the file accounts for")
        if variable.kind is not Kind.STOCK and initial is not None:
            raise self.eq.error(
                "ACTIVE INITIAL: an XMILE auxiliary has one equation, not a second for the start"
            )
        if variable.kind is Kind.LOOKUP and variable.dims:
            raise self.eq.error(
                "an arrayed lookup: PySD's XMILE reader reads one table per graphical function"
            )
        tag = {Kind.STOCK: "stock", Kind.LOOKUP: "gf"}.get(variable.kind, "flow" if is_flow else "aux")
        node = ET.Element(tag, name=self.eq.attribute_name(variable.name))
        made: list[ET.Element] = []
        if variable.dims:
            dims = _element(node, "dimensions")
            for d in variable.dims:
                _element(dims, "dim", name=self.eq.attribute_name(self.eq.spelled.get(d, d)))
        if variable.kind is Kind.STOCK:
            inflows, outflows, net = flows[variable.key]
            if initial is None:
                raise self.eq.error("a stock without an initial value")
            if isinstance(equation, Defined) or isinstance(initial, Defined):
                raise self.eq.error("a stock defined element by element, which XMILE's stocks cannot be")
            _element(node, "eqn", self.eq.expr(initial))
            for key in inflows:
                _element(node, "inflow", self.eq.name(key))
            for key in outflows:
                _element(node, "outflow", self.eq.name(key))
            if net is not None:
                _element(node, "inflow", in_equation(net))
                made.append(self.net_flow(variable, net, equation))
            if variable.non_negative:
                _element(node, "non_negative")
        elif isinstance(equation, Table):
            self.gf(node, equation)
        elif isinstance(equation, (Defined, Numbers)):
            self.elements(node, variable, equation)
        elif variable.dims and any(isinstance(n, Position) for n in walk(equation)):
            # XMILE reads no range as a number: each element gets its position.
            self.elements(node, variable, Defined(((Selector(variable.dims), equation),)))
        else:
            self.equation(node, equation)
        self.describe(node, variable)
        yield from (self.gf(ET.Element("gf", name=name), table) for name, table in self.eq.made)
        yield node
        yield from made

    def net_flow(self, stock: Variable, name: str, equation: Expr | Table) -> ET.Element:
        node = ET.Element("flow", name=name)
        if stock.dims:
            dims = _element(node, "dimensions")
            for d in stock.dims:
                _element(dims, "dim", name=self.eq.attribute_name(self.eq.spelled.get(d, d)))
        _element(node, "eqn", self.eq.expr(equation))
        _element(node, "doc", f"The net flow of {xmile_name(stock.name)}, which XMILE lists by flows.")
        return node

    def elements(self, node: ET.Element, variable: Variable, equation: Defined | Numbers) -> None:
        """An arrayed variable defined element by element: its parts (EXCEPT taken
        out), or its list of numbers, one ``<element>`` per cell."""
        space = Space(self.model)
        parts: list[tuple[tuple[str, ...], Expr | Table]] = []
        if isinstance(equation, Numbers):
            cells = itertools.product(*(space.elements(d) for d in variable.dims))
            parts = [(cell, Number(v)) for cell, v in zip(cells, equation.values, strict=True)]
        else:
            for selector, part in equation.parts:
                excepted = {c for e in selector.excepted for c in itertools.product(*map(space.elements, e))}
                cells = itertools.product(*map(space.elements, selector.subscripts))
                for n, cell in enumerate(c for c in cells if c not in excepted):
                    binding = dict(zip(selector.subscripts, cell, strict=True))
                    parts.append((cell, self.bind(part, binding, n, space)))
        for cell, part in parts:
            names = ",".join(self.eq.attribute_name(self.eq.spelled[c]) for c in cell)
            child = _element(node, "element", subscript=names)
            if isinstance(part, Table):
                raise self.eq.error(
                    "an arrayed lookup: PySD's XMILE reader reads one table per graphical function"
                )
            # PySD reads the variable's own <gf> only, not an element's: a table
            # read here gets a graphical function of its own.
            _element(child, "eqn", self.eq.expr(part))

    def bind(self, part: Expr | Table, binding: dict[str, str], n: int, space: Space) -> Expr | Table:
        """One element's equation out of a part defined over ranges: each range
        read at the element being defined, a range read as a number its position."""
        if isinstance(part, Table):
            return part
        if isinstance(part, Numbers):
            return Number(part.values[n])

        def visit(e: Expr) -> Expr | None:
            if isinstance(e, Ref) and e.subscripts:
                return Ref(e.name, tuple(binding.get(s, s) for s in e.subscripts))
            if isinstance(e, Position) and e.dimension in binding:
                position = space.position[space.parent(e.dimension)]
                return Number(position[binding[e.dimension]] + 1.0)
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
            low, high = (self.eq.number(b)[0] for b in bounds if b is not None)
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


def _reads(variable: Variable) -> frozenset[str]:
    equation, initial = variable.as_written
    return references(None if isinstance(equation, Table) else equation) | references(initial)


def _terms(expr: Expr | Table, sign: int = 1) -> list[tuple[str, int]]:
    """The (flow, sign) terms of a net flow written as a sum of plain references;
    empty when it is anything else."""
    if isinstance(expr, Ref) and not expr.subscripts and expr.name != "time":
        return [(expr.name, sign)]
    if isinstance(expr, Unary) and expr.op is UnaryOp.NEG:
        return _terms(expr.operand, -sign)
    if isinstance(expr, Binary) and expr.op in (Op.ADD, Op.SUB):
        left, right = _terms(expr.left, sign), _terms(expr.right, -sign if expr.op is Op.SUB else sign)
        return left + right if left and right else []
    return []
