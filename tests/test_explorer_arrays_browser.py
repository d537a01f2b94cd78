"""The explorer on a subscripted model in Debian's headless Chromium: a person drags
one element's slider and the element's chart follows the model's own numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

selenium = pytest.importorskip("selenium", reason="browser tests need selenium (pip install selenium)")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip(
        "browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from nestedsystems.dashboard.browser import DashboardPage, ServerProcess  # noqa: E402
from test_explorer_arrays import MODEL, euler  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_dragging_one_elements_slider_moves_that_element(tmp_path: Path) -> None:
    model = tmp_path / "regions.mdl"
    model.write_text(MODEL)
    with ServerProcess(model, store=tmp_path / "s.sqlite") as explorer, DashboardPage() as page:
        page.open(explorer.url)
        assert page.model("variables", "value") == ["Population[north]", "Population[south]"]
        assert "births[south]" in page.model("variables", "options")
        np.testing.assert_allclose(page.column("run", "slot 0"), euler((0.04, 0.03), (100, 50))[:, 0])

        page.drag_slider("lever:birth rate[north]", 60)
        value = page.wait_for(
            "const s = Bokeh.documents[0].get_model_by_name(arguments[0]);"
            "return s.value_throttled !== 0.04 ? s.value_throttled : null;",
            "lever:birth rate[north]",
            what="the north birth rate released at a new value",
        )
        expected = euler((value, 0.03), (100, 50))
        page.wait_for(
            "const s = Bokeh.documents[0].get_model_by_name('run');"
            "return Math.abs(s.data['slot 0'][80] - arguments[0]) < 1e-6 * arguments[0];",
            float(expected[-1, 0]),
            what="the north population redrawn",
        )
        np.testing.assert_allclose(page.column("run", "slot 0"), expected[:, 0], rtol=1e-9)
        np.testing.assert_allclose(page.column("run", "slot 1"), expected[:, 1], rtol=1e-9)
        assert page.model("lever:birth rate[south]", "value") == 0.03
        page.screenshot(ARTIFACTS / "explorer-subscripts.png")
