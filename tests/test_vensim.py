"""The Vensim/XMILE loader: what it makes of a file, and how it refuses bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from nestedsystems.errors import (
    AlgebraicLoopError,
    ModelError,
    ModelFileError,
    ModelSyntaxError,
    UndefinedVariableError,
    UnsupportedError,
)
from nestedsystems.expressions import (
    Binary,
    Call,
    If,
    LookupCall,
    LookupMode,
    Number,
    Op,
    Ref,
    Table,
    Unary,
    UnaryOp,
)
from nestedsystems.model import Kind, Range
from nestedsystems.vensim import load

TEST_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "test-models"

CONTROL = """\
INITIAL TIME = 0
\t~\tMonth
\t~\t|

FINAL TIME = 10
\t~\tMonth
\t~\t|

TIME STEP = 0.5
\t~\tMonth [0,?]
\t~\t|

SAVEPER = TIME STEP
\t~\tMonth
\t~\t|
"""


def entry(equation: str, units: str = "", documentation: str = "") -> str:
    return f"{equation}\n\t~\t{units}\n\t~\t{documentation}\n\t|\n\n"


def write(tmp_path: Path, *entries: str, sketch: str = "", name: str = "model.mdl") -> Path:
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + "".join(entries) + CONTROL + sketch, encoding="utf-8")
    return path


# ----------------------------------------------------------- what it makes


def test_teacup_variables_kinds_units_ranges_and_lines() -> None:
    model = load(TEST_MODELS / "samples" / "teacup" / "teacup.mdl")
    assert model.name == "teacup"
    assert model.time_units == "Minute"
    stock = model["Teacup Temperature"]
    assert stock.kind is Kind.STOCK
    assert stock.equation == Unary(UnaryOp.NEG, Ref("heat loss to room"))
    assert stock.initial == Number(180.0)
    assert stock.units == "Degrees Fahrenheit"
    assert stock.range == Range(32.0, 212.0, None)
    assert stock.line == 22
    assert stock.documentation.startswith("The model is only valid for the liquid phase of tea.")
    assert stock.group == "View 1"
    loss = model["Heat Loss to Room"]
    assert loss.kind is Kind.AUXILIARY
    assert loss.equation == Binary(
        Op.DIV,
        Binary(Op.SUB, Ref("teacup temperature"), Ref("room temperature")),
        Ref("characteristic time"),
    )
    assert model["Characteristic Time"].kind is Kind.CONSTANT
    assert model["Characteristic Time"].equation == Number(10.0)
    assert model["Room Temperature"].range == Range(-459.67, None, None)
    assert model["TIME STEP"].equation == Number(0.125)
    assert model["SAVEPER"].equation == Ref("time step")
    assert model["FINAL TIME"].line == 39


def test_range_step_unchangeable_constants_and_documentation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry("Policy == 3", "widgets [0,10,0.5]", "A lever."),
        entry("Gain = Policy * 2", "widgets"),
    )
    model = load(path)
    policy = model["Policy"]
    assert policy.kind is Kind.CONSTANT
    assert policy.range == Range(0.0, 10.0, 0.5)
    assert policy.units == "widgets"
    assert policy.documentation == "A lever."
    assert model["Gain"].kind is Kind.AUXILIARY


def test_operators_functions_and_conditionals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry("a = 2"),
        entry("b = IF THEN ELSE(a > 1 :AND: :NOT: a = 3, -a ^ 2, MAX(a, 1))"),
        entry("c = PULSE TRAIN(1, 2, 5, 9) + RAMP(1, 2, 4) + XIDZ(a, 0, 7)"),
    )
    model = load(path)
    b = model["b"].equation
    assert isinstance(b, If)
    assert b.condition == Binary(
        Op.AND,
        Binary(Op.GT, Ref("a"), Number(1.0)),
        Unary(UnaryOp.NOT, Binary(Op.EQ, Ref("a"), Number(3.0))),
    )
    assert b.otherwise == Call("max", (Ref("a"), Number(1.0)))
    c = model["c"].equation
    pulse_train = c.left.left
    # Vensim's argument order (start, width, interval, end), whatever PySD does inside.
    assert pulse_train == Call("pulse train", (Number(1.0), Number(2.0), Number(5.0), Number(9.0)))
    assert c.left.right == Call("ramp", (Number(1.0), Number(2.0), Number(4.0)))
    assert c.right == Call("xidz", (Ref("a"), Number(0.0), Number(7.0)))


def test_lookups_and_their_reading_modes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry("shape(\n\t[(0,0)-(2,4)],(2,4),(0,0),(1,1))"),
        entry("plain = shape(Time)"),
        entry("extrapolated = LOOKUP EXTRAPOLATE(shape, Time)"),
        entry("forward = LOOKUP FORWARD(shape, Time)"),
        entry("inline = WITH LOOKUP(Time, ([(0,0)-(1,1)],(0,0),(1,1)))"),
    )
    model = load(path)
    shape = model["shape"]
    assert shape.kind is Kind.LOOKUP
    assert shape.equation == Table((0.0, 1.0, 2.0), (0.0, 1.0, 4.0), LookupMode.INTERPOLATE)
    assert model["plain"].equation == LookupCall(Ref("shape"), Ref("time"))
    assert model["extrapolated"].equation == LookupCall(Ref("shape"), Ref("time"), LookupMode.EXTRAPOLATE)
    assert model["forward"].equation == LookupCall(Ref("shape"), Ref("time"), LookupMode.FORWARD)
    assert model["inline"].equation == LookupCall(Table((0.0, 1.0), (0.0, 1.0)), Ref("time"))


def test_special_characters_in_names() -> None:
    model = load(TEST_MODELS / "tests" / "special_characters" / "test_special_variable_names.mdl")
    stock = model['"Hyphenated-Stockname"']
    assert stock.name == '"Hyphenated-Stockname"'
    assert stock.kind is Kind.STOCK
    assert Ref("flow*with a few^arithmetic + characters") in (stock.equation.left, stock.equation.right)
    assert '"Aux with $peC!@| characters"' in model
    assert "import" in model


def test_fully_invalid_names() -> None:
    model = load(TEST_MODELS / "tests" / "fully_invalid_names" / "test_fully_invalid_names.mdl")
    assert model['"1995€/$"'].equation == Number(1.1)
    assert model['"€/$"'].line == 12


def test_xmile_model_loads_with_non_negative_stocks() -> None:
    model = load(TEST_MODELS / "tests" / "non_negative_stocks" / "test_non_negative_stocks.xmile")
    assert model["TestStock1"].kind is Kind.STOCK
    assert model["TestStock1"].non_negative is True
    assert model["TestStock2"].non_negative is False
    assert model["TestStock1"].line is not None


def test_groups_are_the_first_view_showing_a_variable(tmp_path: Path) -> None:
    sketch = (
        "\\\\\\---/// Sketch information - do not modify anything except names\n"
        "V300  Do not put anything below this section - it will be ignored\n"
        "*Workforce\n"
        "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0\n"
        "10,1,Staff,100,100,40,20,3,3,0,0,0,0,0,0\n"
        "10,2,Hiring,200,100,40,20,8,3,0,0,0,0,0,0\n"
        "*Clients\n"
        '10,1,"Client, waiting",100,100,40,20,3,3,0,0,0,0,0,0\n'
        "10,2,Staff,200,100,40,20,8,2,0,3,-1,0,0,0\n"
        "///---\\\\\\\n"
    )
    path = write(
        tmp_path,
        entry("Staff = INTEG(Hiring, 10)"),
        entry("Hiring = 1"),
        entry('"Client, waiting" = Staff'),
        entry("Unplaced = 1"),
        sketch=sketch,
    )
    model = load(path)
    assert model["Staff"].group == "Workforce"
    assert model["Hiring"].group == "Workforce"
    assert model['"Client, waiting"'].group == "Clients"
    assert model["Unplaced"].group == ""


def test_named_loops_come_from_documentation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry(
            "Stress = INTEG(Contagion, 1)",
            documentation='Loop R1 "Contagion": Stress -> Contagion. Stress spreads. '
            'Loop B1 "Relief": Stress -> Relief -> Stress. Relief calms.',
        ),
        entry("Contagion = Stress * 0.1 - Relief"),
        entry("Relief = Stress * 0.2"),
    )
    model = load(path)
    assert [loop.id for loop in model.loops] == ["B1", "R1"]
    relief = model.loops[0]
    assert relief.name == "Relief"
    assert relief.variables == ("Stress", "Relief")
    assert relief.description == "Relief calms."


def test_a_loop_naming_an_unknown_variable_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry("Stress = INTEG(1, 1)", documentation='Loop R7 "Ghost": Stress -> Phantom. Boo.'),
    )
    with pytest.raises(ModelError, match=r"R7.*'Phantom'"):
        load(path)


# ------------------------------------------------------------ refusals


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such file") as caught:
        load(tmp_path / "absent.mdl")
    assert caught.value.file == tmp_path / "absent.mdl"


def test_a_directory_or_a_wrong_extension(tmp_path: Path) -> None:
    (tmp_path / "folder.mdl").mkdir()
    with pytest.raises(ModelFileError, match="not a file"):
        load(tmp_path / "folder.mdl")
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    with pytest.raises(ModelFileError, match=r"\.mdl, \.xmile or \.stmx.*'\.csv'"):
        load(data)


@pytest.mark.parametrize(
    "content",
    [b"a,b,c\n1,2,3\n", b"", b"hello, this is not a model\n", bytes(range(256))],
    ids=["csv", "empty", "prose", "binary"],
)
def test_files_that_are_not_models(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mdl"
    path.write_bytes(content)
    with pytest.raises((ModelFileError, ModelSyntaxError)) as caught:
        load(path)
    assert caught.value.file == path


def test_random_text_with_separators_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.mdl"
    path.write_text("~~ | ~ lorem ( ipsum ~ |\n")
    with pytest.raises(ModelSyntaxError) as caught:
        load(path)
    assert str(path) in str(caught.value)


def test_a_syntax_error_names_line_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = 1"), entry("b = a +* 4"))
    with pytest.raises(ModelSyntaxError) as caught:
        load(path)
    assert caught.value.line == 7
    assert caught.value.variable == "b"


def test_xmile_that_is_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "broken.xmile"
    path.write_text("this is not xml at all")
    with pytest.raises(ModelError) as caught:
        load(path)
    assert caught.value.file == path


def test_unknown_function(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = 1"), entry("b = FROBNICATE(a)"))
    with pytest.raises(UnsupportedError, match="FROBNICATE") as caught:
        load(path)
    assert (caught.value.line, caught.value.variable) == (7, "b")


def test_wrong_number_of_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = MODULO(1)"))
    with pytest.raises(ModelSyntaxError, match="MODULO takes 2 arguments, found 1"):
        load(path)


def test_undefined_reference(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = 1"), entry("b = a + nobody"))
    with pytest.raises(UndefinedVariableError, match="'nobody'") as caught:
        load(path)
    assert (caught.value.line, caught.value.variable) == (7, "b")


def test_algebraic_loop(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = b + 1"), entry("b = a * 2"))
    with pytest.raises(AlgebraicLoopError, match="algebraic loop"):
        load(path)


def test_vensim_subscripts_load() -> None:
    model = load(TEST_MODELS / "tests" / "subscript_1d_arrays" / "test_subscript_1d_arrays.mdl")
    assert [d.name for d in model.dimensions] == ["One Dimensional Subscript"]
    assert model["Stock A"].dims == ("one dimensional subscript",)


def test_not_available_is_vensims_number(tmp_path: Path) -> None:
    model = load(write(tmp_path, entry("missing = :NA:"), entry("flag = IF THEN ELSE(missing = :NA:, 1, 0)")))
    assert model["missing"].equation == Number(-(2.0**109))


def test_stella_stmx_is_read_as_xmile(tmp_path: Path) -> None:
    source = TEST_MODELS / "tests" / "lookups" / "test_lookups.xmile"
    path = tmp_path / "copy.stmx"
    path.write_bytes(source.read_bytes())
    model = load(path)
    assert model.name == "copy"
    assert any(v.kind is Kind.LOOKUP for v in model.variables)


def test_a_lone_quote_in_documentation_does_not_confuse_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        entry("a = 1", "people [0,5]", 'Twelve-inch ("foot) rulers.'),
        entry('"b, quoted" = a', "people [0,9,1]"),
    )
    model = load(path)
    assert model["a"].documentation == 'Twelve-inch ("foot) rulers.'
    assert (model['"b, quoted"'].line, model['"b, quoted"'].range) == (7, Range(0.0, 9.0, 1.0))


def test_a_malformed_lookup_range_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a = 1"), entry("shape(\n\t[(0,0)-(1e,1)],(0,0),(1,1))"))
    with pytest.raises(ModelSyntaxError, match="expected numbers") as caught:
        load(path)
    assert (caught.value.line, caught.value.variable) == (8, "shape")


# -- XMILE arrays, macros and modules


def _vensim_columns(model_file: Path, output: str = "output.*") -> tuple[object, object]:
    """Our run and the reference output, at the times (nearest, as the output rounds
    them) and columns both have."""
    import numpy as np

    from nestedsystems import simulate
    from nestedsystems.expressions import canonical
    from vensim_output import read_vensim_output

    run = simulate(load(model_file)).to_pandas()
    (found,) = [p for p in model_file.parent.glob(output) if p.suffix in (".tab", ".csv")]
    expected = read_vensim_output(found)
    expected = expected[expected.index <= run.index[-1] + 1e-9]
    rows = [int(np.argmin(np.abs(run.index.to_numpy() - t))) for t in expected.index]
    ours = {canonical(c): c for c in run.columns}
    common = [c for c in expected.columns if canonical(c) in ours and canonical(c) not in CONTROL_KEYS]
    mine = run[[ours[canonical(c)] for c in common]].to_numpy()[rows]
    return mine, expected[common].to_numpy()


CONTROL_KEYS = {"initial time", "final time", "time step", "saveper"}


@pytest.mark.parametrize(
    ("folder", "columns"),
    [("subscript_individually_defined_1d_arrays", 9), ("subscripted_trig", 147 - 4)],
)
def test_xmile_subscripts_match_vensim(folder: str, columns: int) -> None:
    import numpy as np

    (path,) = (TEST_MODELS / "tests" / folder).glob("*.xmile")
    ours, vensim = _vensim_columns(path)
    assert ours.shape[1] == columns  # every element of every array, by its Vensim name
    known = ~np.isnan(vensim)  # Vensim leaves a blank where a value is not a number
    np.testing.assert_allclose(ours[known], vensim[known], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    ("model_file", "columns"),
    [
        ("samples/SIR/SIR_legacy.stmx", 8),
        ("samples/teacup/teacup_legacy.stmx", 4),
        ("samples/bpowers-hares_and_lynxes_modules/model_legacy.stmx", 14),
        ("tests/comparisons/comparisons.stmx", 6),
        # XMILE 1.0 names a module's input with the module: <connect to="hares.area" ...>
        ("samples/bpowers-hares_and_lynxes_modules/model.stmx", 14),
    ],
)
def test_stella_files_match_their_output(model_file: str, columns: int) -> None:
    """isee's files from before XMILE 1.0 put the variables straight in <model>, where
    PySD does not look; they are moved where it does."""
    import numpy as np

    ours, reference = _vensim_columns(TEST_MODELS / model_file)
    assert ours.shape[1] == columns
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-5)


def test_xmile_arrays_without_their_values_fail_at_load() -> None:
    # xmutil wrote "???" where it could not convert the .mdl's numbers.
    path = TEST_MODELS / "tests" / "subscript_1d_arrays" / "test_subscript_1d_arrays.xmile"
    with pytest.raises(ModelSyntaxError, match=r"'\?\?\?'") as caught:
        load(path)
    assert (caught.value.line, caught.value.variable) == (43, "Rate A")


XMILE = """<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><vendor>tests</vendor><product version="1">tests</product></header>
<sim_specs><start>0</start><stop>5</stop><dt>0.5</dt></sim_specs>
{models}
</xmile>
"""
TANK = """<model name="tank"><variables>
  <stock name="level"><eqn>100</eqn><outflow>drain</outflow></stock>
  <flow name="drain"><eqn>level * drain_fraction</eqn></flow>
  <aux name="drain fraction"><eqn>{Enter equation for use when not hooked up to other models}</eqn></aux>
</variables></model>"""
GAUGE = """<model name="gauge"><variables>
  <stock name="seen"><eqn>{Enter equation for use when not hooked up to other models}</eqn></stock>
  <aux name="doubled"><eqn>seen * 2</eqn></aux>
  <aux name="level"><eqn>1</eqn></aux>
</variables></model>"""


def _xmile(tmp_path: Path, main: str, *models: str) -> Path:
    path = tmp_path / "modules.xmile"
    body = f"<model><variables>{main}</variables></model>" + "".join(models)
    path.write_text(XMILE.format(models=body), encoding="utf-8")
    return path


MODULES = """
  <module name="tank"><connect to="drain_fraction" from=".fraction"/></module>
  <module name="gauge"><connect to="seen" from="tank.level"/></module>
  <aux name="fraction"><eqn>0.2</eqn></aux>
"""


def test_xmile_modules_are_flattened_with_their_instance_names(tmp_path: Path) -> None:
    import numpy as np

    from nestedsystems import simulate

    model = load(_xmile(tmp_path, MODULES, TANK, GAUGE))
    assert model["tank.level"].kind is Kind.STOCK
    assert model["tank.level"].group == "tank"
    # A connected input reads its source, whatever placeholder the sub-model gave it.
    assert (model["gauge.seen"].kind, model["gauge.seen"].equation) == (Kind.AUXILIARY, Ref("tank.level"))
    assert model["tank.drain fraction"].equation == Ref("fraction")
    # Each module keeps its own names: both define a "level".
    assert model["gauge.level"].equation == Number(1.0)
    run = simulate(model).to_pandas()
    steps = np.arange(len(run))
    np.testing.assert_allclose(run["tank.level"], 100 * (1 - 0.2 * 0.5) ** steps, rtol=1e-12)
    np.testing.assert_allclose(run["gauge.doubled"], 2 * run["tank.level"], rtol=1e-15)


@pytest.mark.parametrize(
    ("main", "models", "error", "message"),
    [
        (
            '<module name="tank"><connect to=".fraction" from="tank.level"/></module>',
            (TANK,),
            UnsupportedError,
            "expected an input of the module read from the main model",
        ),
        ('<module name="pump"/>', (TANK,), ModelSyntaxError, "places the model 'pump'"),
        (
            '<module name="tank"><connect to="drain_fraction" from=".x"/><connect to="valve" from=".x"/>'
            '</module><aux name="x"><eqn>1</eqn></aux>',
            (TANK,),
            ModelSyntaxError,
            "connects 'valve', which its model does not define",
        ),
        (
            '<module name="tank"/>',
            (TANK.replace("<variables>", '<variables><module name="gauge"/>'), GAUGE),
            UnsupportedError,
            "modules inside modules",
        ),
    ],
)
def test_xmile_modules_wired_wrongly_fail_at_load(
    tmp_path: Path, main: str, models: tuple[str, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        load(_xmile(tmp_path, main, *models))
    assert caught.value.line is not None


def test_xmile_macros_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "macro.xmile"
    text = XMILE.format(models='<macro name="twice"><eqn>2*x</eqn><parm>x</parm></macro><model/>')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UnsupportedError, match="XMILE macros are not supported yet") as caught:
        load(path)
    assert caught.value.line == 5


def test_xmile_pulse_is_a_volume_given_in_one_step(tmp_path: Path) -> None:
    import numpy as np

    from nestedsystems import simulate

    main = """
      <aux name="once"><eqn>PULSE(10, 1)</eqn></aux>
      <aux name="every two"><eqn>PULSE(10, 1, 2)</eqn></aux>
    """
    run = simulate(load(_xmile(tmp_path, main))).to_pandas()
    t = run.index.to_numpy()
    # XMILE: magnitude/DT for one DT at the first time (dt = 0.5), then every interval.
    np.testing.assert_array_equal(run["once"], np.where(t == 1, 20.0, 0.0))
    np.testing.assert_array_equal(run["every two"], np.where(np.isin(t, [1, 3, 5]), 20.0, 0.0))


def test_a_negative_number_raised_to_a_power_is_negated_after_the_power(tmp_path: Path) -> None:
    # Vensim binds a unary minus looser than ^, for numbers as for names.
    from pysd.translators.vensim.vensim_element import EquationVisitor

    from nestedsystems import simulate

    visit = EquationVisitor.visit_neg_expr
    path = write(
        tmp_path,
        entry("a = -3^2"),
        entry("b = (-3)^2"),
        entry("c = 2^-2^2"),
        entry("d = 2*-3^2"),
        entry("e = -5"),
    )
    model = load(path)
    run = simulate(model).to_pandas().iloc[0]
    assert (run["a"], run["b"], run["c"], run["d"]) == (-9.0, 9.0, 2.0**-4, -18.0)
    assert (model["e"].kind, model["e"].equation) == (Kind.CONSTANT, Number(-5.0))
    # PySD itself is left as it was, for anyone else using it in the process.
    assert EquationVisitor.visit_neg_expr is visit


def test_a_constant_written_as_a_sum_of_numbers_is_computed_not_refused(tmp_path: Path) -> None:
    from nestedsystems import simulate

    # PySD's grammar reads `4 - 5 + 6` as a run of numbers and evaluates the text;
    # the guard computes sums of signed numbers itself and still refuses anything else.
    model = load(write(tmp_path, entry("a = 4 - 5 + 6"), entry("b = -1 - 2"), entry("c = (1 + 2) - -3")))
    assert [model[name].equation for name in "ab"] == [Number(5.0), Number(-3.0)]
    assert simulate(model).to_pandas().iloc[0]["c"] == 6.0
    with pytest.raises(ModelError, match=r"bad.mdl:\d+, variable 'd'"):
        load(write(tmp_path, entry("d = 2 - - - "), name="bad.mdl"))
