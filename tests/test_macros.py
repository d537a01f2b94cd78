"""Macros expand at load into ordinary variables, one copy per call site."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.errors import ModelSyntaxError, UnsupportedError

CONTROL = """
INITIAL TIME = 0 ~ Month ~ |
FINAL TIME = 4 ~ Month ~ |
TIME STEP = 1 ~ Month ~ |
SAVEPER = TIME STEP ~ Month ~ |
"""


def _write(tmp_path: Path, equations: str) -> Path:
    path = tmp_path / "model.mdl"
    path.write_text("{UTF-8}\n" + textwrap.dedent(equations) + CONTROL)
    return path


ACCUMULATE = """
:MACRO: ACCUMULATE(input, start)
ACCUMULATE = INTEG(input, start) ~ ~ |
:END OF MACRO:
"""


def test_each_call_site_has_its_own_stock(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ACCUMULATE
        + """
        a = ACCUMULATE(1, 0) ~ ~ |
        b = ACCUMULATE(2, 10) + ACCUMULATE(3, 0) ~ ~ |
        """,
    )
    model = ns.load(path)
    stocks = {v.name: v.origin for v in model.stocks}
    assert stocks == {
        "ACCUMULATE of a": "a",
        "ACCUMULATE of b": "b",
        "ACCUMULATE of b (2)": "b",
    }
    run = ns.simulate(model).to_pandas()
    t = run.index.to_numpy()
    np.testing.assert_allclose(run["a"], t)
    np.testing.assert_allclose(run["b"], 10 + 2 * t + 3 * t)
    # The machinery stays out of the reported columns, as for SMOOTH and DELAY.
    assert "ACCUMULATE of a" not in run.columns


def test_intermediate_variables_and_expression_arguments(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        :MACRO: SCALED(input, parameter)
        SCALED = input * intermediate ~ ~ |
        intermediate = parameter * 3 ~ ~ |
        :END OF MACRO:
        x = 2 ~ ~ |
        y = SCALED(x + 1, TIME) ~ ~ |
        """,
    )
    model = ns.load(path)
    assert model["intermediate in SCALED of y"].origin == "y"
    # An argument that is an expression is computed once, in a variable of its own.
    assert model["input in SCALED of y"].origin == "y"
    run = ns.simulate(model).to_pandas()
    np.testing.assert_allclose(run["y"], 3 * 3 * run.index.to_numpy())


def test_macros_calling_macros_and_stateful_functions_inside(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ACCUMULATE
        + """
        :MACRO: TWICE(input)
        TWICE = ACCUMULATE(input, 0) + SMOOTH(input, 1) ~ ~ |
        :END OF MACRO:
        z = TWICE(4) ~ ~ |
        """,
    )
    model = ns.load(path)
    run = ns.simulate(model).to_pandas()
    # ACCUMULATE(4, 0) = 4t and SMOOTH(4, 1) = 4 throughout.
    np.testing.assert_allclose(run["z"], 4 * run.index.to_numpy() + 4)
    assert all(v.origin == "z" for v in model.variables if v.key != "z" and "twice" in v.key)


def test_macro_definition_after_its_use(test_models: Path) -> None:
    model = ns.load(test_models / "tests/macro_trailing_definition/test_macro_trailing_definition.mdl")
    run = ns.simulate(model).to_pandas()
    np.testing.assert_allclose(run["macro output"], 5 * 1.1)
    assert model["EXPRESSION MACRO of macro output"].origin == "macro output"


def test_wrong_number_of_arguments_names_the_caller(tmp_path: Path) -> None:
    path = _write(tmp_path, ACCUMULATE + "a = ACCUMULATE(1) ~ ~ |\n")
    with pytest.raises(ModelSyntaxError, match="ACCUMULATE takes 2 arguments, found 1") as caught:
        ns.load(path)
    assert caught.value.variable == "a"
    assert caught.value.line == 6


def test_recursive_macro_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        :MACRO: FOREVER(input)
        FOREVER = FOREVER(input) ~ ~ |
        :END OF MACRO:
        a = FOREVER(1) ~ ~ |
        """,
    )
    with pytest.raises(UnsupportedError, match="FOREVER calls itself"):
        ns.load(path)


def test_a_macro_called_from_an_array_runs_element_by_element(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        :MACRO: DOUBLE(input)
        DOUBLE = 2 * input + elapsed ~ ~ |
        elapsed = INTEG(1, 0) ~ ~ |
        :END OF MACRO:
        region: north, south ~ ~ |
        base[region] = 1, 2 ~ ~ |
        twice[region] = DOUBLE(base[region]) ~ ~ |
        """,
    )
    model = ns.load(path)
    # The macro's stock is an array of stocks, one per region.
    assert model["elapsed in DOUBLE of twice"].dims == ("region",)
    run = ns.simulate(model).to_pandas()
    t = run.index.to_numpy()
    np.testing.assert_allclose(run["twice[north]"], 2 * 1 + t)
    np.testing.assert_allclose(run["twice[south]"], 2 * 2 + t)
