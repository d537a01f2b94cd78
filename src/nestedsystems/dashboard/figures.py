"""The charts: trajectories of several indices on one chart, and small multiples.

Data layout, shared by every chart of a session so that one assignment of
``source.data`` redraws them all:

- the *run* source holds ``time`` and, for each shown `Series`, a column named by its
  label with the current run and a column ``baseline: <label>`` with the baseline
  (the ghost line), so a hover can show both;
- each *compare* source (one per saved scenario shown, up to four) holds ``time`` and
  the same label columns.

In the trajectories chart colour tells the series apart and the dash pattern the
scenario; in the small multiples, with one series each, colour tells the scenario.
Colours are Okabe and Ito's, which stay distinct for colour-blind readers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Range, Range1d

# From their subpackages: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.annotations import Legend, LegendItem, Title
from bokeh.models.renderers import DataRenderer, Renderer
from bokeh.plotting import figure

if TYPE_CHECKING:  # the engine is imported when a model is asked for, not before
    from ..run import Run

__all__ = [
    "BASELINE_PREFIX",
    "COMPARE_DASHES",
    "MAX_COMPARED",
    "PALETTE",
    "IndexedRun",
    "Readable",
    "Series",
    "TimeAxis",
    "empty_columns",
    "indexed",
    "indicator_figure",
    "min_span_of",
    "run_columns",
    "time_axis",
    "trajectories_figure",
    "when_filled",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
CURRENT_COLOR = "#1a1a1a"
BASELINE_COLOR = "#9a9a9a"
COMPARE_DASHES = ("dashed", "dotted", "dotdash", "dashdot")
MAX_COMPARED = len(COMPARE_DASHES)
BASELINE_PREFIX = "baseline: "
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


class Readable(Protocol):
    """What a chart reads of a run: its saved times and a column by name (a `Run`,
    an `IndexedRun`)."""

    @property
    def times(self) -> np.ndarray: ...

    def __getitem__(self, name: str, /) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Series:
    """One line to draw: a model variable, possibly turned over so that up means worse.

    Attributes
    ----------
    variable:
        The model variable.
    label:
        What the reader sees; also the column name.
    units:
        Shown in titles and tooltips; ``None`` takes the model's, ``""`` shows none.
    invert:
        Draw ``1 - value``: for an index where 1 is good (organizational climate) on a
        chart where up means trouble.
    """

    variable: str
    label: str = ""
    units: str | None = None
    invert: bool = False

    @property
    def column(self) -> str:
        return self.label or self.variable

    @property
    def title(self) -> str:
        return f"{self.column} ({self.units})" if self.units else self.column

    def values(self, run: Readable) -> np.ndarray:
        """The series' values over the run's times."""
        values = np.asarray(run[self.variable], dtype=float)
        return 1.0 - values if self.invert else values


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """How model time is shown: months become years, which boards think in."""

    factor: float
    label: str

    def of(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.asarray(times, dtype=float) * self.factor


def time_axis(time_units: str) -> TimeAxis:
    """Years for a model in months (or years); the model's own unit otherwise."""
    unit = time_units.strip().lower().rstrip("s")
    if unit in {"month", "mo"}:
        return TimeAxis(1.0 / 12.0, "Year")
    if unit in {"year", "yr"}:
        return TimeAxis(1.0, "Year")
    return TimeAxis(1.0, time_units.strip().capitalize() or "Time")


def run_columns(
    run: Readable,
    series: Sequence[Series],
    axis: TimeAxis,
    *,
    baseline: Readable | None = None,
) -> dict[str, np.ndarray]:
    """The columns of a run source (or, without ``baseline``, of a compare source)."""
    columns: dict[str, np.ndarray] = {"time": axis.of(run.times)}
    for item in series:
        columns[item.column] = item.values(run)
        if baseline is not None:
            columns[BASELINE_PREFIX + item.column] = item.values(baseline)
    return columns


def empty_columns(series: Sequence[Series], *, with_baseline: bool = False) -> dict[str, list[float]]:
    """Columns with no rows: what a compare source holds while it shows nothing."""
    columns: dict[str, list[float]] = {"time": []}
    for item in series:
        columns[item.column] = []
        if with_baseline:
            columns[BASELINE_PREFIX + item.column] = []
    return columns


def _base_figure(
    title: str,
    axis: TimeAxis,
    *,
    height: int,
    width: int | None,
    y_range: Range,
    x_range: Range | None = None,
    toolbar_location: Literal["right"] | None = "right",
) -> figure:
    plot = figure(
        title=title,
        height=height,
        width=width or 600,
        sizing_mode="stretch_width" if width is None else "fixed",
        tools=_TOOLS,
        x_axis_label=axis.label,
        toolbar_location=toolbar_location,
        x_range=x_range or DataRange1d(),
        y_range=y_range,
    )
    plot.toolbar.logo = None
    assert isinstance(plot.title, Title)  # figure() makes its title text a Title
    plot.title.text_font_size = "11pt"
    plot.xgrid.grid_line_alpha = 0.4
    plot.ygrid.grid_line_alpha = 0.4
    return plot


def trajectories_figure(
    source: ColumnDataSource,
    compare_sources: Sequence[ColumnDataSource],
    series: Sequence[Series],
    axis: TimeAxis,
    *,
    title: str = "The nested systems move together",
    y_label: str = "0 = well, 1 = in crisis",
    height: int = 340,
    width: int | None = None,
) -> figure:
    """Several 0-1 indices on one chart: current run solid, baseline faint, compared
    scenarios dashed, one colour per index."""
    plot = _base_figure(title, axis, height=height, width=width, y_range=Range1d(start=0, end=1))
    plot.yaxis.axis_label = y_label
    items: list[LegendItem] = []
    hover_renderers: list[DataRenderer] = []
    for k, item in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        plot.line("time", BASELINE_PREFIX + item.column, source=source, color=color, line_width=2, alpha=0.3)
        current = plot.line("time", item.column, source=source, color=color, line_width=3)
        hover_renderers.append(current)
        # Bokeh's stubs make GlyphRenderer invariant in its glyph, so a line's renderer
        # is not the GlyphRenderer[Glyph] they ask for; any glyph renderer goes in a legend.
        items.append(LegendItem(label=item.column, renderers=[current]))  # type: ignore[list-item]

    for dash, compare in zip(COMPARE_DASHES, compare_sources, strict=False):

        def draw(compare: ColumnDataSource = compare, dash: str = dash) -> None:
            for k, item in enumerate(series):
                color = PALETTE[k % len(PALETTE)]
                plot.line("time", item.column, source=compare, color=color, line_width=1.6, line_dash=dash)

        when_filled(plot, compare, draw)
    tooltips = [(axis.label, "@time{0.0}")] + [
        (item.column, f"@{{{item.column}}}{{0.00}} (baseline @{{{BASELINE_PREFIX + item.column}}}{{0.00}})")
        for item in series
    ]
    plot.add_tools(HoverTool(renderers=hover_renderers[:1], tooltips=tooltips, mode="vline"))
    legend = Legend(items=items, click_policy="hide", border_line_alpha=0)
    plot.add_layout(legend, "right")
    return plot


def indicator_figure(
    source: ColumnDataSource,
    compare_sources: Sequence[ColumnDataSource],
    item: Series,
    axis: TimeAxis,
    *,
    compare_colors: Sequence[str] = PALETTE,
    x_range: Range1d | None = None,
    height: int = 220,
    width: int | None = None,
    min_span: float | None = None,
) -> figure:
    """One headline indicator: current run dark, baseline grey ghost, each compared
    scenario in its own colour; the hover reads value and baseline with units.

    ``min_span`` is the least height of the vertical axis (see `min_span_of`): without
    it a flat line fills the chart with the noise in its sixth decimal.
    """
    # Small multiples carry no toolbar: six toolbars crowd the page, hovering works
    # without one, and the page exports the charts itself.
    plot = _base_figure(
        item.title,
        axis,
        height=height,
        width=width,
        y_range=DataRange1d(min_interval=min_span),
        x_range=x_range,
        toolbar_location=None,
    )
    plot.line("time", BASELINE_PREFIX + item.column, source=source, color=BASELINE_COLOR, line_width=2)
    current = plot.line("time", item.column, source=source, color=CURRENT_COLOR, line_width=2.5)
    for color, compare in zip(compare_colors, compare_sources, strict=False):

        def draw(compare: ColumnDataSource = compare, color: str = color) -> None:
            plot.line("time", item.column, source=compare, color=color, line_width=1.6, line_dash="dashed")

        when_filled(plot, compare, draw, below=current)
    units = f" {item.units}" if item.units else ""
    plot.add_tools(
        HoverTool(
            renderers=[current],
            mode="vline",
            tooltips=[
                (axis.label, "@time{0.0}"),
                ("Now", f"@{{{item.column}}}{{0,0.0[0]}}{units}"),
                ("Baseline", f"@{{{BASELINE_PREFIX + item.column}}}{{0,0.0[0]}}{units}"),
            ],
        )
    )
    return plot


def when_filled(
    plot: figure, compare: ColumnDataSource, draw: Callable[[], None], *, below: Renderer | None = None
) -> None:
    """Draw a compare slot's lines (``draw()``) once the slot has rows, and not before.

    Every chart has four compare slots, filled only when someone compares saved
    scenarios; built up front, their lines were 252 of the 860 models each
    session built, sent to its page and kept for the garbage collector to walk.
    ``below``: a renderer the new lines go under (the current run stays on top).
    """
    built = False

    def build() -> None:
        nonlocal built
        built = True
        before = list(plot.renderers)
        draw()
        if below is not None:
            added = plot.renderers[len(before) :]
            at = before.index(below)
            plot.renderers = [*before[:at], *added, *before[at:]]

    if len(compare.data.get("time", ())):
        build()
        return

    def first_rows(attr: str, old: object, new: Mapping[str, Sequence[float]]) -> None:
        if not built and len(new.get("time", ())):
            build()

    compare.on_change("data", first_rows)


def min_span_of(values: Sequence[float] | np.ndarray) -> float:
    """The least axis height for a series: a fifth of its largest magnitude (so a flat
    run at 15 shows 13-17, not 14.86490-14.86495), and never zero."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    return max(0.2 * largest, 1e-9)


def legend_key_html(compared: Mapping[str, str]) -> str:
    """A small HTML key for compared scenarios: name → dash pattern and colour, plus the
    meaning of the solid and faint lines. Names are escaped by the caller's ``html``."""
    import html

    rows = [
        '<span style="border-top:3px solid #1a1a1a;display:inline-block;width:28px;'
        'vertical-align:middle"></span> your levers',
        '<span style="border-top:3px solid #9a9a9a;display:inline-block;width:28px;'
        'vertical-align:middle;opacity:.6"></span> baseline (no change)',
    ]
    for (name, color), dash in zip(compared.items(), COMPARE_DASHES, strict=False):
        style = {"dashed": "dashed", "dotted": "dotted"}.get(dash, "dashed")
        rows.append(
            f'<span style="border-top:2px {style} {color};display:inline-block;width:28px;'
            f'vertical-align:middle"></span> {html.escape(name)}'
        )
    return '<div class="ns-key">' + " &nbsp; ".join(rows) + "</div>"


class IndexedRun:
    """A run whose columns are found by exact name in one dictionary lookup.

    The dashboards read a dozen columns of every run, and of the baseline again on
    every redraw; looking each up by Vensim's rules (case, spaces and underscores
    ignored) scans every name of the run each time. Names not found exactly fall back
    to the run's own lookup. Everything else is the wrapped run's.
    """

    __slots__ = ("_index", "run")

    def __init__(self, run: Run) -> None:
        self.run = run
        self._index = {name: j for j, name in enumerate(run.names)}

    def __getitem__(self, name: str) -> np.ndarray:
        j = self._index.get(name)
        if j is None or getattr(self.run, "ensemble", False):
            return self.run[name]
        return self.run.values[0, :, j]

    def __contains__(self, name: str) -> bool:
        return name in self._index or name in self.run

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.run, attribute)


def indexed(run: Run | IndexedRun) -> IndexedRun:
    """``run`` wrapped for fast column reads (a run already wrapped is returned as is)."""
    return run if isinstance(run, IndexedRun) else IndexedRun(run)
