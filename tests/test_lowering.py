"""Stateful functions lowered to stocks and memories, checked against the exact
solutions of the Euler recurrences Vensim computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.errors import UnsupportedError
from nestedsystems.expressions import STATEFUL_FUNCTIONS, Call, Number, Ref, walk
from nestedsystems.lowering import lower
from nestedsystems.model import Kind, Model, Variable

DT = 0.25


def run(tmp_path: Path, equations: str, final_time: float = 10.0) -> tuple[Model, ns.Run]:
    control = (
        f"INITIAL TIME = 0\n~ Month\n~ |\nFINAL TIME = {final_time}\n~ Month\n~ |\n"
        f"TIME STEP = {DT}\n~ Month\n~ |\nSAVEPER = TIME STEP\n~ Month\n~ |\n"
    )
    path = tmp_path / "lowering.mdl"
    text = "{UTF-8}\n" + "".join(f"{line}\n~\n~ |\n" for line in equations.strip().splitlines()) + control
    path.write_text(text, encoding="utf-8")
    model = ns.load(path)
    return model, ns.simulate(model)


def test_smooth_step_response_is_the_euler_solution(tmp_path: Path) -> None:
    model, result = run(tmp_path, "out = SMOOTHI(1, 2, 0)")
    n = np.arange(len(result.times))
    np.testing.assert_allclose(result["out"], 1 - (1 - DT / 2) ** n, rtol=0, atol=1e-14)
    stock = model["SMOOTH of out"]
    assert (stock.kind, stock.origin) == (Kind.STOCK, "out")


def test_smooth_starts_at_the_input_and_follows_a_step(tmp_path: Path) -> None:
    _, result = run(tmp_path, "input = 5 + STEP(1, 3)\nout = SMOOTH(input, 2)")
    times = result.times
    k = np.maximum(0, np.round((times - 3) / DT))  # steps since the input jumped
    np.testing.assert_allclose(result["out"], 6 - (1 - DT / 2) ** k, rtol=0, atol=1e-12)
    assert result["out"][times <= 3].tolist() == [5.0] * int(np.sum(times <= 3))


def test_smooth3_is_three_first_order_stages(tmp_path: Path) -> None:
    model, result = run(tmp_path, "out = SMOOTH3I(1, 3, 0)")
    stages = np.zeros(3)
    expected = []
    for _ in result.times:
        expected.append(stages[2])
        targets = np.array([1.0, stages[0], stages[1]])
        stages = stages + DT * (targets - stages) / (3 / 3)
    np.testing.assert_allclose(result["out"], expected, rtol=0, atol=1e-13)
    assert [v.name for v in model.variables if v.origin == "out"] == [
        "SMOOTH3 of out [1]",
        "SMOOTH3 of out [2]",
        "SMOOTH3 of out [3]",
    ]


def test_smooth_n_takes_its_order_at_the_initial_time(tmp_path: Path) -> None:
    model, _ = run(tmp_path, "order = 2 + STEP(5, 1)\nout = SMOOTH N(1, 4, 0, order)")
    assert len([v for v in model.stocks if v.origin == "out"]) == 2


def test_delay1_holds_input_times_delay_and_follows_a_step(tmp_path: Path) -> None:
    model, result = run(tmp_path, "input = STEP(1, 1)\nout = DELAY1(input, 2)")
    assert model["DELAY1 of out [1]"].initial is not None
    k = np.maximum(0, np.round((result.times - 1) / DT))
    np.testing.assert_allclose(result["out"], 1 - (1 - DT / 2) ** k, rtol=0, atol=1e-13)


def test_delay3_starts_in_equilibrium_and_conserves_material(tmp_path: Path) -> None:
    model, result = run(tmp_path, "out = DELAY3I(4 + PULSE(1, 1), 3, 4)", final_time=40)
    # At its initial value the delay passes 4 through; the pulse (area 1) comes out later.
    assert result["out"][0] == 4.0
    excess = np.sum(result["out"] - 4.0) * DT
    assert excess == pytest.approx(1.0, abs=1e-3)
    stages = [v for v in model.stocks if v.origin == "out"]
    assert [s.name for s in stages] == ["DELAY3 of out [1]", "DELAY3 of out [2]", "DELAY3 of out [3]"]


def test_delay_n_reduces_its_order_when_the_delay_is_shorter_than_the_steps(tmp_path: Path) -> None:
    model, _ = run(tmp_path, "out = DELAY N(1, 0.5, 1, 4)")  # 4 stages of 0.25 each: 4*0.25 > 0.5
    assert len([v for v in model.stocks if v.origin == "out"]) == 2


def test_delay_fixed_shifts_by_whole_steps(tmp_path: Path) -> None:
    model, result = run(tmp_path, "out = DELAY FIXED(Time, 1.1, -1)")
    # 1.1 / 0.25 = 4.4 steps, rounded to 4: out(t) = t - 1 from t = 1 on.
    times = result.times
    expected = np.where(times >= 1.0, times - 1.0, -1.0)
    np.testing.assert_array_equal(result["out"], expected)
    assert len([v for v in model.variables if v.kind is Kind.MEMORY]) == 4


def test_delay_fixed_needs_a_delay_known_at_the_start(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match="delay time") as caught:
        run(tmp_path, "out = DELAY FIXED(Time, PULSE TRAIN(0, 1, 2, 9), 0)")
    assert caught.value.variable == "out"


def test_sample_if_true_holds_the_last_sample(tmp_path: Path) -> None:
    _, result = run(tmp_path, "out = SAMPLE IF TRUE(Time >= 2 :AND: Time <= 3, Time, -7)")
    times = result.times
    expected = np.where(times < 2, -7.0, np.minimum(times, 3.0))
    np.testing.assert_array_equal(result["out"], expected)


def test_initial_keeps_its_first_value(tmp_path: Path) -> None:
    model, result = run(tmp_path, "out = INITIAL(Time + 5) * 2")
    assert set(result["out"]) == {10.0}
    assert model["INITIAL of out"].kind is Kind.MEMORY


def test_active_initial_inside_an_expression(tmp_path: Path) -> None:
    _, result = run(tmp_path, "x = 1 + ACTIVE INITIAL(Time, 45)\nstock = INTEG(0, x)")
    assert result["stock"][0] == 46.0
    assert result["x"][1] == 1 + DT


def test_trend_matches_its_recurrence(tmp_path: Path) -> None:
    _, result = run(tmp_path, "input = 100 * EXP(0.1 * Time)\nout = TREND(input, 2, 0.05)")
    average = 100 / (1 + 0.05 * 2)
    expected = []
    for t in result.times:
        value = 100 * np.exp(0.1 * t)
        expected.append((value - average) / (2 * abs(average)))
        average += DT * (value - average) / 2
    np.testing.assert_allclose(result["out"], expected, rtol=1e-12)
    assert expected[0] == pytest.approx(0.05)


def test_forecast_extrapolates_the_trend(tmp_path: Path) -> None:
    _, result = run(tmp_path, "input = 10 + Time\nout = FORECAST(input, 2, 3)")
    average = 10.0
    expected = []
    for t in result.times:
        value = 10 + t
        expected.append(value * (1 + (value - average) / (2 * abs(average)) * 3))
        average += DT * (value - average) / 2
    np.testing.assert_allclose(result["out"], expected, rtol=1e-12)


def test_two_calls_in_one_equation_get_distinct_names(tmp_path: Path) -> None:
    model, _ = run(tmp_path, "input = 1\nout = SMOOTH(input, 2) + SMOOTH(input, 3)")
    names = [v.name for v in model.variables if v.origin == "out"]
    assert names == ["SMOOTH of out", "SMOOTH of out (2)"]


def test_lowering_leaves_no_stateful_call_and_is_idempotent() -> None:
    model = Model(
        variables=(
            Variable("a", Kind.CONSTANT, Number(1.0), group="Sector"),
            Variable(
                "b", Kind.AUXILIARY, Call("smooth", (Ref("a"), Number(2.0), Call("initial", (Ref("a"),))))
            ),
            Variable("initial time", Kind.CONSTANT, Number(0.0)),
            Variable("time step", Kind.CONSTANT, Number(1.0)),
        )
    )
    lowered = lower(model)
    for variable in lowered.variables:
        for expression in (variable.equation, variable.initial):
            if isinstance(expression, (Ref, Call, Number)) or expression is not None:
                nodes = walk(expression) if not hasattr(expression, "x") else ()
                assert not any(isinstance(n, Call) and n.function in STATEFUL_FUNCTIONS for n in nodes)
    assert lower(lowered) == lowered
    smooth = lowered["SMOOTH of b"]
    assert smooth.initial == Ref("initial of b")


ORACLE_MODEL = """\
{UTF-8}
input = 5 + STEP(2, 1) + RAMP(0.5, 3, 6) + 0.5 * SIN(Time)
	~
	~	|
smoothing time = 2 + STEP(1, 4)
	~
	~	|
s1 = SMOOTH(input, smoothing time)
	~
	~	|
s3 = SMOOTH3I(input, smoothing time, 1)
	~
	~	|
sn = SMOOTH N(input, smoothing time, 2, 4)
	~
	~	|
d1 = DELAY1(input, smoothing time)
	~
	~	|
d3 = DELAY3I(input, smoothing time, 3)
	~
	~	|
dn = DELAY N(input, 3, 2, 5)
	~
	~	|
df = DELAY FIXED(input, 1.3, 4)
	~
	~	|
tr = TREND(input, 2, 0.1)
	~
	~	|
fc = FORECAST(input, 2, 3)
	~
	~	|
sit = SAMPLE IF TRUE(MODULO(Time, 2) < 0.5, input, -1)
	~
	~	|
ini = INITIAL(input * 2)
	~
	~	|
ai = ACTIVE INITIAL(input * 3, 7)
	~
	~	|
stock = INTEG(ai - stock, ai)
	~
	~	|
INITIAL TIME = 0
	~ Month
	~ |
FINAL TIME = 12
	~ Month
	~ |
TIME STEP = 0.25
	~ Month
	~ |
SAVEPER = TIME STEP
	~ Month
	~ |
"""


def test_every_lowering_matches_pysds_runtime(tmp_path: Path) -> None:
    """PySD's own stateful objects, run on the same file, as an independent oracle."""
    import warnings

    import pysd

    path = tmp_path / "oracle.mdl"
    path.write_text(ORACLE_MODEL, encoding="utf-8")
    names = ["s1", "s3", "sn", "d1", "d3", "dn", "df", "tr", "fc", "sit", "ini", "ai", "stock"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pysd.read_vensim(str(path)).run(return_columns=names)
    ours = ns.simulate(ns.load(path)).to_pandas()
    np.testing.assert_allclose(ours.index.to_numpy(), expected.index.to_numpy())
    for name in names:
        np.testing.assert_allclose(ours[name].to_numpy(), expected[name].to_numpy(), rtol=1e-12, atol=1e-12)
