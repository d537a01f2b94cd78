"""The classroom app built into plain Bokeh documents, no browser: its diagram is the
model's loops, its chart the loops' relative scores, and its slider, play and step
buttons light the loops the scores say dominate. Browser events are replayed the way
Bokeh's server applies them (`set_from_json`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from bokeh.document import Document

from nestedsystems import dominance
from nestedsystems.dashboard import classroom, lesson
from nestedsystems.dashboard.lesson import MAX_LOOPS, MAX_VARIABLES, lesson_for
from nestedsystems.model import Kind

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "models"
LOGISTIC = MODELS / "logistic_growth.mdl"
SPOILAGE = MODELS / "smoothed_goal_with_spoilage.mdl"
TWO_PARTITIONS = MODELS / "two_partitions.mdl"
FLAGSHIP = ROOT / "models" / "nested_systems.mdl"


def build(path: Path) -> classroom.Classroom:
    app = classroom.build_document(Document(), model_path=path)
    assert app is not None
    return app


def release(slider, value: float) -> None:
    """What the browser sends when a person lets go of a slider."""
    slider.set_from_json("value", value)
    slider.set_from_json("value_throttled", value)


def loop_edges(loops) -> set[tuple[str, str]]:
    edges = set()
    for loop in loops:
        names = loop.variables
        edges.update(zip(names, names[1:] + names[:1], strict=True))
    return edges


@pytest.mark.parametrize("path", [LOGISTIC, SPOILAGE, TWO_PARTITIONS])
def test_diagram_is_the_shown_loops(path):
    app = build(path)
    shown = app.lesson.loops
    variables = {name for loop in shown for name in loop.variables}
    assert set(app.variables.data["name"]) == variables
    assert len(app.variables.data["name"]) == len(variables)
    drawn = {(link.source, link.target) for link in app.lesson.diagram.links}
    assert drawn == loop_edges(shown)
    assert len(app.links.data["xs"]) == len(drawn)
    assert sorted(app.loop_labels.data["id"]) == sorted(loop.id for loop in shown)
    # stocks are boxed, nothing else is
    stocks = {v["name"] for v in app.lesson.loops.graph.nodes.values() if v["kind"] is Kind.STOCK}
    boxed = {n for n, box in zip(app.variables.data["name"], app.variables.data["box"], strict=True) if box}
    assert boxed == stocks & variables


def test_logistic_diagram_marks_crowding_negative_and_the_rest_positive():
    app = build(LOGISTIC)
    marks = {(link.source, link.target): link.mark for link in app.lesson.diagram.links}
    assert marks == {
        ("Population", "fractional birth rate"): "\u2212",
        ("fractional birth rate", "births"): "+",
        ("births", "Population"): "+",
        ("Population", "births"): "+",
    }
    assert app.loop_labels.data["text"] == ["B1\nCrowding", "R1\nGrowth"]


def test_two_partitions_shows_the_partition_where_loops_compete():
    app = build(TWO_PARTITIONS)
    assert {loop.id for loop in app.lesson.loops} == {"R1", "B1"}
    assert {loop.partition for loop in app.lesson.loops} == {app.lesson.partition}
    assert "Backlog" not in app.variables.data["name"]


def test_diagram_boxes_stay_inside_and_apart():
    for path in (LOGISTIC, SPOILAGE):
        nodes = build(path).variables.data
        x, y = np.array(nodes["x"]), np.array(nodes["y"])
        w, h = np.array(nodes["width"]) / 2, np.array(nodes["height"]) / 2
        assert (x - w >= 0).all() and (x + w <= lesson.DIAGRAM_WIDTH).all()
        assert (y - h >= 0).all() and (y + h <= lesson.DIAGRAM_HEIGHT).all()
        for i in range(len(x)):
            for j in range(i + 1, len(x)):
                apart_x = abs(x[i] - x[j]) >= w[i] + w[j]
                apart_y = abs(y[i] - y[j]) >= h[i] + h[j]
                assert apart_x or apart_y, (nodes["name"][i], nodes["name"][j])


@pytest.mark.parametrize("path", [LOGISTIC, SPOILAGE, TWO_PARTITIONS])
def test_stacked_shares_span_one_where_the_partition_changes(path):
    app = build(path)
    data = app.shares.data
    up = sum(np.asarray(data[f"up {k}"]) for k in range(MAX_LOOPS))
    down = sum(np.asarray(data[f"down {k}"]) for k in range(MAX_LOOPS))
    active = app.lesson.scores.active[0, :, app.lesson.partition]
    assert active.sum() > 10
    np.testing.assert_allclose((up - down)[active], 1.0, rtol=1e-12)
    np.testing.assert_array_equal((up - down)[~active], 0.0)
    assert (np.asarray(data["up 0"]) >= 0).all() and (np.asarray(data["down 0"]) <= 0).all()
    # each slot is its loop's relative score, split by sign
    for k, (loop_id, share) in enumerate(app.lesson.shares().items()):
        np.testing.assert_array_equal(np.asarray(data[f"up {k}"]) + data[f"down {k}"], share)
        assert app.legend.items[k].label.value == loop_id
        assert app.legend.items[k].visible
    assert not app.legend.items[len(app.lesson.shares())].visible


def test_logistic_growth_reinforcing_then_balancing():
    app = build(LOGISTIC)
    data = app.shares.data
    times = np.asarray(data["time"])
    growth = list(app.lesson.shares()).index("R1")
    early, late = np.searchsorted(times, 10.0), np.searchsorted(times, 80.0)
    assert data[f"up {growth}"][early] > 0.9
    assert data[f"up {growth}"][late] < 0.1


@pytest.mark.parametrize("path", [LOGISTIC, SPOILAGE])
def test_arrow_scores_multiply_to_the_loop_scores(path):
    scored = lesson_for(path)
    arrows = {(link.source, link.target): k for k, link in enumerate(scored.diagram.links)}
    for i, loop in enumerate(scored.loops):
        names = loop.variables
        rows = [arrows[pair] for pair in zip(names, names[1:] + names[:1], strict=True)]
        product = np.prod(scored.arrow_scores[rows], axis=0)
        np.testing.assert_allclose(product, scored.scores.scores[0, :, i], rtol=1e-9, atol=1e-12)


def test_slider_lights_the_loop_the_scores_say_and_thickens_the_strongest_arrow():
    app = build(LOGISTIC)
    start = app.lesson.first_active()
    assert app.index == start == 1
    assert app.lit == ["R1"]
    for time, wanted in ((10.0, "R1"), (80.0, "B1")):
        release(app.slider, time)
        index = int(np.searchsorted(app.lesson.times, time))
        assert app.index == index
        assert app.lesson.dominant[index][0] == (wanted,)
        assert app.lit == [wanted]
        assert app.now_line.location == time
        assert f"Year {time:.0f}" in app.now.text
        scores = np.abs(app.lesson.arrow_scores[:, index])
        widths = np.asarray(app.links.data["width"])
        assert np.argmax(widths) == np.argmax(scores)
        assert widths.max() == pytest.approx(10.0)
        np.testing.assert_allclose(widths, 1.5 + 8.5 * scores / scores.max())
        # the lit loop's arrows wear its colour; the others are quiet
        color = app.colors[wanted]
        for link, drawn in zip(app.lesson.diagram.links, app.links.data["color"], strict=True):
            assert drawn == (color if wanted in link.loops else classroom.QUIET)
    # the narrative's sentence about now is in bold
    assert "<b>Years 46\u2013100" in app.narrative.text


def test_step_and_play_move_by_strides_and_stop_at_the_end():
    doc = Document()
    app = classroom.build_document(doc, model_path=LOGISTIC)
    times = app.lesson.times
    assert app.stride == 4  # 400 steps of a quarter year, crossed in 100 moves
    app.forward._trigger_event(_click(app.forward))
    assert app.index == 5 and app.slider.value == times[5]
    app.back._trigger_event(_click(app.back))
    app.back._trigger_event(_click(app.back))
    assert app.index == 0 and app.lit == []
    assert "no loop is changing anything yet" in app.now.text

    app.play.set_from_json("active", True)
    assert len(doc.session_callbacks) == 1
    assert "Pause" in app.play.label
    for _ in range(10):
        app.advance()
    assert app.index == 40 and app.slider.value == times[40]
    app.play.set_from_json("active", False)
    assert len(doc.session_callbacks) == 0
    release(app.slider, float(times[-3]))
    app.play.set_from_json("active", True)
    app.advance()
    assert app.index == len(times) - 1
    app.advance()
    assert not app.play.active and len(doc.session_callbacks) == 0


def _click(button):
    from bokeh.events import ButtonClick

    return ButtonClick(button)


def test_ticks_read_arrays_and_never_score_again(monkeypatch):
    app = build(LOGISTIC)

    def refuse(*args, **kwargs):
        raise AssertionError("loop scores computed again")

    monkeypatch.setattr(dominance, "loop_scores", refuse)
    monkeypatch.setattr(lesson, "loop_scores", refuse)
    for time in np.linspace(0, 100, 25):
        release(app.slider, float(time))
    app.step(1)
    assert lesson_for(LOGISTIC) is app.lesson
    again = build(LOGISTIC)
    assert again.lesson is app.lesson


def test_menu_offers_the_teaching_models_and_the_model_shown():
    app = build(LOGISTIC)
    paths = [value for value, _ in app.model_select.options]
    assert paths == list(dict.fromkeys([str(LOGISTIC.resolve()), *map(str, lesson.teaching_models())]))
    assert app.model_select.value == str(LOGISTIC.resolve())
    other = next(path for path in paths if path != app.model_select.value)
    app.model_select.set_from_json("value", other)
    assert app.lesson is lesson_for(other)
    assert set(app.variables.data["name"]) == {n for loop in app.lesson.loops for n in loop.variables}


def test_menu_swaps_the_model():
    app = build(LOGISTIC)
    app.model_select.set_from_json("value", str(SPOILAGE.resolve()))
    assert app.lesson.path == SPOILAGE.resolve()
    assert set(app.variables.data["name"]) == {"Inventory", "spoilage", "desired production", "production"}
    assert "Smoothed goal with spoilage" in app.title.text
    assert app.slider.end == 60 and app.chart.xaxis[0].axis_label == "Week"
    assert [item.label.value for item in app.legend.items if item.visible] == ["B1", "B2"]
    assert app.lit == [app.lesson.dominant[app.index][0][0]]


def test_menu_reports_a_broken_model_and_keeps_the_lesson(tmp_path):
    broken = tmp_path / "broken.mdl"
    broken.write_text(LOGISTIC.read_text().replace("Population= INTEG (", "Population= INTEG ((("))
    app = build(LOGISTIC)
    app.model_select.set_from_json("value", str(broken))
    assert "broken.mdl" in app.message.text
    assert app.lesson.path == LOGISTIC.resolve()
    assert app.model_select.value == str(LOGISTIC.resolve())


def test_a_model_that_cannot_be_shown_gets_a_page_that_says_why(tmp_path):
    doc = Document()
    assert classroom.build_document(doc, model_path=tmp_path / "missing.mdl") is None
    (page,) = doc.roots
    assert page.name == "error-page"
    assert "missing.mdl" in page.text


def test_teaching_models_fall_back_to_the_test_models():
    models = lesson.teaching_models()
    assert models
    teaching = sorted((ROOT / "models" / "teaching").resolve().glob("*.mdl"))
    if teaching:
        assert models == teaching
        assert lesson.default_model() == teaching[0]
    else:
        assert LOGISTIC in models
        assert lesson.default_model().name == "nested_systems.mdl"


def test_server_default_model_is_the_apps():
    from nestedsystems.dashboard.server import resolve_app

    build_document = resolve_app("classroom")
    assert build_document is classroom.build_document
    assert classroom.default_model() == lesson.default_model()


@pytest.mark.slow
def test_flagship_shows_its_strongest_named_loops(tmp_path):
    copy = tmp_path / FLAGSHIP.name
    shutil.copy(FLAGSHIP, copy)
    app = build(copy)
    shown = app.lesson.loops
    assert all(loop.named for loop in shown)
    assert 1 <= len(shown) <= MAX_LOOPS
    assert len(app.variables.data["name"]) <= MAX_VARIABLES
    assert app.lesson.notes and "more named loops are not drawn" in app.lesson.notes[0]
    assert {loop.partition for loop in shown} == {app.lesson.partition}
    # at its equilibrium no loop is lit as if it drove the round-off, and the words say so
    (sentence,) = app.lesson.narrative
    assert sentence.startswith("Months 0–120: nothing much changes: the system is in balance")
    release(app.slider, 60.0)
    assert app.lit == [] and "nothing much changes now" in app.now.text


def test_bokeh_serve_script_builds_the_classroom():
    from bokeh.application.handlers.script import ScriptHandler

    handler = ScriptHandler(filename=str(ROOT / "dashboards" / "classroom" / "main.py"), argv=[str(LOGISTIC)])
    doc = Document()
    handler.modify_document(doc)
    assert not handler.failed, handler.error_detail
    assert (
        doc.select_one({"name": "diagram-variables"}).data["name"]
        == lesson_for(LOGISTIC).diagram.nodes["name"]
    )
