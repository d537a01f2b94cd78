"""The classroom in Debian's headless Chromium at a projector's 1280 by 720, served by
``nestedsystems serve --app classroom`` in a subprocess: play, step and the model menu
pressed as a teacher would, the page checked against the loop scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nestedsystems.dashboard.lesson import lesson_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

selenium = pytest.importorskip("selenium", reason="browser tests need selenium (pip install selenium)")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip(
        "browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from nestedsystems.dashboard.browser import DashboardPage, ServerProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
LOGISTIC = ROOT / "tests" / "models" / "logistic_growth.mdl"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(
        LOGISTIC, store=tmp_path_factory.mktemp("store") / "s.sqlite", app="classroom"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def page():
    with DashboardPage() as opened:
        # A projector's screen, the browser in full-screen: the page gets all 1280 by 720.
        opened.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False},
        )
        yield opened


def open_classroom(page, url):
    page.driver.get(url)
    page.wait_for(
        "return !!(window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('diagram-loops'))",
        what="the classroom",
    )
    page.wait_for(
        "const m = Bokeh.documents[0].get_model_by_name('now');"
        "return !!m && [...Bokeh.index.find(m)].length > 0",
        what="the classroom's widgets",
    )


def lit(page) -> list[str]:
    ids = page.column("diagram-loops", "id")
    return [i for i, on in zip(ids, page.column("diagram-loops", "lit"), strict=True) if on]


def wait_for_words(page, name, words):
    """Wait for a Div's text to hold `words`: the server sends the slider's value and
    the words it leads to as separate changes."""
    page.wait_for(
        "const m = Bokeh.documents[0].get_model_by_name(arguments[0]);"
        "const d = document.createElement('div'); d.innerHTML = m.text;"
        "return d.textContent.includes(arguments[1]);",
        name,
        words,
        what=f"{words!r} in {name}",
    )
    return page.text(name)


def wait_for_time(page, time, what):
    return page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('time');"
        "return Math.abs(s.value - arguments[0]) < 1e-9 ? s.value : 0;",
        time,
        what=what,
    )


def test_play_and_step_light_the_loops_the_scores_say(server, page):
    lesson = lesson_for(LOGISTIC)
    times = lesson.times
    open_classroom(page, server.url)
    # Fits the projector: nothing to scroll.
    width, height, inner_width, inner_height = page.driver.execute_script(
        "const e = document.documentElement;"
        "return [e.scrollWidth, e.scrollHeight, window.innerWidth, window.innerHeight];"
    )
    assert width <= inner_width and height <= inner_height, (width, height, inner_width, inner_height)

    assert page.model("time", "value") == times[1]
    assert lit(page) == ["R1"] == list(lesson.dominant[1][0])

    page.click("step")
    wait_for_time(page, float(times[5]), "the slider one step on")
    wait_for_words(page, "now", "Year 1.25")
    assert lit(page) == ["R1"]

    page.click("play")
    page.wait_for(
        "return Bokeh.documents[0].get_model_by_name('time').value >= 60;", what="play past year 60"
    )
    page.click("play")
    page.wait_for(
        "return Bokeh.documents[0].get_model_by_name('play').label.includes('Play');", what="paused"
    )
    now = page.model("time", "value")
    index = int(np.searchsorted(times, now - 1e-9))
    wanted = list(lesson.dominant[index][0])
    assert wanted == ["B1"]  # crowding takes over after the inflection point, year 46
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('diagram-loops');"
        "return s.data.id.filter((id, k) => s.data.lit[k]).join(',') === arguments[0];",
        ",".join(wanted),
        what=f"{wanted} lit",
    )
    wait_for_words(page, "now", f"Year {now:g}: B1 Crowding")
    widths = np.array(page.column("diagram-links", "width"))
    assert np.argmax(widths) == np.argmax(np.abs(lesson.arrow_scores[:, index]))
    page.screenshot(ARTIFACTS / "classroom.png")

    # and a step on from there moves the slider by one stride
    page.click("step")
    wait_for_time(page, float(times[index + 4]), "one more step")


def test_menu_swaps_the_model(server, page):
    open_classroom(page, server.url)
    current = page.model("model", "value")
    options = page.model("model", "options")
    other, label = next((value, label) for value, label in options if value != current)
    from selenium.webdriver.support.ui import Select

    Select(page.element("model", "select")).select_by_visible_text(label)
    wanted = lesson_for(other)
    names = sorted(wanted.diagram.nodes["name"])
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('diagram-variables');"
        "return [...s.data.name].sort().join('|') === arguments[0];",
        "|".join(names),
        what="the other model's diagram",
    )
    # the slider and the lit loops come in changes of their own, after the diagram
    wait_for_words(page, "now", f"{wanted.time_units} ")
    page.wait_for(
        "return Bokeh.documents[0].get_model_by_name('time').end === arguments[0];",
        float(wanted.times[-1]),
        what="the slider over the other model's run",
    )
    first = wanted.first_active()
    wait_for_time(page, float(wanted.times[first]), "the slider at the first active step")
    page.wait_for(
        "const s = Bokeh.documents[0].get_model_by_name('diagram-loops');"
        "return s.data.id.filter((id, k) => s.data.lit[k]).join(',') === arguments[0];",
        ",".join(wanted.dominant[first][0]),
        what="the other model's dominant loop lit",
    )
    page.screenshot(ARTIFACTS / "classroom-other-model.png")
