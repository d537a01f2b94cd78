"""A causal loop diagram of a few loops, laid out automatically for a screen.

The diagram shows the modeler's variables around the chosen loops: stocks in boxes,
other variables as plain text, one arrow per link between them, marked + or minus, and
each loop's id and name near its centre. A link drawn between two variables may pass
through variables the modeler never sees (a stock's unnamed flow, the inner stocks of
a SMOOTH), so each drawn link is a *segment* of causal-graph links, and its score is
the product of theirs: the product of the segments around a loop is the loop score.

Coordinates are screen pixels (the figure's ranges are its size in pixels), so that
boxes can be sized from their text and nothing needs rescaling when drawn.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..loops import Loop, LoopSet, Polarity
from ..model import Kind

__all__ = [
    "CHAR_WIDTH",
    "FONT_SIZE",
    "LINE_HEIGHT",
    "DiagramLink",
    "LoopDiagram",
    "loop_diagram",
    "segment_scores",
]

# Pixel metrics of the diagram's node font (17px sans-serif): wide enough that a
# box always holds its words.
FONT_SIZE = "17px"
CHAR_WIDTH = 9.0
LINE_HEIGHT = 21.0
_WRAP = 16  # characters per line of a variable's name
_CURVE = 0.18  # a link bows sideways by this share of its length, so A→B and B→A stay apart


@dataclass(frozen=True, slots=True)
class DiagramLink:
    """One drawn arrow: a run of causal-graph links from one shown variable to the next.

    Attributes
    ----------
    source, target:
        The modeler's variable names.
    keys:
        The causal-graph links (source key, target key) the arrow stands for.
    sign:
        +1, -1, or 0 where a link's polarity is undetermined.
    loops:
        Ids of the shown loops passing along it.
    """

    source: str
    target: str
    keys: tuple[tuple[str, str], ...]
    sign: int
    loops: tuple[str, ...]

    @property
    def mark(self) -> str:
        return {1: "+", -1: "\u2212"}.get(self.sign, "?")


@dataclass(frozen=True, slots=True)
class LoopDiagram:
    """The laid-out diagram.

    Attributes
    ----------
    nodes:
        Columns for the variables: ``name``, ``label`` (wrapped), ``x``, ``y``,
        ``width``, ``height``, ``stock`` (bool).
    links:
        The arrows, in the order of the ``edges`` columns.
    edges:
        Columns for the arrows: ``xs``, ``ys`` (the curve's points), ``tip_x``,
        ``tip_y`` (where the head's point goes), ``dir_x``, ``dir_y`` (the unit
        direction there), ``head_angle``, ``mark_x``, ``mark_y``, ``mark``.
    labels:
        Columns for the loops: ``id``, ``text``, ``x``, ``y``, ``polarity``.
    width, height:
        The drawing's size in pixels.
    """

    nodes: dict[str, list]
    links: tuple[DiagramLink, ...]
    edges: dict[str, list]
    labels: dict[str, list]
    width: int
    height: int


def _segments(loop: Loop, graph: nx.DiGraph) -> list[tuple[str, str, tuple[tuple[str, str], ...], int]]:
    """The loop's links grouped into arrows between the modeler's variables.

    A link whose ends belong to different variables starts an arrow; the links after
    it inside the target's own parts (unnamed flow → stock) join that arrow.
    """
    groups = {link.source: graph.nodes[link.source]["group"] for link in loop.links}
    names = {node: graph.nodes[node]["name"] for node in groups}
    segments: list[list] = []
    links = list(loop.links)
    # start at a link that crosses from one variable to another
    first = next(
        (i for i, link in enumerate(links) if groups[link.source] != graph.nodes[link.target]["group"]), 0
    )
    links = links[first:] + links[:first]
    for link in links:
        crosses = groups[link.source] != graph.nodes[link.target]["group"]
        if crosses or not segments:
            segments.append([link.source, link.target, [link]])
        else:
            segments[-1][1] = link.target
            segments[-1][2].append(link)
    result = []
    for source, target, run in segments:
        sign = 1
        for link in run:
            sign *= link.polarity.sign or 0
        source_group = graph.nodes[source]["group"]
        target_group = graph.nodes[target]["group"]
        result.append(
            (
                _group_name(graph, source_group, names.get(source, source)),
                _group_name(graph, target_group, target),
                tuple((link.source, link.target) for link in run),
                sign,
            )
        )
    return result


def _group_name(graph: nx.DiGraph, group: str, fallback: str) -> str:
    return str(graph.nodes[group]["name"]) if group in graph else fallback


def segment_scores(links: Sequence[DiagramLink], link_scores: dict, run: int = 0) -> np.ndarray:
    """Each arrow's score over time: the product of its causal-graph links' scores.

    Returns
    -------
    numpy.ndarray
        Shape (n_arrows, n_times).
    """
    rows = []
    for link in links:
        product = None
        for key in link.keys:
            series = np.asarray(link_scores[key][run], dtype=float)
            product = series if product is None else product * series
        rows.append(product)
    return np.array(rows) if rows else np.zeros((0, 0))


def loop_diagram(loops: LoopSet, model: object, *, width: int = 760, height: int = 500) -> LoopDiagram:
    """Lay out the causal loop diagram of `loops` in a `width` by `height` pixel box."""
    graph = loops.graph
    stocks = {v.name for v in getattr(model, "variables", ()) if v.kind in (Kind.STOCK, Kind.MEMORY)}
    order: list[str] = []
    arrows: dict[tuple[str, str], DiagramLink] = {}
    for loop in loops:
        for name in loop.variables:
            if name not in order:
                order.append(name)
        for source, target, keys, sign in _segments(loop, graph):
            known = arrows.get((source, target))
            along = (*known.loops, loop.id) if known else (loop.id,)
            arrows[source, target] = DiagramLink(source, target, keys, sign, along)
    labels = {name: "\n".join(textwrap.wrap(name, _WRAP)) or name for name in order}
    sizes = {
        name: (
            max(len(line) for line in labels[name].split("\n")) * CHAR_WIDTH + 18,
            labels[name].count("\n") * LINE_HEIGHT + LINE_HEIGHT + 12,
        )
        for name in order
    }
    position = _positions(order, list(arrows), sizes, width, height)
    links = tuple(arrows.values())
    edges = _edge_columns(links, position, sizes)
    curve_points = np.array(
        [(x, y) for xs, ys in zip(edges["xs"], edges["ys"], strict=True) for x, y in zip(xs, ys, strict=True)]
    ).reshape(-1, 2)
    return LoopDiagram(
        nodes={
            "name": order,
            "label": [labels[n] for n in order],
            "x": [position[n][0] for n in order],
            "y": [position[n][1] for n in order],
            "width": [sizes[n][0] for n in order],
            "height": [sizes[n][1] for n in order],
            "stock": [n in stocks for n in order],
        },
        links=links,
        edges=edges,
        labels=_label_columns(loops, position, sizes, curve_points, width, height),
        width=width,
        height=height,
    )


def _positions(
    order: list[str],
    arrows: list[tuple[str, str]],
    sizes: dict[str, tuple[float, float]],
    width: int,
    height: int,
) -> dict[str, tuple[float, float]]:
    """Each connected group of loops in a cell of its own, laid out there; then boxes
    pushed apart where they still come too close."""
    if not order:
        return {}
    undirected = nx.Graph()
    undirected.add_nodes_from(order)
    undirected.add_edges_from((a, b) for a, b in arrows if a != b)
    components = sorted(
        ([n for n in order if n in c] for c in nx.connected_components(undirected)),
        key=lambda names: (-len(names), order.index(names[0])),
    )
    columns = max(1, min(len(components), round(math.sqrt(len(components) * width / height))))
    rows = math.ceil(len(components) / columns)
    cell = (width / columns, height / rows)
    position: dict[str, tuple[float, float]] = {}
    for k, names in enumerate(components):
        corner = np.array([(k % columns) * cell[0], (rows - 1 - k // columns) * cell[1]])
        placed = _component_positions(names, undirected.subgraph(names), sizes, *cell)
        position.update({name: tuple(corner + point) for name, point in placed.items()})
    points = _separate(np.array([position[n] for n in order]), [sizes[n] for n in order], width, height)
    return {name: (float(x), float(y)) for name, (x, y) in zip(order, points, strict=True)}


def _component_positions(
    names: list[str], graph: nx.Graph, sizes: dict[str, tuple[float, float]], width: float, height: float
) -> dict[str, np.ndarray]:
    """Kamada-Kawai positions of one connected group, turned so that its long axis
    lies along the wide screen and stretched to its cell."""
    if len(names) == 1:
        return {names[0]: np.array([width / 2, height / 2])}
    if len(names) == 2:
        raw = {names[0]: np.array([-1.0, 0.0]), names[1]: np.array([1.0, 0.0])}
    else:
        # Start from a circle: deterministic, and loops read as circles.
        raw = nx.kamada_kawai_layout(graph, pos=nx.circular_layout(names))
    points = np.array([raw[n] for n in names], dtype=float)
    points -= points.mean(axis=0)
    if len(names) > 2:
        _, _, axes = np.linalg.svd(points, full_matrices=False)
        points = points @ axes.T
        span = np.ptp(points, axis=0)
        if span[1] < 0.25 * span[0]:
            # A chain of loops lies on a line, its arrows short and crowded:
            # zigzag it so that each link has room for its arrow and its sign.
            ranks = np.argsort(np.argsort(points[:, 0]))
            points[:, 1] = np.where(ranks % 2 == 0, 1.0, -1.0) * span[0] / len(names) * 0.8
    half = np.array([sizes[n] for n in names]).max(axis=0) / 2 + 10
    room = np.array([width, height]) - 2 * half
    span = np.ptp(points, axis=0)
    lengths = [np.linalg.norm(raw[a] - raw[b]) for a, b in graph.edges]
    typical = float(np.mean(lengths)) if lengths else 1.0
    # A few variables are not spread over the whole cell, where their arrows would
    # grow long and thin; each axis is stretched on its own to use a wide cell.
    scale = np.minimum(np.where(span > 1e-9, room / np.where(span > 1e-9, span, 1.0), 0.0), 380.0 / typical)
    points = points * scale + np.array([width / 2, height / 2])
    return {name: point for name, point in zip(names, points, strict=True)}


def _separate(points: np.ndarray, sizes: list[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """Push boxes apart along their lesser overlap, a few rounds, until each pair
    leaves room for an arrow and its head between them."""
    edge = np.array(sizes) / 2 + 4
    half = edge + np.array([45.0, 28.0])
    for _ in range(100):
        moved = False
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                gap = points[j] - points[i]
                overlap = half[i] + half[j] - np.abs(gap)
                if (overlap > 0).all():
                    axis = int(np.argmin(overlap / half[i]))
                    push = overlap[axis] / 2 + 1
                    direction = 1.0 if gap[axis] >= 0 else -1.0
                    points[i, axis] -= direction * push
                    points[j, axis] += direction * push
                    moved = True
        # the room between boxes is not needed at the drawing's edge
        points[:, 0] = np.clip(points[:, 0], edge[:, 0], width - edge[:, 0])
        points[:, 1] = np.clip(points[:, 1], edge[:, 1], height - edge[:, 1])
        if not moved:
            break
    return points


def _inside(point: np.ndarray, centre: tuple[float, float], size: tuple[float, float], pad: float) -> bool:
    return abs(point[0] - centre[0]) <= size[0] / 2 + pad and abs(point[1] - centre[1]) <= size[1] / 2 + pad


def _edge_columns(
    links: Sequence[DiagramLink],
    position: dict[str, tuple[float, float]],
    sizes: dict[str, tuple[float, float]],
) -> dict[str, list]:
    columns: dict[str, list] = {
        key: []
        for key in ("xs", "ys", "tip_x", "tip_y", "dir_x", "dir_y", "head_angle", "mark_x", "mark_y", "mark")
    }
    steps = np.linspace(0.0, 1.0, 61)[:, None]
    for link in links:
        a = np.array(position[link.source])
        b = np.array(position[link.target])
        if link.source == link.target:
            # a self-link: a small loop over the box
            h = sizes[link.source][1]
            centre = a + np.array([0.0, h / 2 + 18])
            angles = np.linspace(-math.pi / 2 + 0.5, 1.5 * math.pi - 0.5, 40)[:, None]
            curve = centre + np.hstack([np.cos(angles), np.sin(angles)]) * 20
        else:
            normal = np.array([-(b - a)[1], (b - a)[0]])
            control = (a + b) / 2 + normal * _CURVE
            curve = (1 - steps) ** 2 * a + 2 * (1 - steps) * steps * control + steps**2 * b
            keep = [
                k
                for k, point in enumerate(curve)
                if not _inside(point, position[link.source], sizes[link.source], 4)
                and not _inside(point, position[link.target], sizes[link.target], 5)
            ]
            curve = curve[keep] if len(keep) >= 2 else np.array([a, b])
        tangent = curve[-1] - curve[-2]
        columns["xs"].append(curve[:, 0].tolist())
        columns["ys"].append(curve[:, 1].tolist())
        unit = tangent / (np.linalg.norm(tangent) or 1.0)
        columns["tip_x"].append(float(curve[-1, 0]))
        columns["tip_y"].append(float(curve[-1, 1]))
        columns["dir_x"].append(float(unit[0]))
        columns["dir_y"].append(float(unit[1]))
        # Bokeh's triangle points up at angle 0; turn it to point along the curve.
        columns["head_angle"].append(math.atan2(tangent[1], tangent[0]) - math.pi / 2)
        near = curve[max(0, len(curve) - 8)]
        side = np.array([-tangent[1], tangent[0]])
        side = side / (np.linalg.norm(side) or 1.0) * 13
        columns["mark_x"].append(float(near[0] + side[0]))
        columns["mark_y"].append(float(near[1] + side[1]))
        columns["mark"].append(link.mark)
    return columns


def _label_columns(
    loops: LoopSet,
    position: dict[str, tuple[float, float]],
    sizes: dict[str, tuple[float, float]],
    curves: np.ndarray,
    width: int,
    height: int,
) -> dict[str, list]:
    """Each loop's id and name near the centre of its variables, where it covers no
    variable, no other label and as little of the arrows as can be."""
    ids, polarity, centres, options = [], [], [], []
    middle = np.mean(list(position.values()), axis=0) if position else np.zeros(2)
    for loop in loops:
        title = loop.name if loop.name and loop.name != loop.id else ""
        words = textwrap.wrap(textwrap.shorten(title, 34, placeholder="…"), 17) if title else []
        # the id and name if there is room, else the id alone (the name is in the words beside)
        choices = (
            [_extent(f"{loop.id}\n" + "\n".join(words)), _extent(loop.id)] if words else [_extent(loop.id)]
        )
        extent = choices[0][1]
        points = np.array([position[name] for name in loop.variables])
        centre = points.mean(axis=0)
        if len(points) == 1:
            centre = centre + np.array([0.0, sizes[loop.variables[0]][1] / 2 + 60])
        elif len(points) == 2:
            # Between two variables the label would sit on both arrows: put it beside
            # them, on the side away from the rest of the diagram.
            along = points[1] - points[0]
            normal = np.array([-along[1], along[0]]) / (np.linalg.norm(along) or 1.0)
            if np.dot(normal, centre - middle) < 0:
                normal = -normal
            reach = abs(normal[0]) * extent[0] / 2 + abs(normal[1]) * extent[1] / 2
            offset = normal * (_CURVE / 2 * np.linalg.norm(along) + reach + 8)
            # unless that side runs off the drawing
            room = (np.array([width, height]) - extent) / 2
            outside = np.any(np.abs(centre + offset - (width / 2, height / 2)) > room)
            centre = centre - offset if outside else centre + offset
        ids.append(loop.id)
        polarity.append(loop.polarity.letter if loop.polarity is not Polarity.UNDETERMINED else "U")
        centres.append(centre)
        options.append(choices)
    placed = _place_labels(centres, options, position, sizes, curves, width, height)
    return {
        "id": ids,
        "text": [text for text, _ in placed],
        "x": [float(spot[0]) for _, spot in placed],
        "y": [float(spot[1]) for _, spot in placed],
        "polarity": polarity,
    }


def _extent(text: str) -> tuple[str, np.ndarray]:
    lines = text.split("\n")
    return text, np.array([max(len(line) for line in lines) * 10 + 14, len(lines) * 22 + 10], dtype=float)


def _place_labels(
    centres: list[np.ndarray],
    options: list[list[tuple[str, np.ndarray]]],
    position: dict[str, tuple[float, float]],
    sizes: dict[str, tuple[float, float]],
    curves: np.ndarray,
    width: int,
    height: int,
) -> list[tuple[str, np.ndarray]]:
    """Each label's text and place: places tried on a spiral out from the wished-for
    centre, the first that covers no box or earlier label and the fewest arrow points;
    a shorter text where the longer one finds no free place."""
    boxes = [(np.array(position[n]), np.array(sizes[n]) + 8) for n in position]
    placed: list[tuple[str, np.ndarray]] = []
    taken: list[tuple[np.ndarray, np.ndarray]] = []
    for centre, choices in zip(centres, options, strict=True):
        for k, (text, extent) in enumerate(choices):
            spot, cost = _free_spot(centre, extent, [*boxes, *taken], curves, width, height)
            chosen = (text, spot)
            if cost < 1000 or k == len(choices) - 1:
                break
        placed.append(chosen)
        taken.append((spot, extent + 8))
    return placed


def _free_spot(
    centre: np.ndarray,
    extent: np.ndarray,
    obstacles: list[tuple[np.ndarray, np.ndarray]],
    curves: np.ndarray,
    width: int,
    height: int,
) -> tuple[np.ndarray, float]:
    low, high = extent / 2, np.array([width, height]) - extent / 2
    best, best_cost = np.clip(centre, low, high), np.inf
    for radius in range(0, 241, 12):
        for angle in np.linspace(0, 2 * math.pi, 4 + radius // 6, endpoint=False):
            spot = np.clip(centre + radius * np.array([math.cos(angle), math.sin(angle)]), low, high)
            cost = radius / 12
            for other, size in obstacles:
                if (np.abs(spot - other) < (extent + size) / 2).all():
                    cost += 1000.0
            if curves.size:
                cost += 4.0 * float((np.abs(curves - spot) < extent / 2).all(axis=1).sum())
            if cost < best_cost:
                best, best_cost = spot, cost
        if best_cost < 1.0 + radius / 12:
            break  # nothing in the way here; farther out cannot do better
    return best, best_cost
