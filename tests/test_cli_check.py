"""``nestedsystems check``: the units section, one line per issue and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import MODELS
from nestedsystems.cli import main

MODEL = """{UTF-8}
Staff = INTEG(Hires, 20)
~ FTE
~ |
Hires = Gap / Hiring time / Hiring time
~ FTE/Month
~ |
Gap = 10
~ FTE
~ |
Hiring time = 3
~ Month
~ |
Value = NPV(Hires, 0.01, 0, 1)
~ FTE
~ |
INITIAL TIME = 0
~ Month
~ |
FINAL TIME = 12
~ Month
~ |
TIME STEP = 1
~ Month
~ |
SAVEPER = TIME STEP
~ Month
~ |
"""


def test_a_unit_consistent_model_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(MODELS / "teaching" / "capability_trap.mdl")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "units: 29 variables checked, 0 issues, 0 not checked"


def test_each_issue_is_one_line_and_the_exit_code_is_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hiring.mdl"
    path.write_text(MODEL, encoding="utf-8")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{path}:5: variable 'Hires': units are FTE/Month but its equation gives FTE/Month^2")
    assert out[1] == "units: 8 variables checked, 1 issue, 1 not checked (functions: NPV)"


def test_a_missing_model_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "missing.mdl"]) == 2
    captured = capsys.readouterr()
    assert "missing.mdl" in captured.err and captured.err.count("\n") == 1 and captured.out == ""
