"""The long tail of Vensim: NPV, GAMMA LN, GET TIME VALUE, RANDOM streams, Reality
Checks, and load-time refusals for what is still unsupported."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.ensembles import run_ensemble
from nestedsystems.errors import ModelSyntaxError, ParameterError, UnsupportedError
from nestedsystems.expressions import Binary, Call, Number, Op, Ref, Unary, UnaryOp
from nestedsystems.model import RealityCheck


def _model(tmp_path: Path, equations: str, final: float = 10, step: float = 1) -> Path:
    path = tmp_path / "model.mdl"
    control = f"""
    INITIAL TIME = 0 ~ Year ~ |
    FINAL TIME = {final} ~ Year ~ |
    TIME STEP = {step} ~ Year ~ |
    SAVEPER = TIME STEP ~ Year ~ |
    """
    path.write_text("{UTF-8}\n" + textwrap.dedent(equations) + textwrap.dedent(control))
    return path


# ----------------------------------------------------------------------------- NPV


def test_npv_is_the_discounted_sum_of_the_stream(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        payment = 10 ~ $/Year ~ |
        value = NPV(payment, 0.1, 5, 2) ~ $ ~ |
        """,
        final=4,
        step=0.5,
    )
    model = ns.load(path)
    assert {v.name for v in model.stocks} == {"NPV of value [discount factor]", "NPV of value [accumulated]"}
    run = ns.simulate(model).to_pandas()
    # Each step's payment 10*dt is discounted by 1/(1 + rate*dt) per step before it.
    k = np.arange(len(run))
    discounted = np.cumsum(10 * 0.5 * (1 / 1.05) ** k)
    np.testing.assert_allclose(run["value"], (5 + discounted) * 2, rtol=1e-12)


def test_npve_values_each_step_at_its_end(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        payment = 10 ~ $/Year ~ |
        value = NPVE(payment, 0.1, 5, 2) ~ $ ~ |
        """,
        final=4,
        step=0.5,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    # As NPV, each step's payment discounted by one step more: Excel's NPV.
    k = np.arange(len(run))
    discounted = np.cumsum(10 * 0.5 * (1 / 1.05) ** (k + 1))
    np.testing.assert_allclose(run["value"], (5 + discounted) * 2, rtol=1e-12)


# ------------------------------------------------------------ GAMMA LN, GET TIME VALUE


def test_gamma_ln_single_run_and_ensemble(tmp_path: Path) -> None:
    path = _model(tmp_path, "x = 5 ~ ~ |\ng = GAMMA LN(x) ~ ~ |\n")
    model = ns.load(path)
    single = ns.simulate(model).to_pandas()["g"]
    np.testing.assert_allclose(single, math.log(24.0), rtol=1e-15)
    many = ns.simulate(model, params={"x": [5.0, 0.5]})
    g = many.values[:, 0, many.names.index("g")]
    np.testing.assert_allclose(g, [math.log(24.0), math.log(math.sqrt(math.pi))], rtol=1e-15)


def test_get_time_value_in_simulation_time(tmp_path: Path) -> None:
    path = _model(tmp_path, "later = GET TIME VALUE(0, 2.5, 0) ~ Year ~ |\n", final=3)
    run = ns.simulate(ns.load(path)).to_pandas()
    np.testing.assert_allclose(run["later"], run.index.to_numpy() + 2.5)


def test_get_time_value_relative_to_the_initial_time(tmp_path: Path) -> None:
    path = _model(tmp_path, "since = GET TIME VALUE(1, -1, 0) ~ Year ~ |\n", final=3)
    path.write_text(path.read_text().replace("INITIAL TIME = 0", "INITIAL TIME = 1990"))
    path.write_text(path.read_text().replace("FINAL TIME = 3", "FINAL TIME = 1993"))
    run = ns.simulate(ns.load(path)).to_pandas()
    assert run.index[-1] == 1993
    np.testing.assert_array_equal(run["since"], 1989.0)


def test_time_base_is_start_plus_time_times_slope(tmp_path: Path) -> None:
    # Vensim's help: a yearly time base for a monthly model.
    path = _model(tmp_path, "decimal year = TIME BASE(1970, 1/12) ~ Year ~ |\n", final=24)
    run = ns.simulate(ns.load(path)).to_pandas()
    np.testing.assert_allclose(run["decimal year"], 1970 + run.index.to_numpy() / 12, rtol=1e-15)
    assert run["decimal year"].iloc[-1] == 1972


# ------------------------------------------------------------------ DELAY CONVEYOR


def test_delay_conveyor_delivers_its_initial_load_evenly_then_the_input(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        flat((0,1),(1,1)) ~ ~ |
        loading = STEP(20, 3) ~ ~ |
        unloading = DELAY CONVEYOR(loading, transit time, 0, flat, 100, transit time) ~ ~ |
        transit time = 4 ~ ~ |
        """,
        step=0.5,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    t = run.index.to_numpy()
    # Vensim: the initial 100 comes out at 100/4 for the 4 time units of transit, then
    # what was loaded 4 time units before.
    np.testing.assert_array_equal(run["unloading"], np.where(t < 4, 25.0, np.where(t >= 7, 20.0, 0.0)))


# --------------------------------------------------------------------- LOOKUP AREA


def test_lookup_area_gives_vensims_examples(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        LOOK((0,1),(1,1),(2,2)) ~ ~ |
        a = LOOKUP AREA(LOOK, 0, 1) ~ ~ |
        b = LOOKUP AREA(LOOK, 2, 4) ~ ~ |
        c = LOOKUP AREA(LOOK, 0.5, 2.5) ~ ~ |
        so far = LOOKUP AREA(LOOK, -1, Time) ~ ~ |
        """,
        final=3,
        step=0.5,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    # Vensim's help: 1.0, 4.0 (held at 2 past the last point) and 3.0.
    np.testing.assert_allclose(run[["a", "b", "c"]].iloc[0], [1.0, 4.0, 3.0], rtol=1e-15)
    # From -1 (held at 1), through the rise from 1 to 2 between x = 1 and 2, then held at 2.
    t = run.index.to_numpy()
    rise = np.clip(t - 1, 0, 1)
    expected = 1 + np.minimum(t, 1) + rise + rise**2 / 2 + 2 * np.maximum(t - 2, 0)
    np.testing.assert_allclose(run["so far"], expected, rtol=1e-15)


# ---------------------------------------------------------------------------- GAME


def test_game_without_a_gaming_session_is_its_argument(tmp_path: Path) -> None:
    # Vensim: GAME(x) is x unless a gaming session overrides it.
    path = _model(tmp_path, "rate = 0.5 * Time ~ ~ |\nchosen = GAME(rate + 1) ~ ~ |\n", final=4)
    run = ns.simulate(ns.load(path)).to_pandas()
    np.testing.assert_array_equal(run["chosen"], 0.5 * run.index.to_numpy() + 1)


# ---------------------------------------------------------- DEPRECIATE STRAIGHTLINE


def test_depreciate_straightline_writes_each_step_off_evenly_over_the_depreciation_time(
    tmp_path: Path,
) -> None:
    # Spending 3 $/Year, with a burst of 8 $/Year for the step at t = 2 (dt = 0.5):
    # the extra 5 * 0.5 = 2.5 $ is written off at 2.5/2 = 1.25 $/Year for the 2 years
    # starting with the step it was spent in; before, the function acts as if the
    # stream had been its initial value 3 for the last 2 years.
    path = _model(
        tmp_path,
        """
        spending = IF THEN ELSE(Time = 2, 8, 3) ~ $/Year ~ |
        depreciation = DEPRECIATE STRAIGHTLINE(spending, 2, 0.5, 3) ~ $/Year ~ |
        """,
        final=6,
        step=0.5,
    )
    model = ns.load(path)
    run = ns.simulate(model).to_pandas()
    t = run.index.to_numpy()
    expected = np.where((t >= 2) & (t < 4), 3 + 1.25, 3.0)
    np.testing.assert_allclose(run["depreciation"], expected, rtol=1e-12)
    # All of it written off: as much depreciated as spent, over the run.
    np.testing.assert_allclose((run["depreciation"] - 3).sum() * 0.5, 2.5, rtol=1e-12)
    # Saved values are those at the start of each step, whatever the method.
    np.testing.assert_allclose(ns.simulate(model, method="rk4").to_pandas()["depreciation"], expected)


def test_depreciate_straightline_reproduces_vensims_output(tmp_path: Path) -> None:
    # Vensim's own run of this model (published with SDEverywhere's models/depreciate):
    # 1e9 spent in 2022 and 2.5e9 in 2026, each written off over 20 years from its year.
    path = _model(
        tmp_path,
        """
        spending = IF THEN ELSE(Time = 2022, 1e9, IF THEN ELSE(Time = 2026, 2.5e9, 0)) ~ $ ~ |
        depreciated = DEPRECIATE STRAIGHTLINE(spending, 20, 1, 0) ~ $ ~ |
        """,
        final=2050,
    )
    path.write_text(path.read_text().replace("INITIAL TIME = 0", "INITIAL TIME = 2020"))
    run = ns.simulate(ns.load(path)).to_pandas()["depreciated"]
    vensim = [0.0] * 2 + [5e7] * 4 + [1.75e8] * 16 + [1.25e8] * 4 + [0.0] * 5
    np.testing.assert_allclose(run.to_numpy(), vensim, rtol=1e-12)
    assert run.index[0] == 2020 and run.index[-1] == 2050


def test_depreciate_straightline_starts_from_its_initial_stream(tmp_path: Path) -> None:
    path = _model(tmp_path, "d = DEPRECIATE STRAIGHTLINE(10, 3, 1, 4) ~ ~ |\n", final=5)
    run = ns.simulate(ns.load(path)).to_pandas()
    # Spending 10 replaces the initial 4 one year at a time: (10 + 4 + 4)/3, (10 + 10 + 4)/3, 10.
    np.testing.assert_allclose(run["d"], [6, 8, 10, 10, 10, 10], rtol=1e-12)


# ------------------------------------------------------------------------- RANDOM

RANDOM = """
u = RANDOM UNIFORM(2, 4, 0) ~ ~ |
v = RANDOM UNIFORM(2, 4, 0) ~ ~ |
n = RANDOM NORMAL(-1, 3, 1, 2, 0) ~ ~ |
e = RANDOM EXPONENTIAL(1, 4, 1, 0.5, 0) ~ ~ |
p = RANDOM POISSON(0, 6, 2, 0, 1, 0) ~ ~ |
z = RANDOM 0 1() ~ ~ |
scale = 1 ~ ~ |
"""


@pytest.fixture
def random_model(tmp_path: Path) -> ns.Model:
    return ns.load(_model(tmp_path, RANDOM, final=200))


def test_a_run_is_reproduced_from_its_seed(random_model: ns.Model) -> None:
    first = ns.simulate(random_model, seed=7).values
    again = ns.simulate(random_model, seed=7).values
    other = ns.simulate(random_model, seed=8).values
    np.testing.assert_array_equal(first, again)
    names = ns.simulate(random_model).names
    u = names.index("u")
    assert not np.array_equal(first[0, :, u], other[0, :, u])
    # The seed is reported with the run, and params may set it too.
    assert first[0, 0, names.index("NOISE SEED")] == 7
    np.testing.assert_array_equal(ns.simulate(random_model, params={"noise seed": 7}).values, first)
    with pytest.raises(ParameterError, match="either"):
        ns.simulate(random_model, seed=1, params={"NOISE SEED": 2})


def test_each_call_site_and_each_step_draws_its_own_numbers(random_model: ns.Model) -> None:
    run = ns.simulate(random_model).to_pandas()
    assert not np.array_equal(run["u"], run["v"])
    assert len(np.unique(run["u"])) == len(run)


def test_distributions_stay_in_bounds_with_the_expected_moments(tmp_path: Path) -> None:
    run = ns.simulate(ns.load(_model(tmp_path, RANDOM, final=3000)), seed=1).to_pandas()
    n_draws = len(run)  # 3001 draws each: the means' standard errors are about 0.02
    assert run["u"].between(2, 4).all() and abs(run["u"].mean() - 3) < 0.05
    assert run["z"].between(0, 1).all() and abs(run["z"].mean() - 0.5) < 0.025
    assert run["n"].between(-1, 3).all()
    # A normal(1, 2) truncated symmetrically about its mean keeps the mean.
    assert abs(run["n"].mean() - 1) < 0.06
    # shift 1 + 0.5 * an exponential(1), cut at 4 (e < 6: almost never).
    assert run["e"].between(1, 4).all() and abs(run["e"].mean() - 1.5) < 0.05
    counts = run["p"].to_numpy()
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0 and counts.max() <= 6
    assert abs(counts.mean() - 2) < 0.1
    assert n_draws == 3001


def test_ensemble_members_draw_from_their_own_streams(random_model: ns.Model) -> None:
    many = ns.simulate(random_model, seed=10, params={"scale": [1.0, 1.0, 1.0]})
    u = many.names.index("u")
    assert not np.array_equal(many.values[0, :, u], many.values[1, :, u])
    # Member j is the single run with seed 10 + j, drawn by the other kernel flavour.
    for j in range(3):
        np.testing.assert_array_equal(many.values[j], ns.simulate(random_model, seed=10 + j).values[0])


def test_run_ensemble_seeds_members_by_row_whatever_the_chunks(random_model: ns.Model) -> None:
    samples = {"scale": np.ones(6)}
    small = run_ensemble(random_model, samples, save=["u"], chunk_size=2, progress=False)
    large = run_ensemble(random_model, samples, save=["u"], chunk_size=6, progress=False)
    np.testing.assert_array_equal(small.outcomes("mean"), large.outcomes("mean"))
    assert small.outcomes("mean")["u"].nunique() == 6


def test_rk4_draws_at_its_half_steps(random_model: ns.Model) -> None:
    run = ns.simulate(random_model, method="rk4").to_pandas()
    euler = ns.simulate(random_model).to_pandas()
    # Saved values are those at the start of each step: the same draws as Euler's.
    np.testing.assert_array_equal(run["u"], euler["u"])


def test_macro_copies_draw_separately(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        :MACRO: NOISY(level)
        NOISY = level + RANDOM UNIFORM(0, 1, 0) ~ ~ |
        :END OF MACRO:
        a = NOISY(0) ~ ~ |
        b = NOISY(0) ~ ~ |
        """,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    assert not np.array_equal(run["a"], run["b"])


def test_random_with_the_wrong_arguments_is_refused(tmp_path: Path) -> None:
    path = _model(tmp_path, "x = RANDOM UNIFORM(0, 1) ~ ~ |\n")
    with pytest.raises(ModelSyntaxError, match="RANDOM UNIFORM takes 3 arguments, found 2") as caught:
        ns.load(path)
    assert (caught.value.variable, caught.value.line) == ("x", 2)


# -------------------------------------------------------------------- Reality Checks


def test_reality_checks_are_kept_with_the_model(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        no output without workers :THE CONDITION: workers = 0 :IMPLIES: output = 0 ~ ~ |
        no workers :TEST INPUT: workers = STEP(-workers, 2) ~ ~ |
        workers = 4 ~ ~ |
        output = workers * 2 ~ ~ |
        """,
    )
    model = ns.load(path)
    checks = model.checks
    as_written = [RealityCheck(c.name, c.test_input, c.condition, c.consequence, c.line) for c in checks]
    assert as_written == [
        RealityCheck("no output without workers", False, "workers = 0", "output = 0", line=3),
        RealityCheck("no workers", True, "workers = STEP(-workers, 2)", line=4),
    ]
    # Parsed as equations too, a test input as the equality it states.
    workers, output = Ref("workers"), Ref("output")
    assert model.checks[0].condition_expr == Binary(Op.EQ, workers, Number(0.0))
    assert model.checks[0].consequence_expr == Binary(Op.EQ, output, Number(0.0))
    step = Call("step", (Unary(UnaryOp.NEG, workers), Number(2.0)))
    assert model.checks[1].condition_expr == Binary(Op.EQ, workers, step)
    # They do not change the run.
    assert ns.simulate(model).to_pandas()["output"].iloc[-1] == 8


def test_a_reality_check_is_parsed_under_the_guard(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"WITH LOOKUP(1, ([(__import__('os').system('touch {marker}'), 0)], (0, 0), (1, 1)))"
    path = _model(tmp_path, f"check :THE CONDITION: {payload} > 0 :IMPLIES: a = 1 ~ ~ |\na = 1 ~ ~ |\n")
    model = ns.load(path)
    assert model.checks[0].condition_expr is None and not marker.exists()
    assert model.checks[0].consequence_expr == Binary(Op.EQ, Ref("a"), Number(1.0))


# --------------------------------------------------- what is refused, and how it says so

UNSUPPORTED = {
    "DEPRECIATE STRAIGHTLINE(1, 4, 2, 0)": "DEPRECIATE STRAIGHTLINE with a fiscal period other than",
    "DEPRECIATE STRAIGHTLINE(1, 2.5, 1, 0)": "DEPRECIATE STRAIGHTLINE over 2.5 time steps",
    "DELAY CONVEYOR(1, 2, 0.1, first, 0, 2)": "DELAY CONVEYOR with leakage, an initial profile",
    "DELAY CONVEYOR(1, 2, 0, first, 0, 3)": "DELAY CONVEYOR with leakage, an initial profile",
    "RANDOM TRIANGULAR(0, 1, 0.2, 0.5, 0.8, 0)": "RANDOM TRIANGULAR",
    "RANDOM BETA(0, 1, 2, 3, 0, 1, 0)": "RANDOM BETA",
    "RANDOM WEIBULL(0, 10, 1, 1, 1, 0, 0)": "RANDOM WEIBULL",
    "RANDOM BINOMIAL(0, 10, 0.5, 10, 0, 1, 0)": "RANDOM BINOMIAL",
    "GET DATA AT TIME(1, 2)": "GET DATA AT TIME",
    "LOOKUP AREA(first, 0, 1)": "LOOKUP AREA of anything but the name of a lookup",
    "SHIFT IF TRUE(1, 1, 1, 1, 0)": "SHIFT IF TRUE",
    "GET TIME VALUE(2, 0, 0)": "GET TIME VALUE of the computer's clock",
    "GET TIME VALUE(0, 0, 3)": "GET TIME VALUE in calendar measures",
    "GET TIME VALUE(1, 0, 1)": "GET TIME VALUE in calendar measures",
    "GET TIME VALUE(first, 0, 0)": "GET TIME VALUE with a computed relativeto",
}


@pytest.mark.parametrize("call", list(UNSUPPORTED))
def test_unsupported_functions_fail_at_load_with_name_variable_and_line(tmp_path: Path, call: str) -> None:
    path = _model(tmp_path, f"first = 1 ~ ~ |\nsecond = 1 + {call} ~ ~ |\n")
    with pytest.raises(UnsupportedError) as caught:
        ns.load(path)
    error = caught.value
    assert UNSUPPORTED[call] in str(error) and "not supported" in str(error)
    assert (error.variable, error.line) == ("second", 3)


def test_native_kernels_run_depreciation_as_the_interpreter_does(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        spending = 3 + STEP(5, 2) - STEP(5, 2.5) ~ $/Year ~ |
        depreciation = DEPRECIATE STRAIGHTLINE(spending, 2, 0.5, 3) ~ $/Year ~ |
        since start = GET TIME VALUE(1, 0.5, 0) ~ Year ~ |
        """,
        final=6,
        step=0.5,
    )
    model = ns.load(path)
    native = ns.compile_model(model, native=True)
    assert native.native
    np.testing.assert_array_equal(
        ns.simulate(native).values, ns.simulate(ns.compile_model(model, native=False)).values
    )


def test_depreciation_and_lookup_area_of_arrays_work_element_by_element(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        """
        region: north, south ~ ~ |
        base[region] = 3, 4 ~ ~ |
        spending[region] = base[region] + IF THEN ELSE(Time = 2, 5, 0) ~ ~ |
        depreciation[region] = DEPRECIATE STRAIGHTLINE(spending[region], 2, 1, base[region]) ~ ~ |
        LOOK((0,1),(1,1),(2,2)) ~ ~ |
        area[region] = LOOKUP AREA(LOOK, 0, base[region] - 2) ~ ~ |
        """,
        final=5,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    burst = np.array([0, 0, 2.5, 2.5, 0, 0])  # 5 spent at t = 2, over 2 years
    np.testing.assert_allclose(run["depreciation[north]"], 3 + burst, rtol=1e-12)
    np.testing.assert_allclose(run["depreciation[south]"], 4 + burst, rtol=1e-12)
    # Areas up to 1 and up to 2: 1, and 1 + (1 + 2)/2.
    np.testing.assert_allclose(run[["area[north]", "area[south]"]].iloc[0], [1.0, 2.5], rtol=1e-15)
