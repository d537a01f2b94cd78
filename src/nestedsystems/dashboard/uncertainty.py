"""How sure is a scenario? Bands from an ensemble over the model's uncertain assumptions.

A board sees one line per indicator; the model behind it rests on dozens of numbers
nobody measured. This module says which of them are uncertain and by how much, runs
the scenario once per plausible set of them (`nestedsystems.run_ensemble`, one
vectorised call), and reads the result as 5-95% bands, a median, a sentence ("In 9 of
10 plausible futures turnover by year 5 is between 13% and 17%") and, where the model
names its loops, the share of futures in which each loop drives the system.

What is uncertain, and by how much, is `assumptions`' part.

Every scenario meets the same futures: the members are drawn once (Latin hypercube,
fixed seed) and only the levers differ, so "beats the baseline in 87% of them" compares
the scenario and the baseline member by member (common random numbers).

Ensembles take a second or two on the flagship, far too long for a slider. The
`UncertaintyEngine` runs them on one background thread shared by the whole server
(two cores: one stays free for the sessions' own runs), keeps the results per
scenario (the lever values), and hands each request a `concurrent.futures.Future`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NestedSystemsError
from .assumptions import Assumptions, Outlook
from .figures import TimeAxis

__all__ = [
    "Bands",
    "LoopShares",
    "UncertaintyEngine",
    "engine_for",
    "how_sure",
    "loop_shares",
    "scenario_bands",
]

QUANTILES = (0.05, 0.5, 0.95)
# Loop scores keep every variable at every TIME STEP: a few dozen members at a time.
LOOP_MEMBERS = 100
LOOP_CHUNK = 25


@dataclass(frozen=True, eq=False)
class Bands:
    """One scenario's ensemble, read for the charts and the sentence.

    Attributes
    ----------
    times:
        Saved model times.
    quantiles:
        Variable -> (3, times): the 5%, 50% and 95% quantiles over members that did
        not fail.
    members:
        Variable -> (members, times): every member's values (NaN rows for failed
        members), for comparisons member by member; only of the variables asked to keep.
    size:
        Members in the ensemble.
    failed:
        Members left out because a value became NaN or infinite.
    failure:
        `EnsembleResult.failure_message`, "" when none failed.
    """

    times: np.ndarray
    quantiles: Mapping[str, np.ndarray]
    members: Mapping[str, np.ndarray]
    size: int
    failed: int
    failure: str

    def at(self, variable: str, time: float) -> tuple[float, float, float]:
        """The 5%, 50% and 95% quantiles of ``variable`` at ``time``."""
        table = self.quantiles[variable]
        low, mid, high = (float(np.interp(time, self.times, row)) for row in table)
        return low, mid, high


def _table(assumptions: Assumptions, values: Mapping[str, float]) -> pd.DataFrame:
    table = assumptions.samples()
    for name, value in values.items():
        table[name] = float(value)
    return table


def scenario_bands(
    compiled: Any,
    assumptions: Assumptions,
    values: Mapping[str, float],
    save: Sequence[str],
    *,
    keep: Sequence[str] | None = None,
) -> Bands:
    """Run the ensemble of one scenario (``values``: the levers moved) and read its bands.

    ``keep`` names the variables whose members are kept (default all saved): a server
    caches many scenarios, and the sentence compares only one variable member by member.
    """
    from ..ensembles import run_ensemble

    result = run_ensemble(
        compiled, _table(assumptions, values), save=list(save), keep_runs=True, progress=False
    )
    quantiles = result.quantiles(QUANTILES)
    data = result.dataset
    members = {}
    for name in result.names if keep is None else keep:
        array = data[name].to_numpy().copy()
        array[result.failed] = np.nan
        members[name] = array
    return Bands(
        times=np.asarray(result.times, dtype=float),
        quantiles={name: quantiles[name].to_numpy() for name in result.names},
        members=members,
        size=len(result),
        failed=result.n_failed,
        failure=result.failure_message(),
    )


@dataclass(frozen=True, eq=False)
class LoopShares:
    """In what share of the futures each named loop drives the system, year by year.

    ``shares[k, i]`` is the share of (member, step) pairs of period ``k`` in which loop
    ``i`` had the largest |relative loop score| among the named loops; ``steady[k]``
    the share in which nothing much changed (the stocks of that loop's partition
    barely moved, `LoopScores.quiet`), which no loop is credited with.
    """

    periods: tuple[str, ...]
    loops: tuple[str, ...]
    shares: np.ndarray
    members: int
    steady: np.ndarray


def loop_shares(
    compiled: Any,
    loops: Any,
    assumptions: Assumptions,
    values: Mapping[str, float],
    axis: TimeAxis,
    *,
    members: int = LOOP_MEMBERS,
) -> LoopShares:
    """Loops That Matter over the first ``members`` members, a few at a time."""
    from ..dominance import loop_scores

    table = _table(assumptions, values).iloc[:members]
    counts: np.ndarray | None = None
    quiet_counts: np.ndarray | None = None
    times = np.empty(0)
    partition = np.array([loop.partition for loop in loops.loops], dtype=int)
    for start in range(0, len(table), LOOP_CHUNK):
        part = table.iloc[start : start + LOOP_CHUNK]
        scores = loop_scores(compiled, loops=loops, params={c: part[c].to_numpy() for c in part.columns})
        magnitude = np.abs(scores.relative)
        dominant = np.argmax(magnitude, axis=-1)
        # a loop "drives" a step only where its partition's stocks move at all
        quiet = np.take_along_axis(scores.quiet()[..., partition], dominant[..., None], axis=-1)[..., 0]
        driven = (magnitude.max(axis=-1) > 0) & ~quiet
        # one-hot of the dominant loop at each (member, step), summed over members
        hits = (dominant[..., None] == np.arange(magnitude.shape[-1])) & driven[..., None]
        chunk, quiet_chunk = hits.sum(axis=0), quiet.sum(axis=0)
        counts = chunk if counts is None else counts + chunk
        quiet_counts = quiet_chunk if quiet_counts is None else quiet_counts + quiet_chunk
        times = np.asarray(scores.times, dtype=float)
    assert counts is not None and quiet_counts is not None
    # Periods people read: years where time is in months or years, else ten equal parts.
    shown = axis.of(times - times[0])
    if axis.label == "Year":
        period = np.minimum(np.floor(shown).astype(int), max(int(np.ceil(shown[-1])) - 1, 0))
        labels = tuple(f"Year {k + 1}" for k in range(int(period.max()) + 1))
    else:
        edges = np.linspace(shown[0], shown[-1], 11)
        period = np.clip(np.searchsorted(edges, shown, side="right") - 1, 0, 9)
        labels = tuple(f"{edges[k]:g}-{edges[k + 1]:g}" for k in range(10))
    totals = np.zeros((len(labels), counts.shape[-1]))
    np.add.at(totals, period, counts)
    steady = np.bincount(period, weights=quiet_counts, minlength=len(labels))
    steps = np.bincount(period, minlength=len(labels))[:, None] * len(table)
    return LoopShares(
        periods=labels,
        loops=tuple(f"{loop.id} {getattr(loop, 'name', '') or ''}".strip() for loop in loops.loops),
        shares=totals / np.maximum(steps, 1),
        members=len(table),
        steady=steady / np.maximum(steps[:, 0], 1),
    )


def how_sure(
    bands: Bands,
    baseline: Bands | None,
    outlook: Outlook,
    axis: TimeAxis,
    *,
    changed: bool,
) -> str:
    """The plain sentence: the 5-95% range of the outlook, and how often the scenario
    beats the baseline in the same futures."""
    time = outlook.time if outlook.time is not None else float(bands.times[-1])
    time = min(max(time, float(bands.times[0])), float(bands.times[-1]))
    low, mid, high = bands.at(outlook.variable, time)
    if not np.isfinite([low, high]).all():
        return "Every plausible future broke down in the model for these settings: there is no range to give."
    shown = time * axis.factor
    when = f"by year {shown:g}" if axis.label == "Year" else f"at {axis.label.lower()} {shown:g}"
    form = outlook.format.format
    text = (
        f"In 9 of 10 plausible futures {outlook.phrase} {when} is between {form(low)} and {form(high)}"
        f" (in half of them below {form(mid)})"
    )
    if changed and baseline is not None and outlook.better:
        now = _member_values(bands, outlook.variable, time)
        then = _member_values(baseline, outlook.variable, time)
        both = np.isfinite(now) & np.isfinite(then)
        if both.any():
            wins = now[both] < then[both] if outlook.better == "lower" else now[both] > then[both]
            text += (
                f"; these settings beat today's in {wins.mean():.0%} of them "
                f"({outlook.better} {outlook.phrase} {when})"
            )
    text += "."
    if bands.failed:
        text += f" {bands.failed} of {bands.size} futures broke down in the model and are left out."
    return text


def _member_values(bands: Bands, variable: str, time: float) -> np.ndarray:
    series = bands.members[variable]
    j = int(np.argmin(np.abs(bands.times - time)))
    return series[:, j]


# -- running them in the background ----------------------------------------------------

_shared_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    # One thread for the whole server: ensembles queue rather than compete with the
    # sessions' own runs for the second core.
    global _shared_executor
    with _executor_lock:
        if _shared_executor is None:
            _shared_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uncertainty")
        return _shared_executor


class UncertaintyEngine:
    """Bands and loop shares of one model, computed in the background, kept per scenario.

    Parameters
    ----------
    prepared:
        The server's `PreparedModel` (its compiled model runs the ensembles).
    assumptions:
        What is uncertain.
    save:
        The variables the bands are wanted for.
    keep:
        Those whose every member is kept (for comparisons member by member).
    executor:
        Where ensembles run; the server's single background thread by default.
    loop_members:
        Members whose loops are scored (scoring keeps every variable at every step).
    """

    def __init__(
        self,
        prepared: Any,
        assumptions: Assumptions,
        save: Sequence[str],
        *,
        keep: Sequence[str] = (),
        executor: Executor | None = None,
        capacity: int = 64,
        loop_members: int = LOOP_MEMBERS,
    ) -> None:
        self.prepared = prepared
        self.assumptions = assumptions
        self.save = tuple(dict.fromkeys(save))
        self.keep = tuple(keep)
        self.executor = executor or _background()
        self.capacity = capacity
        self.loop_members = loop_members
        self.ensembles_run = 0  # a cache hit runs none
        self._lock = threading.Lock()
        self._done: OrderedDict[tuple, Any] = OrderedDict()
        self._pending: dict[tuple, Future] = {}
        self._waiting: dict[tuple, int] = {}
        self._loops: Any = None

    @staticmethod
    def key(values: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
        """A scenario's key: the levers moved from the model's values (shocks included)."""
        return tuple(sorted((name, float(value)) for name, value in values.items()))

    def bands(self, values: Mapping[str, float]) -> Future:
        """A future of the scenario's `Bands` (already done when cached)."""
        return self._request(("bands", self.key(values)), lambda: self._bands(values))

    def loop_shares(self, values: Mapping[str, float], axis: TimeAxis) -> Future:
        """A future of the scenario's `LoopShares`, or of None for a model without named loops."""
        return self._request(("loops", self.key(values)), lambda: self._shares(values, axis))

    def release(self, future: Future) -> None:
        """A session no longer wants ``future``: when nobody does and it has not started,
        it is cancelled, so that a board dragging sliders does not queue an ensemble
        per position."""
        with self._lock:
            for key, pending in list(self._pending.items()):
                if pending is future:
                    self._waiting[key] -= 1
                    if self._waiting[key] <= 0 and future.cancel():
                        del self._pending[key]
                        del self._waiting[key]

    def _request(self, key: tuple, work: Any) -> Future:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                future: Future = Future()
                future.set_result(self._done[key])
                return future
            if key in self._pending:
                self._waiting[key] += 1
                return self._pending[key]
            future = self.executor.submit(self._run, key, work)
            self._pending[key] = future
            self._waiting[key] = 1
            return future

    def _run(self, key: tuple, work: Any) -> Any:
        try:
            result = work()
        except Exception:
            with self._lock:
                self._pending.pop(key, None)
                self._waiting.pop(key, None)
            raise
        with self._lock:
            self._done[key] = result
            while len(self._done) > self.capacity:
                self._done.popitem(last=False)
            self._pending.pop(key, None)
            self._waiting.pop(key, None)
        return result

    def _bands(self, values: Mapping[str, float]) -> Bands:
        bands = scenario_bands(self.prepared.compiled, self.assumptions, values, self.save, keep=self.keep)
        with self._lock:
            self.ensembles_run += 1
        return bands

    def _shares(self, values: Mapping[str, float], axis: TimeAxis) -> LoopShares | None:
        if self._loops is None:
            from ..loops import find_loops

            try:
                self._loops = find_loops(self.prepared.model).named()
            except (NestedSystemsError, KeyError):
                self._loops = ()
        if not self._loops or not len(self._loops.loops):
            return None
        # The bands' machine code runs these members too: what they save is an argument.
        return loop_shares(
            self.prepared.compiled, self._loops, self.assumptions, values, axis, members=self.loop_members
        )


_engines: OrderedDict[tuple, UncertaintyEngine] = OrderedDict()
_engines_lock = threading.Lock()


def engine_for(
    prepared: Any, assumptions: Assumptions, save: Sequence[str], keep: Sequence[str] = ()
) -> UncertaintyEngine:
    """The server's engine for a prepared model: every session of it shares one cache."""
    key = (id(prepared), assumptions, tuple(save), tuple(keep))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None or engine.prepared is not prepared:
            engine = UncertaintyEngine(prepared, assumptions, save, keep=keep)
            _engines[key] = engine
            while len(_engines) > 8:
                _engines.popitem(last=False)
        return engine
