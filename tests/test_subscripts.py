"""Subscripts (arrays): small models whose numbers are checked by hand or in closed form."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nestedsystems as ns
from nestedsystems.cli import main
from nestedsystems.compiler import VECTOR, _Source
from nestedsystems.errors import ModelSyntaxError

CONTROL = """\
INITIAL TIME = 0
\t~\tMonth
\t~\t|

FINAL TIME = 4
\t~\tMonth
\t~\t|

TIME STEP = 0.5
\t~\tMonth
\t~\t|

SAVEPER = TIME STEP
\t~\tMonth
\t~\t|
"""


def write(tmp_path: Path, text: str, name: str = "arrays.mdl") -> Path:
    entries = "".join(f"{e.strip()}\n\t~\t\n\t~\t\n\t|\n\n" for e in text.strip().split("\n\n"))
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + entries + CONTROL, encoding="utf-8")
    return path


def run(tmp_path: Path, text: str, name: str = "arrays.mdl", **options: object) -> ns.Run:
    return ns.simulate(ns.load(write(tmp_path, text, name)), **options)  # type: ignore[arg-type]


def final(result: ns.Run, column: str) -> float:
    return float(result[column][-1])


def test_dimensions_and_dims_in_the_ir(tmp_path: Path) -> None:
    model = ns.load(
        write(
            tmp_path,
            """
region: north, south, east

coastal: north, east

region copy <-> region

x[region] = 1, 2, 3
""",
        )
    )
    assert [(d.name, d.elements) for d in model.dimensions] == [
        ("region", ("north", "south", "east")),
        ("coastal", ("north", "east")),
        ("region copy", ("north", "south", "east")),
    ]
    assert model["x"].dims == ("region",)
    assert model["x"].kind is ns.Kind.CONSTANT


def test_vector_functions_reduce_the_marked_dimension(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3

x[d] = 1, 2, 4

total = SUM(x[d!])

product = PROD(x[d!])

smallest = VMIN(x[d!])

largest = VMAX(x[d!])

count = ELMCOUNT(d)
""",
    )
    assert [final(result, n) for n in ("total", "product", "smallest", "largest", "count")] == [7, 8, 1, 4, 3]
    assert result.names[:3] == ("x[d1]", "x[d2]", "x[d3]")


def test_two_dimensional_table_transposition_and_partial_sums(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
a: a1, a2

b: b1, b2, b3

m[a, b] = 1, 2, 3; 4, 5, 6;

t[b, a] = m[a, b]

row total[a] = SUM(m[a, b!])

column total[b] = SUM(m[a!, b])

outer[a, b] = row total[a] * column total[b]
""",
    )
    assert final(result, "m[a2,b1]") == 4
    assert final(result, "t[b1,a2]") == 4 and final(result, "t[b3,a1]") == 3
    assert [final(result, f"row total[{e}]") for e in ("a1", "a2")] == [6, 15]
    assert [final(result, f"column total[{e}]") for e in ("b1", "b2", "b3")] == [5, 7, 9]
    assert final(result, "outer[a2,b3]") == 15 * 9


def test_subranges_elements_and_mappings(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
age: young, middle, old

older: middle, old

younger: young, middle -> older

people[age] = 10, 20, 30

first = people[young]

aged[older] = people[younger] + people[older]

double[age] = people[age] * 2
""",
    )
    assert final(result, "first") == 10
    # younger -> older: middle reads young, old reads middle
    assert final(result, "aged[middle]") == 10 + 20 and final(result, "aged[old]") == 20 + 30
    assert final(result, "double[old]") == 60


def test_except_and_definitions_in_parts(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
store: s1, s2

product: p1, p2, p3

price[product] :EXCEPT: [p2] = 1

price[p2] = 5

stock[store, product] :EXCEPT: [s2, p3] = 100

stock[s2, p3] = 7
""",
    )
    assert [final(result, f"price[{p}]") for p in ("p1", "p2", "p3")] == [1, 5, 1]
    assert final(result, "stock[s1,p3]") == 100 and final(result, "stock[s2,p3]") == 7


def test_subscripted_stock_follows_eulers_closed_form(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3

rate[d] = 0.1, 0.2, 0.3

start[d] = 100, 50, 10

level[d] = INTEG(-rate[d] * level[d], start[d])
""",
    )
    steps = np.arange(len(result.times))  # SAVEPER = TIME STEP = 0.5
    for element, k, s0 in (("d1", 0.1, 100), ("d2", 0.2, 50), ("d3", 0.3, 10)):
        np.testing.assert_allclose(result[f"level[{element}]"], s0 * (1 - k * 0.5) ** steps, rtol=1e-12)


def test_arrayed_smooth_is_an_array_of_stocks(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2

target[d] = 10, 20

smoothed[d] = SMOOTH(target[d], 2)

first only[d1] = SMOOTH(target[d1], 1)

first only[d2] = 0
""",
    )
    # SMOOTH starts at its input here, so it stays there
    assert final(result, "smoothed[d1]") == 10 and final(result, "smoothed[d2]") == 20
    assert final(result, "first only[d1]") == 10 and final(result, "first only[d2]") == 0


def test_per_element_lookups(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2

effect[d1]( (0, 0), (10, 10) )

effect[d2]( (0, 5), (10, -5) )

shared( (0, 0), (1, 2) )

reading[d] = effect[d](Time)

scaled[d] = shared(0.25) * reading[d]
""",
    )
    assert list(result["reading[d1]"][:3]) == [0, 0.5, 1.0]
    assert list(result["reading[d2]"][:3]) == [5, 4.5, 4.0]
    assert final(result, "scaled[d2]") == pytest.approx(0.5 * (5 - 4))


def test_ensembles_and_arrayed_parameters(tmp_path: Path) -> None:
    text = """
d: d1, d2

gain = 1

base[d] = 1, 2

out[d] = gain * base[d]
"""
    many = run(tmp_path, text, params={"gain": np.array([1.0, 10.0, 100.0])})
    assert many["out[d2]"][:, -1].tolist() == [2, 20, 200]
    one = run(tmp_path, text, params={"base": [3, 4]})
    assert final(one, "out[d2]") == 4 and final(one, "base[d1]") == 3
    per_run = run(tmp_path, text, params={"base": [[1, 2], [3, 4]]})
    assert per_run["out[d2]"][:, -1].tolist() == [3, 4]


def test_generated_code_has_no_loop_over_elements(tmp_path: Path) -> None:
    model = ns.load(
        write(
            tmp_path,
            """
d: d1, d2, d3

e: e1, e2

x[d, e] = 1

y[e, d] = x[d, e] * 2 + SUM(x[d!, e])
""",
        )
    )
    compiled = ns.compile_model(model)
    text = _Source(model, compiled._layout, VECTOR, compiled._tables).euler(compiled.plan().saved)
    assert len(re.findall(r"\bfor\b", text)) == 1  # the time loop, nothing else
    assert ".transpose(1, 0, 2)" in text


def test_xarray_keeps_dimensions_and_csv_has_a_column_per_element(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
a: a1, a2

b: b1, b2, b3

m[a, b] = 1, 2, 3; 4, 5, 6;
""",
    )
    result = ns.simulate(ns.load(path))
    data = result.to_xarray()["m"]
    assert data.dims == ("run", "time", "a", "b")
    assert data.sel(a="a2", b="b3").values[0, -1] == 6
    output = tmp_path / "out.csv"
    assert main(["run", str(path), "--output", str(output)]) == 0
    frame = pd.read_csv(output)
    assert "m[a1,b1]" in frame.columns and frame["m[a2,b3]"].iloc[-1] == 6


def test_wrong_subscripts_are_one_located_error(tmp_path: Path) -> None:
    with pytest.raises(ns.ModelError, match="not an element"):
        run(
            tmp_path,
            """
d: d1, d2

x[d] = 1, 2

y = x[d7]
""",
        )


def test_a_range_read_as_a_number_and_nested_ranges(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: first, inner, last

inner: i1, i2

where[d] = d

where inner[inner] = inner
""",
    )
    # inner stands for its elements inside d; positions count in the largest range
    assert result.names[:4] == ("where[first]", "where[i1]", "where[i2]", "where[last]")
    assert [final(result, f"where[{e}]") for e in ("first", "i1", "i2", "last")] == [1, 2, 3, 4]
    assert [final(result, f"where inner[{e}]") for e in ("i1", "i2")] == [2, 3]


def test_invert_matrix(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
r: r1, r2

c: c1, c2

m[r, c] = 2, 1; 1, 1;

inverse[r, c] = INVERT MATRIX(m[r, c], 2)
""",
    )
    got = [[final(result, f"inverse[{i},{j}]") for j in ("c1", "c2")] for i in ("r1", "r2")]
    np.testing.assert_allclose(got, [[1, -1], [-1, 2]])


def test_sort_order_rank_and_reorder_along_the_last_subscript(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3, d4

x[d] = 30, 10, 40, 20

order up[d] = VECTOR SORT ORDER(x[d], 1)

order down[d] = VECTOR SORT ORDER(x[d], 0)

rank up[d] = VECTOR RANK(x[d], 1)

sorted[d] = VECTOR REORDER(x[d], order up[d])
""",
    )

    def values(name: str) -> list[float]:
        return [final(result, f"{name}[{e}]") for e in ("d1", "d2", "d3", "d4")]

    assert values("order up") == [1, 3, 0, 2]  # indices from 0 of the smallest, next, ...
    assert values("order down") == [2, 0, 3, 1]
    assert values("rank up") == [3, 1, 4, 2]
    assert values("sorted") == [10, 20, 30, 40]


def test_allocate_by_priority(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
who: first, second, third

request[who] = 3, 4, 2

priority[who] = 3, 2, 1

strict[who] = ALLOCATE BY PRIORITY(request[who], priority[who], ELMCOUNT(who), 0.5, 5)

shared[who] = ALLOCATE BY PRIORITY(request[who], priority[who], ELMCOUNT(who), 100, 4.5)

plenty[who] = ALLOCATE BY PRIORITY(request[who], priority[who], ELMCOUNT(who), 1, 100)
""",
    )
    people = ("first", "second", "third")
    # priorities further apart than the width: highest first, the rest gets leftovers
    assert [final(result, f"strict[{p}]") for p in people] == pytest.approx([3, 2, 0])
    # a width far wider than the spread: near-proportional shares, adding up to the supply
    shares = [final(result, f"shared[{p}]") for p in people]
    assert sum(shares) == pytest.approx(4.5) and shares[0] / 3 > shares[1] / 4 > shares[2] / 2
    assert [final(result, f"plenty[{p}]") for p in people] == [3, 4, 2]


@pytest.mark.parametrize("method", ["rk4", "RK45"])
def test_arrayed_stocks_with_other_methods_follow_the_exponential(tmp_path: Path, method: str) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2

rate[d] = 0.1, 0.3

level[d] = INTEG(-rate[d] * level[d], 100)
""",
        method=method,
    )
    for element, k in (("d1", 0.1), ("d2", 0.3)):
        np.testing.assert_allclose(result[f"level[{element}]"], 100 * np.exp(-k * result.times), rtol=1e-4)


def test_an_arrayed_name_reads_every_element(tmp_path: Path) -> None:
    text = """
a: a1, a2

b: b1, b2, b3

m[a, b] = 1, 2, 3; 4, 5, 6;

grown[a, b] = m[a, b] * Time
"""
    one = run(tmp_path, text)
    assert one["grown"].shape == (len(one.times), 2, 3)
    assert one["grown"][-1, 1, 2] == 6 * 4
    many = run(tmp_path, text, params={"FINAL TIME": 4, "m": np.ones((2, 3, 5))})
    assert many["grown"].shape == (5, len(many.times), 2, 3)


def test_allocate_available_with_rectangles_is_allocate_by_priority(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
who: first, second, third

field: kind, level, spread, extra

request[who] = 3, 4, 2

profile[who, field] = 1, 3, 0.5, 0; 1, 2, 0.5, 0; 1, 1, 0.5, 0;

by profile[who] = ALLOCATE AVAILABLE(request[who], profile[who, kind], 5)

by priority[who] = ALLOCATE BY PRIORITY(request[who], profile[who, level], 3, 0.5, 5)
""",
    )
    for who in ("first", "second", "third"):
        assert final(result, f"by profile[{who}]") == pytest.approx(final(result, f"by priority[{who}]"))


def test_allocate_available_normal_tails_follow_vensim(tmp_path: Path) -> None:
    """A normal profile seven widths from the cut-off takes what Vensim gives it: its
    approximation of the curve, 4% above the exact normal tail there (which is what
    PySD's runtime computes)."""
    from conftest import TEST_MODELS
    from vensim_output import read_vensim_output

    result = run(
        tmp_path,
        """
branch: Boston, Dayton, Fresno

pprofile: ptype, ppriority, pwidth, pextra

demand1[branch] = 500, 300, 750

priority3 far[branch, pprofile] = 3, 20, 1, 0; 3, 7, 2, 0; 3, 2, 2, 0;

available = 20 * Time

allocation3 far[branch] = ALLOCATE AVAILABLE(demand1[branch], priority3 far[branch, ptype], available)
""",
        params={"FINAL TIME": 24},
    ).to_pandas()
    vensim = read_vensim_output(TEST_MODELS / "tests" / "allocate_available" / "output.tab")
    for branch in ("Boston", "Dayton"):  # Fresno's share is below round-off
        column = f"allocation3 far[{branch}]"
        times = [4.0, 8.0, 12.0, 16.0, 20.0, 24.0]
        expected = vensim.loc[times, column].to_numpy()
        np.testing.assert_allclose(result.loc[times, column], expected, rtol=1e-4, err_msg=column)


@pytest.mark.slow
def test_allocate_available_matches_pysds_runtime(tmp_path: Path) -> None:
    """The rectangular, triangular and exponential profiles against PySD's runtime.
    Not the normal profile: PySD runs the exact normal curve, Vensim (and we) an
    approximation of it (the test above, and Vensim's output in test_conformance)."""
    import shutil
    import warnings

    from conftest import TEST_MODELS

    pysd = pytest.importorskip("pysd")
    source = TEST_MODELS / "tests" / "allocate_available" / "test_allocate_available.mdl"
    path = tmp_path / source.name
    shutil.copy(source, path)
    ours = ns.simulate(ns.load(path)).to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pysd.read_vensim(str(path)).run()
    # "allocation mixed" shares one supply among all four profiles, the normal included.
    columns = [c for c in ours.columns if re.match(r"allocation[124] |allocation[124]\[|allocation zeros", c)]
    assert len(columns) > 40
    for column in columns:
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-6, atol=1e-5, err_msg=column)


MARKET = """
buyer: b1, b2

seller: s1, s2

pprofile: ptype, ppriority, pwidth, pextra

wanted[buyer] = 10, 20

capacity[seller] = 15, 15

demand curve[buyer, pprofile] = 1, 6, 4, 0; 1, 5, 4, 0;

supply curve[seller, pprofile] = 1, 4, 4, 0; 1, 5, 4, 0;

price = FIND MARKET PRICE(wanted[b1], demand curve[b1, ptype], capacity[s1], supply curve[s1, ptype])

bought[buyer] = DEMAND AT PRICE(wanted[buyer], demand curve[buyer, ptype], price)

sold[seller] = SUPPLY AT PRICE(capacity[seller], supply curve[seller, ptype], price)
"""


def test_find_market_price_clears_rectangular_profiles_at_the_analytic_price(tmp_path: Path) -> None:
    """Rectangular profiles are straight lines over priority +- width/2: a buyer
    wants (priority + 2 - price) / 4 of its quantity, a seller offers (price -
    priority + 2) / 4 of its capacity. Demand 10 (8 - p)/4 + 20 (7 - p)/4 meets supply
    15 (p - 2)/4 + 15 (p - 3)/4 at p = 295/60."""
    result = run(tmp_path, MARKET)
    price = 295 / 60
    assert final(result, "price") == pytest.approx(price, rel=1e-12)
    assert final(result, "bought[b1]") == pytest.approx(10 * (8 - price) / 4, rel=1e-12)
    assert final(result, "bought[b2]") == pytest.approx(20 * (7 - price) / 4, rel=1e-12)
    assert final(result, "sold[s1]") == pytest.approx(15 * (price - 2) / 4, rel=1e-12)
    assert final(result, "sold[s2]") == pytest.approx(15 * (price - 3) / 4, rel=1e-12)


def test_market_prices_clear_every_region_and_fall_as_capacity_grows(tmp_path: Path) -> None:
    """Normal and exponential profiles, one market per region (the supply curves
    shared): at each price the quantities bought add up to those sold, and a
    region whose capacity grows sees its price fall."""
    result = run(
        tmp_path,
        """
region: north, south

buyer: b1, b2, b3

seller: s1, s2

pprofile: ptype, ppriority, pwidth, pextra

wanted[region, buyer] = 500, 300, 750; 200, 400, 100;

growth[region, seller] = 20, 0; 0, 10;

capacity[region, seller] = 100 + growth[region, seller] * Time

demand curve[region, buyer, pprofile] = 3, 5, 2, 0; 3, 7, 4, 0; 3, 6, 1, 0; \
4, 5, 2, 0; 4, 7, 4, 0; 4, 6, 1, 0;

supply curve[seller, pprofile] = 3, 1, 2, 0; 3, 3, 4, 0;

price[region] = FIND MARKET PRICE(wanted[region, b1], demand curve[region, b1, ptype], capacity[region, s1], \
supply curve[s1, ptype])

bought[region, buyer] = DEMAND AT PRICE(wanted[region, buyer], demand curve[region, buyer, ptype], \
price[region])

sold[region, seller] = SUPPLY AT PRICE(capacity[region, seller], supply curve[seller, ptype], price[region])
""",
        params={"FINAL TIME": 20},
    ).to_pandas()
    for region in ("north", "south"):
        bought = sum(result[f"bought[{region},{b}]"] for b in ("b1", "b2", "b3"))
        sold = sum(result[f"sold[{region},{s}]"] for s in ("s1", "s2"))
        np.testing.assert_allclose(bought, sold, rtol=1e-9)
        assert (bought > 0).all()
        assert (np.diff(result[f"price[{region}]"]) < 0).all()
    # Each region's market is its own: the same buyers facing other capacities clear elsewhere.
    assert (result["price[north]"] != result["price[south]"]).all()


def test_market_functions_take_subscripted_quantities_and_profiles(tmp_path: Path) -> None:
    text = MARKET.replace("capacity[s1], supply curve", "15, supply curve")
    with pytest.raises(ModelSyntaxError, match="FIND MARKET PRICE takes subscripted quantities") as caught:
        ns.load(write(tmp_path, text))
    assert caught.value.variable == "price"


@pytest.mark.parametrize("ptype", [0, 5])
def test_profile_types_not_written_yet_stop_the_run_with_the_reason(tmp_path: Path, ptype: int) -> None:
    text = MARKET.replace(
        "demand curve[buyer, pprofile] = 1, 6", f"demand curve[buyer, pprofile] = {ptype}, 6"
    )
    with pytest.raises(ns.ParameterError, match=f"ptype must be 1 .* found {ptype} "):
        run(tmp_path, text)


def test_an_array_function_given_numbers_says_so(tmp_path: Path) -> None:
    from nestedsystems.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="ALLOCATE AVAILABLE works on subscripted variables") as caught:
        run(tmp_path, "x = ALLOCATE AVAILABLE(1, 2, 3)")
    assert caught.value.variable == "x" and caught.value.line == 2  # under {UTF-8}


def test_a_lookup_defined_for_some_elements_read_at_one(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3

table[d1]( (0, 1), (10, 11) )

table[d3]( (0, 0), (10, -10) )

first = table[d1](Time)

both[d1] = table[d1](Time)

both[d3] = table[d3](Time)
""",
    )
    assert final(result, "first") == 5
    assert final(result, "both[d1]") == 5 and final(result, "both[d3]") == -4


def test_vector_select(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3, d4

e: e1, e2

picked[d] = 1, 0, 2, 0

values[d] = 10, 20, 30, 40

grid[e, d] = 1, 2, 3, 4; 5, 6, 7, 8;

weighted = VECTOR SELECT(picked[d!], values[d!], -1, 0, 0)

plain sum = VECTOR SELECT(picked[d!], values[d!], -1, 6, 0)

largest = VECTOR SELECT(picked[d!], values[d!], -1, 9, 0)

mean = VECTOR SELECT(picked[d!], values[d!], -1, 10, 0)

none = VECTOR SELECT(picked[d!] * 0, values[d!], -1, 0, 0)

per row[e] = VECTOR SELECT(picked[d!], grid[e, d!], 0, 6, 0)
""",
    )
    assert final(result, "weighted") == 1 * 10 + 2 * 30
    assert final(result, "plain sum") == 40 and final(result, "largest") == 30 and final(result, "mean") == 20
    assert final(result, "none") == -1
    assert [final(result, "per row[e1]"), final(result, "per row[e2]")] == [1 + 3, 5 + 7]


def test_vector_elm_map(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        """
d: d1, d2, d3, d4

values[d] = 10, 20, 30, 40

shift[d] = 3, 1, 0, 0

from first[d] = VECTOR ELM MAP(values[d1], shift[d])

from own[d] = VECTOR ELM MAP(values[d], 0)

two on = VECTOR ELM MAP(values[d2], 2)
""",
    )
    assert [final(result, f"from first[{e}]") for e in ("d1", "d2", "d3", "d4")] == [40, 20, 10, 10]
    assert [final(result, f"from own[{e}]") for e in ("d1", "d2", "d3", "d4")] == [10, 20, 30, 40]
    assert final(result, "two on") == 40


STATEFUL = """
input{s} = {a} + {b} * Time + STEP({c}, 2)

first{s} = INITIAL(input{s})

held{s} = SAMPLE IF TRUE(Time >= 2, input{s}, -1)

late{s} = DELAY FIXED(input{s}, 1, 0)

pipeline{s} = DELAY3(input{s}, 2)

smooth{s} = SMOOTH3I(input{s}, 1.5, 4)

trend{s} = TREND(input{s}, 2, 0)
"""


def test_arrayed_stateful_functions_match_the_same_model_element_by_element(tmp_path: Path) -> None:
    parameters = {"e1": (1, 2, 3), "e2": (5, -1, 0.5), "e3": (0, 0.5, -2)}
    arrayed = "e: e1, e2, e3\n\n" + "\n\n".join(
        f"{line.split('=')[0].strip().format(s='[e]')} = "
        + line.split("=", 1)[1].strip().format(s="[e]", a="a[e]", b="b[e]", c="c[e]")
        for line in STATEFUL.strip().split("\n\n")
    )
    arrayed += "\n\na[e] = 1, 5, 0\n\nb[e] = 2, -1, 0.5\n\nc[e] = 3, 0.5, -2"
    together = run(tmp_path, arrayed)
    for element, (a, b, c) in parameters.items():
        alone = run(tmp_path, STATEFUL.format(s="", a=a, b=b, c=c), name=f"{element}.mdl")
        for name in ("input", "first", "held", "late", "pipeline", "smooth", "trend"):
            np.testing.assert_allclose(together[f"{name}[{element}]"], alone[name], rtol=1e-12, err_msg=name)


def test_return_columns_may_name_single_elements(tmp_path: Path) -> None:
    text = """
a: a1, a2

b: b1, b2, b3

m[a, b] = 1, 2, 3; 4, 5, 6;

grown[a, b] = m[a, b] * Time

k = 7
"""
    result = run(tmp_path, text, return_columns=["grown[a2,b3]", "k", "m"])
    elements = ("m[a1,b1]", "m[a1,b2]", "m[a1,b3]", "m[a2,b1]", "m[a2,b2]", "m[a2,b3]")
    assert result.names == ("grown[a2,b3]", "k", *elements)
    assert final(result, "grown[a2,b3]") == 24 and final(result, "k") == 7
    assert result.to_xarray()["m"].dims == ("run", "time", "a", "b")
    with pytest.raises(ns.ParameterError, match="not a variable"):
        run(tmp_path, text, return_columns=["grown[a3,b1]"])


def test_an_ensemble_of_an_arrayed_model_saves_elements(tmp_path: Path) -> None:
    model = ns.load(
        write(
            tmp_path,
            """
d: d1, d2

rate = 0.1

level[d] = INTEG(-rate * level[d], start[d])

start[d] = 10, 20
""",
        )
    )
    from nestedsystems.ensembles import run_ensemble

    result = run_ensemble(model, {"rate": np.array([0.1, 0.2])}, progress=False)
    assert tuple(result.names) == ("level[d1]", "level[d2]")
    finals = result.outcomes("final")
    np.testing.assert_allclose(finals["level[d2]"], 20 * (1 - np.array([0.1, 0.2]) * 0.5) ** 8)
    one = run_ensemble(model, {"rate": np.array([0.1, 0.2])}, save=["level[d2]"], progress=False)
    np.testing.assert_allclose(one.outcomes("final")["level[d2]"], finals["level[d2]"])


def test_calibration_fits_a_constant_to_one_element_of_an_arrayed_stock(tmp_path: Path) -> None:
    from nestedsystems.calibration import calibrate

    model = ns.load(
        write(
            tmp_path,
            """
d: d1, d2

rate = 0.1

level[d] = INTEG(-rate * level[d], start[d])

start[d] = 10, 20
""",
        )
    )
    truth = ns.simulate(model, params={"rate": 0.25})
    data = pd.DataFrame({"time": truth.times, "level[d2]": truth["level[d2]"]})
    fit = calibrate(model, data, fit={"rate": (0.01, 1.0)})
    assert fit.values["rate"] == pytest.approx(0.25, rel=1e-4)
