"""The what-if dashboard and the explorer in Debian's headless Chromium, served by
``nestedsystems serve`` in a subprocess on a loopback port: a person's path through
the page with the mouse and keyboard, checked against the model's own numbers."""

from __future__ import annotations

import io
import re
import shutil
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from nestedsystems.dashboard.cache import prepared_model
from nestedsystems.dashboard.store import ScenarioStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

selenium = pytest.importorskip("selenium", reason="browser tests need selenium (pip install selenium)")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip(
        "browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from nestedsystems.dashboard.browser import DashboardPage, ServerProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "nested_systems.mdl"
ARTIFACTS = ROOT / "test-artifacts"
TEACUP = ROOT.parent / "shared" / "conformance" / "test-models" / "samples" / "teacup" / "teacup.mdl"
if not TEACUP.exists():
    TEACUP = Path("/work/shared/conformance/test-models/samples/teacup/teacup.mdl")

RESTRAINT_POLICY = "Restraint reduction policy"
RESTRAINTS = "Restraints per 1000 client days"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return tmp_path_factory.mktemp("store") / "scenarios.sqlite"


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    """A copy of the flagship model: the server and the test must read one version of
    a file that its authors keep editing."""
    copy = tmp_path_factory.mktemp("model") / FLAGSHIP.name
    shutil.copy(FLAGSHIP, copy)
    spans = FLAGSHIP.with_name(f"{FLAGSHIP.stem}.uncertainty.toml")  # what the uncertainty toggle varies
    shutil.copy(spans, copy.with_name(spans.name))
    return copy


@pytest.fixture(scope="module")
def server(store_path, flagship):
    with ServerProcess(flagship, store=store_path) as running:
        running.model = flagship
        yield running


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def page(downloads):
    with DashboardPage(downloads=downloads) as opened:
        yield opened


def model_says(server, params, name):
    return ns.simulate(prepared_model(server.model).compiled, params=params)[name]


def message_shows(page, words):
    page.wait_for(
        "const m = Bokeh.documents[0].get_model_by_name('message');"
        "const d = document.createElement('div'); d.innerHTML = m.text;"
        "return d.textContent.includes(arguments[0]);",
        words,
        what=f"the message {words!r}",
    )
    return page.text("message")


def test_dragging_a_lever_redraws_in_the_direction_the_model_says(server, page):
    page.open(server.url)
    before = np.array(page.column("run", RESTRAINTS))
    baseline = prepared_model(server.model).baseline[RESTRAINTS]
    np.testing.assert_allclose(before, baseline)

    page.drag_slider(f"lever:{RESTRAINT_POLICY}", 120)
    value = page.wait_for(
        "return Bokeh.documents[0].get_model_by_name(arguments[0]).value_throttled",
        f"lever:{RESTRAINT_POLICY}",
        what="the slider released above zero",
    )
    assert 0 < value <= 1
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('run');"
        "return s.data[arguments[0]][12] !== arguments[1];",
        RESTRAINTS,
        float(before[12]),
        what="new chart data",
    )
    after = np.array(page.column("run", RESTRAINTS))
    wanted = model_says(server, {RESTRAINT_POLICY: value}, RESTRAINTS)
    np.testing.assert_allclose(after, wanted, rtol=1e-6)
    # A restraint-reduction policy lowers restraint in its first year, and the chart says so.
    assert wanted[12] < baseline[12]
    assert after[12] < before[12]
    # The ghost line stays the baseline.
    np.testing.assert_allclose(page.column("run", "baseline: " + RESTRAINTS), baseline)
    page.screenshot(ARTIFACTS / "whatif-after-drag.png")


STRIP_PIXELS_JS = """
const m = Bokeh.documents[0].get_model_by_name('dominance-strip');
const v = Bokeh.index.find_one(m);
if (!v) { return null; }
const f = v.frame.bbox;
const r = v.el.getBoundingClientRect();
return [r.left + f.left, r.top + f.top, f.width, f.height];
"""


def strip_colours(page):
    """The colours the strip's bars are painted in, read from a screenshot of the page."""
    from PIL import Image

    left, top, width, height = page.driver.execute_script(STRIP_PIXELS_JS)
    image = Image.open(io.BytesIO(page.driver.get_screenshot_as_png())).convert("RGB")
    frame = image.crop((int(left), int(top), int(left + width), int(top + height)))
    return {"#{:02x}{:02x}{:02x}".format(*rgb) for _, rgb in frame.getcolors(maxcolors=1 << 20)}


def test_the_dominance_strip_follows_a_lever(server, page):
    from nestedsystems.dominance import loop_scores
    from nestedsystems.loops import find_loops
    from nestedsystems.narrative import describe_dominance, narrated_periods

    model = ns.load(server.model)
    named = find_loops(model).named()
    page.open(server.url)
    page.driver.set_window_size(1400, 1300)
    rows = page.column("dominance", "row")
    ids = page.column("dominance", "loop_id")
    before = [loop for loop, row in zip(ids, rows, strict=True) if row == "Your levers"]
    colours = page.column("dominance", "color")
    # The bars are drawn: the scenario row's colours are on the screen.
    painted = strip_colours(page)
    assert {c for c, row in zip(colours, rows, strict=True) if row == "Your levers"} <= painted

    page.drag_slider(f"lever:{RESTRAINT_POLICY}", 120)
    value = page.wait_for(
        "return Bokeh.documents[0].get_model_by_name(arguments[0]).value_throttled",
        f"lever:{RESTRAINT_POLICY}",
        what="the slider released above zero",
    )
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('dominance');"
        "return s.data.loop_id.filter((_, k) => s.data.row[k] === 'Your levers').join() !== arguments[0];",
        ",".join(before),
        what="a new dominance strip",
    )
    scores = loop_scores(model, loops=named, params={RESTRAINT_POLICY: value})
    periods = narrated_periods(scores)
    keys = ("row", "loop_id", "with", "left", "right", "color")
    data = {key: page.column("dominance", key) for key in keys}
    mine = [k for k, row in enumerate(data["row"]) if row == "Your levers"]
    assert len(mine) == len(periods)
    for k, period in zip(mine, periods, strict=True):
        others = data["with"][k]
        together = [] if others == "no other loop" else [x.split()[0] for x in others.split(", ")]
        lead = [data["loop_id"][k]] if data["loop_id"][k] else []  # a quiet period has no loop
        assert sorted([*lead, *together]) == sorted(period.loops)
        np.testing.assert_allclose([data["left"][k], data["right"][k]], [period.start / 12, period.end / 12])
    words = page.text("dominance-narrative")
    for sentence in describe_dominance(scores):
        assert sentence in words
    assert {data["color"][k] for k in mine} <= strip_colours(page)

    # Hovering over the last loop's bar names its loop, polarity and share.
    last = [k for k in mine if data["loop_id"][k]][-1]
    left, top, width, height = page.driver.execute_script(STRIP_PIXELS_JS)
    start, end = page.driver.execute_script(
        "const r = Bokeh.documents[0].get_model_by_name('dominance-strip').x_range; return [r.start, r.end];"
    )
    middle = (data["left"][last] + data["right"][last]) / 2
    hover_at(page, left + width * (middle - start) / (end - start), top + height * 0.25)
    tip = page.wait_for(TOOLTIP_JS, what="the strip's tooltip")
    loop = scores.loops[data["loop_id"][last]]
    assert f"Loop: {loop.id} {loop.name} ({loop.polarity.value})" in tip
    assert f"Explains: {page.column('dominance', 'share')[last]}" in tip
    assert re.search(r"Explains: \d+% of the change", tip)
    page.screenshot(ARTIFACTS / "whatif-dominance-strip.png")


TOOLTIP_JS = """
const shown = [];
const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.classList && el.classList.contains('bk-tooltip-content') && el.offsetParent !== null) {
      shown.push(el.textContent);
    }
    if (el.shadowRoot) { walk(el.shadowRoot); }
  }
};
walk(document);
return shown.join(' | ');
"""


def hover_at(page, x, y):
    """Put the mouse at a point of the window (as a person pointing at a bar)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(page.driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()


BANDS_SHOWN_JS = """
const s = Bokeh.documents[0].get_model_by_name('uncertainty-bands');
const words = Bokeh.documents[0].get_model_by_name('how-sure').text;
return s.data['time'].length > 0 && words.includes('How sure is this?');
"""


def test_switching_uncertainty_on_draws_bands_around_the_run(server, page):
    page.open(server.url)
    page.driver.set_window_size(1400, 1300)
    page.click("uncertainty")
    page.wait_for(BANDS_SHOWN_JS, what="the uncertainty bands and their words")
    turnover = "Annual staff turnover"
    run = np.array(page.column("run", turnover))
    low = np.array(page.column("uncertainty-bands", "5%: " + turnover))
    high = np.array(page.column("uncertainty-bands", "95%: " + turnover))
    assert np.all(low <= run + 1e-9) and np.all(run <= high + 1e-9)
    words = page.text("how-sure")
    year_5 = 60  # monthly values
    assert f"between {low[year_5]:.0f}% and {high[year_5]:.0f}%" in words
    # the shaded areas are drawn: some band renderer is a visible area glyph in the browser
    visible = page.driver.execute_script(
        "const s = Bokeh.documents[0].get_model_by_name('uncertainty-bands');"
        "return [...Bokeh.documents[0].all_models].filter((m) => m.data_source === s && m.visible"
        " && m.glyph && m.glyph.type === 'VArea').length;"
    )
    assert visible >= 1
    page.screenshot(ARTIFACTS / "whatif-uncertainty.png")

    # A lever moved with the bands on: the run redraws, and the bands that follow are
    # the ensemble of the new settings (the same 300 futures, run here).
    from nestedsystems.dashboard.assumptions import assumptions_for
    from nestedsystems.dashboard.levers import levers_of
    from nestedsystems.dashboard.uncertainty import scenario_bands

    before = list(high)
    page.drag_slider(f"lever:{RESTRAINT_POLICY}", 120)
    value = page.wait_for(
        "return Bokeh.documents[0].get_model_by_name(arguments[0]).value_throttled",
        f"lever:{RESTRAINT_POLICY}",
        what="the slider released above zero",
    )
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('uncertainty-bands');"
        "const h = s.data[arguments[0]];"
        "return h.length > 0 && h.some((v, k) => v !== arguments[1][k]);",
        "95%: " + turnover,
        before,
        what="bands for the new lever",
    )
    prepared = prepared_model(server.model)
    levers = [lever.name for lever in levers_of(prepared.model, ranged_only=True)]
    assumptions = assumptions_for(server.model, prepared.model, levers=levers)
    wanted = scenario_bands(prepared.compiled, assumptions, {RESTRAINT_POLICY: value}, [turnover])
    low_now, _, high_now = wanted.quantiles[turnover]
    np.testing.assert_allclose(page.column("uncertainty-bands", "5%: " + turnover), low_now, rtol=1e-6)
    np.testing.assert_allclose(page.column("uncertainty-bands", "95%: " + turnover), high_now, rtol=1e-6)
    page.click("uncertainty")  # off again, for the tests that follow


def test_save_then_reopen_by_url(server, page, store_path):
    page.open(server.url)
    page.drag_slider(f"lever:{RESTRAINT_POLICY}", 80)
    value = page.wait_for(
        "return Bokeh.documents[0].get_model_by_name(arguments[0]).value_throttled",
        f"lever:{RESTRAINT_POLICY}",
        what="the slider released",
    )
    page.type_into("scenario-name", "Less restraint")
    page.click("scenario-save")
    message_shows(page, "Saved scenario 'Less restraint'.")
    saved = ScenarioStore(store_path).load("Less restraint", model="nested_systems")
    assert saved.values == {RESTRAINT_POLICY: value}

    page.open(server.url + "?" + urllib.parse.urlencode({"scenario": "Less restraint"}))
    assert page.model(f"lever:{RESTRAINT_POLICY}", "value") == value
    message_shows(page, "Showing scenario 'Less restraint'.")
    np.testing.assert_allclose(
        page.column("run", RESTRAINTS), model_says(server, {RESTRAINT_POLICY: value}, RESTRAINTS), rtol=1e-6
    )
    page.screenshot(ARTIFACTS / "whatif-scenario-from-url.png")


def test_csv_download_is_the_run_on_screen(server, page, downloads):
    page.open(server.url + "?" + urllib.parse.urlencode({"Supervision hours": "3"}))
    assert page.model("lever:Supervision hours", "value") == 3
    page.click("export-csv")
    target = downloads / "nested-systems-current-levers.csv"
    deadline = time.monotonic() + page.patience
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    frame = pd.read_csv(io.StringIO(target.read_text()), index_col=0)
    assert frame.index.name == "time"
    assert len(frame) == 121
    np.testing.assert_allclose(
        frame["Staff strain"], model_says(server, {"Supervision hours": 3.0}, "Staff strain"), rtol=1e-9
    )


def test_png_button_downloads_the_charts(server, page, downloads):
    page.open(server.url)
    page.click("export-png")
    message_shows(page, "The charts are downloading as PNG.")
    target = downloads / "nested-systems-current-levers.png"
    deadline = time.monotonic() + page.patience
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_bad_links_and_names_get_plain_messages(server, page):
    query = urllib.parse.urlencode({"scenario": "No such plan", "Staffing ratio": "lots"})
    page.open(server.url + "?" + query)
    text = message_shows(
        page, "There is no saved scenario called 'No such plan'. Showing the baseline instead."
    )
    assert "Staffing ratio must be a number; got 'lots'. Kept 1." in text
    assert page.model("lever:Staffing ratio", "value") == 1.0

    page.open(server.url + "?" + urllib.parse.urlencode({"Staffing ratio": "9"}))
    message_shows(page, "Staffing ratio must be between 0.6 and 1.5 FTE/client; got 9. Kept 1.")

    page.type_into("scenario-name", "   ")
    page.click("scenario-save")
    message_shows(page, "Give the scenario a name before saving it.")

    page.type_into("scenario-name", "Twice")
    page.click("scenario-save")
    message_shows(page, "Saved scenario 'Twice'.")
    page.type_into("scenario-name", "twice")
    page.click("scenario-save")
    message_shows(page, "A scenario named 'Twice' already exists.")
    page.screenshot(ARTIFACTS / "whatif-duplicate-name.png")


def test_one_session_never_sees_anothers_unsaved_levers(server, page):
    page.open(server.url)
    page.drag_slider("lever:Length of stay", 60)
    moved = page.wait_for(
        "const v = Bokeh.documents[0].get_model_by_name('lever:Length of stay').value_throttled;"
        "return v !== null && v !== 9 ? v : 0;",
        what="Length of stay moved",
    )
    assert moved != 9
    with DashboardPage() as other:
        other.open(server.url)
        assert other.model("lever:Length of stay", "value") == 9
        np.testing.assert_allclose(
            other.column("run", "Clients in care"), prepared_model(server.model).baseline["Clients in care"]
        )
    # And the first session kept its own.
    assert page.model("lever:Length of stay", "value") == moved


def test_explorer_reports_a_broken_model_and_recovers(tmp_path, page):
    model = tmp_path / "teacup.mdl"
    shutil.copy(TEACUP, model)
    with ServerProcess(model, store=tmp_path / "s.sqlite") as explorer:
        page.open(explorer.url)
        assert page.model("variables", "value") == ["Teacup Temperature"]
        text = model.read_text()
        model.write_text(text.replace("Teacup Temperature= INTEG (", "Teacup Temperature= INTEG ((("))
        page.open(explorer.url)
        shown = page.text("error-page")
        assert "The model could not be loaded" in shown
        assert "teacup.mdl" in shown
        page.screenshot(ARTIFACTS / "explorer-broken-model.png")
        model.write_text(text)
        page.open(explorer.url)
        assert page.model("variables", "value") == ["Teacup Temperature"]
        assert explorer.process.poll() is None


def test_png_export_draws_the_report(tmp_path):
    from bokeh.document import Document

    from nestedsystems.dashboard import whatif

    app = whatif.build_document(Document(), model_path=FLAGSHIP, store=tmp_path / "s.sqlite", arguments={})
    app.set_values({"Supervision hours": 4.0})
    data = app.export_png(ARTIFACTS / "whatif-report.png")
    assert data is not None, app.message.text
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    assert image.width >= 900
    assert image.height >= 800
    assert app.downloader.last[0] == "nested-systems-current-levers.png"
