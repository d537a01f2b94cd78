"""Scenarios as data: reading TOML, validating it, applying it as a pure function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from nestedsystems.errors import ParameterError
from nestedsystems.model import Kind
from nestedsystems.scenarios import (
    Intervention,
    InterventionKind,
    Scenario,
    apply_scenario,
    load_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "models" / "nested_systems.mdl"
SCENARIOS = sorted((ROOT / "models" / "scenarios").glob("*.toml"))


@pytest.fixture(scope="module")
def model() -> ns.Model:
    return ns.load(FLAGSHIP)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_scenario_loads_and_applies(model):
    assert len(SCENARIOS) >= 10
    for path in SCENARIOS:
        scenario = load_scenario(path)
        assert scenario.name and scenario.description, path.name
        applied = apply_scenario(model, scenario)
        assert isinstance(applied, ns.Model)


def test_settings_become_new_constants_and_the_model_is_untouched(model):
    scenario = Scenario("s", settings=(("Staffing ratio", 1.2),))
    applied = apply_scenario(model, scenario)
    assert applied["Staffing ratio"].equation.value == 1.2
    assert model["Staffing ratio"].equation.value == 1.0
    assert applied["Staffing ratio"].kind is Kind.CONSTANT


def test_step_ramp_and_pulse_shape_the_lever_in_time(tmp_path, model):
    path = write(
        tmp_path,
        """
name = "shapes"
[set]
"Supervision hours" = 2
[[intervention]]
variable = "Supervision hours"
kind = "step"
start = 10
height = 1
[[intervention]]
variable = "Staffing ratio"
kind = "ramp"
start = 20
end = 40
height = 0.2
[[intervention]]
variable = "Relative pay"
kind = "pulse"
start = 50
duration = 10
height = 0.1
""",
    )
    scenario = load_scenario(path)
    assert scenario.interventions[1] == Intervention("Staffing ratio", InterventionKind.RAMP, 20, 0.2, end=40)
    applied = apply_scenario(model, scenario)
    assert applied["Supervision hours"].kind is Kind.AUXILIARY
    run = ns.simulate(applied, return_columns=["Supervision hours", "Staffing ratio", "Relative pay"])
    t = run.times
    supervision = run["Supervision hours"]
    assert supervision[t == 9][0] == pytest.approx(2.0)
    assert supervision[t == 11][0] == pytest.approx(3.0)
    staffing = run["Staffing ratio"]
    assert staffing[t == 20][0] == pytest.approx(1.0)
    assert staffing[t == 30][0] == pytest.approx(1.1)
    assert staffing[t == 60][0] == pytest.approx(1.2)
    pay = run["Relative pay"]
    assert pay[t == 55][0] == pytest.approx(1.0)
    assert pay[t == 65][0] == pytest.approx(0.9)


def test_a_ramp_may_give_its_slope_instead_of_its_height(tmp_path):
    path = write(
        tmp_path,
        '[[intervention]]\nvariable = "Staffing ratio"\nkind = "ramp"\nstart = 0\nend = 10\nslope = 0.01\n',
    )
    assert load_scenario(path).interventions[0].height == pytest.approx(0.1)


def test_simulate_accepts_a_scenario_file_and_it_changes_the_run(model):
    base = ns.simulate(model, return_columns=["Staff strain"])["Staff strain"]
    cut = ns.simulate(
        model, scenario=ROOT / "models/scenarios/funding_cut_20.toml", return_columns=["Staff strain"]
    )
    assert cut["Staff strain"][-1] > base[-1] + 0.2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('name = "x"\ncolour = "red"\n', "unknown key 'colour'"),
        ('[set]\n"No such lever" = 1\n', "no variable 'No such lever'"),
        ('[set]\n"Staff strain" = 0.5\n', "expected a constant"),
        ('[set]\n"Staffing ratio" = 3\n', "must stay within [0.6, 1.5]"),
        ('[set]\n"Staffing ratio" = true\n', "must be a finite number"),
        ('[[intervention]]\nvariable = "Staffing ratio"\nkind = "jump"\nstart = 1\nheight = 1\n', "kind"),
        ('[[intervention]]\nvariable = "Staffing ratio"\nkind = "step"\nstart = 1\n', "height"),
        (
            '[[intervention]]\nvariable = "Staffing ratio"\nkind = "pulse"\nstart = 1\nheight = 0.1\n',
            "duration",
        ),
        (
            '[[intervention]]\nvariable = "Staffing ratio"\nkind = "step"\n'
            "start = 1\nheight = 0.1\nwhen = 2\n",
            "when",
        ),
        ('[[intervention]]\nvariable = "Staffing ratio"\nkind = "step"\nstart = 1\nheight = 0.6\n', "within"),
        ("name = \n", "TOML"),
    ],
)
def test_bad_scenarios_name_the_file_and_the_key(tmp_path, model, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ParameterError) as caught:
        apply_scenario(model, load_scenario(path))
    assert fragment in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


def test_scenarios_are_frozen_values():
    scenario = Scenario("s", settings=(("Staffing ratio", 1.2),))
    with pytest.raises(AttributeError):
        scenario.name = "t"  # type: ignore[misc]
    assert hash(scenario) == hash(Scenario("s", settings=(("Staffing ratio", 1.2),)))
    assert np.isfinite(hash(Intervention("x", InterventionKind.STEP, 1, 2)))


# -- the command line: `nestedsystems run MODEL --scenario FILE`


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_cli_runs_every_shipped_scenario(path, tmp_path, model):
    from nestedsystems.cli import main

    out = tmp_path / "run.csv"
    assert main(["run", str(FLAGSHIP), "--scenario", str(path), "--output", str(out)]) == 0
    written = pd.read_csv(out, index_col=0)
    expected = ns.simulate(model, scenario=path).to_pandas()
    assert list(written.index) == pytest.approx(list(expected.index))
    for column in ("Annual staff turnover", "Organizational climate", "Staff strain"):
        np.testing.assert_allclose(written[column], expected[column], rtol=1e-9)


def test_the_cli_names_the_scenario_file_and_key_in_one_line(tmp_path, capsys):
    from nestedsystems.cli import main

    path = write(tmp_path, '[set]\n"Staffing ratio" = 3\n')
    assert main(["run", str(FLAGSHIP), "--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Staffing ratio" in err and "[0.6, 1.5]" in err
