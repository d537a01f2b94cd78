"""The what-if app's dominance strip, built into a plain Bokeh document: the loops it
shows are those Loops That Matter finds, and a lever moves them as the analysis says."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from bokeh.document import Document

import nestedsystems as ns
from nestedsystems.dashboard import whatif
from nestedsystems.dashboard.cache import prepared_model
from nestedsystems.dashboard.dominance_strip import (
    BASELINE_ROW,
    COOL,
    FRAME_MARGINS,
    SCENARIO_ROW,
    STEADY,
    STEADY_COLOR,
    WARM,
    loop_colors,
)
from nestedsystems.dominance import loop_scores
from nestedsystems.loops import find_loops
from nestedsystems.narrative import describe_dominance, narrated_periods

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "nested_systems.mdl"
TEACUP = ROOT.parent / "shared" / "conformance" / "test-models" / "samples" / "teacup" / "teacup.mdl"
if not TEACUP.exists():
    TEACUP = Path("/work/shared/conformance/test-models/samples/teacup/teacup.mdl")

SANCTUARY = {"Sanctuary adoption": 1.0}


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    """One version of the flagship for the module: its authors keep editing the file."""
    copy = tmp_path_factory.mktemp("model") / SOURCE.name
    shutil.copy(SOURCE, copy)
    return copy


@pytest.fixture(scope="module")
def named(flagship):
    model = ns.load(flagship)
    return model, find_loops(model).named()


def analysis(named, params=None):
    """Loops That Matter on the named loops, from the model itself (its own run)."""
    model, loops = named
    return loop_scores(model, loops=loops, params=params)


@pytest.fixture
def board(flagship, tmp_path):
    app = whatif.build_document(Document(), model_path=flagship, store=tmp_path / "s.sqlite", arguments={})
    assert app is not None and app.dominance is not None
    return app


def bars(app, row):
    data = app.dominance.source.data
    keep = [k for k, name in enumerate(data["row"]) if name == row]
    return {key: [values[k] for k in keep] for key, values in data.items()}


def shown_words(app):
    return html.unescape(re.sub(r"<[^>]+>", "\n", app.dominance.narrative.text))


def assert_strip_is(app, row, scores):
    """The row's bars are the narrated periods of `scores`: their times, their loops,
    the loop with the largest share over the period named first; a quiet period grey,
    with no loop."""
    periods = narrated_periods(scores)
    shown = bars(app, row)
    assert len(shown["loop_id"]) == len(periods) > 0
    axis = app.axis
    for k, period in enumerate(periods):
        np.testing.assert_allclose(
            [shown["left"][k], shown["right"][k]], axis.of([period.start, period.end]), rtol=1e-12
        )
        if period.quiet:
            assert (shown["loop_id"][k], shown["color"][k], shown["polarity"][k]) == (
                "",
                STEADY_COLOR,
                STEADY,
            )
            assert shown["loop"][k] == "no loop: nothing much changes"
            continue
        window = (scores.times >= period.start) & (scores.times <= period.end)
        window &= scores.active[0, :, period.partition]
        share = {i: np.abs(scores[i][window]).mean() for i in period.loops}
        lead = max(share, key=share.get)
        assert shown["loop_id"][k] == lead
        assert shown["share"][k] == f"{share[lead]:.0%} of the change"
        together = shown["with"][k]
        others = [] if together == "no other loop" else [item.split()[0] for item in together.split(", ")]
        assert sorted([lead, *others]) == sorted(period.loops)
        polarity = scores.loops[lead].polarity.value
        assert shown["polarity"][k] == polarity
        assert shown["color"][k] in (WARM if polarity == "reinforcing" else COOL)


def test_the_baseline_at_equilibrium_is_one_grey_steady_band(board, named):
    """Today's settings are the flagship's equilibrium: no loop is said to drive a
    change of round-off; the strip shows one grey band and the words say so."""
    scores = analysis(named)
    assert_strip_is(board, SCENARIO_ROW, scores)
    assert_strip_is(board, BASELINE_ROW, scores)
    for row in (SCENARIO_ROW, BASELINE_ROW):
        shown = bars(board, row)
        assert shown["color"] == [STEADY_COLOR] and shown["loop_id"] == [""]
        np.testing.assert_allclose([shown["left"][0], shown["right"][0]], board.axis.of([0.0, 120.0]))
    assert bars(board, SCENARIO_ROW)["label"] == [STEADY]
    assert bars(board, SCENARIO_ROW)["share"] == [
        "little to explain: every stock stays within 0.1% of its level"
    ]
    (sentence,) = describe_dominance(scores)
    assert sentence.startswith("Months 0–120: nothing much changes: the system is in balance")
    assert sentence in shown_words(board)


def test_a_small_shock_is_coloured_while_it_lasts_and_grey_before_and_after(board, named):
    board.set_values({"Scandal size": 0.2, "Scandal month": 6})
    scores = analysis(named, {"Scandal size": 0.2, "Scandal month": 6})
    assert_strip_is(board, SCENARIO_ROW, scores)
    shown = bars(board, SCENARIO_ROW)
    colors = shown["color"]
    assert colors[0] == colors[-1] == STEADY_COLOR and STEADY_COLOR not in colors[1:-1]
    assert len(colors) > 2
    for sentence in describe_dominance(scores):
        assert sentence in shown_words(board)


def test_adopting_sanctuary_moves_the_strip_and_the_words_as_the_analysis_says(board, named):
    assert board.values["Sanctuary start month"] == 12
    before = bars(board, SCENARIO_ROW)
    board.sliders["Sanctuary adoption"].set_from_json("value_throttled", 1.0)
    assert board.values["Sanctuary adoption"] == 1.0

    adopted, baseline = analysis(named, SANCTUARY), analysis(named)
    assert_strip_is(board, SCENARIO_ROW, adopted)
    assert_strip_is(board, BASELINE_ROW, baseline)  # the faint row stays today's
    after = bars(board, SCENARIO_ROW)
    assert (after["loop_id"], after["when"]) != (before["loop_id"], before["when"])
    for sentence in describe_dominance(adopted):
        assert sentence in shown_words(board)
    assert describe_dominance(adopted) != describe_dominance(baseline)

    # The strip's scores are the analysis's, and the Sanctuary loop, idle without
    # adoption, now carries part of the change after the start month.
    np.testing.assert_allclose(board.dominance.scores.relative, adopted.relative, atol=1e-12)
    later = board.dominance.scores.times > 12
    assert np.abs(board.dominance.scores["R11"][later]).max() > np.abs(baseline["R11"][later]).max()

    # Back to today's settings, back to today's strip.
    board.reset()
    assert bars(board, SCENARIO_ROW) == bars(board, BASELINE_ROW) | {
        "row": [SCENARIO_ROW] * len(before["row"]),
        "height": before["height"],
        "alpha": before["alpha"],
        "label": before["label"],
        "text_color": before["text_color"],
    }


def test_one_run_serves_the_charts_and_the_scores(board, flagship):
    board.set_values({"Supervision hours": 4.0})
    compiled = prepared_model(flagship).compiled
    plain = ns.simulate(compiled, params={"Supervision hours": 4.0})
    # The charts' run is the plain run to the last bit, read from the every-step run
    # the loop scores came from.
    assert board.run.names == plain.names
    np.testing.assert_array_equal(board.run.times, plain.times)
    np.testing.assert_array_equal(board.run.values, plain.values)
    # The scores came from a run at every TIME STEP, let go once scored.
    np.testing.assert_allclose(np.diff(board.dominance.scores.times), 0.125)
    assert board.run.every_step is None
    again = board.dominance.simulate({"Supervision hours": 4.0})
    np.testing.assert_array_equal(again.values, plain.values)
    rescored = loop_scores(compiled, loops=board.dominance.basis.loops, run=again.every_step)
    np.testing.assert_array_equal(rescored.relative, board.dominance.scores.relative)
    np.testing.assert_array_equal(board.source.data["Staff strain"], plain["Staff strain"])


def test_each_named_loop_has_its_own_colour_warm_or_cool(named):
    _, loops = named
    colors = loop_colors(loops)
    assert sorted(colors) == sorted(loop.id for loop in loops)
    assert len(loops) == len(named[0].loops)  # every loop the author declared
    reinforcing = [loop.id for loop in loops if loop.polarity.value == "reinforcing"]
    balancing = [loop.id for loop in loops if loop.polarity.value == "balancing"]
    assert len(reinforcing) + len(balancing) == len(loops)
    # distinct while a palette lasts (twelve warm, twelve cool)
    assert len({colors[i] for i in reinforcing}) == min(len(reinforcing), len(WARM))
    assert len({colors[i] for i in balancing}) == min(len(balancing), len(COOL))
    for loop in loops:
        assert colors[loop.id] in (WARM if loop.id in reinforcing else COOL)


def test_labels_fit_their_bars(board):
    board.set_values(SANCTUARY)
    shown = bars(board, SCENARIO_ROW)
    width = board.dominance.width - sum(FRAME_MARGINS)  # the bars' span
    years = board.axis.of([board.dominance.scores.times[-1]])[0]
    for left, right, label, loop in zip(
        shown["left"], shown["right"], shown["label"], shown["loop"], strict=True
    ):
        pixels = (right - left) / years * width
        assert len(label) * 6 < pixels
        assert label in ("", STEADY) or loop.startswith(label.split()[0])
    assert any(label.startswith(loop) for label, loop in zip(shown["label"], shown["loop"], strict=True))


def test_a_model_without_named_loops_shows_no_strip(tmp_path):
    app = whatif.build_document(Document(), model_path=TEACUP, store=tmp_path / "s.sqlite", arguments={})
    assert app is not None and app.dominance is None
    assert app.layout.select_one({"name": "dominance-strip"}) is None
    app.set_values({"Characteristic Time": 20.0})
    np.testing.assert_allclose(
        app.run["Teacup Temperature"],
        ns.simulate(ns.load(TEACUP), params={"Characteristic Time": 20.0})["Teacup Temperature"],
    )


def test_the_report_tells_why_it_moves(board, named):
    board.set_values(SANCTUARY)
    text = html.unescape(board.export_report())
    sentences = describe_dominance(analysis(named, SANCTUARY))
    assert sentences
    for sentence in sentences:
        # the report carries the page as JSON, where an en dash is written \u2013
        assert sentence.replace("–", "\\u2013") in text
