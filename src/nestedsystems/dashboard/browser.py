"""Drive a dashboard in headless Chromium: for the browser tests and the benchmarks.

`ServerProcess` starts ``nestedsystems serve`` in a subprocess on a free loopback port
and reads back the URL it prints. `DashboardPage` opens it in Debian's Chromium through
selenium and reaches into the page the way a person would, with the mouse and
keyboard, on elements found through BokehJS (every widget of ours carries a ``name``;
Bokeh renders widgets inside shadow roots, which CSS selectors alone cannot cross).

Waiting is bounded only to turn a hang into a failure: `wait_for` polls a JavaScript
condition and gives up after ``patience`` seconds, generous on purpose because a
loaded two-core machine is slow, and nothing here asserts how fast anything is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .export import chromium_webdriver

__all__ = ["ROUND_TRIP_JS", "DashboardPage", "ServerProcess"]

# Set a slider as the browser does on release, then time until the run source's
# data arrives from the server and two animation frames have passed (the first
# frame draws the canvas, the second starts only after that frame was painted).
ROUND_TRIP_JS = """
const [name, value, done] = arguments;
const doc = Bokeh.documents[0];
const slider = doc.get_model_by_name(name);
const source = doc.get_model_by_name("run");
const start = performance.now();
let arrived = null;
const signal = source.properties.data.change;
const handler = () => {
    signal.disconnect(handler);
    arrived = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => {
        done({data: arrived - start, drawn: performance.now() - start});
    }));
};
signal.connect(handler);
slider.value = value;
slider.value_throttled = value;
"""


class ServerProcess:
    """``nestedsystems serve`` in a subprocess, on loopback and a free port.

    Use as a context manager; the URL is read from the server's first line of output.
    """

    def __init__(
        self,
        model: str | Path | None,
        *,
        store: str | Path,
        app: str | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        command = [
            sys.executable,
            "-c",
            "from nestedsystems.cli import main; raise SystemExit(main())",
            "serve",
            *([str(model)] if model is not None else []),
            "--port",
            "0",
            "--address",
            "127.0.0.1",
            "--store",
            str(store),
            *(["--app", app] if app else []),
            *extra,
        ]
        self.command = command
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> ServerProcess:
        # A session of its own: a server of several processes is stopped as a group.
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "serving" not in line:
            self.process.kill()
            _, err = self.process.communicate()
            raise RuntimeError(f"the server did not start: {line.strip()} {err.strip()[-2000:]}")
        self.url = line.split("serving", 1)[1].strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self._signal(signal.SIGTERM)
            try:
                self.process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.communicate()

    def _signal(self, number: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, number)


class DashboardPage:
    """A dashboard page in headless Chromium.

    Parameters
    ----------
    downloads:
        Folder where the browser saves downloads.
    patience:
        Seconds to wait for a condition before calling it a hang.
    """

    def __init__(self, *, downloads: str | Path | None = None, patience: float = 300.0) -> None:
        self.driver = chromium_webdriver()
        self.patience = patience
        if downloads is not None:
            self.driver.execute_cdp_cmd(
                "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
            )

    def close(self) -> None:
        self.driver.quit()

    def __enter__(self) -> DashboardPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- waiting ---------------------------------------------------------------------------

    def wait_for(self, condition_js: str, *args: Any, what: str = "") -> Any:
        """Poll a JavaScript expression (``return ...``) until it gives a truthy value."""
        deadline = time.monotonic() + self.patience
        while True:
            value = self.driver.execute_script(condition_js, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never showed {what or condition_js!r}")
            time.sleep(0.05)

    def open(self, url: str) -> None:
        """Load the page and wait until the dashboard's document is live (or an error
        page is shown)."""
        self.driver.get(url)
        self.wait_for(
            "return !!(window.Bokeh && Bokeh.documents.length > 0 && "
            "(Bokeh.documents[0].get_model_by_name('run') || "
            "Bokeh.documents[0].get_model_by_name('error-page')))",
            what="the dashboard",
        )
        # Wait until every view is built and painted, so elements can be clicked.
        self.wait_for(
            "const m = Bokeh.documents[0].get_model_by_name('message') || "
            "Bokeh.documents[0].get_model_by_name('error-page');"
            "return !!m && [...Bokeh.index.find(m)].length > 0",
            what="the dashboard's widgets",
        )

    # -- reading the page -------------------------------------------------------------------

    def model(self, name: str, attribute: str) -> Any:
        """A property of a named Bokeh model, as the browser holds it."""
        return self.driver.execute_script(
            "const m = Bokeh.documents[0].get_model_by_name(arguments[0]);"
            "const v = m[arguments[1]];"
            "return (v && v.length !== undefined && typeof v !== 'string') ? Array.from(v) : v;",
            name,
            attribute,
        )

    def column(self, source: str, column: str) -> list[float]:
        """A column of a named data source, as the browser holds it."""
        return list(
            self.driver.execute_script(
                "const s = Bokeh.documents[0].get_model_by_name(arguments[0]);"
                "return Array.from(s.data[arguments[1]]);",
                source,
                column,
            )
        )

    def text(self, name: str) -> str:
        """The visible text of a named widget (a Div's text as rendered)."""
        return str(
            self.driver.execute_script(
                "const m = Bokeh.documents[0].get_model_by_name(arguments[0]);"
                "const v = Bokeh.index.find_one(m);"
                "if (!v) { return ''; }"
                "const root = v.shadow_el || v.el;"
                "return [...root.childNodes].filter((n) => n.nodeName !== 'STYLE')"
                ".map((n) => n.textContent).join('');",
                name,
            )
        )

    def element(self, name: str, css: str) -> Any:
        """An element inside a named widget's shadow root, for the mouse and keyboard."""
        found = self.driver.execute_script(
            "const m = Bokeh.documents[0].get_model_by_name(arguments[0]);"
            "const v = Bokeh.index.find_one(m);"
            "return v ? v.shadow_el.querySelector(arguments[1]) : null;",
            name,
            css,
        )
        if found is None:
            raise AssertionError(f"no {css!r} in the widget named {name!r}")
        return found

    # -- acting -----------------------------------------------------------------------------

    def drag_slider(self, name: str, pixels: int) -> None:
        """Drag a slider's handle sideways with the mouse, and let go."""
        from selenium.webdriver.common.action_chains import ActionChains

        handle = self.element(name, ".noUi-handle")
        ActionChains(self.driver).click_and_hold(handle).move_by_offset(pixels, 0).release().perform()

    def click(self, name: str) -> None:
        """Click a named button."""
        self.element(name, "button").click()

    def type_into(self, name: str, text: str) -> None:
        """Type into a named text input and press Enter (Bokeh takes the value on change)."""
        from selenium.webdriver.common.keys import Keys

        field = self.element(name, "input")
        field.clear()
        field.send_keys(text + Keys.ENTER)

    def round_trip(self, slider: str, value: float) -> dict[str, float]:
        """Milliseconds from a slider release to the new data (``data``) and to the
        redrawn chart (``drawn``)."""
        self.driver.set_script_timeout(self.patience)
        return dict(self.driver.execute_async_script(ROUND_TRIP_JS, slider, value))

    def screenshot(self, path: str | Path) -> Path:
        """Save what the page shows now as PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path
