"""A tipping point in the flagship model, for a classroom.

A one-year surge of acute referrals, with a scandal in month 3, is applied at growing
strengths. Below a threshold the program bounces back; above it, it slides into a
trauma-organized state and stays there long after the surge has ended (hysteresis).
Every strength runs at once as one vectorised ensemble; a second, finer ensemble
between the last strength that recovers and the first that does not finds the
tipping point to a quarter of a percent.

Run:  python examples/educator_tipping_point.py
"""

from pathlib import Path

import numpy as np

import nestedsystems as ns

ROOT = Path(__file__).resolve().parents[1]
TRAPPED_STRAIN = 0.5  # staff strain ten years on: the reference state is 0.35, the trap about 0.7


def ten_years_on(model: ns.Model, surge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Staff strain and turnover at month 120 after a year's surge of each strength."""
    n = surge.size
    run = ns.simulate(
        model,
        params={
            "Acuity surge": surge,
            "Acuity surge start month": np.zeros(n),
            "Acuity surge duration": np.full(n, 12.0),
            "Scandal size": np.full(n, 0.5),
            "Scandal month": np.full(n, 3.0),
        },
        return_columns=["Staff strain", "Annual staff turnover"],
    )
    return np.asarray(run["Staff strain"])[:, -1], np.asarray(run["Annual staff turnover"])[:, -1]


def main() -> None:
    model = ns.load(ROOT / "models" / "nested_systems.mdl")
    surge = np.round(np.arange(0.0, 0.85, 0.05), 2)
    strain, turnover = ten_years_on(model, surge)
    print("acuity surge for a year (and a scandal) -> staff strain and turnover ten years later")
    for size, s, t in zip(surge, strain, turnover, strict=True):
        state = "trapped" if s > TRAPPED_STRAIN else "recovered"
        print(f"  +{size:4.0%}: strain {s:.2f}, turnover {t:5.1f}%/yr  ({state})")
    trapped = strain > TRAPPED_STRAIN
    if trapped.any() and not trapped.all():
        first = int(np.argmax(trapped))
        fine = np.linspace(surge[first - 1], surge[first], 21)
        fine_trapped = ten_years_on(model, fine)[0] > TRAPPED_STRAIN
        tipping = fine[int(np.argmax(fine_trapped))]
        print(f"tipping point: a surge of about +{tipping:.2%} (between +{fine[0]:.0%} and +{fine[-1]:.0%})")


if __name__ == "__main__":
    main()
