"""The SQLite scenario store: round trips, plain messages for bad names, and saves that
survive the writer being killed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from nestedsystems.dashboard.store import MAX_NAME_LENGTH, ScenarioStore
from nestedsystems.errors import ParameterError

MODEL = "nested_systems"


@pytest.fixture
def store(tmp_path):
    return ScenarioStore(tmp_path / "deep" / "folder" / "scenarios.sqlite")


def test_save_and_load_round_trip(store):
    saved = store.save(
        "More supervision", {"Supervision hours": 4, "Staffing ratio": 1.2}, model=MODEL, note="CWLA 1:5"
    )
    loaded = store.load("More supervision", model=MODEL)
    assert loaded.name == "More supervision"
    assert loaded.values == {"Supervision hours": 4.0, "Staffing ratio": 1.2}
    assert loaded.levers == (("Supervision hours", 4.0), ("Staffing ratio", 1.2))
    assert loaded.note == "CWLA 1:5"
    assert loaded.saved_at == saved.saved_at
    assert loaded.saved_at.endswith("+00:00")


def test_names_ignore_case_and_spaces(store):
    store.save("  Sanctuary  ", {"a": 1}, model=MODEL)
    assert store.load("sanctuary", model=MODEL).name == "Sanctuary"
    with pytest.raises(ParameterError, match="already exists"):
        store.save("SANCTUARY", {"a": 2}, model=MODEL)
    store.save("SANCTUARY", {"a": 2}, model=MODEL, overwrite=True)
    assert store.names(model=MODEL) == ("SANCTUARY",)
    assert store.load("Sanctuary", model=MODEL).values == {"a": 2.0}


def test_scenarios_are_filed_per_model(store):
    store.save("cut", {"a": 1}, model=MODEL)
    store.save("cut", {"b": 2}, model="teacup")
    assert store.load("cut", model="teacup").values == {"b": 2.0}
    assert store.names(model=MODEL) == ("cut",)
    assert store.names(model="other") == ()


def test_listing_is_sorted_and_delete_removes(store):
    for name in ("b", "A", "c"):
        store.save(name, {"x": 0}, model=MODEL)
    assert store.names(model=MODEL) == ("A", "b", "c")
    store.delete("B", model=MODEL)
    assert store.names(model=MODEL) == ("A", "c")
    with pytest.raises(ParameterError, match="no saved scenario called 'b'"):
        store.delete("b", model=MODEL)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the scenario a name"),
        ("   ", "Give the scenario a name"),
        (None, "Give the scenario a name"),
        ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
        ("two\nlines", "line breaks"),
    ],
)
def test_bad_names_are_refused_in_plain_words(store, name, message):
    with pytest.raises(ParameterError, match=message):
        store.save(name, {"a": 1}, model=MODEL)
    assert store.names(model=MODEL) == ()


@pytest.mark.parametrize("value", ["abc", float("nan"), float("inf"), None])
def test_lever_values_must_be_finite_numbers(store, value):
    with pytest.raises(ParameterError, match="lever 'a'"):
        store.save("s", {"a": value}, model=MODEL)
    assert store.names(model=MODEL) == ()


def test_unknown_scenario_is_a_plain_error(store):
    with pytest.raises(ParameterError, match="There is no saved scenario called 'nope'"):
        store.load("nope", model=MODEL)


def test_file_is_in_wal_mode_and_sound(store):
    store.save("s", {"a": 1}, model=MODEL)
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity_check() == "ok"


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "scenarios.sqlite"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 20)
    with pytest.raises(ParameterError, match="cannot use as a scenario store"):
        ScenarioStore(path)


def test_default_path_is_under_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = ScenarioStore()
    assert store.path == tmp_path / "nestedsystems" / "scenarios.sqlite"
    assert store.path.exists()


# The writer saves scenarios as fast as it can, each with many levers so that a good
# share of its time is spent inside a transaction, and reports each one after `save`
# returns. The parent kills it with SIGKILL once enough saves are reported: the kill
# lands wherever the writer happens to be, usually mid-transaction.
WRITER = textwrap.dedent(
    """
    import sys
    from nestedsystems.dashboard.store import ScenarioStore

    store = ScenarioStore(sys.argv[1])
    levers = {f"lever {j}": j * 0.5 for j in range(400)}
    for i in range(100_000):
        levers["lever 0"] = float(i)
        store.save(f"scenario {i}", levers, model="killed", note="n" * 2000)
        print(i, flush=True)
    """
)


def test_killing_a_writer_mid_save_loses_nothing_committed(tmp_path):
    path = tmp_path / "scenarios.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    reported = []
    try:
        assert writer.stdout is not None
        for line in writer.stdout:
            reported.append(int(line))
            if len(reported) >= 40:
                break
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert reported == list(range(40))

    store = ScenarioStore(path)
    assert store.integrity_check() == "ok"
    names = set(store.names(model="killed"))
    # Everything reported saved is there, whole; at most a few later saves landed
    # between the last report we read and the kill.
    for i in reported:
        scenario = store.load(f"scenario {i}", model="killed")
        assert scenario.values["lever 0"] == float(i)
        assert scenario.values["lever 399"] == 199.5
        assert len(scenario.levers) == 400
        assert scenario.note == "n" * 2000
    extra = names - {f"scenario {i}" for i in reported}
    for name in extra:
        assert len(store.load(name, model="killed").levers) == 400
    # The killed store still takes new saves.
    store.save("after the crash", {"a": 1}, model="killed")
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT levers FROM scenarios WHERE model = 'killed'").fetchall()
    assert all(len(json.loads(row[0])) in (1, 400) for row in rows)
