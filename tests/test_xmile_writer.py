"""`save` to XMILE: documents that read back through `load` into the same runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from conftest import MODELS, TEST_MODELS
from nestedsystems.expressions import Binary, Number, Op, Ref, canonical
from nestedsystems.mdl_writer import NotWritableError
from nestedsystems.model import CONTROL_VARIABLES, Kind, Model, Range, Variable
from nestedsystems.sketch import places
from nestedsystems.xmile_writer import XMILE_NAMESPACE, to_xmile, xmile_name

# Files with nothing to write: they do not load (tests/test_mdl_writer.py and
# tests/test_conformance.py say more).
NOT_LOADED = {
    "get_constants/test_get_constants.mdl": "the .xls data file it names is not in the suite",
    "get_data/test_get_data.mdl": "the .xls data file it names is not in the suite",
    **dict.fromkeys(
        [
            "macro_expression/test_macro_expression.xmile",
            "macro_multi_expression/test_macro_multi_expression.xmile",
            "macro_stock/test_macro_stock.xmile",
        ],
        "calls a macro, EXPRESSION MACRO(...), by a name with a space, which XMILE's grammar cannot read",
    ),
    **dict.fromkeys(
        [
            "subscript_1d_arrays/test_subscript_1d_arrays.xmile",
            "subscript_constant_call/test_subscript_constant_call.xmile",
            "subscript_multiples/test_multiple_subscripts.xmile",
            "subscript_subranges/test_subscript_subrange.xmile",
            "subscript_subranges_equal/test_subscript_subrange_equal.xmile",
            "subscript_updimensioning/test_subscript_updimensioning.xmile",
            "subscripted_flows/test_subscripted_flows.xmile",
        ],
        "the exporter left its arrayed equations as ???",
    ),
}

# Models that load but use what XMILE, or PySD's XMILE reader, cannot carry: the writer
# refuses them, naming the construct (the pattern) and the variable.
_ARRAYED_LOOKUP = "arrayed lookup: PySD's XMILE reader reads one table per graphical function"
_STOCK_IN_PARTS = "a stock defined element by element"  # PySD reads one initial value per stock
_MAPPING = r"maps onto another \(->\)"
REFUSED = {
    "active_initial/test_active_initial.mdl": "ACTIVE INITIAL: an XMILE auxiliary has one equation",
    "allocate_available/test_allocate_available.mdl": "ALLOCATE AVAILABLE: Vensim has it, XMILE does not",
    "allocate_by_priority/test_allocate_by_priority.mdl": "ALLOCATE BY PRIORITY: Vensim has it",
    "except/test_except.mdl": _STOCK_IN_PARTS,
    "get_lookups_data_3d_xls/test_get_lookups_data_3d_xls.mdl": _ARRAYED_LOOKUP,
    "get_lookups_subscripted_args/test_get_lookups_subscripted_args.mdl": _ARRAYED_LOOKUP,
    "get_with_missing_values_xlsx/test_get_with_missing_values_xlsx.mdl": "a lookup read forward",
    "invert_matrix/test_invert_matrix.mdl": "INVERT MATRIX: Vensim has it",
    "partial_range_definitions/test_partial_range_definitions.mdl": _ARRAYED_LOOKUP,
    "special_characters/test_special_variable_names.mdl": r"holds a line break, \\n",
    "subscript_aggregation/test_subscript_aggregation.mdl": r"VMAX: XMILE says it with a wildcard, x\[\*\]",
    "subscript_individually_defined_stocks/test_subscript_individually_defined_stocks.mdl": _STOCK_IN_PARTS,
    "subscript_mapping_simple/test_subscript_mapping_simple.mdl": _MAPPING,
    "subscript_mapping_vensim/test_subscript_mapping_vensim.mdl": _MAPPING,
    "subscript_transposition/test_subscript_transposition.mdl": r"SUM: XMILE says it with a wildcard",
    "subscripted_lookups/test_subscripted_lookups.mdl": _ARRAYED_LOOKUP,
    "subscripted_trig/test_subscripted_trig.mdl": "COSH: XMILE has no hyperbolic functions",
    "subscripted_trig/test_subscripted_trig.xmile": "COSH: XMILE has no hyperbolic functions",
    "vector_order/test_vector_order.mdl": _MAPPING,
}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _files() -> list[Path]:
    files = [*sorted(MODELS.glob("*.mdl")), *sorted(MODELS.glob("*/*.mdl"))]
    files += sorted([*TEST_MODELS.glob("tests/*/*.mdl"), *TEST_MODELS.glob("tests/*/*.xmile")])
    files += sorted([*TEST_MODELS.glob("samples/*/*.mdl"), *TEST_MODELS.glob("samples/*/*.xmile")])
    return files + sorted(TEST_MODELS.glob("samples/*/*.stmx"))


def _run(model: Model) -> ns.Run:
    return ns.simulate(ns.compile_model(model, native=False), on_nonfinite="ignore")


def _assert_same_runs(before: ns.Run, after: ns.Run, made: set[str]) -> None:
    """The same values for every variable at every time `before` saved. The written
    file saves every TIME STEP (XMILE has no SAVEPER), so SAVEPER reads TIME STEP
    there; names are compared as the formats share them (Vensim's quotes aside)."""
    columns = {canonical(n): i for i, n in enumerate(after.names)}
    kept = [i for i, n in enumerate(before.names) if canonical(n) != "saveper"]
    added = set(columns) - {canonical(n) for n in before.names}
    assert {name.split("[")[0] for name in added} <= made
    rows = np.searchsorted(after.times, before.times - 1e-9)
    np.testing.assert_allclose(after.times[rows], before.times, rtol=0, atol=1e-9)
    picked = after.values[:, rows][..., [columns[canonical(before.names[i])] for i in kept]]
    np.testing.assert_allclose(picked, before.values[..., kept], rtol=1e-12, atol=0)


def _cases(ids: dict[str, str] | None = None) -> list:
    return [
        pytest.param(path, id=_id(path))
        for path in _files()
        if _id(path) not in NOT_LOADED and (_id(path) in REFUSED) == (ids is REFUSED)
    ]


@pytest.mark.parametrize("path", _cases())
def test_round_trip_through_xmile_runs_the_same(path: Path, tmp_path: Path) -> None:
    model = ns.load(path)
    written = ns.save(model.replace(source=None), tmp_path / "x.xmile")
    back = ns.load(written)
    # Variables the written file adds: a net flow XMILE cannot list as flows, and
    # the variables a macro call made (written expanded, as in a .mdl).
    made = {v.key for v in back.variables if v.key.endswith("net flow") and v.key not in model}
    made |= {v.key for v in model.variables if v.origin is not None}
    _assert_same_runs(_run(model), _run(back), made)


@pytest.mark.parametrize("path", _cases(REFUSED))
def test_what_xmile_cannot_carry_is_refused_by_name(path: Path) -> None:
    model = ns.load(path)
    with pytest.raises(NotWritableError, match=REFUSED[_id(path)]) as refusal:
        to_xmile(model)
    assert "cannot write it as XMILE" in str(refusal.value)


@pytest.mark.parametrize("name", sorted(NOT_LOADED))
def test_files_with_nothing_to_write_fail_clearly_at_load(name: str) -> None:
    # If one of them starts loading, it belongs in the round trip above.
    with pytest.raises(ns.ModelError, match=r"\.xls|cannot parse"):
        ns.load(TEST_MODELS / "tests" / name)


_XMILE_MODELS = [
    pytest.param(p, id=_id(p))
    for p in _files()
    if p.suffix != ".mdl" and _id(p) not in NOT_LOADED and _id(p) not in REFUSED
]


@pytest.mark.parametrize("path", _XMILE_MODELS)
def test_xmile_models_save_as_vensim_unless_a_stock_is_non_negative(path: Path, tmp_path: Path) -> None:
    model = ns.load(path)
    if any(v.non_negative for v in model.variables):
        with pytest.raises(NotWritableError, match=r"non-negative stock .*save it as \.xmile instead"):
            ns.save(model, tmp_path / "x.mdl")
        return
    back = ns.load(ns.save(model, tmp_path / "x.mdl"))
    _assert_same_runs(_run(model), _run(back), set())


# -- the document


def _flagship() -> Model:
    return ns.load(MODELS / "nested_systems.mdl")


def test_the_document_is_xmile_1_0_and_its_view_draws_every_stock_and_flow() -> None:
    model = _flagship()
    root = ET.fromstring(to_xmile(model))
    space = {"x": XMILE_NAMESPACE}
    assert root.tag == f"{{{XMILE_NAMESPACE}}}xmile" and root.get("version") == "1.0"
    assert root.find("x:sim_specs/x:dt", space).text == "0.125"
    assert root.find("x:sim_specs", space).get("time_units") == "Month"
    stocks = {s.get("name") for s in root.findall("x:model/x:variables/x:stock", space)}
    assert stocks == {xmile_name(v.name) for v in model.stocks if v.origin is None}
    flows = {f.get("name") for f in root.findall("x:model/x:variables/x:flow", space)}
    for stock in root.findall("x:model/x:variables/x:stock", space):
        listed = {
            canonical(f.text) for f in stock.findall("x:inflow", space) + stock.findall("x:outflow", space)
        }
        assert listed and listed <= {canonical(f) for f in flows}
    drawn = {
        kind: {n.get("name") for n in root.findall(f"x:model/x:views/x:view/x:{kind}", space)}
        for kind in ("stock", "flow")
    }
    assert drawn == {"stock": stocks, "flow": flows}
    views = {view for view, _, _ in places(model).values()}
    assert len(views) > 1  # one per sector
    assert {v.get("name") for v in root.findall("x:model/x:views/x:view", space)} == views
    assert root.findall("x:model/x:views/x:view/x:connector", space)


_SOURCE = """{UTF-8}
Input= STEP(1, 1) + PULSE(2, 1.5) + PULSE(4, 0) ~~|
Smoothed= SMOOTH3(Input, 2) + SMOOTH N(Input, 2, 1, 2) ~~|
Late= DELAY FIXED(Input, 2, 0) + DELAY N(Input, 2, 0, 3) + DELAY1I(Input, 1, 5) ~~|
First= INITIAL(Smoothed + 1) ~~|
Trended= TREND(Input, 2, 0) + FORECAST(Input, 2, 3) ~~|
Algebra= XIDZ(Input, Late, 7) + ZIDZ(1, Input) + QUANTUM(Time, 0.75) + MODULO(Time, 1.5)
  + LOG(Time + 1, 3) + POWER(2, Input) + -Input^2 + (-2)*3 - -1 ~~|
Logic= IF THEN ELSE((a :OR: b) :AND: c, 1, 0) + IF THEN ELSE(:NOT: c, 2, 0)
  + IF THEN ELSE(:NOT: (a = c), 4, 0) ~~|
a= 1 ~~|
b= 1 ~~|
c= 0 ~~|
"nothing <&> special"= 2 ~ Widgets [0, 5] ~ Names & units <escaped>. |
Ramp= RAMP("nothing <&> special", 1, 3) ~~|
INITIAL TIME= 0 ~~|
FINAL TIME= 6 ~~|
TIME STEP= 0.25 ~~|
SAVEPER= TIME STEP ~~|
"""


def test_stateful_and_vensim_calls_in_xmile_spelling_run_the_same(tmp_path: Path) -> None:
    source = tmp_path / "s.mdl"
    source.write_text(_SOURCE, encoding="utf-8")
    model = ns.load(source)
    text = to_xmile(model)
    for spelled in (
        "SMTH3(Input, 2, Input)",
        "SMTHN(Input, 2, 2, 1)",
        "DELAY(Input, 2, 0)",
        "DELAYN(Input, 2, 3, 0)",
        "DELAY1(Input, 1, 5)",
        "INIT(Smoothed + 1)",
        "TREND(Input, 2, 0)",
        "FORCST(Input, 2, 3, 0)",
        "SAFEDIV(Input, Late, 7)",
        "SAFEDIV(1, Input)",
        "TIME mod 1.5",
        "LN(TIME + 1)/LN(3)",
        "IF (a OR b) AND c THEN 1 ELSE 0",
        "IF NOT c THEN 2 ELSE 0",
        "IF NOT (a = c) THEN 4 ELSE 0",
        '"nothing &lt;&amp;&gt; special"',
        "<doc>Names &amp; units &lt;escaped&gt;.</doc>",
        # PULSE reads TIME STEP (PySD's name), which the document defines as XMILE's DT
        '<aux name="TIME STEP">\n        <eqn>DT</eqn>',
    ):
        assert spelled in text, spelled
    back = ns.load(ns.save(model, tmp_path / "s.xmile"))
    assert back["nothing <&> special"].units == "Widgets"
    assert back["nothing <&> special"].range == Range(0.0, 5.0)
    _assert_same_runs(_run(model), _run(back), set())
    # (1 OR 1) AND 0 is 0, where 1 OR (1 AND 0) would be 1; NOT 0 adds 2, NOT (1 = 0) 4.
    assert _run(back)["Logic"][0] == 6.0


def test_xmiles_own_pulse_is_written_back_as_pulse(tmp_path: Path) -> None:
    source = tmp_path / "p.xmile"
    source.write_text(
        f'<xmile version="1.0" xmlns="{XMILE_NAMESPACE}"><header><name>p</name></header>'
        "<sim_specs><start>0</start><stop>10</stop><dt>0.25</dt></sim_specs><model><variables>"
        '<aux name="once"><eqn>PULSE(4, 2)</eqn></aux><aux name="train"><eqn>PULSE(3, 1, 2.5) + 1</eqn></aux>'
        "</variables></model></xmile>",
        encoding="utf-8",
    )
    model = ns.load(source)
    text = to_xmile(model)
    assert "<eqn>PULSE(4, 2)</eqn>" in text and "<eqn>PULSE(3, 1, 2.5) + 1</eqn>" in text
    back = ns.load(ns.save(model, tmp_path / "back.xmile"))
    assert [back[n].equation for n in ("once", "train")] == [model[n].equation for n in ("once", "train")]
    assert sum(_run(back)["once"]) * 0.25 == 4.0  # a volume of 4 in one step


@pytest.mark.parametrize(
    "path",
    [
        TEST_MODELS / "samples" / "teacup" / "teacup.mdl",
        TEST_MODELS / "samples" / "SIR" / "SIR.mdl",
        TEST_MODELS / "tests" / "if_stmt" / "if_stmt.mdl",
        MODELS / "teaching" / "two_stock_parallel_process.mdl",  # PULSE, SMOOTH, ZIDZ, DT
        MODELS / "teaching" / "fixes_that_fail.mdl",
    ],
    ids=lambda p: p.stem,
)
def test_an_independent_xmile_engine_runs_the_written_file_the_same(path: Path, tmp_path: Path) -> None:
    """pysimlin reads XMILE with its own parser and runs it with its own engine: the
    file is XMILE, not just what PySD's reader accepts. (pysimlin 0.8 stops at a
    standalone graphical function, XMILE's named lookup, and at SMTHN: the models
    here have neither.)"""
    import simlin  # a test dependency, as the benchmarks' peer

    written = ns.save(ns.load(path).replace(source=None), tmp_path / "x.xmile")
    ours = _run(ns.load(written))
    sim = simlin.load(str(written)).simulate()
    sim.run_to_end()
    spelled = {n.lower(): n for n in sim.get_var_names()}
    variables = [n for n in ours.names if canonical(n) not in CONTROL_VARIABLES]
    for name in variables:
        series = sim.get_series(spelled["_".join(xmile_name(name).lower().split())])
        np.testing.assert_allclose(series, ours[name].reshape(-1), rtol=1e-12, err_msg=name)
    assert variables


def test_a_non_negative_stock_stays_non_negative(tmp_path: Path) -> None:
    model = ns.load(TEST_MODELS / "tests" / "non_negative_stocks" / "test_non_negative_stocks.xmile")
    text = to_xmile(model)
    assert text.count("<non_negative />") == sum(v.non_negative for v in model.variables) > 0
    back = ns.load(ns.save(model, tmp_path / "n.stmx"))
    assert {v.key for v in back.variables if v.non_negative} == {
        v.key for v in model.variables if v.non_negative
    }
    assert min(_run(back)["TestStock1"]) == 0.0


def test_a_net_flow_that_is_not_a_sum_of_flows_becomes_a_flow_of_its_own(tmp_path: Path) -> None:
    control = [
        Variable("INITIAL TIME", Kind.CONSTANT, Number(0.0)),
        Variable("FINAL TIME", Kind.CONSTANT, Number(3.0)),
        Variable("TIME STEP", Kind.CONSTANT, Number(1.0)),
        Variable("SAVEPER", Kind.AUXILIARY, Ref("time step")),
    ]
    stock = Variable("Cash", Kind.STOCK, Binary(Op.MUL, Ref("cash"), Number(0.5)), initial=Number(2.0))
    model = Model(variables=(stock, *control))
    back = ns.load(ns.save(model, tmp_path / "c.xmile"))
    assert back["Cash net flow"].equation == Binary(Op.MUL, Ref("cash"), Number(0.5))
    np.testing.assert_allclose(_run(back)["Cash"], [2.0, 3.0, 4.5, 6.75], rtol=1e-12)


def test_a_reference_to_saveper_other_than_time_step_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "s.mdl"
    source.write_text(
        "{UTF-8}\nsaved= SAVEPER * 2 ~~|\nINITIAL TIME= 0 ~~|\nFINAL TIME= 2 ~~|\n"
        "TIME STEP= 0.5 ~~|\nSAVEPER= 1 ~~|\n",
        encoding="utf-8",
    )
    with pytest.raises(NotWritableError, match=r"variable 'saved': .*reads SAVEPER, which XMILE has not"):
        to_xmile(ns.load(source))
    same = source.read_text(encoding="utf-8").replace("SAVEPER= 1", "SAVEPER= TIME STEP")
    source.write_text(same, encoding="utf-8")
    assert "<eqn>TIME_STEP*2</eqn>" in to_xmile(ns.load(source))


def test_a_refusal_names_the_variable_and_the_construct() -> None:
    model = ns.load(TEST_MODELS / "tests" / "subscript_aggregation" / "test_subscript_aggregation.mdl")
    with pytest.raises(NotWritableError) as refusal:
        to_xmile(model)
    assert refusal.value.variable == "Complex Max"
    assert str(refusal.value).startswith(str(model.source))


def test_save_picks_the_format_by_suffix(tmp_path: Path) -> None:
    model = ns.load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    assert ns.save(model, tmp_path / "t.stmx").read_text(encoding="utf-8").startswith("<?xml")
    assert "INTEG" in ns.save(model, tmp_path / "t.mdl").read_text(encoding="utf-8")
    with pytest.raises(NotWritableError, match=r"ending in \.mdl, \.xmile, \.stmx or \.xml, found '\.txt'"):
        ns.save(model, tmp_path / "t.txt")
    assert not (tmp_path / "t.txt").exists()
