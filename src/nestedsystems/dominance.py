"""Loops That Matter: which feedback loop drives the model, step by step.

Schoenberg, Davidsen & Eberlein (2020), with the flow-to-stock form of Schoenberg,
Hayward & Eberlein (2023). For each link x → z and each step t of an Euler run at
TIME STEP, z's equation is evaluated again with only x moved to its new value::

    Δx z(t) = f(x(t), y(t-1), ...) - z(t-1)
    LS(x → z) = |Δx z / Δz| · sign(Δx z / Δx)         0 when Δz = 0 or Δx = 0
    LS(flow → S) = ±|Δflow / Δnet flow|                + for inflows, - for outflows

A loop's score is the product of its links' scores; its relative score divides
that by the sum of the absolute scores of every loop in the same cycle partition,
so it lies in [-1, 1] and says what share of the partition's change the loop
explains, with its sign.

Every equation is re-evaluated once per input, vectorised over the whole time
axis (and an ensemble's run axis) in one call, with the compiled engine's own
equation functions: the cost is about one extra evaluation of the model per link.

Timing follows Simlin (pysimlin 0.8), whose relative loop scores these match to
round-off: flows and net flows are compared at the same two saved times as every
other variable. The paper writes the flow form with the stock's second
difference, ΔS(t) - ΔS(t-1) = dt·(n(t-1) - n(t-2)) under Euler, which is the same
ratio one step later and is why it calls the first two steps undefined; here
only step 0 is (it reads 0 and is marked inactive).

Where Δz vanishes a ratio can overflow: such points read 0 and are marked in
`LoopScores.guarded`, so that no score is ever infinite. Where the stocks barely
move the ratios are finite but tell nothing: `LoopScores.pace` measures how fast
the stocks move (`pace`), and dominance can set such quiet steps apart.

Memory: an ensemble keeps (runs, times, loops) arrays of raw and relative scores;
score thousands of loops one run at a time, or an ensemble through a subset of
loops (`LoopSet.named`, `LoopSet.subset`).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .causal_graph import TIME
from .errors import ParameterError
from .loops import Loop, LoopSet, Polarity, find_loops
from .model import Model
from .pace import QUIET_PACE, partition_pace
from .trajectories import Trajectories, every_step_run

__all__ = [
    "DominantPeriod",
    "LoopScores",
    "dominant_periods",
    "dominant_sets",
    "flow_link_score",
    "link_score",
    "loop_scores",
]


def link_score(
    partial_change: Any, target_change: Any, source_change: Any, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ordinary link score ``|Δx z / Δz| · sign(Δx z / Δx)``.

    Parameters
    ----------
    partial_change:
        Δx z: z's equation with only x moved, minus z's previous value.
    target_change, source_change:
        Δz and Δx over the same step.
    out:
        Where to write the scores (an array of the broadcast shape).

    Returns
    -------
    score, guarded
        The score (0 where Δz or Δx is 0), and a mask of the points where the
        ratio was not finite (Δz vanishing to round-off); those read 0 too.
    """
    partial = np.asarray(partial_change, dtype=float)
    dz = np.asarray(target_change, dtype=float)
    dx = np.asarray(source_change, dtype=float)
    score = np.empty(np.broadcast_shapes(partial.shape, dz.shape, dx.shape)) if out is None else out
    with np.errstate(all="ignore"):
        np.divide(partial, dz, out=score)
        np.abs(score, out=score)
        direction = np.divide(partial, dx, out=np.empty(score.shape))
        score *= np.sign(direction, out=direction)
    still = (dz == 0) | (dx == 0)
    unsteady = ~np.isfinite(score)
    guarded = unsteady & ~still
    score[still | unsteady] = 0.0
    return score, guarded


def flow_link_score(flow_change: Any, net_change: Any, sign: Any) -> tuple[np.ndarray, np.ndarray]:
    """The flow-to-stock link score of the 2023 paper: ``sign · |Δflow / Δnet|``.

    The polarity of a flow's link to its stock is structural (+1 inflow, -1
    outflow); the magnitude is the flow's share of the change in the net flow.
    """
    flow = np.asarray(flow_change, dtype=float)
    net = np.asarray(net_change, dtype=float)
    with np.errstate(all="ignore"):
        score = sign * np.abs(flow / net)
    still = net == 0
    guarded = ~np.isfinite(score) & ~still
    return np.where(still | guarded, 0.0, score), guarded


@dataclass(frozen=True, slots=True)
class DominantPeriod:
    """An interval in which one set of same-polarity loops explains ≥ threshold of
    the change of a partition.

    ``share`` is the mean over the interval of the loops' combined |relative score|.
    A quiet period, in which the stocks barely move (see `pace`), has no loops,
    undetermined polarity and a share of 0.
    """

    partition: int
    loops: tuple[str, ...]
    polarity: Polarity
    start: float
    end: float
    share: float

    @property
    def quiet(self) -> bool:
        """Nothing much changes in this period: no loop is said to drive it."""
        return not self.loops


# What `dominant_sets` would choose at a quiet step, so that `periods_of` makes quiet periods.
_QUIET_SET: tuple[tuple[str, ...], Polarity, float] = ((), Polarity.UNDETERMINED, 0.0)


@dataclass(frozen=True, eq=False)
class LoopScores:
    """Loop scores over a run.

    Attributes
    ----------
    loops:
        The `LoopSet` scored; the last axis of the arrays follows ``loops.loops``.
    times:
        Shape (n_times,).
    scores:
        Raw loop scores, shape (n_runs, n_times, n_loops). Not comparable
        between partitions or models; read `relative`.
    relative:
        Relative loop scores in [-1, 1], same shape.
    active:
        Shape (n_runs, n_times, n_partitions): the partition changed at that step
        (some loop score was non-zero), so its relative scores mean something.
    guarded:
        Shape (n_runs, n_times, n_loops): a link of the loop had a vanishing Δz
        (a ratio that was not finite) and was read as 0 at that step.
    pace:
        Shape (n_runs, n_times, n_partitions): how fast the partition's stocks
        move, as the share of its size the fastest would cover over the whole run
        at that step's speed (`pace.partition_pace`); below `pace.QUIET_PACE` the
        step is quiet.
    link_scores:
        (source key, target key) → shape (n_runs, n_times).
    ensemble:
        True when the run had a run axis of its own (array parameters).
    """

    loops: LoopSet
    times: np.ndarray
    scores: np.ndarray
    relative: np.ndarray
    active: np.ndarray
    guarded: np.ndarray
    pace: np.ndarray
    link_scores: dict[tuple[str, str], np.ndarray]
    ensemble: bool = False

    def _index(self, loop_id: str) -> int:
        wanted = self.loops[loop_id]
        return next(i for i, loop in enumerate(self.loops.loops) if loop is wanted)

    def __getitem__(self, loop_id: str) -> np.ndarray:
        """A loop's relative score: (n_times,) for one run, (n_runs, n_times) for an ensemble."""
        series = self.relative[:, :, self._index(loop_id)]
        return series if self.ensemble else series[0]

    def mean_share(self, run: int = 0) -> dict[str, float]:
        """Each loop's mean |relative score| over the steps its partition is active."""
        shares = {}
        for i, loop in enumerate(self.loops.loops):
            active = self.active[run, :, loop.partition]
            values = np.abs(self.relative[run, active, i])
            shares[loop.id] = float(values.mean()) if values.size else 0.0
        return shares

    def ranking(self, run: int = 0) -> list[tuple[Loop, float]]:
        """Loops by mean share, loops that compete within their partition first.

        A loop alone in its partition reads ±1 at every active step; ranked with
        the others it would crowd out the loops that actually compete.
        """
        shares = self.mean_share(run)
        crowd = {p: len(self.loops.in_partition(p)) for p in range(len(self.loops.partitions))}
        return sorted(
            ((loop, shares[loop.id]) for loop in self.loops.loops),
            key=lambda item: (crowd.get(item[0].partition, 1) == 1, item[0].partition, -item[1]),
        )

    def quiet(self, pace: float = QUIET_PACE) -> np.ndarray:
        """Shape (n_runs, n_times, n_partitions): the partition's stocks move slower
        than `pace` at that step (nothing much changes, whatever the shares say)."""
        return self.pace < pace

    def dominant_periods(
        self, threshold: float = 0.5, *, run: int = 0, quiet: float | None = None
    ) -> tuple[DominantPeriod, ...]:
        return dominant_periods(self, threshold, run=run, quiet=quiet)


def dominant_periods(
    scores: LoopScores, threshold: float = 0.5, *, run: int = 0, quiet: float | None = None
) -> tuple[DominantPeriod, ...]:
    """Intervals of dominance, partition by partition.

    At each active step the loops of a partition are split by polarity (a loop of
    undetermined polarity joins the side its score's sign is on that step); each
    side takes its loops from the largest |relative score| down until they explain
    `threshold` of the change; the side explaining more dominates. Consecutive
    steps with the same dominant set form one period.

    Parameters
    ----------
    scores:
        From `loop_scores`.
    threshold:
        Share of the change the dominant set must explain (0.5 in the paper).
    run:
        Which member of an ensemble.
    quiet:
        A pace (`pace.QUIET_PACE` is the usual one): steps at which the partition's
        stocks move slower form quiet periods, with no loops. Default none: the
        paper's analysis, which names a dominant set at every active step.
    """
    if not 0 < threshold <= 1:
        raise ParameterError(f"threshold must be in (0, 1], found {threshold}")
    loops = scores.loops.loops
    periods: list[DominantPeriod] = []
    for partition in range(len(scores.loops.partitions)):
        members = [i for i, loop in enumerate(loops) if loop.partition == partition]
        if not members:
            continue
        chosen_sets = dominant_sets(
            scores.relative[run], scores.active[run, :, partition], members, loops, threshold
        )
        if quiet is not None:
            still = scores.quiet(quiet)[run, :, partition]
            chosen_sets = [_QUIET_SET if s else chosen for chosen, s in zip(chosen_sets, still, strict=True)]
        periods.extend(periods_of(chosen_sets, scores.times, partition))
    return tuple(periods)


def periods_of(
    chosen_sets: list[tuple[tuple[str, ...], Polarity, float] | None], times: np.ndarray, partition: int
) -> list[DominantPeriod]:
    """Consecutive steps with the same dominant set, as periods."""
    periods: list[DominantPeriod] = []
    current: tuple[tuple[str, ...], Polarity] | None = None
    start = 0
    shares: list[float] = []
    for t, chosen in enumerate([*chosen_sets, None]):
        key = None if chosen is None else chosen[:2]
        if key != current or t == len(chosen_sets):
            if current is not None:
                periods.append(
                    DominantPeriod(
                        partition,
                        current[0],
                        current[1],
                        float(times[start]),
                        float(times[t - 1]),
                        float(np.mean(shares)),
                    )
                )
            current, start, shares = key, t, []
        if chosen is not None:
            shares.append(chosen[2])
    return periods


def dominant_sets(
    relative: np.ndarray, active: np.ndarray, members: list[int], loops: tuple[Loop, ...], threshold: float
) -> list[tuple[tuple[str, ...], Polarity, float] | None]:
    """At each step, the dominant set of loops, its polarity and the share it explains.

    Vectorised over the steps: each polarity side's shares are sorted once per
    step by numpy, so thousands of loops over a thousand steps take milliseconds.

    Parameters
    ----------
    relative:
        Relative loop scores, shape (n_times, n_loops).
    active:
        Shape (n_times,): steps at which the partition changed.
    members:
        Indices of the partition's loops.
    """
    values = relative[:, members]
    polarity = np.array([loops[i].polarity.letter for i in members])
    ids = np.array([loops[i].id for i in members], dtype=object)
    sides = {}
    for side, letter, sign in ((Polarity.REINFORCING, "R", 1.0), (Polarity.BALANCING, "B", -1.0)):
        # a loop of undetermined polarity joins the side its score's sign is on that step
        mine = (polarity == letter) | ((polarity == "U") & (np.sign(values) == sign))
        shares = np.where(mine, np.abs(values), 0.0)
        order = np.argsort(-shares, axis=1, kind="stable")
        ranked = np.take_along_axis(shares, order, axis=1)
        running = np.cumsum(ranked, axis=1)
        reached = running >= threshold
        # how many loops it takes: up to the first that reaches the threshold, else all that count
        count = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, (ranked > 0).sum(axis=1))
        total = running[np.arange(len(running)), np.maximum(count - 1, 0)] if running.shape[1] else 0 * count
        sides[side] = (order, count, np.where(count > 0, total, 0.0))
    reinforcing, balancing = sides[Polarity.REINFORCING], sides[Polarity.BALANCING]
    chosen: list[tuple[tuple[str, ...], Polarity, float] | None] = []
    for t in range(len(relative)):
        best = None
        for side, (order, count, total) in (
            (Polarity.REINFORCING, reinforcing),
            (Polarity.BALANCING, balancing),
        ):
            if active[t] and total[t] > 0 and (best is None or total[t] > best[2]):
                best = (tuple(sorted(ids[order[t, : count[t]]])), side, float(total[t]))
        chosen.append(best)
    return chosen


def _score_links(trajectories: Trajectories, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """Every link's score over the run, rows of one (links, runs, times) table
    in the order of ``plan.edges``, and where each was guarded.

    The changes are gathered link by link (one equation re-evaluated per link),
    the ratios taken for all links at once.
    """
    n_runs, n_times = trajectories.values[TIME].shape
    shape = (len(plan.edges), n_runs, max(n_times - 1, 0))
    moved, target_change, source_change = np.empty(shape), np.empty(shape), np.empty(shape)
    with np.errstate(all="ignore"):
        for i, (source, target) in enumerate(plan.edges):
            if plan.flow_signs[i]:
                moved[i] = trajectories.change(source)
                target_change[i] = np.diff(trajectories.current(target), axis=1)
                # The flow form, sign·|Δflow/Δnet|, is the ordinary form with Δx set
                # to sign·Δflow: then sign(Δflow/Δx) is the flow's structural sign,
                # and a still flow (Δx = 0) scores 0 as it should.
                np.multiply(moved[i], plan.flow_signs[i], out=source_change[i])
            else:
                lag = trajectories.lag(target)
                moved[i] = trajectories.partial_change(source, target)
                target_change[i] = trajectories.change(target)
                source_change[i] = trajectories.change(source, lag)
    scores = np.empty((len(plan.edges), n_runs, n_times))
    guards = np.zeros((len(plan.edges), n_runs, n_times), dtype=bool)
    scores[:, :, 0] = 0.0  # step 0 has no change before it
    _, guards[:, :, 1:] = link_score(moved, target_change, source_change, out=scores[:, :, 1:])
    return scores, guards


class _Plan:
    """How a `LoopSet`'s scores are assembled from its link scores, worked out once.

    A loop's score is the product of its links' scores, and loops share long
    stretches: every path from one stock to the next recurs in many loops. So
    each path is cut at its stocks into segments, each distinct segment's
    product is computed once, and a path's score is the product of its
    segments' (on the flagship's 2000 loops, a third of the multiplications of
    link-by-link products). Both products run as whole-array gathers, one per
    segment length and one per segment count, never a Python call per loop.
    """

    def __init__(self, loops: LoopSet):
        graph = loops.graph
        self.edges = sorted(
            {(link.source, link.target) for loop in loops for path in loop.paths for link in path}
        )
        row = {edge: i for i, edge in enumerate(self.edges)}
        segments: dict[tuple[int, ...], int] = {}
        self.path_segments: list[list[int]] = []
        owner: list[int] = []  # the loop each path shows as
        for i, loop in enumerate(loops):
            for path in loop.paths:
                rows = [row[link.source, link.target] for link in path]
                cuts = [k for k, link in enumerate(path) if graph.nodes[link.source]["state"]] or [0]
                rows = rows[cuts[0] :] + rows[: cuts[0]]
                bounds = [c - cuts[0] for c in cuts] + [len(rows)]
                parts = [tuple(rows[a:b]) for a, b in itertools.pairwise(bounds)]
                self.path_segments.append([segments.setdefault(part, len(segments)) for part in parts])
                owner.append(i)
        self.flow_signs = np.array(
            [graph.edges[edge]["sign"] if graph.edges[edge]["flow"] else 0 for edge in self.edges],
            dtype=float,
        )
        # segments numbered by length, so that each length's products fill a block of rows
        by_length = sorted(segments, key=len)
        renumber = {segments[part]: k for k, part in enumerate(by_length)}
        self.path_segments = [[renumber[k] for k in parts] for parts in self.path_segments]
        self.segment_rows = by_length
        self.segments = _by_length(self.segment_rows)
        self.paths = _by_length(self.path_segments)
        self.owner = np.array(owner, dtype=int)
        self.first = np.searchsorted(self.owner, np.arange(len(loops)))  # each loop's main path
        self.alternates = [k for k in range(len(owner)) if k > 0 and owner[k] == owner[k - 1]]
        self.partition = np.array([loop.partition for loop in loops], dtype=int)
        self.n_partitions = len(loops.partitions)
        # each partition's loops: a slice when they are contiguous (as `find_loops` orders
        # them unless a named loop comes first), else their indices
        self.rows: list[slice | np.ndarray] = []
        for p in range(self.n_partitions):
            members = np.flatnonzero(self.partition == p)
            contiguous = members.size and members[-1] - members[0] + 1 == members.size
            self.rows.append(slice(members[0], members[-1] + 1) if contiguous else members)
        self._paths_with: dict[int, np.ndarray] | None = None

    def paths_with(self, link: int) -> np.ndarray:
        """The paths through one link (for guards, which are rare: built on first need)."""
        if self._paths_with is None:
            holders: dict[int, list[int]] = {}
            for k, parts in enumerate(self.path_segments):
                for r in {r for s in parts for r in self.segment_rows[s]}:
                    holders.setdefault(r, []).append(k)
            self._paths_with = {r: np.array(ks) for r, ks in holders.items()}
        return self._paths_with.get(link, np.zeros(0, dtype=int))


def _by_length(sequences: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sequences of indices grouped by length: (their positions, an (n, length) index matrix)."""
    groups: dict[int, list[int]] = {}
    for k, sequence in enumerate(sequences):
        groups.setdefault(len(sequence), []).append(k)
    return [
        (np.array(ks), np.array([sequences[k] for k in ks], dtype=int).reshape(len(ks), length))
        for length, ks in sorted(groups.items())
    ]


def _gathered_products(
    table: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]], count: int
) -> np.ndarray:
    """Row k of the result: the product of the rows of `table` that group lists for k.

    Groups are taken a few hundred rows at a time through two small work buffers,
    which stay in the processor's cache (fresh arrays of a whole group's size cost
    more in page faults and memory traffic than the multiplications), and rows
    that are contiguous in the result are multiplied in place.
    """
    out = np.empty((count, table.shape[1]))
    rows = max(1, min(_CHUNK_CELLS // max(table.shape[1], 1), count))
    blocks, gathered = np.empty((rows, table.shape[1])), np.empty((rows, table.shape[1]))
    for group_positions, group_index in groups:
        for start in range(0, len(group_positions), rows):
            positions, index = group_positions[start : start + rows], group_index[start : start + rows]
            n = len(positions)
            contiguous = positions[-1] - positions[0] + 1 == n and bool(np.all(np.diff(positions) == 1))
            block = out[positions[0] : positions[0] + n] if contiguous else blocks[:n]
            np.take(table, index[:, 0], axis=0, out=block, mode="clip")  # mode: unbuffered
            for column in range(1, index.shape[1]):
                np.take(table, index[:, column], axis=0, out=gathered[:n], mode="clip")
                block *= gathered[:n]
            if not contiguous:
                out[positions] = block
    return out


# Cells (rows times steps) of a work buffer of `_gathered_products`: 1 MB.
_CHUNK_CELLS = 1 << 17


_PLANS: weakref.WeakKeyDictionary[LoopSet, _Plan] = weakref.WeakKeyDictionary()


def _plan(loops: LoopSet) -> _Plan:
    plan = _PLANS.get(loops)
    if plan is None:
        plan = _PLANS[loops] = _Plan(loops)
    return plan


def _products(plan: _Plan, links: np.ndarray, guards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every loop's score, the product of its links' scores (the strongest of the
    graph paths that show as the loop), and whether any link was guarded;
    shape (n_loops, n_runs * n_times)."""
    width = links.shape[1] * links.shape[2] if links.ndim == 3 else 0
    table = links.reshape(len(plan.edges), width)
    segments = _gathered_products(table, plan.segments, len(plan.segment_rows))
    paths = _gathered_products(segments, plan.paths, len(plan.path_segments))
    raw = paths[plan.first] if plan.alternates else paths
    # Paths that show as one loop (through a TREND's average and around it) count
    # as their strongest, as a module's composite score does (2020 paper,
    # section 6): adding them would let opposite paths cancel.
    for k in plan.alternates:
        i = plan.owner[k]
        raw[i] = np.where(np.abs(paths[k]) > np.abs(raw[i]), paths[k], raw[i])
    flags = guards.reshape(len(plan.edges), width)
    guarded = np.zeros((len(plan.first), width), dtype=bool)
    for link in np.flatnonzero(flags.any(axis=1)):  # guards are rare
        guarded[plan.owner[plan.paths_with(int(link))]] |= flags[link]
    return raw, guarded


def loop_scores(
    model: Any,
    *,
    loops: LoopSet | None = None,
    params: Mapping[str, Any] | None = None,
    run: Any = None,
) -> LoopScores:
    """Loops That Matter scores of every loop over an Euler run at TIME STEP.

    Parameters
    ----------
    model:
        A `Model`, or a `CompiledModel`: one compiled for machine code
        (``compile_model(model, native=True)``) runs its scoring run as machine
        code too, worth it when a model is scored again and again.
    loops:
        The loops to score (default: `find_loops(model)`).
    params:
        Constant overrides, as for `simulate`; arrays give an ensemble, scored
        member by member in the same vectorised calls.
    run:
        A run to score instead of simulating one: Euler, saved at every TIME STEP,
        holding every variable (internal ones from SMOOTH/DELAY included).

    Returns
    -------
    LoopScores
    """
    from .compiler import compile_model

    explicit = not isinstance(model, Model)
    compiled = compile_model(model, native=False) if isinstance(model, Model) else model
    loops = loops if loops is not None else find_loops(compiled.model)
    if run is None:
        compiled, run = every_step_run(compiled, params, explicit, loops)
    elif getattr(run, "method", "euler") != "euler":
        raise ParameterError(f"loop scores need an Euler run, found method {run.method!r}")
    trajectories = Trajectories(compiled, loops.graph, run)
    steps = np.diff(trajectories.times)
    if steps.size and not np.allclose(steps, steps[0]):
        raise ParameterError("loop scores need a run saved at every TIME STEP")

    plan = _plan(loops)
    links, guards = _score_links(trajectories, plan)
    n_runs, n_times = trajectories.values[TIME].shape
    raw, guarded = _products(plan, links, guards)

    # Each loop's share of its partition's change, partition by partition: sums
    # over row ranges rather than a product with a membership matrix, whose BLAS
    # threads spin on a shared machine and through which an overflowing score
    # would spread NaN to every partition. The shares' array holds the absolute
    # scores first: no other array of that size is made.
    totals = np.zeros((max(plan.n_partitions, 1), raw.shape[1]))
    busy = np.zeros(totals.shape, dtype=bool)
    relative = np.empty_like(raw)
    with np.errstate(all="ignore"):
        for p, rows in enumerate(plan.rows):
            if isinstance(rows, slice):  # loops come partition by partition: views, no copies
                np.abs(raw[rows], out=relative[rows])
                np.sum(relative[rows], axis=0, out=totals[p])
                busy[p] = np.isfinite(totals[p]) & (totals[p] > 0)
                np.divide(raw[rows], totals[p], out=relative[rows])
                if not busy[p].all():
                    relative[rows][:, ~busy[p]] = 0.0
            else:
                totals[p] = np.abs(raw[rows]).sum(axis=0)
                busy[p] = np.isfinite(totals[p]) & (totals[p] > 0)
                relative[rows] = np.where(busy[p], raw[rows] / totals[p], 0.0)
    active = busy[: plan.n_partitions].T.reshape(n_runs, n_times, plan.n_partitions)

    def by_step(table: np.ndarray) -> np.ndarray:  # (loops, runs*times) to (runs, times, loops)
        return table.T.reshape(n_runs, n_times, table.shape[0])

    return LoopScores(
        loops=loops,
        times=trajectories.times,
        scores=by_step(raw),
        relative=by_step(relative),
        active=active,
        guarded=by_step(guarded),
        pace=partition_pace(trajectories.series, loops, trajectories.times, n_runs),
        link_scores=dict(zip(plan.edges, links, strict=True)),
        ensemble=bool(getattr(run, "ensemble", False)),
    )
