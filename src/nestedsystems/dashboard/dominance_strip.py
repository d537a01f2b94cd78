"""The dominance strip: which feedback loop drives the change, period by period.

Under the what-if trajectories a band of coloured periods names the loop that
explains most of the change (Loops That Matter, among the loops the model's author
named): reinforcing loops in warm colours, balancing loops in cool ones, the
baseline's band faint beneath the scenario's. Where the stocks barely move (an
equilibrium, a shock that has died away) no loop is said to drive anything: the
period is a neutral grey band labelled "steady". Under the band the same periods are
told in words (`narrative.describe_periods`), so band and sentences always agree:
both come from one call of `narrative.narrated_periods`.

The scores come from the run the charts draw (`scored_run`): one simulation per
lever move serves both.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, FactorRange, HoverTool

# From their subpackages: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.annotations import Title
from bokeh.models.widgets import Div
from bokeh.palettes import Blues9, Greens9, Oranges9, Purples9, Reds9, YlOrBr9
from bokeh.plotting import figure

from ..dominance import DominantPeriod, LoopScores, loop_scores
from ..errors import NestedSystemsError
from ..loops import Loop, LoopSet, Polarity
from ..narrative import describe_periods, narrated_periods
from ..pace import moved_share, plain_percent
from .cache import PreparedModel
from .figures import TimeAxis
from .scored_run import ScoredRun, StripBasis, scored_run, strip_basis

__all__ = [
    "BASELINE_ROW",
    "COOL",
    "FRAME_MARGINS",
    "SCENARIO_ROW",
    "STEADY",
    "STEADY_COLOR",
    "WARM",
    "DominanceStrip",
    "loop_colors",
    "strip_columns",
]

# Three hues per side, interleaved, so that neighbouring loops differ in hue and
# not only in shade; the palettes' palest shades are left out, as text sits on them.
WARM = tuple(c for trio in zip(Reds9[1:5], Oranges9[1:5], YlOrBr9[3:7], strict=True) for c in trio)
COOL = tuple(c for trio in zip(Blues9[1:5], Greens9[1:5], Purples9[1:5], strict=True) for c in trio)
UNDETERMINED_COLOR = "#8c8c8c"
# A quiet period: lighter than any loop's colour, and no hue, as no loop drives it.
STEADY_COLOR = "#dcdcdc"
STEADY = "steady"
SCENARIO_ROW = "Your levers"
BASELINE_ROW = "Today"
_ROWS = {SCENARIO_ROW: (0.8, 1.0), BASELINE_ROW: (0.55, 0.35)}  # bar height, opacity
_CHAR_WIDTH = 6.6  # pixels of a 9pt character, to decide which label fits a bar
# Where the trajectories chart above draws its lines (its axis on the left, its legend
# and toolbar on the right, as measured in Chromium): the strip's bars take the same
# span, so a period sits under the stretch of the lines it explains, and the strip's
# row names go on the right, under the legend.
FRAME_MARGINS = (52, 245)


def loop_colors(loops: LoopSet) -> dict[str, str]:
    """Each loop's colour: reinforcing loops warm, balancing cool, dealt in the order
    of their ids (R2 before R10), so a loop keeps its colour whatever the levers."""
    colors: dict[str, str] = {}
    counts = {Polarity.REINFORCING: 0, Polarity.BALANCING: 0}
    for loop in sorted(loops, key=lambda loop: _number(loop.id)):
        palette = {Polarity.REINFORCING: WARM, Polarity.BALANCING: COOL}.get(loop.polarity)
        if palette is None:
            colors[loop.id] = UNDETERMINED_COLOR
            continue
        colors[loop.id] = palette[counts[loop.polarity] % len(palette)]
        counts[loop.polarity] += 1
    return colors


def _number(loop_id: str) -> tuple[str, int]:
    # R2 before R10: ids sort by letter, then number
    letters = loop_id.rstrip("0123456789")
    digits = loop_id[len(letters) :]
    return letters, int(digits) if digits else -1


def _text_color(fill: str) -> str:
    red, green, blue = (int(fill[k : k + 2], 16) for k in (1, 3, 5))
    return "#1a1a1a" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _led(scores: LoopScores, start: float, end: float, ids: tuple[str, ...]) -> list[tuple[Loop, float]]:
    """The period's loops with their mean share, the largest first."""
    index = {loop.id: i for i, loop in enumerate(scores.loops)}
    loops = [scores.loops.loops[index[i]] for i in ids]
    window = (scores.times >= start) & (scores.times <= end) & scores.active[0, :, loops[0].partition]
    relative = np.abs(scores.relative[0][window])
    shares = [float(relative[:, index[loop.id]].mean()) if window.any() else 0.0 for loop in loops]
    return sorted(zip(loops, shares, strict=True), key=lambda item: -item[1])


def _when(start: float, end: float, time_units: str) -> str:
    units = (time_units.strip() or "Time").capitalize()
    units = units if units.endswith("s") or units == "Time" else units + "s"
    return f"{units} {start:.0f}–{end:.0f}"


def _label(led: list[tuple[Loop, float]], pixels: float) -> str:
    """The longest label that fits the bar: id and name, and the loops it shares
    the period with; or fewer words; or nothing."""
    first = led[0][0]
    others = [loop.id for loop, _ in led[1:]]
    joined = f" + {', '.join(others)}" if others else ""
    named = f"{first.id} {first.name}"
    for text in (named + joined, named, first.id + joined, first.id):
        if len(text) * _CHAR_WIDTH + 6 <= pixels:
            return text
    return ""


def strip_columns(
    scores: LoopScores,
    row: str,
    axis: TimeAxis,
    colors: Mapping[str, str],
    *,
    width: int,
    time_units: str = "",
    periods: list[DominantPeriod] | None = None,
) -> dict[str, list[Any]]:
    """One bar per narrated period of dominance, in the strip's source columns.

    ``row`` is `SCENARIO_ROW` or `BASELINE_ROW`; ``width`` is the figure's, which
    decides which labels fit; ``periods`` are `narrative.narrated_periods` of
    ``scores``, when the caller has them already.
    """
    periods = narrated_periods(scores) if periods is None else periods
    height, alpha = _ROWS[row]
    span = float(axis.of([scores.times[-1] - scores.times[0]])[0]) if len(scores.times) > 1 else 1.0
    per_unit = max(width - sum(FRAME_MARGINS), 1) / (span or 1.0)
    columns: dict[str, list[Any]] = {key: [] for key in _COLUMNS}
    for period in periods:
        left, right = (float(x) for x in axis.of([period.start, period.end]))
        if period.quiet:
            described = _steady(scores, period, right - left, per_unit, alpha)
        else:
            described = _loops_at_work(scores, period, colors, right - left, per_unit, alpha)
        columns["left"].append(left)
        columns["right"].append(right)
        columns["middle"].append((left + right) / 2)
        columns["row"].append(row)
        columns["height"].append(height)
        columns["alpha"].append(alpha)
        for key, value in described.items():
            columns[key].append(value)
        columns["when"].append(_when(period.start, period.end, time_units))
    return columns


def _loops_at_work(
    scores: LoopScores,
    period: DominantPeriod,
    colors: Mapping[str, str],
    span: float,
    per_unit: float,
    alpha: float,
) -> dict[str, str]:
    """The columns that tell a period's dominant loops: colour, label and tooltip."""
    led = _led(scores, period.start, period.end, period.loops)
    loop, share = led[0]
    fill = colors.get(loop.id, UNDETERMINED_COLOR)
    together = ", ".join(f"{other.id} {other.name}" for other, _ in led[1:])
    return {
        "color": fill,
        "text_color": _text_color(fill) if alpha == 1.0 else "#1a1a1a",
        "label": _label(led, span * per_unit) if alpha == 1.0 else "",
        "loop_id": loop.id,
        "loop": f"{loop.id} {loop.name}",
        "polarity": loop.polarity.value,
        "share": f"{share:.0%} of the change",
        "with": together or "no other loop",
    }


def _steady(
    scores: LoopScores, period: DominantPeriod, span: float, per_unit: float, alpha: float
) -> dict[str, str]:
    """The columns of a quiet period: grey, "steady", and how little the stocks move."""
    moved = moved_share(scores.pace[0, :, period.partition], scores.times, period.start, period.end)
    fits = len(STEADY) * _CHAR_WIDTH + 6 <= span * per_unit
    return {
        "color": STEADY_COLOR,
        "text_color": "#1a1a1a",
        "label": STEADY if alpha == 1.0 and fits else "",
        "loop_id": "",
        "loop": "no loop: nothing much changes",
        "polarity": STEADY,
        "share": "nothing to explain: every stock holds its level"
        if moved == 0
        else f"little to explain: every stock stays within {plain_percent(moved)} of its level",
        "with": "no other loop",
    }


_COLUMNS = (
    "left",
    "right",
    "middle",
    "row",
    "height",
    "alpha",
    "color",
    "text_color",
    "label",
    "loop_id",
    "loop",
    "polarity",
    "share",
    "with",
    "when",
)


def _narrative_html(sentences: list[str], heading: str) -> str:
    if not sentences:
        return f"<p style='margin:2px 0'><b>{heading}</b> no loop changes enough to tell.</p>"
    items = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in sentences)
    return f"<div style='font-size:95%'><b>{heading}</b><ul style='margin:2px 0 4px 0'>{items}</ul></div>"


class DominanceStrip:
    """The strip, its data source and the narrative of one session.

    Parameters
    ----------
    prepared:
        The shared model; runs made without the strip are scored on its compiled form.
    basis:
        From `strip_basis`.
    axis:
        The charts' time axis (months shown as years).
    width:
        The figure's width, as the charts above it.
    x_range:
        Shared with the trajectories chart, so that zooming one zooms both.
    """

    def __init__(
        self,
        prepared: PreparedModel,
        basis: StripBasis,
        axis: TimeAxis,
        *,
        width: int,
        x_range: Any = None,
    ) -> None:
        self.prepared = prepared
        self.basis = basis
        self.axis = axis
        self.width = width
        self.time_units = str(getattr(prepared.model, "time_units", "") or "")
        self.colors = loop_colors(basis.loops)
        self.scores: LoopScores = basis.baseline
        periods = narrated_periods(basis.baseline)
        self._baseline_columns = self._columns(basis.baseline, BASELINE_ROW, periods)
        # What the scenario row and the words show with every lever at today's value.
        self._today = (
            self._columns(basis.baseline, SCENARIO_ROW, periods),
            self._words(basis.baseline, periods),
        )
        self.source = ColumnDataSource(self._with_baseline(self._today[0]), name="dominance")
        self.figure = self._figure(self.source, self.width, x_range)
        self.narrative = Div(text=self._today[1], name="dominance-narrative", width=width)
        self.layout = column(self.figure, self.narrative)

    # -- drawing ---------------------------------------------------------------------------

    def _figure(self, source: ColumnDataSource, width: int, x_range: Any = None) -> Any:
        options: dict[str, Any] = {"x_range": x_range} if x_range is not None else {}
        plot = figure(
            title="Which feedback loop drives the change",
            y_range=FactorRange(factors=[BASELINE_ROW, SCENARIO_ROW]),
            height=105,
            width=width,
            tools="",
            toolbar_location=None,
            name="dominance-strip",
            y_axis_location="right",
            min_border_left=FRAME_MARGINS[0],
            min_border_right=FRAME_MARGINS[1],
            **options,
        )
        assert isinstance(plot.title, Title)  # figure() makes its title text a Title
        plot.title.text_font_size = "11pt"
        plot.ygrid.grid_line_color = None
        plot.xgrid.grid_line_alpha = 0.3
        bars = plot.hbar(
            y="row",
            left="left",
            right="right",
            height="height",
            fill_color="color",
            fill_alpha="alpha",
            line_color="white",
            line_width=1.5,
            source=source,
        )
        plot.text(
            x="middle",
            y="row",
            text="label",
            text_color="text_color",
            text_align="center",
            text_baseline="middle",
            text_font_size="9pt",
            text_font_style="bold",
            source=source,
        )
        plot.add_tools(
            HoverTool(
                renderers=[bars],
                tooltips=[
                    ("When", "@when (@row)"),
                    ("Loop", "@loop (@polarity)"),
                    ("Explains", "@share"),
                    ("Together with", "@with"),
                ],
            )
        )
        return plot

    def report_part(self, width: int) -> Any:
        """The strip and its words as they are now, in new models: a report drawn in
        another thread must share nothing with the session."""
        source = ColumnDataSource(dict(self.source.data))
        return column(self._figure(source, width), Div(text=self.narrative.text, width=width))

    def _columns(self, scores: LoopScores, row: str, periods: list[DominantPeriod]) -> dict[str, list[Any]]:
        return strip_columns(
            scores, row, self.axis, self.colors, width=self.width, time_units=self.time_units, periods=periods
        )

    def _with_baseline(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {key: self._baseline_columns[key] + values for key, values in columns.items()}

    def _words(self, scores: LoopScores, periods: list[DominantPeriod]) -> str:
        sentences = describe_periods(periods, scores, time_units=self.time_units or None)
        return _narrative_html(sentences, "Why it moves (the model's named loops):")

    # -- updating --------------------------------------------------------------------------

    def simulate(self, params: Mapping[str, float]) -> ScoredRun:
        """The charts' run for these levers, ready to be scored without running again."""
        return scored_run(self.prepared.compiled, self.basis, params)

    def show(self, run: Any) -> None:
        """Score the run the charts show and redraw the strip and its words."""
        if not isinstance(run, ScoredRun) or not run.params:
            self.scores = self.basis.baseline
            columns, words = self._today
        else:
            try:
                self.scores = self._score(run)
                # Scored: the session keeps only the charts' rows (a few MB less each).
                run.every_step = None
            except NestedSystemsError as error:
                self.source.data = self._with_baseline({key: [] for key in _COLUMNS})
                problem = html.escape(str(error))
                self.narrative.text = f"<p>Which loop drives the change is unknown here: {problem}</p>"
                return
            periods = narrated_periods(self.scores)
            columns = self._columns(self.scores, SCENARIO_ROW, periods)
            words = self._words(self.scores, periods)
        self.source.data = self._with_baseline(columns)
        self.narrative.text = words

    def _score(self, run: ScoredRun) -> LoopScores:
        # Generated Python for the equations: scoring calls each once over the whole
        # run, and a run of its own in machine code would be a kernel to compile.
        compiled = self.prepared.interpreted
        if run.every_step is not None:
            return loop_scores(compiled, loops=self.basis.loops, run=run.every_step)
        return loop_scores(compiled, loops=self.basis.loops, params=run.params)

    @classmethod
    def for_model(
        cls, prepared: PreparedModel, axis: TimeAxis, *, width: int, x_range: Any = None
    ) -> DominanceStrip | None:
        """The strip of a model, or ``None`` when its author named no loops."""
        basis = strip_basis(prepared)
        return None if basis is None else cls(prepared, basis, axis, width=width, x_range=x_range)
