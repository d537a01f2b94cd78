"""Reality Checks run: forced conditions, test inputs shaped by the RC functions,
passive conditions, and the failures each reports, against hand computations."""

import math
from dataclasses import replace
from pathlib import Path

import pytest

import nestedsystems as ns
from nestedsystems.errors import ModelError, UndefinedVariableError, UnsupportedError
from nestedsystems.reality_checks import run_checks

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared/conformance/test-models/tests/reality_checks"
CONFORMANCE_MODEL = CONFORMANCE / "test_reality_checks.mdl"

needs_conformance = pytest.mark.skipif(
    not CONFORMANCE_MODEL.exists(), reason="the conformance models are not beside this checkout"
)


def _conformance_variant(tmp_path: Path, old: str, new: str) -> ns.Model:
    text = CONFORMANCE_MODEL.read_text()
    assert old in text
    path = tmp_path / "variant.mdl"
    path.write_text(text.replace(old, new))
    return ns.load(path)


def _write(tmp_path: Path, checks: str, *, step: float = 0.25) -> ns.Model:
    """A tank of 10 units drained at 1 unit a month, with the given Reality Checks."""
    path = tmp_path / "tank.mdl"
    path.write_text(
        f"""{{UTF-8}}
Tank = INTEG(-Outflow, 10)
\t~\tunits
\t~\t|
Outflow = Drain rate
\t~\tunits/Month
\t~\t|
Drain rate = 1
\t~\tunits/Month
\t~\t|
{checks}
INITIAL TIME = 0
\t~\tMonth
\t~\t|
FINAL TIME = 10
\t~\tMonth
\t~\t|
TIME STEP = {step}
\t~\tMonth
\t~\t|
SAVEPER = 1
\t~\tMonth
\t~\t|
"""
    )
    return ns.load(path)


# ------------------------------------------------------------- the conformance model


@needs_conformance
def test_the_conformance_models_checks_pass() -> None:
    model = ns.load(CONFORMANCE_MODEL)
    results = run_checks(model)
    assert [r.name for r in results] == ["no_productivity_no_output", "no_workers_no_output"]
    assert all(r.passed for r in results)
    # every step of the run (INITIAL TIME 1 to FINAL TIME 4, TIME STEP 1) was checked
    assert [r.checked for r in results] == [4, 4]


@needs_conformance
def test_a_halved_productivity_fails_the_step_check_where_a_hand_computation_says(tmp_path: Path) -> None:
    # productivity halves from RC START TIME (INITIAL TIME + TIME STEP = 2): output[a] is
    # 4 workers * 2 hours * 0.5 * 0.5 = 2 from time 2; the check, anchored at output's
    # value at 2 and enforced after a grace of 0.5, wants output <= 2 * 0.0001 from time 3.
    model = _conformance_variant(
        tmp_path, "RC_STEP(productivity[sectors], 0)", "RC_STEP(productivity[sectors], 0.5)"
    )
    failed = run_checks(model)[0]
    assert not failed.passed
    assert failed.first_failure == 3
    assert failed.failures == 2  # times 3 and 4
    assert failed.values == (("output[a]", 2.0), ("RC STEP CHECK(output[a])", pytest.approx(2e-4)))
    assert (
        failed.line == 2
        and "variant.mdl:2: reality check 'no_productivity_no_output' failed at time 3" in str(failed)
    )


@needs_conformance
def test_setting_one_workers_element_leaves_the_others_as_modelled(tmp_path: Path) -> None:
    # workers[a] = 0 forces only sector a: output[b] stays 5 * 5 * 2 = 50 at every step
    model = _conformance_variant(
        tmp_path, "workers[a]=0:IMPLIES:output[a]=0", "workers[a]=0:IMPLIES:output[b]=0"
    )
    failed = run_checks(model)[1]
    assert (failed.first_failure, failed.failures, failed.checked) == (1, 4, 4)
    assert failed.values == (("output[b]", 50.0),)


# --------------------------------------------------------------- hand-written models


def test_a_test_input_that_drains_faster_empties_the_tank_when_the_algebra_says(tmp_path: Path) -> None:
    # The outflow doubles at month 4: 10 - 4 = 6 units left, drained at 2 a month, so
    # the tank is empty at month 7 and negative from the next step (7.25) on.
    model = _write(
        tmp_path,
        """double drain :TEST INPUT: Outflow = RC STEP(Outflow, 2, 4)
\t~\t~\t|
tank never negative :THE CONDITION: double drain :IMPLIES: Tank >= 0
\t~\t~\t|
""",
    )
    (result,) = run_checks(model)
    assert result.first_failure == 7.25
    assert result.values == (("Tank", pytest.approx(-0.5)),)
    assert result.failures == int((10 - 7.25) / 0.25) + 1  # 7.25 to 10, every TIME STEP
    assert result.checked == 41


def test_a_forced_constant_and_a_ramp_check_with_a_duration(tmp_path: Path) -> None:
    # The bound ramps from the tank's value at month 2 to three quarters of it at month
    # 6, and is enforced for those 4 months only. Forced to drain at 0.5 a month, the
    # tank (10 - 0.5 t, 9 at month 2) stays above 9 - 0.5625 (t - 2).
    check = "RC RAMP CHECK(0, Tank, 0.75, 4, 2, 4)"
    slow = _write(tmp_path, f"slow :THE CONDITION: Drain rate = 0.5 :IMPLIES: Tank >= {check}\n\t~\t~\t|\n")
    assert run_checks(slow)[0].passed
    # At the model's drain rate the tank (10 - t) falls below 8 - 0.5 (t - 2) at the
    # first step after month 2 and stays below until the window closes at month 6.
    full = _write(tmp_path, f"full :THE CONDITION: Drain rate = 1 :IMPLIES: Tank >= {check}\n\t~\t~\t|\n")
    (result,) = run_checks(full)
    assert (result.first_failure, result.failures) == (2.25, 15)  # 2.25 to 5.75
    assert result.values == (("Tank", 7.75), ("RC RAMP CHECK(Tank)", pytest.approx(8 - 0.5 * 0.25)))


def test_a_decay_check_on_a_first_order_drain(tmp_path: Path) -> None:
    # Outflow Tank/5 at TIME STEP 1 gives Tank = 10 * 0.8^t. A decay of time constant 4
    # from month 1 (8 units) is faster: at month 2 the bound is 8 e^(-1/4) = 6.23 < 6.4.
    checks = """decays fast :THE CONDITION: Drain rate = Tank / 5 :IMPLIES: Tank <= RC DECAY CHECK(0, Tank, 4)
\t~\t~\t|
decays slowly :THE CONDITION: Drain rate = Tank / 5 :IMPLIES: Tank <= RC DECAY CHECK(0, Tank, 6)
\t~\t~\t|
"""
    fast, slow = run_checks(_write(tmp_path, checks, step=1))
    assert fast.first_failure == 2
    assert fast.values == (
        ("Tank", pytest.approx(6.4)),
        ("RC DECAY CHECK(Tank)", pytest.approx(8 * math.exp(-0.25))),
    )
    # 0.8 < e^(-1/6), so the tank always stays under the slower decay
    assert slow.passed and slow.checked == 11


def test_a_grow_check_anchored_at_rc_start_time(tmp_path: Path) -> None:
    # RC START TIME is INITIAL TIME + TIME STEP = 1, when the tank (10 - t) holds 9; a
    # bound growing at -0.2 a month is 9 e^(-0.2) = 7.37 at month 2, under the tank's 8.
    model = _write(
        tmp_path,
        "shrinks :THE CONDITION: Time >= 0 :IMPLIES: Tank <= RC GROW CHECK(0, Tank, -0.2)\n\t~\t~\t|\n",
        step=1,
    )
    (result,) = run_checks(model)
    assert result.first_failure == 2
    assert result.values == (("Tank", 8.0), ("RC GROW CHECK(Tank)", pytest.approx(9 * math.exp(-0.2))))


def test_an_inequality_on_a_constant_is_forced_as_vensim_forces_it(tmp_path: Path) -> None:
    # Drain rate 1 does not meet ">= 2", so it takes 2: the tank (10 - 2t) is below 0
    # from month 5.25. It meets "<= 2" already and keeps its value: the tank never is.
    checks = """fast drain :THE CONDITION: Drain rate >= 2 :IMPLIES: Tank >= 0
\t~\t~\t|
slow drain :THE CONDITION: Drain rate <= 2 :IMPLIES: Tank >= 0
\t~\t~\t|
"""
    fast, slow = run_checks(_write(tmp_path, checks))
    assert (fast.first_failure, fast.failures, fast.values) == (5.25, 20, (("Tank", -0.5),))
    assert slow.passed and slow.checked == 41


def test_a_passive_condition_checks_only_the_steps_where_it_holds(tmp_path: Path) -> None:
    # The tank crosses 3 at month 7 (10 - t); the consequence "at most 2 left" is only
    # tested from then on and first fails at 7 itself (3 units), then until 8 (2 units).
    model = _write(
        tmp_path,
        """low tank :THE CONDITION: Tank <= 3 :IMPLIES: Tank <= 2
\t~\t~\t|
""",
    )
    (result,) = run_checks(model)
    assert result.checked == 13  # months 7 to 10, every quarter month
    assert (result.first_failure, result.failures) == (7, 4)  # 7, 7.25, 7.5, 7.75
    assert result.values == (("Tank", 3.0),)


def test_params_hold_in_every_checks_run(tmp_path: Path) -> None:
    model = _write(
        tmp_path,
        """never negative :THE CONDITION: Time >= 0 :IMPLIES: Tank >= 0
\t~\t~\t|
""",
    )
    assert run_checks(model)[0].passed  # 10 - t reaches 0 at the final time, month 10
    # at twice the drain rate the tank is empty at month 5, below it a step later
    (result,) = run_checks(model, params={"Drain rate": 2})
    assert (result.first_failure, result.failures) == (5.25, 20)
    assert result.values == (("Tank", -0.5),)


# ------------------------------------------------------------------ errors


def test_a_check_naming_an_unknown_variable_is_a_clear_error(tmp_path: Path) -> None:
    model = _write(
        tmp_path,
        """no water :THE CONDITION: Drain rate = 0 :IMPLIES: Water level = 10
\t~\t~\t|
""",
    )
    with pytest.raises(UndefinedVariableError) as error:
        run_checks(model)
    message = str(error.value)
    assert "tank.mdl:11" in message
    assert (
        "reality check 'no water'" in message and "'water level', which the model does not define" in message
    )


def test_rc_compare_is_refused_with_the_check_and_line(tmp_path: Path) -> None:
    model = _write(
        tmp_path,
        """as before :THE CONDITION: Drain rate = 1 :IMPLIES: Tank = RC COMPARE CHECK('base', Tank, 0, 1)
\t~\t~\t|
""",
    )
    with pytest.raises(
        UnsupportedError, match=r"tank\.mdl:11: reality check 'as before': the function RC COMPARE"
    ):
        run_checks(model)


def test_a_check_that_does_not_read_says_what_was_expected(tmp_path: Path) -> None:
    model = _write(tmp_path, "odd :THE CONDITION: FOO(Tank) = 1 :IMPLIES: Tank >= 0\n\t~\t~\t|\n")
    with pytest.raises(
        ModelError, match=r"tank\.mdl:11: reality check 'odd': cannot read 'FOO\(Tank\) = 1'.*expected"
    ):
        run_checks(model)


def test_a_test_input_under_or_is_refused(tmp_path: Path) -> None:
    checks = """fast :TEST INPUT: Drain rate = 2
\t~\t~\t|
either :THE CONDITION: fast :OR: Tank < 5 :IMPLIES: Tank >= 0
\t~\t~\t|
"""
    with pytest.raises(ModelError, match="reality check 'either': the test input 'fast' can only be joined"):
        run_checks(_write(tmp_path, checks))


def test_an_rc_check_function_cannot_force_a_condition(tmp_path: Path) -> None:
    model = _write(
        tmp_path,
        """wrong way :THE CONDITION: Outflow = RC STEP CHECK(0, Outflow, 2) :IMPLIES: Tank >= 0
\t~\t~\t|
""",
    )
    with pytest.raises(ModelError, match="RC STEP CHECK cannot stand in a condition"):
        run_checks(model)


# ------------------------------------------------------------------ the flagship

FLAGSHIP = Path(__file__).resolve().parents[1] / "models" / "nested_systems.mdl"
FLAGSHIP_CHECKS = [
    "no clients no crises",
    "no staff no restraints",
    "no crises no restraints",
    "held funding no freeze",
    "ban cuts restraints",
    "full demand within licence",
]


@pytest.fixture(scope="module")
def flagship() -> ns.Model:
    return ns.load(FLAGSHIP)


def test_every_flagship_reality_check_passes(flagship: ns.Model) -> None:
    results = run_checks(flagship)
    assert [r.name for r in results] == FLAGSHIP_CHECKS
    failed = [str(r) for r in results if not r.passed]
    assert not failed, failed
    assert all(r.checked == 961 for r in results)  # 120 months at TIME STEP 1/8


def test_a_flagship_check_has_teeth(flagship: ns.Model) -> None:
    # Without the "no staff, no restraints" term, an empty floor restrains as many
    # crises as ever: the check fails from the first step, naming what it saw.
    restraints = flagship["Restraints"]
    assert restraints.equation.right == ns.expressions.Ref("staff presence")
    careless = flagship.with_variables(replace(restraints, equation=restraints.equation.left))
    (result,) = [r for r in run_checks(careless) if r.name == "no staff no restraints"]
    assert (result.first_failure, result.failures) == (0, 961)
    assert dict(result.values)["Workload"] == 3.0 and dict(result.values)["Restraints"] > 0


def test_the_flagship_checks_survive_the_writer(flagship: ns.Model, tmp_path: Path) -> None:
    again = ns.load(ns.save(flagship, tmp_path / "again.mdl"))
    same = lambda checks: [replace(c, line=None) for c in checks]  # noqa: E731
    assert same(again.checks) == same(flagship.checks)
    # each statement keeps its one-line comment
    assert all(check.documentation for check in flagship.checks)
    before = [(r.name, r.checked, r.failures) for r in run_checks(flagship)]
    assert [(r.name, r.checked, r.failures) for r in run_checks(again)] == before


# ------------------------------------------------------------------ the command line


def test_nestedsystems_check_prints_each_failed_check_and_exits_1(tmp_path: Path, capsys) -> None:
    from nestedsystems.cli import main

    _write(tmp_path, "too slow :THE CONDITION: Drain rate = 2 :IMPLIES: Tank >= 0\n\t~\t~\t|\n")
    assert main(["check", str(tmp_path / "tank.mdl")]) == 1
    lines = capsys.readouterr().out.splitlines()
    failure = "reality check 'too slow' failed at time 5.25 (20 of 41 steps): Tank = -0.5"
    assert f"{tmp_path / 'tank.mdl'}:11: {failure}" in lines
    assert lines[-1] == "reality checks: 1 run, 0 passed"


def test_nestedsystems_check_on_the_flagship_passes(capsys) -> None:
    from nestedsystems.cli import main

    assert main(["check", str(FLAGSHIP)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "reality checks: 6 run, 6 passed"


def test_a_broken_check_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    from nestedsystems.cli import main

    _write(tmp_path, "no water :THE CONDITION: Drain rate = 0 :IMPLIES: Water level = 10\n\t~\t~\t|\n")
    assert main(["check", str(tmp_path / "tank.mdl")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "tank.mdl:11: reality check 'no water'" in error
