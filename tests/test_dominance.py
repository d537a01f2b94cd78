"""Loops That Matter: the papers' fixtures, analytic dominance, and Simlin as an oracle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.dominance import DominantPeriod, dominant_sets, flow_link_score, link_score, loop_scores
from nestedsystems.errors import ParameterError
from nestedsystems.expressions import Binary, Number, Op, Ref, canonical
from nestedsystems.loops import Polarity, find_loops
from nestedsystems.model import Kind, Model, Variable
from nestedsystems.pace import QUIET_PACE

MODELS = Path(__file__).parent / "models"


def test_t1_link_scores_of_a_sum():
    # z = 2x + y; x 5→7, y 4→5, z 14→19
    def f(x, y):
        return 2 * x + y

    x_score, _ = link_score(f(7, 4) - 14, 19 - 14, 7 - 5)
    y_score, _ = link_score(f(5, 5) - 14, 19 - 14, 5 - 4)
    assert x_score == pytest.approx(0.8, abs=1e-12)
    assert y_score == pytest.approx(0.2, abs=1e-12)


def test_t2_link_scores_of_a_ratio():
    # z = (w + x) / y; w 7→10, x 2→4, y 3→5, z 3→2.8
    def f(w, x, y):
        return (w + x) / y

    dz = 2.8 - 3
    assert link_score(f(10, 2, 3) - 3, dz, 3)[0] == pytest.approx(5.0, abs=1e-12)
    assert link_score(f(7, 4, 3) - 3, dz, 2)[0] == pytest.approx(10 / 3, abs=1e-12)
    assert link_score(f(7, 2, 5) - 3, dz, 2)[0] == pytest.approx(-6.0, abs=1e-12)


def test_t3_flow_to_stock_link_scores_use_the_2023_correction():
    # S(0) = 100; inflow 5→10, outflow 4→5, so the net flow goes 1→5 (S 101→106)
    net_change = (10 - 5) - (5 - 4)
    assert flow_link_score(10 - 5, net_change, +1)[0] == pytest.approx(1.25, abs=1e-12)
    assert flow_link_score(5 - 4, net_change, -1)[0] == pytest.approx(-0.25, abs=1e-12)


def test_scores_are_zero_without_change_and_guarded_when_the_ratio_breaks_down():
    score, guarded = link_score([1.0, 1.0, 0.0], [0.0, 1e-320, 1.0], [1.0, 1.0, 1.0])
    assert score.tolist() == [0.0, 0.0, 0.0]  # Δz = 0; 1/1e-320 overflows; Δx z = 0
    assert guarded.tolist() == [False, True, False]
    score, guarded = flow_link_score([2.0, 1.0], [0.0, 4.0], -1)
    assert score.tolist() == [0.0, -0.25] and not guarded.any()


def test_t4_a_loop_alone_in_its_partition_reads_plus_or_minus_one(test_models):
    scores = loop_scores(ns.load(test_models / "samples" / "teacup" / "teacup.mdl"))
    (loop,) = scores.loops
    assert loop.polarity is Polarity.BALANCING
    series = scores[loop.id]
    assert series[0] == 0.0 and not scores.active[0, 0, 0]
    assert scores.active[0, 1:, 0].all()
    np.testing.assert_array_equal(series[1:], -1.0)

    smoothed = loop_scores(ns.load(MODELS / "smoothed_goal.mdl"))
    active = smoothed.active[0, :, 0]
    # nothing moves until the step in shipments at week 10; then every step reads -1
    assert not active[smoothed.times <= 10].any() and active[smoothed.times > 10].all()
    np.testing.assert_array_equal(smoothed["B1"][active], -1.0)


def test_t5_logistic_growth_reinforcing_until_the_inflection_then_balancing():
    model = ns.load(MODELS / "logistic_growth.mdl")
    scores = loop_scores(model)
    periods = scores.dominant_periods()
    assert [(p.loops, p.polarity) for p in periods] == [
        (("R1",), Polarity.REINFORCING),
        (("B1",), Polarity.BALANCING),
    ]
    run = ns.simulate(model)
    population = run["Population"]
    # births = P·f(P): |R| / |B| = (1 - P/K) / (P/K) at the step's start, so the
    # balancing loop takes over at the first step that starts at or past K/2.
    switch = int(np.argmax(population >= 500.0)) + 1
    assert periods[0].start == scores.times[1]
    assert periods[0].end == scores.times[switch - 1]
    assert periods[1].start == scores.times[switch] and periods[1].end == 100.0
    # and that is the logistic curve's inflection, ln((K - P0)/P0)/r = 45.95 years, to Euler's error
    assert periods[1].start == pytest.approx(np.log(99) / 0.1, abs=1.0)
    # two loops share the partition: their shares add to one at every active step
    np.testing.assert_allclose(np.abs(scores.relative[0, 1:, :]).sum(axis=1), 1.0, rtol=1e-12)


def test_an_ensemble_is_scored_member_by_member_in_one_pass():
    model = ns.load(MODELS / "logistic_growth.mdl")
    ensemble = loop_scores(model, params={"maximum birth rate": np.array([0.1, 0.2])})
    assert ensemble.ensemble and ensemble["R1"].shape == (2, 401)
    for member, rate in enumerate([0.1, 0.2]):
        single = loop_scores(model, params={"maximum birth rate": rate})
        np.testing.assert_allclose(ensemble.relative[member], single.relative[0], rtol=0, atol=1e-12)
    # the faster-growing member turns balancing sooner
    starts = [ensemble.dominant_periods(run=i)[1].start for i in range(2)]
    assert starts[1] < starts[0]


def test_at_equilibrium_nothing_is_scored_and_nothing_is_infinite(test_models):
    model = ns.load(test_models / "samples" / "teacup" / "teacup.mdl")
    scores = loop_scores(model, params={"Room Temperature": 180.0})
    assert not scores.active.any()
    assert np.isfinite(scores.scores).all() and (scores.relative == 0).all()
    assert scores.dominant_periods() == ()


def test_a_run_that_skips_steps_is_refused(test_models):
    model = ns.load(test_models / "samples" / "pendulum" / "Single_Pendulum.mdl")
    with pytest.raises(ParameterError, match="Euler run"):
        loop_scores(model, run=ns.simulate(model, method="rk4"))
    # without a run of its own, it simulates at every TIME STEP whatever SAVEPER says
    scores = loop_scores(model)
    assert np.diff(scores.times) == pytest.approx(0.0078125)


# ----------------------------------------------------------------------------- Simlin


def _simlin_key(variables) -> frozenset[str]:
    """Simlin's loop variables as ours: it names a stock's unnamed flow
    ``<stock>_net_flow`` and a SMOOTH's module instance ``$<sep><var><sep>0<sep>smth1``; we
    fold both into the variable the modeler wrote, so they drop out here."""
    return frozenset(canonical(v) for v in variables if not v.startswith("$") and not v.endswith("_net_flow"))


SIMLIN_MODELS = [
    "samples/SIR/SIR.mdl",
    "samples/teacup/teacup.mdl",
    "samples/Lotka_Volterra/Lotka_Volterra.mdl",
    "samples/Roessler_Chaos/roessler_chaos.mdl",
    "samples/simple_harmonic_oscillator/simple_harmonic_oscillator.mdl",
    "samples/pendulum/Single_Pendulum.mdl",
    "tests/initial_function/test_initial.mdl",
    "tests/ln/test_ln.mdl",
    "tests/time/test_time.mdl",
    "MODELS/logistic_growth.mdl",
    "MODELS/smoothed_goal.mdl",
    "MODELS/smoothed_goal_with_spoilage.mdl",
    "REPO/models/benchmark/services60.mdl",  # 85 loops, through SMOOTH, SMOOTH3I, DELAY3 and TREND
]


@pytest.mark.parametrize("name", SIMLIN_MODELS)
def test_relative_loop_scores_agree_with_simlin(name, test_models):
    """Same model, same TIME STEP: every loop both find, within 1e-6 at every time both save.

    Differences that are not disagreements, each handled here:

    - Simlin saves at SAVEPER; we score every TIME STEP, so we compare at its
      saved times. Where SAVEPER is not a multiple of TIME STEP (the pendulum)
      Simlin writes rows past FINAL TIME; those rows are left out.
    - Simlin keeps a stock's unnamed flow and a SMOOTH's module as variables of
      the loop (`_simlin_key`).
    - Where a module's input reaches its output by two paths (TREND: directly and
      through its average) both engines score the loop by the strongest path.
    """
    simlin = pytest.importorskip("simlin")
    where, rest = name.split("/", 1)
    path = {"MODELS": MODELS, "REPO": MODELS.parent.parent}.get(where, test_models / where) / rest
    model = ns.load(path)
    ours = loop_scores(model)
    run = simlin.load(str(path)).run()
    theirs = {_simlin_key(loop.variables): loop for loop in run.loops}
    assert len(theirs) == len(run.loops) == len(ours.loops)
    saved = np.asarray(run.results.index, dtype=float)
    final = float(ours.times[-1])
    keep = saved <= final + 1e-9
    at = np.searchsorted(ours.times, saved[keep] - 1e-9)
    np.testing.assert_allclose(ours.times[at], saved[keep], atol=1e-9)
    for i, loop in enumerate(ours.loops):
        other = theirs[frozenset(canonical(v) for v in loop.variables)]
        np.testing.assert_allclose(
            ours.relative[0, at, i], other.behavior_time_series[keep], rtol=0, atol=1e-6, err_msg=str(loop)
        )
        if other.polarity.name in ("REINFORCING", "BALANCING") and loop.polarity is not Polarity.UNDETERMINED:
            assert loop.polarity.name == other.polarity.name, loop


# ----------------------------------------------------------------------------- plain words


def test_the_narrative_tells_each_period_with_the_authors_descriptions():
    from nestedsystems.narrative import describe_dominance

    scores = loop_scores(ns.load(MODELS / "logistic_growth.mdl"))
    assert describe_dominance(scores) == [
        "Years 0–46: the Growth loop (R1, reinforcing) drives most of the change: more people, more births.",
        "Years 46–100: the Crowding loop (B1, balancing) drives most of the change: crowding slows births "
        "as the population nears its carrying capacity.",
    ]
    assert describe_dominance(scores, time_units="month")[0].startswith("Months 0–46:")


def test_the_narrative_names_unnamed_loops_by_their_variables_and_smooths_flickers(test_models):
    from nestedsystems.narrative import describe_dominance

    scores = loop_scores(ns.load(test_models / "samples" / "SIR" / "SIR.mdl"))
    story = describe_dominance(scores)
    assert story[0] == (
        "Days 0–30: the loop through Infectious and Succumbing (R1, reinforcing) drives most of the change."
    )
    # past the peak, susceptibles run out (B2) while the sick recover (B1): then recovery alone
    assert story[1].startswith("Days 30–48: the B2 and B1 loops, both balancing, together drive")
    assert story[-1].startswith("Days 48–100: the loop through Infectious and Recovering (B1, balancing)")
    assert len(story) == 3
    # shares averaged over a window as long as the run: over 100 days the balancing loops explain more
    (whole,) = describe_dominance(scores, shortest=1000.0)
    assert whole == "Days 0–100: the B1 and B2 loops, both balancing, together drive most of the change."
    with pytest.raises(ParameterError, match="partition 3 does not exist"):
        describe_dominance(scores, partition=3)


def _period(loops, polarity, start, end, share=0.6):
    return DominantPeriod(0, tuple(loops), polarity, start, end, share)


def test_flickering_sets_that_keep_one_loop_are_told_as_one_stretch():
    from nestedsystems.narrative import merge_periods

    r, b = Polarity.REINFORCING, Polarity.BALANCING
    flicker = [
        _period(["B2"], b, 0, 9.5),
        _period(["R3", "R7"], r, 10, 11.5),
        _period(["R3", "R9"], r, 12, 13.5),
        _period(["B1"], b, 14, 14.5),  # a blink of the other polarity, shorter than `shortest`
        _period(["R3", "R7", "R9"], r, 15, 19.5),
        _period(["R3"], r, 20, 29.5),
        _period(["R7"], r, 30, 39.5),  # R3 has left: a new stretch, though R7 was there before
    ]
    told = merge_periods(flicker, shortest=2.0)
    assert [(p.loops, p.start, p.end) for p in told] == [
        (("B2",), 0, 9.5),
        # R3 in every set, 19 time units; R7 and R9 in them for 7 each: not half of it
        (("R3",), 10, 29.5),
        (("R7",), 30, 39.5),
    ]
    assert told[1].polarity is r and told[1].share == pytest.approx(0.6)
    # with a longer `shortest` the short stretches on either side fold into R3's
    assert [(p.loops, p.start, p.end) for p in merge_periods(flicker, shortest=10.0)] == [(("R3",), 0, 39.5)]


def test_the_drift_narrative_tells_the_slide_as_burnout_attrition(flagship):
    from nestedsystems.narrative import narrated_periods

    model, loops = flagship
    scores = loop_scores(model, loops=loops.named())
    slide = scores.times[_slide(model, scores)]
    (told,) = [p for p in narrated_periods(scores) if p.start <= slide.mean() <= p.end]
    assert told.polarity is Polarity.REINFORCING and "R3" in told.loops
    # the stretch told covers most of the slide
    assert np.mean((slide >= told.start) & (slide <= told.end)) > 0.8


def test_a_model_at_rest_says_nothing_changes(test_models):
    from nestedsystems.narrative import describe_dominance

    model = ns.load(test_models / "samples" / "teacup" / "teacup.mdl")
    assert describe_dominance(loop_scores(model, params={"Room Temperature": 180.0})) == [
        "Minutes 0–30: nothing changes: the system is at rest."
    ]


# ----------------------------------------------------------------------------- quiet stretches


def _goal_seeking(start: float) -> Model:
    """S' = (goal - S) / adjustment time: goal 100, adjustment time 5 years, 100 years."""
    constants = {"goal": 100.0, "start": start, "adjustment time": 5.0}
    constants |= {"INITIAL TIME": 0.0, "FINAL TIME": 100.0, "TIME STEP": 0.125, "SAVEPER": 1.0}
    gap = Binary(Op.SUB, Ref("goal"), Ref("s"))
    return Model(
        (
            Variable("S", Kind.STOCK, Ref("adjustment"), initial=Ref("start")),
            Variable("adjustment", Kind.AUXILIARY, Binary(Op.DIV, gap, Ref("adjustment time"))),
            *(Variable(name, Kind.CONSTANT, Number(value)) for name, value in constants.items()),
        ),
        time_units="Year",
    )


def test_a_goal_seeking_stock_started_at_its_goal_is_quiet_throughout():
    from nestedsystems.narrative import describe_dominance

    scores = loop_scores(_goal_seeking(start=100.0))
    assert (scores.pace == 0).all() and scores.quiet().all()
    assert scores.dominant_periods(quiet=QUIET_PACE) == (
        DominantPeriod(0, (), Polarity.UNDETERMINED, 0.0, 100.0, 0.0),
    )
    assert describe_dominance(scores) == ["Years 0–100: nothing changes: the system is at rest."]


def test_a_goal_seeking_stock_started_away_is_loud_for_a_few_adjustment_times_then_settles():
    from nestedsystems.narrative import describe_dominance, narrated_periods

    scores = loop_scores(_goal_seeking(start=0.0))
    tau, horizon, dt, gap = 5.0, 100.0, 0.125, 100.0
    size = float(ns.simulate(_goal_seeking(start=0.0))["S"].max())  # the stock's largest size
    # quiet once the stock would cover less than 5% of its size over the run at its
    # pace: |S'| = gap/τ < 0.05·size/horizon, so when the gap is under
    quiet_gap = QUIET_PACE * size * tau / horizon
    by_hand = tau * np.log(gap / quiet_gap)  # 29.96 years
    quiet = scores.quiet()[0, :, 0]
    first_quiet = float(scores.times[np.argmax(quiet)])
    assert not quiet[: np.argmax(quiet)].any() and quiet[np.argmax(quiet) :].all()
    assert abs(first_quiet - by_hand) <= 2 * dt
    # Euler's own gap, gap·(1 - dt/τ)^k, crosses it at the step the measure says (a
    # step's pace is its change from the step before)
    k = int(np.ceil(np.log(gap / quiet_gap) / -np.log(1 - dt / tau)))
    assert first_quiet == pytest.approx((k + 1) * dt)

    loud, settled = narrated_periods(scores)
    assert loud.loops == ("B1",) and settled.quiet
    assert settled.start == loud.end == pytest.approx(first_quiet - dt) and settled.end == horizon
    assert describe_dominance(scores) == [
        "Years 0–30: the loop through S and adjustment (B1, balancing) drives most of the change.",
        # the gap left at year 30 is a quarter of a percent of the stock's size
        "Years 30–100: the system settles and nothing much changes: every stock stays within 0.5% of "
        "its level.",
    ]
    # without the pace, the balancing loop is said to drive a change of a few hundredths
    assert describe_dominance(scores, quiet=None) == [
        "Years 0–100: the loop through S and adjustment (B1, balancing) drives most of the change."
    ]
    # the paper's analysis is unchanged unless asked
    assert [p.loops for p in scores.dominant_periods()] == [("B1",)]
    assert [p.loops for p in scores.dominant_periods(quiet=QUIET_PACE)] == [("B1",), ()]


def test_each_member_of_an_ensemble_has_its_own_pace():
    ensemble = loop_scores(_goal_seeking(start=0.0), params={"start": np.array([100.0, 0.0, 50.0])})
    at_goal, away, halfway = (ensemble.quiet()[member, :, 0] for member in range(3))
    assert at_goal.all() and not away[:200].any() and away[-1]
    # half the gap, and a size just as large: quiet one adjustment time·ln 2 sooner
    first = [float(ensemble.times[np.argmax(q)]) for q in (away, halfway)]
    assert first[0] - first[1] == pytest.approx(5.0 * np.log(2), abs=2 * 0.125)


def test_a_lull_shorter_than_the_shortest_period_is_told_with_the_change_around_it():
    from nestedsystems.narrative import narrated_periods

    scores = loop_scores(_goal_seeking(start=0.0))
    # quiet from year 29.75: 70 years, shorter than a window of 80 years
    (told,) = narrated_periods(scores, shortest=80.0)
    assert told.loops == ("B1",) and (told.start, told.end) == (0.0, 100.0)


# ----------------------------------------------------------------------------- the flagship

FLAGSHIP = MODELS.parent.parent / "models" / "nested_systems.mdl"
SCENARIOS = FLAGSHIP.parent / "scenarios"


@pytest.fixture(scope="module")
def flagship():
    from nestedsystems.scenarios import apply_scenario, load_scenario

    if not FLAGSHIP.exists():
        pytest.skip("the flagship model is not in this checkout")
    drift = apply_scenario(ns.load(FLAGSHIP), load_scenario(SCENARIOS / "drift.toml"))
    return drift, find_loops(drift)


def _window_share(scores, loop_id, start, end):
    window = (scores.times > start) & (scores.times <= end)
    return float(np.abs(scores[loop_id][window]).mean())


def test_the_flagship_declares_seventeen_loops_and_each_is_found_as_declared(flagship):
    _, loops = flagship
    named = loops.named()
    assert len(named) == 17 and not loops.missing
    assert {loop.id: loop.polarity.letter for loop in named} == {
        **{f"R{i}": "R" for i in range(1, 13)},
        **{f"B{i}": "B" for i in range(1, 6)},
    }
    assert all(loop.description for loop in named)
    # the one note is the bound: the flagship has far more loops than anyone reads
    assert loops.notes == ("enumeration stopped at max_loops=2000; the model has more loops",)
    assert len({loop.partition for loop in named}) == 1


def _strain_rate(model, scores):
    run = ns.simulate(ns.compile_model(model, native=False), params={"saveper": float(scores.times[1])})
    np.testing.assert_array_equal(run.times, scores.times)
    return np.gradient(run["Staff strain"], run.times)


def _slide(model, scores):
    """The steps over which staff strain rises at least half as fast as it ever does."""
    rate = _strain_rate(model, scores)
    return rate >= 0.5 * rate.max()


def _recovery(model, scores):
    """The steps over which staff strain falls at least half as fast as it ever does."""
    rate = _strain_rate(model, scores)
    return rate <= 0.5 * rate.min()


def _shares(scores, window):
    return {loop.id: float(np.abs(scores[loop.id][window]).mean()) for loop in scores.loops}


def _times_in_the_dominant_set(scores, window):
    """At each step of the window, the smallest same-polarity set of loops explaining
    half of the change (the specification's dominance); how often each loop is in it."""
    loops = scores.loops.loops
    chosen = dominant_sets(scores.relative[0], scores.active[0, :, 0], list(range(len(loops))), loops, 0.5)
    counts = dict.fromkeys((loop.id for loop in loops), 0)
    for step in np.flatnonzero(window):
        for loop_id in chosen[step][0] if chosen[step] else ():
            counts[loop_id] += 1
    return counts


def test_reinforcing_loops_with_burnout_attrition_drive_the_drift_slide(flagship):
    """Among the author's loops, the reinforcing ones explain most of the slide (the
    steps over which strain climbs fastest)."""
    model, loops = flagship
    scores = loop_scores(model, loops=loops.named())
    slide, early = _slide(model, scores), scores.times <= 24
    reinforcing = [i for i, loop in enumerate(scores.loops) if loop.polarity is Polarity.REINFORCING]
    assert np.abs(scores.relative[0][slide][:, reinforcing]).sum(axis=1).mean() > 0.5
    # before the drift bites, burnout-attrition barely moves anything
    assert float(np.abs(scores["R3"][early]).mean()) < 0.1 * _shares(scores, slide)["R3"]


def test_burnout_attrition_dominates_the_drift_slide(flagship):
    """RM1: R3 explains the largest share of the slide, well ahead of the next loop,
    and is in the dominant set at more of its steps than any other loop."""
    model, loops = flagship
    scores = loop_scores(model, loops=loops.named())
    slide = _slide(model, scores)
    shares = _shares(scores, slide)
    leader, runner_up = sorted(shares, key=shares.get, reverse=True)[:2]
    assert leader == "R3"
    assert shares["R3"] > 0.25 and shares["R3"] > 1.5 * shares[runner_up]
    counts = _times_in_the_dominant_set(scores, slide)
    assert max(counts, key=counts.get) == "R3"
    assert counts["R3"] > 0.5 * slide.sum()


def test_the_sanctuary_loop_appears_only_after_adoption(flagship):
    model, loops = flagship
    scores = loop_scores(
        model, loops=loops.named(), params={"Sanctuary adoption": 1, "Sanctuary start month": 36}
    )
    assert _window_share(scores, "R11", 0, 36) == 0.0
    assert max(_window_share(scores, "R11", start, start + 12) for start in range(36, 96, 12)) > 0.2


def test_the_sanctuary_virtuous_cycle_dominates_the_recovery():
    """RM2: adopted from the trapped state, R11 alone explains more than half of the
    change while strain falls fastest: it is the dominant set on most of those steps."""
    from nestedsystems.scenarios import apply_scenario, load_scenario

    model = apply_scenario(ns.load(FLAGSHIP), load_scenario(SCENARIOS / "sanctuary_adoption.toml"))
    scores = loop_scores(model, loops=find_loops(model).named())
    recovery = _recovery(model, scores)
    assert scores.times[recovery].min() > 36  # the recovery follows the worse-before-better year
    shares = _shares(scores, recovery)
    assert max(shares, key=shares.get) == "R11"
    assert shares["R11"] > 0.5
    counts = _times_in_the_dominant_set(scores, recovery)
    assert max(counts, key=counts.get) == "R11"
    assert counts["R11"] > 0.5 * recovery.sum()
    # before adoption the practice does not exist, so neither does its loop
    assert _window_share(scores, "R11", 0, 12) == 0.0


def test_the_clock_is_held_with_the_other_inputs():
    """inflow = 0.05 S (1 + STEP(1, 5)): at week 5 the inflow doubles because of the
    clock, not because of S, so the link S → inflow scores little at that step."""
    from nestedsystems.expressions import Binary, Call, Number, Op, Ref
    from nestedsystems.model import Kind, Model, Variable

    boost = Binary(Op.ADD, Number(1.0), Call("step", (Number(1.0), Number(5.0))))
    model = Model(
        (
            Variable("S", Kind.STOCK, Ref("inflow"), initial=Number(1.0)),
            Variable("inflow", Kind.AUXILIARY, Binary(Op.MUL, Binary(Op.MUL, Number(0.05), Ref("s")), boost)),
            Variable("INITIAL TIME", Kind.CONSTANT, Number(0)),
            Variable("FINAL TIME", Kind.CONSTANT, Number(10)),
            Variable("TIME STEP", Kind.CONSTANT, Number(0.5)),
            Variable("SAVEPER", Kind.CONSTANT, Number(0.5)),
        )
    )
    scores = loop_scores(model)
    link = scores.link_scores["s", "inflow"][0]
    at_step = int(np.searchsorted(scores.times, 5.0))
    np.testing.assert_allclose(link[1:at_step], 1.0)  # before the step, S alone moves the inflow
    run = ns.simulate(model)
    s, inflow = run["S"], run["inflow"]
    # the clock is held at t - dt with the other inputs, so the boost is still 1 in the partial change
    expected = abs(0.05 * s[at_step] * 1.0 - inflow[at_step - 1]) / abs(inflow[at_step] - inflow[at_step - 1])
    assert link[at_step] == pytest.approx(expected, rel=1e-12) and link[at_step] < 0.05
    np.testing.assert_array_equal(scores["R1"][1:], 1.0)  # alone in its partition


def test_a_fixed_delay_passes_all_of_its_change_along_one_step_later():
    """DELAY FIXED lowers to a chain of memories, each its input one step ago: every
    link along it scores 1 where its input changed. (pysimlin 0.8 reads DELAY FIXED
    as a first-order delay, so it is no oracle here.)"""
    model = ns.load(MODELS / "delay_fixed_loop.mdl")
    scores = loop_scores(model)
    delayed = scores.loops["R1"]
    memories = [f"delay fixed of inflow [{i}]" for i in (1, 2, 3, 4)]
    assert [link.target for link in delayed.links] == ["outflow", *memories, "inflow", "stock"]
    for link in delayed.links[1:-1]:  # outflow → memories → inflow
        series = scores.link_scores[link.source, link.target][0]
        moved = series != 0
        np.testing.assert_array_equal(series[moved], 1.0)
        assert moved.sum() > len(series) // 2
    active = scores.active[0, :, 0]
    np.testing.assert_allclose(np.abs(scores.relative[0, active]).sum(axis=1), 1.0, rtol=1e-12)
    # nothing has come out of the two-week delay yet: the outflow loop alone explains the first steps
    np.testing.assert_array_equal(scores["B1"][1:4], -1.0)


def test_loops_that_compete_rank_before_a_loop_alone_in_its_partition():
    """A loop alone in its partition reads -1 or +1 at every step: ranked with the
    loops that share a partition it would always come first, so it comes last."""
    scores = loop_scores(ns.load(MODELS / "two_partitions.mdl"))
    assert scores.loops.partitions == (("Population",), ("Backlog",))
    shares = scores.mean_share()
    assert shares["B2"] == 1.0 and shares["R1"] < 1.0 and shares["B1"] < 1.0
    assert abs(shares["R1"] + shares["B1"] - 1.0) < 1e-9
    assert [loop.id for loop, _ in scores.ranking()] == [
        *sorted(["R1", "B1"], key=shares.get, reverse=True),
        "B2",
    ]


def test_the_flagship_at_equilibrium_says_nothing_much_changes():
    """RM0 is an equilibrium: no loop is said to drive a change of round-off."""
    from nestedsystems.narrative import describe_dominance

    model = ns.load(FLAGSHIP)
    scores = loop_scores(model, loops=find_loops(model).named())
    assert scores.active[0, 1:, 0].any()  # the shares exist, ratios of round-off
    assert scores.quiet().all()
    assert describe_dominance(scores) == [
        "Months 0–120: nothing much changes: the system is in balance, and every stock stays "
        "within 0.1% of its level."
    ]


def _stocks_on(scores, model):
    on_loops = {name for loop in scores.loops for name in loop.variables}
    return [stock.name for stock in model.stocks if stock.name in on_loops]


def test_a_small_scandal_is_told_while_it_lasts_and_quiet_once_it_has_died_away():
    """RM0 with a small shock (scandal of 0.2 at month 6): quiet before, loops at work
    while it dies away, quiet after; what the quiet sentences claim holds in the run."""
    from nestedsystems.narrative import describe_dominance, narrated_periods

    model = ns.load(FLAGSHIP)
    shock = {"Scandal size": 0.2, "Scandal month": 6}
    scores = loop_scores(model, loops=find_loops(model).named(), params=shock)
    periods = narrated_periods(scores)
    before, *loud, after = periods
    assert before.quiet and (before.start, before.end) == (0.0, pytest.approx(6.0))
    assert loud and not any(p.quiet for p in loud)
    assert after.quiet and 36 < after.start < 96 and after.end == 120.0
    story = describe_dominance(scores)
    assert story[0].startswith("Months 0–6: nothing much changes: the system is in balance")
    assert story[-1].startswith(f"Months {after.start:.0f}–120: the system settles and nothing much changes")
    stated = float(re.search(r"within ([\d.]+)% of its level", story[-1]).group(1)) / 100
    run = ns.simulate(model, params={**shock, "saveper": 0.125})
    settled = run.times >= after.start
    for name in _stocks_on(scores, model):
        values = run[name]
        assert np.abs(values[settled] - values[settled][0]).max() <= stated * np.abs(values).max(), name
    # while the shock is felt, scrutiny moves by more than that
    scrutiny = run["Scrutiny"]
    assert np.ptp(scrutiny[(run.times > 6) & ~settled]) > stated * np.abs(scrutiny).max()


def test_the_loops_command_tells_the_flagship_in_the_specifications_loops(capsys):
    """`nestedsystems loops models/nested_systems.mdl --dominance`: the author's loops
    compared among themselves, and the drift's slide told as burnout-attrition."""
    import re

    from nestedsystems.cli import main

    specified = {f"R{i}" for i in range(1, 13)} | {f"B{i}" for i in range(1, 6)}
    drift = ["--scenario", str(SCENARIOS / "drift.toml")]
    assert main(["loops", str(FLAGSHIP), "--dominance", *drift]) == 0
    out = capsys.readouterr().out
    story = [line for line in out.splitlines() if line.startswith("Months ")]
    told = {loop for line in story for loop in re.findall(r"\b([RB]\d+)\b", line)}
    assert story and told <= specified and "R3" in told
    slide = [line for line in story if "Burnout-attrition (R3)" in line or "(R3, reinforcing)" in line]
    assert slide and "17 loops (17 named)" in out and "among the named loops" in out

    assert "quiet:" not in out  # the drift never rests

    # at equilibrium it says so, in words and in JSON
    assert main(["loops", str(FLAGSHIP), "--dominance"]) == 0
    out = capsys.readouterr().out
    assert "Months 0–120: nothing much changes: the system is in balance" in out
    assert "quiet: where no stock would move by 5% of its size" in out
    assert main(["loops", str(FLAGSHIP), "--dominance", "--format", "json"]) == 0
    told = json.loads(capsys.readouterr().out)
    assert told["dominant_periods"] == [
        {
            "partition": 0,
            "loops": [],
            "polarity": "undetermined",
            "start": 0.0,
            "end": 120.0,
            "share": 0.0,
            "quiet": True,
        }
    ]
    assert (
        told["narrative"][0].startswith("Months 0–120: nothing much changes") and len(told["narrative"]) == 1
    )

    assert main(["loops", str(FLAGSHIP), "--dominance", "--all-loops", "--top", "3"]) == 0
    assert "2000 loops (17 named)" in capsys.readouterr().out
    assert main(["loops", str(FLAGSHIP), "--dominance", "--all-loops", "--named"]) == 2
    assert "contradict" in capsys.readouterr().err
