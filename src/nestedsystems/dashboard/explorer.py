"""The explorer: any model, every constant a slider, any variable on the charts.

For modellers rather than boards: sliders for all constants (bounds from the model's
ranges, else a span around the value; a subscripted constant has one slider per
element), a picker of the variables to chart (an arrayed variable's elements each
as its column, ``Population[north]``), the integration method and TIME STEP, and
the same scenario store as the what-if app.

The charts are a fixed set of slots, each bound to columns ``slot <k>`` of one data
source: picking variables reassigns ``source.data`` and the slots' titles, never builds
figures, so the page stays as cheap to update as the what-if app. A model that fails
to load gives a page that says why; the server keeps serving other sessions.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, DataRange1d, TabPanel, Tabs
from bokeh.models.annotations import Title

# From their subpackage: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.widgets import Button, Div, MultiChoice, Select, TextInput

from ..errors import NestedSystemsError, ParameterError
from ..model import Kind
from ..simulation import control_value
from .cache import PreparedModel, prepared_model
from .figures import (
    BASELINE_PREFIX,
    MAX_COMPARED,
    PALETTE,
    Series,
    empty_columns,
    indicator_figure,
    legend_key_html,
    min_span_of,
    time_axis,
)
from .levers import array_params, group_levers, levers_of
from .session import LeverSession, request_arguments
from .store import ScenarioStore, open_store
from .widgets import CHART_WIDTH, LEVER_WIDTH, error_page, lever_block

__all__ = ["METHODS", "SLOTS", "Explorer", "build_document"]

SLOTS = 6
METHODS = ("euler", "rk4", "RK45", "RK23", "DOP853", "LSODA", "BDF", "Radau")


class Explorer(LeverSession):
    """One session of the explorer."""

    def __init__(
        self, prepared: PreparedModel, store: ScenarioStore | None, *, store_problem: str = ""
    ) -> None:
        model = prepared.model
        super().__init__(prepared, levers_of(model, elements=True), store, store_problem=store_problem)
        self.axis = time_axis(getattr(model, "time_units", ""))
        baseline_names = set(prepared.baseline.names)
        # an arrayed variable offers each element's column, as the run names them
        self.owners = {
            column: v
            for v in model.variables
            if v.kind in (Kind.STOCK, Kind.AUXILIARY)
            and v.key not in ("initial time", "final time", "time step", "saveper")
            for column in _columns(model, v)
            if column in baseline_names
        }
        self.choices = list(self.owners)
        stocks = [name for name, v in self.owners.items() if v.kind is Kind.STOCK]
        chosen = (stocks or self.choices)[: min(4, SLOTS)]
        self.default_time_step = control_value(model, {}, "time step")
        self.method = "euler"
        self.time_step = self.default_time_step
        self.chosen: list[str] = []
        self.compared: dict[str, Any] = {}

        # Data.
        self.source = ColumnDataSource(empty_columns(self._slots(), with_baseline=True), name="run")
        self.compare_sources = [
            ColumnDataSource(empty_columns(self._slots()), name=f"compare-{k}") for k in range(MAX_COMPARED)
        ]

        # Figures: fixed slots, titled and shown as variables are picked.
        self.slot_figures = [
            indicator_figure(self.source, self.compare_sources, item, self.axis, width=CHART_WIDTH // 2 - 6)
            for item in self._slots()
        ]

        # Widgets.
        self.picker = MultiChoice(
            title=f"Variables to chart (up to {SLOTS})",
            options=[*self.choices],
            value=chosen,
            max_items=SLOTS,
            name="variables",
        )
        # Annotated: Bokeh types ``options`` as a union of list types, and mypy infers a
        # list display against a union as list[str], which none of them accepts.
        methods: list[str | None] = [*METHODS]
        self.method_select = Select(title="Integration method", options=methods, value="euler", name="method")
        self.time_step_input = TextInput(
            title=f"TIME STEP ({model.time_units or 'time units'})",
            value=f"{self.time_step:g}",
            name="time-step",
        )
        self.key = Div(text=legend_key_html({}), name="key")
        self.reset_button = Button(label="All constants back to the model's values", name="reset")
        self.csv_button = Button(label="Download data (CSV)", name="export-csv")

        # Callbacks.
        self.picker.on_change("value", lambda attr, old, new: self.choose(new))
        self.method_select.on_change("value", lambda attr, old, new: self.set_method(new))
        self.time_step_input.on_change("value", lambda attr, old, new: self.set_time_step(new))

        def csv_clicked() -> None:  # the export returns its text (for tests); a click drops it
            self.export_csv()

        self.reset_button.on_click(self.reset)
        self.csv_button.on_click(csv_clicked)

        self.layout = self._layout(model)
        self.choose(chosen)

    def _slots(self) -> list[Series]:
        return [Series(variable=name, label=f"slot {k}") for k, name in enumerate(self._slot_variables())]

    def _slot_variables(self) -> list[str]:
        chosen = getattr(self, "chosen", [])
        return [chosen[k] if k < len(chosen) else "" for k in range(SLOTS)]

    # -- layout ---------------------------------------------------------------------------

    def _layout(self, model: Any) -> Any:
        groups = group_levers(self.levers.values(), default_group="Constants")
        panels = [
            TabPanel(
                title=group,
                child=column(*(lever_block(self.sliders[lever.name], lever) for lever in levers)),
            )
            for group, levers in groups.items()
        ]
        sliders = Tabs(tabs=panels, width=LEVER_WIDTH + 30) if panels else Div(text="No constants.")
        header = Div(
            text=f"<h1 style='margin:0'>{html.escape(model.name)}</h1>"
            f"<p>{html.escape(str(self.prepared.path))}</p>"
        )
        controls = column(self.method_select, self.time_step_input, self.reset_button, self.csv_button)
        left = column(sliders, controls, width=LEVER_WIDTH + 40)
        right = column(
            self.message,
            self.picker,
            self.key,
            *(row(*self.slot_figures[k : k + 2]) for k in range(0, SLOTS, 2)),
            self.panel.layout,
        )
        return column(header, row(left, right))

    # -- controls -------------------------------------------------------------------------

    def choose(self, names: Sequence[str]) -> None:
        """Chart these variables (the first `SLOTS` of them)."""
        self.chosen = [name for name in names if name in self.choices][:SLOTS]
        for plot, name in zip(self.slot_figures, self._slot_variables(), strict=True):
            # indicator_figure gives every chart a Title and a DataRange1d
            assert isinstance(plot.title, Title) and isinstance(plot.y_range, DataRange1d)
            plot.visible = bool(name)
            units = self.owners[name].units.strip() if name else ""
            plot.title.text = f"{name} ({units})" if units else name
            if name:
                plot.y_range.min_interval = min_span_of(_values(self.baseline, name))
        self.redraw(self.run)
        self.show_compared(self.compared)

    def set_method(self, method: str) -> None:
        """Integrate with another method and re-run."""
        if method not in METHODS:
            self.say(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.", "error")
            return
        previous, self.method = self.method, method
        if not self.rerun():
            self.method = previous

    def set_time_step(self, text: str) -> None:
        """Use another TIME STEP (typed by the user) and re-run."""
        try:
            value = float(str(text).strip())
        except ValueError:
            self.say(f"TIME STEP must be a number; got {text!r}. Kept {self.time_step:g}.", "error")
            return
        if not value > 0 or value != value or value == float("inf"):
            self.say(f"TIME STEP must be a positive number; got {text!r}. Kept {self.time_step:g}.", "error")
            return
        horizon = float(self.baseline.times[-1] - self.baseline.times[0])
        if horizon > 0 and horizon / value > 200_000:
            self.say(f"TIME STEP {value:g} would take over 200,000 steps; kept {self.time_step:g}.", "error")
            return
        previous, self.time_step = self.time_step, value
        if self.rerun():
            self.say(f"TIME STEP is now {value:g}.", "info")
        else:
            self.time_step = previous

    def params(self) -> dict[str, float]:
        params = dict(self.changed_values())
        if self.time_step != self.default_time_step:
            params["TIME STEP"] = self.time_step
        return params

    def simulate(self, params: Mapping[str, float]) -> Any:
        # element sliders (``birth rate[north]``) set their variable's array
        return super().simulate(array_params(self.prepared.model, params))

    def simulate_options(self) -> dict[str, Any]:
        return {"method": self.method}

    # -- drawing --------------------------------------------------------------------------

    def redraw(self, run: Any) -> None:
        self.source.data = self._columns(run, baseline=self.baseline)

    def _columns(self, run: Any, *, baseline: Any = None) -> dict[str, Any]:
        # Every slot has a column, an empty slot zeros, so that all columns stay one length.
        columns: dict[str, Any] = {"time": self.axis.of(run.times)}
        for k, name in enumerate(self._slot_variables()):
            label = f"slot {k}"
            columns[label] = _values(run, name)
            if baseline is not None:
                columns[BASELINE_PREFIX + label] = np.interp(
                    run.times, baseline.times, _values(baseline, name)
                )
        return columns

    def show_compared(self, runs: Mapping[str, Any]) -> None:
        self.compared = dict(list(runs.items())[:MAX_COMPARED])
        names = list(self.compared)
        for k, compare in enumerate(self.compare_sources):
            if k < len(names):
                compare.data = self._columns(self.compared[names[k]])
            else:
                compare.data = empty_columns(self._slots())
        self.key.text = legend_key_html({name: PALETTE[k] for k, name in enumerate(names)})


def _columns(model: Any, variable: Any) -> list[str]:
    if not variable.dims:
        return [variable.name]
    from ..arrays import Space

    return Space(model).columns(variable)


def _values(run: Any, name: str) -> Any:
    if name and name in run.names:
        return np.asarray(run[name], dtype=float)
    return np.zeros(len(run.times))


def build_document(
    doc: Any,
    *,
    model_path: str | Path | None = None,
    store: ScenarioStore | str | Path | None = None,
    arguments: Mapping[str, Any] | None = None,
) -> Explorer | None:
    """Build the explorer for the model at ``model_path`` into a Bokeh document.

    Returns the session object, or ``None`` when the model could not be loaded, in
    which case the page says why.
    """
    doc.title = f"Explorer: {Path(str(model_path)).name}" if model_path else "Explorer"
    if model_path is None:
        doc.add_root(error_page("No model given", ParameterError("start the explorer with a model file")))
        return None
    try:
        prepared = prepared_model(model_path)
        opened, problem = open_store(store)
        app = Explorer(prepared, opened, store_problem=problem)
    except NestedSystemsError as error:
        doc.add_root(error_page("The model could not be loaded", error))
        return None
    doc.add_root(app.layout)
    app.apply_arguments(request_arguments(doc) if arguments is None else arguments)
    return app
