"""models/README.md documents what the bundled models hold, and nothing that is gone.

Each model has a section; each named loop, each lever (a constant with a Vensim
range) and each scenario file is named there; each picture it shows exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nestedsystems as ns
from conftest import MODELS
from nestedsystems.model import CONTROL_VARIABLES, Kind

README = MODELS / "README.md"
BUNDLED = [MODELS / "nested_systems.mdl", *sorted((MODELS / "teaching").glob("*.mdl"))]


def text() -> str:
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_model_loop_and_lever_is_documented(path: Path) -> None:
    model = ns.load(path)
    readme = text()
    assert f"`{path.name}`" in readme
    for loop in model.loops:
        assert loop.id in readme and loop.name in readme, f"{path.name}: loop {loop.id} {loop.name}"
    levers = [
        v.name
        for v in model.variables
        if v.kind is Kind.CONSTANT and v.range.maximum is not None and v.key not in CONTROL_VARIABLES
    ]
    assert levers, f"{path.name} has no lever"
    missing = [name for name in levers if name.lower() not in readme.lower()]
    assert not missing, f"{path.name}: levers not in models/README.md: {missing}"


def test_every_scenario_file_is_documented() -> None:
    readme = text()
    missing = [p.name for p in sorted((MODELS / "scenarios").glob("*.toml")) if p.stem not in readme]
    assert not missing


def test_every_picture_exists_and_every_reference_behaviour_has_one() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text())
    assert pictures
    for picture in pictures:
        assert (MODELS / picture).is_file(), picture
    shown = {Path(p).stem for p in pictures}
    assert {f"rm{i}" for i in range(6)} <= {name.split("_")[0] for name in shown}
    assert {f"teaching_{p.stem}" for p in BUNDLED[1:]} <= shown
