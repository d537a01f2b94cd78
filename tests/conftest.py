"""Shared fixtures: where the conformance suite lives, and the conformance summary line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Hundreds of models are loaded here, most run once: interpreted kernels finish before a
# numba compile would. Native kernels are tested where asked for explicitly
# (compile_model(..., native=True)) against the interpreted ones.
os.environ.setdefault("NESTEDSYSTEMS_NATIVE", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TEST_MODELS = SHARED / "conformance" / "test-models"
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def test_models() -> Path:
    if not TEST_MODELS.is_dir():
        pytest.fail(f"the conformance suite is missing: expected it at {TEST_MODELS}")
    return TEST_MODELS


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Print ``conformance: N passed, M expected-fail`` after a run that included the suite."""
    counts = {"passed": 0, "xfailed": 0, "failed": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "test_conformance.py::test_matches_vensim" in report.nodeid and report.when == "call":
                counts[outcome] += 1
    if sum(counts.values()):
        line = f"conformance: {counts['passed']} passed, {counts['xfailed']} expected-fail"
        if counts["failed"]:
            line += f", {counts['failed']} FAILED"
        terminalreporter.write_line(line)
