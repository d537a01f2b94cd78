"""One run per lever move for the what-if charts and the loop scores beneath them.

Loops That Matter needs an Euler run saved at every TIME STEP, holding every
variable, the inner stocks of a SMOOTH or DELAY included. The charts' run is that
run read at every SAVEPER (`scored_run`): the engine saves at SAVEPER by keeping
every few steps of the same Euler loop, so the rows are a plain run's to the last
bit, and a lever move simulates once for the charts and the dominance strip.
The run keeps its every-step run until the strip has scored it, so scenarios that
are merely compared never pay for scores.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from ..dominance import LoopScores, loop_scores
from ..expressions import canonical
from ..loops import LoopSet, find_loops
from ..model import Kind
from ..run import Run
from ..simulation import control_value
from .cache import PreparedModel
from .figures import IndexedRun

__all__ = ["ScoredRun", "StripBasis", "every_step_columns", "scored_run", "strip_basis"]


def every_step_columns(model: Any) -> tuple[str, ...] | None:
    """What the strip's run at every TIME STEP saves: every variable, inner ones
    included; ``None`` when TIME STEP or SAVEPER is an equation (the strip then runs
    its own, interpreted)."""
    controls = [model.get(name) for name in ("time step", "saveper")]
    if not all(v is not None and v.kind is Kind.CONSTANT for v in controls):
        return None
    return tuple(v.name for v in model.variables if v.kind is not Kind.LOOKUP)


@dataclasses.dataclass(frozen=True, eq=False)
class StripBasis:
    """What a model's strip needs, made once per model.

    Attributes
    ----------
    loops:
        The loops the model's author named: the ones a board can be told about.
    baseline:
        Their scores over the baseline.
    columns:
        Every variable of the model, inner ones included, to save in the run at
        every TIME STEP; ``None`` where the charts' run cannot be read from that
        run (SAVEPER or TIME STEP given by an equation), and the strip runs its own.
    saved:
        The columns of the charts' run, as the baseline has them.
    """

    loops: LoopSet
    baseline: LoopScores
    columns: tuple[str, ...] | None
    saved: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def strip_basis(prepared: PreparedModel) -> StripBasis | None:
    """The named loops of a prepared model and their baseline scores, or ``None``
    when the model names no loops (the app then shows no strip)."""
    model: Any = prepared.model
    declared = len(getattr(model, "loops", ()))
    if not declared:
        return None
    # Declared loops are traced before any enumeration: a bound of their number
    # keeps them all and spares enumerating the thousands of others.
    loops = find_loops(model, max_loops=declared).named()
    if not len(loops):
        return None
    return StripBasis(
        loops=loops,
        baseline=loop_scores(prepared.interpreted, loops=loops),
        columns=every_step_columns(model),
        saved=tuple(prepared.baseline.names),
    )


class ScoredRun(IndexedRun):
    """The charts' run, which keeps the run at every TIME STEP it was read from
    (``every_step``: ``None`` when there is none, or once the strip has scored it)
    and the levers it was made with."""

    __slots__ = ("every_step", "params")

    def __init__(self, run: Run, every_step: Run | None, params: Mapping[str, float]) -> None:
        super().__init__(run)
        self.every_step = every_step
        self.params = dict(params)


def scored_run(compiled: Any, basis: StripBasis, params: Mapping[str, float]) -> ScoredRun:
    """One Euler run at every TIME STEP, read at every SAVEPER for the charts.

    The engine saves a run at SAVEPER by keeping every ``round(SAVEPER / TIME
    STEP)``-th step of the same Euler loop, so the rows kept here are the values a
    plain run gives, to the last bit (only SAVEPER's own column is put back).
    """
    import nestedsystems as ns

    if basis.columns is None:
        return ScoredRun(ns.simulate(compiled, params=dict(params)), None, params)
    model = compiled.model
    dt = control_value(model, params, "time step")
    saveper = control_value(model, params, "saveper")
    fine = ns.simulate(
        compiled, params={**params, "saveper": dt}, method="euler", return_columns=basis.columns
    )
    every = max(round(saveper / dt), 1) if saveper > 0 else 1
    where = {name: j for j, name in enumerate(fine.names)}
    values = fine.values[:, ::every, [where[name] for name in basis.saved]]
    for j, name in enumerate(basis.saved):
        if canonical(name) == "saveper":
            values[:, :, j] = saveper
    run = dataclasses.replace(fine, times=fine.times[::every], names=basis.saved, values=values)
    return ScoredRun(run, fine, params)
