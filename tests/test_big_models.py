"""The benchmark models run as PySD runs them: every column at every saved time,
``numpy.isclose(ours, pysd, rtol=1e-6, atol=1e-9)``, as written and with levers moved.

PySD is the oracle here (its runtime matches Vensim on the SDXorg suite), and a slow
one: each of its standalone lookups costs milliseconds per call, so a full run of
the 357-variable model takes about two minutes. Its results are computed once per
session and its runs of the big model stop early (FINAL TIME 36 and 24 months, past
the first need shocks and crisis grants); services60 runs its whole ten years as
written.
"""

from __future__ import annotations

import functools
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from conftest import MODELS

pytestmark = pytest.mark.slow

BENCHMARK = MODELS / "benchmark"
RTOL, ATOL = 1e-6, 1e-9


@dataclass(frozen=True)
class Case:
    model: str
    final_time: float | None  # None: the model's own
    params: dict[str, float] = field(default_factory=dict)


CASES = {
    "services60": Case("services60", None),
    "services60 levers": Case(
        "services60",
        60.0,
        {
            "Normal help seeking fraction": 0.08,
            "Target caseload": 20.0,
            "Need shock size": 0.35,
            "Recruitment delay": 6.0,
            "Crisis grant start": 30.0,
        },
    ),
    "regional_services_300": Case("regional_services_300", 36.0),
    "regional_services_300 levers": Case(
        "regional_services_300",
        24.0,
        {
            "Metro target caseload": 20.0,
            "Weight of need in allocation": 0.6,
            "Inland need shock time": 12.0,
            "Highlands recruitment delay": 3.0,
            "North Coast crisis grant start": 6.0,
        },
    ),
}


def _quiet(function: Callable[[], object]) -> object:
    # PySD and the xarray under it warn about their own internals on every run; the
    # oracle's warnings are not ours to fix, and pytest turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function()


@pytest.fixture(scope="session")
def pysd_translation(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The Python module PySD translates each model into, made once per session in
    a temporary folder (PySD writes it next to the .mdl)."""
    import pysd

    folder = tmp_path_factory.mktemp("pysd")
    made: dict[str, Path] = {}

    def translation(model: str) -> Path:
        if model not in made:
            mdl = shutil.copy(BENCHMARK / f"{model}.mdl", folder / f"{model}.mdl")
            _quiet(lambda: pysd.read_vensim(str(mdl)))
            made[model] = folder / f"{model}.py"
        return made[model]

    return translation


@pytest.fixture(scope="session")
def pysd_result(pysd_translation: Callable[[str], Path]) -> Callable[[str], pd.DataFrame]:
    """PySD's run of a case, computed once per session."""
    import pysd

    results: dict[str, pd.DataFrame] = {}

    def result(name: str) -> pd.DataFrame:
        if name not in results:
            case = CASES[name]
            # A fresh model object per run: PySD keeps parameters set by an earlier run.
            model = pysd.load(str(pysd_translation(case.model)))
            results[name] = _quiet(lambda: model.run(params=dict(case.params), final_time=case.final_time))
        return results[name]

    return result


@functools.cache
def _load(model: str) -> ns.Model:
    return ns.load(BENCHMARK / f"{model}.mdl")


def _ours(case: Case) -> pd.DataFrame:
    params = dict(case.params)
    if case.final_time is not None:
        params["FINAL TIME"] = case.final_time
    return ns.simulate(_load(case.model), params=params).to_pandas()


def _mismatches(ours: pd.DataFrame, theirs: pd.DataFrame) -> list[str]:
    found = []
    for column in ours.columns:
        a, b = ours[column].to_numpy(float), theirs[column].to_numpy(float)
        close = np.isclose(a, b, rtol=RTOL, atol=ATOL)
        if not close.all():
            i = int(np.argmin(close))
            found.append(f"{column} at t={ours.index[i]}: ours {a[i]!r}, PySD {b[i]!r}")
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pysd(name: str, pysd_result: Callable[[str], pd.DataFrame]) -> None:
    ours = _ours(CASES[name])
    theirs = pysd_result(name)
    # Every variable we report is one PySD reports, so "every common column" is all of ours.
    assert set(ours.columns) <= set(theirs.columns), sorted(set(ours.columns) - set(theirs.columns))
    np.testing.assert_array_equal(ours.index.to_numpy(), theirs.index.to_numpy(float))
    mismatches = _mismatches(ours, theirs)
    assert not mismatches, f"{len(mismatches)} of {len(ours.columns)} columns differ:\n" + "\n".join(
        mismatches[:20]
    )


def test_levers_change_the_run() -> None:
    """The lever cases test something: moving them changes the outcome."""
    case = CASES["regional_services_300 levers"]
    moved = _ours(case)
    base = _ours(Case(case.model, case.final_time))
    assert not np.allclose(moved["Metro clinicians"], base["Metro clinicians"], rtol=1e-3)
    assert not np.allclose(moved["Inland waiting list"], base["Inland waiting list"], rtol=1e-3)


def test_big_model_has_300_variables() -> None:
    model = _load("regional_services_300")
    run = ns.simulate(model, params={"FINAL TIME": 1.0})
    assert len(run.names) >= 300  # what a modeler sees: 357
    assert len(model.variables) >= len(run.names)  # and more once SMOOTH and DELAY are lowered
    lookups = [v for v in model.variables if v.kind is ns.Kind.LOOKUP]
    assert len(lookups) >= 30
