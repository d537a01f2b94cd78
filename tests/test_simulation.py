"""The engine against analytic solutions: exact discrete Euler/RK4 formulas, the
continuous solutions for scipy's adaptive methods, and ensembles against single runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.errors import ParameterError, SimulationError, UnsupportedError

DECAY = """{UTF-8}
Stock = INTEG(-Outflow, 100) ~ widgets ~ |
Outflow = Stock / Lifetime ~ widgets/Month ~ |
Lifetime = 4 ~ Month [1,10,0.5] ~ Average residence time. |
FINAL TIME = 10 ~ Month ~ |
INITIAL TIME = 0 ~ Month ~ |
SAVEPER = 1 ~ Month ~ |
TIME STEP = 0.25 ~ Month ~ |
"""

LOGISTIC = """{UTF-8}
Population = INTEG(Births - Deaths, 10) ~ people ~ |
Births = Population * Growth rate ~ people/Year ~ |
Deaths = Population * Growth rate * Population / Capacity ~ people/Year ~ |
Growth rate = 0.5 ~ 1/Year ~ |
Capacity = 1000 ~ people ~ |
FINAL TIME = 30 ~ Year ~ |
INITIAL TIME = 0 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
TIME STEP = 0.0625 ~ Year ~ |
"""

GOAL = """{UTF-8}
Level = INTEG((Goal - Level) / Adjustment time, 0) ~ units ~ |
Goal = 50 + STEP(50, 5) ~ units ~ |
Adjustment time = 2 ~ Week ~ |
Divergent = 1 / (Level - 25) ~ 1/units ~ |
FINAL TIME = 20 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 0.5 ~ Week ~ |
TIME STEP = 0.5 ~ Week ~ |
"""


def write(tmp_path: Path, text: str, name: str = "model.mdl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def decay(tmp_path: Path) -> ns.Model:
    return ns.load(write(tmp_path, DECAY))


def test_euler_is_the_exact_discrete_solution(decay: ns.Model) -> None:
    run = ns.simulate(decay)
    assert np.array_equal(run.times, np.arange(11.0))  # SAVEPER 1 of a 0.25 step: every 4th step
    expected = 100 * (1 - 0.25 / 4) ** (4 * run.times)
    assert np.allclose(run["Stock"], expected, rtol=1e-13)
    assert np.allclose(run["Outflow"], expected / 4, rtol=1e-13)
    assert np.all(run["Lifetime"] == 4)


def test_rk4_matches_its_discrete_formula(decay: ns.Model) -> None:
    h, k = 0.25, -1 / 4
    z = h * k
    growth = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24  # RK4's amplification factor on y' = ky
    run = ns.simulate(decay, method="rk4")
    assert np.allclose(run["Stock"], 100 * growth ** (run.times / h), rtol=1e-12)


@pytest.mark.parametrize("method", ["RK45", "LSODA", "BDF", "Radau", "DOP853"])
def test_adaptive_methods_reach_the_continuous_solution(decay: ns.Model, method: str) -> None:
    run = ns.simulate(decay, method=method, rtol=1e-10, atol=1e-10)
    assert np.allclose(run["Stock"], 100 * np.exp(-run.times / 4), rtol=1e-6)


def test_logistic_growth_converges_to_the_analytic_curve(tmp_path: Path) -> None:
    model = ns.load(write(tmp_path, LOGISTIC))
    t = np.linspace(0, 30, 481)
    exact = 1000 / (1 + (1000 / 10 - 1) * np.exp(-0.5 * t))
    euler = ns.simulate(model)["Population"]
    rk4 = ns.simulate(model, method="rk4")["Population"]
    assert 5 < np.max(np.abs(euler - exact)) < 20  # first order: a visible error of about 1%
    assert np.max(np.abs(rk4 - exact)) < 1e-4  # fourth order at dt = 1/16
    halved = ns.simulate(model, params={"TIME STEP": 0.03125})
    assert np.max(np.abs(halved["Population"][::2] - exact)) < np.max(np.abs(euler - exact)) / 1.8


def test_step_switches_half_a_step_early_as_vensim_does(tmp_path: Path) -> None:
    run = ns.simulate(ns.load(write(tmp_path, GOAL)))
    goal = run["Goal"]
    assert goal[run.times < 5].tolist() == [50.0] * 10
    assert goal[run.times >= 5].min() == 100.0
    level = run["Level"]
    # first-order goal seeking, Euler at dt 0.5 with T = 2: the gap shrinks by 3/4 per step
    assert np.allclose(level[:11], 50 * (1 - 0.75 ** np.arange(11)))


def test_array_params_run_an_ensemble_identical_to_single_runs(decay: ns.Model) -> None:
    lifetimes = np.array([1.0, 2.5, 4.0, 9.0])
    ensemble = ns.simulate(decay, params={"Lifetime": lifetimes})
    assert ensemble.values.shape == (4, 11, len(ensemble.names))
    for i, lifetime in enumerate(lifetimes):
        single = ns.simulate(decay, params={"lifetime": lifetime})
        assert np.array_equal(ensemble["Stock"][i], single["Stock"])
    assert np.array_equal(ensemble["Lifetime"][:, 0], lifetimes)
    frame = ensemble.to_pandas()
    assert frame.index.names == ["run", "time"] and len(frame) == 44
    dataset = ensemble.to_xarray()
    assert dataset["Stock"].dims == ("run", "time")


def test_ensembles_work_with_rk4_and_solve_ivp(decay: ns.Model) -> None:
    lifetimes = np.array([2.0, 4.0])
    for method in ("rk4", "RK45"):
        ensemble = ns.simulate(decay, params={"Lifetime": lifetimes}, method=method, rtol=1e-9, atol=1e-9)
        for i, lifetime in enumerate(lifetimes):
            single = ns.simulate(decay, params={"Lifetime": lifetime}, method=method, rtol=1e-9, atol=1e-9)
            assert np.allclose(ensemble["Stock"][i], single["Stock"], rtol=1e-7)


def test_return_columns_keeps_only_what_was_asked(decay: ns.Model) -> None:
    run = ns.simulate(decay, return_columns=["outflow", "Lifetime"])
    assert run.names == ("Outflow", "Lifetime")
    assert np.allclose(run["Outflow"], ns.simulate(decay)["Outflow"])
    with pytest.raises(ParameterError, match="not a variable"):
        ns.simulate(decay, return_columns=["nothing"])


def test_bad_parameters_are_clear_errors(decay: ns.Model) -> None:
    with pytest.raises(ParameterError, match=r"'Lifetim'.*did you mean 'Lifetime'"):
        ns.simulate(decay, params={"Lifetim": 3})
    with pytest.raises(ParameterError, match="'Outflow' is a auxiliary, not a constant"):
        ns.simulate(decay, params={"Outflow": 3})
    with pytest.raises(ParameterError, match="expected a number"):
        ns.simulate(decay, params={"Lifetime": "long"})
    with pytest.raises(ParameterError, match="expected 2 values"):
        ns.simulate(decay, params={"Lifetime": [1, 2], "FINAL TIME": [1, 2, 3]})
    with pytest.raises(ParameterError, match="unknown method"):
        ns.simulate(decay, method="leapfrog")
    with pytest.raises(ValueError):  # every ParameterError is also a ValueError
        ns.simulate(decay, params={"Lifetime": np.ones((2, 2))})


def test_nan_stops_the_run_naming_the_variable_and_time(tmp_path: Path) -> None:
    model = ns.load(write(tmp_path, GOAL))
    with pytest.raises(SimulationError) as caught:
        ns.simulate(model, params={"Adjustment time": 1.0})  # Level goes 0, 25: 1/(Level - 25) at t=0.5
    error = caught.value
    assert error.variable == "Divergent" and error.time == 0.5
    assert "Level=0" in str(error)
    run = ns.simulate(model, params={"Adjustment time": 1.0}, on_nonfinite="ignore")
    assert np.isinf(run["Divergent"][1])


def test_nan_in_an_ensemble_is_reported_too(tmp_path: Path) -> None:
    model = ns.load(write(tmp_path, GOAL))
    with pytest.raises(SimulationError, match=r"'Divergent' became infinite at t=0\.5"):
        ns.simulate(model, params={"Adjustment time": np.array([2.0, 1.0])})


def test_adaptive_methods_refuse_discrete_state(tmp_path: Path) -> None:
    text = DECAY.replace("Lifetime = 4", "Lifetime = 4 + Sampled * 0") + (
        "Sampled = SAMPLE IF TRUE(Time = 3, Stock, 0) ~ widgets ~ |\n"
    )
    model = ns.load(write(tmp_path, text))
    with pytest.raises(UnsupportedError, match="discrete state"):
        ns.simulate(model, method="RK45")
    assert ns.simulate(model, method="euler")["Sampled"][-1] == pytest.approx(
        ns.simulate(model)["Stock"][3], rel=1e-12
    )


def test_a_compiled_model_pickles_by_recompiling(decay: ns.Model) -> None:
    import pickle

    compiled = ns.compile_model(decay)
    clone = pickle.loads(pickle.dumps(compiled))
    assert np.array_equal(ns.simulate(clone)["Stock"], ns.simulate(compiled)["Stock"])
    assert ns.compile_model(decay) is compiled  # compiled once, cached by model


def test_equation_function_evaluates_one_equation_vectorised(decay: ns.Model) -> None:
    inputs, function = ns.compile_model(decay).equation_function("Outflow")
    assert inputs == ("lifetime", "stock")
    assert np.allclose(function(np.array([2.0, 4.0]), np.array([10.0, 10.0])), [5.0, 2.5])


def test_run_writes_csv_and_parquet(decay: ns.Model, tmp_path: Path) -> None:
    import pandas as pd

    run = ns.simulate(decay)
    for name in ("out.csv", "out.parquet"):
        path = run.write(tmp_path / name)
        frame = pd.read_csv(path) if name.endswith("csv") else pd.read_parquet(path)
        assert list(frame.columns[:2]) == ["time", "Stock"]
        assert np.allclose(frame["Stock"], run["Stock"])
    with pytest.raises(ParameterError, match=r"expected a \.csv"):
        run.write(tmp_path / "out.xlsx")


@pytest.mark.parametrize(
    "case",
    [
        "samples/SIR/SIR.mdl",
        "tests/lookups/test_lookups.mdl",
        "tests/smooth/test_smooth.mdl",
        "tests/delay_fixed/test_delay_fixed.mdl",
        "tests/xidz_zidz/xidz_zidz.mdl",
    ],
)
def test_native_kernels_agree_with_the_interpreter(case: str) -> None:
    from conftest import TEST_MODELS

    model = ns.load(TEST_MODELS / case)
    interpreted = ns.simulate(ns.compile_model(model, native=False))
    native = ns.compile_model(model, native=True)
    if not native.native:
        pytest.fail("numba is a dependency: native kernels must be available")
    assert np.allclose(ns.simulate(native).values, interpreted.values, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_native_ensembles_agree_with_numpy_ensembles() -> None:
    from conftest import TEST_MODELS

    model = ns.load(TEST_MODELS / "samples/SIR/SIR.mdl")
    params = {"Contact Infectivity": np.linspace(0.1, 0.5, 7), "Duration": np.linspace(3, 8, 7)}
    numpy_run = ns.simulate(ns.compile_model(model, native=False), params=params)
    native_run = ns.simulate(ns.compile_model(model, native=True), params=params)
    assert np.allclose(native_run.values, numpy_run.values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("case", "name"),
    [
        ("samples/SIR/SIR.mdl", "Duration"),
        ("samples/teacup/teacup.mdl", "Room Temperature"),
        ("tests/smooth/test_smooth.mdl", "Initial Value"),
        ("tests/xidz_zidz/xidz_zidz.mdl", "numerator"),
        ("services60", "Target caseload"),  # lookups, SMOOTH3I, DELAY3, TREND, PULSE
    ],
)
def test_native_ensembles_of_any_size_agree_with_native_single_runs(case: str, name: str) -> None:
    """Members run two at a time in machine code; an odd count completes the last pair
    with a copy that is dropped. Every member must be its own single run, exactly."""
    from conftest import ROOT, TEST_MODELS

    path = ROOT / "models" / "benchmark" / "services60.mdl" if case == "services60" else TEST_MODELS / case
    compiled = ns.compile_model(ns.load(path), native=True)
    default = compiled.defaults[compiled.parameters.index(name)]
    scales = np.array([1.0, 0.8, 1.25])
    ensemble = ns.simulate(compiled, params={name: default * scales})
    assert ensemble.values.shape[0] == 3
    for i, scale in enumerate(scales):
        single = ns.simulate(compiled, params={name: default * scale})
        assert np.array_equal(ensemble.values[i], single.values[0], equal_nan=True)


def test_native_runs_report_nan_as_the_interpreter_does(tmp_path: Path) -> None:
    compiled = ns.compile_model(ns.load(write(tmp_path, GOAL)), native=True)
    with pytest.raises(SimulationError) as caught:
        ns.simulate(compiled, params={"Adjustment time": 1.0})
    assert caught.value.variable == "Divergent" and caught.value.time == 0.5
    with pytest.raises(SimulationError, match=r"'Divergent' became infinite at t=0\.5"):
        ns.simulate(compiled, params={"Adjustment time": np.array([2.0, 3.0, 1.0])})
    run = ns.simulate(compiled, params={"Adjustment time": 1.0}, on_nonfinite="ignore")
    assert np.isinf(run["Divergent"][1])


def test_native_return_columns_write_constants_and_variables_in_the_order_asked(decay: ns.Model) -> None:
    compiled = ns.compile_model(decay, native=True)
    lifetimes = np.array([2.0, 4.0, 8.0])
    columns = ["Lifetime", "Stock", "TIME STEP"]
    run = ns.simulate(compiled, params={"Lifetime": lifetimes}, return_columns=columns)
    assert run.names == ("Lifetime", "Stock", "TIME STEP")
    assert np.array_equal(run["Lifetime"], np.repeat(lifetimes[:, None], 11, axis=1))
    assert np.all(run["TIME STEP"] == 0.25)
    # Euler at dt 0.25 keeps (1 - 0.25/L) of the stock per step, four steps per saved month
    months = np.arange(11)
    assert np.allclose(run["Stock"], 100 * (1 - 0.25 / lifetimes[:, None]) ** (4 * months), rtol=1e-12)


def test_generated_kernels_do_not_depend_on_string_hashing() -> None:
    """The native compile cache is keyed by the kernel's text: it must be the same in
    every process, whatever PYTHONHASHSEED randomises."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    script = (
        "import hashlib, nestedsystems as ns\n"
        "from nestedsystems.compiler import _Source, SCALAR\n"
        f"path = {str(ROOT / 'models' / 'benchmark' / 'services60.mdl')!r}\n"
        "c = ns.compile_model(ns.load(path), native=False)\n"
        "text = _Source(c.model, c._layout, SCALAR, {}).euler_native()\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1, digests


def test_one_native_kernel_serves_every_choice_of_columns() -> None:
    """The columns a run saves are an argument of the machine code, not part of its
    text: a large model compiles once, not once per ``return_columns``."""
    from conftest import TEST_MODELS

    model = ns.load(TEST_MODELS / "tests/smooth/test_smooth.mdl")
    interpreted = ns.compile_model(model, native=False)
    native = ns.compile_model(model, native=True)
    inner = next(v.name for v in model.variables if v.origin is not None)  # the SMOOTH's own stock
    everything = [v.name for v in model.variables if v.kind is not ns.Kind.LOOKUP]
    choices = [
        None,  # the default columns, written directly
        [inner],
        ["FINAL TIME", inner, model.stocks[0].name],
        everything[::-1],  # every variable, in any order
        everything[::2],
    ]
    durations = {"Initial Value": np.array([1.0, 2.0, 3.0])}
    for columns in choices:
        for params in ({}, durations):
            ours = ns.simulate(native, params=params, return_columns=columns)
            theirs = ns.simulate(interpreted, params=params, return_columns=columns)
            assert ours.names == theirs.names
            assert np.allclose(ours.values, theirs.values, rtol=1e-12, atol=1e-12)
    assert sorted(native._native_kernels) == [False, True]
    assert all(len(kernel.signatures) == 1 for kernel in native._native_kernels.values())


def test_a_control_value_is_read_from_the_parameters_else_from_the_model() -> None:
    from conftest import TEST_MODELS
    from nestedsystems.simulation import control_value

    teacup = ns.load(TEST_MODELS / "samples/teacup/teacup.mdl")  # TIME STEP 0.125, SAVEPER = TIME STEP
    assert control_value(teacup, {}, "time step") == 0.125
    assert control_value(teacup, {"Time_Step": 0.5}, "time step") == 0.5  # matched as Vensim does
    assert control_value(teacup, {"SAVEPER": 1}, "saveper") == 1.0
    with pytest.raises(ParameterError, match="SAVEPER is given by an equation"):
        control_value(teacup, {}, "saveper")


POWERS = """{UTF-8}
Base = INTEG(-1, 2) ~ units ~ |
Root = Base ^ 0.5 ~ units ~ |
Square = Base ^ 2 ~ units ~ |
Inverse = POWER(Base, -1) ~ 1/units ~ |
FINAL TIME = 4 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 0.5 ~ Week ~ |
TIME STEP = 0.5 ~ Week ~ |
"""


@pytest.mark.parametrize("native", [False, True])
def test_powers_outside_their_domain_stop_the_run_as_vensim_does(tmp_path: Path, native: bool) -> None:
    """Vensim computes a power exactly for a whole exponent (a negative base squared is
    positive) and as EXP(x * LN(base)) otherwise: a negative base to 0.5, or 0 to -1,
    is a floating point error that stops it. Both kernels stop on the first one."""
    compiled = ns.compile_model(ns.load(write(tmp_path, POWERS)), native=native)
    assert compiled.native is native
    with pytest.raises(SimulationError, match=r"'Inverse' became infinite at t=2\b"):
        ns.simulate(compiled)
    run = ns.simulate(compiled, on_nonfinite="ignore")
    base = 2 - run.times
    assert np.array_equal(run["Square"], base**2)
    assert np.array_equal(run["Root"][base >= 0], np.sqrt(base[base >= 0]))
    assert np.isnan(run["Root"][base < 0]).all()
    assert np.isinf(run["Inverse"][base == 0]).all()
