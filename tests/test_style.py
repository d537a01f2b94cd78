"""House style: the lint and format rules of pyproject.toml ([tool.ruff]) hold on the
whole tree, so a change that breaks them fails here and not in a reviewer's eye."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ["src", "tests", "benchmarks", "examples", "dashboards"]


def _ruff(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, *TREES], cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "arguments", [("check", "--output-format", "concise"), ("format", "--check")], ids=["lint", "format"]
)
def test_ruff(arguments: tuple[str, ...]) -> None:
    result = _ruff(*arguments)
    assert result.returncode == 0, result.stdout + result.stderr
