"""``nestedsystems convert``: a model from Vensim to XMILE and back, runs unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import MODELS, TEST_MODELS
from nestedsystems.cli import main
from nestedsystems.expressions import canonical
from nestedsystems.model import CONTROL_VARIABLES

FLAGSHIP = MODELS / "nested_systems.mdl"


def _run(path: Path) -> ns.Run:
    return ns.simulate(ns.compile_model(ns.load(path), native=False))


def test_the_flagship_goes_to_xmile_and_back_and_runs_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xmile, mdl = tmp_path / "flagship.xmile", tmp_path / "flagship.mdl"
    assert main(["convert", str(FLAGSHIP), str(xmile)]) == 0
    assert main(["convert", str(xmile), str(mdl)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"wrote {xmile}", f"wrote {mdl}"]
    # what XMILE has no place for is said, once, and the run does not depend on it
    assert err.splitlines() == [
        f"nestedsystems: note: {xmile} leaves out its Reality Checks "
        "(6 constraint(s), 2 test input(s)): XMILE has none",
        f"nestedsystems: note: {xmile} leaves out SAVEPER: XMILE has no save interval, "
        "so a run of the file saves every TIME STEP",
    ]
    assert len(ns.load(FLAGSHIP).checks) == 8 and not ns.load(xmile).checks
    before = _run(FLAGSHIP)
    for converted in (_run(xmile), _run(mdl)):
        # XMILE has no SAVEPER: the converted files save every TIME STEP, SAVEPER included.
        columns = {canonical(n): i for i, n in enumerate(converted.names)}
        kept = [i for i, n in enumerate(before.names) if canonical(n) != "saveper"]
        rows = np.searchsorted(converted.times, before.times - 1e-9)
        np.testing.assert_array_equal(converted.times[rows], before.times)
        picked = converted.values[:, rows][..., [columns[canonical(before.names[i])] for i in kept]]
        np.testing.assert_allclose(picked, before.values[..., kept], rtol=1e-12, atol=0)
    original = ns.load(FLAGSHIP)
    for converted in (ns.load(xmile), ns.load(mdl)):
        for variable in original.variables:
            # PySD's XMILE reader gives the control variables documentation of its own.
            if variable.origin is None and variable.key not in CONTROL_VARIABLES:
                kept = converted[variable.name]
                assert (kept.units, kept.documentation) == (variable.units, variable.documentation)


def test_what_the_target_cannot_say_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = TEST_MODELS / "tests" / "subscript_aggregation" / "test_subscript_aggregation.mdl"
    assert main(["convert", str(source), str(tmp_path / "x.xmile")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "variable 'Complex Max'" in error and "VMAX" in error
    assert not (tmp_path / "x.xmile").exists()

    non_negative = TEST_MODELS / "tests" / "non_negative_stocks" / "test_non_negative_stocks.xmile"
    assert main(["convert", str(non_negative), str(tmp_path / "x.mdl")]) == 2
    error = capsys.readouterr().err
    assert "variable 'TestStock1'" in error and "non-negative stock" in error and ".xmile instead" in error


@pytest.mark.parametrize(
    ("source", "target", "said"),
    [
        (FLAGSHIP, "out.txt", "expected a file name ending in .mdl, .xmile, .stmx or .xml, found '.txt'"),
        (MODELS / "missing.mdl", "out.xmile", "no such file"),
    ],
)
def test_a_file_it_cannot_read_or_name_is_one_line_and_exit_2(
    source: Path, target: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(source), str(tmp_path / target)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and said in error
