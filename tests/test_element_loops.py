"""Loops and Loops That Matter on subscripted models: one causal-graph node per element."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nestedsystems as ns
from nestedsystems.cli import main
from nestedsystems.dominance import loop_scores
from nestedsystems.loops import Polarity, find_loops

CONTROL = """
FINAL TIME = 20 ~ year ~ |
INITIAL TIME = 0 ~ year ~ |
SAVEPER = TIME STEP ~ year ~ |
TIME STEP = 0.25 ~ year ~ |
"""

# Two regions, each with births (R), deaths (B) and people leaving (B); who leaves
# one region arrives in the other, which closes a reinforcing migration loop
# through both populations.
REGIONS = Path(__file__).parent / "models" / "two_regions.mdl"  # with its control variables

# Crowding read through a SUM over both regions, and births through a SMOOTH.
CROWDED = """{UTF-8}
Region: north, south ~ ~ |
Population[Region] = INTEG(births[Region] - deaths[Region], initial population[Region]) ~ people ~ |
initial population[Region] = 100, 50 ~ people ~ |
perceived population[Region] = SMOOTH(Population[Region], 2) ~ people ~ |
births[Region] = perceived population[Region] * 0.05 ~ people/year ~ |
total population = SUM(Population[Region!]) ~ people ~ |
deaths[Region] = Population[Region] * total population / capacity ~ people/year ~ |
capacity = 10000 ~ people*year ~ |
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text + CONTROL)
    return path


@pytest.fixture
def regions(tmp_path: Path) -> ns.Model:
    return ns.load(REGIONS)


def chains(loops) -> dict[tuple[str, ...], Polarity]:
    return {loop.variables: loop.polarity for loop in loops}


def test_each_element_has_its_loops_and_migration_joins_the_regions(regions: ns.Model) -> None:
    loops = find_loops(regions)
    assert loops.complete
    expected = {}
    for region in ("north", "south"):
        population = f"Population[{region}]"
        expected[(population, f"births[{region}]")] = Polarity.REINFORCING
        expected[(population, f"deaths[{region}]")] = Polarity.BALANCING
        expected[(population, f"leaving[{region}]")] = Polarity.BALANCING
    expected[
        (
            "Population[north]",
            "leaving[north]",
            "arriving[south]",
            "Population[south]",
            "leaving[south]",
            "arriving[north]",
        )
    ] = Polarity.REINFORCING
    assert chains(loops) == expected
    # migration puts both populations in one cycle partition
    assert loops.partitions == (("Population[north]", "Population[south]"),)
    migration = next(loop for loop in loops if len(loop.variables) == 6)
    assert migration.by_variable == ("Population", "leaving", "arriving") * 2


def test_element_loop_scores_follow_their_closed_forms(regions: ns.Model) -> None:
    """Every flow is proportional to its own population, so each link from a
    population to a flow scores 1 and each loop's score is its flows' share of
    the change in the net flows: |b·ΔP/Δnet| for births, and so on."""
    loops = find_loops(regions)
    scores = loop_scores(regions, loops=loops)
    frame = ns.simulate(regions).to_pandas()
    change = {r: np.diff(frame[f"Population[{r}]"].to_numpy()) for r in ("north", "south")}
    birth = {"north": 0.04, "south": 0.03}
    death, leave = 1 / 50, 0.05
    net = {
        "north": (birth["north"] - death - leave) * change["north"] + leave * change["south"],
        "south": (birth["south"] - death - leave) * change["south"] + leave * change["north"],
    }
    by_chain = {loop.variables: i for i, loop in enumerate(loops)}

    def score(*variables: str) -> np.ndarray:
        return scores.scores[0, 1:, by_chain[variables]]

    for r in ("north", "south"):
        population = f"Population[{r}]"
        np.testing.assert_allclose(
            score(population, f"births[{r}]"), np.abs(birth[r] * change[r] / net[r]), rtol=1e-9
        )
        for flow, rate in ((f"deaths[{r}]", death), (f"leaving[{r}]", leave)):
            np.testing.assert_allclose(score(population, flow), -np.abs(rate * change[r] / net[r]), rtol=1e-9)
    migration = np.abs(leave**2 * change["north"] * change["south"] / (net["north"] * net["south"]))
    through_both = next(i for i, loop in enumerate(loops) if len(loop.variables) == 6)
    np.testing.assert_allclose(scores.scores[0, 1:, through_both], migration, rtol=1e-9)
    # one partition: the relative scores share the whole change at every step after the first
    np.testing.assert_allclose(np.abs(scores.relative[0, 1:]).sum(axis=1), 1.0, rtol=1e-12)


def test_sum_links_every_element_and_smooth_collapses_to_its_variable(tmp_path: Path) -> None:
    model = ns.load(write(tmp_path, CROWDED, "crowded.mdl"))
    loops = find_loops(model)
    graph = loops.graph
    for region in ("north", "south"):
        assert graph.has_edge(f"population[{region}]", "total population")
        assert graph.has_edge("total population", f"deaths[{region}]")
        other = "south" if region == "north" else "north"
        assert not graph.has_edge(f"population[{region}]", f"deaths[{other}]")
    found = chains(loops)
    # births through the SMOOTH: its inner stock shows as the variable the modeler wrote
    smoothed = ("Population[north]", "perceived population[north]", "births[north]")
    assert found[smoothed] is Polarity.REINFORCING
    assert found[("Population[north]", "deaths[north]")] is Polarity.BALANCING
    assert found[("Population[north]", "total population", "deaths[north]")] is Polarity.BALANCING
    # crowding in one region reaches the other only through the total, which no
    # elementary loop passes twice: no loop joins the regions, yet the total makes
    # them one strongly connected cycle partition, whose loops compete
    assert all("south" not in "".join(v) or "north" not in "".join(v) for v in found)
    assert len(loops.partitions) == 1
    assert {"Population[north]", "Population[south]"} <= set(loops.partitions[0])


def test_mapped_subscripts_link_element_to_element(test_models: Path) -> None:
    """``link level[DimA,DimB] = Level 2[DimA,DimC]`` with ``DimC -> DimB``: each
    element reads the one in the same position, so every Level 2 element has a
    reinforcing loop through its link level and a balancing one through its
    outflow, and Level 1's elements each feed themselves."""
    model = ns.load(test_models / "tests" / "subscript_mapping_simple" / "test_subscript_mapping_simple.mdl")
    loops = find_loops(model)
    expected = {}
    for a in ("da1", "da2", "da3"):
        for k in ("1", "2", "3"):
            level = f"Level 2[{a},dc{k}]"
            expected[(level, f"link level[{a},db{k}]")] = Polarity.REINFORCING
            expected[(level, f"output level 2[{a},dc{k}]")] = Polarity.BALANCING
            expected[(f"Level 1[{a},db{k}]", f"input level 1[{a},db{k}]")] = Polarity.REINFORCING
    assert chains(loops) == expected
    assert len(loops.partitions) == 18
    # Level 2's net flow is (1 - B)·Level 2: its loops share the change as 1 : B
    scores = loop_scores(model, loops=loops)
    matrix_b = np.array([[0.07, 0.1, 0.16], [0.6, 0.19, 0.4], [0.54, 0.23, 0.12]])
    for i, a in enumerate(("da1", "da2", "da3")):
        for k in range(3):
            level = f"Level 2[{a},dc{k + 1}]"
            ids = {loop.polarity.letter: loop.id for loop in loops if loop.variables[0] == level}
            reinforcing, balancing = ids["R"], ids["B"]
            b = matrix_b[i, k]
            np.testing.assert_allclose(scores[reinforcing][1:], 1 / (1 + b), rtol=1e-9)
            np.testing.assert_allclose(scores[balancing][1:], -b / (1 + b), rtol=1e-9)


def test_the_cli_lists_element_loops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = REGIONS
    assert main(["loops", str(path), "--dominance", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = {tuple(loop["variables"]) for loop in report["loops"]}
    assert ("Population[south]", "births[south]") in listed and len(listed) == 7
    assert report["dominant_periods"] and report["narrative"]
    assert main(["loops", str(path)]) == 0
    table = capsys.readouterr().out
    assert "Population[north] → leaving[north] → arriving[south] → Population[south]" in table
    assert "  Population → births → Population: R1, R2" in table.split("by variable:")[1]


def test_relative_scores_agree_with_simlin(tmp_path: Path) -> None:
    """pysimlin scores subscripted models too. A loop that repeats in every element
    (births around Population in each region) it lists once, by its variables, with
    the scores of one of the elements; a loop that crosses elements (migration) it
    lists by element. Every loop it lists must be one of ours, within 1e-6."""
    simlin = pytest.importorskip("simlin")
    path = REGIONS
    ours = loop_scores(ns.load(path))
    run = simlin.load(str(path)).run()
    assert run.loops
    saved = np.asarray(run.results.index, dtype=float)
    at = np.searchsorted(ours.times, saved - 1e-9)
    for theirs in run.loops:
        names = {v.lower() for v in theirs.variables}
        matching = [
            i
            for i, loop in enumerate(ours.loops)
            if names in ({v.lower() for v in loop.variables}, {v.lower() for v in loop.by_variable})
        ]
        assert matching, theirs.variables
        close = [
            np.allclose(ours.relative[0, at, i], theirs.behavior_time_series, rtol=0, atol=1e-6)
            for i in matching
        ]
        assert any(close), theirs.variables


def test_loops_grouped_by_variable(regions: ns.Model) -> None:
    grouped = find_loops(regions).by_variable()
    sizes = {chain: len(loops) for chain, loops in grouped.items()}
    assert sizes == {
        ("Population", "births"): 2,
        ("Population", "deaths"): 2,
        ("Population", "leaving"): 2,
        ("Population", "leaving", "arriving", "Population", "leaving", "arriving"): 1,
    }


def test_an_element_link_has_its_own_sign(tmp_path: Path) -> None:
    """``gap`` reads Population[north] with a plus and Population[south] with a minus:
    at the variable level the sign is open, element by element it is not. The gap
    moves people out of the more crowded region, so each region's loop through it
    balances (no elementary loop joins them: both would pass the gap)."""
    text = """{UTF-8}
Region: north, south ~ ~ |
Population[Region] = INTEG(moving[Region], start[Region]) ~ people ~ |
start[Region] = 100, 50 ~ people ~ |
gap = Population[north] - Population[south] ~ people ~ |
moving[north] = -gap / 10 ~~|
moving[south] = gap / 10 ~ people/year ~ |
"""
    loops = find_loops(ns.load(write(tmp_path, text, "gap.mdl")))
    graph = loops.graph
    assert graph.edges["population[north]", "gap"]["polarity"].value == "+"
    assert graph.edges["population[south]", "gap"]["polarity"].value == "-"
    assert graph.edges["gap", "moving[north]"]["polarity"].value == "-"
    assert graph.edges["gap", "moving[south]"]["polarity"].value == "+"
    assert chains(loops) == {
        ("Population[north]", "gap", "moving[north]"): Polarity.BALANCING,
        ("Population[south]", "gap", "moving[south]"): Polarity.BALANCING,
    }


def test_an_ensemble_scores_each_member_as_its_own_run(regions: ns.Model) -> None:
    loops = find_loops(regions)
    rates = np.array([[0.04, 0.08], [0.03, 0.03]])  # birth rate by region, then member
    ensemble = loop_scores(regions, loops=loops, params={"birth rate": rates})
    for member in range(2):
        alone = loop_scores(regions, loops=loops, params={"birth rate": rates[:, member]})
        np.testing.assert_array_equal(ensemble.relative[member], alone.relative[0])


def test_a_named_loop_is_named_in_every_element(tmp_path: Path) -> None:
    """The author names loops by variables; in a subscripted model the loop repeats
    in every element, and each instance carries the author's name and id."""
    documented = REGIONS.read_text(encoding="utf-8").replace(
        "births[Region] = Population[Region] * birth rate[Region] ~ people/year ~ |",
        "births[Region] = Population[Region] * birth rate[Region] ~ people/year ~ "
        'Loop R1 "Growth": Population -> births -> Population. More people, more births. |',
    )
    named_file = tmp_path / "named.mdl"
    named_file.write_text(documented, encoding="utf-8")
    loops = find_loops(ns.load(named_file))
    assert not loops.missing and not loops.notes
    named = [loop for loop in loops if loop.named]
    assert [(loop.id, loop.name, loop.variables) for loop in named] == [
        ("R1[north]", "Growth", ("Population[north]", "births[north]")),
        ("R1[south]", "Growth", ("Population[south]", "births[south]")),
    ]
    assert named[0].description == "More people, more births."
    # the generated ids go on from the author's
    assert {loop.id for loop in loops if not loop.named} == {"B1", "B2", "B3", "B4", "R2"}


def test_numeric_ranges_over_three_dimensions(test_models: Path) -> None:
    """Level_1 over 5 x 3 x 2 elements, each with an inflow A·L (R) and an outflow
    B·L (B): the net flow is (A - B)·L, so the reinforcing loop's share of each
    element's change is A / (A + B) at every step, the balancing one's -B / (A + B);
    where A = B the element holds still and no loop has a share."""
    model = ns.load(test_models / "tests" / "subscript_numeric_range" / "test_subscript_numeric_range.mdl")
    loops = find_loops(model)
    assert len(loops) == 60 and len(loops.partitions) == 30
    scores = loop_scores(model, loops=loops)
    run = ns.simulate(model)
    for loop in loops:
        level = loop.variables[0]
        cell = level[level.index("[") :]
        a, b = run[f"Matrix_A{cell}"][0], run[f"Matrix_B{cell}"][0]
        share = a / (a + b) if loop.polarity is Polarity.REINFORCING else -b / (a + b)
        if a == b:  # inflow and outflow balance: the element never changes, nothing is shared
            share = 0.0
            assert not scores.active[0, :, loop.partition].any()
        np.testing.assert_allclose(scores[loop.id][1:], share, rtol=1e-9, err_msg=str(loop))
