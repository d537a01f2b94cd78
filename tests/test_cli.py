"""The command line: `main(argv) -> int`, one line and exit code 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TEST_MODELS
from nestedsystems.cli import COMMANDS, build_parser, main
from vensim_output import read_vensim_output

TEACUP = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"


def test_run_writes_csv_that_matches_vensim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "t.csv"
    assert main(["run", str(TEACUP), "--output", str(output)]) == 0
    ours = pd.read_csv(output)
    assert ours.columns[0] == "time"
    assert "Teacup Temperature" in ours.columns and "Heat Loss to Room" in ours.columns
    vensim = read_vensim_output(TEACUP.parent / "output.csv")
    ours = ours.set_index("time").loc[vensim.index]
    for column in vensim.columns:
        assert np.allclose(ours[column], vensim[column], rtol=1e-3, atol=1e-5), column
    assert "wrote 241 times" in capsys.readouterr().out


def test_run_sets_constants_and_writes_parquet(tmp_path: Path) -> None:
    output = tmp_path / "t.parquet"
    assert main(["run", str(TEACUP), "--set", "Room Temperature=20", "-o", str(output)]) == 0
    frame = pd.read_parquet(output)
    assert frame["Room Temperature"].eq(20).all()
    assert frame["Teacup Temperature"].iloc[-1] == pytest.approx(20 + 160 * (1 - 0.125 / 10) ** 240)


def test_run_without_output_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(TEACUP), "--method", "rk4"]) == 0
    out = capsys.readouterr().out
    assert "teacup: 8 variables" in out and "Teacup Temperature" in out and "rk4" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.mdl"], "missing.mdl: no such file"),
        (["run", str(TEACUP), "--set", "Room Temperature=warm"], "expected a number after '='"),
        (["run", str(TEACUP), "--set", "Room Temperature"], "expected NAME=VALUE"),
        (["run", str(TEACUP), "--set", "Roomtemp=3"], "no constant of that name"),
        (["run", str(TEACUP), "--method", "leapfrog"], "unknown method 'leapfrog'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "data.mdl"
    bogus.write_text("time,value\n0,1\n1,2\n")
    assert main(["run", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert str(bogus) in err and err.count("\n") == 1


def test_every_command_has_complete_help() -> None:
    parser = build_parser()
    top = parser.format_help()
    for command in COMMANDS:
        assert command in top
        sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        text = sub.format_help()
        assert sub.description or sub.format_usage()
        for action in sub._actions:
            if action.dest not in ("help",) and action.option_strings:
                assert action.help, f"{command} {action.option_strings} has no help"
        assert len(text) > 200


def test_console_script_runs_as_a_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nestedsystems", "run", "missing.mdl"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
