"""Named scenarios in an embedded SQLite file: save, load, list, delete.

A saved scenario is a name, a note and the lever values a user chose, filed under the
model they belong to. The store is the only state the dashboards keep between
sessions, so it is built to survive being killed mid-save:

- the database runs in WAL mode with ``synchronous=FULL``, so a committed save is on
  disk before `ScenarioStore.save` returns, and a process killed while writing leaves
  only an uncommitted WAL tail that SQLite discards on the next open;
- every save is one ``BEGIN IMMEDIATE`` transaction, so readers never see half a save;
- each call opens its own short-lived connection, so the store can be shared by the
  Bokeh server's sessions (one thread) and by tests driving it from other threads.

Names are compared without regard to case ("Baseline" and "baseline" are one
scenario): board members type names, and two scenarios differing only in case would
be a trap when choosing one from a list.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ParameterError

__all__ = ["MAX_NAME_LENGTH", "SavedScenario", "ScenarioStore", "default_store_path", "open_store"]

MAX_NAME_LENGTH = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scenarios (
    model    TEXT NOT NULL,
    name     TEXT NOT NULL COLLATE NOCASE,
    note     TEXT NOT NULL DEFAULT '',
    levers   TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (model, name)
)
"""
_SCHEMA_VERSION = 1


def default_store_path() -> Path:
    """Where scenarios live unless told otherwise: the user's data folder."""
    import platformdirs

    return Path(platformdirs.user_data_dir("nestedsystems")) / "scenarios.sqlite"


@dataclass(frozen=True, slots=True)
class SavedScenario:
    """One saved scenario.

    Attributes
    ----------
    name:
        As the user typed it (surrounding spaces removed).
    model:
        The key of the model the levers belong to.
    levers:
        Lever name → value, as ``(name, value)`` pairs in the order saved.
    note:
        Free text: why this scenario, what it shows.
    saved_at:
        UTC time of the save, ISO 8601.
    """

    name: str
    model: str
    levers: tuple[tuple[str, float], ...]
    note: str = ""
    saved_at: str = ""

    @property
    def values(self) -> dict[str, float]:
        """The lever values as a dictionary."""
        return dict(self.levers)


def check_name(name: object) -> str:
    """The scenario name with surrounding spaces removed, or a `ParameterError`
    worded for the person who typed it."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError("Give the scenario a name before saving it.")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ParameterError(
            f"A scenario name can be at most {MAX_NAME_LENGTH} characters; this one has {len(name)}."
        )
    if any(ord(c) < 32 for c in name):
        raise ParameterError("A scenario name cannot contain line breaks or tabs.")
    return name


def _check_levers(levers: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    checked = []
    for key, value in levers.items():
        if not isinstance(key, str) or not key:
            raise ParameterError(f"lever names must be non-empty strings; got {key!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"lever {key!r} must be a number; got {value!r}") from None
        if not math.isfinite(number):
            raise ParameterError(f"lever {key!r} must be a finite number; got {value!r}")
        checked.append((key, number))
    return tuple(checked)


class ScenarioStore:
    """Named scenarios in one SQLite file.

    Parameters
    ----------
    path:
        The database file; created with its folder when missing. Defaults to
        `default_store_path`.

    Examples
    --------
    >>> store = ScenarioStore(tmp_path / "scenarios.sqlite")  # doctest: +SKIP
    >>> store.save("More supervision", {"Supervision hours": 4}, model="nested_systems")  # doctest: +SKIP
    >>> store.load("more supervision", model="nested_systems").values  # doctest: +SKIP
    {'Supervision hours': 4.0}
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                # WAL is a property of the file: set once, every later connection uses it.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            raise ParameterError(f"{self.path}: cannot use as a scenario store: {error}") from None

    def __repr__(self) -> str:
        return f"ScenarioStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we issue BEGIN ourselves, so each save is exactly one
        # transaction and the sqlite3 module never opens one behind our back.
        with closing(sqlite3.connect(self.path, timeout=10.0, isolation_level=None)) as connection:
            connection.execute("PRAGMA synchronous=FULL")
            yield connection

    def save(
        self,
        name: str,
        levers: Mapping[str, float],
        *,
        model: str,
        note: str = "",
        overwrite: bool = False,
    ) -> SavedScenario:
        """Save lever values under a name, in one transaction.

        Parameters
        ----------
        name:
            Non-empty, at most `MAX_NAME_LENGTH` characters; case is kept but ignored
            when comparing names.
        levers:
            Lever name → value; values must be finite numbers.
        model:
            The key of the model the levers belong to.
        note:
            Free text kept with the scenario.
        overwrite:
            Replace a scenario of the same name instead of refusing.

        Raises
        ------
        ParameterError
            Empty or over-long name, a name already taken (unless ``overwrite``), or a
            lever value that is not a finite number.
        """
        name = check_name(name)
        pairs = _check_levers(levers)
        saved = SavedScenario(
            name=name,
            model=model,
            levers=pairs,
            note=str(note or "").strip(),
            saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                existing = connection.execute(
                    "SELECT name FROM scenarios WHERE model = ? AND name = ?", (model, name)
                ).fetchone()
                if existing is not None and not overwrite:
                    raise ParameterError(
                        f"A scenario named {existing[0]!r} already exists. "
                        "Choose another name, or delete the old one first."
                    )
                connection.execute(
                    "INSERT OR REPLACE INTO scenarios (model, name, note, levers, saved_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (model, name, saved.note, json.dumps(pairs), saved.saved_at),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return saved

    def load(self, name: str, *, model: str) -> SavedScenario:
        """The scenario saved under ``name`` (case ignored).

        Raises
        ------
        ParameterError
            No scenario of that name for this model.
        """
        with self._connect() as connection:
            row = connection.execute(
                "SELECT name, model, levers, note, saved_at FROM scenarios WHERE model = ? AND name = ?",
                (model, str(name).strip()),
            ).fetchone()
        if row is None:
            raise ParameterError(f"There is no saved scenario called {str(name).strip()!r}.")
        return _from_row(row)

    def scenarios(self, *, model: str) -> tuple[SavedScenario, ...]:
        """Every scenario saved for ``model``, by name."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT name, model, levers, note, saved_at FROM scenarios WHERE model = ? ORDER BY name",
                (model,),
            ).fetchall()
        return tuple(_from_row(row) for row in rows)

    def names(self, *, model: str) -> tuple[str, ...]:
        """The names of the scenarios saved for ``model``, sorted without regard to case."""
        return tuple(scenario.name for scenario in self.scenarios(model=model))

    def delete(self, name: str, *, model: str) -> None:
        """Delete a scenario.

        Raises
        ------
        ParameterError
            No scenario of that name for this model.
        """
        with self._connect() as connection:
            cursor = connection.execute(
                "DELETE FROM scenarios WHERE model = ? AND name = ?", (model, str(name).strip())
            )
        if cursor.rowcount == 0:
            raise ParameterError(f"There is no saved scenario called {str(name).strip()!r}.")

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: ``"ok"`` when sound."""
        with self._connect() as connection:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)


def _from_row(row: tuple[str, str, str, str, str]) -> SavedScenario:
    name, model, levers, note, saved_at = row
    pairs = tuple((str(key), float(value)) for key, value in json.loads(levers))
    return SavedScenario(name=name, model=model, levers=pairs, note=note, saved_at=saved_at)


def open_store(store: ScenarioStore | str | Path | None) -> tuple[ScenarioStore | None, str]:
    """The store to use (an open one, a path, or ``None`` for the default) or, when it
    cannot be opened, ``None`` and the reason: a dashboard then runs with saving off
    rather than not at all."""
    if isinstance(store, ScenarioStore):
        return store, ""
    try:
        return ScenarioStore(store), ""
    except (ParameterError, OSError) as error:
        return None, str(error)
