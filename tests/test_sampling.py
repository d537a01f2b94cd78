from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.errors import ParameterError
from nestedsystems.expressions import Binary, LookupCall, Number, Op, Ref, Table
from nestedsystems.model import Kind, Model, Range, Variable
from nestedsystems.sampling import (
    Normal,
    Triangular,
    Uniform,
    distort_lookup,
    expose_lookup_strength,
    parse_range,
    ranges_from_model,
    sample,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "test-models" / "samples"
SIR = SAMPLES / "SIR" / "SIR.mdl"


def workload_model() -> Model:
    """Errors accumulate at 0.1 x effect(workload); the effect is 1 at normal workload."""
    return Model(
        (
            Variable("Workload", Kind.CONSTANT, Number(1.5), range=Range(0.5, 2.0, 0.1)),
            Variable("Effect of workload", Kind.LOOKUP, Table((0.0, 1.0, 2.0), (0.5, 1.0, 2.0))),
            Variable(
                "Error rate",
                Kind.AUXILIARY,
                Binary(Op.MUL, Number(0.1), LookupCall(Ref("effect of workload"), Ref("workload"))),
            ),
            Variable("Errors", Kind.STOCK, Ref("error rate"), initial=Number(0.0)),
            Variable("INITIAL TIME", Kind.CONSTANT, Number(0.0)),
            Variable("FINAL TIME", Kind.CONSTANT, Number(4.0)),
            Variable("TIME STEP", Kind.CONSTANT, Number(1.0)),
            Variable("SAVEPER", Kind.CONSTANT, Number(1.0)),
        ),
        name="workload",
    )


def test_latin_hypercube_puts_one_member_in_every_stratum():
    table = sample({"a": Uniform(0.0, 10.0), "b": Uniform(-1.0, 1.0)}, 50, seed=7)
    assert list(table.columns) == ["a", "b"]
    strata_a = np.floor(table["a"].to_numpy() / 10.0 * 50).astype(int)
    strata_b = np.floor((table["b"].to_numpy() + 1.0) / 2.0 * 50).astype(int)
    assert sorted(strata_a) == list(range(50))
    assert sorted(strata_b) == list(range(50))


def test_same_seed_same_design_other_seed_other_design():
    distributions = {"a": Uniform(0.0, 1.0), "b": Normal(5.0, 1.0)}
    first = sample(distributions, 100, seed=3)
    again = sample(distributions, 100, seed=3)
    other = sample(distributions, 100, seed=4)
    assert first.equals(again)
    assert not np.allclose(first.to_numpy(), other.to_numpy())
    assert sample(distributions, 100, method="random", seed=3).equals(
        sample(distributions, 100, method="random", seed=3)
    )


def test_distributions_have_their_moments():
    table = sample(
        {"u": Uniform(2.0, 4.0), "n": Normal(10.0, 2.0), "t": Triangular(0.0, 1.0, 5.0)}, 20000, seed=1
    )
    # Latin hypercube pins the marginals: moments are far closer than random sampling's
    assert table["u"].mean() == pytest.approx(3.0, abs=1e-3)
    assert table["n"].mean() == pytest.approx(10.0, abs=1e-3)
    assert table["n"].std() == pytest.approx(2.0, abs=5e-3)
    assert table["t"].mean() == pytest.approx(2.0, abs=1e-3)
    assert table["t"].min() >= 0.0
    assert table["t"].max() <= 5.0


def test_truncated_normal_stays_in_bounds():
    values = sample({"rate": Normal(0.1, 0.2, low=0.0, high=0.5)}, 5000, seed=2)["rate"]
    assert values.min() >= 0.0
    assert values.max() <= 0.5


def test_bad_inputs_are_parameter_errors():
    with pytest.raises(ParameterError, match="'sobolish'"):
        sample({"a": Uniform(0, 1)}, 10, method="sobolish")
    with pytest.raises(ParameterError, match="at least 1 member"):
        sample({"a": Uniform(0, 1)}, 0)
    with pytest.raises(ParameterError, match="low < high"):
        Uniform(2.0, 1.0)
    with pytest.raises(ParameterError, match="mode"):
        Triangular(0.0, 3.0, 2.0)


def test_parse_range():
    assert parse_range("Contact Infectivity=0.1:0.5") == ("Contact Infectivity", 0.1, 0.5)
    assert parse_range("Duration") == ("Duration", None, None)
    with pytest.raises(ParameterError, match="'Duration'"):
        parse_range("Duration=5:2")
    with pytest.raises(ParameterError, match="two numbers"):
        parse_range("Duration=a:b")


def test_ranges_come_from_arguments_or_the_model():
    model = workload_model()
    assert ranges_from_model(model, ["workload"]) == {"Workload": (0.5, 2.0)}
    assert ranges_from_model(model, {"Workload": (1.0, None)}) == {"Workload": (1.0, 2.0)}
    sir = ns.load(SIR)
    with pytest.raises(ParameterError, match="'Duration': expected LOW:HIGH or a \\[min,max\\] range"):
        ranges_from_model(sir, ["Duration"])
    with pytest.raises(ParameterError, match=r"'Infectious': expected a constant of .*found a stock"):
        ranges_from_model(sir, {"Infectious": (0, 1)})
    with pytest.raises(ParameterError, match=r"'Nobody': expected a constant .*found no such variable"):
        ranges_from_model(sir, {"Nobody": (0, 1)})


def test_distort_lookup_bends_about_the_normal_point_and_leaves_the_model_alone():
    model = workload_model()
    stronger = distort_lookup(model, "effect of workload", strength=2.0)
    assert stronger["Effect of workload"].equation.y == (0.0, 1.0, 3.0)
    flat = distort_lookup(model, "Effect of workload", strength=0.0, shift=0.25)
    assert flat["Effect of workload"].equation.y == (1.25, 1.25, 1.25)
    assert model["Effect of workload"].equation.y == (0.5, 1.0, 2.0)
    with pytest.raises(ParameterError, match=r"'Workload': expected a lookup .*found a constant"):
        distort_lookup(model, "Workload", strength=2.0)


def test_exposed_strength_varies_the_curve_member_by_member():
    model, name = expose_lookup_strength(workload_model(), "Effect of workload")
    assert name == "Effect of workload strength"
    assert model[name].equation == Number(1.0)
    run = ns.simulate(model, params={name: np.array([0.0, 1.0, 2.0])}, return_columns=["Error rate"])
    # effect(1.5) = 1.5, bent about effect(1) = 1: 1 + s * 0.5
    np.testing.assert_allclose(run["Error rate"][:, 0], [0.1, 0.15, 0.2])
    # the same bend as distort_lookup on the table itself
    bent = ns.simulate(distort_lookup(workload_model(), "Effect of workload", strength=2.0))
    np.testing.assert_allclose(bent["Error rate"][0], 0.2)
