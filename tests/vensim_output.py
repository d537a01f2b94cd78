"""Read Vensim's own output files (.tab, .csv) from the conformance suite."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd


def read_vensim_output(path: Path) -> pd.DataFrame:
    """A frame indexed by time with one column per variable, whichever way round
    Vensim wrote it (times down the rows or across the columns)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # universal newlines: some use CR
    separator = "\t" if path.suffix == ".tab" else ","
    frame = pd.read_csv(io.StringIO(text), sep=separator, index_col=0)
    frame.columns = [str(c).strip().strip('"') for c in frame.columns]
    if str(frame.index.name).strip().lower() != "time":
        raise ValueError(f"{path}: expected a Time column or row first, found {frame.index.name!r}")
    try:
        [float(c) for c in frame.columns]
        transposed = True
    except ValueError:
        transposed = False
    if transposed:
        frame = frame.T
        frame.index = frame.index.astype(float)
    frame.index = frame.index.astype(float)
    frame.index.name = "time"
    return frame.apply(pd.to_numeric, errors="coerce")
