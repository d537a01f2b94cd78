"""The causal graph of a subscripted model, element by element.

Feedback in an arrayed model runs through elements: ``births[north]`` feeds
``Population[north]``, and a migration flow links ``Population[north]`` to
``Population[south]``. So each element of each variable is a node of its own,
keyed as its run column is (``population[north]``), and loops found in this
graph are exact. Each node keeps the variable it belongs to (``variable``) and
its position among that variable's elements (``element``): the variable-level
view of a loop follows from them.

Which elements of x an element of z reads is not worked out again from the
subscript algebra (ranges, subranges, mappings, transposition, EXCEPT, SUM...):
z's compiled array equation is probed. Every element of x in turn is set to NaN,
to 0 and to a huge value of either sign, all in one vectorised call (one run
column per probe), and the elements of z that move read it. NaN follows
arithmetic, reductions and lookups; 0 and the huge values flip comparisons and
conditions, which NaN does not. An element whose equation gives NaN at the
probing point, or an equation the probes make fail, reads every element: the
graph may then hold a link too many, never one too few.
"""

from __future__ import annotations

import warnings
from typing import Any

import networkx as nx
import numpy as np

from .expressions import Expr, Ref, Table, canonical, references
from .model import CONTROL_VARIABLES, Kind, Model, Variable

__all__ = ["element_graph", "element_reads"]

TIME = "time"
_HUGE = 1e6


def _shape(compiled: Any, key: str) -> tuple[int, ...]:
    return compiled.shape(compiled.model[key]) if key != TIME else ()


def element_reads(compiled: Any, target: str, expression: Expr | None = None) -> dict[str, np.ndarray]:
    """Which elements of each input an element of `target` reads.

    Parameters
    ----------
    compiled:
        The compiled model (`compile_model`).
    target:
        The variable whose equation is probed.
    expression:
        Another expression read over `target`'s subscripts (one term of a stock's
        net flow) instead of its equation.

    Returns
    -------
    dict
        Input key → boolean matrix (target's elements, input's elements), row-major
        element order as the run's columns; TIME is not an input here.
    """
    inputs, function = compiled.equation_function(target, expression)
    width = int(np.prod(_shape(compiled, target)))
    rng = np.random.default_rng(0)
    base = {name: 1.0 + rng.random(int(np.prod(_shape(compiled, name)))) for name in inputs}
    found: dict[str, np.ndarray] = {}
    for source in inputs:
        if source == TIME:
            continue
        n = base[source].size
        runs = 4 * n + 1  # NaN, zero, +huge, -huge for each element; the last column unmoved
        arguments = []
        for name in inputs:
            values = np.repeat(base[name][:, None], runs, axis=1)
            if name == source:
                columns = np.arange(n)
                values[columns, columns] = np.nan
                values[columns, n + columns] = 0.0
                values[columns, 2 * n + columns] = _HUGE * base[name]
                values[columns, 3 * n + columns] = -_HUGE * base[name]
            shape = _shape(compiled, name)
            arguments.append(values.reshape(*shape, runs) if shape else values[0])
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = np.asarray(function(*arguments, dt=1.0, _R=runs), dtype=float)
            out = np.broadcast_to(result, (*_shape(compiled, target), runs)).reshape(width, runs)
        except Exception:  # a probe the equation cannot take (an index read from a value)
            found[source] = np.ones((width, n), dtype=bool)
            continue
        unmoved = out[:, -1:]
        moved = ~((out[:, :-1] == unmoved) | (np.isnan(out[:, :-1]) & np.isnan(unmoved)))
        reads = moved.reshape(width, 4, n).any(axis=1)
        reads[~np.isfinite(unmoved[:, 0])] = True
        found[source] = reads
    return found


def _columns(compiled: Any, variable: Variable) -> list[str]:
    from .arrays import Space

    return Space(compiled.model).columns(variable)


def element_graph(model: Model, graph: nx.DiGraph) -> None:
    """Fill `graph` with the element nodes and links of subscripted `model`.

    Node attributes as `causal_graph` gives them, plus ``variable`` (the variable's
    key) and ``element`` (its position among the variable's elements, row-major).
    ``graph.graph["elements"]`` maps each variable's key to its nodes' keys, in
    element order.
    """
    from .causal_graph import UNNAMED_FLOW, flow_terms, signed_sum
    from .compiler import compile_model

    compiled = compile_model(model, native=False)
    skipped = {canonical(name) for name in CONTROL_VARIABLES}
    elements: dict[str, list[str]] = {}
    for index, variable in enumerate(model.variables):
        if variable.kind is Kind.LOOKUP or variable.key in skipped:
            continue
        origin = model.get(variable.origin) if variable.origin else None
        same = origin is not None and origin.dims == variable.dims and origin.kind is not Kind.LOOKUP
        owner = _columns(compiled, origin) if origin is not None and same else None
        keys = []
        for j, column in enumerate(_columns(compiled, variable)):
            key = canonical(column)
            # the element of the variable the modeler wrote
            group = canonical(owner[j] if owner else variable.origin or column)
            graph.add_node(
                key,
                name=column,
                kind=variable.kind,
                group=group,
                state=variable.kind in (Kind.STOCK, Kind.MEMORY),
                equation=variable.equation,
                variable=variable.key,
                element=j,
                order=(index, j),
            )
            keys.append(key)
        elements[variable.key] = keys
    graph.graph["elements"] = elements

    def link(reads: dict[str, np.ndarray], targets: list[str], **data: Any) -> None:
        for source, matrix in reads.items():
            if source not in elements:
                continue
            for j, i in zip(*np.nonzero(matrix), strict=True):
                graph.add_edge(elements[source][i], targets[j], **data)

    for variable in model.variables:
        if variable.key not in elements or variable.kind is Kind.CONSTANT:
            continue
        targets = elements[variable.key]
        if variable.kind is not Kind.STOCK:
            link(element_reads(compiled, variable.key), targets, flow=False)
            continue
        unnamed = []
        assert not isinstance(variable.equation, Table)  # a stock's equation is its net flow
        for sign, term in flow_terms(variable.equation):
            flow = model.get(term.name) if isinstance(term, Ref) else None
            if flow is None or flow.kind is not Kind.AUXILIARY or flow.key not in elements:
                unnamed.append((sign, term))
                continue
            flow_reads = element_reads(compiled, variable.key, term)[flow.key]
            pairs = zip(*np.nonzero(flow_reads), strict=True)
            if (flow_reads.sum(axis=1) != 1).any() or any(
                graph.has_edge(elements[flow.key][i], targets[j]) for j, i in pairs
            ):
                unnamed.append((sign, term))  # not one flow element per stock element: read as a sum
                continue
            link({flow.key: flow_reads}, targets, flow=True, sign=sign)
        if not unnamed or not references(signed_sum(unnamed)) - {TIME}:
            continue
        expression = signed_sum(unnamed)
        reads = element_reads(compiled, variable.key, expression)
        for j, stock in enumerate(targets):
            if not any(matrix[j].any() for source, matrix in reads.items() if source in elements):
                continue
            node = stock + UNNAMED_FLOW
            graph.add_node(
                node,
                name=f"{graph.nodes[stock]['name']} (flow)",
                kind="flow",
                group=graph.nodes[stock]["group"],
                state=False,
                equation=expression,
                variable=variable.key,
                element=j,
                order=graph.nodes[stock]["order"],
            )
            for source, matrix in reads.items():
                for i in np.flatnonzero(matrix[j]) if source in elements else ():
                    graph.add_edge(elements[source][i], node, flow=False)
            graph.add_edge(node, stock, flow=True, sign=1)
