"""How fast a run's stocks move: what tells a quiet stretch from one worth explaining.

Loops That Matter scores are ratios of changes. Where the stocks barely move they
are ratios of tiny changes (round-off at an equilibrium, a drift of a hundredth of
a percent), and the shares still name a dominant loop; a reader told that a loop
"drives most of the change" of a flat run is misled. So the pace of the run is
measured beside its scores.

A stock's pace at a step is the share of its size it would cover over the whole
run at that step's speed::

    pace(S, t) = |S(t) - S(t - dt)| / dt · (length of the run) / (largest |S| over the run)

and a cycle partition's pace is that of its fastest stock. A step is quiet when its
pace is below `QUIET_PACE`, 0.05: at that speed no stock would move by 5% of its size
over the whole run (on the flagship's ten years, half a percent a year). The measure
reads the run's length rather than a calendar, so it needs no table of time units,
and it agrees with the charts beside it: a quiet stretch draws as a flat line. It
follows that over a quiet period no stock moves by more than 5% of its size
(`moved_share` bounds it more tightly).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from .loops import LoopSet

__all__ = ["EMPTY", "QUIET_PACE", "moved_share", "partition_pace", "plain_percent"]

QUIET_PACE = 0.05

# A stock that never holds more than this, in its own units, counts as empty: its
# round-off (a stock at zero between two flows that cancel) is not change.
EMPTY = 1e-9


def partition_pace(
    series: Callable[[str], np.ndarray], loops: LoopSet, times: np.ndarray, n_runs: int
) -> np.ndarray:
    """The pace of each cycle partition at each step, shape (n_runs, n_times, n_partitions).

    Parameters
    ----------
    series:
        A state node (a stock, a part of a lowered SMOOTH or DELAY) → its values,
        shape (n_runs, n_times).
    loops:
        The loops scored; a partition's stocks are the state nodes on its loops.
    times:
        The run's times, evenly spaced at TIME STEP.

    Step 0 has no step before it and takes the pace of step 1: the run starts at
    that speed.
    """
    pace = np.zeros((n_runs, len(times), len(loops.partitions)))
    if len(times) < 2:
        return pace
    horizon = float(times[-1] - times[0])
    dt = float(times[1] - times[0])
    for p, stocks in enumerate(_stocks(loops)):
        if not stocks:
            continue
        values = np.stack([series(stock) for stock in stocks])  # (stocks, runs, times)
        size = np.maximum(np.abs(values).max(axis=2, keepdims=True), EMPTY)
        speed = np.abs(np.diff(values, axis=2)) / size
        pace[:, 1:, p] = speed.max(axis=0) * (horizon / dt)
        pace[:, 0, p] = pace[:, 1, p]
    return pace


_STOCKS: weakref.WeakKeyDictionary[LoopSet, list[list[str]]] = weakref.WeakKeyDictionary()


def _stocks(loops: LoopSet) -> list[list[str]]:
    """Each partition's state nodes on its loops (worked out once per loop set)."""
    known = _STOCKS.get(loops)
    if known is None:
        graph = loops.graph
        known = _STOCKS[loops] = [
            sorted(
                {
                    link.source
                    for loop in loops.in_partition(p)
                    for path in loop.paths
                    for link in path
                    if graph.nodes[link.source]["state"]
                }
            )
            for p in range(len(loops.partitions))
        ]
    return known


def moved_share(pace: np.ndarray, times: np.ndarray, start: float, end: float) -> float:
    """At most how much of its size any stock moved from `start` to `end`.

    ``pace`` is one partition's pace over one run, shape (n_times,). Over a step a
    stock moves pace · dt / horizon of its size; summing the fastest stock's
    share step by step bounds every stock's movement over the interval.
    """
    if len(times) < 2:
        return 0.0
    horizon = float(times[-1] - times[0])
    dt = float(times[1] - times[0])
    steps = (times > start) & (times <= end)
    return float(pace[steps].sum() * dt / horizon)


def plain_percent(share: float) -> str:
    """A share rounded up to a figure a reader takes in at a glance: 0.1%, 0.2%,
    0.5%, 1%, 2%, 5%, then whole percents (a bound stays a bound)."""
    for plain in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05):
        if share <= plain:
            return f"{plain:.1%}" if plain < 0.01 else f"{plain:.0%}"
    return f"{np.ceil(share * 100):.0f}%"
