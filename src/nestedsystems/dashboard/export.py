"""Exports: a run as CSV, charts as PNG, a standalone HTML report of scenario vs baseline.

The charts exported are built afresh from the runs (`report_layout`), never taken from a
live session: a live document's models carry Python callbacks and belong to the
server, and a report must not change when someone moves a slider afterwards.

PNG needs a browser to draw the canvas. Bokeh drives one through selenium; we hand it
Debian's chromium and chromedriver (`chromium_webdriver`) so that nothing is ever
downloaded, and say how to install them when they are missing.
"""

from __future__ import annotations

import html
import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bokeh.embed import file_html
from bokeh.layouts import column, gridplot
from bokeh.models import Column, ColumnDataSource

# From their subpackages: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.ui import UIElement
from bokeh.models.widgets import Div
from bokeh.resources import INLINE

from ..errors import NestedSystemsError
from .figures import (
    IndexedRun,
    Readable,
    Series,
    TimeAxis,
    empty_columns,
    indicator_figure,
    run_columns,
    trajectories_figure,
)

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

    from ..run import Run

__all__ = [
    "REPORT_WIDTH",
    "ExportError",
    "chromium_webdriver",
    "export_png",
    "report_html",
    "report_layout",
    "run_csv",
]

REPORT_WIDTH = 1000  # pixels across a standalone report

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
_INSTALL_HINT = (
    "PNG export needs Chromium, its driver and selenium: "
    "apt-get install chromium chromium-driver; pip install 'nestedsystems[browser]'"
)


class ExportError(NestedSystemsError, RuntimeError):
    """An export could not be made (most often: no browser to draw PNGs with)."""


def run_csv(run: Run | IndexedRun, *, columns: Sequence[str] | None = None) -> str:
    """A run as CSV text: a ``time`` column, then one column per variable.

    Parameters
    ----------
    columns:
        The variables to keep, in order; all of the run's by default.
    """
    frame = run.to_pandas()
    if columns is not None:
        frame = frame[list(columns)]
    frame.index.name = frame.index.name or "time"
    buffer = io.StringIO()
    frame.to_csv(buffer, float_format="%.10g")
    return buffer.getvalue()


def report_layout(
    runs: Mapping[str, Readable],
    baseline: Readable,
    trajectories: Sequence[Series],
    indicators: Sequence[Series],
    axis: TimeAxis,
    *,
    title: str,
    summary: str = "",
    notes: Sequence[str] = (),
    width: int = REPORT_WIDTH,
    beneath: Sequence[UIElement] = (),
) -> Column:
    """A standalone layout of the runs against the baseline: title, summary, the
    trajectories chart and the small multiples.

    Parameters
    ----------
    runs:
        Label → run; the first is drawn solid as "the scenario", the others (at most
        four) dashed.
    notes:
        Extra lines under the summary (the lever values, for instance).
    beneath:
        Layouts drawn under the trajectories chart (the app's dominance strip), new
        models that belong to no session.
    """
    labels = list(runs)
    first = runs[labels[0]]
    source = ColumnDataSource(run_columns(first, [*trajectories, *indicators], axis, baseline=baseline))
    compare = [
        ColumnDataSource(run_columns(runs[label], [*trajectories, *indicators], axis))
        for label in labels[1:5]
    ]
    parts: list[UIElement] = [Div(text=f"<h2>{html.escape(title)}</h2>", width=width)]
    if summary:
        parts.append(Div(text=f"<p><b>{html.escape(summary)}</b></p>", width=width))
    if notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
        parts.append(Div(text=f"<ul>{items}</ul>", width=width))
    legend = " · ".join(
        [f"solid: {html.escape(labels[0])}", "faint/grey: baseline"]
        + [f"dashed: {html.escape(label)}" for label in labels[1:5]]
    )
    parts.append(Div(text=f"<p>{legend}</p>", width=width))
    if trajectories:
        parts.append(trajectories_figure(source, compare, trajectories, axis, width=width))
    parts.extend(beneath)
    if indicators:
        parts.append(
            gridplot(
                [indicator_figure(source, compare, item, axis, width=width // 3 - 10) for item in indicators],
                ncols=3,
                toolbar_location=None,
            )
        )
    if not trajectories and not indicators:
        parts.append(Div(text="(nothing to draw)"))
    return column(*parts)


def report_html(layout: UIElement, *, title: str) -> str:
    """A standalone HTML page (Bokeh's JavaScript inlined, so it opens offline)."""
    return file_html(layout, resources=INLINE, title=title)


def chromium_webdriver(*, chromium: str | None = None, chromedriver: str | None = None) -> WebDriver:
    """A headless Chromium driven by selenium, from the system's packages.

    Raises
    ------
    ExportError
        selenium, chromium or chromedriver is missing; the message says how to install.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise ExportError(_INSTALL_HINT) from None
    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = chromedriver or shutil.which("chromedriver")
    if not chromium or not chromedriver:
        raise ExportError(_INSTALL_HINT)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1024")
    try:
        return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    except Exception as error:  # selenium raises its own tree; say what failed in one line
        raise ExportError(f"could not start Chromium for PNG export: {str(error).splitlines()[0]}") from None


def export_png(
    layout: UIElement, path: str | Path | None = None, *, webdriver: WebDriver | None = None
) -> bytes:
    """The layout drawn as a PNG; written to ``path`` too when given.

    Parameters
    ----------
    webdriver:
        A selenium driver to reuse; one is started (and quit) when not given.

    Raises
    ------
    ExportError
        No browser to draw with.
    """
    from bokeh.io.export import get_screenshot_as_png

    driver = chromium_webdriver() if webdriver is None else webdriver
    try:
        image = get_screenshot_as_png(layout, driver=driver, resources=INLINE)
    finally:
        if webdriver is None:
            driver.quit()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def blank_sources(series: Sequence[Series]) -> ColumnDataSource:
    """An empty run source for the given series (used before the first run)."""
    return ColumnDataSource(empty_columns(series, with_baseline=True))
