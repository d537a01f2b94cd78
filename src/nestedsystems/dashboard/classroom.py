"""The classroom: a model's feedback loops, and which of them drives it, over time.

For a teacher at a projector (1280 by 720, large type, nothing to scroll): the causal
loop diagram of the loops that matter, a time slider with play and step buttons, a
stacked chart of the loops' shares of the change, and the story in plain words. As
time moves, each arrow's thickness follows its link score at that time and the
dominant loop lights up. A menu swaps the teaching model.

Everything the slider shows was computed once per model (`lesson.lesson_for`); a
tick only indexes arrays and reassigns ``source.data``.

Bokeh's order: data (the lesson, sources) → figures → widgets → callbacks → layout.
`build_document` is the whole app; ``dashboards/classroom/main.py`` and
``nestedsystems serve --app classroom`` both call it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.core.properties import value
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, InlineStyleSheet, Range1d

# From their subpackages: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.annotations import Legend, LegendItem, Span, Title
from bokeh.models.widgets import Button, Div, Select, Slider, Toggle
from bokeh.plotting import figure

from ..errors import NestedSystemsError
from ..loops import Polarity
from .lesson import (
    DIAGRAM_HEIGHT,
    DIAGRAM_WIDTH,
    MAX_LOOPS,
    Lesson,
    default_model,
    lesson_for,
    teaching_models,
)
from .loop_diagram import FONT_SIZE
from .widgets import error_page, message_html

__all__ = ["PLAY_INTERVAL_MS", "Classroom", "build_document", "loop_colors", "share_columns"]

PLAY_INTERVAL_MS = 150
TICKS_PER_RUN = 100  # play and step cross the run in this many moves
CHART_WIDTH = 530
CHART_HEIGHT = 300
QUIET = "#4d4d4d"  # arrows and words of loops not dominant now
# Okabe and Ito's colours: warm for reinforcing loops, cool for balancing ones.
WARM = ("#D55E00", "#E69F00", "#CC79A7", "#A6761D")
COOL = ("#0072B2", "#009E73", "#56B4E9", "#332288")
OPEN = ("#777777", "#999999")

# Bokeh draws widgets in shadow roots: a stylesheet per widget is how type grows.
_LARGE_CSS = (
    ":host { font-size: 18px; --font-size: 18px; } .bk-input, .bk-btn, label, select "
    "{ font-size: 18px; } .bk-btn { padding: 6px 14px; }"
)


def loop_colors(lesson: Lesson) -> dict[str, str]:
    """A colour per shown loop: warm for reinforcing, cool for balancing, grey if open."""
    counts = {Polarity.REINFORCING: 0, Polarity.BALANCING: 0, Polarity.UNDETERMINED: 0}
    palettes = {Polarity.REINFORCING: WARM, Polarity.BALANCING: COOL, Polarity.UNDETERMINED: OPEN}
    colors = {}
    for loop in lesson.loops:
        palette = palettes[loop.polarity]
        colors[loop.id] = palette[counts[loop.polarity] % len(palette)]
        counts[loop.polarity] += 1
    return colors


def share_columns(lesson: Lesson, slots: int = MAX_LOOPS) -> dict[str, Any]:
    """The stacked chart's data: ``time``, and for each slot the positive part of its
    loop's relative score (``up <k>``) and the negative part (``down <k>``).

    Stacked separately, the positive parts add up to the share of the change that
    pushes one way, and the negative parts to the rest: within the partition the two
    stacks together span 1 wherever it changes.
    """
    shares = list(lesson.shares().values())
    zeros = np.zeros(len(lesson.times))
    columns: dict[str, Any] = {"time": np.asarray(lesson.times, dtype=float)}
    for k in range(slots):
        series = shares[k] if k < len(shares) else zeros
        columns[f"up {k}"] = np.maximum(series, 0.0)
        columns[f"down {k}"] = np.minimum(series, 0.0)
    return columns


def _large(widget: Any) -> Any:
    # A stylesheet is a model, owned by one document: each widget gets its own.
    widget.stylesheets = [*widget.stylesheets, InlineStyleSheet(css=_LARGE_CSS)]
    return widget


class Classroom:
    """One session of the classroom app."""

    def __init__(self, doc: Any, lesson: Lesson, models: Sequence[Path]) -> None:
        self.doc = doc
        self.lesson = lesson
        self.models = list(models)
        self.index = 0
        self._player: Any = None

        # Data.
        self.variables = ColumnDataSource(name="diagram-variables")
        self.links = ColumnDataSource(name="diagram-links")
        self.loop_labels = ColumnDataSource(name="diagram-loops")
        self.shares = ColumnDataSource(share_columns(lesson), name="loop-shares")

        # Figures.
        self.diagram = self._diagram_figure()
        self.chart, self.up, self.down, self.legend = self._chart_figure()
        self.now_line = Span(location=0, dimension="height", line_color="#1a1a1a", line_width=2)
        self.chart.add_layout(self.now_line)

        # Widgets.
        self.title = Div(name="title", width=720, styles={"font-size": "26px", "font-weight": "bold"})
        self.model_select = _large(Select(name="model", width=420))
        self.message = Div(name="message", width=1240)
        self.slider = _large(
            Slider(start=0, end=1, value=0, step=1, title="Time", name="time", width=850, format="0,0.[0000]")
        )
        self.play = _large(Toggle(label="\u25b6 Play", name="play", width=120, button_type="success"))
        self.back = _large(Button(label="\u25c0 Step", name="step-back", width=110))
        self.forward = _large(Button(label="Step \u25b6", name="step", width=110))
        self.now = Div(name="now", width=DIAGRAM_WIDTH, height=52, styles={"font-size": "20px"})
        self.narrative = Div(
            name="narrative",
            width=CHART_WIDTH,
            height=230,
            styles={"font-size": "17px", "overflow": "hidden"},
        )
        self.notes = Div(name="notes", width=CHART_WIDTH, styles={"font-size": "14px", "color": "#555"})

        # Callbacks.
        self.model_select.on_change("value", lambda attr, old, new: self.choose_model(new))
        self.slider.on_change("value", lambda attr, old, new: self.show_time(self._index_of(new)))
        self.play.on_change("active", lambda attr, old, new: self.set_playing(new))
        self.back.on_click(lambda: self.step(-1))
        self.forward.on_click(lambda: self.step(1))

        # Layout.
        header = row(self.title, self.model_select)
        left = column(self.now, self.diagram)
        right = column(self.chart, self.narrative, self.notes)
        controls = row(self.back, self.play, self.forward, self.slider)
        self.layout = column(header, self.message, row(left, right), controls)
        self.show_lesson(lesson)

    # -- figures ------------------------------------------------------------------------------

    def _diagram_figure(self) -> Any:
        # The ranges are the figure's size in pixels: the layout works in pixels.
        plot = figure(
            width=DIAGRAM_WIDTH,
            height=DIAGRAM_HEIGHT,
            x_range=Range1d(start=0, end=DIAGRAM_WIDTH),
            y_range=Range1d(start=0, end=DIAGRAM_HEIGHT),
            toolbar_location=None,
            min_border=0,
            outline_line_color=None,
            name="diagram",
        )
        plot.axis.visible = False
        plot.grid.visible = False
        plot.multi_line(
            xs="xs", ys="ys", line_width="width", line_color="color", line_alpha=0.9, source=self.links
        )
        plot.scatter(
            x="head_x",
            y="head_y",
            angle="head_angle",
            size="head_size",
            marker="triangle",
            color="color",
            source=self.links,
        )
        plot.text(
            x="mark_x",
            y="mark_y",
            text="mark",
            text_font_size="22px",
            text_font_style="bold",
            text_align="center",
            text_baseline="middle",
            text_color="color",
            source=self.links,
        )
        plot.rect(
            x="x",
            y="y",
            width="width",
            height="height",
            width_units="screen",
            height_units="screen",
            fill_color="#eef3f8",
            fill_alpha="box",
            line_color="#1a1a1a",
            line_width=2,
            line_alpha="box",
            source=self.variables,
        )
        # Bokeh's stubs leave the Text glyph's background and border properties out of
        # text()'s keywords, and type its padding and border_radius as properties of
        # properties; the glyph takes all of them (bokeh.models.glyphs.Text).
        plot.text(  # type: ignore[call-arg]
            x="x",
            y="y",
            text="label",
            text_font_size=FONT_SIZE,
            text_align="center",
            text_baseline="middle",
            text_color="#111111",
            background_fill_color="#ffffff",
            background_fill_alpha="plate",
            source=self.variables,
        )
        plot.text(  # type: ignore[call-arg]
            x="x",
            y="y",
            text="text",
            text_font_size="17px",
            text_font_style="bold",
            text_align="center",
            text_baseline="middle",
            text_color="text_color",
            background_fill_color="color",
            background_fill_alpha="glow",
            border_line_color="color",
            border_line_alpha="border",
            border_line_width=2,
            border_radius=8,  # type: ignore[arg-type]
            padding=4,  # type: ignore[arg-type]
            source=self.loop_labels,
        )
        return plot

    def _chart_figure(self) -> tuple[Any, list[Any], list[Any], Legend]:
        plot = figure(
            width=CHART_WIDTH,
            height=CHART_HEIGHT,
            y_range=Range1d(start=-1.05, end=1.05),
            toolbar_location=None,
            title="Share of the change each loop explains",
            name="shares-chart",
        )
        assert isinstance(plot.title, Title)  # figure() makes its title text a Title
        plot.title.text_font_size = "17px"
        plot.axis.major_label_text_font_size = "14px"
        plot.axis.axis_label_text_font_size = "15px"
        plot.yaxis.axis_label = "relative loop score"
        ups = plot.varea_stack([f"up {k}" for k in range(MAX_LOOPS)], x="time", source=self.shares)
        downs = plot.varea_stack([f"down {k}" for k in range(MAX_LOOPS)], x="time", source=self.shares)
        # Bokeh's stubs make GlyphRenderer invariant in its glyph, so an area's renderer
        # is not the GlyphRenderer[Glyph] they ask for; any glyph renderer goes in a legend.
        legend = Legend(
            items=[
                LegendItem(label=f"slot {k}", renderers=[ups[k], downs[k]])  # type: ignore[list-item]
                for k in range(MAX_LOOPS)
            ],
            label_text_font_size="15px",
            location="top",
            border_line_color=None,
            spacing=2,
        )
        plot.add_layout(legend, "right")
        plot.add_layout(Span(location=0, dimension="width", line_color="#333333", line_width=1))
        return plot, ups, downs, legend

    # -- a model ------------------------------------------------------------------------------

    def show_lesson(self, lesson: Lesson) -> None:
        """Show another model's lesson: every source reassigned, no figure rebuilt."""
        self.set_playing(False)
        self.lesson = lesson
        self.colors = loop_colors(lesson)
        diagram = lesson.diagram
        stocks = diagram.nodes["stock"]
        self.variables.data = {
            **diagram.nodes,
            "box": [1.0 if s else 0.0 for s in stocks],
            "plate": [0.0 if s else 0.85 for s in stocks],  # arrows pass behind, not through, words
        }
        self._edge_base = dict(diagram.edges)
        self._label_base = dict(diagram.labels)
        self.shares.data = share_columns(lesson)
        shown = list(lesson.shares())
        for k, item in enumerate(self.legend.items):
            assert isinstance(item, LegendItem)  # _chart_figure made them
            loop_id = shown[k] if k < len(shown) else ""
            item.label = value(loop_id)
            item.visible = bool(loop_id)
            color = self.colors.get(loop_id, "#ffffff")
            for renderer in (self.up[k], self.down[k]):
                renderer.glyph.fill_color = color
                renderer.visible = bool(loop_id)
        times = lesson.times
        self.chart.xaxis.axis_label = lesson.time_units
        self.title.text = f"Feedback loops: {html.escape(_label_of(lesson.title))}"
        self.notes.text = " ".join(html.escape(note) for note in lesson.notes)
        options = [(str(path), _label_of(path)) for path in self.models]
        if str(lesson.path) not in {value for value, _ in options}:
            options.insert(0, (str(lesson.path), _label_of(lesson.path)))
        self.model_select.options = options
        self.model_select.value = str(lesson.path)
        dt = float(times[1] - times[0]) if len(times) > 1 else 1.0
        self.stride = max(1, round((len(times) - 1) / TICKS_PER_RUN))
        self.slider.update(
            start=float(times[0]),
            end=float(times[-1]) if len(times) > 1 else float(times[0]) + dt,
            step=dt,
            title=f"Time ({lesson.time_units})",
        )
        start = lesson.first_active()
        self.slider.value = float(times[start])
        self.show_time(start)

    def choose_model(self, path: str) -> None:
        """Swap the model (the menu's callback)."""
        if self.lesson is not None and path == str(self.lesson.path):
            return
        try:
            lesson = lesson_for(path)
        except NestedSystemsError as error:
            self.message.text = message_html(f"{Path(path).name}: {error}", "error")
            self.model_select.value = str(self.lesson.path)
            return
        self.message.text = ""
        self.show_lesson(lesson)

    # -- time ---------------------------------------------------------------------------------

    def _index_of(self, value: float) -> int:
        times = self.lesson.times
        return int(np.clip(np.searchsorted(times, value - 1e-9 * max(1.0, abs(value))), 0, len(times) - 1))

    def show_time(self, index: int) -> None:
        """Draw the diagram at step `index`: arrow thickness from the link scores then,
        the dominant loops lit."""
        lesson = self.lesson
        self.index = index
        dominant = lesson.dominant[index] if index < len(lesson.dominant) else None
        lit = set(dominant[0]) if dominant else set()
        scores = np.abs(lesson.arrow_scores[:, index]) if lesson.arrow_scores.size else np.zeros(0)
        largest = float(scores.max()) if scores.size else 0.0
        strength = scores / largest if largest > 0 else np.zeros_like(scores)
        colors = []
        for link in lesson.diagram.links:
            chosen = next((loop for loop in link.loops if loop in lit), None)
            colors.append(self.colors[chosen] if chosen else QUIET)
        widths = 1.5 + 8.5 * strength
        heads = 12 + 1.6 * widths
        base = self._edge_base
        self.links.data = {
            **base,
            "width": widths,
            "head_size": heads,
            # a triangle is centred on its point: set it back so its tip touches the box
            "head_x": np.asarray(base["tip_x"]) - np.asarray(base["dir_x"]) * heads / 2,
            "head_y": np.asarray(base["tip_y"]) - np.asarray(base["dir_y"]) * heads / 2,
            "color": colors,
            "score": lesson.arrow_scores[:, index] if lesson.arrow_scores.size else [],
        }
        ids = self._label_base["id"]
        self.loop_labels.data = {
            **self._label_base,
            "color": [self.colors[i] for i in ids],
            "text_color": ["#ffffff" if i in lit else self.colors[i] for i in ids],
            "glow": [1.0 if i in lit else 0.0 for i in ids],
            "border": [1.0 if i in lit else 0.0 for i in ids],
            "lit": [i in lit for i in ids],
        }
        time = float(lesson.times[index])
        self.now_line.location = time
        self.now.text = _now_html(lesson, index, dominant, self.colors)
        self.narrative.text = _narrative_html(lesson.narrative, time)

    def step(self, direction: int) -> None:
        """Move one stride forward (1) or back (-1), stopping at the ends."""
        last = len(self.lesson.times) - 1
        target = int(np.clip(self.index + direction * self.stride, 0, last))
        self.slider.value = float(self.lesson.times[target])
        if self.index != target:  # the slider did not move (same value): draw anyway
            self.show_time(target)

    def advance(self) -> None:
        """One tick of play; play stops at the end of the run."""
        if self.index >= len(self.lesson.times) - 1:
            self.play.active = False
            return
        self.step(1)

    def set_playing(self, playing: bool) -> None:
        """Start or stop the periodic callback that plays the run."""
        if playing and self._player is None:
            if self.index >= len(self.lesson.times) - 1:
                self.slider.value = float(self.lesson.times[0])
            self._player = self.doc.add_periodic_callback(self.advance, PLAY_INTERVAL_MS)
            self.play.label = "\u275a\u275a Pause"
        elif not playing and self._player is not None:
            self.doc.remove_periodic_callback(self._player)
            self._player = None
            self.play.label = "\u25b6 Play"
        if self.play.active != playing:
            self.play.active = playing

    @property
    def lit(self) -> list[str]:
        """Ids of the loops lit now."""
        data = self.loop_labels.data
        return [i for i, lit in zip(data["id"], data["lit"], strict=True) if lit]


def _label_of(path: Path | str) -> str:
    words = Path(path).stem.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _number(value: float) -> str:
    # as many decimals as a TIME STEP of 1/16 needs, as the slider shows it
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.4f}".rstrip("0").rstrip(".")


def _now_html(lesson: Lesson, index: int, dominant: tuple | None, colors: Mapping[str, str]) -> str:
    when = f"{html.escape(lesson.time_units)} {_number(float(lesson.times[index]))}"
    if not dominant:
        return f"<b>{when}</b>: no loop is changing anything yet."
    ids, polarity, share = dominant
    if not ids:  # a quiet stretch: the shares are ratios of changes too small to tell
        return f"<b>{when}</b>: nothing much changes now; no loop is driving the system."
    names = []
    for loop_id in ids:
        loop = lesson.loops[loop_id]
        name = f" {html.escape(loop.name)}" if loop.name and loop.name != loop.id else ""
        names.append(f"<b style='color:{colors[loop_id]}'>{html.escape(loop_id)}{name}</b>")
    verb = "drives" if len(ids) == 1 else "drive"
    return f"<b>{when}</b>: {' and '.join(names)} ({polarity.value}) {verb} {100 * share:.0f}% of the change."


_PERIOD = re.compile(r"^\S+ (-?[\d.]+)\u2013(-?[\d.]+):")


def _narrative_html(sentences: Sequence[str], time: float, shown: int = 3) -> str:
    """The narrative, the sentence about now in bold, at most `shown` sentences around it."""
    if not sentences:
        return "<p>No loop in this model changes anything over the run.</p>"
    current = 0
    for k, sentence in enumerate(sentences):
        match = _PERIOD.match(sentence)
        if match and float(match.group(1)) <= time:
            current = k
    first = max(0, min(current - 1, len(sentences) - shown))
    parts = []
    for k in range(first, min(len(sentences), first + shown)):
        text = html.escape(sentences[k])
        parts.append(f"<p style='margin:0 0 8px 0'>{f'<b>{text}</b>' if k == current else text}</p>")
    return "".join(parts)


def build_document(
    doc: Any,
    *,
    model_path: str | Path | None = None,
    store: object = None,
    arguments: Mapping[str, Any] | None = None,
) -> Classroom | None:
    """Build the classroom for the model at `model_path` (default: the first teaching
    model) into a Bokeh document.

    Returns the session object, or None when the model could not be shown, in which
    case the page says why. `store` and `arguments` are accepted for the server's
    sake; the classroom saves nothing.
    """
    path = Path(model_path) if model_path is not None else default_model()
    doc.title = f"Classroom: {path.name}"
    try:
        lesson = lesson_for(path)
    except NestedSystemsError as error:
        doc.add_root(error_page("The model could not be shown", error))
        return None
    app = Classroom(doc, lesson, teaching_models())
    doc.add_root(app.layout)
    return app
