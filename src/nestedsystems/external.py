"""External data: Vensim's GET XLS/DIRECT CONSTANTS, LOOKUPS, DATA and SUBSCRIPT, read at load.

The functions name a file relative to the model, a sheet (spreadsheets) or a
delimiter (GET DIRECT on text files), and cells. Everything is read once, when the
model is loaded, into the IR's own values: a constant becomes a `Number` (an array
of them for a subscripted variable), a lookup a `Table`, a data series a `Table` of
time, because a data variable is nothing but a lookup read at the current time
(`data_equation`; ``:RAW:`` data is :NA: between its times, `raw_equation`), and
GET SUBSCRIPT a list of element names.

Reading the spreadsheet (``.xlsx``, ``.xlsm``, ``.xls``) or text file (``.csv``,
``.tab``, ``.txt``) is pandas' job. Model files are untrusted: a file name must be
a local path (relative to the model, as Vensim reads it); URLs and Vensim's
indirect ``?name`` file tags are refused, and the bytes are opened here and handed
to pandas, which then cannot reach the network on a model's behalf. Only numbers
and element names come out of a file; nothing read is ever evaluated.

Cells follow Vensim: ``'B2'`` is column B, row 2, and a workbook's named range
stands for its first cell. A series' times sit in a column (``'A'``: the series
runs down) or a row (``'1'``: it runs across), level with the first data cell; a
point whose time or value is blank or not a number is skipped, the series
interpolated over it. Constants run across a row (one dimension) or fill a block,
rows by columns (two); ``'B2*'`` transposes.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, ModelFileError, ModelSyntaxError, ParameterError, UnsupportedError
from .expressions import Binary, Expr, If, LookupCall, LookupMode, Number, Op, Ref, Table, canonical

__all__ = [
    "DATA_MODES",
    "DataSource",
    "data_equation",
    "given_series",
    "raw_equation",
    "read_constant",
    "read_constants",
    "read_series",
    "read_series_block",
    "read_subscript",
]

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
    row, column = _cell(source, cell, file, tab)
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
    row, column = _cell(source, cell, file, tab)
    down, axis = _time_axis(source, file, tab, row_or_column)
    # Vensim skips a point whose time or value is blank or not a number, and reads on
    # to the end of the row or column.
    length = len(grid) - row if down else max((len(r) for r in grid), default=0) - column
    points = []
    for i in range(max(length, 0)):
        if down:
            x, y = _at(grid, row + i, axis), _at(grid, row + i, column)
        else:
            x, y = _at(grid, axis, column + i), _at(grid, row, column + i)
        x_value, y_value = _number(x), _number(y)
        if x_value is not None and y_value is not None:
            points.append((x_value, y_value))
    if not points:
        raise source.error(
            ModelSyntaxError,
            f"expected numbers from cell {cell} of {file!r}, found {_at(grid, row, column)!r}",
        )
    points.sort(key=lambda p: p[0])
    return tuple(p[0] for p in points), tuple(p[1] for p in points)


def read_constants(source: DataSource, file: str, tab: str, cell: str, shape: tuple[int, ...]) -> np.ndarray:
    """The numbers of an arrayed GET XLS/DIRECT CONSTANTS, in the given shape.

    As in Vensim, one dimension runs across a row from the cell and two fill rows
    (first dimension) by columns (second); a cell written ``'B2*'`` transposes, so
    that one dimension runs down a column.
    """
    transpose = cell.strip().endswith("*")
    spot = cell.strip().rstrip("*")
    grid = _grid(source, file, tab)
    row, column = _cell(source, spot, file, tab)
    if len(shape) > 2:
        raise source.error(UnsupportedError, f"GET CONSTANTS of {len(shape)} dimensions is not supported yet")
    rows, columns = (1, *shape)[-2:] if shape else (1, 1)
    values = np.empty((rows, columns))
    for i in range(rows):
        for j in range(columns):
            at = (row + j, column + i) if transpose else (row + i, column + j)
            value = _number(_at(grid, *at))
            if value is None:
                name = f"{_letters(at[1])}{at[0] + 1}"
                raise source.error(
                    ModelSyntaxError,
                    f"expected a number in cell {name} of {file!r} ({rows * columns} values from {cell}), "
                    f"found {_at(grid, *at)!r}",
                )
            values[i, j] = value
    return values.reshape(shape)


def read_series_block(
    source: DataSource, file: str, tab: str, row_or_column: str, cell: str, count: int
) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """`count` series side by side: in the rows below the cell's when the times run
    across a row, in the columns right of it when they run down a column."""
    row, column = _cell(source, cell, file, tab)
    down, _ = _time_axis(source, file, tab, row_or_column)
    series = []
    for k in range(count):
        at = f"{_letters(column + k)}{row + 1}" if down else f"{_letters(column)}{row + k + 1}"
        series.append(read_series(source, file, tab, row_or_column, at))
    return series


def read_subscript(source: DataSource, file: str, tab: str, first: str, last: str, prefix: str) -> list[str]:
    """The elements of GET XLS/DIRECT SUBSCRIPT: the prefix before each non-blank
    cell from `first` to `last` (a row or a column), whole numbers without ``.0``."""
    grid = _grid(source, file, tab)
    (top, left), (bottom, right) = _cell(source, first, file, tab), _cell(source, last, file, tab)
    elements = []
    for row in range(top, bottom + 1):
        for column in range(left, right + 1):
            value = _at(grid, row, column)
            if value is None:
                continue
            number = _number(value)
            text = str(int(number)) if number is not None and number.is_integer() else str(value).strip()
            elements.append(f"{prefix}{text}")
    if not elements:
        raise source.error(
            ModelSyntaxError, f"expected subscript names in {first}:{last} of {file!r}, found none"
        )
    return elements


def given_series(data: Any) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Series given to `load` for data variables that have no equation, by name.

    Accepts a mapping of names to pandas Series (indexed by time) or ``(times,
    values)`` pairs, a pandas DataFrame (indexed by time, a column per variable), or
    the path of a CSV file with a ``Time`` column (or a ``Time`` row, as Vensim
    exports data with times across). Missing values are dropped.
    """
    import pandas as pd

    if isinstance(data, (str, Path)):
        path = Path(data)
        try:
            frame = pd.read_csv(path, sep=None, engine="python", index_col=0)
        except (OSError, ValueError) as error:
            raise ParameterError(f"data: cannot read {str(path)!r} ({error})") from None
        if len(frame.columns) and all(_number(c) is not None for c in frame.columns):
            frame = frame.T  # times across (Vensim's export): the first row holds them
        elif canonical(str(frame.index.name or "")) != "time":
            raise ParameterError(f"data: expected a Time column or row in {str(path)!r}")
        frame.index = pd.to_numeric(frame.index, errors="coerce")
        data = frame
    if isinstance(data, pd.DataFrame):
        data = {str(column): data[column] for column in data.columns}
    if not isinstance(data, Mapping):
        raise ParameterError(
            f"data: expected a mapping, a DataFrame or a CSV path, found {type(data).__name__}"
        )
    series = {}
    for name, value in data.items():
        if isinstance(value, pd.Series):
            times, values = value.index.to_numpy(dtype=float), value.to_numpy(dtype=float)
        else:
            try:
                times, values = (np.asarray(part, dtype=float) for part in value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"data {name!r}: expected a pandas Series or (times, values), found {value!r:.80}"
                ) from None
        if times.ndim != 1 or times.shape != values.shape:
            raise ParameterError(
                f"data {name!r}: expected as many times as values, found {times.shape} and {values.shape}"
            )
        known = np.isfinite(times) & np.isfinite(values)
        if not known.any():
            raise ParameterError(f"data {name!r}: expected numbers, found none")
        order = np.argsort(times[known], kind="stable")
        series[canonical(str(name))] = (
            tuple(float(t) for t in times[known][order]),
            tuple(float(v) for v in values[known][order]),
        )
    return series


def data_equation(
    points: tuple[tuple[float, ...], tuple[float, ...]], keyword: str | None, source: DataSource
) -> Expr:
    """The equation of a data variable: its series read at the current time."""
    if keyword == "raw":
        return raw_equation(points[0], points[1], Ref("time"))
    mode = DATA_MODES.get(keyword)
    if mode is None:
        spelled = (keyword or "").upper().replace("_", " ")
        raise source.error(UnsupportedError, f"the data keyword :{spelled}: is not supported yet")
    x, y = points
    return LookupCall(Table(x=x, y=y, mode=mode), Ref("time"))


def raw_equation(x: tuple[float, ...], y: tuple[float, ...], time: Expr) -> Expr:
    """:RAW: data: the value at the times the data gives, Vensim's :NA: (-2**109)
    at any other time. The last data time at or before now, read from a table of
    the times themselves, tells whether now is one of them."""
    last_time = LookupCall(Table(x=x, y=x, mode=LookupMode.BACKWARD), time)
    value = LookupCall(Table(x=x, y=y, mode=LookupMode.BACKWARD), time)
    return If(Binary(Op.EQ, last_time, time), value, Number(-(2.0**109)))


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


def _grid(source: DataSource, file: str, tab: str) -> tuple[tuple[Any, ...], ...]:
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
        stat = path.stat()
        return _read_grid(str(path), stat.st_mtime_ns, stat.st_size, tab)
    except OSError as error:
        raise ModelFileError(
            f"cannot read the data file {str(path)!r} ({error.strerror}); it is named relative to the model",
            file=source.model_file,
            line=source.line,
            variable=source.variable,
        ) from None
    except ImportError as error:
        raise source.error(
            UnsupportedError,
            f"reading {file!r} needs an optional package: {error}; pip install openpyxl python-calamine",
        ) from None
    except ValueError as error:  # a missing sheet, an unreadable workbook
        raise source.error(ModelFileError, f"cannot read {file!r}: {error}") from None


# A model often reads many ranges of one workbook: each file and sheet is read once
# (per version of the file: its time and size are part of the key).
@functools.lru_cache(maxsize=32)
def _read_grid(path: str, modified: int, size: int, tab: str) -> tuple[tuple[Any, ...], ...]:
    import pandas as pd

    raw = Path(path).read_bytes()
    if Path(path).suffix.lower() in SPREADSHEETS:
        frame = pd.read_excel(io.BytesIO(raw), sheet_name=tab, header=None, dtype=object, engine=_engine(raw))
    else:
        delimiter = "\t" if tab in ("\\t", "\t", "tab") else tab
        text = raw.decode("utf-8-sig", errors="replace")
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str, engine="python")
    return tuple(
        tuple(None if _blank(v) else v for v in row) for row in frame.itertuples(index=False, name=None)
    )


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


def _at(grid: tuple[tuple[Any, ...], ...], row: int, column: int) -> Any:
    if 0 <= row < len(grid) and 0 <= column < len(grid[row]):
        return grid[row][column]
    return None


def _column(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _time_axis(source: DataSource, file: str, tab: str, spec: str) -> tuple[bool, int]:
    """Where a series' times are: (True, column) when they run down a column,
    (False, row) when across a row; from a letter, a row number or a named range."""
    spec = spec.strip()
    if spec.isdigit() and int(spec) > 0:
        return False, int(spec) - 1
    if spec.isalpha() and len(spec) <= 3:
        return True, _column(spec)
    named = _named(source, file, tab, spec)
    if named is None:
        raise source.error(
            ModelSyntaxError,
            f"expected a column letter, a row number or a named range for the times, found {spec!r}",
        )
    row, column, height = named
    return (False, row) if height == 1 else (True, column)


def _letters(column: int) -> str:
    letters = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _cell(source: DataSource, cell: str, file: str | None = None, tab: str | None = None) -> tuple[int, int]:
    """(row, column) from 0 of a cell (``'B2'``) or of a workbook's named range."""
    match = _CELL.fullmatch(cell.strip())
    if match and int(match.group(2)) >= 1:
        return int(match.group(2)) - 1, _column(match.group(1))
    named = _named(source, file, tab, cell.strip()) if file is not None else None
    if named is None:
        raise source.error(ModelSyntaxError, f"expected a cell such as 'B2' or a named range, found {cell!r}")
    return named[0], named[1]


def _named(source: DataSource, file: str | None, tab: str | None, name: str) -> tuple[int, int, int] | None:
    """(row, column, height) of a workbook's named range on sheet `tab`, or None."""
    path = _path(source, file or "")
    if path.suffix.lower() not in (".xlsx", ".xlsm") or not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return None
    try:
        stat = path.stat()
        names = _workbook_names(str(path), stat.st_mtime_ns, stat.st_size)
    except (ImportError, OSError, ValueError, KeyError):
        return None
    for sheet, reference in names.get(name, ()):
        if tab is not None and sheet != tab:
            continue
        corners = re.findall(r"\$?([A-Za-z]+)\$?([0-9]+)", reference)
        if corners:
            first_row, first_column = int(corners[0][1]) - 1, _column(corners[0][0])
            last_row = int(corners[-1][1]) - 1
            return first_row, first_column, last_row - first_row + 1
    return None


@functools.lru_cache(maxsize=32)
def _workbook_names(path: str, modified: int, size: int) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every named range of a workbook (its own and its sheets'): name -> (sheet, cells)."""
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()), read_only=True)
    names: dict[str, tuple[tuple[str, str], ...]] = {}
    for scope in [workbook.defined_names] + [sheet.defined_names for sheet in workbook.worksheets]:
        for name, defined in scope.items():
            names[name] = names.get(name, ()) + tuple(defined.destinations)
    return names
