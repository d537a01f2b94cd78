"""External data: Vensim's GET XLS/DIRECT CONSTANTS, LOOKUPS and DATA, read at load.

The functions name a file relative to the model, a sheet (spreadsheets) or a
delimiter (GET DIRECT on text files), and cells. Everything is read once, when the
model is loaded, into the IR's own values: a constant becomes a `Number`, a lookup
a `Table`, and a data series a `Table` of time, because a data variable is nothing
but a lookup read at the current time (`data_equation`).

Reading the spreadsheet (``.xlsx``, ``.xlsm``, ``.xls``) or text file (``.csv``,
``.tab``, ``.txt``) is pandas' job. Model files are untrusted, so the file name is
only ever a local path below nothing but the model's own folder reference: URLs
and Vensim's indirect ``?name`` file tags are refused, and the bytes are opened
here and handed to pandas, which then cannot reach the network on a model's behalf.

Cells follow Vensim: ``'B2'`` is column B, row 2; a series' times sit in a column
(``'A'``: the series runs down) or a row (``'1'``: it runs across), starting level
with the first data cell and ending at the first blank time. A blank data cell
next to a time is a missing value: the series is interpolated over it.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError, ModelFileError, ModelSyntaxError, UnsupportedError
from .expressions import Expr, LookupCall, LookupMode, Ref, Table

__all__ = ["DATA_MODES", "DataSource", "data_equation", "read_constant", "read_series"]

SPREADSHEETS = (".xlsx", ".xlsm", ".xls")
TEXT_FILES = (".csv", ".tab", ".txt")

# Vensim's keywords of data variables (as PySD spells them) -> how the series is read.
DATA_MODES = {
    None: LookupMode.INTERPOLATE,  # Vensim's default for data
    "interpolate": LookupMode.INTERPOLATE,
    "hold_backward": LookupMode.BACKWARD,
    "look_forward": LookupMode.FORWARD,
}

_CELL = re.compile(r"([A-Za-z]+)([0-9]+)")


@dataclass(frozen=True, slots=True)
class DataSource:
    """Where a GET function was called, for error messages, and where its model is."""

    model_file: Path
    line: int | None = None
    variable: str | None = None

    def error(self, cls: type[ModelError], message: str) -> ModelError:
        return cls(message, file=self.model_file, line=self.line, variable=self.variable)


def read_constant(source: DataSource, file: str, tab: str, cell: str) -> float:
    """The number in one cell (GET XLS CONSTANTS, GET DIRECT CONSTANTS).

    Parameters
    ----------
    source:
        The model file (the data file is relative to its folder) and the variable.
    file, tab, cell:
        The arguments as the model gives them: file name, sheet name or delimiter,
        and the cell (``'B2'``).
    """
    grid = _grid(source, file, tab)
    row, column = _cell(source, cell)
    value = _number(_at(grid, row, column))
    if value is None:
        raise source.error(
            ModelSyntaxError,
            f"expected a number in cell {cell} of {file!r}, found {_at(grid, row, column)!r}",
        )
    return value


def read_series(
    source: DataSource, file: str, tab: str, row_or_column: str, cell: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (x, y) points of a series (GET XLS/DIRECT DATA and LOOKUPS).

    Parameters
    ----------
    row_or_column:
        Where the x values (times) are: a column letter (the series runs down) or
        a row number (it runs across).
    cell:
        The first y value; the first x value is level with it.

    Returns
    -------
    tuple
        x and y values, sorted by x, without the points whose y is missing.
    """
    grid = _grid(source, file, tab)
    row, column = _cell(source, cell)
    spec = row_or_column.strip()
    if spec.isdigit() and int(spec) > 0:
        axis_row, down = int(spec) - 1, False
    elif spec.isalpha():
        axis_column, down = _column(spec), True
    else:
        raise source.error(
            ModelSyntaxError,
            f"expected a column letter or a row number for the times, found {row_or_column!r}",
        )
    points = []
    i = 0
    while True:
        if down:
            x, y = _at(grid, row + i, axis_column), _at(grid, row + i, column)
        else:
            x, y = _at(grid, axis_row, column + i), _at(grid, row, column + i)
        x_value = _number(x)
        if x_value is None:
            break
        y_value = _number(y)
        if y_value is not None:
            points.append((x_value, y_value))
        i += 1
    if not points:
        raise source.error(
            ModelSyntaxError,
            f"expected numbers from cell {cell} of {file!r}, found {_at(grid, row, column)!r}",
        )
    points.sort(key=lambda p: p[0])
    return tuple(p[0] for p in points), tuple(p[1] for p in points)


def data_equation(
    points: tuple[tuple[float, ...], tuple[float, ...]], keyword: str | None, source: DataSource
) -> Expr:
    """The equation of a data variable: its series read at the current time."""
    mode = DATA_MODES.get(keyword)
    if mode is None:
        spelled = (keyword or "").upper().replace("_", " ")
        raise source.error(UnsupportedError, f"the data keyword :{spelled}: is not supported yet")
    x, y = points
    return LookupCall(Table(x=x, y=y, mode=mode), Ref("time"))


# ------------------------------------------------------------------ reading


def _path(source: DataSource, file: str) -> Path:
    name = file.strip()
    if name.startswith("?"):
        raise source.error(
            UnsupportedError, f"indirect file references ({name!r}) are not supported; name the file itself"
        )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", name):
        raise source.error(
            UnsupportedError, f"data must be a local file next to the model, found the URL {name!r}"
        )
    path = Path(name)
    return path if path.is_absolute() else source.model_file.parent / path


def _grid(source: DataSource, file: str, tab: str) -> list[list[Any]]:
    """The sheet or text file as rows of raw cells (None where blank)."""
    path = _path(source, file)
    suffix = path.suffix.lower()
    if suffix not in SPREADSHEETS + TEXT_FILES:
        raise source.error(
            UnsupportedError,
            f"expected a spreadsheet ({', '.join(SPREADSHEETS)}) or text file ({', '.join(TEXT_FILES)}), "
            f"found {file!r}",
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ModelFileError(
            f"cannot read the data file {str(path)!r} ({error.strerror}); it is named relative to the model",
            file=source.model_file,
            line=source.line,
            variable=source.variable,
        ) from None
    import pandas as pd

    try:
        if suffix in SPREADSHEETS:
            frame = pd.read_excel(
                io.BytesIO(raw), sheet_name=tab, header=None, dtype=object, engine=_engine(raw)
            )
        else:
            delimiter = "\t" if tab in ("\\t", "\t", "tab") else tab
            text = raw.decode("utf-8-sig", errors="replace")
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str, engine="python")
    except ImportError as error:
        raise source.error(
            UnsupportedError,
            f"reading {file!r} needs an optional package: {error}; pip install openpyxl xlrd",
        ) from None
    except ValueError as error:  # a missing sheet, an unreadable workbook
        raise source.error(ModelFileError, f"cannot read {file!r}: {error}") from None
    return [[None if _blank(v) else v for v in row] for row in frame.itertuples(index=False, name=None)]


def _engine(raw: bytes) -> str:
    """pandas' reader for a workbook: calamine reads both formats; without it, by the
    bytes (a zip is a .xlsx whatever its name says, an OLE file an old .xls)."""
    import importlib.util

    if importlib.util.find_spec("python_calamine") is not None:
        return "calamine"
    return "xlrd" if raw.startswith(b"\xd0\xcf\x11\xe0") else "openpyxl"


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _at(grid: list[list[Any]], row: int, column: int) -> Any:
    if 0 <= row < len(grid) and 0 <= column < len(grid[row]):
        return grid[row][column]
    return None


def _column(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _cell(source: DataSource, cell: str) -> tuple[int, int]:
    match = _CELL.fullmatch(cell.strip())
    if not match or int(match.group(2)) < 1:
        raise source.error(ModelSyntaxError, f"expected a cell such as 'B2', found {cell!r}")
    return int(match.group(2)) - 1, _column(match.group(1))
