"""A tipping point in the flagship model, for a classroom.

A one-year surge of acute referrals, with a scandal in month 3, is applied at growing
strengths. Below a threshold the program bounces back; above it, it slides into a
trauma-organized state and stays there after the crisis has ended (hysteresis).
All strengths run at once as one vectorised ensemble.

Run:  python examples/educator_tipping_point.py
"""

from pathlib import Path

import numpy as np

import nestedsystems as ns

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    model = ns.load(ROOT / "models" / "nested_systems.mdl")
    surge = np.round(np.arange(0.0, 0.55, 0.05), 2)
    run = ns.simulate(
        model,
        params={
            "Acuity surge": surge,
            "Acuity surge start month": np.full(surge.size, 0.0),
            "Acuity surge duration": np.full(surge.size, 12.0),
            "Scandal size": np.full(surge.size, 0.5),
            "Scandal month": np.full(surge.size, 3.0),
        },
        return_columns=["Staff strain", "Annual staff turnover"],
    )
    strain = np.asarray(run["Staff strain"])
    turnover = np.asarray(run["Annual staff turnover"])
    print("acuity surge for a year (and a scandal) -> staff strain and turnover ten years later")
    for i, size in enumerate(surge):
        state = "trapped" if strain[i, -1] > 0.5 else "recovered"
        print(f"  +{size:4.0%}: strain {strain[i, -1]:.2f}, turnover {turnover[i, -1]:5.1f}%/yr  ({state})")


if __name__ == "__main__":
    main()
