import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import nestedsystems as ns
from nestedsystems.ensembles import run_ensemble
from nestedsystems.errors import ParameterError
from nestedsystems.sampling import Uniform, sample
from test_sampling import SIR

SAVE = ["Infectious", "Recovered"]


@pytest.fixture(scope="module")
def sir():
    return ns.load(SIR)


@pytest.fixture(scope="module")
def members():
    return sample({"Contact Infectivity": Uniform(0.1, 0.6), "Duration": Uniform(2.0, 10.0)}, 300, seed=5)


def test_members_equal_one_vectorised_simulate(sir, members):
    result = run_ensemble(sir, members, save=SAVE, chunk_size=128, progress=False)
    direct = ns.simulate(sir, params={c: members[c].to_numpy() for c in members.columns}, return_columns=SAVE)
    data = result.dataset
    assert dict(data.sizes) == {"run": 300, "time": 3201}
    np.testing.assert_array_equal(data.time, direct.times)
    np.testing.assert_array_equal(data["Infectious"], direct["Infectious"])
    np.testing.assert_array_equal(data["Recovered"], direct["Recovered"])
    np.testing.assert_array_equal(data["Duration"], members["Duration"])
    # the model's own conservation law holds member by member
    assert float(data["Recovered"].isel(time=0).max()) == 0.0


def test_chunking_does_not_change_a_single_bit(sir, members):
    small = run_ensemble(sir, members, save=SAVE, chunk_size=7, progress=False)
    whole = run_ensemble(sir, members, save=SAVE, chunk_size=1000, progress=False)
    xr.testing.assert_identical(small.dataset, whole.dataset)
    pd.testing.assert_frame_equal(small.outcomes("max"), whole.outcomes("max"))


def test_outcomes_are_per_member_statistics(sir, members):
    result = run_ensemble(sir, members, save=SAVE, progress=False)
    infectious = result.dataset["Infectious"].to_numpy()
    np.testing.assert_array_equal(result.outcomes("final")["Infectious"], infectious[:, -1])
    np.testing.assert_array_equal(result.outcomes("max")["Infectious"], infectious.max(axis=1))
    np.testing.assert_allclose(result.outcomes("mean")["Infectious"], infectious.mean(axis=1), rtol=1e-12)
    with pytest.raises(ParameterError, match="'median'"):
        result.outcomes("median")


def test_kept_members_give_exact_quantiles(sir, members):
    result = run_ensemble(sir, members, save=SAVE, progress=False)
    assert result.exact
    quantiles = result.quantiles([0.05, 0.5, 0.95])
    expected = np.quantile(result.dataset["Infectious"].to_numpy(), [0.05, 0.5, 0.95], axis=0)
    np.testing.assert_array_equal(quantiles["Infectious"], expected)
    assert float(result.quantile_error()["Infectious"].max()) == 0.0


def test_summaries_only_give_quantiles_within_their_stated_error(sir):
    many = sample({"Contact Infectivity": Uniform(0.1, 0.6), "Duration": Uniform(2.0, 10.0)}, 2000, seed=9)
    exact = run_ensemble(sir, many, save=SAVE, chunk_size=500, progress=False)
    summary = run_ensemble(sir, many, save=SAVE, chunk_size=500, keep_runs=False, progress=False)
    assert not summary.exact
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    difference = abs(summary.quantiles(qs) - exact.quantiles(qs))
    error = summary.quantile_error(qs)
    for name in SAVE:
        assert bool((difference[name] <= error[name] + 1e-9).all())
    # one bin of the padded spread: a few persons out of a thousand
    assert float(error["Recovered"].max()) < 6.0
    pd.testing.assert_frame_equal(summary.outcomes("final"), exact.outcomes("final"))
    with pytest.raises(ParameterError, match="found only summaries"):
        _ = summary.dataset


def test_memory_limit_decides_what_is_kept(sir, members):
    assert run_ensemble(sir, members, save=SAVE, progress=False).exact
    assert not run_ensemble(sir, members, save=SAVE, memory_limit=1000, progress=False).exact


def test_dict_samples_and_the_default_save(sir):
    result = run_ensemble(sir, {"Duration": np.array([2.0, 5.0])}, progress=False)
    assert set(result.names) == {"Infectious", "Recovered", "Susceptible"}
    assert len(result) == 2
    final = result.outcomes("final").loc[1]
    # nobody is born or dies: the 1000 susceptible plus the 5 first infectious
    assert final["Susceptible"] + final["Infectious"] + final["Recovered"] == pytest.approx(1005.0)


def test_bad_samples_are_one_line_parameter_errors(sir):
    with pytest.raises(ParameterError, match=r"'Infectious': expected a constant of .*found a stock"):
        run_ensemble(sir, {"Infectious": [1.0]}, progress=False)
    with pytest.raises(ParameterError, match=r"'Nobody': expected a constant .*found no such variable"):
        run_ensemble(sir, {"Nobody": [1.0]}, progress=False)
    with pytest.raises(ParameterError, match="'Duration': expected finite numbers, found nan"):
        run_ensemble(sir, pd.DataFrame({"Duration": [1.0, np.nan]}), progress=False)
    with pytest.raises(ParameterError, match="save 'Nobody'"):
        run_ensemble(sir, {"Duration": [1.0]}, save=["Nobody"], progress=False)
    with pytest.raises(ParameterError, match="one length"):
        run_ensemble(sir, {"Duration": [1.0, 2.0], "Contact Infectivity": [0.1]}, progress=False)


@pytest.mark.parametrize("suffix", [".nc", ".parquet", ".csv"])
def test_results_are_written(sir, tmp_path, suffix):
    result = run_ensemble(sir, {"Duration": np.array([2.0, 5.0])}, save=["Infectious"], progress=False)
    path = result.save(tmp_path / f"ensemble{suffix}")
    if suffix == ".nc":
        with xr.open_dataset(path) as back:
            np.testing.assert_array_equal(back["Infectious"], result.dataset["Infectious"])
    else:
        table = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        assert list(table.columns[:3]) == ["run", "time", "Infectious"]
        assert len(table) == 2 * 3201
        assert table["Infectious"].iloc[-1] == pytest.approx(result.outcomes()["Infectious"].iloc[-1])
    with pytest.raises(ParameterError, match=r"'\.xlsx'"):
        result.save(tmp_path / "ensemble.xlsx")


def test_progress_bar_only_when_asked_or_on_a_terminal(sir, capsys):
    run_ensemble(sir, {"Duration": np.array([2.0, 5.0])}, chunk_size=1, progress=None)
    assert capsys.readouterr().err == ""
    run_ensemble(sir, {"Duration": np.array([2.0, 5.0])}, chunk_size=1, progress=True)
    assert "ensemble" in capsys.readouterr().err


def test_a_scenario_is_applied_before_the_members_run(sir, tmp_path):
    scenarios = pytest.importorskip("nestedsystems.scenarios", reason="the scenario module has not landed")
    path = tmp_path / "bigger.toml"
    path.write_text('name = "Bigger town"\n[set]\n"Total Population" = 2000\n')
    members = {"Duration": np.array([2.0, 5.0])}
    for scenario in (path, str(path), scenarios.load_scenario(path)):
        result = run_ensemble(sir, members, scenario=scenario, progress=False)
        final = result.outcomes("final").loc[1]
        assert final["Susceptible"] + final["Infectious"] + final["Recovered"] == pytest.approx(2005.0)
    assert sir["Total Population"].equation.value == 1000.0  # the model itself is untouched


def _on_a_terminal(argv: list[str]) -> str:
    """Run a command with a pseudo-terminal as its stdout and stderr; return what it drew."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    with subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower) as child:
        os.close(follower)
        chunks = []
        try:
            while data := os.read(leader, 4096):
                chunks.append(data)
        except OSError:  # the child has exited and closed the terminal
            pass
    os.close(leader)
    drawn = b"".join(chunks).decode(errors="replace")
    assert child.returncode == 0, drawn
    return drawn


def test_the_sweep_command_draws_a_bar_on_a_terminal_unless_quiet():
    import sys
    from pathlib import Path

    command = str(Path(sys.executable).with_name("nestedsystems"))
    argv = [command, "sweep", str(SIR), "--vary", "Duration=2:10", "--n", "1000", "--chunk-size", "250"]
    drawn = _on_a_terminal(argv)
    # which chunks tqdm redraws depends on the clock (it waits 0.1 s between draws):
    # the bar is there with its count, whatever fraction it showed
    assert re.search(r"ensemble: +\d+%\|", drawn)
    assert re.search(r"\b\d+/1000\b", drawn)
    quiet = _on_a_terminal([*argv, "--quiet"])
    assert "ensemble" not in quiet
    assert "ran 1000 members (lhs) of SIR" in quiet


BLOW_UP = """{UTF-8}
Size = INTEG(Growth, 1)
\t~\tthings
\t~\t|
Growth = Steepness * Size * Size
\t~\tthings/Month
\t~\tdx/dt = a x^2 reaches infinity at t = 1/a: within the run when a > 1/10.
\t|
Steepness = 0.05
\t~\t1/(things*Month)
\t~\t|
INITIAL TIME = 0
\t~\tMonth
\t~\t|
FINAL TIME = 10
\t~\tMonth
\t~\t|
TIME STEP = 0.125
\t~\tMonth
\t~\t|
SAVEPER = 1
\t~\tMonth
\t~\t|
"""


@pytest.fixture(scope="module")
def blow_up(tmp_path_factory):
    path = tmp_path_factory.mktemp("blow-up") / "blow_up.mdl"
    path.write_text(BLOW_UP)
    return ns.load(path)


def steepness(n: int) -> pd.DataFrame:
    # a from 0.01 to 1: x(t) = 1/(1 - a t) is finite over ten months only for a < 0.1
    return pd.DataFrame({"Steepness": np.linspace(0.01, 1.0, n)})


def _alone(model, a: float) -> np.ndarray:
    return ns.simulate(model, params={"Steepness": a}, on_nonfinite="ignore")["Size"]


# Histograms read a quantile within one bin only where members are not sparse: the
# summaries need more members than kept runs do.
@pytest.mark.parametrize(("keep_runs", "n"), [(True, 100), (False, 3000)])
def test_members_that_blow_up_are_marked_and_left_out(blow_up, keep_runs, n):
    samples = steepness(n)
    result = run_ensemble(blow_up, samples, chunk_size=256, keep_runs=keep_runs, progress=False)
    a = samples["Steepness"].to_numpy()
    # analytically finite over the run (with Euler below the exact curve) and certainly overflowing
    assert not result.failed[a < 0.09].any()
    assert result.failed[a >= 0.5].all()
    # the boundary is where a member alone goes non-finite
    first = int(np.argmax(result.failed))
    assert not result.failed[:first].any()
    assert np.isfinite(_alone(blow_up, a[first - 1])).all()
    assert not np.isfinite(_alone(blow_up, a[first])).all()
    every = ns.simulate(blow_up, params={"Steepness": a}, on_nonfinite="ignore")["Size"]
    good = every[~result.failed]
    assert np.isfinite(good).all()
    qs = [0.05, 0.5, 0.95]
    quantiles = result.quantiles(qs)
    assert quantiles.attrs["failed_members"] == result.n_failed == np.sum(~np.isfinite(every).all(axis=1))
    error = result.quantile_error(qs)["Size"].to_numpy()
    assert np.all(np.abs(quantiles["Size"].to_numpy() - np.quantile(good, qs, axis=0)) <= error + 1e-12)
    final = result.outcomes("final")["Size"].to_numpy()
    assert np.isnan(final[result.failed]).all()
    np.testing.assert_array_equal(final[~result.failed], good[:, -1])
    words = result.failure_message()
    assert words.startswith(f"{result.n_failed} of {n} members became NaN or infinite")
    assert f"member {first} (Steepness={a[first]:.6g})" in words
    assert result.failure["variable"] == "Size"
    assert result.failure["time"] == float(np.flatnonzero(~np.isfinite(every[first]))[0])  # saved monthly


def test_a_member_that_blows_up_can_stop_the_ensemble(blow_up):
    with pytest.raises(ns.SimulationError, match=r"ensemble member \d+ \(Steepness=.*'Size' became NaN"):
        run_ensemble(blow_up, steepness(100), chunk_size=32, on_nonfinite="raise", progress=False)
    with pytest.raises(ParameterError, match="on_nonfinite: expected one of mark, raise, found 'skip'"):
        run_ensemble(blow_up, steepness(100), on_nonfinite="skip", progress=False)


def test_every_member_failing_gives_no_quantiles(blow_up):
    result = run_ensemble(blow_up, {"Steepness": np.array([0.8, 0.9])}, keep_runs=False, progress=False)
    assert result.n_failed == 2
    assert np.isnan(result.quantiles()["Size"].to_numpy()).all()


def test_a_compiled_model_runs_as_it_is(sir, members):
    compiled = ns.compile_model(sir, native=False)
    from_compiled = run_ensemble(compiled, members, save=SAVE, progress=False)
    from_model = run_ensemble(sir, members, save=SAVE, progress=False)
    xr.testing.assert_identical(from_compiled.dataset, from_model.dataset)


def test_the_sweep_command_reports_members_that_blow_up_and_ranks_the_rest(tmp_path, capsys):
    from nestedsystems.cli import main

    path = tmp_path / "blow_up.mdl"
    path.write_text(BLOW_UP)
    argv = ["sweep", str(path), "--vary", "Steepness=0.01:1", "--n", "200", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    failed = re.search(r"^(\d+) of 200 members became NaN or infinite and are left out", out, re.MULTILINE)
    assert failed and 150 <= int(failed.group(1)) <= 190  # a > ~0.1 blows up within ten months
    # the members that stayed finite: a steeper curve ends higher
    assert "Steepness strongly raises final Size" in out
    steep = ["sweep", str(path), "--vary", "Steepness=0.5:1", "--n", "20", "--quiet"]
    assert main(steep) == 2  # every member blows up
    assert "no member is left to summarise" in capsys.readouterr().err
