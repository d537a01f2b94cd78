"""The dashboards built into plain Bokeh documents, no browser: their levers, their data,
and what their callbacks do. Browser events are replayed the way Bokeh's server applies
them (`set_from_json`), so the same callbacks run as in a session."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.models import Div, Slider, Tabs

import nestedsystems as ns
from nestedsystems.dashboard import explorer, whatif
from nestedsystems.dashboard.cache import prepared_model
from nestedsystems.dashboard.figures import BASELINE_PREFIX
from nestedsystems.dashboard.store import ScenarioStore

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "nested_systems.mdl"
SAMPLES = ROOT.parent / "shared" / "conformance" / "test-models" / "samples"
TEACUP = SAMPLES / "teacup" / "teacup.mdl"
if not TEACUP.exists():  # a checkout beside shared/ under another name (CI clones elsewhere)
    TEACUP = Path("/work/shared/conformance/test-models/samples/teacup/teacup.mdl")


@pytest.fixture(scope="module", autouse=True)
def flagship(tmp_path_factory):
    """One version of the flagship model for the whole module: its authors keep editing
    the file, and a test compares runs made before and after such an edit otherwise."""
    global FLAGSHIP
    FLAGSHIP = tmp_path_factory.mktemp("model") / SOURCE.name
    shutil.copy(SOURCE, FLAGSHIP)
    return FLAGSHIP


def release(slider: Slider, value: float) -> None:
    """What the browser sends when a person lets go of a slider."""
    slider.set_from_json("value", value)
    slider.set_from_json("value_throttled", value)


@pytest.fixture
def store(tmp_path):
    return ScenarioStore(tmp_path / "scenarios.sqlite")


@pytest.fixture
def board(store):
    doc = Document()
    app = whatif.build_document(doc, model_path=FLAGSHIP, store=store, arguments={})
    assert app is not None
    return app


def message(app) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", app.message.text))


def expected(params, name, **options):
    return ns.simulate(prepared_model(FLAGSHIP).compiled, params=params, **options)[name]


# -- the what-if app ------------------------------------------------------------------------


def test_whatif_levers_are_grouped_by_sector_with_units_and_words(board):
    model = board.prepared.model
    tabs = board.layout.select_one({"name": "lever-tabs"})
    assert isinstance(tabs, Tabs)
    assert [panel.title for panel in tabs.tabs] == [
        "Clients",
        "Staff",
        "Organization",
        "Funding and environment",
    ]
    assert {"shock:Acuity surge", "shock:Funding cut"} <= {t.name for t in board.shock_toggles.values()}
    staffing = board.sliders["Staffing ratio"]
    variable = model["Staffing ratio"]
    assert (staffing.start, staffing.end, staffing.step) == (
        variable.range.minimum,
        variable.range.maximum,
        variable.range.step,
    )
    assert staffing.value == variable.equation.value
    assert staffing.title == f"Staffing ratio ({variable.units})"
    # Every policy lever is a ranged constant of its sector, with its explanation shown.
    for lever in board.policy_levers:
        assert model[lever.name].group == lever.group
        assert model[lever.name].range.minimum is not None
    words = [d.text for d in board.layout.select({"type": Div})]
    assert any(board.levers["Staffing ratio"].explanation in text for text in words)
    # Shocks are not among the sector levers.
    assert "Acuity surge" not in {lever.name for lever in board.policy_levers}
    assert "Acuity surge" in board.sliders


def test_whatif_starts_on_the_baseline(board):
    baseline = prepared_model(FLAGSHIP).baseline
    data = board.source.data
    np.testing.assert_allclose(data["time"], baseline.times / 12.0)
    np.testing.assert_allclose(data["Staff strain"], baseline["Staff strain"])
    np.testing.assert_allclose(data[BASELINE_PREFIX + "Staff strain"], baseline["Staff strain"])
    # Climate is turned over so that up means trouble on the shared chart.
    np.testing.assert_allclose(data["Toxic climate (1 − climate)"], 1 - baseline["Organizational climate"])
    assert "same results as the baseline" in board.summary.text


def test_releasing_a_slider_reruns_with_that_lever(board):
    baseline = prepared_model(FLAGSHIP).baseline
    release(board.sliders["Supervision hours"], 4.0)
    assert board.values["Supervision hours"] == 4.0
    assert board.runs_made == 1
    wanted = expected({"Supervision hours": 4.0}, "Annual staff turnover")
    np.testing.assert_allclose(board.source.data["Annual staff turnover"], wanted)
    # The ghost stays the baseline.
    np.testing.assert_allclose(
        board.source.data[BASELINE_PREFIX + "Annual staff turnover"], baseline["Annual staff turnover"]
    )
    assert not np.allclose(wanted, baseline["Annual staff turnover"])


def test_dragging_without_release_does_not_run(board):
    board.sliders["Supervision hours"].set_from_json("value", 6.0)
    assert board.runs_made == 0
    assert board.values["Supervision hours"] == 1.0


def test_summary_reads_turnover_at_year_five(board):
    release(board.sliders["Sanctuary adoption"], 1.0)
    run = board.run
    now = np.interp(60.0, run.times, run["Annual staff turnover"])
    then = np.interp(60.0, run.times, prepared_model(FLAGSHIP).baseline["Annual staff turnover"])
    text = board.summary.text
    assert text.count("By year 5") == 1
    assert f"turnover is {now:.0f}% instead of {then:.0f}%" in text


def test_shock_buttons_set_and_clear_their_constants(board):
    toggle = board.shock_toggles["Funding cut"]
    toggle.set_from_json("active", True)
    assert board.values["Contract rate change"] == pytest.approx(-0.2)
    assert board.values["Contract rate change month"] == 24
    np.testing.assert_allclose(
        board.source.data["Months of reserves"],
        expected({"Contract rate change": -0.2, "Contract rate change month": 24}, "Months of reserves"),
    )
    assert "cut by 20%" in board.shock_note.text
    toggle.set_from_json("active", False)
    assert board.values["Contract rate change"] == 0.0
    # Moving the shock's size by hand lights its button.
    release(board.sliders["Labour market quit multiplier"], 1.3)
    assert board.shock_toggles["Tight labour market"].active is True
    release(board.sliders["Labour market quit multiplier"], 1.0)
    assert board.shock_toggles["Tight labour market"].active is False


def test_sessions_never_share_unsaved_levers(store):
    first = whatif.build_document(Document(), model_path=FLAGSHIP, store=store, arguments={})
    second = whatif.build_document(Document(), model_path=FLAGSHIP, store=store, arguments={})
    release(first.sliders["Staffing ratio"], 1.4)
    assert second.values["Staffing ratio"] == 1.0
    assert second.sliders["Staffing ratio"].value == 1.0
    assert second.source is not first.source
    np.testing.assert_allclose(
        second.source.data["Staff strain"], prepared_model(FLAGSHIP).baseline["Staff strain"]
    )
    # They share the compiled model, built once.
    assert first.prepared.compiled is second.prepared.compiled


# -- scenarios ------------------------------------------------------------------------------


def test_save_load_compare_and_delete(board, store):
    release(board.sliders["Supervision hours"], 4.0)
    saved = board.panel.save("More supervision", "CWLA 1:5")
    assert saved is not None
    assert store.load("more supervision", model="nested_systems").values == {"Supervision hours": 4.0}
    assert "Saved scenario 'More supervision'" in message(board)

    board.reset()
    assert board.values["Supervision hours"] == 1.0
    board.panel.saved_select.value = "More supervision"
    board.panel.load("More supervision")
    assert board.values["Supervision hours"] == 4.0
    assert board.sliders["Supervision hours"].value == 4.0
    assert board.panel.note_input.value == "CWLA 1:5"

    board.reset()
    board.panel.compare_choice.set_from_json("value", ["More supervision"])
    np.testing.assert_allclose(
        board.compare_sources[0].data["Annual staff turnover"],
        expected({"Supervision hours": 4.0}, "Annual staff turnover"),
    )
    assert board.compare_sources[1].data["time"] == []
    assert "More supervision" in board.key.text

    board.panel.delete("More supervision")
    assert store.names(model="nested_systems") == ()
    assert board.panel.compare_choice.value == []
    assert board.compare_sources[0].data["time"] == []


def test_compare_shows_at_most_four(board, store):
    for k in range(5):
        store.save(f"s{k}", {"Supervision hours": k + 1}, model="nested_systems")
    board.panel.refresh()
    assert board.panel.compare_choice.max_items == 4
    board.panel.show_compared([f"s{k}" for k in range(5)])
    assert list(board.compared) == ["s0", "s1", "s2", "s3"]
    assert all(len(source.data["time"]) == 121 for source in board.compare_sources)


@pytest.mark.parametrize(
    ("name", "words"),
    [("", "Give the scenario a name"), ("   ", "Give the scenario a name")],
)
def test_empty_scenario_names_are_refused_on_the_page(board, store, name, words):
    assert board.panel.save(name) is None
    assert words in message(board)
    assert 'class="ns-message ns-error"' in board.message.text
    assert store.names(model="nested_systems") == ()


def test_duplicate_scenario_name_is_refused_on_the_page(board, store):
    board.panel.save("Plan A")
    release(board.sliders["Supervision hours"], 3.0)
    assert board.panel.save("plan a") is None
    assert "A scenario named 'Plan A' already exists" in message(board)
    assert store.load("Plan A", model="nested_systems").values == {}


def test_url_opens_a_saved_scenario(store):
    store.save("Sanctuary", {"Sanctuary adoption": 1.0, "Sanctuary start month": 6}, model="nested_systems")
    app = whatif.build_document(
        Document(), model_path=FLAGSHIP, store=store, arguments={"scenario": [b"sanctuary"]}
    )
    assert app.values["Sanctuary adoption"] == 1.0
    assert app.values["Sanctuary start month"] == 6
    assert app.sliders["Sanctuary start month"].value == 6
    np.testing.assert_allclose(
        app.source.data["Staff strain"],
        expected({"Sanctuary adoption": 1.0, "Sanctuary start month": 6}, "Staff strain"),
    )
    assert "Showing scenario 'sanctuary'" in message(app)


def test_unknown_scenario_in_url_says_so_and_shows_baseline(store):
    app = whatif.build_document(
        Document(), model_path=FLAGSHIP, store=store, arguments={"scenario": [b"No such plan"]}
    )
    assert "There is no saved scenario called 'No such plan'. Showing the baseline instead." in message(app)
    assert app.runs_made == 0
    assert app.changed_values() == {}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"lots", "Staffing ratio must be a number; got 'lots'. Kept 1."),
        (b"7", "Staffing ratio must be between 0.6 and 1.5 FTE/client; got 7. Kept 1."),
        (b"nan", "Staffing ratio must be a finite number; got 'nan'. Kept 1."),
    ],
)
def test_bad_lever_values_in_url_are_refused_in_plain_words(store, raw, words):
    app = whatif.build_document(
        Document(), model_path=FLAGSHIP, store=store, arguments={"Staffing ratio": [raw]}
    )
    assert words in message(app)
    assert app.values["Staffing ratio"] == 1.0


def test_lever_value_in_url_is_applied(store):
    app = whatif.build_document(
        Document(), model_path=FLAGSHIP, store=store, arguments={"staffing_ratio": [b"1.2"]}
    )
    assert app.values["Staffing ratio"] == 1.2
    assert app.sliders["Staffing ratio"].value == 1.2


def test_a_saved_scenario_outside_todays_ranges_is_reported(board, store):
    store.save("Old", {"Staffing ratio": 3.0, "Vanished lever": 1.0}, model="nested_systems")
    board.panel.load("Old")
    text = message(board)
    assert "Staffing ratio must be between 0.6 and 1.5" in text
    assert "no lever called 'Vanished lever'" in text
    assert board.values["Staffing ratio"] == 1.0


# -- exports --------------------------------------------------------------------------------


def test_csv_export_is_the_current_run(board):
    release(board.sliders["Relative pay"], 1.1)
    board.export_csv()
    filename, content = board.downloader.last
    assert filename == "nested-systems-current-levers.csv"
    frame = pd.read_csv(io.StringIO(content.decode()), index_col=0)
    assert frame.index.name == "time"
    assert frame.shape == board.run.to_pandas().shape
    np.testing.assert_allclose(
        frame["Staff strain"], expected({"Relative pay": 1.1}, "Staff strain"), rtol=1e-9
    )
    assert board.downloader.source.data["mime"] == ["text/csv"]


def test_html_report_holds_summary_and_levers(board):
    release(board.sliders["Supervision hours"], 4.0)
    board.panel.name_input.value = "Supervision <4h>"
    text = board.export_report()
    assert text.startswith("<!DOCTYPE html>")
    assert "Supervision &lt;4h&gt;" in text
    assert "Supervision hours (hours/(FTE*Month)): 4 (today 1)" in text
    assert board.downloader.last[0] == "nested-systems-supervision-4h-report.html"


# -- the explorer ---------------------------------------------------------------------------


@pytest.fixture
def teacup(store):
    app = explorer.build_document(Document(), model_path=TEACUP, store=store, arguments={})
    assert app is not None
    return app


def test_explorer_offers_every_constant(teacup):
    assert set(teacup.sliders) == {"Characteristic Time", "Room Temperature"}
    # [0, ?]: the model's minimum, then twice the value.
    assert (teacup.sliders["Characteristic Time"].start, teacup.sliders["Characteristic Time"].end) == (
        0.0,
        20.0,
    )
    # [-459.67, ?]: a span around the value within the bound.
    assert (teacup.sliders["Room Temperature"].start, teacup.sliders["Room Temperature"].end) == (0.0, 140.0)
    assert teacup.picker.value == ["Teacup Temperature"]
    assert "Heat Loss to Room" in teacup.picker.options


def test_explorer_moves_the_way_the_physics_says(teacup):
    before = teacup.source.data["slot 0"][-1]
    release(teacup.sliders["Room Temperature"], 100.0)
    after = teacup.source.data["slot 0"][-1]
    # Newton's cooling: T(t) = room + (180 - room) e^(-t/10); Euler at dt=0.125 is close.
    assert after > before
    assert after == pytest.approx(100 + 80 * np.exp(-3.0), rel=5e-3)


def test_explorer_picker_fills_slots(teacup):
    teacup.picker.set_from_json("value", ["Heat Loss to Room", "Teacup Temperature"])
    np.testing.assert_allclose(teacup.source.data["slot 0"], teacup.run["Heat Loss to Room"])
    assert teacup.slot_figures[0].title.text == "Heat Loss to Room (Degrees Fahrenheit/Minute)"
    assert [plot.visible for plot in teacup.slot_figures] == [True, True, False, False, False, False]


def test_explorer_time_step_and_method(teacup):
    assert len(teacup.source.data["time"]) == 241
    teacup.time_step_input.set_from_json("value", "0.0625")
    assert len(teacup.source.data["time"]) == 481
    teacup.time_step_input.set_from_json("value", "fast")
    assert "TIME STEP must be a number; got 'fast'. Kept 0.0625." in message(teacup)
    teacup.time_step_input.set_from_json("value", "-1")
    assert "TIME STEP must be a positive number" in message(teacup)
    assert len(teacup.source.data["time"]) == 481
    teacup.method_select.set_from_json("value", "rk4")
    exact = 70 + 110 * np.exp(-3.0)
    assert teacup.source.data["slot 0"][-1] == pytest.approx(exact, rel=1e-8)


def test_explorer_shows_a_broken_model_and_keeps_working(tmp_path, store):
    broken = tmp_path / "broken.mdl"
    broken.write_text("{UTF-8}\nStock = INTEG(flow,\n")
    doc = Document()
    assert explorer.build_document(doc, model_path=broken, store=store) is None
    page = doc.roots[0]
    assert page.name == "error-page"
    assert "The model could not be loaded" in page.text
    assert "broken.mdl" in page.text
    # The next session, on a good model, works.
    assert explorer.build_document(Document(), model_path=TEACUP, store=store, arguments={}) is not None


def test_whatif_on_a_missing_model_shows_the_error(tmp_path, store):
    doc = Document()
    assert whatif.build_document(doc, model_path=tmp_path / "nope.mdl", store=store) is None
    assert "cannot read the model file" in doc.roots[0].text


def test_a_slider_release_sends_the_runs_columns_not_the_baselines(board):
    """The baseline never changes: a move patches the run's columns only, with the
    model's values, and the page keeps the baseline it has."""
    from bokeh.document.events import ColumnDataChangedEvent

    doc = board.source.document
    patched = []
    doc.on_change(lambda event: patched.append(event) if isinstance(event, ColumnDataChangedEvent) else None)
    baseline = np.array(board.source.data[BASELINE_PREFIX + "Staff strain"])
    release(board.sliders["Supervision hours"], 4.0)
    [event] = [e for e in patched if e.model is board.source]
    run_columns = {column for column in board.source.data if not column.startswith(BASELINE_PREFIX)}
    assert set(event.cols) == run_columns
    run = ns.simulate(prepared_model(FLAGSHIP).compiled, params={"Supervision hours": 4.0})
    expected = run["Staff strain"]
    np.testing.assert_allclose(board.source.data["Staff strain"], expected, rtol=1e-12)
    np.testing.assert_array_equal(board.source.data[BASELINE_PREFIX + "Staff strain"], baseline)
    assert not np.allclose(expected, baseline)


def test_a_lever_move_builds_no_new_model(board):
    """A release re-runs the model and reassigns data and words; the figures, renderers
    and widgets the browser holds stay the same objects."""
    doc = board.source.document
    before = {model.id for model in doc.models}
    runs = board.runs_made
    for value in (1.5, 3.0, 4.0):
        release(board.sliders["Supervision hours"], value)
    assert board.runs_made == runs + 3
    assert {model.id for model in doc.models} == before


def test_compared_scenarios_get_their_lines_when_first_shown(board, store):
    """A compare slot's lines are built the first time it shows a scenario, under the
    current run's line, and read that scenario's run."""
    store.save("more supervision", {"Supervision hours": 4.0}, model="nested_systems")
    board.panel.refresh()
    chart = board.indicator_figures[0]
    slot = board.compare_sources[0]

    def lines(source):
        return [r for r in chart.renderers if getattr(r, "data_source", None) is source]

    assert lines(slot) == []
    board.panel.show_compared(["more supervision"])
    [line] = lines(slot)
    [current] = [r for r in lines(board.source) if r.glyph.y == chart.title.text.split(" (")[0]]
    assert chart.renderers.index(line) < chart.renderers.index(current)
    assert len(lines(board.compare_sources[1])) == 0
    expected = ns.simulate(prepared_model(FLAGSHIP).compiled, params={"Supervision hours": 4.0})
    np.testing.assert_allclose(slot.data[line.glyph.y], expected[line.glyph.y])
    board.panel.show_compared([])
    board.panel.show_compared(["more supervision"])
    assert len(lines(slot)) == 1
