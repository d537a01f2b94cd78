"""The flagship model reproduces the reference behaviours of its specification.

Each test runs the model on a scenario from models/scenarios and checks numbers:
the equilibrium, drift and tipping with hysteresis, worse before better, the
funding cascade, restraint bans, synergy of levers, and the standard checks.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from nestedsystems.scenarios import Intervention, InterventionKind, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "models" / "scenarios"


@cache
def model() -> ns.Model:
    return ns.load(ROOT / "models" / "nested_systems.mdl")


@cache
def compiled() -> ns.CompiledModel:
    return ns.compile_model(model())


@cache
def scenario_run(name: str) -> pd.DataFrame:
    return ns.simulate(model(), scenario=SCENARIOS / f"{name}.toml").to_pandas()


def run_with(name: str, *settings, interventions=()) -> pd.DataFrame:
    base = load_scenario(SCENARIOS / f"{name}.toml")
    from dataclasses import replace

    scenario = replace(
        base,
        settings=base.settings + tuple(settings),
        interventions=base.interventions + tuple(interventions),
    )
    return ns.simulate(model(), scenario=scenario).to_pandas()


def test_names_others_depend_on_exist_with_ranges():
    m = model()
    for output in [
        "Average client distress",
        "Staff strain",
        "Organizational climate",
        "Financial pressure",
        "Annual staff turnover",
        "Restraints per 1000 client days",
        "Burnout prevalence",
        "Months of reserves",
        "Clients in care",
        "Incidents",
    ]:
        assert output in m
    assert m["Staff strain"].kind is ns.Kind.STOCK
    assert m["Organizational climate"].kind is ns.Kind.STOCK
    levers = {
        "Sanctuary adoption": (0, 1, 0),
        "Sanctuary start month": (0, 60, None),
        "Sanctuary training hours": (0, 8, None),
        "Supervision hours": (0, 8, 1),
        "Supervisor span": (3, 12, 8),
        "Staffing ratio": (0.6, 1.5, 1),
        "Restraint reduction policy": (0, 1, 0),
        "Contract length": (1, 5, 1),
        "Inflation indexing": (0, 1, 0),
        "Reserve policy": (0, 6, 1),
        "Contract rate change": (-0.4, 0.3, 0),
        "Contract rate change month": (0, 120, 24),
        "Relative pay": (0.7, 1.3, 0.9),
        "Leadership participation": (0, 1, 0.3),
        "Self care program": (0, 1, 0),
        "Time to hire": (1, 6, 3),
        "Preservice training time": (0, 3, 0.5),
        "Hiring freeze": (0, 1, 0),
        "Acuity surge": (0, 0.5, 0),
        "Acuity surge start month": (0, 120, None),
        "Acuity surge duration": (0, 60, None),
        "Scandal size": (0, 1, 0),
        "Scandal month": (0, 120, None),
        "Labour market quit multiplier": (1, 1.5, 1),
        "Sanctuary abandonment month": (0, 120, 120),
    }
    for name, (low, high, default) in levers.items():
        variable = m[name]
        assert variable.kind is ns.Kind.CONSTANT, name
        assert (variable.range.minimum, variable.range.maximum) == (low, high), name
        if default is not None:
            assert variable.equation.value == default, name
    assert m["Inflation rate"].equation.value == 0
    assert m["Acuity growth"].equation.value == 0


def test_every_variable_has_units_and_documentation_and_a_sector_view():
    for variable in model().variables:
        if variable.origin is not None or variable.name.upper() in {
            "INITIAL TIME",
            "FINAL TIME",
            "TIME STEP",
            "SAVEPER",
        }:
            continue
        assert variable.units, variable.name
        assert variable.documentation, variable.name
        if variable.kind is not ns.Kind.LOOKUP:
            assert variable.group in {"Clients", "Staff", "Organization", "Funding and environment"}, (
                variable.name
            )
    m = model()
    assert m["Staffing ratio"].group == "Staff"
    assert m["Contract length"].group == "Funding and environment"
    assert m["Sanctuary adoption"].group == "Organization"
    assert m["Restraint reduction policy"].group == "Clients"


def test_all_loops_of_the_specification_are_named():
    loops = {loop.id: loop for loop in model().loops}
    assert set(loops) == {f"R{i}" for i in range(1, 13)} | {f"B{i}" for i in range(1, 6)}
    assert loops["R3"].name == "Burnout-attrition"
    assert loops["R3"].variables[0] == "Staff strain"
    assert "workload" in loops["R3"].description


# ----------------------------------------------------------------- RM0


def test_rm0_reference_run_is_an_equilibrium():
    run = ns.simulate(compiled())
    frame = run.to_pandas()
    for stock in model().stocks:
        if stock.name not in frame:
            continue
        values = frame[stock.name].to_numpy()
        scale = max(abs(values[0]), 1e-6)
        assert np.max(np.abs(values - values[0])) <= 0.005 * scale + 1e-9, stock.name
    last = frame.iloc[-1]
    assert 13 <= last["Annual staff turnover"] <= 18
    assert 5 <= last["Restraints per 1000 client days"] <= 6
    assert 35 <= last["Burnout prevalence"] <= 40
    assert last["Organizational climate"] == pytest.approx(0.55, abs=1e-3)
    assert last["Average client distress"] == pytest.approx(0.5, abs=1e-3)
    assert last["Staff strain"] == pytest.approx(0.35, abs=1e-3)


def test_rm0_small_shock_dies_away():
    frame = ns.simulate(compiled(), params={"Scandal size": 0.2, "Scandal month": 6}).to_pandas()
    assert frame["Staff strain"].max() > 0.351
    assert frame["Staff strain"].iloc[-1] == pytest.approx(0.35, abs=0.005)


# ----------------------------------------------------------------- RM1


def test_rm1_drift_declines_slowly_then_slides_into_a_trauma_organized_state():
    frame = scenario_run("drift")
    base = frame.iloc[0]
    # years of slow decline
    assert frame["Annual staff turnover"].loc[36] < 16
    assert frame["Staff strain"].loc[36] < 0.4
    # then an accelerating slide: the fourth year changes less than the sixth
    assert (
        frame["Staff strain"].loc[48] - frame["Staff strain"].loc[36]
        < frame["Staff strain"].loc[72] - frame["Staff strain"].loc[60]
    )
    end = frame.iloc[-1]
    assert 35 <= end["Annual staff turnover"] <= 50
    assert 3 <= end["Restraints per 1000 client days"] / base["Restraints per 1000 client days"] <= 5
    assert end["Organizational climate"] < 0.3
    assert end["Burnout prevalence"] > 55
    assert end["Resistant label share"] > 0.5


def test_rm1_hysteresis_restoring_funding_and_acuity_at_year_six_does_not_restore_health():
    restore = (
        Intervention("Acuity growth", InterventionKind.PULSE, 0, 0.02, duration=72),
        Intervention("Inflation indexing", InterventionKind.STEP, 72, 1),
    )
    frame = run_with("baseline", ("Inflation rate", 0.03), interventions=restore)
    assert frame["Acuity drift"].loc[80] == pytest.approx(1.0)
    end = frame.iloc[-1]
    assert end["Annual staff turnover"] > 35
    assert end["Organizational climate"] < 0.35
    assert end["Staff strain"] > 0.6


# ----------------------------------------------------------------- RM2


def test_rm2_sanctuary_is_worse_before_better():
    never = scenario_run("crisis_year")
    adopt = scenario_run("sanctuary_adoption")
    # worse during the first year of the transition
    assert adopt["Incidents"].loc[12:22].mean() > never["Incidents"].loc[12:22].mean()
    assert adopt["Annual staff turnover"].loc[18:24].mean() > never["Annual staff turnover"].loc[18:24].mean()
    # then better: by month 48-60
    assert adopt["Incidents"].loc[36] < never["Incidents"].loc[36]
    turnover_cut = 1 - adopt["Annual staff turnover"].loc[60] / never["Annual staff turnover"].loc[60]
    restraint_cut = (
        1
        - adopt["Restraints per 1000 client days"].loc[60] / never["Restraints per 1000 client days"].loc[60]
    )
    assert 1 / 3 <= turnover_cut <= 2 / 3
    assert 0.5 <= restraint_cut <= 0.9
    assert adopt["Organizational climate"].loc[60] > 0.6


def test_rm2_abandoning_at_month_18_ends_worse_than_never_starting():
    never = scenario_run("crisis_year").iloc[-1]
    abandoned = scenario_run("abandonment_month18").iloc[-1]
    assert abandoned["Annual staff turnover"] > never["Annual staff turnover"]
    assert abandoned["Restraints per 1000 client days"] > never["Restraints per 1000 client days"]
    assert abandoned["Organizational climate"] < never["Organizational climate"]
    assert abandoned["Change cynicism"] > 0


def test_rm2_adoption_while_overloaded_stalls_unless_staffing_is_added():
    stalled = scenario_run("adoption_while_overloaded")
    staffed = run_with(
        "adoption_while_overloaded",
        interventions=(Intervention("Staffing ratio", InterventionKind.STEP, 12, 0.4),),
    )
    # the overloaded floor cancels training: the practice crawls for years
    assert (
        stalled["Trauma informed implementation"].loc[36]
        < 0.75 * staffed["Trauma informed implementation"].loc[36]
    )
    assert stalled["Annual staff turnover"].loc[48] > 1.5 * staffed["Annual staff turnover"].loc[48]
    assert (
        stalled["Restraints per 1000 client days"].loc[48]
        > 1.5 * staffed["Restraints per 1000 client days"].loc[48]
    )
    assert staffed["Trauma informed implementation"].loc[60] > 0.7
    assert staffed["Annual staff turnover"].loc[60] < 18


# ----------------------------------------------------------------- RM3


def test_rm3_funding_cut_cascades():
    base = scenario_run("baseline")
    cut = scenario_run("funding_cut_20")
    assert cut["Effective hiring freeze"].loc[27] >= 0.45
    assert cut["Training capacity"].loc[27] < 0.5
    workload_rise = cut["Workload"].loc[27:30].max() / cut["Workload"].loc[23] - 1
    assert 0.15 <= workload_rise <= 0.25
    assert cut["Annual staff turnover"].loc[36] > base["Annual staff turnover"].loc[36]
    assert cut["Annual staff turnover"].loc[48] > 1.3 * cut["Annual staff turnover"].loc[24]
    savings = (base["Staff costs"] - cut["Staff costs"]).loc[25:48].sum()
    extra = (
        (cut["Overtime costs"] + cut["Turnover costs"] - base["Overtime costs"] - base["Turnover costs"])
        .loc[25:48]
        .sum()
    )
    assert extra > 0.5 * savings > 0
    assert cut["Annual staff turnover"].iloc[-1] > 35


def test_rm3_the_same_cut_with_reserves_and_a_longer_contract_is_a_dent():
    buffered = scenario_run("funding_cut_20_with_reserves")
    window = buffered.loc[24:72]
    assert window["Effective hiring freeze"].max() < 0.1
    assert window["Workload"].max() < 1.05
    assert window["Annual staff turnover"].max() < 16
    assert window["Staff strain"].max() < 0.37


# ----------------------------------------------------------------- RM4


def test_rm4_restraint_ban_without_capability_backfires():
    base = scenario_run("baseline").iloc[-1]
    ban = scenario_run("restraint_ban_without_capability").iloc[-1]
    assert ban["Restraints per 1000 client days"] < 0.2 * base["Restraints per 1000 client days"]
    assert ban["Uncontained escalations"] > 5 * base["Uncontained escalations"]
    assert ban["Staff injuries"] > 1.5 * base["Staff injuries"]
    assert ban["Annual staff turnover"] > base["Annual staff turnover"]
    assert ban["Staff strain"] > base["Staff strain"]


def test_rm4_restraint_ban_with_capability_holds():
    base = scenario_run("baseline").iloc[-1]
    ban = scenario_run("restraint_ban_with_capability").iloc[-1]
    assert ban["Restraints per 1000 client days"] < 0.2 * base["Restraints per 1000 client days"]
    assert ban["Staff injuries"] < base["Staff injuries"]
    assert ban["Annual staff turnover"] < base["Annual staff turnover"]
    assert ban["Staff strain"] < base["Staff strain"]


# ----------------------------------------------------------------- RM5


def test_rm5_combined_levers_beat_the_sum_of_single_levers():
    base = scenario_run("crisis_year")
    singles = [
        run_with("crisis_year", ("Sanctuary adoption", 1), ("Sanctuary start month", 36)),
        run_with(
            "crisis_year", interventions=(Intervention("Supervision hours", InterventionKind.STEP, 36, 1),)
        ),
        run_with(
            "crisis_year", interventions=(Intervention("Staffing ratio", InterventionKind.STEP, 36, 0.2),)
        ),
        run_with(
            "crisis_year", interventions=(Intervention("Inflation indexing", InterventionKind.STEP, 36, 1),)
        ),
    ]
    combined = scenario_run("combined_levers")

    def gain(frame, column, sign=1):
        return sign * (base[column].loc[60:120].mean() - frame[column].loc[60:120].mean())

    for column, sign in (("Annual staff turnover", 1), ("Organizational climate", -1)):
        assert gain(combined, column, sign) > sum(gain(s, column, sign) for s in singles)


# ----------------------------------------------------------------- standard checks


def test_extreme_conditions():
    # no referrals: the census empties, and with it crises and the exposure they bring
    empty = ns.simulate(compiled(), params={"Referral pool multiplier": 0}).to_pandas()
    assert empty["Clients in care"].iloc[-1] < 1e-3
    assert empty["Incidents"].iloc[-1] < 1e-3
    assert empty["Incident exposure"].iloc[-1] < 1e-3
    # no staff at all: workload sits at its cap and nobody restrains anyone
    no_staff = ns.simulate(
        compiled(),
        params={
            "Reference staffing ratio": 0,
            "Staffing ratio": 0.6,
            "Licensed minimum ratio": 0,
            "Hiring freeze": 1,
        },
    ).to_pandas()
    assert no_staff["Total staff"].max() == 0
    assert no_staff["Workload"].min() == pytest.approx(3.0)
    assert no_staff["Restraints"].max() == 0


def test_co_flows_never_go_negative():
    for name in ("drift", "funding_cut_20", "restraint_ban_without_capability", "sanctuary_adoption"):
        frame = scenario_run(name)
        for column in (
            "Total client distress",
            "Total staff skill",
            "New staff",
            "Experienced staff",
            "Clients in care",
        ):
            assert frame[column].min() >= 0, (name, column)
        assert frame["Average client distress"].max() <= 1
        assert frame["Average staff skill"].max() <= 1


def test_halving_the_time_step_and_rk45_agree():
    params = {"Inflation rate": 0.03, "Acuity growth": 0.02}
    columns = ["Staff strain", "Organizational climate", "Annual staff turnover"]
    coarse = ns.simulate(compiled(), params=params, return_columns=columns)
    fine = ns.simulate(compiled(), params={**params, "TIME STEP": 0.0625}, return_columns=columns)
    accurate = ns.simulate(
        compiled(), params=params, method="RK45", rtol=1e-8, atol=1e-10, return_columns=columns
    )
    for column in columns:
        assert np.allclose(coarse[column], fine[column], atol=0.02 * np.abs(coarse[column]).max())
        assert np.allclose(fine[column], accurate[column], atol=0.02 * np.abs(coarse[column]).max())
