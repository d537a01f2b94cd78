"""The what-if dashboard: levers by sector, shocks, and what they do, in plain words.

Written for a board: every lever carries its unit and a one-line explanation from the
model; shocks are buttons; the headline chart shows the nested systems (clients, staff,
organization, funding) moving together, each faint baseline behind it; small multiples
show the indicators a board reads, and one sentence says what changed. There is no run
button: releasing a slider re-runs the model.

Bokeh's order: data (prepared model, sources) → figures → widgets → callbacks → layout.
`build_document` is the whole app; ``dashboards/whatif/main.py`` and
``nestedsystems serve`` both call it.
"""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, TabPanel, Tabs

# From their subpackage: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.widgets import Button, Div, Toggle

from ..errors import NestedSystemsError
from .cache import PreparedModel, find_model, prepared_model
from .dominance_strip import DominanceStrip
from .export import REPORT_WIDTH, ExportError, export_png, report_html, report_layout
from .figures import (
    MAX_COMPARED,
    PALETTE,
    Series,
    empty_columns,
    indicator_figure,
    legend_key_html,
    min_span_of,
    run_columns,
    time_axis,
    trajectories_figure,
)
from .levers import Lever, group_levers, levers_of
from .session import LeverSession, request_arguments
from .store import ScenarioStore, open_store
from .summary import Change, Dip, Level, Statement, summarize
from .uncertainty_view import view_for_app
from .widgets import CHART_WIDTH, LEVER_WIDTH, error_page, file_stem, grid_of, lever_block

__all__ = ["FLAGSHIP", "Shock", "WhatIf", "WhatIfSpec", "build_document"]


@dataclass(frozen=True, slots=True)
class Shock:
    """A button that sets some constants at once: a surge, a scandal, a cut.

    Attributes
    ----------
    label:
        The button's words.
    explanation:
        One line under the buttons when it is on.
    settings:
        ``(constant, value)`` pairs applied when switched on. The first constant is the
        shock's size: switching off puts it back to the model's value, which the model
        defines as "no shock".
    """

    label: str
    explanation: str
    settings: tuple[tuple[str, float], ...]

    @property
    def size(self) -> str:
        return self.settings[0][0]


@dataclass(frozen=True, slots=True)
class WhatIfSpec:
    """What the what-if app shows for a model: a layout written for its names.

    Names the model lacks are dropped (and listed on the page), so the app degrades to
    what the model has rather than failing.
    """

    title: str
    introduction: str
    trajectories: tuple[Series, ...]
    indicators: tuple[Series, ...]
    shocks: tuple[Shock, ...] = ()
    statements: tuple[Statement, ...] = ()
    sector_order: tuple[str, ...] = field(default=())


FLAGSHIP = WhatIfSpec(
    title="Nested systems: what if?",
    introduction=(
        "Clients, staff, the organization and its funders mirror each other: distress in one "
        "spreads to the others. Move a lever or switch on a shock and the charts show what the "
        "model expects over ten years. Faint lines are the program as it is today."
    ),
    trajectories=(
        Series("Average client distress", "Client distress"),
        Series("Staff strain", "Staff strain"),
        Series("Organizational climate", "Toxic climate (1 − climate)", invert=True),
        Series("Financial pressure", "Financial pressure"),
    ),
    indicators=(
        Series("Annual staff turnover", units="%/year"),
        Series("Restraints per 1000 client days", units=""),
        Series("Burnout prevalence", units="% of staff"),
        Series("Months of reserves", units=""),
        Series("Clients in care", units=""),
        Series("Incidents", units="per month"),
    ),
    shocks=(
        Shock(
            "Acuity surge",
            "Clients arrive 30% more distressed for a year, from year 3.",
            (("Acuity surge", 0.3), ("Acuity surge start month", 24), ("Acuity surge duration", 12)),
        ),
        Shock(
            "Media scandal",
            "A critical incident makes the news in year 3.",
            (("Scandal size", 1.0), ("Scandal month", 24)),
        ),
        Shock(
            "Tight labour market",
            "Staff quit 50% more often: other jobs are easy to find.",
            (("Labour market quit multiplier", 1.5),),
        ),
        Shock(
            "Funding cut",
            "The contract rate is cut by 20% in year 3.",
            (("Contract rate change", -0.2), ("Contract rate change month", 24)),
        ),
    ),
    statements=(
        Level("Annual staff turnover", "turnover", "{:.0f}%"),
        Change("Restraints per 1000 client days", "restraint"),
        Dip("Months of reserves", "reserves dip below one month", 1.0),
        Change("Average client distress", "client distress"),
        Change("Staff strain", "staff strain"),
        Change("Burnout prevalence", "burnout"),
        Level("Organizational climate", "the climate index", "{:.2f}"),
    ),
    sector_order=("Clients", "Staff", "Organization", "Funding and environment"),
)


def _fit_spec(spec: WhatIfSpec, model: Any) -> tuple[WhatIfSpec, list[str]]:
    """The spec restricted to names the model has, units filled from the model, and
    the names dropped."""
    missing: list[str] = []

    def keep(series: Sequence[Series]) -> tuple[Series, ...]:
        kept = []
        for item in series:
            variable = model.get(item.variable)
            if variable is None:
                missing.append(item.variable)
                continue
            kept.append(item if item.units is not None else replace(item, units=variable.units.strip()))
        return tuple(kept)

    shocks = []
    for shock in spec.shocks:
        absent = [name for name, _ in shock.settings if name not in model]
        if absent:
            missing.extend(absent)
        else:
            shocks.append(shock)
    fitted = replace(
        spec,
        trajectories=keep(spec.trajectories),
        indicators=keep(spec.indicators),
        shocks=tuple(shocks),
    )
    return fitted, list(dict.fromkeys(missing))


def _shock_value(lever: Lever, value: float) -> float:
    # A rate change written in percent (range -40..30) rather than as a fraction.
    if lever.start <= -1.0 and -1.0 < value < 1.0 and value != 0.0:
        value *= 100.0
    return min(max(value, lever.start), lever.end)


class WhatIf(LeverSession):
    """One session of the what-if app."""

    def __init__(
        self,
        prepared: PreparedModel,
        store: ScenarioStore | None,
        *,
        spec: WhatIfSpec = FLAGSHIP,
        store_problem: str = "",
    ) -> None:
        model = prepared.model
        self.spec, self.missing = _fit_spec(spec, model)
        shock_names = [name for shock in self.spec.shocks for name, _ in shock.settings]
        policy = levers_of(model, ranged_only=True, exclude=shock_names)
        if not policy:
            policy = levers_of(model, exclude=shock_names)
        shock_levers = tuple(lever for lever in levers_of(model) if lever.name in set(shock_names))
        super().__init__(prepared, policy + shock_levers, store, store_problem=store_problem)
        self.policy_levers = policy
        self.shown = (*self.spec.trajectories, *self.spec.indicators)
        self.axis = time_axis(getattr(model, "time_units", ""))

        # Data.
        self.source = ColumnDataSource(
            run_columns(self.baseline, self.shown, self.axis, baseline=self.baseline), name="run"
        )
        self.compare_sources = [
            ColumnDataSource(empty_columns(self.shown), name=f"compare-{k}") for k in range(MAX_COMPARED)
        ]
        self.compared: dict[str, Any] = {}

        # Figures.
        self.figures: list[Any] = []
        if self.spec.trajectories:
            self.trajectories = trajectories_figure(
                self.source, self.compare_sources, self.spec.trajectories, self.axis, width=CHART_WIDTH
            )
            self.figures.append(self.trajectories)
        # Under the trajectories: which loop drives them (none for a model without named loops).
        self.dominance = DominanceStrip.for_model(
            prepared,
            self.axis,
            width=CHART_WIDTH,
            x_range=self.trajectories.x_range if self.spec.trajectories else None,
        )
        if self.dominance is not None:
            self.figures.append(self.dominance.layout)
        small = [
            indicator_figure(
                self.source,
                self.compare_sources,
                item,
                self.axis,
                width=CHART_WIDTH // 3 - 6,
                height=210,
                min_span=min_span_of(item.values(self.baseline)),
            )
            for item in self.spec.indicators
        ]
        self.indicator_figures = small
        # Bands over plausible futures, on request (none for a model declaring no uncertainty).
        try:
            self.uncertainty = view_for_app(
                prepared, list(self.levers), self.spec.trajectories, self.spec.indicators, self.axis
            )
        except NestedSystemsError as error:
            self.uncertainty = None
            self.say(f"The uncertainty view is off: {error}", "error")
        if self.uncertainty is not None:
            trajectories = self.trajectories if self.spec.trajectories else None
            pairs = list(zip(small, self.spec.indicators, strict=True))
            self.uncertainty.draw(trajectories, self.spec.trajectories, pairs)

        # Widgets.
        self.summary = Div(text="", name="summary", width=CHART_WIDTH)
        self.key = Div(text=legend_key_html({}), name="key", width=CHART_WIDTH)
        self.shock_toggles = {
            shock.label: Toggle(label=shock.label, active=False, name=f"shock:{shock.label}", width=165)
            for shock in self.spec.shocks
        }
        self.shock_note = Div(text="", name="shock-note", width=LEVER_WIDTH)
        self.reset_button = Button(label="Back to today's settings", name="reset")
        self.csv_button = Button(label="Download data (CSV)", name="export-csv")
        self.png_button = Button(label="Download charts (PNG)", name="export-png")
        self.report_button = Button(label="Download report (HTML)", name="export-report")

        # Callbacks.
        for shock in self.spec.shocks:
            self.shock_toggles[shock.label].on_change(
                "active", functools.partial(self._shock_switched, shock)
            )

        # The exports return what they sent (for scripts and tests); a click drops it.
        def csv_clicked() -> None:
            self.export_csv()

        def report_clicked() -> None:
            self.export_report()

        self.reset_button.on_click(self.reset)
        self.csv_button.on_click(csv_clicked)
        self.png_button.on_click(self._png_clicked)
        self.report_button.on_click(report_clicked)
        self._syncing = False

        self.layout = self._layout()
        self._update_words()
        if self.missing:
            self.say(
                "This model lacks some of what this page shows: " + ", ".join(self.missing) + ".", "info"
            )

    # -- layout ---------------------------------------------------------------------------

    def _layout(self) -> Any:
        groups = group_levers(self.policy_levers)
        order = [g for g in self.spec.sector_order if g in groups] + [
            g for g in groups if g not in self.spec.sector_order
        ]
        panels = [
            TabPanel(
                title=group,
                child=column(*(lever_block(self.sliders[lever.name], lever) for lever in groups[group])),
            )
            for group in order
        ]
        levers = (
            Tabs(tabs=panels, width=LEVER_WIDTH + 30, name="lever-tabs")
            if panels
            else Div(text="This model has no constants to move.")
        )
        # Shocks stay in view under the sector tabs: a board switches them on and off
        # while looking at the levers, and the buttons must show which are on.
        shock_levers = [self.levers[name] for shock in self.spec.shocks for name, _ in shock.settings]
        shocks: list[Any] = []
        if shock_levers:
            shocks = [
                Div(text="<b>Shocks</b>: switch one on, then fine-tune it below.", width=LEVER_WIDTH),
                grid_of(list(self.shock_toggles.values()), 2),
                self.shock_note,
                *(lever_block(self.sliders[lever.name], lever) for lever in shock_levers),
            ]
        header = Div(
            text=f"<h1 style='margin:0'>{html.escape(self.spec.title)}</h1>"
            f"<p style='max-width:60em'>{html.escape(self.spec.introduction)}</p>",
            width=LEVER_WIDTH + 40 + CHART_WIDTH,
        )
        charts = list(self.figures)
        # Rows of figures, not a gridplot: a gridplot inside a row collapses to nothing.
        for k in range(0, len(self.indicator_figures), 3):
            charts.append(row(*self.indicator_figures[k : k + 3]))
        exports = column(Div(text="<b>Export</b>"), self.csv_button, self.png_button, self.report_button)
        left = column(levers, self.reset_button, *shocks, width=LEVER_WIDTH + 40)
        if self.uncertainty is not None:
            charts = [row(self.uncertainty.toggle, self.uncertainty.words), *charts, self.uncertainty.loops]
        right = column(self.message, self.summary, self.key, *charts, row(self.panel.layout, exports))
        return column(header, row(left, right))

    # -- drawing --------------------------------------------------------------------------

    def simulate(self, params: Mapping[str, float]) -> Any:
        if self.dominance is None:
            return super().simulate(params)
        # One run serves the charts and the strip's loop scores.
        try:
            return self.dominance.simulate(params)
        except NestedSystemsError as error:
            self.say(f"The model could not run with these settings: {error}", "error")
            return None

    def redraw(self, run: Any) -> None:
        # Only the run's columns: the baseline's never change, and an update of some
        # columns sends only those (half the bytes of each move) where assigning
        # ``data`` would send them all again.
        self.source.data.update(run_columns(run, self.shown, self.axis))
        if self.dominance is not None:
            strip = self.dominance
            self.after_charts(lambda: strip.show(run))
        if self.uncertainty is not None:
            self.uncertainty.follow(self.changed_values())
        self._update_words()

    def show_compared(self, runs: Mapping[str, Any]) -> None:
        self.compared = dict(list(runs.items())[:MAX_COMPARED])
        names = list(self.compared)
        for k, compare in enumerate(self.compare_sources):
            if k < len(names):
                compare.data = run_columns(self.compared[names[k]], self.shown, self.axis)
            else:
                compare.data = empty_columns(self.shown)
        self.key.text = legend_key_html({name: PALETTE[k] for k, name in enumerate(names)})

    def _update_words(self) -> None:
        text = summarize(self.run, self.baseline, self.spec.statements, self.axis)
        self.summary.text = f'<p style="font-size:120%;margin:4px 0"><b>{html.escape(text)}</b></p>'
        self._sync_shocks()

    # -- shocks ---------------------------------------------------------------------------

    def _shock_switched(self, shock: Shock, attr: str, old: bool, new: bool) -> None:
        if self._syncing:
            return
        if new:
            values = {name: _shock_value(self.levers[name], value) for name, value in shock.settings}
        else:
            values = {shock.size: self.levers[shock.size].default}
        self.set_values(values)

    def _sync_shocks(self) -> None:
        # A shock's button shows whether its size is away from "no shock", however it got there.
        self._syncing = True
        try:
            notes = []
            for shock in self.spec.shocks:
                on = self.values[shock.size] != self.levers[shock.size].default
                if self.shock_toggles[shock.label].active != on:
                    self.shock_toggles[shock.label].active = on
                if on:
                    notes.append(shock.explanation)
            self.shock_note.text = html.escape(" ".join(notes))
        finally:
            self._syncing = False

    # -- exports --------------------------------------------------------------------------

    def _report(self) -> tuple[Any, str]:
        name = self.label()
        runs = {name: self.run, **self.compared}
        summary = summarize(self.run, self.baseline, self.spec.statements, self.axis)
        notes = [
            f"{self.levers[key].title}: {value:g} (today {self.levers[key].default:g})"
            for key, value in self.changed_values().items()
        ] or ["All levers at today's settings."]
        layout = report_layout(
            runs,
            self.baseline,
            self.spec.trajectories,
            self.spec.indicators,
            self.axis,
            title=f"{self.spec.title} — {name}",
            summary=summary,
            notes=notes,
            beneath=[self.dominance.report_part(REPORT_WIDTH)] if self.dominance is not None else [],
        )
        return layout, name

    def export_report(self) -> str:
        """Send a standalone HTML report of the current scenario vs the baseline."""
        layout, name = self._report()
        text = report_html(layout, title=f"{self.spec.title} — {name}")
        self.downloader.offer(f"{file_stem(self.prepared.key, name)}-report.html", text, "text/html")
        self.say("The report is downloading as an HTML page.", "info")
        return text

    def export_png(self, path: str | Path | None = None) -> bytes | None:
        """Draw the charts as PNG (server side, with headless Chromium) and send them."""
        layout, name = self._report()
        try:
            data = export_png(layout, path)
        except ExportError as error:
            self.say(str(error), "error")
            return None
        self._offer_png(data, name)
        return data

    def _offer_png(self, data: bytes, name: str) -> None:
        self.downloader.offer(f"{file_stem(self.prepared.key, name)}.png", data, "image/png")
        self.say("The charts are downloading as PNG.", "info")

    def _png_clicked(self) -> None:
        document = self.layout.document
        if document is None or document.session_context is None:
            self.export_png()
            return
        # Starting Chromium and drawing take seconds: done in a thread, so that the
        # server keeps answering every other session meanwhile. The report's models
        # are new and belong to no session, so the thread touches nothing shared;
        # its result comes back through the session's next tick, as Bokeh requires.
        self.say("Drawing the charts as PNG…", "info")
        layout, name = self._report()

        def draw() -> None:
            try:
                data = export_png(layout)
            except ExportError as error:
                problem = str(error)
                document.add_next_tick_callback(lambda: self.say(problem, "error"))
            else:
                document.add_next_tick_callback(lambda: self._offer_png(data, name))

        threading.Thread(target=draw, name="png-export", daemon=True).start()


def build_document(
    doc: Any,
    *,
    model_path: str | Path | None = None,
    store: ScenarioStore | str | Path | None = None,
    arguments: Mapping[str, Any] | None = None,
    spec: WhatIfSpec = FLAGSHIP,
) -> WhatIf | None:
    """Build the what-if app into a Bokeh document.

    Parameters
    ----------
    doc:
        The session's document (``curdoc()`` in a Bokeh app).
    model_path:
        The model; the flagship ``models/nested_systems.mdl`` by default.
    store:
        A `ScenarioStore`, or a path to one; the user's default store when ``None``.
    arguments:
        The page's query arguments; read from the session's request when ``None``.

    Returns
    -------
    The session object (tests read its state), or ``None`` when the model could not be
    loaded, in which case the page shows why.
    """
    doc.title = spec.title
    try:
        prepared = prepared_model(model_path if model_path is not None else find_model())
    except NestedSystemsError as error:
        doc.add_root(error_page("The model could not be loaded", error))
        return None
    opened, problem = open_store(store)
    app = WhatIf(prepared, opened, spec=spec, store_problem=problem)
    doc.add_root(app.layout)
    app.apply_arguments(request_arguments(doc) if arguments is None else arguments)
    return app
