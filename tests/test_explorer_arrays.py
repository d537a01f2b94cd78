"""The explorer on a subscripted model: a slider per element, a column per element."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bokeh.document import Document

import nestedsystems as ns
from nestedsystems.dashboard import explorer
from nestedsystems.dashboard.levers import array_params, element_levers, levers_of
from nestedsystems.dashboard.store import ScenarioStore

# Two regions, each with births, deaths and people leaving for the other region.
TWO_REGIONS = Path(__file__).parent / "models" / "two_regions.mdl"
MODEL = TWO_REGIONS.read_text(encoding="utf-8")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "regions.mdl"
    file.write_text(MODEL)
    return file


def euler(birth: tuple[float, float], initial: tuple[float, float], steps: int = 80) -> np.ndarray:
    """Population under Euler at TIME STEP 0.25: P ← (I + dt·A) P, A the linear system."""
    death, leave, dt = 1 / 50, 0.05, 0.25
    a = np.array([[birth[0] - death - leave, leave], [leave, birth[1] - death - leave]])
    step = np.eye(2) + dt * a
    states = [np.array(initial, dtype=float)]
    for _ in range(steps):
        states.append(step @ states[-1])
    return np.array(states)


def test_a_subscripted_constant_gives_a_lever_per_element(path: Path) -> None:
    model = ns.load(path)
    levers = {lever.name: lever for lever in element_levers(model, model["birth rate"])}
    assert list(levers) == ["birth rate[north]", "birth rate[south]"]
    assert levers["birth rate[south]"].default == 0.03
    assert (levers["birth rate[north]"].start, levers["birth rate[north]"].end) == (0.0, 0.2)
    assert levers["birth rate[north]"].units == "1/year"
    # without elements, constants whose elements differ offer no single lever
    assert "birth rate" not in {lever.name for lever in levers_of(model)}
    params = array_params(model, {"birth rate[south]": 0.1, "lifetime": 60.0})
    np.testing.assert_array_equal(params["birth rate"], [0.04, 0.1])
    assert params["lifetime"] == 60.0


def test_explorer_slides_one_element_and_charts_element_columns(path: Path, tmp_path: Path) -> None:
    app = explorer.build_document(
        Document(), model_path=path, store=ScenarioStore(tmp_path / "s.sqlite"), arguments={}
    )
    assert app is not None
    assert {"birth rate[north]", "birth rate[south]", "initial population[north]", "lifetime"} <= set(
        app.sliders
    )
    assert app.picker.value == ["Population[north]", "Population[south]"]
    assert {"births[south]", "arriving[north]"} <= set(app.picker.options)
    np.testing.assert_allclose(app.source.data["slot 0"], euler((0.04, 0.03), (100, 50))[:, 0], rtol=1e-12)

    slider = app.sliders["birth rate[north]"]
    slider.set_from_json("value", 0.1)
    slider.set_from_json("value_throttled", 0.1)
    expected = euler((0.1, 0.03), (100, 50))
    np.testing.assert_allclose(app.source.data["slot 0"], expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(app.source.data["slot 1"], expected[:, 1], rtol=1e-12)

    app.picker.set_from_json("value", ["births[north]"])
    np.testing.assert_allclose(app.source.data["slot 0"], 0.1 * expected[:, 0], rtol=1e-12)
    assert app.slot_figures[0].title.text == "births[north] (people/year)"
