"""Loop dominance in plain words, for a board or a classroom.

One sentence per period of dominance (with an en dash between the months)::

    Months 0-20: the Burnout-attrition loop (R3, reinforcing) drives most of the
    change: rising strain pushes staff out, which raises the workload of those who stay.

A loop the author named speaks through its description; others are described by
the variables they pass through. Shares are averaged over a window of a small
share of the run, and shorter periods folded into their neighbours, so that a
flicker of dominance at a turning point does not become a sentence of its own.

Where the stocks barely move (an equilibrium, a shock that has died away) the
shares are ratios of tiny changes and no loop is said to drive anything; such a
quiet stretch (`pace`) is a period of its own::

    Months 62-120: the system settles and nothing much changes: every stock stays
    within 2% of its level.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from .dominance import DominantPeriod, LoopScores, dominant_sets, periods_of
from .errors import ParameterError
from .loops import Loop, Polarity
from .pace import QUIET_PACE, moved_share, plain_percent

__all__ = ["describe_dominance", "describe_periods", "merge_periods", "narrated_periods"]


def merge_periods(periods: list[DominantPeriod], shortest: float) -> list[DominantPeriod]:
    """Stretches of time a reader can follow, out of step-by-step dominant sets.

    Among many loops the dominant set changes membership at nearly every step
    while one loop stays in it throughout (R3 with R7 now, R3 with R9 next).
    Consecutive periods of one polarity with a loop in every one of them are one
    stretch; its loops are those in the dominant set at least half of the
    stretch. Stretches shorter than `shortest` are then folded into a neighbour:
    the one that shares such a loop, else the longer one.
    """
    stretches: list[_Stretch] = []
    for i, period in enumerate(periods):
        following = periods[i + 1].start if i + 1 < len(periods) else None
        stretch = _Stretch.of(period, following)
        if stretches and stretches[-1].joins(stretch):
            stretches[-1] = stretches[-1].absorb(stretch)
        else:
            stretches.append(stretch)
    while len(stretches) > 1:
        short = [i for i, s in enumerate(stretches) if s.end - s.start < shortest]
        if not short:
            break
        i = min(short, key=lambda k: stretches[k].end - stretches[k].start)
        neighbours = [k for k in (i - 1, i + 1) if 0 <= k < len(stretches)]
        k = max(
            neighbours,
            key=lambda k: (stretches[k].joins(stretches[i]), stretches[k].end - stretches[k].start),
        )
        low, high = min(i, k), max(i, k)
        stretches[low : high + 1] = [stretches[k].absorb(stretches[i])]
        # the stretches on either side of a folded one may now be one
        for j in (low - 1, low):
            if 0 <= j < len(stretches) - 1 and stretches[j].joins(stretches[j + 1]):
                stretches[j : j + 2] = [stretches[j].absorb(stretches[j + 1])]
    return [stretch.period() for stretch in stretches]


@dataclass(frozen=True)
class _Stretch:
    """Consecutive dominant periods told as one: how long each loop was in the
    dominant set, over how much of the stretch its polarity led."""

    partition: int
    polarity: Polarity
    start: float
    end: float
    backbone: frozenset[str]  # the loops in every one of its dominant sets
    presence: dict[str, float]  # loop id -> time spent in the dominant set
    led: float  # time over which its sets dominated (not folded-in time)
    share: float  # time-weighted share of those sets (divide by `led`)

    @classmethod
    def of(cls, period: DominantPeriod, following: float | None) -> _Stretch:
        # a period covers its steps up to the next period's start; the last one its own span
        span = (following - period.start) if following is not None else (period.end - period.start)
        span = max(span, 1e-12)
        return cls(
            period.partition,
            period.polarity,
            period.start,
            period.end,
            frozenset(period.loops),
            dict.fromkeys(period.loops, span),
            span,
            period.share * span,
        )

    def joins(self, other: _Stretch) -> bool:
        return self.polarity is other.polarity and bool(self.backbone & other.backbone)

    def absorb(self, other: _Stretch) -> _Stretch:
        """This stretch widened over `other`, whose loops count if it `joins`."""
        start, end = min(self.start, other.start), max(self.end, other.end)
        if not self.joins(other):
            return replace(self, start=start, end=end)
        presence = dict(self.presence)
        for loop, time in other.presence.items():
            presence[loop] = presence.get(loop, 0.0) + time
        return replace(
            self,
            start=start,
            end=end,
            backbone=self.backbone & other.backbone,
            presence=presence,
            led=self.led + other.led,
            share=self.share + other.share,
        )

    def period(self) -> DominantPeriod:
        core = sorted(loop for loop, time in self.presence.items() if time >= 0.5 * self.led)
        return DominantPeriod(
            self.partition, tuple(core), self.polarity, self.start, self.end, self.share / self.led
        )


def _plural(units: str) -> str:
    units = units.strip() or "Time"
    units = units[0].upper() + units[1:]
    return units if units.endswith("s") or units == "Time" else units + "s"


def _number(value: float, horizon: float) -> str:
    # whole units on a long run (months over ten years), tenths on a short one
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 or horizon >= 20 else f"{value:.1f}"


def _clause(text: str) -> str:
    """A description as the second half of a sentence: its first letter lowered
    unless it starts an acronym or a name written in capitals."""
    text = text.strip()
    first = text.split(" ", 1)[0]
    if first == "A" or (len(first) > 1 and first[0].isupper() and first[1].islower()):
        text = text[0].lower() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _title(loop: Loop) -> str:
    if loop.named:
        return f"the {loop.name} loop ({loop.id}, {loop.polarity.value})"
    through = list(loop.variables)
    listed = ", ".join(through[:-1]) + f" and {through[-1]}" if len(through) > 1 else through[0]
    return f"the loop through {listed} ({loop.id}, {loop.polarity.value})"


def _sentence(period: DominantPeriod, loops: list[Loop], units: str, horizon: float) -> str:
    when = f"{units} {_number(period.start, horizon)}–{_number(period.end, horizon)}"
    if len(loops) == 1:
        (loop,) = loops
        text = f"{when}: {_title(loop)} drives most of the change"
        return f"{text}: {_clause(loop.description)}" if loop.description else text + "."
    names = [f"{loop.name} ({loop.id})" if loop.named else loop.id for loop in loops]
    together = ", ".join(names[:-1]) + f" and {names[-1]}"
    every = "both" if len(loops) == 2 else "all"
    text = f"{when}: the {together} loops, {every} {period.polarity.value}, together drive most of the change"
    described = [loop for loop in loops if loop.description]
    return f"{text}: {_clause(described[0].description)}" if described else text + "."


def _quiet_sentence(period: DominantPeriod, scores: LoopScores, run: int, units: str, horizon: float) -> str:
    when = f"{units} {_number(period.start, horizon)}–{_number(period.end, horizon)}"
    times = scores.times
    moved = moved_share(scores.pace[run, :, period.partition], times, period.start, period.end)
    from_start = period.start <= times[0]
    if moved == 0:
        return (
            f"{when}: nothing changes: the system is at rest."
            if from_start
            else f"{when}: the system comes to rest."
        )
    level = f"every stock stays within {plain_percent(moved)} of its level"
    if from_start:
        return f"{when}: nothing much changes: the system is in balance, and {level}."
    return f"{when}: the system settles and nothing much changes: {level}."


def narrated_periods(
    scores: LoopScores,
    *,
    partition: int | None = None,
    run: int = 0,
    threshold: float = 0.5,
    shortest: float | None = None,
    quiet: float | None = QUIET_PACE,
) -> list[DominantPeriod]:
    """The periods `describe_dominance` tells about, one per sentence.

    Stretches at least `shortest` long in which the stocks move slower than the
    `quiet` pace are quiet periods (`DominantPeriod.quiet`); a shorter lull is told
    with the change around it. Elsewhere shares are averaged over a moving window
    before the dominant loops are chosen, and periods shorter than the window are
    folded into their neighbours. Each period starts one step early: a step's
    scores describe the change over the step before it. A chart beside the
    sentences draws these, so both agree.

    Parameters are those of `describe_dominance`; empty when nothing in the
    partition ever changes and nothing is quiet either.
    """
    times = scores.times
    horizon = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    step = float(times[1] - times[0]) if len(times) > 1 else 0.0
    shortest = 0.05 * horizon if shortest is None else shortest
    if partition is not None and not 0 <= partition < len(scores.loops.partitions):
        raise ParameterError(
            f"partition {partition} does not exist; the model has {len(scores.loops.partitions)}"
        )
    window = round(shortest / step) if step else 1
    if partition is not None:
        return _told(scores, partition, run, threshold, shortest, window, quiet)
    # the first partition where some loop drives a change; else one that is quiet
    quiet_only: list[DominantPeriod] = []
    for candidate in range(len(scores.loops.partitions)):
        periods = _told(scores, candidate, run, threshold, shortest, window, quiet)
        if any(not period.quiet for period in periods):
            return periods
        quiet_only = quiet_only or periods
    return quiet_only


def _told(
    scores: LoopScores,
    partition: int,
    run: int,
    threshold: float,
    shortest: float,
    window: int,
    quiet: float | None,
) -> list[DominantPeriod]:
    """One partition's narrated periods: its quiet stretches, and the dominant
    loops of the stretches between them."""
    times = scores.times
    if not any(loop.partition == partition for loop in scores.loops) or not len(times):
        return []
    step = float(times[1] - times[0]) if len(times) > 1 else 0.0
    still = np.zeros(len(times), dtype=bool)
    if quiet is not None:
        still = _lasting(scores.quiet(quiet)[run, :, partition], step, shortest)
    periods: list[DominantPeriod] = []
    for first, last in _stretches(still):
        start, end = max(float(times[first]) - step, float(times[0])), float(times[last])
        if still[first]:
            periods.append(DominantPeriod(partition, (), Polarity.UNDETERMINED, start, end, 0.0))
            continue
        within = np.zeros(len(times), dtype=bool)
        within[first : last + 1] = True
        loud = [
            replace(p, start=max(p.start - step, float(times[0])))
            for p in _smoothed_periods(scores, partition, run, threshold, window, within)
        ]
        periods.extend(merge_periods(loud, shortest))
    return periods


def _stretches(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of equal values: (first index, last index) of each."""
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    return [(a, b - 1) for a, b in itertools.pairwise(bounds)]


def _lasting(still: np.ndarray, step: float, shortest: float) -> np.ndarray:
    """Quiet steps in stretches at least `shortest` long (all of them when the
    whole run is quiet): a shorter lull is told with the change around it."""
    if still.all():
        return still
    kept = still.copy()
    for first, last in _stretches(still):
        if still[first] and (last - first + 1) * step < shortest:
            kept[first : last + 1] = False
    return kept


def describe_dominance(
    scores: LoopScores,
    *,
    partition: int | None = None,
    run: int = 0,
    threshold: float = 0.5,
    shortest: float | None = None,
    time_units: str | None = None,
    quiet: float | None = QUIET_PACE,
) -> list[str]:
    """Sentences saying which loops drive the model, period by period.

    Parameters
    ----------
    scores:
        From `loop_scores`.
    partition:
        Which cycle partition to tell about; default the first (the largest) in
        which some loop is ever active.
    run:
        Which member of an ensemble.
    threshold:
        Share of the change a dominant set explains (see `dominant_periods`).
    shortest:
        Shares are averaged over a moving window this long before the dominant
        loops are chosen, and periods shorter than it are folded into their
        neighbours; default 5% of the run.
    time_units:
        As the model says ("Month"); default the model's own time units.
    quiet:
        Stretches in which every stock moves slower than this pace (see `pace`)
        are told as quiet; None tells the dominant loops of every active step.

    Returns
    -------
    list of str
        Empty when nothing in the partition ever changes and nothing is quiet either.
    """
    periods = narrated_periods(
        scores, partition=partition, run=run, threshold=threshold, shortest=shortest, quiet=quiet
    )
    return describe_periods(periods, scores, run=run, time_units=time_units)


def describe_periods(
    periods: list[DominantPeriod], scores: LoopScores, *, run: int = 0, time_units: str | None = None
) -> list[str]:
    """One sentence per period of `narrated_periods`: for a caller that draws the
    periods too and should not choose them twice. Parameters as `describe_dominance`."""
    times = scores.times
    horizon = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    model = getattr(scores.loops.graph, "graph", {}).get("time_units", "")
    units = _plural(time_units if time_units is not None else model)
    by_id = {loop.id: loop for loop in scores.loops}
    return [
        _quiet_sentence(period, scores, run, units, horizon)
        if period.quiet
        else _sentence(period, [by_id[i] for i in _ranked(period, scores, run)], units, horizon)
        for period in periods
    ]


def _smoothed_periods(
    scores: LoopScores, partition: int, run: int, threshold: float, window: int, within: np.ndarray
) -> list[DominantPeriod]:
    """Dominant periods of relative scores averaged over a moving window, among
    the steps `within` a stretch.

    Among many loops the dominant set changes at nearly every step; a reader
    wants the loops that dominate over a stretch of time, so shares are averaged
    over `window` steps (centred) before the dominant set is chosen.
    """
    loops = scores.loops.loops
    members = [i for i, loop in enumerate(loops) if loop.partition == partition]
    active = scores.active[run, :, partition] & within
    if not members or not active.any():
        return []
    relative = np.where(active[:, None], scores.relative[run], 0.0)
    window = max(1, min(window, len(relative)))
    kernel = np.ones(window)
    weights = np.convolve(active.astype(float), kernel, mode="same")
    smoothed = np.zeros_like(relative)
    for i in members:
        with np.errstate(invalid="ignore", divide="ignore"):
            smoothed[:, i] = np.convolve(relative[:, i], kernel, mode="same") / weights
    return periods_of(dominant_sets(smoothed, active, members, loops, threshold), scores.times, partition)


def _ranked(period: DominantPeriod, scores: LoopScores, run: int) -> list[str]:
    """The period's loops, the one with the largest share over the period first."""
    window = (scores.times >= period.start) & (scores.times <= period.end)
    index = {loop.id: i for i, loop in enumerate(scores.loops)}
    return sorted(period.loops, key=lambda i: -abs(scores.relative[run, window, index[i]]).mean())
