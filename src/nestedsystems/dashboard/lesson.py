"""What the classroom shows for one model, computed once per version of its file.

Finding loops and scoring them (Loops That Matter) is the expensive part of the
classroom; a time slider only reads arrays made here. `lesson_for` keeps the result
in a small cache keyed by the file's resolved path, modification time and size, as
`cache.prepared_model` does, so every session and every slider tick share it.

Which loops a class sees: the loops the model's author named, else the loops found;
of those, the cycle partition where most of them compete, and in it the loops with
the largest mean share, as many as a diagram on a projector can hold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dominance import LoopScores, dominant_sets, loop_scores
from ..errors import ModelError, ModelFileError
from ..loops import LoopSet, Polarity, find_loops
from ..narrative import describe_periods, narrated_periods
from .cache import FLAGSHIP_MODEL, find_model
from .loop_diagram import LoopDiagram, loop_diagram, segment_scores

__all__ = [
    "DIAGRAM_HEIGHT",
    "DIAGRAM_WIDTH",
    "MAX_LOOPS",
    "MAX_VARIABLES",
    "Lesson",
    "clear_lessons",
    "default_model",
    "lesson_for",
    "teaching_models",
]

MAX_LOOPS = 8  # loops on the diagram and slots in the stacked chart
MAX_VARIABLES = 14  # variables a 720-pixel-wide diagram shows legibly
DIAGRAM_WIDTH = 720
DIAGRAM_HEIGHT = 470
_FOUND_LOOPS = 200  # loops enumerated in a model whose author named none

TEACHING = Path("models") / "teaching"


@dataclass(frozen=True, eq=False)
class Lesson:
    """A model's loops, scores and words, ready for the classroom.

    Attributes
    ----------
    path, title:
        The file and the model's name.
    time_units:
        As the model says ("Year").
    scores:
        Loop scores of the shown loops only, so their relative scores compare them
        among themselves (`LoopSet.subset`).
    partition:
        The cycle partition shown.
    diagram:
        The laid-out causal loop diagram.
    arrow_scores:
        Each arrow's link score over time, shape (n_arrows, n_times).
    dominant:
        At each time, the dominant loops, their polarity and the share they explain;
        None where the partition does not change; no loops in a quiet period of the
        narrative, where the stocks barely move.
    narrative:
        Sentences, period by period (`describe_dominance`).
    notes:
        What was left out, in plain words.
    """

    path: Path
    title: str
    time_units: str
    scores: LoopScores
    partition: int
    diagram: LoopDiagram
    arrow_scores: np.ndarray
    dominant: tuple[tuple[tuple[str, ...], Polarity, float] | None, ...]
    narrative: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def loops(self) -> LoopSet:
        return self.scores.loops

    @property
    def times(self) -> np.ndarray:
        return self.scores.times

    def shares(self) -> dict[str, np.ndarray]:
        """Each shown loop's relative score over time (the partition's loops only)."""
        return {
            loop.id: self.scores.relative[0, :, i]
            for i, loop in enumerate(self.loops)
            if loop.partition == self.partition
        }

    def first_active(self) -> int:
        """The first step at which the shown partition changes (0 if it never does)."""
        active = np.flatnonzero(self.scores.active[0, :, self.partition])
        return int(active[0]) if active.size else 0


def lesson_for(path: str | Path) -> Lesson:
    """The lesson of the model at `path`, built at most once per version of the file.

    Raises
    ------
    ModelFileError
        The file is missing.
    ModelError, SimulationError
        Loading or running the model failed.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError as error:
        raise ModelFileError(f"cannot read the model file: {error.strerror or error}", file=path) from None
    return _lesson(str(resolved), stat.st_mtime_ns, stat.st_size)


def clear_lessons() -> None:
    """Forget every lesson (tests)."""
    _lesson.cache_clear()


@functools.lru_cache(maxsize=16)
def _lesson(path: str, mtime_ns: int, size: int) -> Lesson:
    # Loaded here, not through `prepared_model`: the classroom never needs the
    # compiled model's baseline run, whose machine-code compile costs a big model
    # more than scoring its loops does.
    import nestedsystems as ns

    model = ns.load(path)
    declared = len(getattr(model, "loops", ()))
    # Declared loops are traced before any enumeration, so a bound of their number
    # keeps them all and spares enumerating thousands of others in a big model.
    found = find_loops(model, max_loops=declared or _FOUND_LOOPS)
    named = found.named()
    candidates = named if len(named) else found
    notes: list[str] = []
    if not len(candidates):
        raise ModelError("has no feedback loops to show in the classroom", file=path)
    scores = loop_scores(model, loops=candidates)
    partition = _busiest_partition(scores)
    chosen = _chosen(scores, partition)
    if len(chosen) < len(candidates):
        left_out = len(candidates) - len(chosen)
        kind = "named loops" if candidates is named else "loops"
        notes.append(f"{left_out} more {kind} are not drawn: the diagram shows the strongest.")
        scores = loop_scores(model, loops=candidates.subset(chosen))
    loops = scores.loops
    diagram = loop_diagram(loops, model, width=DIAGRAM_WIDTH, height=DIAGRAM_HEIGHT)
    members = [i for i, loop in enumerate(loops) if loop.partition == partition]
    dominant = dominant_sets(scores.relative[0], scores.active[0, :, partition], members, loops.loops, 0.5)
    periods = narrated_periods(scores, partition=partition)
    for period in periods:
        if period.quiet:  # as the narrative says, no loop drives a change that small
            steps = (scores.times > period.start) & (scores.times <= period.end)
            steps[0] |= period.start <= scores.times[0]
            for k in np.flatnonzero(steps):
                dominant[k] = ((), Polarity.UNDETERMINED, 0.0)
    return Lesson(
        path=Path(path),
        title=str(getattr(model, "name", Path(path).stem)),
        time_units=str(getattr(model, "time_units", "") or "Time"),
        scores=scores,
        partition=partition,
        diagram=diagram,
        arrow_scores=segment_scores(diagram.links, scores.link_scores),
        dominant=tuple(dominant),
        narrative=tuple(describe_periods(periods, scores)),
        notes=tuple(notes),
    )


def _busiest_partition(scores: LoopScores) -> int:
    """The partition with most loops that ever changes: where loops compete."""
    counts: dict[int, int] = {}
    for loop in scores.loops:
        if scores.active[0, :, loop.partition].any():
            counts[loop.partition] = counts.get(loop.partition, 0) + 1
    if not counts:
        return scores.loops.loops[0].partition
    return min(counts, key=lambda p: (-counts[p], p))


def _chosen(scores: LoopScores, partition: int) -> list[str]:
    """The partition's loops by mean share, as many as fit on the diagram."""
    chosen: list[str] = []
    variables: set[str] = set()
    for loop, _ in scores.ranking():
        if loop.partition != partition or len(chosen) >= MAX_LOOPS:
            continue
        wanted = variables | set(loop.variables)
        if chosen and len(wanted) > MAX_VARIABLES:
            continue
        chosen.append(loop.id)
        variables = wanted
    return chosen


def _checkout() -> Path:
    return Path(__file__).resolve().parents[3]


def _in_teaching_folder() -> list[Path]:
    folder = find_model(TEACHING).resolve()
    return sorted(folder.glob("*.mdl")) if folder.is_dir() else []


def teaching_models() -> list[Path]:
    """The models a class can pick: ``models/teaching/*.mdl``; failing that, the test
    models and the conformance samples, which are small and have loops."""
    found = _in_teaching_folder()
    if found:
        return found
    root = _checkout()
    fallback = sorted((root / "tests" / "models").glob("*.mdl"))
    samples = root.parent / "shared" / "conformance" / "test-models" / "samples"
    fallback += sorted(samples.glob("*/*.mdl"))
    return fallback


def default_model() -> Path:
    """The first teaching model, or the flagship when there is none."""
    found = _in_teaching_folder()
    return found[0] if found else find_model(FLAGSHIP_MODEL).resolve()
