"""Compare every saved scenario of the flagship model and write the result to CSV.

For a modeler: each TOML file in models/scenarios is applied to the model (a pure
function, the model itself is never changed), simulated, and summarised at months
24, 60 and 120 by the outputs a board reads. The table goes to
scenario_comparison.csv (or the path given as the first argument).

Run:  python examples/modeler_compare_scenarios.py [out.csv]
"""

import sys
from pathlib import Path

import pandas as pd

import nestedsystems as ns
from nestedsystems.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = [
    "Annual staff turnover",
    "Restraints per 1000 client days",
    "Burnout prevalence",
    "Organizational climate",
    "Average client distress",
    "Months of reserves",
]


def compare(months: tuple[int, ...] = (24, 60, 120)) -> pd.DataFrame:
    """One row per scenario and month, one column per output."""
    model = ns.compile_model(ns.load(ROOT / "models" / "nested_systems.mdl"))
    rows = []
    for path in sorted((ROOT / "models" / "scenarios").glob("*.toml")):
        scenario = load_scenario(path)
        frame = ns.simulate(model.model, scenario=scenario, return_columns=OUTPUTS).to_pandas()
        for month in months:
            rows.append({"scenario": path.stem, "month": month, **frame.loc[month, OUTPUTS].to_dict()})
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path("scenario_comparison.csv")
    table = compare()
    table.to_csv(out, index=False)
    print(table[table.month == 120].round(2).to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
