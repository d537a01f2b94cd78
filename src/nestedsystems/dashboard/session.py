"""What one browser session holds: its lever values, its current run, its messages.

Each session of a dashboard gets its own `LeverSession` (Bokeh builds a new document
per session), so one visitor's unsaved levers are never seen by another; the compiled
model and the baseline run are shared read-only through `cache.prepared_model`.

The apps subclass it and say how to draw (`redraw`, `show_compared`); everything that
is the same in every app lives here: sliders firing on ``value_throttled`` (one run per
release, not per pixel dragged), applying saved scenarios and URL arguments with plain
messages for bad values, the scenario panel and the CSV download.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# From its subpackage: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports it.
from bokeh.models.widgets import Div

from ..errors import NestedSystemsError
from .cache import PreparedModel
from .export import run_csv
from .figures import indexed
from .levers import Lever, read_lever_arguments
from .scenario_panel import ScenarioPanel
from .store import SavedScenario, ScenarioStore
from .widgets import CHART_WIDTH, Downloader, file_stem, lever_slider, message_html

__all__ = ["LeverSession", "request_arguments"]


def request_arguments(doc: Any) -> dict[str, list[bytes]]:
    """The query arguments of the page that opened this session (empty without a server)."""
    context = getattr(doc, "session_context", None)
    request = getattr(context, "request", None) if context is not None else None
    arguments = getattr(request, "arguments", None) if request is not None else None
    return dict(arguments or {})


def _text(raw: object) -> str:
    if isinstance(raw, list | tuple):
        raw = raw[-1] if raw else b""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class LeverSession:
    """The levers and run of one session; subclasses draw.

    Parameters
    ----------
    prepared:
        The shared compiled model and baseline.
    levers:
        The levers this app offers.
    store:
        The scenario store, or ``None`` when saving is off (``store_problem`` says why).
    """

    def __init__(
        self,
        prepared: PreparedModel,
        levers: Sequence[Lever],
        store: ScenarioStore | None,
        *,
        store_problem: str = "",
    ) -> None:
        self.prepared = prepared
        self.levers = {lever.name: lever for lever in levers}
        self.values = {lever.name: lever.default for lever in levers}
        self.baseline = indexed(prepared.baseline)
        self.run: Any = self.baseline
        self.runs_made = 0
        self.sliders = {lever.name: lever_slider(lever) for lever in levers}
        for name, slider in self.sliders.items():
            slider.on_change("value_throttled", functools.partial(self._slider_released, name))
        self.downloader = Downloader()
        # A data source no drawn model refers to never reaches the browser: the message
        # line carries the download source so that the page has it.
        self.message = Div(text="", name="message", width=CHART_WIDTH, tags=[self.downloader.source])
        self.panel = ScenarioPanel(
            store,
            prepared.key,
            current_levers=self.changed_values,
            apply=self.apply_scenario,
            compare=self.compare_scenarios,
            say=self.say,
            unavailable=store_problem,
        )

    # -- what subclasses draw -------------------------------------------------------

    def redraw(self, run: Any) -> None:
        """Show a new current run (reassign ``source.data``)."""
        raise NotImplementedError

    def show_compared(self, runs: Mapping[str, Any]) -> None:
        """Show saved scenarios' runs beside the current one (name → run)."""
        raise NotImplementedError

    def after_charts(self, work: Callable[[], None]) -> None:
        """Do ``work`` once this move's chart data is on its way to the browser.

        Bokeh sends what a callback changed only when the callback returns, so a slow
        part of a redraw (scoring the loops, say) would hold the charts back with it.
        In a server session it runs on the next tick, as a callback of its own; in a
        document without a server (tests, exports), at once.
        """
        document = self.message.document
        if document is None or document.session_context is None:
            work()
        else:
            document.add_next_tick_callback(work)

    def simulate_options(self) -> dict[str, Any]:
        """Extra keywords for `nestedsystems.simulate` (method, time step)."""
        return {}

    # -- messages ---------------------------------------------------------------------

    def say(self, text: str, level: str = "info") -> None:
        """Show one plain message above the charts (replacing the last one)."""
        self.message.text = message_html(text, level)

    # -- levers and runs -----------------------------------------------------------------

    def changed_values(self) -> dict[str, float]:
        """The levers moved away from the model's values: what a scenario saves."""
        return {name: value for name, value in self.values.items() if value != self.levers[name].default}

    def params(self) -> dict[str, float]:
        """Parameter overrides for the next run."""
        return self.changed_values()

    def _slider_released(self, name: str, attr: str, old: Any, new: Any) -> None:
        if new is None:
            return
        self.set_values({name: new})

    def set_values(self, values: Mapping[str, object], *, rerun: bool = True) -> list[str]:
        """Set levers (checking each), move their sliders, and re-run.

        Returns
        -------
        The plain messages for values refused (also shown on the page).
        """
        problems = []
        for name, raw in values.items():
            lever = self.levers.get(name)
            if lever is None:
                problems.append(f"This model has no lever called {name!r}; it was left out.")
                continue
            try:
                value = lever.check(raw)
            except NestedSystemsError as error:
                problems.append(f"{error} Kept {self.values[name]:g}.")
                continue
            self.values[name] = value
            slider = self.sliders.get(name)
            if slider is not None and slider.value != value:
                slider.value = value
        if problems:
            self.say(" ".join(problems), "error")
        if rerun:
            self.rerun()
        return problems

    def reset(self) -> None:
        """Every lever back to the model's value."""
        self.set_values({name: lever.default for name, lever in self.levers.items()})

    def rerun(self) -> bool:
        """Run the model with the current levers and redraw; ``False`` (and a message)
        when the run fails."""
        run = self.simulate(self.params())
        if run is None:
            return False
        self.run = run
        self.runs_made += 1
        self.redraw(run)
        return True

    def simulate(self, params: Mapping[str, float]) -> Any:
        """One run of the shared compiled model, or ``None`` with the error shown."""
        import nestedsystems as ns

        try:
            run = ns.simulate(self.prepared.compiled, params=dict(params), **self.simulate_options())
        except NestedSystemsError as error:
            self.say(f"The model could not run with these settings: {error}", "error")
            return None
        return indexed(run)

    # -- scenarios -----------------------------------------------------------------------

    def apply_scenario(self, saved: SavedScenario) -> None:
        """Set every lever to the scenario's value (levers it does not mention go back to
        the model's value)."""
        values: dict[str, object] = {name: lever.default for name, lever in self.levers.items()}
        values.update(saved.values)
        problems = self.set_values(values)
        if not problems:
            note = f" ({saved.note})" if saved.note else ""
            self.say(f"Showing scenario {saved.name!r}{note}.", "success")

    def compare_scenarios(self, scenarios: Sequence[SavedScenario]) -> None:
        """Run each saved scenario and show it beside the current run."""
        runs: dict[str, Any] = {}
        for saved in scenarios:
            params = {}
            for name, value in saved.values.items():
                lever = self.levers.get(name)
                if lever is None:
                    continue
                try:
                    params[name] = lever.check(value)
                except NestedSystemsError:
                    continue
            run = self.simulate(params)
            if run is not None:
                runs[saved.name] = run
        self.show_compared(runs)

    def apply_arguments(self, arguments: Mapping[str, Any]) -> None:
        """Apply a page's URL: ``?scenario=<name>`` opens a saved scenario, and
        ``?<lever name>=<value>`` sets a lever; problems are shown, not raised."""
        problems: list[str] = []
        values: dict[str, float] = {}
        if "scenario" in arguments:
            name = _text(arguments["scenario"]).strip()
            saved = None
            if self.panel.store is not None and name:
                try:
                    saved = self.panel.store.load(name, model=self.prepared.key)
                except NestedSystemsError as error:
                    problems.append(f"{error} Showing the baseline instead.")
            elif not name:
                problems.append("The link names no scenario (scenario= is empty). Showing the baseline.")
            if saved is not None:
                self.panel.name_input.value = saved.name
                self.panel.note_input.value = saved.note
                self.panel.saved_select.value = saved.name
                values.update((key, value) for key, value in saved.values.items() if key in self.levers)
        given, refused = read_lever_arguments(self.levers.values(), arguments)
        values.update(given)
        problems.extend(refused)
        if values:
            problems.extend(self.set_values(values, rerun=True))
        if problems:
            self.say(" ".join(dict.fromkeys(problems)), "error")
        elif "scenario" in arguments and values:
            self.say(f"Showing scenario {_text(arguments['scenario']).strip()!r}.", "success")

    def label(self) -> str:
        """What the current levers are called: the scenario name typed, or "Current levers"."""
        return self.panel.name_input.value.strip() or "Current levers"

    # -- exports -------------------------------------------------------------------------

    def export_csv(self) -> str:
        """Send the current run to the browser as CSV; return the text."""
        text = run_csv(self.run)
        self.downloader.offer(f"{file_stem(self.prepared.key, self.label())}.csv", text, "text/csv")
        self.say("The data of the current run is downloading as CSV.", "info")
        return text
