"""Widgets the apps share: lever sliders with their explanation, the message line, and
a way to hand the browser a file made on the server.

Every widget a test or the browser needs to find carries a Bokeh ``name``
(``lever:<name>``, ``message``, ``download``...), the only handle that survives
both `bokeh.document.Document.select_one` and BokehJS's ``get_model_by_name``.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

from bokeh.layouts import column
from bokeh.models import Column, ColumnDataSource, CustomJS

# From their subpackages: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.ui import UIElement
from bokeh.models.widgets import Div, Slider

from .levers import Lever

__all__ = [
    "CHART_WIDTH",
    "LEVER_WIDTH",
    "Downloader",
    "error_page",
    "file_stem",
    "grid_of",
    "lever_block",
    "lever_slider",
    "message_html",
    "slider_format",
]

# Fixed widths: Bokeh's stretching layouts collapse grids of figures to nothing inside
# rows, and a board's screen is at least 1280 pixels wide.
LEVER_WIDTH = 340
CHART_WIDTH = 870

_LEVEL_STYLE = {
    "info": "color:#1a1a1a;background:#eef5fb;border-left:4px solid #0072B2",
    "success": "color:#1a1a1a;background:#edf7f1;border-left:4px solid #009E73",
    "error": "color:#7a1f00;background:#fdf0ea;border-left:4px solid #D55E00",
}


def slider_format(step: float) -> str:
    """A numeral.js format showing as many decimals as the step needs, no more."""
    if step <= 0 or not math.isfinite(step):
        return "0,0.[00]"
    decimals = max(0, min(6, -math.floor(math.log10(step) + 1e-9)))
    return "0,0" if decimals == 0 else "0,0." + "0" * decimals


def lever_slider(lever: Lever, value: float | None = None) -> Slider:
    """A slider for a lever, named ``lever:<name>``, starting at ``value`` (default: the
    model's value)."""
    start = lever.default if value is None else value
    return Slider(
        start=lever.start,
        end=lever.end,
        step=lever.step,
        value=min(max(start, lever.start), lever.end),
        title=lever.title,
        format=slider_format(lever.step),
        name=f"lever:{lever.name}",
        width=LEVER_WIDTH,
    )


def lever_block(slider: Slider, lever: Lever) -> Slider | Column:
    """The slider with its one-line explanation under it."""
    if not lever.explanation:
        return slider
    note = Div(
        text=f'<span style="font-size:85%;color:#555">{html.escape(lever.explanation)}</span>',
        width=LEVER_WIDTH,
        margin=(0, 10, 8, 10),
    )
    return column(slider, note, spacing=0)


def message_html(text: str, level: str = "info") -> str:
    """The message line's HTML: plain text, escaped, coloured by level."""
    if not text:
        return ""
    style = _LEVEL_STYLE.get(level, _LEVEL_STYLE["info"])
    return (
        f'<div role="status" class="ns-message ns-{html.escape(level)}" '
        f'style="{style};padding:6px 10px;margin:4px 0">{html.escape(text)}</div>'
    )


# On a change of the download source's data the browser turns its one row into a
# file and clicks a link to it. The server never writes to disk, and each session's
# download goes only to that session's browser.
_DOWNLOAD_JS = """
const data = source.data;
if (!data.filename || data.filename.length === 0) { return; }
const name = data.filename[0];
let blob;
if (data.base64[0]) {
    const bytes = atob(data.content[0]);
    const array = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) { array[i] = bytes.charCodeAt(i); }
    blob = new Blob([array], {type: data.mime[0]});
} else {
    blob = new Blob([data.content[0]], {type: data.mime[0]});
}
const link = document.createElement("a");
link.href = URL.createObjectURL(blob);
link.download = name;
link.style.display = "none";
document.body.appendChild(link);
link.click();
setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
"""


class Downloader:
    """Hands the browser a file made on the server, through one row of a data source.

    Attributes
    ----------
    source:
        The data source (named ``download``) whose change triggers the download.
    """

    def __init__(self) -> None:
        self.source = ColumnDataSource(
            data={"filename": [], "content": [], "mime": [], "base64": [], "serial": []}, name="download"
        )
        self.source.js_on_change("data", CustomJS(args={"source": self.source}, code=_DOWNLOAD_JS))
        self._serial = 0

    def offer(self, filename: str, content: str | bytes, mime: str) -> None:
        """Send ``content`` to the browser as a file called ``filename``."""
        # The serial makes every offer a change, even of the same file twice.
        self._serial += 1
        binary = isinstance(content, bytes)
        text = base64.b64encode(content).decode("ascii") if isinstance(content, bytes) else content
        self.source.data = {
            "filename": [filename],
            "content": [text],
            "mime": [mime],
            "base64": [binary],
            "serial": [self._serial],
        }

    @property
    def last(self) -> tuple[str, bytes] | None:
        """The last file offered, decoded: ``(filename, content)``."""
        data = self.source.data
        if not data["filename"]:
            return None
        content = data["content"][0]
        raw = base64.b64decode(content) if data["base64"][0] else content.encode("utf-8")
        return data["filename"][0], raw


def file_stem(*parts: Sequence[str] | str) -> str:
    """A safe file name stem from words: letters, digits, dashes."""
    words = " ".join(p if isinstance(p, str) else " ".join(p) for p in parts)
    cleaned = "".join(c if c.isalnum() else "-" for c in words.strip().lower())
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return cleaned.strip("-") or "export"


def error_page(headline: str, error: BaseException) -> Div:
    """What a session shows when its app cannot start (the server keeps running)."""
    return Div(
        text=(
            f"<h2>{html.escape(headline)}</h2>"
            + message_html(str(error), "error")
            + "<p>Fix the file and reload this page.</p>"
        ),
        name="error-page",
        sizing_mode="stretch_width",
    )


def grid_of(items: Sequence[UIElement], columns: int) -> Column:
    """Widgets in rows of ``columns``."""
    from bokeh.layouts import row

    rows = [row(*items[k : k + columns]) for k in range(0, len(items), columns)]
    return column(*rows)
