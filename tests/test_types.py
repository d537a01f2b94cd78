"""House style: the package type-checks under mypy ([tool.mypy] of pyproject.toml, over
src/), so an annotation that stops matching the code fails here and not in a user's
editor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
