"""The what-if app's uncertainty view, no browser: the assumptions file, bands that hold
the deterministic run, the cache, sliders that never wait for an ensemble, the words
and the loops' shares. Browser events are replayed as Bokeh's server applies them."""

from __future__ import annotations

import html
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from bokeh.document import Document

import nestedsystems as ns
from nestedsystems.dashboard import whatif
from nestedsystems.dashboard.assumptions import Assumptions, Outlook, documented_assumptions, load_assumptions
from nestedsystems.dashboard.cache import prepared_model
from nestedsystems.dashboard.figures import time_axis
from nestedsystems.dashboard.levers import levers_of
from nestedsystems.dashboard.store import ScenarioStore
from nestedsystems.dashboard.uncertainty import UncertaintyEngine, how_sure, loop_shares, scenario_bands
from nestedsystems.dashboard.uncertainty_view import HIGH, LOW, MIDDLE, band_columns, shares_table
from nestedsystems.errors import ModelFileError
from nestedsystems.loops import find_loops

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "nested_systems.mdl"
SPANS = ROOT / "models" / "nested_systems.uncertainty.toml"
SANCTUARY = {"Sanctuary adoption": 1.0}
# Sanctuary adopted and pay raised: both far enough from today to move turnover.
BETTER_PAY = {"Sanctuary adoption": 1.0, "Relative pay": 1.2}
SETTLE = 600.0  # seconds: a bound on a hung ensemble, not a speed requirement


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    """One version of the flagship and its uncertainty file for the module (their
    authors keep editing them)."""
    folder = tmp_path_factory.mktemp("model")
    shutil.copy(SOURCE, folder / SOURCE.name)
    shutil.copy(SPANS, folder / SPANS.name)
    return folder / SOURCE.name


@pytest.fixture(scope="module")
def prepared(flagship):
    return prepared_model(flagship)


@pytest.fixture(scope="module")
def lever_names(prepared):
    return [lever.name for lever in levers_of(prepared.model, ranged_only=True)]


@pytest.fixture(scope="module")
def assumptions(flagship, prepared, lever_names):
    return load_assumptions(flagship.with_name(SPANS.name), prepared.model, levers=lever_names)


@pytest.fixture
def board(flagship, tmp_path):
    app = whatif.build_document(
        Document(), model_path=flagship, store=ScenarioStore(tmp_path / "s.sqlite"), arguments={}
    )
    assert app is not None and app.uncertainty is not None
    app.uncertainty.engine.loop_members = 25  # loops scored in one chunk: enough for a table
    return app


def release(slider, value: float) -> None:
    """What the browser sends when a person lets go of a slider."""
    slider.set_from_json("value", value)
    slider.set_from_json("value_throttled", value)


def words(view) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", view.words.text))


def deterministic(prepared, values, name):
    return ns.simulate(prepared.compiled, params=values)[name]


# -- where the uncertain assumptions come from ---------------------------------------------


def test_the_flagship_declares_assumptions_around_its_values_and_no_levers(
    prepared, assumptions, lever_names
):
    assert assumptions.members == 300 and assumptions.source == SPANS.name
    assert len(assumptions.spans) >= 10
    for name, low, high in assumptions.spans:
        variable = prepared.model[name]
        assert "(assumption)" in variable.documentation
        assert low <= variable.equation.value <= high and low < high
        assert name not in lever_names
    assert assumptions.outlook.variable == "Annual staff turnover" and assumptions.outlook.better == "lower"
    # the same draws every time: every scenario meets the same futures
    first, again = assumptions.samples(), assumptions.samples()
    assert first.equals(again) and len(first) == 300
    for name, low, high in assumptions.spans:
        assert first[name].between(low, high).all()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('[spans]\n"Nobody here" = [1, 2]\n', r":2, variable 'Nobody here': expected a constant .*no such"),
        ('[spans]\n"Staff strain" = [0, 1]\n', r":2, variable 'Staff strain': expected a constant .*a stock"),
        ('[spans]\n"Relative pay" = [0.8, 1.0]\n', r":2, variable 'Relative pay': .*found a lever"),
        ('[spans]\n"Labelling time" = [8, 12]\n', r":2, .*around the model's value 6, found \[8, 12\]"),
        ('[spans]\n"Labelling time" = [12, 3]\n', r"expected low < high, found \[12, 3\]"),
        ('[spans]\n"Labelling time" = "long"\n', r"expected \[low, high\], found 'long'"),
        ('members = 5\n[spans]\n"Labelling time" = [3, 12]\n', r":1: members: expected a whole number"),
        ('[spans]\n"Labelling time" == [3, 12]\n', r":2: expected TOML, found Invalid value$"),
        ("seed = 1\n", r"expected a \[spans\] table"),
        ('[outlook]\nvariable = "Nobody"\n[spans]\n"Labelling time" = [3, 12]\n', r"\[outlook\]: expected a"),
    ],
)
def test_a_bad_uncertainty_file_is_one_line_naming_file_line_and_constant(
    tmp_path, prepared, lever_names, text, found
):
    path = tmp_path / "bad.uncertainty.toml"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=found) as caught:
        load_assumptions(path, prepared.model, levers=lever_names)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_without_a_file_every_documented_assumption_spreads_twenty_percent(prepared, lever_names):
    found = documented_assumptions(prepared.model, levers=lever_names)
    documented = [
        v.name
        for v in prepared.model.constants
        if "(assumption)" in v.documentation and v.name not in lever_names and v.equation.value != 0
    ]
    assert [name for name, _, _ in found.spans] == documented
    for name, low, high in found.spans:
        value = prepared.model[name].equation.value
        assert (low, high) == pytest.approx(sorted((0.8 * value, 1.2 * value)))


# -- the bands on the page -------------------------------------------------------------------


def test_toggling_draws_bands_that_hold_the_deterministic_run(board, prepared):
    view = board.uncertainty
    assert all(not renderer.visible for renderer in view.renderers)
    release(board.sliders["Sanctuary adoption"], 1.0)
    view.toggle.active = True
    assert all(renderer.visible for renderer in view.renderers)
    assert view.settle(SETTLE)
    data = view.source.data
    np.testing.assert_allclose(data["time"], prepared.baseline.times / 12.0)
    for item in view.series:
        low, middle, high = (np.asarray(data[prefix + item.column]) for prefix in (LOW, MIDDLE, HIGH))
        run = np.asarray(board.source.data[item.column])  # the deterministic run on screen
        spread = high - low
        assert np.all(low <= middle + 1e-12) and np.all(middle <= high + 1e-12)
        # the model's own values sit inside the 5-95% band, the median near them
        tolerance = 1e-9 * np.maximum(1.0, np.abs(run))
        assert np.all(low - tolerance <= run) and np.all(run <= high + tolerance), item.column
        assert np.all(np.abs(middle - run) <= 0.35 * spread + tolerance), item.column
    # adopting Sanctuary widens what is uncertain: the bands are not lines
    assert float(np.max(high - low)) > 0.0
    assert words(view).startswith("How sure is this? In 9 of 10 plausible futures turnover by year 5")


def test_the_same_scenario_is_not_run_twice(board, prepared, assumptions):
    view = board.uncertainty
    view.toggle.active = True
    assert view.settle(SETTLE)
    computed = view.engine.ensembles_run
    first = view.engine.bands({}).result()
    view.toggle.active = False
    assert len(view.source.data["time"]) == 0
    view.toggle.active = True
    # cached: the bands are back at once, on the session's thread, with nothing run again
    assert len(view.source.data["time"]) == len(prepared.baseline.times)
    assert view.engine.bands({}).result() is first
    assert view.engine.ensembles_run == computed
    # and they are the ensemble's own numbers
    fresh = scenario_bands(prepared.compiled, assumptions, {}, view.engine.save)
    for name in view.engine.save:
        np.testing.assert_array_equal(first.quantiles[name], fresh.quantiles[name])


class GatedEngine(UncertaintyEngine):
    """An engine whose ensembles for chosen scenarios wait until the test opens their gate."""

    def __init__(self, *args, gated=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.gates = {self.key(values): threading.Event() for values in gated}
        self.entered = {key: threading.Event() for key in self.gates}

    @classmethod
    def instead_of(cls, engine, prepared, executor, gated):
        """A gated engine for what `engine` computes, on `executor`."""
        return cls(
            prepared, engine.assumptions, engine.save, keep=engine.keep, executor=executor, gated=gated
        )

    def _bands(self, values):
        key = self.key(values)
        if key in self.gates:
            self.entered[key].set()
            assert self.gates[key].wait(SETTLE)
        return super()._bands(values)

    def _shares(self, values, axis):
        return None


def test_a_lever_moved_during_an_ensemble_redraws_at_once_and_hides_the_old_bands(board, prepared):
    view = board.uncertainty
    with ThreadPoolExecutor(max_workers=1) as executor:
        engine = view.engine = GatedEngine.instead_of(
            view.engine, prepared, executor, gated=(SANCTUARY, BETTER_PAY)
        )
        first, second = engine.key(SANCTUARY), engine.key(BETTER_PAY)
        release(board.sliders["Sanctuary adoption"], 1.0)
        view.toggle.active = True
        assert "Working out 300 plausible futures" in words(view)
        assert engine.entered[first].wait(SETTLE)  # past the baseline, into Sanctuary's ensemble
        running = engine.bands(SANCTUARY)
        engine.release(running)
        # the ensemble for Sanctuary is held mid-way; the board raises pay meanwhile
        runs = board.runs_made
        release(board.sliders["Relative pay"], 1.2)
        assert board.runs_made == runs + 1 and not running.done()
        np.testing.assert_allclose(
            board.source.data["Annual staff turnover"],
            deterministic(prepared, BETTER_PAY, "Annual staff turnover"),
        )
        assert len(view.source.data["time"]) == 0
        assert "Working out" in words(view)
        # Sanctuary's bands arrive late: kept for later, never shown for the new levers
        engine.gates[first].set()
        running.result(SETTLE)
        assert not view.settle(timeout=0.2)
        assert len(view.source.data["time"]) == 0 and view.shown_key is None
        assert "Working out" in words(view)
        engine.gates[second].set()
        assert view.settle(SETTLE)
        assert view.shown_key == second
        expected = band_columns(engine.bands(BETTER_PAY).result(), view.series, view.axis)
        for column, values in expected.items():
            np.testing.assert_array_equal(view.source.data[column], values)
        assert engine.bands(SANCTUARY).done()  # the late answer is in the cache
        view.toggle.active = False


def test_queued_ensembles_for_levers_left_behind_are_cancelled(board, prepared):
    view = board.uncertainty
    with ThreadPoolExecutor(max_workers=1) as executor:
        engine = view.engine = GatedEngine.instead_of(view.engine, prepared, executor, gated=[{}])
        view.toggle.active = True  # the baseline's ensemble starts and waits at its gate
        assert engine.entered[engine.key({})].wait(SETTLE)
        release(board.sliders["Sanctuary adoption"], 1.0)
        queued = engine.bands(SANCTUARY)
        engine.release(queued)
        release(board.sliders["Relative pay"], 1.2)  # Sanctuary alone is no longer wanted
        assert queued.cancelled()
        engine.gates[engine.key({})].set()
        assert view.settle(SETTLE)
        assert engine.ensembles_run == 2  # the baseline and the levers on screen, nothing else
        view.toggle.active = False


# -- how sure, in words ----------------------------------------------------------------------


def test_the_words_state_the_ensembles_quantiles_and_wins(board, prepared, assumptions):
    view = board.uncertainty
    for name, value in BETTER_PAY.items():
        release(board.sliders[name], value)
    view.toggle.active = True
    assert view.settle(SETTLE)
    text = words(view)
    scenario = view.engine.bands(BETTER_PAY).result()
    baseline = view.engine.bands({}).result()
    low, middle, high = scenario.at("Annual staff turnover", 60.0)
    assert (
        f"In 9 of 10 plausible futures turnover by year 5 is between {low:.0f}% and {high:.0f}% "
        f"(in half of them below {middle:.0f}%)" in text
    )
    # the quantiles are those of the members' own turnover in month 60
    at_60 = int(np.flatnonzero(scenario.times == 60.0)[0])
    members = scenario.members["Annual staff turnover"][:, at_60]
    np.testing.assert_allclose([low, middle, high], np.quantile(members, [0.05, 0.5, 0.95]))
    # member by member against the baseline in the same futures
    wins = np.mean(members < baseline.members["Annual staff turnover"][:, at_60])
    assert f"these settings beat today's in {wins:.0%} of them (lower turnover by year 5)." in text
    assert 0.0 < wins <= 1.0


def test_todays_settings_are_not_compared_with_themselves(board):
    view = board.uncertainty
    view.toggle.active = True
    assert view.settle(SETTLE)
    assert "beat" not in words(view)
    assert "broke down" not in words(view)


# -- which loops drive the futures -------------------------------------------------------


def test_loop_shares_of_identical_futures_are_the_single_runs_dominance(prepared):
    from nestedsystems.dominance import loop_scores

    loops = find_loops(prepared.model).named()
    # a span too narrow to matter: every member is today's program
    value = prepared.model["Labelling time"].equation.value
    still = Assumptions((("Labelling time", value, value + 1e-12),), members=20, seed=1)
    axis = time_axis(prepared.model.time_units)
    shares = loop_shares(prepared.compiled, loops, still, SANCTUARY, axis, members=4)
    assert shares.members == 4 and shares.periods[0] == "Year 1" and len(shares.periods) == 10
    single = loop_scores(prepared.compiled, loops=loops, params=SANCTUARY)
    magnitude = np.abs(single.relative[0])
    leader = magnitude.argmax(axis=1)
    partition = np.array([loop.partition for loop in loops.loops])
    quiet = single.quiet()[0][np.arange(len(leader)), partition[leader]]
    dominant = np.where((magnitude.max(axis=1) > 0) & ~quiet, leader, -1)
    years = np.minimum(np.floor(single.times / 12.0).astype(int), 9)
    for year in range(10):
        steps = dominant[years == year]
        for i in range(len(loops.loops)):
            assert shares.shares[year, i] == pytest.approx(np.mean(steps == i), abs=1e-12)
        assert shares.steady[year] == pytest.approx(np.mean(quiet[years == year]), abs=1e-12)


def test_futures_at_equilibrium_credit_no_loop_and_are_steady(prepared):
    loops = find_loops(prepared.model).named()
    value = prepared.model["Labelling time"].equation.value
    still = Assumptions((("Labelling time", value, value + 1e-12),), members=20, seed=1)
    # today's program is an equilibrium (RM0): nothing much changes in any year
    shares = loop_shares(prepared.compiled, loops, still, {}, time_axis(prepared.model.time_units), members=4)
    np.testing.assert_allclose(shares.steady, 1.0)
    assert shares.shares.max() == 0
    text = html.unescape(re.sub(r"<[^>]+>", " ", shares_table(shares)))
    assert "Steady: nothing much changes" in text and "100%" in text


def test_the_loop_table_appears_with_the_bands(board):
    view = board.uncertainty
    view.engine.loop_members = 25
    view.toggle.active = True
    assert view.settle(SETTLE)
    assert view.loops.visible
    text = html.unescape(re.sub(r"<[^>]+>", " ", view.loops.text))
    assert "Which loop drives the system" in text and "Year 10" in text
    view.toggle.active = False
    assert not view.loops.visible


def test_futures_that_break_down_are_left_out_and_counted_in_the_words(tmp_path):
    from test_ensembles import BLOW_UP

    path = tmp_path / "blow_up.mdl"
    path.write_text(BLOW_UP)
    compiled = ns.compile_model(ns.load(path), native=False)
    # dx/dt = a x^2 from x = 1 is finite over ten months only for a < 0.1
    steep = Assumptions((("Steepness", 0.01, 0.3),), members=200, seed=3)
    bands = scenario_bands(compiled, steep, {}, ["Size"])
    a = steep.samples()["Steepness"].to_numpy()
    every = ns.simulate(compiled, params={"Steepness": a}, on_nonfinite="ignore")["Size"]
    broke = ~np.isfinite(every).all(axis=1)
    assert 0 < bands.failed == broke.sum() < 200
    np.testing.assert_allclose(bands.quantiles["Size"], np.quantile(every[~broke], [0.05, 0.5, 0.95], axis=0))
    axis = time_axis("Month")
    outlook = Outlook("Size", "size", "{:.2f}", time=6.0)
    low, _, high = bands.at("Size", 6.0)
    text = how_sure(bands, bands, outlook, axis, changed=False)
    assert text.startswith(
        f"In 9 of 10 plausible futures size by year 0.5 is between {low:.2f} and {high:.2f}"
    )
    assert text.endswith(f" {bands.failed} of 200 futures broke down in the model and are left out.")
