"""A Vensim sketch (the diagram section of a .mdl) laid out from the equations.

One view per `Variable.group` (one view when the model has no groups). Stocks are
boxes in a row at the top of their view, each flow a valve on a pipe between its
stocks, or between a stock and a cloud; the other variables sit below in layers,
each layer one step further down the chain of dependencies (networkx), so that
arrows mostly point one way. Influence arrows join variables of the same view.

The field layout is copied from sketches Vensim wrote (V300): ``10`` a variable,
``11`` a valve, ``12`` a cloud, ``1`` an arrow (a pipe when its flags say so).
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from .expressions import Binary, Expr, Op, Ref, Table, Unary, UnaryOp, references
from .model import CONTROL_VARIABLES, Kind, Model, Variable
from .vensim_text import PLOTS_MARK, SKETCH_MARK

__all__ = ["places", "sketch"]

_HEADER = (
    f"{SKETCH_MARK} Sketch information - do not modify anything except names\n"
    "V300  Do not put anything below this section - it will be ignored\n"
)
_VIEW_STYLE = "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n"
_SETTINGS = f"{PLOTS_MARK}\n:L<%^E!@\n1:Current.vdf\n9:Current\n15:0,0,0,0,0,0\n19:100,0\n27:2,\n34:0,\n"

_STOCK_GAP = 560  # room between stocks for a valve and its cloud on either side
_STOCKS_PER_ROW = 4
_ROW_GAP = 320  # room below a row of stocks for flows stacked under each other
_FLOW_OFFSET = 130
_FLOW_STACK = 60  # a stock's second inflow sits this far below its first
_LAYER_GAP = 90
_COLUMN_GAP = 190
_PER_LAYER_ROW = 8


def sketch(model: Model, spell: Callable[[str], str]) -> str:
    """The sketch section for `model`, ``spell`` quoting names as the equations do."""
    lines = [_HEADER]
    for n, (group, variables) in enumerate(_groups(model).items(), 1):
        lines.append(f"*{_view_name(group, n)}\n")
        lines.append(_VIEW_STYLE)
        lines.extend(_View(variables, spell).lines())
    lines.append(_SETTINGS)
    # the model's Units Equivalents, which Vensim keeps among its settings
    for names in model.units_equivalents:
        lines.append("22:" + ",".join(" ".join(name.split()) for name in names) + "\n")  # one line each
    return "".join(lines)


def places(model: Model) -> dict[str, tuple[str, int, int]]:
    """Where the sketch puts each variable it draws: key -> (view, x, y), a flow at
    its valve's label; for diagrams in other formats (XMILE's views)."""
    found: dict[str, tuple[str, int, int]] = {}
    for n, (group, variables) in enumerate(_groups(model).items(), 1):
        view = _View(variables, str)
        view.lines()
        for key, number in view.ids.items():
            found[key] = (_view_name(group, n), *view.places[number])
    return found


def _groups(model: Model) -> dict[str, list[Variable]]:
    """The variables drawn, one list per view."""
    groups: dict[str, list[Variable]] = {}
    for variable in model.variables:
        if variable.origin is None and variable.key not in CONTROL_VARIABLES:
            groups.setdefault(variable.group, []).append(variable)
    return groups


def _view_name(group: str, n: int) -> str:
    # A view's name is the rest of its line: a line break would start a new record.
    name = " ".join(group.split())
    return name or f"View {n}"


def _equation(variable: Variable) -> Expr | Table:
    """The equation as written (a stock's net flow before lowering touched it)."""
    return variable.as_written[0]


def _terms(expr: Expr | Table, sign: int = 1) -> list[tuple[str, int]]:
    """The (flow, sign) terms of a net flow written as a sum of plain references."""
    if isinstance(expr, Ref) and not expr.subscripts:
        return [(expr.name, sign)]
    if isinstance(expr, Unary) and expr.op is UnaryOp.NEG:
        return _terms(expr.operand, -sign)
    if isinstance(expr, Binary) and expr.op in (Op.ADD, Op.SUB):
        right = -sign if expr.op is Op.SUB else sign
        return _terms(expr.left, sign) + _terms(expr.right, right)
    return []


class _View:
    """The objects of one view, numbered from 1 as Vensim numbers them."""

    def __init__(self, variables: list[Variable], spell: Callable[[str], str]) -> None:
        self.variables = {v.key: v for v in variables}
        self.spell = spell
        self.out: list[str] = []
        self.next_id = 1
        self.ids: dict[str, int] = {}  # variable -> its object
        self.places: dict[int, tuple[int, int]] = {}

    def new(self, x: int, y: int) -> int:
        number = self.next_id
        self.next_id += 1
        self.places[number] = (x, y)
        return number

    def lines(self) -> list[str]:
        stocks = [v for v in self.variables.values() if v.kind is Kind.STOCK]
        flows = self.flows(stocks)
        for i, stock in enumerate(stocks):
            row, column = divmod(i, _STOCKS_PER_ROW)
            x, y = 300 + column * _STOCK_GAP, 120 + row * _ROW_GAP
            number = self.new(x, y)
            self.ids[stock.key] = number
            self.out.append(f"10,{number},{self.spell(stock.name)},{x},{y},40,20,3,3,0,0,0,0,0,0\n")
        for flow, (source, target) in flows.items():
            self.valve(flow, source, target)
        top = 120 + _ROW_GAP * -(-len(stocks) // _STOCKS_PER_ROW) if stocks else 60
        self.layers([v for v in self.variables.values() if v.key not in self.ids], top)
        self.arrows()
        return self.out

    def flows(self, stocks: list[Variable]) -> dict[str, tuple[str | None, str | None]]:
        """Each flow drawn as a pipe: flow -> (stock it drains, stock it fills)."""
        found: dict[str, list[str | None]] = {}
        for stock in stocks:
            for name, sign in _terms(_equation(stock)):
                flow = self.variables.get(name)
                if flow is None or flow.kind in (Kind.STOCK, Kind.LOOKUP):
                    continue
                ends = found.setdefault(name, [None, None])
                ends[0 if sign < 0 else 1] = ends[0 if sign < 0 else 1] or stock.key
        return {k: (v[0], v[1]) for k, v in found.items()}

    def valve(self, flow: str, source: str | None, target: str | None) -> None:
        spots = [self.places[self.ids[s]] for s in (source, target) if s is not None]
        if source is not None and target is not None:
            (x1, y), (x2, _) = spots
            x = (x1 + x2) // 2
        elif target is not None:
            x, y = spots[0][0] - _FLOW_OFFSET, spots[0][1]
        else:
            x, y = spots[0][0] + _FLOW_OFFSET, spots[0][1]
        # Flows meeting a stock on the same side are stacked below each other.
        while (x, y) in self.places.values():
            y += _FLOW_STACK
        ends = []
        for stock, side in ((source, -1), (target, 1)):
            if stock is not None:
                ends.append(self.ids[stock])
            else:
                cloud = self.new(x + side * (_FLOW_OFFSET - 10), y)
                self.out.append(f"12,{cloud},48,{self.places[cloud][0]},{y},10,8,0,3,0,0,-1,0,0,0\n")
                ends.append(cloud)
        valve = self.new(x, y)
        # Pipes: flag 100 leaves the source end bare, flag 4 puts the head on the target.
        for end, flag in zip(ends, (100, 4), strict=True):
            pipe = self.new(x, y)
            mid = (x + self.places[end][0]) // 2
            self.out.append(f"1,{pipe},{valve},{end},{flag},0,0,22,0,0,0,-1--1--1,,1|({mid},{y})|\n")
        self.out.append(f"11,{valve},48,{x},{y},6,8,34,3,0,0,1,0,0,0\n")
        label = self.new(x, y + 16)
        self.ids[flow] = label
        self.out.append(
            f"10,{label},{self.spell(self.variables[flow].name)},{x},{y + 16},49,8,40,3,0,0,-1,0,0,0\n"
        )

    def layers(self, others: list[Variable], top: int) -> None:
        """Place the remaining variables in layers below the stocks: a variable one
        layer below the deepest of the variables it reads (cycles contracted)."""
        graph = nx.DiGraph()
        graph.add_nodes_from(v.key for v in others)
        for v in others:
            graph.add_edges_from((d, v.key) for d in self.reads(v) if d in graph)
        condensed = nx.condensation(graph)
        depth: dict[int, int] = {}
        for node in nx.topological_sort(condensed):
            depth[node] = max((depth[p] + 1 for p in condensed.predecessors(node)), default=0)
        rows: dict[int, list[Variable]] = {}
        for v in others:
            rows.setdefault(depth[condensed.graph["mapping"][v.key]], []).append(v)
        y = top
        for level in sorted(rows):
            for i, v in enumerate(rows[level]):
                wrapped, column = divmod(i, _PER_LAYER_ROW)
                if column == 0 and i:
                    y += _LAYER_GAP  # a wide layer goes on over several rows
                x = 120 + column * _COLUMN_GAP + (wrapped % 2) * _COLUMN_GAP // 2
                number = self.new(x, y)
                self.ids[v.key] = number
                self.out.append(f"10,{number},{self.spell(v.name)},{x},{y},49,8,8,3,0,0,0,0,0,0\n")
            y += _LAYER_GAP

    def reads(self, variable: Variable) -> frozenset[str]:
        equation, written = variable.as_written
        return references(equation if not isinstance(equation, Table) else None) | references(written)

    def arrows(self) -> None:
        for key, v in self.variables.items():
            if v.kind is Kind.STOCK:
                continue  # a stock is read through its pipes, not through arrows
            for d in sorted(self.reads(v)):
                if d in self.ids and d != key:
                    a, b = self.places[self.ids[d]], self.places[self.ids[key]]
                    mid = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
                    number = self.new(*mid)
                    self.out.append(
                        f"1,{number},{self.ids[d]},{self.ids[key]},0,0,0,0,0,64,0,-1--1--1,,1|({mid[0]},{mid[1]})|\n"
                    )
