"""Every model of the SDXorg test-models suite that carries Vensim's output, compared
with that output at Vensim's saved times: ``numpy.isclose(ours, vensim, rtol=1e-3, atol=1e-5)``.

Models we cannot run yet are listed in EXPECTED_FAILURES with the reason; they are
strict expected failures, so one that starts passing turns the suite red until it
is taken off the list. The terminal summary prints ``conformance: N passed, M expected-fail``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import TEST_MODELS
from vensim_output import read_vensim_output

RTOL, ATOL = 1e-3, 1e-5

EXPECTED_FAILURES: dict[str, str] = {}

# Expected failures that load but then fail to run, and the error they raise.
RAISES: dict[str, type[Exception]] = {}

# Chaotic models: Euler round-off differences between Vensim (single precision output,
# its own operation order) and us grow exponentially, so only the early horizon is a
# fair comparison. Times up to which we compare, and why.
HORIZONS: dict[str, tuple[float, str]] = {
    "Roessler_Chaos": (40.0, "chaotic attractor: round-off grows until trajectories separate"),
}


def _cases() -> list:
    cases = []
    for folder in sorted([*TEST_MODELS.glob("tests/*"), *TEST_MODELS.glob("samples/*")]):
        output = next((folder / n for n in ("output.tab", "output.csv") if (folder / n).exists()), None)
        if output is None:
            continue
        model = _model_file(folder)
        if model is None:
            continue
        marks = []
        if folder.name in EXPECTED_FAILURES:
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    raises=RAISES.get(folder.name, ns.ModelError),
                    reason=EXPECTED_FAILURES[folder.name],
                )
            )
        cases.append(pytest.param(model, output, id=folder.name, marks=marks))
    return cases


def _model_file(folder: Path) -> Path | None:
    """The model Vensim's output belongs to: the .mdl named like the folder or the
    only .mdl, else the XMILE file."""
    mdl = sorted(folder.glob("*.mdl"))
    if mdl:
        named = [m for m in mdl if m.stem in (folder.name, f"test_{folder.name}")]
        return (named or [m for m in mdl if not m.stem.endswith("_mdl")] or mdl)[0]
    xmile = sorted(folder.glob("*.xmile"))
    return xmile[0] if xmile else None


CASES = _cases()


@pytest.mark.parametrize(("model_file", "output_file"), CASES)
def test_matches_vensim(model_file: Path, output_file: Path) -> None:
    expected = read_vensim_output(output_file)
    run = ns.simulate(ns.load(model_file)).to_pandas()
    horizon = HORIZONS.get(model_file.parent.name, (np.inf, ""))[0]
    expected = expected[expected.index <= horizon]

    ours_by_name = {ns.expressions.canonical(c): c for c in run.columns}
    common = [c for c in expected.columns if ns.expressions.canonical(c) in ours_by_name]
    assert common, f"no column of Vensim's output is in our run: {list(expected.columns)[:5]}"
    rows = [int(np.argmin(np.abs(run.index.to_numpy() - t))) for t in expected.index]
    assert np.allclose(run.index.to_numpy()[rows], expected.index.to_numpy(), atol=1e-9), "saved times differ"

    failures = []
    for column in common:
        ours = run[ours_by_name[ns.expressions.canonical(column)]].to_numpy()[rows]
        theirs = expected[column].to_numpy()
        known = ~np.isnan(theirs)
        close = np.isclose(ours[known], theirs[known], rtol=RTOL, atol=ATOL)
        if not close.all():
            i = int(np.argmin(close))
            t = expected.index[known][i]
            failures.append(f"{column} at t={t:g}: ours {ours[known][i]:.6g}, Vensim {theirs[known][i]:.6g}")
    assert not failures, f"{len(failures)} of {len(common)} columns differ: " + "; ".join(failures[:5])


def test_suite_is_complete() -> None:
    """The suite found the models it should: every non-subscripted classic is in it."""
    ids = {case.id for case in CASES}
    assert {"teacup", "SIR", "lookups", "smooth", "delay_fixed", "active_initial"} <= ids
    assert set(EXPECTED_FAILURES) <= ids, sorted(set(EXPECTED_FAILURES) - ids)
