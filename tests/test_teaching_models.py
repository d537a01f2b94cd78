"""The teaching models in models/teaching reproduce the behaviour each one teaches.

Every file loads, documents its variables, gives its levers ranges and declares
loops that the loop finder traces with the declared polarity. Then each model's
lesson is checked in numbers: the tipping points and hysteresis of the two-stock
parallel process, the burnout cycle and the work limit that ends it, the two
equilibria of the turnover trap, the restraint fix that fails, and the capability
trap's worse-before-better.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

import nestedsystems as ns
from nestedsystems.loops import Polarity, find_loops

TEACHING = Path(__file__).resolve().parents[1] / "models" / "teaching"
FILES = [
    "two_stock_parallel_process.mdl",
    "burnout_cycle.mdl",
    "workforce_turnover_trap.mdl",
    "fixes_that_fail.mdl",
    "capability_trap.mdl",
]
CONTROL = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}


@cache
def model(name: str) -> ns.Model:
    return ns.load(TEACHING / name)


def at_index(run: ns.Run, time: float) -> int:
    index = int(np.argmin(np.abs(run.times - time)))
    assert abs(run.times[index] - time) < 1e-9, f"time {time} is not saved"
    return index


# Every model ------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_is_small_documented_and_has_units(name):
    m = model(name)
    own = [v for v in m.variables if v.origin is None and v.name not in CONTROL]
    # small enough to read in one sitting: at most 30 variables besides graphical functions
    assert len([v for v in own if v.kind is not ns.Kind.LOOKUP]) <= 30
    for variable in own:
        assert variable.units.strip(), f"{variable.name} has no units"
        assert len(variable.documentation.strip()) > 10, f"{variable.name} has no documentation"
        assert variable.group, f"{variable.name} is not on the sketch"


@pytest.mark.parametrize("name", FILES)
def test_levers_are_constants_with_ranges_around_their_defaults(name):
    m = model(name)
    levers = [v for v in m.variables if v.documentation.startswith("Lever:")]
    assert len(levers) >= 2
    for lever in levers:
        assert lever.kind is ns.Kind.CONSTANT
        low, high = lever.range.minimum, lever.range.maximum
        assert low is not None and high is not None, f"{lever.name} has no range"
        assert low <= lever.equation.value <= high
    # Every assumption a class might vary has a range too.
    for constant in m.constants:
        if "(assumption)" in constant.documentation:
            assert constant.range.maximum is not None, f"{constant.name} has no range"


@pytest.mark.parametrize("name", FILES)
def test_declared_loops_are_found_with_their_polarity(name):
    m = model(name)
    assert len(m.loops) >= 3
    found = find_loops(m)
    assert found.missing == ()
    for declared in m.loops:
        loop = found[declared.id]
        assert loop.named
        assert loop.name == declared.name
        assert loop.variables == declared.variables
        wanted = Polarity.REINFORCING if declared.id.startswith("R") else Polarity.BALANCING
        assert loop.polarity is wanted, f"{declared.id} {declared.name}"
    assert any(loop.id.startswith("R") for loop in m.loops)
    assert any(loop.id.startswith("B") for loop in m.loops)


@pytest.mark.parametrize("name", FILES)
def test_default_run_is_finite(name):
    run = ns.simulate(model(name))
    for variable in model(name).stocks:
        assert np.all(np.isfinite(run[variable.name]))


# Two-stock parallel process ---------------------------------------------------

TWO = "two_stock_parallel_process.mdl"


def distress_target_on_strain_nullcline(d: float) -> float:
    strain = 0.1 + 0.7 * d
    return 0.2 + 0.6 / (1 + np.exp(-(strain - 0.45) / 0.05)) - d


def equilibria() -> list[float]:
    grid = np.linspace(0, 1, 101)
    values = [distress_target_on_strain_nullcline(d) for d in grid]
    return [
        brentq(distress_target_on_strain_nullcline, a, b)
        for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:], strict=True)
        if fa * fb < 0
    ]


def test_two_stock_has_three_equilibria():
    healthy, unstable, trapped = equilibria()
    assert healthy == pytest.approx(0.21, abs=0.005)
    assert unstable == pytest.approx(0.50, abs=1e-6)
    assert trapped == pytest.approx(0.79, abs=0.005)


def test_two_stock_runs_settle_at_stable_equilibria_and_leave_the_unstable_one():
    healthy, unstable, trapped = equilibria()
    starts = np.array([healthy + 0.02, unstable - 0.02, unstable + 0.02, trapped - 0.02])
    run = ns.simulate(model(TWO), params={"Initial client distress": starts})
    end = run["Client distress"][:, -1]
    assert run["Client distress"].shape == (4, len(run.times))
    np.testing.assert_allclose(end, [healthy, healthy, trapped, trapped], atol=1e-4)
    # the start on the nullcline sets strain consistently: 0.1 + 0.7 D
    np.testing.assert_allclose(run["Staff strain"][:, 0], 0.1 + 0.7 * starts)
    np.testing.assert_allclose(run["Staff strain"][:, -1], 0.1 + 0.7 * end, atol=1e-4)


def test_two_stock_default_stays_healthy():
    run = ns.simulate(model(TWO))
    assert np.ptp(run["Client distress"]) < 0.001
    assert run["Client distress"][-1] == pytest.approx(0.2102, abs=1e-3)


@pytest.mark.parametrize("method", ["euler", "RK45"])
def test_two_stock_shock_of_six_months_tips_and_of_two_does_not(method):
    run = ns.simulate(
        model(TWO),
        params={"Shock size": 0.2, "Shock duration": np.array([2.0, 6.0])},
        method=method,
    )
    short, long = run["Client distress"][:, -1]
    assert short == pytest.approx(0.2102, abs=1e-3)
    assert long == pytest.approx(0.7898, abs=1e-3)
    # the shock starts at month 12; both runs are identical before it
    before = run.times <= 12
    np.testing.assert_allclose(run["Client distress"][0, before], run["Client distress"][1, before])


def test_two_stock_support_for_twelve_months_rescues_and_for_six_does_not():
    run = ns.simulate(
        model(TWO),
        params={
            "Initial client distress": 0.79,
            "Support level": 0.4,
            "Support duration": np.array([6.0, 12.0]),
        },
    )
    short, long = run["Client distress"][:, -1]
    assert short == pytest.approx(0.7898, abs=1e-3)  # hysteresis: it falls back
    assert long == pytest.approx(0.2102, abs=1e-3)
    # while support lasts, distress falls in both runs
    assert np.all(run["Client distress"][:, at_index(run, 18)] < 0.75)


# Burnout cycle ----------------------------------------------------------------

BURNOUT = "burnout_cycle.mdl"


def peak_times(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    inner = (values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])
    return times[1:-1][inner]


def test_burnout_cycles_with_a_period_of_about_half_a_year_without_a_limit():
    run = ns.simulate(model(BURNOUT))
    late = run.times >= 104
    hours = run["Hours worked"][late]
    peaks = peak_times(run.times[late], hours)
    periods = np.diff(peaks)
    assert len(periods) >= 4
    assert np.all((periods >= 20) & (periods <= 32))
    assert np.mean(periods) == pytest.approx(26.2, abs=0.5)
    # sustained: swings of well over ten hours a week, energy drained and restored
    assert np.ptp(hours) > 10
    assert run["Energy level"][late].min() < 0.45
    assert run["Energy level"][late].max() > 0.7


def test_burnout_cycle_is_not_an_artefact_of_euler():
    run = ns.simulate(model(BURNOUT), method="RK45")
    late = run.times >= 104
    periods = np.diff(peak_times(run.times[late], run["Hours worked"][late]))
    assert np.all((periods >= 20) & (periods <= 32))


def test_a_forty_hour_limit_stabilises_and_accomplishes_more():
    run = ns.simulate(model(BURNOUT), params={"Work limit policy": np.array([0.0, 1.0])})
    late = run.times >= 130
    free, limited = run["Accomplishment"][:, late]
    assert np.ptp(run["Hours worked"][1, late]) < 0.01
    assert np.ptp(limited) < 0.01
    assert run["Hours worked"][1, -1] == pytest.approx(40, abs=0.01)
    assert run["Energy level"][1, -1] == pytest.approx(1, abs=0.01)
    assert limited.mean() == pytest.approx(40, abs=0.05)
    assert free.mean() == pytest.approx(33.6, abs=0.5)
    assert limited.mean() > free.mean() + 5
    # and over the whole five years, not only once the cycle has settled
    assert run["Accomplishment"][1].mean() > run["Accomplishment"][0].mean()


# Workforce turnover trap ------------------------------------------------------

TURNOVER = "workforce_turnover_trap.mdl"


def test_turnover_healthy_equilibrium_near_thirteen_percent():
    run = ns.simulate(model(TURNOVER))
    turnover = run["Annual turnover"]
    assert turnover[-1] == pytest.approx(0.13, abs=0.005)
    assert np.ptp(turnover) < 0.002
    assert run["Staff strain"][-1] == pytest.approx(0.30, abs=0.005)


def test_turnover_trapped_equilibrium_near_thirty_eight_percent():
    run = ns.simulate(model(TURNOVER), params={"Demand surge": 0.2, "Surge duration": 12, "FINAL TIME": 240})
    late = run.times >= 180
    turnover = run["Annual turnover"][late]
    assert turnover[-1] == pytest.approx(0.38, abs=0.01)
    assert np.ptp(turnover) < 0.002  # settled: an equilibrium, not a slow return
    assert run["Staff strain"][-1] == pytest.approx(0.66, abs=0.01)
    # more novices, fewer experienced staff than in the healthy state
    assert run["New staff"][-1] == pytest.approx(10.1, abs=0.2)
    assert run["Experienced staff"][-1] == pytest.approx(35.7, abs=0.2)


def test_a_long_surge_traps_the_system_and_a_short_one_does_not():
    run = ns.simulate(model(TURNOVER), params={"Demand surge": 0.2, "Surge duration": np.array([3.0, 12.0])})
    short, long = run["Annual turnover"][:, -1]
    assert short == pytest.approx(0.13, abs=0.005)
    assert long == pytest.approx(0.375, abs=0.01)
    # the surge ended at month 24; five years later the long one is still trapped
    assert run["Work demand"][1, -1] == pytest.approx(45)
    assert np.all(run["Annual turnover"][1, run.times >= 36] > 0.3)


def test_a_long_hiring_freeze_traps_the_system_and_a_short_one_does_not():
    run = ns.simulate(model(TURNOVER), params={"Hiring freeze": 1, "Freeze duration": np.array([6.0, 12.0])})
    short, long = run["Annual turnover"][:, -1]
    assert short == pytest.approx(0.13, abs=0.005)
    assert long == pytest.approx(0.375, abs=0.01)
    assert run["Hires"][1, at_index(run, 18)] == 0
    assert run["Vacancies"][1, -1] > 2 * run["Vacancies"][0, -1]


# Fixes that fail --------------------------------------------------------------

FIXES = "fixes_that_fail.mdl"


def test_fixes_baseline_is_an_equilibrium():
    run = ns.simulate(model(FIXES))
    assert np.ptp(run["Agitation"]) < 1e-4
    assert run["Agitation"][-1] == pytest.approx(1, abs=1e-4)
    assert run["Mistrust"][-1] == pytest.approx(0.3, abs=1e-4)


def test_more_restraint_calms_within_a_month_and_ends_more_agitated():
    run = ns.simulate(model(FIXES), params={"Extra restraint": np.array([0.0, 0.4])})
    baseline, more = run["Agitation"]
    month_13 = at_index(run, 13)  # one month after the policy starts at month 12
    assert more[month_13] == pytest.approx(0.823, abs=0.005)
    assert more[month_13] < baseline[month_13] - 0.15
    assert more[-1] > baseline[-1] + 0.05
    assert more[-1] == pytest.approx(1.10, abs=0.01)
    # the crossover comes when mistrust has built up, more than a year later
    crossing = run.times[(run.times > 13) & (more > baseline[0])][0]
    assert 24 < crossing < 48
    assert run["Mistrust"][1, -1] > 2 * run["Mistrust"][0, -1]


def test_less_restraint_is_worse_before_better():
    run = ns.simulate(model(FIXES), params={"Extra restraint": -0.1})
    assert run["Agitation"][at_index(run, 13)] > 1.05
    assert run["Agitation"][-1] < 0.98


# Capability trap --------------------------------------------------------------

CAPABILITY = "capability_trap.mdl"


def test_capability_baseline_sits_in_the_trap():
    run = ns.simulate(model(CAPABILITY))
    assert np.ptp(run["Waiting list"]) < 1
    assert run["Capability"][-1] == pytest.approx(0.23, abs=0.005)
    assert run["Improvement share"][-1] == pytest.approx(0.025, abs=1e-6)


def test_protecting_improvement_time_is_worse_for_six_to_twelve_months_then_better():
    run = ns.simulate(model(CAPABILITY), params={"Protected improvement share": np.array([0.0, 0.3])})
    baseline, protected = run["Waiting list"]
    after = run.times > 12.5
    worse = run.times[after & (protected > baseline + 1)]
    crossover = worse.max() - 12
    assert 6 <= crossover <= 12
    assert np.all(protected[run.times > 12 + crossover + 0.5] < baseline[run.times > 12 + crossover + 0.5])
    assert protected.max() > baseline.max() + 30
    assert protected[-1] < 0.15 * baseline[-1]
    assert run["Capability"][1, -1] == pytest.approx(0.78, abs=0.01)


def test_stopping_protection_after_three_months_falls_back_into_the_trap():
    run = ns.simulate(
        model(CAPABILITY),
        params={
            "Protected improvement share": 0.3,
            "Protection duration": np.array([3.0, 12.0]),
            "FINAL TIME": 240,
        },
    )
    stopped, kept = run["Capability"][:, -1]
    assert stopped == pytest.approx(0.23, abs=0.01)
    assert kept == pytest.approx(0.77, abs=0.01)
    assert run["Waiting list"][0, -1] == pytest.approx(610, rel=0.05)
    assert run["Waiting list"][1, -1] < 60
