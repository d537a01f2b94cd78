"""`save`: Vensim .mdl out of the IR, read back by `load` into the same runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import MODELS, TEST_MODELS
from nestedsystems.expressions import Binary, Number, Op, Ref, Table, Unary, UnaryOp
from nestedsystems.mdl_writer import NotWritableError, to_mdl
from nestedsystems.model import Kind, Model, Range, Variable
from nestedsystems.vensim_text import SKETCH_MARK

# Macros are expanded at load: a saved model holds the variables each call made, now
# the file's own, so its runs report them too. Folders whose runs gain columns so.
EXPANDED_MACROS = {"macro_expression", "macro_multi_expression", "macro_stock", "macro_trailing_definition"}

# Models with nothing to write: they do not load, for reasons of
# their own (tests/test_conformance.py says more).
NOT_LOADED = {
    "get_constants": "the .xls data file it names is not in the suite",
    "get_data": "the .xls data file it names is not in the suite",
}


def _model_files() -> list:
    files = [*sorted(MODELS.glob("*.mdl")), *sorted(MODELS.glob("*/*.mdl"))]
    files += sorted([*TEST_MODELS.glob("tests/*/*.mdl"), *TEST_MODELS.glob("samples/*/*.mdl")])
    cases = []
    for path in files:
        if path.parent.name in NOT_LOADED:
            continue  # nothing to write: test_models_with_nothing_to_write_fail_clearly_at_load
        cases.append(pytest.param(path, id=f"{path.parent.name}/{path.name}"))
    return cases


# The python kernel spends seconds a step in ALLOCATE: a few steps show as well
# that the equations read back the same. Folder -> FINAL TIME used.
SHORTER: dict[str, float] = {"allocate_available": 8.0, "allocate_by_priority": 2.0}


@pytest.mark.parametrize("folder", sorted(NOT_LOADED))
def test_models_with_nothing_to_write_fail_clearly_at_load(folder: str) -> None:
    # If one of them starts loading, it belongs in the round trip above.
    (path,) = TEST_MODELS.glob(f"tests/{folder}/*.mdl")
    with pytest.raises(ns.ModelError, match=r"\.xls"):
        ns.load(path)


def _run(model: Model, final_time: float | None = None) -> ns.Run:
    params = None if final_time is None else {"FINAL TIME": final_time}
    return ns.simulate(ns.compile_model(model, native=False), params=params)


@pytest.mark.parametrize("path", _model_files())
def test_round_trip_runs_the_same(path: Path, tmp_path: Path) -> None:
    model = ns.load(path)
    before = _run(model, SHORTER.get(path.parent.name))
    # Without its source the writer lays out a sketch of its own: the harder case.
    written = ns.save(model.replace(source=None), tmp_path / "x.mdl")
    after = _run(ns.load(written), SHORTER.get(path.parent.name))
    if path.parent.name in EXPANDED_MACROS:
        assert set(after.names) > set(before.names)
        columns = [after.names.index(name) for name in before.names]
        np.testing.assert_allclose(after.values[..., columns], before.values, rtol=1e-12, atol=0)
    else:
        assert after.names == before.names
        np.testing.assert_allclose(after.values, before.values, rtol=1e-12, atol=0)
    # ... and with it, the file's own sketch comes back verbatim.
    again = ns.save(model, tmp_path / "y.mdl").read_text(encoding="utf-8")
    original = path.read_text(encoding="utf-8", errors="replace")
    if SKETCH_MARK in original:
        assert again.split(SKETCH_MARK, 1)[1] == original.split(SKETCH_MARK, 1)[1]


# -- equations, by hand


def _model(*variables: Variable, **fields: object) -> Model:
    control = (
        Variable("INITIAL TIME", Kind.CONSTANT, Number(0.0)),
        Variable("FINAL TIME", Kind.CONSTANT, Number(4.0)),
        Variable("TIME STEP", Kind.CONSTANT, Number(1.0)),
        Variable("SAVEPER", Kind.AUXILIARY, Ref("time step")),
    )
    return Model(variables=(*variables, *control), **fields)  # type: ignore[arg-type]


def _equation(text: str, name: str) -> str:
    return text.split(f"{name}=", 1)[1].split("~", 1)[0].strip()


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (Binary(Op.SUB, Ref("a"), Binary(Op.SUB, Ref("b"), Ref("c"))), "a - (b - c)"),
        (Binary(Op.SUB, Binary(Op.SUB, Ref("a"), Ref("b")), Ref("c")), "a - b - c"),
        (Binary(Op.MUL, Binary(Op.ADD, Ref("a"), Ref("b")), Ref("c")), "(a + b)*c"),
        (Binary(Op.DIV, Ref("a"), Binary(Op.MUL, Ref("b"), Ref("c"))), "a/(b*c)"),
        (Binary(Op.POW, Binary(Op.POW, Ref("a"), Ref("b")), Ref("c")), "(a^b)^c"),
        (Unary(UnaryOp.NEG, Binary(Op.POW, Ref("a"), Number(2.0))), "-(a^2)"),
        (Binary(Op.MUL, Ref("a"), Number(-2.0)), "a*(-2)"),
        (Binary(Op.AND, Binary(Op.OR, Ref("a"), Ref("b")), Ref("c")), "(a :OR: b) :AND: c"),
    ],
)
def test_precedence_is_kept_by_parentheses(tree: Binary, expected: str) -> None:
    consts = [Variable(n, Kind.CONSTANT, Number(2.0)) for n in "abc"]
    text = to_mdl(_model(*consts, Variable("y", Kind.AUXILIARY, tree)))
    assert _equation(text, "y") == expected


def test_names_are_quoted_and_fields_cannot_be_escaped(tmp_path: Path) -> None:
    """A name or documentation carrying Vensim's separators must not start a new
    equation when the file is read back."""
    evil = 'x" = 1 ~~| injected'
    model = _model(
        Variable(
            evil, Kind.CONSTANT, Number(3.0), documentation="ends here | injected = 2 ~ ~", units="a~b|c"
        ),
        Variable("Rate (per week)", Kind.AUXILIARY, Binary(Op.MUL, Ref(evil.lower()), Number(2.0))),
    )
    back = ns.load(ns.save(model, tmp_path / "evil.mdl"))
    assert "injected" not in back
    quoted = '"x\\" = 1 ~~| injected"'  # the loader keeps a quoted name as the file spells it
    assert [v.name for v in back.variables][:2] == [quoted, '"Rate (per week)"']
    assert back[quoted].equation == Number(3.0)
    assert "injected" in back[quoted].documentation
    assert _run(back)["Rate (per week)"][-1] == 6.0


def test_ranges_units_and_lookups_come_back(tmp_path: Path) -> None:
    table = Table(x=(0.0, 1.0, 2.0), y=(0.0, 0.5, 2.0))
    model = _model(
        Variable("k", Kind.CONSTANT, Number(0.5), units="1/Week", range=Range(0.0, 1.0, 0.05)),
        Variable("effect table", Kind.LOOKUP, table),
        Variable("effect", Kind.AUXILIARY, ns.expressions.LookupCall(Ref("effect table"), Ref("k"))),
    )
    back = ns.load(ns.save(model, tmp_path / "t.mdl"))
    assert back["k"].units == "1/Week"
    assert back["k"].range == Range(0.0, 1.0, 0.05)
    assert back["effect table"].equation == table
    assert _run(back)["effect"][0] == 0.25


def test_stateful_calls_are_written_as_the_modeler_wrote_them(tmp_path: Path) -> None:
    source = tmp_path / "s.mdl"
    source.write_text(
        "{UTF-8}\nInput= STEP(1, 1) ~~|\nOutput= SMOOTH3(Input, 2) ~~|\n"
        "Late= DELAY FIXED(Input, 2, 0) ~~|\nFirst= INITIAL(Output + 1) ~~|\n"
        "Sampled= SAMPLE IF TRUE(Time > 2, Input, -1) ~~|\nA= ACTIVE INITIAL(Input*2, 7) ~~|\n"
        "INITIAL TIME= 0 ~~|\nFINAL TIME= 6 ~~|\nTIME STEP= 0.5 ~~|\nSAVEPER= TIME STEP ~~|\n",
        encoding="utf-8",
    )
    model = ns.load(source)
    text = to_mdl(model.replace(source=None))
    assert "SMOOTH3I(Input, 2, Input)" in text
    assert "DELAY FIXED(Input, 2, 0)" in text
    assert "INITIAL(Output + 1)" in text
    assert "SAMPLE IF TRUE(Time > 2, Input, -1)" in text
    assert "ACTIVE INITIAL(Input*2, 7)" in text
    assert " of " not in text  # no variable lowering made is written
    again = ns.load(ns.save(model.replace(source=None), tmp_path / "again.mdl"))
    np.testing.assert_array_equal(_run(again).values, _run(model).values)


def test_an_edit_after_loading_is_written_not_the_stale_call(tmp_path: Path) -> None:
    source = tmp_path / "s.mdl"
    source.write_text(
        "{UTF-8}\nOutput= SMOOTH(3, 2) ~~|\nINITIAL TIME= 0 ~~|\nFINAL TIME= 2 ~~|\n"
        "TIME STEP= 1 ~~|\nSAVEPER= 1 ~~|\n",
        encoding="utf-8",
    )
    model = ns.load(source)
    edited = model.with_variables(Variable("Output", Kind.AUXILIARY, Number(5.0)))
    text = to_mdl(edited)
    assert "SMOOTH" not in text.split(SKETCH_MARK)[0]
    assert _equation(text, "Output") == "5"


def test_a_macro_call_is_written_expanded(tmp_path: Path) -> None:
    model = ns.load(TEST_MODELS / "tests" / "macro_stock" / "test_macro_stock.mdl")
    text = to_mdl(model.replace(source=None))
    assert ":MACRO:" not in text
    assert _equation(text, "macro output") == "EXPRESSION MACRO of macro output"
    assert "EXPRESSION MACRO of macro output= INTEG (\n\tmacro input,\n\t\tmacro parameter)" in text
    back = ns.load(ns.save(model, tmp_path / "expanded.mdl"))
    stock = back["EXPRESSION MACRO of macro output"]
    assert (stock.kind, stock.origin) == (Kind.STOCK, None)
    # Each step adds macro input (5) to the stock, which starts at macro parameter (1.1).
    np.testing.assert_allclose(_run(back)["macro output"], 1.1 + 5 * np.arange(11), rtol=1e-12)


def test_a_macro_inside_a_stateful_call_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "nested.mdl"
    path.write_text(
        "{UTF-8}\n:MACRO: DOUBLED(x)\nDOUBLED = 2 * SMOOTH(x, 2) ~ ~ |\n:END OF MACRO:\n"
        "input = STEP(1, 2) ~ ~ |\nout = SMOOTH3(DOUBLED(input) + 1, 3) ~ ~ |\n"
        "INITIAL TIME = 0 ~ ~ |\nFINAL TIME = 12 ~ ~ |\nTIME STEP = 0.25 ~ ~ |\nSAVEPER = 1 ~ ~ |\n"
    )
    model = ns.load(path)
    text = to_mdl(model.replace(source=None))
    # SMOOTH3(x, T) starts at x: the loader reads x twice, so the macro is called twice.
    assert _equation(text, "out") == 'SMOOTH3I(DOUBLED of out + 1, 3, "DOUBLED of out (2)" + 1)'
    assert _equation(text, "DOUBLED of out") == "2*SMOOTHI(input, 2, input)"
    back = ns.load(ns.save(model, tmp_path / "back.mdl"))
    np.testing.assert_allclose(_run(back)["out"], _run(model)["out"], rtol=1e-12, atol=0)


# -- the sketch


def test_a_generated_sketch_draws_stocks_flows_and_one_view_per_group() -> None:
    model = ns.load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    model = model.replace(
        source=None,
        variables=tuple(
            v if v.key != "room temperature" else Variable(**{**_slots(v), "group": "Room"})
            for v in model.variables
        ),
    )
    sketch = to_mdl(model).split(SKETCH_MARK, 1)[1]
    lines = sketch.splitlines()
    assert lines[1].startswith("V300")
    assert [line for line in lines if line.startswith("*")] == ["*View 1", "*Room"]
    assert any(
        line.startswith("10,") and ",Teacup Temperature," in line and ",3,3," in line for line in lines
    )
    valve = next(line for line in lines if line.startswith("11,"))
    pipes = [line.split(",") for line in lines if line.startswith("1,") and ",22," in line]
    assert {p[2] for p in pipes} == {valve.split(",")[1]}  # both pipes leave the one valve
    assert sum(line.startswith("12,") for line in lines) == 1  # the heat goes to a cloud
    # the settings close the file, the model's Units Equivalents last
    declared = len(model.units_equivalents)
    assert sketch.rstrip().splitlines()[-8 - declared] == "///---\\\\\\"
    assert sketch.rstrip().splitlines()[len(lines) - declared :] == [
        "22:" + ",".join(group) for group in model.units_equivalents
    ]


def _slots(variable: Variable) -> dict:
    return {name: getattr(variable, name) for name in Variable.__slots__}


def test_a_sketch_naming_a_removed_variable_is_drawn_anew(tmp_path: Path) -> None:
    model = ns.load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    smaller = model.replace(variables=tuple(v for v in model.variables if v.key != "characteristic time"))
    smaller = smaller.with_variables(Variable("Characteristic Time 2", Kind.CONSTANT, Number(10.0)))
    text = to_mdl(smaller)
    assert "Characteristic Time," not in text.split(SKETCH_MARK, 1)[1]


def test_random_streams_trends_delays_and_lookup_modes_run_the_same(tmp_path: Path) -> None:
    """RANDOM calls lose the stream arguments the loader adds (and NOISE SEED stays
    where it was, so that the streams are numbered alike); calls with an initial value
    come back as their I forms."""
    source = tmp_path / "r.mdl"
    source.write_text(
        "{UTF-8}\nInput= STEP(1, 1) + RANDOM UNIFORM(0, 1, 3) ~~|\nT= TREND(Input, 2, 0) ~~|\n"
        "F= FORECAST(Input, 2, 3) ~~|\nD= DELAY N(Input, 2, 0, 3) ~~|\nS= SMOOTH N(Input, 2, 1, 2) ~~|\n"
        "P= NPV(Input, 0.1, 0, 1) ~~|\nQ= DELAY3(Input, 2) + DELAY1I(Input, 1, 5) ~~|\n"
        "L= LOOKUP EXTRAPOLATE(tab, Input) ~~|\ntab( [(0,0)-(1,1)],(0,0),(1,1)) ~~|\n"
        "Neg= -Input^2 + (-2)*3 - -1 ~~|\n"
        "INITIAL TIME= 0 ~~|\nFINAL TIME= 6 ~~|\nTIME STEP= 0.25 ~~|\nSAVEPER= TIME STEP ~~|\n",
        encoding="utf-8",
    )
    model = ns.load(source)
    text = to_mdl(model.replace(source=None))
    assert "RANDOM UNIFORM(0, 1, 3)" in text
    assert "DELAY3I(Input, 2, Input) + DELAY1I(Input, 1, 5)" in text
    assert "LOOKUP EXTRAPOLATE(tab, Input)" in text
    again = ns.load(ns.save(model.replace(source=None), tmp_path / "again.mdl"))
    before, after = _run(model), _run(again)
    assert after.names == before.names
    np.testing.assert_array_equal(after.values, before.values)


def test_documentation_cannot_hide_a_sketch_or_a_macro(tmp_path: Path) -> None:
    doc = "before \\\\\\---/// after :MACRO: m(x) :END OF MACRO:"
    model = _model(Variable("k", Kind.CONSTANT, Number(2.0), documentation=doc))
    back = ns.load(ns.save(model, tmp_path / "d.mdl"))
    assert back["k"].equation == Number(2.0)
    assert back["k"].documentation.startswith("before")
    evil = _model(Variable('"a \\\\\\---/// b"', Kind.CONSTANT, Number(2.0)))
    with pytest.raises(NotWritableError, match="sketch marker"):
        to_mdl(evil)


def test_a_non_negative_stock_is_refused_not_dropped() -> None:
    stock = Variable("S", Kind.STOCK, Number(-1.0), initial=Number(1.0), non_negative=True)
    with pytest.raises(NotWritableError, match="non-negative"):
        to_mdl(_model(stock))


def test_depreciation_is_written_as_the_modeler_called_it(tmp_path: Path) -> None:
    path = tmp_path / "depreciation.mdl"
    path.write_text(
        "{UTF-8}\nspending = IF THEN ELSE(Time = 2, 8, 3) ~ ~ |\n"
        "depreciation = DEPRECIATE STRAIGHTLINE(spending, 2, TIME STEP, 3) ~ ~ |\n"
        "INITIAL TIME = 0 ~ ~ |\nFINAL TIME = 5 ~ ~ |\nTIME STEP = 0.5 ~ ~ |\nSAVEPER = TIME STEP ~ ~ |\n"
    )
    model = ns.load(path)
    text = to_mdl(model.replace(source=None))
    assert _equation(text, "depreciation") == "DEPRECIATE STRAIGHTLINE(spending, 2, TIME STEP, 3)"
    back = ns.load(ns.save(model, tmp_path / "back.mdl"))
    np.testing.assert_array_equal(_run(back).values, _run(model).values)
