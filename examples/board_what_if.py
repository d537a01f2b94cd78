"""What if we adopt trauma-informed care in year 1 and protect funding?

A board's question, answered with the flagship model: after a crisis year has pushed
the program toward a trauma-organized state, compare doing nothing with adopting the
Sanctuary Model at month 12 while protecting funding (six months of reserves and an
indexed three-year contract). Prints turnover, restraint and climate at years 1-5.

Run:  python examples/board_what_if.py
"""

from dataclasses import replace
from pathlib import Path

import nestedsystems as ns
from nestedsystems.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    model = ns.load(ROOT / "models" / "nested_systems.mdl")
    crisis = load_scenario(ROOT / "models" / "scenarios" / "crisis_year.toml")
    adopt = replace(
        crisis,
        name="Adopt Sanctuary in year 1, protect funding",
        settings=(
            *crisis.settings,
            ("Sanctuary adoption", 1),
            ("Sanctuary start month", 12),
            ("Reserve policy", 6),
            ("Contract length", 3),
            ("Inflation indexing", 1),
        ),
    )
    columns = ["Annual staff turnover", "Restraints per 1000 client days", "Organizational climate"]
    for scenario in (crisis, adopt):
        frame = ns.simulate(model, scenario=scenario, return_columns=columns).to_pandas()
        print(scenario.name)
        for year in range(1, 6):
            row = frame.loc[12 * year]
            print(
                f"  year {year}: turnover {row['Annual staff turnover']:5.1f}%/yr, "
                f"restraints {row['Restraints per 1000 client days']:5.1f} per 1,000 client days, "
                f"climate {row['Organizational climate']:.2f}"
            )


if __name__ == "__main__":
    main()
