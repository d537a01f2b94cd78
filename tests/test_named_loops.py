"""Loop declarations in documentation: ``Loop R1 "name": A -> B -> C. description``."""

from __future__ import annotations

import pytest

from nestedsystems.errors import ModelError
from nestedsystems.expressions import Number
from nestedsystems.model import Kind, Model, NamedLoop, Variable
from nestedsystems.named_loops import LoopDeclaration, find_named_loops, parse_loop_declarations


def test_one_declaration() -> None:
    text = 'Loop R1 "Parallel process (trauma contagion)": Var a -> Var b -> Var c. It spreads. Fast.'
    assert parse_loop_declarations(text) == [
        LoopDeclaration(
            "R1", "Parallel process (trauma contagion)", ("Var a", "Var b", "Var c"), "It spreads. Fast."
        )
    ]


def test_several_declarations_among_prose() -> None:
    text = (
        "Staff strain drives most of this model.\n"
        'Loop B12 "Relief": Strain -> Leave -> Strain. Leave relieves strain.\n'
        'Loop R3 "Burnout":Strain->Turnover->Strain.'
    )
    declarations = parse_loop_declarations(text)
    assert [(d.id, d.name, d.chain, d.description) for d in declarations] == [
        ("B12", "Relief", ("Strain", "Leave"), "Leave relieves strain."),
        ("R3", "Burnout", ("Strain", "Turnover"), ""),
    ]


def test_arrows_in_the_description_stay_in_the_description() -> None:
    (declaration,) = parse_loop_declarations('Loop R2 "x": A -> B. Read it as A -> B -> A.')
    assert declaration.chain == ("A", "B")
    assert declaration.description == "Read it as A -> B -> A."


def test_decimal_points_and_prose_without_declarations() -> None:
    assert parse_loop_declarations("A loop of 2.5 months; see R1 in the report.") == []
    (declaration,) = parse_loop_declarations('Loop B1 "Goal": Gap -> Action')
    assert declaration.chain == ("Gap", "Action")
    assert declaration.description == ""


def _model(*documentation: str) -> Model:
    names = ("Strain", "Leave", "Turnover")
    return Model(
        variables=tuple(
            Variable(name, Kind.CONSTANT, Number(1.0), documentation=doc, line=i + 1)
            for i, (name, doc) in enumerate(zip(names, documentation + ("",) * 3, strict=False))
        ),
        source="m.mdl",
    )


def test_find_named_loops_sorts_by_id_and_uses_model_names() -> None:
    model = _model('Loop R2 "Burnout": strain -> TURNOVER. x', 'Loop B1 "Relief": Strain -> Leave -> Strain.')
    assert find_named_loops(model) == (
        NamedLoop("B1", "Relief", ("Strain", "Leave"), ""),
        NamedLoop("R2", "Burnout", ("Strain", "Turnover"), "x"),
    )


def test_unknown_variable_names_the_loop() -> None:
    model = _model('Loop R1 "Burnout": Strain -> Exhaustion.')
    with pytest.raises(ModelError, match="loop R1 names 'Exhaustion'") as caught:
        find_named_loops(model)
    assert (caught.value.file, caught.value.line, caught.value.variable) == ("m.mdl", 1, "Strain")


def test_an_id_declared_twice_is_refused() -> None:
    model = _model('Loop R1 "a": Strain -> Leave.', 'Loop R1 "b": Leave -> Strain.')
    with pytest.raises(ModelError, match="R1 is declared twice"):
        find_named_loops(model)


def test_unicode_arrows_are_arrows_too() -> None:
    (declaration,) = parse_loop_declarations(
        'Loop R4 "Amnesia": Quits \u2192 Skill \u2192 Quits. Lost know-how.'
    )
    assert declaration.chain == ("Quits", "Skill")
