"""Ensembles and calibrations on a real Dask cluster (two worker processes on loopback)."""

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import nestedsystems as ns
from nestedsystems.calibration import calibrate
from nestedsystems.cli import main
from nestedsystems.ensembles import connect, run_ensemble
from nestedsystems.errors import ParameterError
from nestedsystems.sampling import Uniform, sample
from test_calibration import BOUNDS, TRUE
from test_sampling import SIR

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SAVE = ["Infectious", "Recovered"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def sir():
    return ns.load(SIR)


@pytest.fixture(scope="module")
def members():
    return sample({"Contact Infectivity": Uniform(0.1, 0.6), "Duration": Uniform(2.0, 10.0)}, 1200, seed=21)


def test_cluster_gives_bit_identical_members(sir, members, client):
    local = run_ensemble(sir, members, save=SAVE, chunk_size=200, progress=False)
    remote = run_ensemble(sir, members, save=SAVE, chunk_size=200, client=client, progress=False)
    xr.testing.assert_identical(local.dataset, remote.dataset)
    # the chunks really ran on both workers, each compiling the model once
    compiled = client.run(
        lambda: __import__("nestedsystems.ensembles").ensembles._compiled.cache_info().currsize
    )
    assert sorted(compiled.values()) == [1, 1]


def test_cluster_gives_identical_summaries(sir, members, client):
    local = run_ensemble(sir, members, save=SAVE, chunk_size=200, keep_runs=False, progress=False)
    remote = run_ensemble(
        sir, members, save=SAVE, chunk_size=200, keep_runs=False, client=client, progress=False
    )
    xr.testing.assert_identical(local.quantiles(), remote.quantiles())
    assert local.outcomes("max").equals(remote.outcomes("max"))


def test_calibration_starts_run_on_workers_with_the_local_result(sir, client):
    run = ns.simulate(sir, params=TRUE, return_columns=["Infectious"])
    observed = {"time": run.times[::64], "Infectious": run["Infectious"][::64]}
    data = pd.DataFrame(observed)
    local = calibrate(sir, data, BOUNDS, starts=2, seed=3)
    remote = calibrate(sir, data, BOUNDS, starts=2, seed=3, client=client)
    assert remote.starts == local.starts
    np.testing.assert_array_equal(remote.estimates["value"], local.estimates["value"])
    assert remote.estimates.loc["Duration", "value"] == pytest.approx(6.0, rel=1e-4)


def test_calibrate_command_on_the_scheduler(sir, cluster, tmp_path, capsys):
    run = ns.simulate(sir, params=TRUE, return_columns=["Infectious"])
    pd.DataFrame({"time": run.times[::64], "Infectious": run["Infectious"][::64]}).to_csv(
        tmp_path / "observed.csv", index=False
    )
    arguments = ["calibrate", str(SIR), "--data", str(tmp_path / "observed.csv"), "--no-plot", "--quiet"]
    arguments += ["--fit", "Duration=1:20", "--fit", "Contact Infectivity=0.05:1", "--starts", "2"]
    assert main([*arguments, "--scheduler", cluster.scheduler_address]) == 0
    out = capsys.readouterr().out
    assert "Duration = 6 " in out  # noise-free data: the fit is exact to six figures
    assert "Contact Infectivity = 0.35 " in out


def test_sweep_command_on_the_scheduler_matches_local(cluster, tmp_path, capsys):
    arguments = ["sweep", str(SIR), "--vary", "Contact Infectivity=0.1:0.6", "--vary", "Duration=2:10"]
    arguments += ["--n", "400", "--seed", "4", "--chunk-size", "100", "--quiet"]
    assert main([*arguments, "--output", str(tmp_path / "local.nc")]) == 0
    local_out = capsys.readouterr().out
    assert (
        main([*arguments, "--output", str(tmp_path / "remote.nc"), "--scheduler", cluster.scheduler_address])
        == 0
    )
    remote_out = capsys.readouterr().out
    assert remote_out.replace("remote.nc", "local.nc") == local_out
    assert local_out.startswith("ran 400 members (lhs) of SIR")
    with xr.open_dataset(tmp_path / "local.nc") as a, xr.open_dataset(tmp_path / "remote.nc") as b:
        xr.testing.assert_identical(a.load(), b.load())


def test_unreachable_scheduler_is_one_line(capsys):
    with pytest.raises(ParameterError, match=r"^--scheduler tcp://127.0.0.1:9: expected a dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=1)
    code = main(
        ["sweep", str(SIR), "--vary", "Duration=2:10", "--n", "10", "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("nestedsystems: error: --scheduler tcp://127.0.0.1:9")
    assert err.count("\n") == 1


def test_a_worker_killed_mid_ensemble_is_replaced_and_the_result_complete(sir, client):
    members = sample({"Contact Infectivity": Uniform(0.1, 0.6), "Duration": Uniform(2.0, 10.0)}, 4000, seed=8)
    expected = run_ensemble(sir, members, save=SAVE, chunk_size=100, progress=False)
    pids = client.run(os.getpid)
    outcome: dict = {}

    def ensemble() -> None:
        outcome["result"] = run_ensemble(
            sir, members, save=SAVE, chunk_size=100, client=client, progress=False
        )

    worker = threading.Thread(target=ensemble)
    worker.start()
    victim = None
    while victim is None and worker.is_alive():
        busy = [address for address, keys in client.processing().items() if keys]
        victim = busy[0] if busy else None
        time.sleep(0.01)
    assert victim is not None, "the ensemble finished before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    killed_while_running = worker.is_alive()
    worker.join()
    assert killed_while_running
    # the killed process is gone for good (its nanny may still be starting a new one)
    assert pids[victim] not in client.run(os.getpid).values()
    xr.testing.assert_identical(outcome["result"].dataset, expected.dataset)
