"""Units Check: unit text read as Vensim reads it, and each equation's units inferred
and compared with its variable's, on small models with known errors, the bundled
models (which must be unit-consistent) and Vensim's own test models."""

from __future__ import annotations

from pathlib import Path

import pytest

import nestedsystems as ns
from conftest import MODELS, TEST_MODELS
from nestedsystems.unit_text import UnitsSyntaxError, file_equivalents, parse_units
from nestedsystems.units import check_units, units_check

CONTROL = (
    "INITIAL TIME = 0\n~ Month\n~ |\nFINAL TIME = 12\n~ Month\n~ |\n"
    "TIME STEP = 0.25\n~ Month\n~ |\nSAVEPER = TIME STEP\n~ Month\n~ |\n"
)

# A small staffing model whose units are all consistent; tests break one thing each.
CONSISTENT = """
Clients = INTEG(Admissions - Discharges, 40) ~ clients
Admissions = Referrals * Admission fraction ~ clients/Month
Referrals = 12 ~ clients/Month
Admission fraction = 0.8 ~ Dmnl
Discharges = Clients / Length of stay ~ clients/Month
Length of stay = 4 ~ Months
Staff = INTEG(Hires - Quits, 20) ~ FTE
Hires = (Desired staff - Staff) / Hiring time + Quits ~ FTE/Month
Desired staff = Clients * Staffing ratio ~ FTE
Staffing ratio = 0.5 ~ FTE/clients
Hiring time = 3 ~ Month
Quits = Staff * Quit rate * Effect of workload on quits ~ FTE/Month
Quit rate = 0.02 ~ 1/Month
Workload = ZIDZ(Clients, Staff) ~ clients/FTE
Reference workload = 2 ~ clients/FTE
Effect of workload on quits = Effect of workload on quits table(Workload / Reference workload) ~ Dmnl
Effect of workload on quits table([(0,0)-(3,3)],(0,0.5),(1,1),(3,3)) ~ Dmnl
Perceived workload = SMOOTH(Workload, 2) ~ clients/FTE
Overloaded = IF THEN ELSE(Workload > Reference workload, 1, 0) ~ Dmnl
Spare capacity = MAX(0, 1 - Workload / Reference workload) ~ Dmnl
Funding cut = STEP(Cut size, 6) ~ $/Month
Cut size = 1000 ~ $/Month
Budget per client day = 10 ~ $/(clients*Day)
Days per month = 365 / 12 ~ Day/Month
Client costs = Clients * Budget per client day * Days per month ~ $/Month
Schedule = Schedule table(Time) ~ Dmnl
Schedule table([(0,0)-(12,1)],(0,0),(12,1)) ~ Dmnl
Months elapsed = Time - INITIAL TIME ~ Month
"""


def write(tmp_path: Path, equations: str, name: str = "units.mdl") -> Path:
    """Each line ``name = equation ~ units`` becomes a Vensim entry on its own line."""
    entries = []
    for line in equations.strip().splitlines():
        equation, _, units = line.rpartition("~")
        entries.append(f"{equation.strip()}\n~ {units.strip()}\n~ |\n")
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + "".join(entries) + CONTROL, encoding="utf-8")
    return path


def issues_of(tmp_path: Path, equations: str) -> dict[str, tuple[str, str, str]]:
    found = check_units(ns.load(write(tmp_path, equations)))
    return {i.variable: (i.expected, i.found, i.detail) for i in found}


def changed(line: str) -> str:
    """CONSISTENT with one variable's line replaced."""
    name = line.split("=")[0].strip()
    return "\n".join(
        line if row.split("=")[0].strip() == name else row for row in CONSISTENT.strip().splitlines()
    )


# ---------------------------------------------------------------- reading units


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("$/(client*Day)", "$*client^-1*Day^-1"),
        ("$/(client*Day)", "$/client/Day"),
        ("1/Month", "Month^-1"),
        ("1/Month", "1/Months"),
        ("hours/(FTE*Month)", "hours / ( FTE * month )"),
        ("incidents/(clients*Month*Month)", "incidents/clients/Month^2"),
        ("Dmnl", ""),
        ("dmnl", "1"),
        ("FTE/FTE", "Dmnl"),
        ("Dollars/Year", "$/Years"),
        ("People", "Person"),
    ],
)
def test_units_that_vensim_reads_alike_are_equal(one: str, other: str) -> None:
    assert parse_units(one) == parse_units(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [("client", "clients"), ("FTE/Month", "FTE/Year"), ("1/Month", "Month"), ("%", "Dmnl")],
)
def test_plurals_and_other_names_differ_as_in_vensim(one: str, other: str) -> None:
    assert parse_units(one) != parse_units(other)


def test_units_print_as_a_product_over_a_product() -> None:
    assert str(parse_units("$*client^-1*Day^-1")) == "$/(client*Day)"
    assert str(parse_units("FTE/Month/Month")) == "FTE/Month^2"
    assert str(parse_units("1/Months")) == "1/Month"
    assert str(parse_units("FTE/FTE")) == "Dmnl"


@pytest.mark.parametrize("text", ["clients/(FTE", "clients*", "FTE^x", "FTE^1.5", "(/Month)"])
def test_unreadable_units_raise(text: str) -> None:
    with pytest.raises(UnitsSyntaxError, match="units"):
        parse_units(text)


def test_a_files_units_equivalents_are_read_from_its_settings() -> None:
    text = (TEST_MODELS / "samples/simple_harmonic_oscillator/simple_harmonic_oscillator.mdl").read_text()
    assert file_equivalents(text) == (("s", "Second"),)
    assert file_equivalents("x = 1 ~ Dmnl ~ |") == ()


# ---------------------------------------------------------------- checking equations


def test_a_consistent_model_has_no_issue(tmp_path: Path) -> None:
    result = units_check(ns.load(write(tmp_path, CONSISTENT)))
    assert result.issues == ()
    assert result.not_checked == ()
    assert result.checked == 26 + 4  # every variable but the two lookups, and the control variables


def test_a_flow_in_the_wrong_units(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path, changed("Hires = (Desired staff - Staff) / Hiring time / Hiring time ~ FTE/Month")
    )
    assert issues == {
        "Hires": ("FTE/Month", "FTE/Month^2", "units are FTE/Month but its equation gives FTE/Month^2")
    }


def test_a_stocks_net_flow_must_be_its_units_per_time_unit(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, changed("Staff = INTEG(Desired staff, 20) ~ FTE"))
    (expected, found, detail) = issues["Staff"]
    assert (expected, found) == ("FTE/Month", "FTE")
    assert "so its net flow should be in FTE/Month" in detail
    assert list(issues) == ["Staff"]


def test_adding_clients_to_staff(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, changed("Desired staff = Clients * Staffing ratio + Clients ~ FTE"))
    assert issues == {
        "Desired staff": (
            "FTE",
            "clients",
            "the two sides of '+' must have like units, found FTE and clients",
        )
    }


def test_a_lookup_fed_the_wrong_units(tmp_path: Path) -> None:
    wrong = "Effect of workload on quits = Effect of workload on quits table(Workload) ~ Dmnl"
    expected, found, detail = issues_of(tmp_path, changed(wrong))["Effect of workload on quits"]
    assert (expected, found) == ("Dmnl", "clients/FTE")
    assert "input of lookup 'effect of workload on quits table'" in detail


def test_if_then_else_branches_must_agree(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path, changed("Overloaded = IF THEN ELSE(Workload > Reference workload, Staff, 0) ~ Dmnl")
    )
    assert issues == {"Overloaded": ("Dmnl", "FTE", "units are Dmnl but its equation gives FTE")}
    issues = issues_of(tmp_path, changed("Desired staff = IF THEN ELSE(Time > 3, Staff, Clients) ~ FTE"))
    assert issues == {
        "Desired staff": (
            "FTE",
            "clients",
            "IF THEN ELSE's branches must have like units, found FTE and clients",
        )
    }


def test_a_comparison_of_unlike_units(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, changed("Overloaded = IF THEN ELSE(Workload > Staff, 1, 0) ~ Dmnl"))
    assert issues == {
        "Overloaded": (
            "clients/FTE",
            "FTE",
            "the two sides of '>' must have like units, found clients/FTE and FTE",
        )
    }


def test_a_number_is_no_conversion_between_time_units(tmp_path: Path) -> None:
    equations = CONSISTENT + "Stay in years = Length of stay / 12 ~ Year\n"
    assert issues_of(tmp_path, equations) == {
        "Stay in years": ("Year", "Month", "units are Year but its equation gives Month")
    }
    equations = (
        CONSISTENT
        + "Months per year = 12 ~ Month/Year\nStay in years = Length of stay / Months per year ~ Year\n"
    )
    assert issues_of(tmp_path, equations) == {}


def test_smooth_and_step_want_times_in_the_time_unit(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, changed("Perceived workload = SMOOTH(Workload, Staff) ~ clients/FTE"))
    assert issues == {"Perceived workload": ("Month", "FTE", "SMOOTH's time should be in Month, found FTE")}
    issues = issues_of(tmp_path, changed("Funding cut = STEP(Cut size, Cut size) ~ $/Month"))
    assert issues["Funding cut"][:2] == ("Month", "$/Month")


def test_unreadable_units_name_the_variable_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, changed("Hiring time = 3 ~ Month*(FTE"))
    (issue,) = check_units(ns.load(path))
    assert (issue.variable, issue.file) == ("Hiring time", str(path))
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("Hiring time")
    )
    assert issue.line == line
    assert issue.message.startswith(f"{path} line {line}, variable 'Hiring time': units 'Month*(FTE'")


def test_a_function_without_a_rule_is_not_checked_and_says_so(tmp_path: Path) -> None:
    equations = CONSISTENT + "Value of care = NPV(Client costs, 0.01, 0, 1) ~ $\n"
    result = units_check(ns.load(write(tmp_path, equations)))
    assert result.issues == ()
    assert result.not_checked == (("Value of care", "functions: NPV"),)


def test_variables_without_units_are_counted_not_guessed(tmp_path: Path) -> None:
    equations = CONSISTENT + "Extra = 3 ~\nDoubled staff = Staff * Extra ~ clients\n"
    result = units_check(ns.load(write(tmp_path, equations)))
    assert result.issues == ()
    assert set(result.not_checked) == {("Extra", "no units"), ("Doubled staff", "inputs without units")}


def test_a_files_declared_equivalents_are_honoured(tmp_path: Path) -> None:
    equations = CONSISTENT.replace("Staffing ratio = 0.5 ~ FTE/clients", "Staffing ratio = 0.5 ~ FTE/client")
    path = write(tmp_path, equations)
    assert list(issues_of(tmp_path, equations)) == ["Desired staff"]
    path.write_text(path.read_text() + "\\\\\\---/// Sketch\n///---\\\\\\\n:L<%^E!@\n22:client,clients\n")
    assert check_units(ns.load(path)) == ()
    assert check_units(ns.load(path), equivalents=[("client", "clients")]) == ()


# ---------------------------------------------------------------- real models

BUNDLED = [MODELS / "nested_systems.mdl", *sorted((MODELS / "teaching").glob("*.mdl"))]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_the_bundled_models_are_unit_consistent(path: Path) -> None:
    result = units_check(ns.load(path))
    assert [i.message for i in result.issues] == []
    assert result.not_checked == ()
    assert result.checked > 20


def test_vensim_test_models_are_checked_without_crashing(test_models: Path) -> None:
    files = sorted([*test_models.glob("tests/*/*.mdl"), *test_models.glob("samples/*/*.mdl")])
    with_issues = set()
    for path in files:
        try:
            model = ns.load(path)
        except ns.ModelError:
            continue  # what the loader refuses is tested elsewhere
        if check_units(model):
            with_issues.add(path.relative_to(test_models).as_posix())
    # Each of these was read by hand: a real units error by Vensim's rules (below).
    assert with_issues == {
        "samples/Lotka_Volterra/Lotka_Volterra.mdl",
        "samples/pendulum/Single_Pendulum.mdl",
        "samples/teacup/teacup.mdl",
        "samples/teacup/teacup_mdl.mdl",
        "tests/forecast/test_forecast.mdl",
        "tests/subscript_mapping_simple/test_subscript_mapping_simple.mdl",
        "tests/subscript_numeric_range/test_subscript_numeric_range.mdl",
    }


@pytest.mark.parametrize(
    ("model", "variable", "expected", "found"),
    [
        # Fox and Foxes are different units: the file declares no equivalence of them.
        ("samples/Lotka_Volterra/Lotka_Volterra.mdl", "Predator Births", "Foxes/Year", "Foxes^2/(Fox*Year)"),
        (
            "samples/pendulum/Single_Pendulum.mdl",
            "Force of Gravity",
            "Kilograms*Meters/Second^2",
            "Kilogram*Meters/Second^2",
        ),
        (
            "samples/teacup/teacup.mdl",
            "Heat Loss to Room",
            "Degrees Fahrenheit/Minute",
            "Degrees Fahrenheit/Minutes",
        ),
        # A dimensionless stock whose flows are dimensionless too, not per Month.
        ("tests/subscript_numeric_range/test_subscript_numeric_range.mdl", "Level_1", "1/Month", "Dmnl"),
    ],
)
def test_real_units_errors_in_vensim_test_models(
    test_models: Path, model: str, variable: str, expected: str, found: str
) -> None:
    issues = {i.variable: i for i in check_units(ns.load(test_models / model))}
    assert (issues[variable].expected, issues[variable].found) == (expected, found)


def test_the_oscillators_own_equivalence_of_s_and_second_is_honoured(test_models: Path) -> None:
    path = test_models / "samples/simple_harmonic_oscillator/simple_harmonic_oscillator.mdl"
    assert check_units(ns.load(path)) == ()
    assert {i.variable for i in check_units(ns.load(path), equivalents=())} == {"position", "speed"}


def test_the_writer_keeps_the_flagship_unit_consistent(tmp_path: Path) -> None:
    path = tmp_path / "nested_systems.mdl"
    ns.save(ns.load(MODELS / "nested_systems.mdl"), path)
    assert check_units(ns.load(path)) == ()


def test_the_flagships_units_equivalents_survive_a_save_with_a_new_diagram(tmp_path: Path) -> None:
    # Saved without its source, the flagship gets a generated sketch; the settings after it
    # must still declare Client,Clients and the rest, or the Units Check would fail.
    model = ns.load(MODELS / "nested_systems.mdl")
    assert ("Client", "Clients") in model.units_equivalents
    again = ns.load(ns.save(model.replace(source=None), tmp_path / "new_diagram.mdl"))
    assert again.units_equivalents == model.units_equivalents
    assert check_units(again) == ()


def test_a_model_pickles_with_every_field_its_units_equivalents_included() -> None:
    # Ensembles and calibration send models to Dask workers by pickle.
    import pickle

    model = ns.load(MODELS / "nested_systems.mdl")
    clone = pickle.loads(pickle.dumps(model))
    assert clone == model and clone.units_equivalents == model.units_equivalents
    assert clone.checks == model.checks and clone["Staffing ratio"] == model["Staffing ratio"]
