"""Feedback loops: the causal graph of a model, its loops, their polarity and names.

The causal graph has one node per model variable and an edge x → z when z's
equation reads x. A stock's equation is its net flow: each top-level ``+``/``-``
term that is a plain reference to an auxiliary is a flow (an inflow or an
outflow), and whatever else remains is the stock's unnamed flow, a node of its
own (``<stock>∙flow``) so that every stock is reached only through flows, as
Loops That Matter needs. Variables made by lowering SMOOTH or DELAY keep their
own nodes, so that link scores are computed on real equations, but each belongs
to the group of the variable the modeler wrote (its ``origin``): loops are named,
shown and counted by those groups.

A loop is an elementary cycle of the graph through at least one stock (or memory,
the discrete state INITIAL and DELAY FIXED lower to). Enumeration is bounded both
in count and in length, and says so when a bound may have cut it short.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .errors import ModelError
from .expressions import Binary, Expr, Number, Op, Ref, Table, Unary, UnaryOp, canonical, references
from .model import CONTROL_VARIABLES, Kind, Model, NamedLoop, Variable
from .polarity import SHAPE, LinkPolarity, expression_sign, table_sign

__all__ = [
    "Link",
    "LinkPolarity",
    "Loop",
    "LoopSet",
    "Polarity",
    "causal_graph",
    "find_loops",
    "flow_terms",
]

# Canonical keys never hold this character, so an unnamed flow cannot clash with a variable.
UNNAMED_FLOW = "\u2219flow"
TIME = "time"


class Polarity(enum.Enum):
    """A loop's polarity: it amplifies change, counteracts it, or the sign is open."""

    REINFORCING = "reinforcing"
    BALANCING = "balancing"
    UNDETERMINED = "undetermined"

    @property
    def letter(self) -> str:
        return {"reinforcing": "R", "balancing": "B"}.get(self.value, "U")

    @classmethod
    def from_signs(cls, signs: list[int | None]) -> Polarity:
        if any(sign is None or sign == 0 for sign in signs):
            return cls.UNDETERMINED
        negatives = sum(1 for sign in signs if sign is not None and sign < 0)
        return cls.BALANCING if negatives % 2 else cls.REINFORCING


@dataclass(frozen=True, slots=True)
class Link:
    """One edge of the causal graph, between canonical keys."""

    source: str
    target: str
    polarity: LinkPolarity
    flow: bool = False  # flow → stock: scored by the flow form of Loops That Matter


@dataclass(frozen=True, slots=True)
class Loop:
    """A feedback loop.

    Attributes
    ----------
    id, name:
        The author's (R3, "Burnout-attrition") for a named loop, generated ones otherwise.
    variables:
        The modeler's variables around the loop, in causal order, first one not repeated.
    polarity:
        Reinforcing, balancing, or undetermined when a link's sign changes along the run.
    named:
        True when the model's author named this loop.
    links:
        The causal-graph links around the loop (internal variables included), in order.
    alternates:
        Other graph paths that show as the same loop (a lowered TREND's input
        reaches its output directly and through its average); Loops That Matter
        scores the loop by the strongest of them at each step.
    partition:
        Index of the loop's cycle partition in `LoopSet.partitions`.
    """

    id: str
    name: str
    variables: tuple[str, ...]
    polarity: Polarity
    named: bool = False
    description: str = ""
    links: tuple[Link, ...] = ()
    alternates: tuple[tuple[Link, ...], ...] = ()
    partition: int = 0

    def __str__(self) -> str:
        chain = " → ".join((*self.variables, self.variables[0])) if self.variables else ""
        title = f"{self.id} {self.name}" if self.name and self.name != self.id else self.id
        return f"{title} ({self.polarity.value}): {chain}"

    @property
    def paths(self) -> tuple[tuple[Link, ...], ...]:
        return (self.links, *self.alternates)


@dataclass(frozen=True, eq=False)
class LoopSet:
    """The loops of a model, with the graph they were found in.

    Attributes
    ----------
    loops:
        Named loops first, in the order the model declares them, then the others.
    graph:
        The causal graph (`causal_graph`).
    partitions:
        Cycle partitions: the stocks (modeler's names) of each strongly connected
        component of the stock-to-stock graph. Loop dominance is only compared
        within a partition.
    complete:
        False when a bound may have cut the enumeration; `notes` says which.
    missing:
        Loops the author named that were not found among the cycles.
    notes:
        Plain sentences about bounds, unmatched names and polarity disagreements.
    """

    loops: tuple[Loop, ...]
    graph: nx.DiGraph
    partitions: tuple[tuple[str, ...], ...] = ()
    complete: bool = True
    missing: tuple[NamedLoop, ...] = ()
    notes: tuple[str, ...] = ()
    _by_id: dict[str, Loop] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {loop.id.lower(): loop for loop in self.loops})

    def __iter__(self) -> Iterator[Loop]:
        return iter(self.loops)

    def __len__(self) -> int:
        return len(self.loops)

    def __getitem__(self, loop_id: str) -> Loop:
        try:
            return self._by_id[loop_id.lower()]
        except KeyError:
            raise KeyError(f"no loop with id {loop_id!r}; found {', '.join(self._by_id)}") from None

    def __contains__(self, loop_id: object) -> bool:
        return isinstance(loop_id, str) and loop_id.lower() in self._by_id

    def in_partition(self, index: int) -> tuple[Loop, ...]:
        return tuple(loop for loop in self.loops if loop.partition == index)

    def subset(self, ids: Iterable[str]) -> LoopSet:
        """Only the loops with these ids, same graph and partitions.

        Relative loop scores of a subset compare those loops among themselves:
        the lens of the loops an author named, or of the few a dashboard shows.
        """
        wanted = {loop_id.lower() for loop_id in ids}
        unknown = wanted - set(self._by_id)
        if unknown:
            raise KeyError(f"no loop with id {sorted(unknown)[0]!r}")
        kept = tuple(loop for loop in self.loops if loop.id.lower() in wanted)
        return LoopSet(kept, self.graph, self.partitions, self.complete, self.missing, self.notes)

    def named(self) -> LoopSet:
        """The loops the model's author named (`subset`)."""
        return self.subset(loop.id for loop in self.loops if loop.named)


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


def _signed_sum(terms: list[tuple[int, Expr]]) -> Expr:
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
    unnamed flow, the rest of its stock's net flow). Edge attributes: ``flow``
    (flow → stock) and, on those, ``sign`` (+1 inflow, -1 outflow).
    """
    graph = nx.DiGraph(time_units=model.time_units)
    skipped = {canonical(name) for name in CONTROL_VARIABLES}
    for variable in model.variables:
        if variable.kind is Kind.LOOKUP or variable.key in skipped:
            continue
        graph.add_node(
            variable.key,
            name=variable.name,
            kind=variable.kind,
            group=_group(variable),
            state=variable.kind in (Kind.STOCK, Kind.MEMORY),
            equation=variable.equation,
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
        if unnamed and references(_signed_sum(unnamed)) - {TIME}:
            node = variable.key + UNNAMED_FLOW
            expression = _signed_sum(unnamed)
            graph.add_node(
                node,
                name=f"{variable.name} (flow)",
                kind="flow",
                group=_group(variable),
                state=False,
                equation=expression,
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
            sign = expression_sign(graph.nodes[target]["equation"], source, known)
            polarities[source, target] = LinkPolarity.from_sign(sign)
    return polarities


def _rotation_key(sequence: tuple[str, ...]) -> tuple[str, ...]:
    return min(sequence[i:] + sequence[:i] for i in range(len(sequence)))


def _collapse(graph: nx.DiGraph, cycle: list[str]) -> tuple[str, ...]:
    groups = [graph.nodes[node]["group"] for node in cycle]
    collapsed = [g for i, g in enumerate(groups) if g != groups[i - 1]] or groups[:1]
    return tuple(collapsed)


def _is_subsequence(chain: tuple[str, ...], cycle: tuple[str, ...]) -> bool:
    for start in range(len(cycle)):
        rotated = iter(cycle[start:] + cycle[:start])
        if all(any(item == wanted for item in rotated) for wanted in chain):
            return True
    return False


def find_loops(
    model: Model,
    *,
    max_loops: int = 2000,
    max_length: int | None = None,
    link_polarities: Mapping[tuple[str, str], LinkPolarity] | None = None,
    sample: bool = True,
) -> LoopSet:
    """Find the feedback loops of `model`.

    Parameters
    ----------
    model:
        The model (IR).
    max_loops:
        Stop after this many loops; `LoopSet.complete` is then False.
    max_length:
        Longest cycle searched, in causal-graph nodes (a stock's unnamed flow and
        variables made by lowering count); None searches every length.
    link_polarities:
        Polarities already known, by (source, target) key; they override both the
        structural reading and sampling.
    sample:
        When the structure leaves a link's sign open, simulate the model once and
        read the sign of ∂z/∂x along the run (`sample_polarities`).

    Returns
    -------
    LoopSet
    """
    if max_loops < 1:
        raise ModelError(f"max_loops must be at least 1, found {max_loops}")
    graph = causal_graph(model)
    known = known_value_signs(model)
    polarities = structural_polarities(graph, known)
    open_links = [edge for edge, polarity in polarities.items() if polarity is LinkPolarity.UNDETERMINED]
    if open_links and sample:
        from .polarity import sample_polarities

        polarities.update(sample_polarities(model, graph, open_links, known=known))
    if link_polarities:
        polarities.update(link_polarities)
    nx.set_edge_attributes(graph, {edge: polarity for edge, polarity in polarities.items()}, "polarity")

    components = [c for c in nx.strongly_connected_components(graph) if _has_cycle(graph, c)]
    component_of = {node: i for i, c in enumerate(components) for node in c}
    notes: list[str] = []
    complete = True
    largest = max((len(c) for c in components), default=0)
    if max_length is not None and largest > max_length:
        complete = False
        notes.append(
            f"loops longer than {max_length} graph nodes were not searched "
            f"(the largest feedback component has {largest})"
        )

    found: dict[tuple[str, ...], list[list[str]]] = {}
    seen: set[tuple[str, ...]] = set()

    def loop_key(cycle: list[str]) -> tuple[str, ...] | None:
        if not any(graph.nodes[node]["state"] for node in cycle):
            return None
        collapsed = _collapse(graph, cycle)
        internal = [n for n in cycle if graph.nodes[n]["kind"] != "flow" and graph.nodes[n]["group"] != n]
        if len(collapsed) == 1 and internal:
            return None  # the inner workings of a lowered SMOOTH or DELAY, not the modeler's loop
        return _rotation_key(collapsed)

    def accept(cycle: list[str]) -> tuple[str, ...] | None:
        key = loop_key(cycle)
        if key is None:
            return None
        exact = _rotation_key(tuple(cycle))
        if exact not in seen:
            seen.add(exact)
            found.setdefault(key, []).append(cycle)
        return key

    # The author's loops first, traced along their chains, so that no bound can lose them.
    declared_keys = {}
    for declared in model.loops:
        cycle = _trace(graph, declared)
        key = accept(cycle) if cycle else None
        if key is not None:
            declared_keys[declared.id] = key

    # Then every loop, shortest first: a bound then keeps the loops a reader can
    # follow, rather than whichever long detours a depth-first search meets first.
    longest = min(largest, max_length) if max_length is not None else largest
    cut = False
    for cycle in cycles_by_length(graph.subgraph(set(component_of)), longest):
        if len(found) >= max_loops:
            key = loop_key(cycle)
            if key is not None and key not in found:
                cut = True  # a loop beyond the bound: the model certainly has more
                break
        accept(cycle)
    if cut:
        complete = False
        notes.append(f"enumeration stopped at max_loops={max_loops}; the model has more loops")

    return _assemble(model, graph, found, declared_keys, components, component_of, complete, notes)


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


def _trace(graph: nx.DiGraph, declared: NamedLoop) -> list[str] | None:
    """The cycle an author's chain describes, traced in the graph.

    Each variable must reach the next one directly, through nothing but its own
    or the next one's parts (a stock's unnamed flow, a SMOOTH's inner stock); when
    the chain skips variables, the shortest way to the next one that avoids the
    rest of the chain is taken instead. None when neither gives an elementary cycle.
    """
    chain = [canonical(v) for v in declared.variables]
    if len(chain) > 1 and chain[0] == chain[-1]:
        chain.pop()
    if not chain or any(name not in graph for name in chain):
        return None
    members: dict[str, set[str]] = {}
    for node, group in graph.nodes(data="group"):
        members.setdefault(group, set()).add(node)
    for strict in (True, False):
        cycle: list[str] = []
        for i, source in enumerate(chain):
            target = chain[(i + 1) % len(chain)]
            if strict:
                allowed = members.get(source, {source}) | members.get(target, {target})
            else:
                others = set().union(*(members.get(c, {c}) for c in chain if c not in (source, target)))
                allowed = set(graph) - others - set(cycle[1:])
            try:
                path = nx.shortest_path(graph.subgraph(allowed), source, target)
            except nx.NetworkXNoPath:
                break
            cycle.extend(path[:-1])
        else:
            if len(set(cycle)) == len(cycle):
                return cycle
    return None


def _has_cycle(graph: nx.DiGraph, component: set[str]) -> bool:
    if len(component) > 1:
        return True
    (node,) = component
    return graph.has_edge(node, node)


def _links(graph: nx.DiGraph, cycle: list[str]) -> tuple[Link, ...]:
    pairs = zip(cycle, cycle[1:] + cycle[:1], strict=True)
    return tuple(Link(a, b, graph.edges[a, b]["polarity"], graph.edges[a, b]["flow"]) for a, b in pairs)


def _display(model: Model, group: str) -> str:
    variable = model._index.get(group)  # group keys are canonical already
    return variable.name if variable is not None else group


def _assemble(
    model: Model,
    graph: nx.DiGraph,
    found: dict[tuple[str, ...], list[list[str]]],
    declared_keys: dict[str, tuple[str, ...]],
    components: list[set[str]],
    component_of: dict[str, int],
    complete: bool,
    notes: list[str],
) -> LoopSet:
    order = {v.key: i for i, v in enumerate(model.variables)}
    kinds = {v.key: v.kind for v in model.variables}
    # Partitions in a stable order: biggest first, then by where their first stock is declared.
    stock_sets = [
        sorted({graph.nodes[n]["group"] for n in c if graph.nodes[n]["state"]}, key=lambda g: order.get(g, 0))
        for c in components
    ]
    ranked = sorted(
        range(len(components)), key=lambda i: (-len(stock_sets[i]), order.get(stock_sets[i][0], 0))
    )
    renumber = {old: new for new, old in enumerate(ranked)}
    partitions = tuple(tuple(_display(model, g) for g in stock_sets[i]) for i in ranked)

    candidates: dict[tuple[str, ...], dict[str, Any]] = {}
    for key, cycles in found.items():
        cycles.sort(key=len)
        paths = [_links(graph, cycle) for cycle in cycles]
        signs = {Polarity.from_signs([link.polarity.sign for link in path]) for path in paths}
        polarity = signs.pop() if len(signs) == 1 else Polarity.UNDETERMINED
        # Start at the first stock the model declares, so that loops read stock → ... → stock.
        sequence = _collapse(graph, cycles[0])
        states = [i for i, g in enumerate(sequence) if kinds.get(g) in (Kind.STOCK, Kind.MEMORY)]
        start = min(states or [0], key=lambda i: order.get(sequence[i], 0))
        candidates[key] = {
            "sequence": sequence[start:] + sequence[:start],
            "paths": paths,
            "polarity": polarity,
            "partition": renumber[component_of[cycles[0][0]]],
        }

    named: list[Loop] = []
    missing: list[NamedLoop] = []
    taken: set[tuple[str, ...]] = set()
    for declared in model.loops:
        chosen = declared_keys.get(declared.id)
        if chosen is None or chosen in taken:
            chosen = _match(declared, candidates, taken)
        if chosen is None:
            missing.append(declared)
            notes.append(
                f"loop {declared.id} ({declared.name}) is declared but no cycle of the model matches it"
            )
            continue
        taken.add(chosen)
        info = candidates[chosen]
        chain = tuple(canonical(v) for v in declared.variables)
        sequence = info["sequence"]
        if chain and chain[0] in sequence:
            at = sequence.index(chain[0])
            sequence = sequence[at:] + sequence[:at]
        letter = re.match(r"[A-Za-z]+", declared.id)
        if letter and letter.group().upper() in "RB" and info["polarity"].letter != letter.group().upper():
            notes.append(
                f"loop {declared.id} ({declared.name}) is declared {letter.group().upper()} "
                f"but its links make it {info['polarity'].value}"
            )
        named.append(_loop(model, declared.id, declared.name, sequence, info, True, declared.description))

    counters: dict[str, int] = {}
    for loop in named:
        parsed = re.fullmatch(r"([A-Za-z]+)(\d+)", loop.id)
        if parsed:
            prefix = parsed.group(1).upper()
            counters[prefix] = max(counters.get(prefix, 0), int(parsed.group(2)))
    rest = sorted(
        (key for key in candidates if key not in taken),
        key=lambda k: (
            candidates[k]["partition"],
            len(k),
            [order.get(g, 0) for g in candidates[k]["sequence"]],
        ),
    )
    generated: list[Loop] = []
    for key in rest:
        info = candidates[key]
        letter = info["polarity"].letter
        counters[letter] = counters.get(letter, 0) + 1
        loop_id = f"{letter}{counters[letter]}"
        generated.append(_loop(model, loop_id, loop_id, info["sequence"], info, False, ""))
    return LoopSet(
        loops=tuple(named + generated),
        graph=graph,
        partitions=partitions,
        complete=complete,
        missing=tuple(missing),
        notes=tuple(notes),
    )


def _loop(
    model: Model,
    loop_id: str,
    name: str,
    sequence: tuple[str, ...],
    info: dict[str, Any],
    named: bool,
    description: str,
) -> Loop:
    paths = [_starting_at(path, sequence[0]) for path in info["paths"]]
    return Loop(
        id=loop_id,
        name=name,
        variables=tuple(_display(model, g) for g in sequence),
        polarity=info["polarity"],
        named=named,
        description=description,
        links=paths[0],
        alternates=tuple(paths[1:]),
        partition=info["partition"],
    )


def _starting_at(path: tuple[Link, ...], group: str) -> tuple[Link, ...]:
    """The links rotated to leave the modeler's variable `group` first (the stock
    itself rather than its unnamed flow, which shares its group)."""
    sources = [link.source for link in path]
    start = sources.index(group) if group in sources else 0
    return path[start:] + path[:start]


def _match(
    declared: NamedLoop, candidates: dict[tuple[str, ...], dict[str, Any]], taken: set[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The cycle an author's chain names: the same variables in the same cyclic order,
    or, when the chain skips variables, the shortest cycle passing through all of them
    in that order."""
    chain = tuple(canonical(v) for v in declared.variables)
    if len(chain) > 1 and chain[0] == chain[-1]:
        chain = chain[:-1]
    if not chain:
        return None
    exact = _rotation_key(chain)
    if exact in candidates and exact not in taken:
        return exact
    loose = [
        key
        for key in candidates
        if key not in taken and set(chain) <= set(key) and _is_subsequence(chain, candidates[key]["sequence"])
    ]
    return min(loose, key=lambda k: (len(k), k)) if loose else None
