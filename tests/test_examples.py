"""Every example runs as a user runs it (``python examples/x.py``) and prints the model's numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from conftest import MODELS, ROOT

EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_starts_with_a_docstring_saying_how_to_run_it() -> None:
    for path in EXAMPLES.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert source.startswith('"""'), path.name
        assert f"python examples/{path.name}" in source, path.name


def test_board_what_if_adopting_and_protecting_funding_beats_the_crisis_path() -> None:
    out = run_example("board_what_if.py")
    crisis, adopt = out.split("Adopt Sanctuary in year 1, protect funding")
    year5 = re.compile(r"year 5: turnover\s+([\d.]+)%/yr, restraints\s+([\d.]+) .* climate ([\d.]+)")
    crisis_turnover, crisis_restraints, crisis_climate = map(float, year5.search(crisis).groups())
    adopt_turnover, adopt_restraints, adopt_climate = map(float, year5.search(adopt).groups())
    # the printed crisis path is the crisis_year scenario's own run
    frame = ns.simulate(
        ns.load(MODELS / "nested_systems.mdl"), scenario=MODELS / "scenarios" / "crisis_year.toml"
    ).to_pandas()
    assert crisis_turnover == pytest.approx(frame.loc[60, "Annual staff turnover"], abs=0.05)
    assert crisis_climate == pytest.approx(frame.loc[60, "Organizational climate"], abs=0.005)
    # RM2's recovery: by year 5 turnover is down by more than a third, restraint by half or more
    assert adopt_turnover < 2 / 3 * crisis_turnover
    assert adopt_restraints < 0.5 * crisis_restraints
    assert adopt_climate > 0.6 > crisis_climate


def test_modeler_comparison_writes_every_scenario_to_csv(tmp_path: Path) -> None:
    out = tmp_path / "comparison.csv"
    run_example("modeler_compare_scenarios.py", str(out))
    table = pd.read_csv(out)
    scenarios = sorted(p.stem for p in (MODELS / "scenarios").glob("*.toml"))
    assert sorted(table.scenario.unique()) == scenarios
    assert set(table.month) == {24, 60, 120}
    assert len(table) == 3 * len(scenarios)
    drift = table[(table.scenario == "drift") & (table.month == 120)].iloc[0]
    direct = ns.simulate(ns.load(MODELS / "nested_systems.mdl"), scenario=MODELS / "scenarios" / "drift.toml")
    assert drift["Annual staff turnover"] == pytest.approx(direct["Annual staff turnover"][-1], rel=1e-9)
    assert 35 <= drift["Annual staff turnover"] <= 50  # RM1: the slide ends trapped


def test_educator_tipping_point_splits_recovered_from_trapped_at_one_threshold() -> None:
    out = run_example("educator_tipping_point.py")
    rows = re.findall(r"\+\s*(\d+)%: strain ([\d.]+), turnover\s+([\d.]+)%/yr\s+\((\w+)\)", out)
    states = [state for *_, state in rows]
    assert len(rows) == 17
    # one threshold: every weaker surge recovers, every stronger one is trapped
    first_trapped = states.index("trapped")
    assert set(states[:first_trapped]) == {"recovered"} and set(states[first_trapped:]) == {"trapped"}
    for _, strain, turnover, state in rows:
        if state == "recovered":  # back at the RM0 reference
            assert float(strain) == pytest.approx(0.35, abs=0.01)
        else:  # in RM1's trapped band
            assert 35 <= float(turnover) <= 50
    tipping = float(re.search(r"tipping point: a surge of about \+([\d.]+)%", out).group(1)) / 100
    weaker, stronger = int(rows[first_trapped - 1][0]) / 100, int(rows[first_trapped][0]) / 100
    assert weaker < tipping <= stronger


@pytest.mark.slow
def test_reference_figures_are_drawn_for_every_behaviour(tmp_path: Path) -> None:
    run_example("make_reference_figures.py", str(tmp_path))
    drawn = {p.stem for p in tmp_path.glob("*.html")}
    shown = {p.stem for p in (MODELS / "figures").glob("*.png")}
    assert drawn == shown  # models/README.md's pictures are exactly what the script draws
    if shutil.which("chromium") and shutil.which("chromedriver"):
        from PIL import Image

        for name in drawn:
            with Image.open(tmp_path / f"{name}.png") as image:
                assert image.width > 600 and image.height > 300
                # a chart, not a blank page: many distinct colours
                assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 50


def test_modeler_builds_in_python_saves_a_mdl_that_runs_the_same(tmp_path: Path) -> None:
    saved = tmp_path / "caseload.mdl"
    out = run_example("modeler_build_in_python.py", str(saved))
    assert "runs agree: True (largest difference 0.0)" in out
    surge, endless = out.split("A surge that never ends:")
    rows = re.findall(
        r"month\s+(\d+): caseload\s+([\d.]+) clients, staff\s+([\d.]+), burnout ([\d.]+)", surge
    )
    assert len(rows) == 7
    run = ns.simulate(ns.load(saved))  # the printed run is the saved file's
    for month, caseload, staff, burnout in rows:
        i = int(np.searchsorted(run.times, int(month)))
        assert float(caseload) == pytest.approx(run["Caseload"][i], abs=0.05)
        assert float(staff) == pytest.approx(run["Staff"][i], abs=0.005)
        assert float(burnout) == pytest.approx(run["Burnout"][i], abs=0.0005)
    caseload = {int(m): float(c) for m, c, *_ in rows}
    assert caseload[0] == caseload[12] == 120.0  # in equilibrium until the surge
    assert caseload[60] > 1.25 * caseload[0]  # tipped: the caseload does not come back
    assert "*Clients" in saved.read_text(encoding="utf-8") and "*Staff" in saved.read_text(encoding="utf-8")
    assert re.search(r"R1 Burnout slows the work: reinforcing", out)
    assert re.search(r"B1 Work gets done: balancing", out)
    never_ends = [float(c) for c in re.findall(r"caseload\s+([\d.]+)", endless)]
    assert never_ends[-1] > caseload[60]
