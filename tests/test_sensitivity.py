import numpy as np
import pytest

from nestedsystems.ensembles import run_ensemble
from nestedsystems.errors import ParameterError
from nestedsystems.expressions import Number
from nestedsystems.model import Kind, Variable
from nestedsystems.sensitivity import describe, design
from test_sampling import workload_model


def test_sobol_recovers_the_variance_shares_of_a_linear_function():
    # y = 3a + b with a, b uniform on [0, 1]: Var = 9/12 + 1/12, so S1 = 0.9 and 0.1
    plan = design({"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 1.0)}, 1000, seed=3)
    assert len(plan.samples) == 1024 * 5  # n rounded up to 2**10, times k + 2
    x = plan.samples.to_numpy()
    indices = plan.analyse(3 * x[:, 0] + x[:, 1])
    assert list(indices.index) == ["a", "b", "c"]
    assert indices.loc["a", "S1"] == pytest.approx(0.9, abs=0.02)
    assert indices.loc["b", "S1"] == pytest.approx(0.1, abs=0.02)
    assert indices.loc["a", "ST"] == pytest.approx(0.9, abs=0.02)
    assert indices.loc["c", "ST"] == pytest.approx(0.0, abs=1e-12)


def test_morris_elementary_effects_of_a_linear_function_are_its_slopes_times_its_ranges():
    plan = design({"a": (0.0, 1.0), "b": (0.0, 2.0)}, 20, method="morris", seed=1)
    assert len(plan.samples) == 20 * 3
    x = plan.samples.to_numpy()
    indices = plan.analyse(3 * x[:, 0] - 0.5 * x[:, 1])
    assert indices.loc["a", "mu_star"] == pytest.approx(3.0)
    # SALib measures steps in fractions of each range: slope 0.5 over a range of 2
    assert indices.loc["b", "mu_star"] == pytest.approx(1.0)
    assert indices.loc["a", "sigma"] == pytest.approx(0.0, abs=1e-12)


def test_same_seed_same_design():
    ranges = {"a": (0.0, 1.0), "b": (0.0, 2.0)}
    assert design(ranges, 64, seed=5).samples.equals(design(ranges, 64, seed=5).samples)


def test_sobol_through_an_ensemble_finds_the_constant_that_matters():
    model = workload_model().with_variables(Variable("Unused", Kind.CONSTANT, Number(3.0)))
    plan = design({"Workload": (0.5, 2.0), "Unused": (0.0, 10.0)}, 256, seed=11)
    result = run_ensemble(model, plan.samples, save=["Errors"], progress=False)
    indices = plan.analyse(result.outcomes("final")["Errors"])
    assert indices.index[0] == "Workload"
    assert indices.loc["Workload", "ST"] == pytest.approx(1.0, abs=0.05)
    assert indices.loc["Unused", "ST"] == pytest.approx(0.0, abs=1e-12)
    sentences = describe(indices, "final Errors", top=1)
    assert sentences == [
        f"Workload explains {100 * indices.loc['Workload', 'S1']:.0f}% of the variance of final Errors "
        f"alone and {100 * indices.loc['Workload', 'ST']:.0f}% with its interactions"
    ]


def test_bad_designs_and_outcomes_are_parameter_errors():
    with pytest.raises(ParameterError, match="'fast'"):
        design({"a": (0.0, 1.0)}, 8, method="fast")
    plan = design({"a": (0.0, 1.0)}, 8, seed=0)
    with pytest.raises(ParameterError, match="one value per member \\(24\\), found 3"):
        plan.analyse(np.ones(3))
    with pytest.raises(ParameterError, match="finite"):
        plan.analyse(np.full(24, np.nan))


def test_sweep_command_ranks_constants_in_words(tmp_path, capsys):
    from nestedsystems.cli import main
    from test_sampling import SIR

    base = ["sweep", str(SIR), "--vary", "Contact Infectivity=0.1:0.6", "--vary", "Duration=2:10", "--quiet"]
    assert (
        main([*base, "--n", "500", "--outcome", "Recovered", "--output", str(tmp_path / "sweep.parquet")])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ran 500 members (lhs) of SIR: final Recovered median")
    assert out[1] == "what matters most:"
    assert out[2].startswith("  Contact Infectivity strongly raises final Recovered (rank correlation +0.")
    assert out[3].startswith("  Duration strongly raises final Recovered")
    assert out[4] == f"wrote members to {tmp_path / 'sweep.parquet'}"

    assert main([*base, "--n", "512", "--method", "sobol", "--save", "Infectious", "--statistic", "max"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ran 512 members (sobol) of SIR: max Infectious")  # 2**7 x (2 + 2)
    assert "explains" in out[2]
    assert "with its interactions" in out[3]


def test_sweep_command_errors_are_one_line(capsys):
    from nestedsystems.cli import main
    from test_sampling import SIR

    assert main(["sweep", str(SIR), "--vary", "Duration", "--n", "10"]) == 2
    assert capsys.readouterr().err == (
        "nestedsystems: error: 'Duration': expected LOW:HIGH or a [min,max] range in the model, "
        "found neither\n"
    )
    assert main(["sweep", str(SIR), "--vary", "Duration=2:10", "--n", "10", "--outcome", "Nobody"]) == 2
    assert capsys.readouterr().err == (
        "nestedsystems: error: save 'Nobody': expected a variable of SIR, found no such variable\n"
    )


def test_sweep_command_varies_a_lookup_through_its_strength(capsys):
    from conftest import MODELS
    from nestedsystems.cli import main

    code = main(
        [
            "sweep",
            str(MODELS / "nested_systems.mdl"),
            "--vary",
            "Effect of strain on healing table=0:2",
            "--vary",
            "Staff trauma vulnerability",  # its [1, 1.3] range comes from the model
            "--n",
            "32",
            "--outcome",
            "Total client distress",
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ran 32 members (lhs) of nested_systems: final Total client distress")
    # bending the whole curve moves the outcome far more than the lever's narrow range
    assert out[2].startswith("  Effect of strain on healing table strength strongly ")
    assert out[3].startswith("  Staff trauma vulnerability ")
