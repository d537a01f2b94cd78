"""External data: GET XLS/DIRECT CONSTANTS, LOOKUPS and DATA, read at load."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import TEST_MODELS
from nestedsystems.errors import ModelFileError, ModelSyntaxError, ParameterError, UnsupportedError
from nestedsystems.expressions import LookupCall, LookupMode, Table

DATA = Path(__file__).parent / "data"


def _model(tmp_path: Path, equations: str, start: float = 2000, final: float = 2005) -> Path:
    path = tmp_path / "model.mdl"
    control = f"""
    INITIAL TIME = {start} ~ Year ~ |
    FINAL TIME = {final} ~ Year ~ |
    TIME STEP = 0.5 ~ Year ~ |
    SAVEPER = 1 ~ Year ~ |
    """
    path.write_text("{UTF-8}\n" + textwrap.dedent(equations) + textwrap.dedent(control))
    return path


def _conformance_copy(tmp_path: Path, folder: str, files: dict[str, str]) -> Path:
    """The conformance model and its spreadsheets under the names the model uses
    (the suite ships ``data down.xlsx`` where the model reads ``data down.xls``)."""
    source = TEST_MODELS / "tests" / folder
    model = next(source.glob("*.mdl"))
    shutil.copy(model, tmp_path / model.name)
    for name, original in files.items():
        shutil.copy(source / original, tmp_path / name)
    return tmp_path / model.name


def test_get_data_down_and_across_from_spreadsheets_and_csv(tmp_path: Path) -> None:
    path = _conformance_copy(
        tmp_path,
        "get_data",
        {
            "data down.xls": "data down.xlsx",
            "data across.xls": "data across.xlsx",
            "data down.csv": "data down.csv",
            "data across.csv": "data across.csv",
        },
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    # Times 1, 2, 3 in column A (or row 1), values from B2; held before the first time.
    np.testing.assert_allclose(run["xls data down"], [1, 1, 4, 7])
    np.testing.assert_allclose(run["direct data down"], [1, 1, 4, 7])
    np.testing.assert_allclose(run["xls data across"], [1, 1, 2, 3])
    np.testing.assert_allclose(run["direct data across"], [1, 1, 2, 3])


def test_get_constants_from_a_sheet_and_a_csv(tmp_path: Path) -> None:
    path = _conformance_copy(
        tmp_path, "get_constants", {"data.xls": "data.xlsx", "data.csv": "data down.csv"}
    )
    model = ns.load(path)
    run = ns.simulate(model).to_pandas()
    # Cell A2 of each holds 1 (the sheet is named in Tamil: 'தாள்').
    np.testing.assert_allclose(run["xls constants"], 1.0)
    np.testing.assert_allclose(run["direct constants"], 1.0)


def test_data_keywords_and_missing_values(tmp_path: Path) -> None:
    shutil.copy(DATA / "demand.csv", tmp_path)
    path = _model(
        tmp_path,
        """
        demand := GET DIRECT DATA('demand.csv', ',', 'A', 'B2') ~ ~ |
        held :HOLD BACKWARD: := GET DIRECT DATA('demand.csv', ',', 'A', 'B2') ~ ~ |
        ahead :LOOK FORWARD: := GET DIRECT DATA('demand.csv', ',', 'A', 'B2') ~ ~ |
        price := GET DIRECT DATA('demand.csv', ',', 'A', 'C2') ~ ~ |
        """,
    )
    model = ns.load(path)
    price = model["price"].equation
    assert isinstance(price, LookupCall) and isinstance(price.table, Table)
    # The blank price of 2001 is missing: the series goes 2000, 2002, 2004.
    assert price.table.x == (2000.0, 2002.0, 2004.0)
    assert model["held"].equation.table.mode is LookupMode.BACKWARD  # type: ignore[union-attr]
    run = ns.simulate(model).to_pandas()
    np.testing.assert_allclose(run["demand"], [10, 12, 16, 18, 20, 20])
    np.testing.assert_allclose(run["held"], [10, 12, 16, 16, 20, 20])
    np.testing.assert_allclose(run["ahead"], [10, 12, 16, 20, 20, 20])
    np.testing.assert_allclose(run["price"], [1.5, 2.0, 2.5, 2.75, 3.0, 3.0])


def test_get_lookups_from_a_workbook(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "effects"
    for row in (["ratio", 0, 1, 2], ["effect", 0.5, 1, 1.25]):
        sheet.append(row)
    workbook.save(tmp_path / "effects.xlsx")
    path = _model(
        tmp_path,
        """
        effect of ratio( GET XLS LOOKUPS('effects.xlsx', 'effects', '1', 'B2')) ~ ~ |
        ratio = (Time - 2000) / 2 ~ ~ |
        effect = effect of ratio(ratio) ~ ~ |
        """,
    )
    model = ns.load(path)
    assert model["effect of ratio"].equation == Table(x=(0.0, 1.0, 2.0), y=(0.5, 1.0, 1.25))
    run = ns.simulate(model).to_pandas()
    np.testing.assert_allclose(run["effect"], [0.5, 0.75, 1.0, 1.125, 1.25, 1.25])


def test_missing_data_file_names_the_variable_and_line(tmp_path: Path) -> None:
    path = _model(tmp_path, "x := GET DIRECT DATA('nowhere.csv', ',', 'A', 'B2') ~ ~ |\n")
    with pytest.raises(ModelFileError, match=r"nowhere\.csv") as caught:
        ns.load(path)
    assert (caught.value.variable, caught.value.line) == ("x", 2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ("GET DIRECT CONSTANTS('http://example.com/x.csv', ',', 'A2')", UnsupportedError, "URL"),
        ("GET DIRECT CONSTANTS('?data', ',', 'A2')", UnsupportedError, "indirect"),
        ("GET DIRECT CONSTANTS('demand.csv', ',', '2B')", ModelSyntaxError, "expected a cell"),
        ("GET DIRECT CONSTANTS('demand.csv', ',', 'A1')", ModelSyntaxError, "expected a number in cell A1"),
        ("GET DIRECT CONSTANTS('demand.pdf', ',', 'A1')", UnsupportedError, "spreadsheet"),
    ],
)
def test_bad_references_are_refused_at_load(tmp_path: Path, call: str, error: type, message: str) -> None:
    shutil.copy(DATA / "demand.csv", tmp_path)
    path = _model(tmp_path, f"x = {call} ~ ~ |\n")
    with pytest.raises(error, match=message) as caught:
        ns.load(path)
    assert caught.value.variable == "x"


def test_data_without_an_equation_is_refused(tmp_path: Path) -> None:
    path = _model(tmp_path, "observed :HOLD BACKWARD: ~ ~ |\n")
    with pytest.raises(UnsupportedError, match="data variables without an equation") as caught:
        ns.load(path)
    assert caught.value.variable == "observed"


def test_raw_data_holds_values_at_their_times_only(tmp_path: Path) -> None:
    shutil.copy(DATA / "demand.csv", tmp_path)
    path = _model(tmp_path, "x :RAW: := GET DIRECT DATA('demand.csv', ',', 'A', 'B2') ~ ~ |\n")
    run = ns.simulate(ns.load(path)).to_pandas()
    na = -(2.0**109)  # Vensim's :NA:
    np.testing.assert_array_equal(run["x"], [10, 12, 16, na, 20, na])


def test_arrayed_constants_lookups_and_data(tmp_path: Path) -> None:
    (tmp_path / "grid.csv").write_text("t,1,2,3\na,10,20,30\nb,40,50,60\n")
    path = _model(
        tmp_path,
        """
        region: north, south ~ ~ |
        season: s1, s2, s3 ~ ~ |
        table[region, season] = GET DIRECT CONSTANTS('grid.csv', ',', 'B2') ~ ~ |
        column[region] = GET DIRECT CONSTANTS('grid.csv', ',', 'B2*') ~ ~ |
        curve[region]( GET DIRECT LOOKUPS('grid.csv', ',', '1', 'B2')) ~ ~ |
        series[region] := GET DIRECT DATA('grid.csv', ',', '1', 'B2') ~ ~ |
        read[region] = curve[region](2.5) ~ ~ |
        """,
        start=1,
        final=3,
    )
    run = ns.simulate(ns.load(path)).to_pandas()
    assert run.loc[1, ["table[north,s1]", "table[north,s3]", "table[south,s2]"]].tolist() == [10, 30, 50]
    # A star reads down a column instead of across a row.
    assert run.loc[1, ["column[north]", "column[south]"]].tolist() == [10, 40]
    assert run.loc[1, ["read[north]", "read[south]"]].tolist() == [25, 55]
    np.testing.assert_allclose(run["series[south]"], [40, 50, 60])


def test_subscript_ranges_read_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "ranges.csv").write_text("site,1,2,3\nsize,10,20,30\n")
    path = _model(
        tmp_path,
        """
        site: GET DIRECT SUBSCRIPT('ranges.csv', ',', 'B1', 'D1', 'Site') ~ ~ |
        size[site] = GET DIRECT CONSTANTS('ranges.csv', ',', 'B2') ~ ~ |
        """,
    )
    model = ns.load(path)
    assert model.dimension("site").elements == ("Site1", "Site2", "Site3")
    run = ns.simulate(model).to_pandas()
    assert run.loc[2000, ["size[Site1]", "size[Site3]"]].tolist() == [10, 30]


def test_data_given_at_load_for_data_variables_without_equations(tmp_path: Path) -> None:
    import pandas as pd

    path = _model(
        tmp_path,
        """
        observed :HOLD BACKWARD: ~ ~ |
        expected := ~ ~ |
        gap = observed - expected ~ ~ |
        """,
    )
    given = {
        "Observed": pd.Series([1.0, 3.0, 7.0], index=[2000.0, 2002.0, 2004.0]),
        "expected": ([2000, 2005], [0, 10]),
    }
    run = ns.simulate(ns.load(path, data=given)).to_pandas()
    np.testing.assert_allclose(run["observed"], [1, 1, 3, 3, 7, 7])
    np.testing.assert_allclose(run["expected"], [0, 2, 4, 6, 8, 10])
    # A CSV with times across, as Vensim exports data, gives the same run.
    (tmp_path / "data.csv").write_text("Time,2000,2002,2004,2005\nobserved,1,3,7,\nexpected,0,4,8,10\n")
    again = ns.simulate(ns.load(path, data=tmp_path / "data.csv")).to_pandas()
    np.testing.assert_allclose(again[["observed", "expected", "gap"]], run[["observed", "expected", "gap"]])
    # And with times down a Time column.
    (tmp_path / "down.csv").write_text("Time,observed,expected\n2000,1,0\n2002,3,4\n2004,7,8\n2005,,10\n")
    down = ns.simulate(ns.load(path, data=str(tmp_path / "down.csv"))).to_pandas()
    np.testing.assert_allclose(down[["observed", "expected", "gap"]], run[["observed", "expected", "gap"]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"observed": ([0], [1]), "nobody": ([0], [1])}, "no such variable"),
        ({"observed": ([0], [1]), "x": ([0], [1])}, "own equation"),
        ({"observed": ([0, 1], [1])}, "as many times as values"),
        ("nowhere.csv", "cannot read"),
    ],
)
def test_bad_data_is_a_parameter_error(tmp_path: Path, data: object, message: str) -> None:
    path = _model(tmp_path, "observed := ~ ~ |\nx = 1 ~ ~ |\n")
    with pytest.raises(ParameterError, match=message):
        ns.load(path, data=data)
