import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from conftest import ROOT
from nestedsystems.calibration import calibrate, plot_fit, read_data
from nestedsystems.cli import main
from nestedsystems.errors import ParameterError
from test_sampling import SIR

TRUE = {"Contact Infectivity": 0.35, "Duration": 6.0}
BOUNDS = {"Contact Infectivity": (0.05, 1.0), "Duration": (1.0, 20.0)}
NOISE = {"Infectious": 5.0, "Recovered": 10.0}


@pytest.fixture(scope="module")
def sir():
    return ns.load(SIR)


@pytest.fixture(scope="module")
def observed(sir):
    """Every second day of a run with known constants, plus Gaussian noise and a gap."""
    run = ns.simulate(sir, params=TRUE, return_columns=list(NOISE))
    times = np.arange(0.0, 101.0, 2.0)
    at = np.searchsorted(run.times, times)
    rng = np.random.default_rng(42)
    table = pd.DataFrame({"time": times})
    for name, sd in NOISE.items():
        table[name] = run[name][at] + rng.normal(0.0, sd, times.size)
    table.loc[3:5, "Recovered"] = np.nan
    return table


@pytest.fixture(scope="module")
def fitted(sir, observed):
    return calibrate(sir, observed, BOUNDS)


def test_known_constants_are_recovered_within_their_intervals(fitted):
    assert fitted.success
    for name, value in TRUE.items():
        row = fitted.estimates.loc[name]
        assert row["low"] <= value <= row["high"]
        # and the intervals are informative, not merely wide
        assert row["high"] - row["low"] < 0.05 * value
        assert row["value"] == pytest.approx(value, rel=0.01)


def test_fit_statistics_match_the_noise(fitted):
    stats = fitted.statistics
    assert list(stats.index) == ["Infectious", "Recovered", "all"]
    assert stats.loc["Infectious", "n"] == 51
    assert stats.loc["Recovered", "n"] == 48  # three missing observations skipped
    for name, sd in NOISE.items():
        assert 0.6 * sd < stats.loc[name, "rmse"] < 1.4 * sd
        assert stats.loc[name, "r2"] > 0.99
    assert fitted.covariance.shape == (2, 2)
    assert fitted.fitted.columns.tolist() == ["time", "Infectious", "Recovered"]


def test_weights_can_silence_a_series(sir, observed):
    corrupted = observed.copy()
    corrupted["Recovered"] = 500.0  # nonsense that a zero weight must ignore
    calibration = calibrate(sir, corrupted, BOUNDS, weights={"Recovered": 0.0})
    assert calibration.statistics.loc["Recovered", "weight"] == 0.0
    for name, value in TRUE.items():
        row = calibration.estimates.loc[name]
        assert row["low"] <= value <= row["high"]


def test_several_starts_find_the_same_optimum(sir, observed, fitted):
    calibration = calibrate(sir, observed, BOUNDS, starts=3, seed=1)
    assert len(calibration.starts) == 3
    assert calibration.cost == pytest.approx(min(calibration.starts))
    for name in TRUE:
        assert calibration.estimates.loc[name, "value"] == pytest.approx(
            fitted.estimates.loc[name, "value"], rel=1e-4
        )


def test_plot_shows_data_and_fit(fitted, tmp_path):
    html = plot_fit(fitted, tmp_path / "fit.html").read_text()
    assert "Infectious: RMSE" in html
    assert "fitted model" in html


def test_bad_data_and_names_are_parameter_errors(sir, observed, tmp_path):
    (tmp_path / "no_time.csv").write_text("day,Infectious\n0,5\n")
    with pytest.raises(ParameterError, match="expected a 'time' column, found day, Infectious"):
        read_data(tmp_path / "no_time.csv")
    (tmp_path / "text.csv").write_text("time,Infectious\n0,5\n1,many\n")
    with pytest.raises(ParameterError, match="column 'Infectious' row 3: expected a number, found 'many'"):
        read_data(tmp_path / "text.csv")
    with pytest.raises(ParameterError, match="data column 'Cases': expected a variable of SIR"):
        calibrate(sir, observed.rename(columns={"Infectious": "Cases"}), BOUNDS)
    with pytest.raises(ParameterError, match="--fit 'Infectious': expected a constant of SIR, found a stock"):
        calibrate(sir, observed, {"Infectious": (0, 1)})
    late = observed.assign(time=observed["time"] + 50)
    with pytest.raises(ParameterError, match="data times: expected them within the model's 0 to 100"):
        calibrate(sir, late, BOUNDS)


def test_command_line_prints_intervals_and_writes_the_plot(observed, tmp_path, capsys):
    observed.to_csv(tmp_path / "observed.csv", index=False)
    plot = tmp_path / "sir-fit.html"
    code = main(
        [
            "calibrate",
            str(SIR),
            "--data",
            str(tmp_path / "observed.csv"),
            "--fit",
            "Contact Infectivity=0.05:1",
            "--fit",
            "Duration=1:20",
            "--weight",
            "Recovered=2",
            "--plot",
            str(plot),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Contact Infectivity = 0.349" in out
    assert "Infectious: RMSE" in out
    assert plot.exists()
    data = str(tmp_path / "observed.csv")
    assert main(["calibrate", str(SIR), "--data", data, "--fit", "Infectious=0:1", "--no-plot"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.slow  # the engine compiles the flagship's scalar kernel (numba) on first use
def test_flagship_constants_are_recovered_within_their_intervals():
    from conftest import MODELS

    model = ns.load(MODELS / "nested_systems.mdl")
    true = {"Staff trauma vulnerability": 1.2, "Leadership participation": 0.45}
    observed = ["Staff strain", "Organizational climate", "Experienced staff"]
    run = ns.simulate(model, params=true, return_columns=observed)
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"time": run.times})
    for name in observed:
        series = run[name]
        data[name] = series + rng.normal(0.0, 0.05 * (series.max() - series.min()), series.size)
    data.loc[::7, "Organizational climate"] = np.nan  # a survey that is not run every month
    calibration = calibrate(
        model, data, {"Staff trauma vulnerability": (1.0, 1.3), "Leadership participation": (0.0, 1.0)}
    )
    for name, value in true.items():
        row = calibration.estimates.loc[name]
        assert row["low"] <= value <= row["high"]
        assert row["value"] == pytest.approx(value, rel=0.02)
    assert calibration.statistics.loc["Organizational climate", "n"] == 121 - 18


def test_an_arrayed_constant_is_refused_by_name_not_crashed_on():
    model = ns.load(ROOT / "tests" / "models" / "two_regions.mdl")
    observed = pd.DataFrame({"time": [0.0, 10.0], "Population[north]": [100.0, 120.0]})
    with pytest.raises(
        ParameterError,
        match=r"--fit 'birth rate': expected a constant holding one number, found subscripts \[region\]",
    ):
        calibrate(model, observed, {"birth rate": (0.0, 0.2)})
