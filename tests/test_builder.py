"""`ModelBuilder`: models built and edited in Python, equations written as Vensim text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import MODELS, TEST_MODELS
from nestedsystems.errors import (
    AlgebraicLoopError,
    ModelError,
    ModelSyntaxError,
    UndefinedVariableError,
    UnsafeModelError,
)
from nestedsystems.loops import Polarity
from nestedsystems.mdl_writer import to_mdl
from nestedsystems.model import Kind, Range
from nestedsystems.vensim_text import SKETCH_MARK

P0, RATE, DT, YEARS = 100.0, 0.1, 0.25, 10


def growth(**control: float) -> ns.ModelBuilder:
    """Exponential growth, dP/dt = r*P, split in two sectors."""
    b = ns.ModelBuilder("Growth", time_units="Year", final_time=YEARS, time_step=DT, **control)
    b.stock("Population", P0, inflows=["Births"], units="people", doc="People alive.", group="People")
    b.flow("Births", "Population * Birth rate", units="people/Year", group="People")
    b.constant("Birth rate", RATE, units="1/Year", range=(0, 0.5, 0.01), doc="Lever: births.", group="Policy")
    return b


def test_exponential_growth_is_exact_under_euler_and_analytic_under_rk45() -> None:
    model = growth().build()
    euler = ns.simulate(model)
    n = np.arange(len(euler.times))
    np.testing.assert_allclose(euler["Population"], P0 * (1 + RATE * DT) ** n, rtol=1e-13)
    rk45 = ns.simulate(model, method="RK45", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rk45["Population"], P0 * np.exp(RATE * rk45.times), rtol=1e-7)
    assert rk45.times[-1] == YEARS


def test_goal_seeking_through_smooth_follows_the_first_order_solution() -> None:
    b = ns.ModelBuilder("Goal", time_units="Month", final_time=24, time_step=0.5)
    b.constant("Target", 60).constant("Adjustment time", 4)
    b.auxiliary("Perceived level", "SMOOTHI(Target, Adjustment time, 0)")
    model = b.build()
    assert [v.name for v in model.variables if v.origin == "Perceived level"]  # lowered to a stock
    euler = ns.simulate(model)
    n = np.arange(len(euler.times))
    np.testing.assert_allclose(euler["Perceived level"], 60 * (1 - (1 - 0.5 / 4) ** n), rtol=1e-12)
    rk45 = ns.simulate(model, method="RK45", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rk45["Perceived level"], 60 * (1 - np.exp(-rk45.times / 4)), rtol=1e-6)


def test_a_lookup_interpolates_between_its_points_and_holds_beyond_them() -> None:
    b = ns.ModelBuilder("Lookup", final_time=30, time_step=5)
    b.lookup("Effect of crowding", [(0, 1), (1, 1), (2, 0.5)], units="Dmnl")
    b.auxiliary("Effect", "Effect of crowding(Time / 10)", units="Dmnl")
    run = ns.simulate(b.build())
    assert dict(zip(run.times, run["Effect"], strict=True)) == {
        0: 1.0,
        5: 1.0,
        10: 1.0,
        15: 0.75,
        20: 0.5,
        25: 0.5,
        30: 0.5,
    }


def test_subscripted_variables_read_as_in_a_file() -> None:
    b = ns.ModelBuilder("Regions", final_time=2)
    b.subscript("Region", ["North", "South"])
    b.constant("Size[Region]", "100, 200")
    b.stock("Served[Region]", 0, inflows=["Intake[Region]"])
    b.flow("Intake[Region]", "Size[Region] * 0.5")
    run = ns.simulate(b.build())
    final = {name: run[name][-1] for name in run.names if name.startswith("Served")}
    assert final == {"Served[North]": 100.0, "Served[South]": 200.0}


def test_declared_loops_are_found_with_their_polarity() -> None:
    b = ns.ModelBuilder("Population", time_units="Year", final_time=20)
    b.stock("Population", 1000, inflows=["Births"], outflows=["Deaths"])
    b.flow("Births", "Population * 0.03").flow("Deaths", "Population / Average lifetime")
    b.constant("Average lifetime", 70)
    b.loop("R1", "Births feed births", ["Population", "Births"], "More people, more births.")
    b.loop("B1", "Deaths drain", ["Population", "Deaths"])
    model = b.build()
    assert [(loop.id, loop.name, loop.variables) for loop in model.loops] == [
        ("B1", "Deaths drain", ("Population", "Deaths")),
        ("R1", "Births feed births", ("Population", "Births")),
    ]
    assert model.loops[1].description == "More people, more births."
    found = {loop.id: loop for loop in ns.find_loops(model).named().loops}
    assert found["R1"].polarity is Polarity.REINFORCING
    assert found["B1"].polarity is Polarity.BALANCING


def test_build_save_load_keeps_the_run_units_docs_ranges_groups_and_loops(tmp_path: Path) -> None:
    built = growth().loop("R1", "Growth", ["Population", "Births"]).build()
    assert built.source is None and built.name == "Growth" and built.time_units == "Year"
    loaded = ns.load(ns.save(built, tmp_path / "growth.mdl"))
    for name in ("Population", "Births", "Birth rate"):
        before, after = built[name], loaded[name]
        assert (after.units, after.documentation, after.range, after.group) == (
            before.units,
            before.documentation,
            before.range,
            before.group,
        )
    assert loaded["Birth rate"].range == Range(0, 0.5, 0.01)
    assert loaded["Birth rate"].documentation == "Lever: births."
    assert {
        v.group
        for v in loaded.variables
        if v.key not in ("initial time", "final time", "time step", "saveper")
    } == {
        "People",
        "Policy",
    }
    assert loaded.loops == built.loops
    first, again = ns.simulate(built), ns.simulate(loaded)
    assert again.names == first.names
    np.testing.assert_array_equal(again.values, first.values)


Mistake = Callable[[ns.ModelBuilder], ns.ModelBuilder]
MISTAKES: dict[str, tuple[Mistake, type[ModelError], str, str]] = {
    "unknown name": (
        lambda b: b.equation("Births", "Population * Birth rat"),
        UndefinedVariableError,
        "Births",
        "names 'Birth rat', which is not in the model (did you mean 'Birth rate'?)",
    ),
    "unbalanced parentheses": (
        lambda b: b.equation("Births", "Population * (Birth rate"),
        ModelSyntaxError,
        "Births",
        "has unbalanced parentheses: the '(' at column 14 is never closed",
    ),
    "a stray parenthesis": (
        lambda b: b.equation("Births", "Population * Birth rate)"),
        ModelSyntaxError,
        "Births",
        "the ')' at column 24 closes nothing",
    ),
    "a tilde": (lambda b: b.equation("Births", "Population ~ 2"), ModelSyntaxError, "Births", "holds '~'"),
    "a bar": (lambda b: b.equation("Births", "Population | 2"), ModelSyntaxError, "Births", "holds '|'"),
    "the sketch marker": (
        lambda b: b.equation("Births", SKETCH_MARK),
        ModelSyntaxError,
        "Births",
        "opens the sketch",
    ),
    "INTEG outside a stock": (
        lambda b: b.auxiliary("Total", "INTEG(Births, 0)"),
        ModelSyntaxError,
        "Total",
        "holds INTEG; expected an auxiliary's equation (declare a stock with stock())",
    ),
    "a macro": (lambda b: b.equation("Births", ":MACRO: m(x)"), ModelSyntaxError, "Births", "':MACRO:'"),
    "a dangling operator": (
        lambda b: b.equation("Births", "Population *"),
        ModelSyntaxError,
        "Births",
        "cannot parse 'Population *' near '*'",
    ),
    "a duplicate": (lambda b: b.constant("birth RATE", 1), ModelError, "birth RATE", "is defined twice"),
    "a missing flow": (
        lambda b: b.stock("Deaths so far", 0, inflows=["Death"]),
        UndefinedVariableError,
        "Deaths so far",
        "lists the flow 'Death', which is not in the model",
    ),
    "an algebraic loop": (
        lambda b: b.equation("Births", "Population * Birth rate + Echo").auxiliary("Echo", "Births"),
        AlgebraicLoopError,
        "Births",
        "algebraic loop among the equations: Births -> Echo -> Births",
    ),
    "a flow of no stock": (lambda b: b.flow("Migration", "5"), ModelError, "Migration", "no stock lists it"),
    "a misspelt lookup": (
        lambda b: b.lookup("Effect", [(0, 1), (1, 2)]).auxiliary("x", "Efect(2)"),
        ModelError,
        "x",
        "(did you mean 'Effect'?)",
    ),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_each_mistake_names_its_variable_and_what_was_found(case: str) -> None:
    mistake, kind, variable, found = MISTAKES[case]
    with pytest.raises(kind) as raised:
        mistake(growth()).build()
    assert raised.value.variable == variable
    assert found in str(raised.value)
    assert str(raised.value).startswith(f"ModelBuilder, variable {variable!r}: ")


def test_a_loop_naming_an_unknown_variable_suggests_the_nearest() -> None:
    with pytest.raises(
        UndefinedVariableError, match=r"loop R1 names 'Birth', .* \(did you mean 'Births'\?\)"
    ):
        growth().loop("R1", "Growth", ["Population", "Birth"]).build()


def test_equation_text_is_never_evaluated(tmp_path: Path) -> None:
    """PySD evaluates a lookup's range text; under the loader's guard that is refused."""
    touched = tmp_path / "touched"
    payload = f"__import__('pathlib').Path({str(touched)!r}).touch()"
    with pytest.raises(UnsafeModelError, match="variable 'x': expected numbers"):
        growth().auxiliary("x", f"WITH LOOKUP(Time, ([(0,0)-({payload},1)],(0,0),(1,1)))").build()
    with pytest.raises(ModelSyntaxError, match="variable 'y': cannot parse"):
        growth().auxiliary("y", payload).build()
    assert not touched.exists()


# ------------------------------------------------------------------ editing

FLAGSHIP = MODELS / "nested_systems.mdl"


@pytest.fixture(scope="module")
def flagship() -> ns.Model:
    return ns.load(FLAGSHIP)


@pytest.mark.parametrize("path", sorted(MODELS.glob("**/*.mdl")), ids=lambda path: path.name)
def test_a_bundled_model_rebuilt_unchanged_equals_the_original(path: Path) -> None:
    model = ns.load(path)
    assert ns.ModelBuilder.from_model(model).build() == model


def test_editing_a_lever_runs_as_setting_it_and_keeps_the_sketch_verbatim(flagship: ns.Model) -> None:
    edited = ns.ModelBuilder.from_model(flagship).equation("Restraint reduction policy", "1").build()
    assert edited["Restraint reduction policy"].range == Range(0, 1, 0.05)  # units, range, doc kept
    assert (
        edited["Restraint reduction policy"].documentation
        == flagship["Restraint reduction policy"].documentation
    )
    assert edited.source == flagship.source and edited.loops == flagship.loops
    sketch = FLAGSHIP.read_text(encoding="utf-8").split(SKETCH_MARK, 1)[1]
    assert to_mdl(edited).split(SKETCH_MARK, 1)[1] == sketch
    set_so = ns.simulate(flagship, params={"Restraint reduction policy": 1})
    np.testing.assert_array_equal(ns.simulate(edited).values, set_so.values)
    assert not np.array_equal(set_so.values, ns.simulate(flagship).values)


def test_editing_an_equation_runs_as_the_same_edit_made_in_the_file(
    flagship: ns.Model, tmp_path: Path
) -> None:
    text = FLAGSHIP.read_text(encoding="utf-8")
    old = "Staffing cover for deescalation =\n\tStaffing cover for deescalation table(Workload)\n"
    assert old in text
    edited_file = tmp_path / "edited.mdl"
    edited_file.write_text(text.replace(old, old.replace("table(Workload)", "table(Workload * 1.5)")))
    by_hand = ns.simulate(ns.load(edited_file))
    builder = ns.ModelBuilder.from_model(flagship)
    edited = builder.equation(
        "Staffing cover for deescalation", "Staffing cover for deescalation table(Workload * 1.5)"
    )
    np.testing.assert_array_equal(ns.simulate(edited.build()).values, by_hand.values)


def test_a_stock_keeps_its_initial_value_when_its_net_flow_changes() -> None:
    model = growth().build()
    edited = ns.ModelBuilder.from_model(model).equation("Population", "-Births").build()
    assert edited["Population"].kind is Kind.STOCK
    run = ns.simulate(edited)
    n = np.arange(len(run.times))
    np.testing.assert_allclose(run["Population"], P0 * (1 - RATE * DT) ** n, rtol=1e-13)


def test_removing_a_variable_others_read_names_the_reader() -> None:
    edited = ns.ModelBuilder.from_model(growth().build()).remove("Birth rate")
    with pytest.raises(UndefinedVariableError, match="variable 'Births': its equation names 'birth rate'"):
        edited.build()
    with pytest.raises(UndefinedVariableError, match=r"\(did you mean 'Births'\?\)"):
        edited.remove("Birth")


def test_renaming_updates_every_equation_and_loop_and_runs_the_same() -> None:
    model = growth().loop("R1", "Growth", ["Population", "Births"]).build()
    renamed = ns.ModelBuilder.from_model(model).rename("birth RATE", "Fertility").rename("Births", "Newborns")
    built = renamed.build()
    assert "Birth rate" not in built and built["Fertility"].range == Range(0, 0.5, 0.01)
    assert built.loops[0].variables == ("Population", "Newborns")
    before, after = ns.simulate(model), ns.simulate(built, params={"Fertility": RATE})
    assert after.names == ("Population", "Newborns", "Fertility", *before.names[3:])
    np.testing.assert_array_equal(after.values, before.values)


def test_renaming_a_flagship_variable_keeps_its_loops_and_draws_a_new_diagram(flagship: ns.Model) -> None:
    built = ns.ModelBuilder.from_model(flagship).rename("Staff strain", "Staff stress level").build()
    chains = {loop.id: loop.variables for loop in built.loops}
    old_chains = {loop.id: loop.variables for loop in flagship.loops}
    assert chains == {
        id: tuple("Staff stress level" if name == "Staff strain" else name for name in chain)
        for id, chain in old_chains.items()
    }
    assert sum("Staff stress level" in chain for chain in chains.values()) >= 3
    np.testing.assert_array_equal(ns.simulate(built).values, ns.simulate(flagship).values)
    sketch = to_mdl(built).split(SKETCH_MARK, 1)[1]
    assert ",Staff stress level," in sketch and ",Staff strain," not in sketch


def test_renaming_refuses_a_taken_name_and_a_name_a_reality_check_reads(flagship: ns.Model) -> None:
    with pytest.raises(ModelError, match="variable 'Births': cannot take the name 'Population'"):
        ns.ModelBuilder.from_model(growth().build()).rename("Births", "Population")
    with pytest.raises(ModelError, match="the Reality Check 'no clients no crises' names it"):
        ns.ModelBuilder.from_model(flagship).rename("Incidents", "Crises")


def test_an_active_initial_auxiliary_keeps_its_initial_value_when_its_equation_changes(
    tmp_path: Path,
) -> None:
    source = TEST_MODELS / "tests" / "active_initial" / "test_active_initial.mdl"
    edited = ns.ModelBuilder.from_model(ns.load(source)).equation("Value A", "Time * 2").build()
    # the same edit made in the file: the initial value 45 stays with the new equation
    text = source.read_text(encoding="utf-8").replace(
        "ACTIVE INITIAL(Time, 45 )", "ACTIVE INITIAL(Time * 2, 45 )"
    )
    assert "Time * 2, 45" in text
    (tmp_path / "edited.mdl").write_text(text, encoding="utf-8")
    expected = ns.simulate(ns.load(tmp_path / "edited.mdl"))
    run = ns.simulate(edited)
    assert run.names == expected.names
    np.testing.assert_allclose(run.values, expected.values, rtol=1e-15, atol=0)
    assert "ACTIVE INITIAL" in to_mdl(edited)
