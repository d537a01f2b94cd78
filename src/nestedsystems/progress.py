"""Progress bars for long ensembles and calibrations, only where someone is watching.

A bar on a terminal tells the user the run is alive and how long it will take; the
same bar in a log file, a CI job or a notebook's captured stderr is noise. So bars
appear only when stderr is a terminal, unless the caller says otherwise, and tqdm
(an optional dependency) is imported only when a bar is shown.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """A bar that shows nothing: the same interface as tqdm's, for quiet runs."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""

    def set_postfix_str(self, text: str) -> None:
        """Show a short status after the bar."""

    def close(self) -> None:
        """Finish the bar."""

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def progress_bar(total: int, *, description: str, enabled: bool | None = None, unit: str = "run") -> Any:
    """A tqdm bar counting to ``total``, or a silent `ProgressBar`.

    Parameters
    ----------
    total:
        Items expected.
    description:
        Shown before the bar ("ensemble", "calibration").
    enabled:
        True or False forces the choice; None shows a bar only when stderr is a
        terminal.
    unit:
        What is counted.
    """
    if enabled is None:
        enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not enabled:
        return ProgressBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # a bar is a nicety; a missing tqdm must not stop a run
        return ProgressBar()
    # A terminal that reports a size of 0 x 0 (a fresh pty, some CI runners) makes
    # tqdm hide the bar as if it were below the last row; shutil falls back to 80 x 24.
    size = shutil.get_terminal_size(fallback=(80, 24))
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        leave=False,
        ncols=size.columns,
        nrows=size.lines,
    )
