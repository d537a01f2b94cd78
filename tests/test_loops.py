"""The causal graph, loop enumeration, polarity and author-named loops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.causal_graph import UNNAMED_FLOW, causal_graph, cycles_by_length, flow_terms
from nestedsystems.errors import ModelError
from nestedsystems.expressions import Binary, Call, If, LookupCall, Number, Op, Ref, Table, Unary, UnaryOp
from nestedsystems.loops import LinkPolarity, Polarity, find_loops
from nestedsystems.model import Kind, Model, NamedLoop, Variable
from nestedsystems.polarity import expression_sign, sample_link_sign, table_sign

MODELS = Path(__file__).parent / "models"

CONTROL = (
    Variable("INITIAL TIME", Kind.CONSTANT, Number(0)),
    Variable("FINAL TIME", Kind.CONSTANT, Number(50)),
    Variable("TIME STEP", Kind.CONSTANT, Number(0.5)),
    Variable("SAVEPER", Kind.CONSTANT, Number(0.5)),
)


def mul(a, b):
    return Binary(Op.MUL, a, b)


def sub(a, b):
    return Binary(Op.SUB, a, b)


def div(a, b):
    return Binary(Op.DIV, a, b)


def population_model(loops=()) -> Model:
    """Births (R), crowding (B) and deaths (B) around one stock."""
    p = Ref("population")
    variables = (
        Variable("Population", Kind.STOCK, sub(Ref("births"), Ref("deaths")), initial=Number(10)),
        Variable("births", Kind.AUXILIARY, mul(p, Ref("fractional birth rate"))),
        Variable(
            "fractional birth rate",
            Kind.AUXILIARY,
            mul(Ref("maximum rate"), sub(Number(1), div(p, Ref("capacity")))),
        ),
        Variable("deaths", Kind.AUXILIARY, div(p, Ref("lifetime"))),
        Variable("maximum rate", Kind.CONSTANT, Number(0.1)),
        Variable("capacity", Kind.CONSTANT, Number(1000)),
        Variable("lifetime", Kind.CONSTANT, Number(70)),
    )
    return Model(variables + CONTROL, name="population", loops=loops)


def test_flow_terms_split_a_net_flow_into_signed_terms():
    a, b, c = Ref("a"), Ref("b"), Ref("c")
    terms = flow_terms(Binary(Op.ADD, Binary(Op.SUB, a, b), Unary(UnaryOp.NEG, c)))
    assert terms == [(1, a), (-1, b), (-1, c)]
    # a - (b - c): c comes back as an inflow
    assert flow_terms(Binary(Op.SUB, a, Binary(Op.SUB, b, c))) == [(1, a), (-1, b), (1, c)]


def test_causal_graph_has_signed_flow_edges_and_reading_edges():
    graph = causal_graph(population_model())
    assert graph.edges["births", "population"] == {"flow": True, "sign": 1}
    assert graph.edges["deaths", "population"] == {"flow": True, "sign": -1}
    assert graph.edges["population", "births"]["flow"] is False
    assert graph.has_edge("capacity", "fractional birth rate")
    assert not graph.has_edge("time step", "population")
    assert graph.nodes["population"]["state"] and not graph.nodes["births"]["state"]


def test_a_stock_whose_net_flow_is_an_expression_gets_an_unnamed_flow_node():
    gap = Binary(Op.DIV, Binary(Op.SUB, Ref("goal"), Ref("level")), Ref("delay"))
    model = Model(
        (
            Variable("Level", Kind.STOCK, Binary(Op.ADD, Ref("inflow"), gap), initial=Number(0)),
            Variable("inflow", Kind.AUXILIARY, Number(1)),
            Variable("goal", Kind.CONSTANT, Number(10)),
            Variable("delay", Kind.CONSTANT, Number(4)),
            *CONTROL,
        )
    )
    graph = causal_graph(model)
    node = "level" + UNNAMED_FLOW
    assert graph.edges[node, "level"] == {"flow": True, "sign": 1}
    assert graph.edges["inflow", "level"]["sign"] == 1
    assert set(graph.predecessors(node)) == {"goal", "level", "delay"}
    (loop,) = find_loops(model)
    assert loop.variables == ("Level",)  # the unnamed flow is part of its stock
    assert loop.polarity is Polarity.BALANCING
    assert [link.flow for link in loop.links] == [False, True]


def test_find_loops_reads_polarity_from_the_structure_and_from_a_run():
    loops = find_loops(population_model())
    chains = {loop.variables: loop for loop in loops}
    assert chains["Population", "births"].polarity is Polarity.REINFORCING
    assert chains["Population", "deaths"].polarity is Polarity.BALANCING
    crowding = chains["Population", "fractional birth rate", "births"]
    assert crowding.polarity is Polarity.BALANCING
    # births = population * rate reads + for each input only once a run shows both are positive
    unsampled = {loop.variables: loop.polarity for loop in find_loops(population_model(), sample=False)}
    assert unsampled["Population", "births"] is Polarity.UNDETERMINED
    assert unsampled["Population", "deaths"] is Polarity.BALANCING
    assert loops.complete and loops.notes == ()
    assert loops.partitions == (("Population",),)


def test_author_named_loops_keep_their_ids_names_and_descriptions():
    declared = (
        NamedLoop("R1", "Growth", ("Population", "births"), "More people, more births."),
        # a chain may close on its first variable and skip a variable of the loop
        NamedLoop("B7", "Crowding", ("fractional birth rate", "Population", "fractional birth rate")),
        NamedLoop("B2", "Ghost", ("Population", "capacity")),
    )
    loops = find_loops(population_model(declared))
    growth = loops["R1"]
    assert growth.named and growth.name == "Growth" and growth.description == "More people, more births."
    crowding = loops["b7"]
    assert crowding.variables == ("fractional birth rate", "births", "Population")
    assert [loop.id for loop in loops] == ["R1", "B7", "B8"]  # generated ids continue after the named
    assert not loops["B8"].named and loops["B8"].variables == ("Population", "deaths")
    assert [d.id for d in loops.missing] == ["B2"]
    assert any("B2 (Ghost)" in note for note in loops.notes)
    with pytest.raises(KeyError, match="no loop with id 'R9'"):
        loops["R9"]


def test_a_declared_polarity_that_the_links_contradict_is_noted():
    loops = find_loops(population_model((NamedLoop("R4", "Mislabelled", ("Population", "deaths")),)))
    assert loops["R4"].polarity is Polarity.BALANCING
    assert loops.notes == ("loop R4 (Mislabelled) is declared R but its links make it balancing",)


def test_loops_from_a_file_use_its_declarations():
    model = ns.load(MODELS / "logistic_growth.mdl")
    loops = find_loops(model)
    assert [(loop.id, loop.name, loop.polarity) for loop in loops] == [
        ("B1", "Crowding", Polarity.BALANCING),
        ("R1", "Growth", Polarity.REINFORCING),
    ]
    assert loops["B1"].variables == ("Population", "fractional birth rate", "births")
    assert str(loops["R1"]) == "R1 Growth (reinforcing): Population → births → Population"


def test_variables_made_by_lowering_show_as_the_modelers_variable():
    model = ns.load(MODELS / "smoothed_goal.mdl")
    internal = [v for v in model.variables if v.origin]
    assert internal, "SMOOTH lowers to a stock of its own"
    loops = find_loops(model)
    # the SMOOTH's own first-order adjustment is not a loop the modeler drew
    (loop,) = loops
    assert loop.variables == ("Inventory", "desired production", "production")
    assert loop.polarity is Polarity.BALANCING
    assert any(link.source == internal[0].key for link in loop.links)  # scored on real equations
    assert loops.partitions == (("Inventory", "production"),)


def dense_model(n: int) -> Model:
    """n stocks, each flowing from every other: a graph with a great many cycles."""
    variables = []
    for i in range(n):
        net = Number(0.0)
        for j in range(n):
            if j != i:
                net = Binary(Op.ADD, net, Binary(Op.MUL, Number(0.01), Ref(f"s{j}")))
        variables.append(Variable(f"s{i}", Kind.STOCK, net, initial=Number(1)))
    return Model(tuple(variables) + CONTROL)


def test_enumeration_stops_cleanly_at_its_bounds():
    model = dense_model(7)  # 1,172 elementary cycles among 7 stocks
    loops = find_loops(model, max_loops=50)
    assert len(loops) == 50 and not loops.complete
    assert loops.notes == ("enumeration stopped at max_loops=50; the model has more loops",)
    short = find_loops(model, max_length=4)  # s_i → unnamed flow of s_j: two nodes per stock
    assert len(short) == 21 and not short.complete  # the 21 two-stock loops
    assert "loops longer than 4 graph nodes were not searched" in short.notes[0]
    assert all(len(loop.variables) == 2 for loop in short)
    with pytest.raises(ModelError):
        find_loops(model, max_loops=0)
    # a bound the model just fits in cuts nothing
    assert find_loops(population_model(), max_loops=3).complete
    assert not find_loops(population_model(), max_loops=2).complete


def test_structural_signs_of_common_equation_shapes():
    x, y = Ref("x"), Ref("y")
    known = {"k": 1, "y": 1}
    assert expression_sign(Binary(Op.SUB, y, x), "x", known) == -1
    assert expression_sign(Binary(Op.DIV, y, x), "x", known) == -1
    assert expression_sign(Binary(Op.DIV, x, Ref("k")), "x", known) == 1
    assert expression_sign(Binary(Op.MUL, x, Ref("unknown")), "x", known) is None
    assert expression_sign(Call("min", (x, y)), "x", known) == 1
    assert expression_sign(Call("exp", (Unary(UnaryOp.NEG, x),)), "x", known) == -1
    assert expression_sign(Call("sin", (x,)), "x", known) is None
    # a condition switches, it has no slope: only the branches give the link a sign
    assert expression_sign(If(Binary(Op.GT, x, y), y, y), "x", known) == 0
    assert expression_sign(If(Binary(Op.GT, x, y), Binary(Op.SUB, y, x), y), "x", known) == -1
    strain_change = Binary(Op.DIV, Binary(Op.SUB, y, x), If(Binary(Op.GT, y, x), Ref("k"), Ref("k2")))
    assert expression_sign(strain_change, "x", {**known, "k2": 1}) == -1
    assert expression_sign(If(Binary(Op.GT, y, Number(0)), x, Binary(Op.MUL, Number(2), x)), "x", known) == 1
    falling = Table((0.0, 1.0, 2.0), (1.0, 0.5, 0.2))
    assert table_sign(falling) == -1
    assert table_sign(Table((0.0, 1.0, 2.0), (0.0, 1.0, 0.0))) is None
    assert expression_sign(LookupCall(falling, Binary(Op.SUB, y, x)), "x", known) == 1
    assert expression_sign(y, "x", known) == 0


def test_sampled_signs_come_from_the_run_and_report_a_change_of_sign():
    t = np.linspace(0.0, 6.0, 61)
    assert sample_link_sign(lambda x, y: x * y, ("x", "y"), {"x": t + 1, "y": t + 2}, "x") == 1
    assert sample_link_sign(lambda x, y: x * y, ("x", "y"), {"x": t + 1, "y": -(t + 2)}, "x") == -1
    assert sample_link_sign(lambda x: np.sin(x), ("x",), {"x": t}, "x") is None
    assert sample_link_sign(lambda x, y: y, ("x", "y"), {"x": t, "y": t}, "x") == 0


def test_a_link_whose_sign_changes_along_the_run_makes_its_loop_undetermined():
    # flow = 0.5 + 0.1 cos S: ∂flow/∂S = -0.1 sin S turns positive once S passes π
    model = Model(
        (
            Variable("S", Kind.STOCK, Ref("flow"), initial=Number(0.0)),
            Variable(
                "flow",
                Kind.AUXILIARY,
                Binary(Op.ADD, Number(0.5), mul(Number(0.1), Call("cos", (Ref("s"),)))),
            ),
            *CONTROL,
        )
    )
    (loop,) = find_loops(model)
    assert loop.polarity is Polarity.UNDETERMINED
    assert [link.polarity for link in loop.links] == [LinkPolarity.UNDETERMINED, LinkPolarity.POSITIVE]
    # a polarity the caller knows overrides both readings
    (fixed,) = find_loops(model, link_polarities={("s", "flow"): LinkPolarity.NEGATIVE})
    assert fixed.polarity is Polarity.BALANCING


def test_conformance_models_have_the_loops_a_modeler_would_draw(test_models):
    sir = find_loops(ns.load(test_models / "samples" / "SIR" / "SIR.mdl"))
    assert sorted((loop.variables, loop.polarity.letter) for loop in sir) == [
        (("Infectious", "Recovering"), "B"),
        (("Infectious", "Succumbing"), "R"),
        (("Susceptible", "Succumbing"), "B"),
    ]
    assert sir.partitions == (("Infectious", "Susceptible"),)  # in the order the file declares them
    pendulum = find_loops(ns.load(test_models / "samples" / "pendulum" / "Single_Pendulum.mdl"))
    # damping switched off (coefficient 0) still draws as the balancing damping loop
    assert {loop.polarity for loop in pendulum} == {Polarity.BALANCING}


# ----------------------------------------------------------------------------- command line


def test_the_loops_command_prints_a_table_json_and_dot(capsys, test_models):
    import json

    from nestedsystems.cli import main

    sir = str(test_models / "samples" / "SIR" / "SIR.mdl")
    assert main(["loops", sir]) == 0
    table = capsys.readouterr().out
    assert "R1  R         0      Infectious → Succumbing → Infectious" in table
    assert "3 loops (0 named) in 1 cycle partitions" in table

    assert main(["loops", str(MODELS / "logistic_growth.mdl"), "--format", "json", "--dominance"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(loop["id"], loop["name"], loop["polarity"]) for loop in result["loops"]] == [
        ("B1", "Crowding", "balancing"),
        ("R1", "Growth", "reinforcing"),
    ]
    assert [(p["loops"], p["polarity"], p["quiet"]) for p in result["dominant_periods"]] == [
        (["R1"], "reinforcing", False),
        (["B1"], "balancing", False),
        # the last steps, the population within half a percent of its capacity, move too
        # little to be any loop's doing (the narrative folds so short a lull into the change)
        ([], "undetermined", True),
    ]
    assert result["dominant_periods"][-1]["start"] > 99
    assert result["narrative"][0].startswith("Years 0–46: the Growth loop (R1, reinforcing)")
    assert result["complete"] is True and result["partitions"] == [["Population"]]

    assert main(["loops", sir, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph loops {") and '"recovering" -> "infectious" [label="-"];' in dot


def test_the_loops_command_reports_a_bad_model_in_one_line(capsys, tmp_path):
    from nestedsystems.cli import main

    assert main(["loops", str(tmp_path / "missing.mdl")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("nestedsystems: error:") and error.count("\n") == 1


def test_shortest_first_enumeration_finds_exactly_the_elementary_cycles():
    import networkx as nx

    def canonical_rotation(cycle):
        i = cycle.index(min(cycle))
        return tuple(cycle[i:] + cycle[:i])

    for seed in range(20):
        graph = nx.gnp_random_graph(11, 0.3, seed=seed, directed=True)
        graph.add_edge(4, 4)
        graph = nx.relabel_nodes(graph, {i: f"v{(7 * i) % 11:02d}" for i in graph})
        mine = list(cycles_by_length(graph, 11))
        expected = {canonical_rotation(c) for c in nx.simple_cycles(graph)}
        assert len(mine) == len(expected) and {canonical_rotation(c) for c in mine} == expected
        assert [len(c) for c in mine] == sorted(len(c) for c in mine)
        assert all(len(c) <= 3 for c in cycles_by_length(graph, 3))


def test_a_subset_of_loops_keeps_the_graph_and_partitions():
    loops = find_loops(ns.load(MODELS / "logistic_growth.mdl"))
    named = loops.named()
    assert [loop.id for loop in named] == ["B1", "R1"] and named.graph is loops.graph
    assert [loop.id for loop in loops.subset(["r1"])] == ["R1"]
    with pytest.raises(KeyError, match="no loop with id 'b9'"):
        loops.subset(["B9"])


def test_the_loops_command_can_keep_to_the_named_loops_and_a_few_rows(capsys):
    from nestedsystems.cli import main

    model = ns.load(MODELS / "logistic_growth.mdl")
    assert len(find_loops(model)) == 2
    assert main(["loops", str(MODELS / "logistic_growth.mdl"), "--named", "--top", "1", "--dominance"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("B1  B         0      0.54   Crowding:")
    assert table[2] == "... and 1 more (--top 0 lists them all)"
    assert "2 loops (2 named) in 1 cycle partitions" in table
