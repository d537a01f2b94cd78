"""Save, load, compare and delete named scenarios: the widgets and what they do.

The panel knows nothing of charts or runs. The app hands it three functions: one that
reads the session's current lever values, one that applies a loaded scenario, and one
that shows up to four saved scenarios beside the current run. Messages go through the
app's ``say`` so that every app reports in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bokeh.layouts import column, row

# From their subpackage: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.widgets import Button, Div, MultiChoice, Select, TextAreaInput, TextInput

from ..errors import ParameterError
from .figures import MAX_COMPARED
from .store import SavedScenario, ScenarioStore

__all__ = ["ScenarioPanel"]

_NONE = ""


class ScenarioPanel:
    """The scenario widgets of one session.

    Parameters
    ----------
    store:
        Where scenarios live; ``None`` turns saving off (``unavailable`` says why).
    model_key:
        The model the scenarios are filed under.
    current_levers:
        The session's lever values now.
    apply:
        Set the session's levers to a loaded scenario (and re-run).
    compare:
        Show these saved scenarios beside the current run (an empty list clears).
    say:
        Show a message: ``say(text, level)``, level ``"info"``, ``"success"`` or ``"error"``.
    """

    def __init__(
        self,
        store: ScenarioStore | None,
        model_key: str,
        *,
        current_levers: Callable[[], dict[str, float]],
        apply: Callable[[SavedScenario], None],
        compare: Callable[[Sequence[SavedScenario]], None],
        say: Callable[[str, str], None],
        unavailable: str = "",
    ) -> None:
        self.store = store
        self.model_key = model_key
        self._current_levers = current_levers
        self._apply = apply
        self._compare = compare
        self._say = say

        self.name_input = TextInput(
            title="Scenario name",
            placeholder="e.g. Sanctuary plus supervision",
            name="scenario-name",
            width=400,
        )
        self.note_input = TextAreaInput(title="Note (optional)", rows=2, name="scenario-note", width=400)
        self.save_button = Button(label="Save these levers", button_type="primary", name="scenario-save")
        self.saved_select = Select(title="Saved scenarios", options=[], name="scenario-select", width=400)
        self.load_button = Button(label="Open", name="scenario-load")
        self.delete_button = Button(label="Delete", button_type="danger", name="scenario-delete")
        self.compare_choice = MultiChoice(
            title=f"Compare on the charts (up to {MAX_COMPARED})",
            options=[],
            max_items=MAX_COMPARED,
            name="scenario-compare",
            width=400,
        )
        self.note_div = Div(text="", name="scenario-note-shown", width=400)

        def save_clicked() -> None:
            self.save(self.name_input.value, self.note_input.value)

        def load_clicked() -> None:
            self.load(self.saved_select.value)

        def delete_clicked() -> None:
            self.delete(self.saved_select.value)

        self.save_button.on_click(save_clicked)
        self.load_button.on_click(load_clicked)
        self.delete_button.on_click(delete_clicked)
        self.compare_choice.on_change("value", lambda attr, old, new: self.show_compared(new))

        widgets = [
            self.name_input,
            self.note_input,
            self.save_button,
            self.saved_select,
            row(self.load_button, self.delete_button),
            self.compare_choice,
            self.note_div,
        ]
        if store is None:
            for widget in (
                self.name_input,
                self.note_input,
                self.save_button,
                self.saved_select,
                self.load_button,
                self.delete_button,
                self.compare_choice,
            ):
                widget.disabled = True
            widgets.insert(0, Div(text=f"<i>Saving scenarios is off: {unavailable or 'no store'}.</i>"))
        self.layout = column(Div(text="<b>Scenarios</b>"), *widgets, width=400)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the list of saved scenarios (another session may have saved one)."""
        names = list(self.store.names(model=self.model_key)) if self.store else []
        # Annotated: Bokeh types ``options`` as a union of list types, and mypy infers a
        # list display against a union as list[str], which none of them accepts.
        options: list[str | None] = [_NONE, *names]
        self.saved_select.options = options
        if self.saved_select.value not in self.saved_select.options:
            self.saved_select.value = _NONE
        self.compare_choice.options = [*names]
        kept = [name for name in self.compare_choice.value if name in names]
        if kept != list(self.compare_choice.value):
            self.compare_choice.value = kept

    def save(self, name: str, note: str = "") -> SavedScenario | None:
        """Save the session's levers; say what happened either way."""
        if self.store is None:
            self._say("Saving scenarios is off on this server.", "error")
            return None
        try:
            saved = self.store.save(name, self._current_levers(), model=self.model_key, note=note)
        except ParameterError as error:
            self._say(str(error), "error")
            return None
        self.refresh()
        self.saved_select.value = saved.name
        self._say(f"Saved scenario {saved.name!r}.", "success")
        return saved

    def load(self, name: str) -> SavedScenario | None:
        """Apply a saved scenario's levers to this session."""
        if self.store is None:
            return None
        if not name:
            self._say("Choose a saved scenario first.", "error")
            return None
        try:
            saved = self.store.load(name, model=self.model_key)
        except ParameterError as error:
            self._say(str(error), "error")
            self.refresh()
            return None
        self.refresh()
        self.saved_select.value = saved.name
        self.name_input.value = saved.name
        self.note_input.value = saved.note
        self._apply(saved)
        return saved

    def delete(self, name: str) -> None:
        """Delete a saved scenario (it also leaves the comparison)."""
        if self.store is None:
            return
        if not name:
            self._say("Choose a saved scenario to delete.", "error")
            return
        try:
            self.store.delete(name, model=self.model_key)
        except ParameterError as error:
            self._say(str(error), "error")
        else:
            self._say(f"Deleted scenario {name!r}.", "success")
        self.refresh()

    def show_compared(self, names: Sequence[str]) -> None:
        """Show these saved scenarios on the charts (missing ones are reported)."""
        if self.store is None:
            return
        chosen: list[SavedScenario] = []
        for name in list(names)[:MAX_COMPARED]:
            try:
                chosen.append(self.store.load(name, model=self.model_key))
            except ParameterError as error:
                self._say(str(error), "error")
        self._compare(chosen)
