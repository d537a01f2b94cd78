"""The causal graph of a model: who reads whom, and with what sign.

One node per model variable and an edge x → z when z's equation reads x. A
stock's equation is its net flow: each top-level ``+``/``-`` term that is a plain
reference to an auxiliary is a flow (an inflow or an outflow), and whatever else
remains is the stock's unnamed flow, a node of its own (``<stock>∙flow``) so that
every stock is reached only through flows, as Loops That Matter needs. Variables
made by lowering SMOOTH or DELAY keep their own nodes, so that link scores are
computed on real equations, but each belongs to the group of the variable the
modeler wrote (its ``origin``). In a subscripted model each element is a node
(`element_graph`).

`cycles_by_length` lists the graph's elementary cycles, shortest first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import networkx as nx

from .errors import ModelError
from .expressions import (
    Binary,
    Expr,
    Number,
    Numbers,
    Op,
    Ref,
    Table,
    Unary,
    UnaryOp,
    canonical,
    references,
)
from .model import CONTROL_VARIABLES, Kind, Model, Variable
from .polarity import SHAPE, LinkPolarity, expression_sign, table_sign

__all__ = [
    "TIME",
    "UNNAMED_FLOW",
    "causal_graph",
    "cycles_by_length",
    "flow_terms",
    "known_value_signs",
    "signed_sum",
    "structural_polarities",
]

# Canonical keys never hold this character, so an unnamed flow cannot clash with a variable.
UNNAMED_FLOW = "\u2219flow"
TIME = "time"


def flow_terms(equation: Expr) -> list[tuple[int, Expr]]:
    """The top-level signed terms of a net flow: ``a - b + c`` → [(+1, a), (-1, b), (+1, c)]."""
    if isinstance(equation, Binary) and equation.op in (Op.ADD, Op.SUB):
        right = flow_terms(equation.right)
        if equation.op is Op.SUB:
            right = [(-sign, term) for sign, term in right]
        return flow_terms(equation.left) + right
    if isinstance(equation, Unary) and equation.op is UnaryOp.NEG:
        return [(-sign, term) for sign, term in flow_terms(equation.operand)]
    return [(1, equation)]


def signed_sum(terms: list[tuple[int, Expr]]) -> Expr:
    """The sum of signed terms, as `flow_terms` gives them: the inverse of that split."""
    total: Expr | None = None
    for sign, term in terms:
        if total is None:
            total = term if sign > 0 else Unary(UnaryOp.NEG, term)
        else:
            total = Binary(Op.ADD if sign > 0 else Op.SUB, total, term)
    return total if total is not None else Number(0.0)


def _group(variable: Variable) -> str:
    return canonical(variable.origin) if variable.origin else variable.key


def causal_graph(model: Model) -> nx.DiGraph:
    """The causal graph of `model`.

    Node attributes: ``name`` (for display), ``kind`` (a `Kind`, or ``"flow"`` for
    a stock's unnamed flow), ``group`` (the modeler's variable it belongs to),
    ``state`` (a stock or memory), ``equation`` (what the node computes: for an
    unnamed flow, the rest of its stock's net flow), ``variable`` (the key of the
    variable it computes), ``element`` (None, or in a subscripted model its
    position among the variable's elements: see `element_graph`) and ``order``
    (where it is declared). Edge attributes: ``flow`` (flow → stock) and, on
    those, ``sign`` (+1 inflow, -1 outflow).
    """
    graph = nx.DiGraph(time_units=model.time_units)
    if any(variable.dims for variable in model.variables):
        from .element_graph import element_graph

        element_graph(model, graph)
        return graph
    skipped = {canonical(name) for name in CONTROL_VARIABLES}
    for index, variable in enumerate(model.variables):
        if variable.kind is Kind.LOOKUP or variable.key in skipped:
            continue
        graph.add_node(
            variable.key,
            name=variable.name,
            kind=variable.kind,
            group=_group(variable),
            state=variable.kind in (Kind.STOCK, Kind.MEMORY),
            equation=variable.equation,
            variable=variable.key,
            element=None,
            order=(index, 0),
        )

    def read(source: str, target: str) -> None:
        if source in graph and source != TIME:
            graph.add_edge(source, target, flow=False)

    for variable in model.variables:
        if variable.key not in graph or variable.kind is Kind.CONSTANT:
            continue
        if variable.kind is not Kind.STOCK:
            for source in sorted(variable.dependencies):
                read(source, variable.key)
            continue
        if isinstance(variable.equation, Table):
            raise ModelError("a stock's net flow cannot be a table", variable=variable.name)
        unnamed: list[tuple[int, Expr]] = []
        for sign, term in flow_terms(variable.equation):
            target = model.get(term.name) if isinstance(term, Ref) else None
            if (
                target is not None
                and target.kind is Kind.AUXILIARY
                and not graph.has_edge(target.key, variable.key)
            ):
                graph.add_edge(target.key, variable.key, flow=True, sign=sign)
            else:
                unnamed.append((sign, term))
        if unnamed and references(signed_sum(unnamed)) - {TIME}:
            node = variable.key + UNNAMED_FLOW
            expression = signed_sum(unnamed)
            graph.add_node(
                node,
                name=f"{variable.name} (flow)",
                kind="flow",
                group=_group(variable),
                state=False,
                equation=expression,
                variable=variable.key,
                element=None,
                order=graph.nodes[variable.key]["order"],
            )
            for source in sorted(references(expression)):
                read(source, node)
            graph.add_edge(node, variable.key, flow=True, sign=1)
    return graph


def known_value_signs(model: Model) -> dict[str, int]:
    """Signs of values the structure fixes: constants, non-negative stocks, table shapes."""
    known: dict[str, int] = {}
    for variable in model.variables:
        if variable.kind is Kind.CONSTANT and isinstance(variable.equation, Number):
            # A constant set to 0 (a switched-off policy, no damping) keeps the sign
            # its link has when it is switched on: + or 0 is drawn + on a diagram.
            known[variable.key] = 1 if variable.equation.value >= 0 else -1
        elif variable.kind is Kind.CONSTANT and isinstance(variable.equation, Numbers):
            if min(variable.equation.values) >= 0:  # an arrayed constant: every element's sign
                known[variable.key] = 1
            elif max(variable.equation.values) <= 0:
                known[variable.key] = -1
        elif variable.kind is Kind.LOOKUP and isinstance(variable.equation, Table):
            shape = table_sign(variable.equation)
            if shape is not None:
                known[SHAPE + variable.key] = shape
            if min(variable.equation.y) >= 0:
                known[variable.key] = 1
            elif max(variable.equation.y) <= 0:
                known[variable.key] = -1
        elif variable.kind is Kind.STOCK and variable.non_negative:
            known[variable.key] = 1
    return known


def structural_polarities(graph: nx.DiGraph, known: Mapping[str, int]) -> dict[tuple[str, str], LinkPolarity]:
    """Each edge's polarity from the equation trees; undetermined where they leave it open."""
    polarities: dict[tuple[str, str], LinkPolarity] = {}
    for source, target, data in graph.edges(data=True):
        if data["flow"]:
            polarities[source, target] = LinkPolarity.from_sign(data["sign"])
        else:
            # an element's equation names variables, not elements
            variable = graph.nodes[source].get("variable", source)
            sign = expression_sign(graph.nodes[target]["equation"], variable, known)
            polarities[source, target] = LinkPolarity.from_sign(sign)
    return polarities


def cycles_by_length(graph: nx.DiGraph, longest: int) -> Iterator[list[str]]:
    """Every elementary cycle of `graph` up to `longest` nodes, shortest first.

    Each cycle is found once, from its first node in the graph's order, by a
    depth-first search that only extends a path when it can still close within
    the length sought: the distance back to the start (a breadth-first search
    over later nodes, made once per start) prunes the dead ends that make a
    plain length-bounded search slow on large, densely connected models.
    Within one length, cycles come by start node, then in search order.
    """
    names = list(graph)
    index = {name: i for i, name in enumerate(names)}
    successors = [sorted(index[w] for w in graph.successors(v)) for v in names]
    predecessors = [sorted(index[u] for u in graph.predecessors(v)) for v in names]
    distances: dict[int, dict[int, int]] = {}

    def back_to(start: int) -> dict[int, int]:
        # edges from each later node back to `start`, through later nodes only
        if start not in distances:
            reach = {start: 0}
            frontier = [start]
            while frontier:
                following = []
                for v in frontier:
                    for u in predecessors[v]:
                        if u > start and u not in reach:
                            reach[u] = reach[v] + 1
                            following.append(u)
                frontier = following
            distances[start] = reach
        return distances[start]

    for length in range(1, longest + 1):
        for start in range(len(names)):
            distance = back_to(start)
            if len(distance) < length:
                continue  # not enough later nodes lead back to close so long a cycle
            path = [start]
            on_path = {start}
            stack = [iter(successors[start])]
            while stack:
                step = next(stack[-1], None)
                if step is None:
                    stack.pop()
                    on_path.discard(path.pop())
                    continue
                edges = len(path)  # edges from start to the step, once it is taken
                if step == start:
                    if edges == length:
                        yield [names[i] for i in path]
                    continue
                if step < start or step in on_path or edges + distance.get(step, length + 1) > length:
                    continue
                if edges + 1 > length:
                    continue
                path.append(step)
                on_path.add(step)
                stack.append(iter(successors[step]))
