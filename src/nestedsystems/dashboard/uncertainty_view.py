"""The "uncertainty" toggle of the what-if app: bands on the charts, "how sure is this?"
in words, and which loops drive the plausible futures.

Sliders never wait for an ensemble. A lever move redraws the deterministic run at once
(the app does that); this view then hides the bands, which belonged to the old
settings, says it is working, and asks the `UncertaintyEngine` for the new ones. The
answer comes back on the engine's thread, and Bokeh allows only one thing from another
thread: ``document.add_next_tick_callback``. The bands are drawn in that callback, and
only if they still belong to the levers on screen.

Without a server (a document built in a test) there is no next tick: answers wait in
an inbox until `UncertaintyView.settle` applies them on the caller's thread.
"""

from __future__ import annotations

import html
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource

# From their subpackage: mypy cannot follow the starred ``__all__`` through which
# ``bokeh.models`` re-exports them.
from bokeh.models.widgets import Div, Toggle

from .assumptions import Assumptions, Outlook
from .figures import CURRENT_COLOR, PALETTE, Series, TimeAxis
from .uncertainty import Bands, LoopShares, UncertaintyEngine, engine_for, how_sure

__all__ = ["HIGH", "LOW", "MIDDLE", "UncertaintyView", "band_columns", "shares_table", "view_for_app"]

LOW, MIDDLE, HIGH = "5%: ", "50%: ", "95%: "
_QUIET = "color:#555;font-style:italic"


def _empty(series: Sequence[Series]) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {"time": []}
    for item in series:
        for prefix in (LOW, MIDDLE, HIGH):
            columns[prefix + item.column] = []
    return columns


def band_columns(bands: Bands, series: Sequence[Series], axis: TimeAxis) -> dict[str, np.ndarray]:
    """The band source's columns: for each series its 5%, 50% and 95% lines."""
    columns: dict[str, np.ndarray] = {"time": axis.of(bands.times)}
    for item in series:
        low, middle, high = bands.quantiles[item.variable]
        if item.invert:  # 1 - value turns the 95% line into the lower edge
            low, middle, high = 1.0 - high, 1.0 - middle, 1.0 - low
        columns[LOW + item.column] = low
        columns[MIDDLE + item.column] = middle
        columns[HIGH + item.column] = high
    return columns


class UncertaintyView:
    """The toggle, the words and the bands of one session.

    Parameters
    ----------
    engine:
        The server's shared engine for this model.
    series:
        Every series drawn with a band (trajectories and indicators).
    outlook:
        What the sentence reads.
    axis:
        How model time reads.
    width:
        Of the words.
    """

    def __init__(
        self,
        engine: UncertaintyEngine,
        series: Sequence[Series],
        outlook: Outlook,
        axis: TimeAxis,
        *,
        width: int = 870,
    ) -> None:
        self.engine = engine
        self.series = tuple(series)
        self.outlook = outlook
        self.axis = axis
        self.values: dict[str, float] = {}
        self.shown_key: tuple | None = None  # the scenario whose bands are on screen
        self.source = ColumnDataSource(_empty(self.series), name="uncertainty-bands")
        self.toggle = Toggle(label="Show uncertainty", active=False, name="uncertainty", width=170)
        members = engine.assumptions.members
        self.words = Div(
            text=f"<span style='{_QUIET}'>How sure is this? Switch on to run {members} plausible futures "
            f"({len(engine.assumptions.spans)} uncertain assumptions from "
            f"{html.escape(engine.assumptions.source)}).</span>",
            name="how-sure",
            width=width - 190,
        )
        self.loops = Div(text="", name="loop-shares", width=width, visible=False)
        self.renderers: list[Any] = []
        self._baseline: Bands | None = None
        self._shown: Bands | None = None
        self._wanted: list[Future] = []
        self._inbox: deque[Callable[[], None]] = deque()
        self._inbox_lock = threading.Lock()
        self.toggle.on_change("active", self._toggled)

    @classmethod
    def for_session(
        cls,
        prepared: Any,
        assumptions: Assumptions,
        series: Sequence[Series],
        outlook: Outlook,
        axis: TimeAxis,
        *,
        width: int = 870,
    ) -> UncertaintyView:
        save = [item.variable for item in series] + [outlook.variable]
        engine = engine_for(prepared, assumptions, save, keep=[outlook.variable])
        return cls(engine, series, outlook, axis, width=width)

    # -- drawing ------------------------------------------------------------------------

    def draw_on(self, plot: Any, series: Sequence[Series], colors: Sequence[str] | None = None) -> None:
        """Add the bands of ``series`` to a figure: a shaded 5-95% area under the lines
        and a dotted median, hidden while the toggle is off."""
        for k, item in enumerate(series):
            color = colors[k % len(colors)] if colors else CURRENT_COLOR
            area = plot.varea(
                x="time",
                y1=LOW + item.column,
                y2=HIGH + item.column,
                source=self.source,
                fill_color=color,
                fill_alpha=0.15,
                level="underlay",
                visible=False,
            )
            median = plot.line(
                "time",
                MIDDLE + item.column,
                source=self.source,
                color=color,
                line_dash="dotted",
                line_width=1.5,
                visible=False,
            )
            self.renderers.extend([area, median])

    def draw(
        self, trajectories: Any, series: Sequence[Series], indicators: Sequence[tuple[Any, Series]]
    ) -> None:
        """Bands on the trajectories chart (each in its own colour; ``trajectories`` may be
        None) and on each small multiple, given as (figure, series) pairs."""
        if trajectories is not None:
            self.draw_on(trajectories, series, PALETTE)
        for plot, item in indicators:
            self.draw_on(plot, [item])

    # -- following the levers ------------------------------------------------------------

    def follow(self, values: Mapping[str, float]) -> None:
        """The levers moved (``values``: those away from the model's values)."""
        self.values = dict(values)
        if self.toggle.active:
            self._ask()

    def _toggled(self, attr: str, old: bool, new: bool) -> None:
        for renderer in self.renderers:
            renderer.visible = bool(new)
        if new:
            self._ask()
        else:
            self._drop_requests()
            self._hide()
            self.words.text = f"<span style='{_QUIET}'>Uncertainty is off.</span>"
            self.loops.visible = False

    def _ask(self) -> None:
        self._drop_requests()
        key = self.engine.key(self.values)
        if self.shown_key != key:
            self._hide()
            self.words.text = (
                f"<span style='{_QUIET}'>Working out {self.engine.assumptions.members} plausible "
                "futures for these settings…</span>"
            )
        baseline = self.engine.bands({})
        current = self.engine.bands(self.values) if self.values else baseline
        shares = self.engine.loop_shares(self.values, self.axis)
        self._wanted = [baseline, current, shares] if current is not baseline else [baseline, shares]
        self._deliver(baseline, self._baseline_arrived)
        if current is not baseline:
            self._deliver(current, lambda result: self._bands_arrived(key, result))
        self._deliver(shares, lambda result: self._shares_arrived(key, result))

    def _drop_requests(self) -> None:
        for future in self._wanted:
            self.engine.release(future)
        self._wanted = []

    def _hide(self) -> None:
        self.shown_key = None
        self.source.data = _empty(self.series)
        self.loops.visible = False

    # -- answers from the engine's thread ------------------------------------------------

    def _deliver(self, future: Future, apply: Callable[[Any], None]) -> None:
        def settled() -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                self.words.text = html.escape(f"The plausible futures could not be worked out: {error}")
                return
            apply(future.result())

        if future.done():
            settled()  # a cached answer, on the session's own thread
            return
        future.add_done_callback(lambda _: self._post(settled))

    def _post(self, callback: Callable[[], None]) -> None:
        document = self.toggle.document
        if document is not None and document.session_context is not None:
            # the one Document method Bokeh allows from another thread
            document.add_next_tick_callback(callback)
            return
        with self._inbox_lock:
            self._inbox.append(callback)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait for the answers asked for and apply them here (documents without a server).

        Returns False when they did not all come within ``timeout`` seconds.
        """
        _, pending = wait(list(self._wanted), timeout=timeout)
        self._drain()
        return not pending

    def _drain(self) -> None:
        while True:
            with self._inbox_lock:
                if not self._inbox:
                    return
                callback = self._inbox.popleft()
            callback()

    def _current(self, key: tuple) -> bool:
        return bool(self.toggle.active) and key == self.engine.key(self.values)

    def _baseline_arrived(self, bands: Bands) -> None:
        # The baseline is the scenario with no lever moved, and every sentence's yardstick.
        self._baseline = bands
        if not self.values:
            self._bands_arrived(self.engine.key({}), bands)
        elif self.shown_key is not None and self._shown is not None:
            self._bands_arrived(self.shown_key, self._shown)

    def _bands_arrived(self, key: tuple, bands: Bands) -> None:
        if not self._current(key):
            return  # an answer for levers no longer on screen is never shown as current
        self._shown = bands
        self.shown_key = key
        self.source.data = band_columns(bands, self.series, self.axis)
        if self._baseline is None:
            return
        sentence = how_sure(bands, self._baseline, self.outlook, self.axis, changed=bool(self.values))
        legend = "Shaded: where 9 in 10 plausible futures run; dotted: the middle one."
        self.words.text = (
            f"<b>How sure is this?</b> {html.escape(sentence)} <span style='{_QUIET}'>{legend}</span>"
        )

    def _shares_arrived(self, key: tuple, shares: LoopShares | None) -> None:
        if shares is None or not self._current(key):
            return
        self.loops.text = shares_table(shares)
        self.loops.visible = True


def shares_table(shares: LoopShares, *, least: float = 0.05) -> str:
    """An HTML table: per named loop that drives at least ``least`` of the futures in
    some year, the share of futures it drives, year by year."""
    order = np.argsort(-shares.shares.sum(axis=0))
    rows = []
    for i in order:
        column = shares.shares[:, i]
        if column.max() < least:
            continue
        cells = "".join(
            f'<td style="text-align:right;padding:1px 6px;background:rgba(0,114,178,{0.85 * share:.2f});'
            f'color:{"#fff" if share > 0.5 else "#1a1a1a"}">{share:.0%}</td>'
            for share in column
        )
        name = html.escape(shares.loops[i])
        rows.append(f"<tr><th style='text-align:left;font-weight:normal'>{name}</th>{cells}</tr>")
    if shares.steady.max() >= least:
        cells = "".join(
            f'<td style="text-align:right;padding:1px 6px;color:#555">{share:.0%}</td>'
            for share in shares.steady
        )
        rows.append(
            "<tr><th style='text-align:left;font-weight:normal;color:#555'>"
            f"Steady: nothing much changes</th>{cells}</tr>"
        )
    head = "".join(f"<th style='padding:1px 6px'>{html.escape(period)}</th>" for period in shares.periods)
    return (
        f"<b>Which loop drives the system</b>: share of {shares.members} plausible futures in which each "
        "named loop explains the most change, year by year."
        f'<table class="ns-loop-shares" style="border-collapse:collapse;font-size:90%">'
        f"<tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def view_for_app(
    prepared: Any,
    levers: Sequence[str],
    trajectories: Sequence[Series],
    indicators: Sequence[Series],
    axis: TimeAxis,
    *,
    width: int = 870,
) -> UncertaintyView | None:
    """The view for an app's model, or None when the model declares no uncertainty.

    Raises `ModelFileError` for a broken uncertainty file (the app shows it).
    """
    from .assumptions import assumptions_for

    assumptions = assumptions_for(prepared.path, prepared.model, levers=levers)
    if assumptions is None or not (trajectories or indicators):
        return None
    series = (*trajectories, *indicators)
    # Without an outlook of its own the sentence reads the first headline indicator.
    first = (indicators or trajectories)[0]
    outlook = assumptions.outlook or Outlook(first.variable, first.column.lower())
    return UncertaintyView.for_session(prepared, assumptions, series, outlook, axis, width=width)
