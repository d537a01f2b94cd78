"""Feedback loops: the cycles of a model's causal graph, their polarity and names.

A loop is an elementary cycle of the causal graph (`causal_graph`) through at
least one stock (or memory, the discrete state INITIAL and DELAY FIXED lower to).
Loops are named, shown and counted by the modeler's variables: the parts of a
lowered SMOOTH or DELAY, and a stock's unnamed flow, show as the variable they
belong to. Loops the model's author declared are traced along their chains
first; then every loop is enumerated, shortest first, bounded both in count and
in length, with a note when a bound cut the enumeration short.

In a subscripted model the graph's nodes are elements (`element_graph`), so a
loop names elements (``Population[north] → births[north]``); `Loop.by_variable`
and `LoopSet.by_variable` give the view by variable, where the growth loop of
every region is one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .causal_graph import causal_graph, cycles_by_length, known_value_signs, structural_polarities
from .errors import ModelError
from .expressions import canonical
from .model import Model, NamedLoop
from .polarity import LinkPolarity

__all__ = ["Link", "LinkPolarity", "Loop", "LoopSet", "Polarity", "find_loops"]


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
        The modeler's variables around the loop, in causal order, first one not repeated;
        in a subscripted model, their elements (``Population[north]``).
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

    @property
    def by_variable(self) -> tuple[str, ...]:
        """The variables around the loop without their elements (``Population[north]``
        reads ``Population``): the view a causal loop diagram of the variables draws."""
        return tuple(name.split("[", 1)[0] for name in self.variables)


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

    def by_variable(self) -> dict[tuple[str, ...], tuple[Loop, ...]]:
        """The loops grouped by the variables they pass through, elements set aside:
        in a subscripted model, the growth loop of every region is one entry. Keys
        start at the first loop's first variable; loops in their order here."""
        groups: dict[tuple[str, ...], list[Loop]] = {}
        keys: dict[tuple[str, ...], tuple[str, ...]] = {}
        for loop in self.loops:
            chain = loop.by_variable
            key = keys.setdefault(_rotation_key(chain), chain)
            groups.setdefault(key, []).append(loop)
        return {key: tuple(loops) for key, loops in groups.items()}


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


def _display(model: Model, group: str, graph: nx.DiGraph | None = None) -> str:
    if graph is not None and group in graph:
        return str(graph.nodes[group]["name"])  # an element's column name, or the variable's
    variable = model._index.get(group)  # group keys are canonical already
    return variable.name if variable is not None else group


def _groups(graph: nx.DiGraph) -> set[str]:
    return {group for _, group in graph.nodes(data="group")}


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
    declared_at = {v.key: (i, 0) for i, v in enumerate(model.variables)}
    # where a group is declared (a variable, or one of its elements) and whether it is a state
    order = {g: graph.nodes[g]["order"] if g in graph else declared_at.get(g, (0, 0)) for g in _groups(graph)}
    states_of = {g for g in order if g in graph and graph.nodes[g]["state"]}
    # Partitions in a stable order: biggest first, then by where their first stock is declared.
    stock_sets = [
        sorted(
            {graph.nodes[n]["group"] for n in c if graph.nodes[n]["state"]},
            key=lambda g: order.get(g, (0, 0)),
        )
        for c in components
    ]
    ranked = sorted(
        range(len(components)), key=lambda i: (-len(stock_sets[i]), order.get(stock_sets[i][0], (0, 0)))
    )
    renumber = {old: new for new, old in enumerate(ranked)}
    partitions = tuple(tuple(_display(model, g, graph) for g in stock_sets[i]) for i in ranked)

    candidates: dict[tuple[str, ...], dict[str, Any]] = {}
    for key, cycles in found.items():
        cycles.sort(key=len)
        paths = [_links(graph, cycle) for cycle in cycles]
        signs = {Polarity.from_signs([link.polarity.sign for link in path]) for path in paths}
        polarity = signs.pop() if len(signs) == 1 else Polarity.UNDETERMINED
        # Start at the first stock the model declares, so that loops read stock → ... → stock.
        sequence = _collapse(graph, cycles[0])
        states = [i for i, g in enumerate(sequence) if g in states_of]
        start = min(states or [0], key=lambda i: order.get(sequence[i], (0, 0)))
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
        if chosen is not None:
            instances = [(chosen, declared.id)]
        else:
            instances = _instances(declared, candidates, taken, graph, order)
        if not instances:
            missing.append(declared)
            notes.append(
                f"loop {declared.id} ({declared.name}) is declared but no cycle of the model matches it"
            )
            continue
        chain = tuple(canonical(v) for v in declared.variables)
        for k, (chosen, loop_id) in enumerate(instances):
            taken.add(chosen)
            info = candidates[chosen]
            sequence = info["sequence"]
            at = next((i for i, g in enumerate(sequence) if chain and _variable(graph, g) == chain[0]), 0)
            sequence = sequence[at:] + sequence[:at]
            match = re.match(r"[A-Za-z]+", declared.id)
            letter = match.group().upper() if match else ""
            if k == 0 and letter in ("R", "B") and info["polarity"].letter != letter:
                notes.append(
                    f"loop {declared.id} ({declared.name}) is declared {letter} "
                    f"but its links make it {info['polarity'].value}"
                )
            named.append(
                _loop(model, graph, loop_id, declared.name, sequence, info, True, declared.description)
            )

    counters: dict[str, int] = {}
    for loop in named:
        parsed = re.match(r"([A-Za-z]+)(\d+)(\[|$)", loop.id)
        if parsed:
            prefix = parsed.group(1).upper()
            counters[prefix] = max(counters.get(prefix, 0), int(parsed.group(2)))
    rest = sorted(
        (key for key in candidates if key not in taken),
        key=lambda k: (
            candidates[k]["partition"],
            len(k),
            [order.get(g, (0, 0)) for g in candidates[k]["sequence"]],
        ),
    )
    generated: list[Loop] = []
    for key in rest:
        info = candidates[key]
        letter = info["polarity"].letter
        counters[letter] = counters.get(letter, 0) + 1
        loop_id = f"{letter}{counters[letter]}"
        generated.append(_loop(model, graph, loop_id, loop_id, info["sequence"], info, False, ""))
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
    graph: nx.DiGraph,
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
        variables=tuple(_display(model, g, graph) for g in sequence),
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


def _variable(graph: nx.DiGraph, group: str) -> str:
    """The variable a group (a variable, or one of its elements) belongs to."""
    return str(graph.nodes[group].get("variable", group)) if group in graph else group


def _instances(
    declared: NamedLoop,
    candidates: dict[tuple[str, ...], dict[str, Any]],
    taken: set[tuple[str, ...]],
    graph: nx.DiGraph,
    order: Mapping[str, tuple[int, int]],
) -> list[tuple[tuple[str, ...], str]]:
    """In a subscripted model, the loops an author's chain of variables names: one
    per element where the loop repeats (ids ``R1[north]``, ``R1[south]``)."""
    chain = tuple(canonical(v) for v in declared.variables)
    if len(chain) > 1 and chain[0] == chain[-1]:
        chain = chain[:-1]
    if not chain:
        return []
    wanted = _rotation_key(chain)
    found = [
        key
        for key, info in candidates.items()
        if key not in taken and _rotation_key(tuple(_variable(graph, g) for g in info["sequence"])) == wanted
    ]
    found.sort(key=lambda key: sorted(order.get(g, (0, 0)) for g in key))
    if len(found) < 2:
        return [(key, declared.id) for key in found]
    named = []
    for key in found:
        first = next(g for g in candidates[key]["sequence"] if _variable(graph, g) == chain[0])
        name = str(graph.nodes[first]["name"]) if first in graph else first
        named.append((key, declared.id + name[name.index("[") :] if "[" in name else declared.id))
    return named


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
