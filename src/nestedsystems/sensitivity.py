"""Which uncertain constants matter: Sobol and Morris designs and indices (SALib).

A sensitivity analysis is two halves around one ensemble: a *design* (the parameter
sets a method needs, in the order it needs them) and an *analysis* of one outcome
per member (say, the final number of staff in post). `Design` keeps both halves
together so that the outcomes are analysed against the very table that produced
them.

- Sobol (variance-based): how much of the outcome's variance each constant explains
  alone (S1) and with all its interactions (ST). Needs ``n * (k + 2)`` members.
- Morris (elementary effects): a cheap screen, ``n * (k + 1)`` members; ``mu_star``
  (the mean absolute change of the outcome per step, SALib measuring steps in
  fractions of each range, so it reads "across the whole range") ranks influence,
  ``sigma`` flags nonlinearity or interaction.

SALib is an optional dependency, imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ParameterError

__all__ = ["DESIGNS", "Design", "describe", "design"]

DESIGNS = ("sobol", "morris")


def _salib() -> Any:
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise ParameterError(
            "sensitivity analysis: expected SALib installed, found it missing (pip install SALib)"
        ) from None
    from SALib.analyze import morris as morris_analysis
    from SALib.analyze import sobol as sobol_analysis
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    return sobol_sample, sobol_analysis, morris_sample, morris_analysis


@dataclass(frozen=True)
class Design:
    """The parameter table a sensitivity method needs, and how to analyse its outcomes.

    Attributes
    ----------
    method:
        ``"sobol"`` or ``"morris"``.
    ranges:
        Constant name -> (low, high), uniform.
    samples:
        One row per member, columns in the order of ``ranges``.
    seed:
        The seed the design (and the bootstrap of its confidence intervals) used.
    """

    method: str
    ranges: Mapping[str, tuple[float, float]]
    samples: pd.DataFrame
    seed: int | None = None
    num_levels: int = 4

    @property
    def problem(self) -> dict[str, Any]:
        return {
            "num_vars": len(self.ranges),
            "names": list(self.ranges),
            "bounds": [list(bounds) for bounds in self.ranges.values()],
        }

    def analyse(self, outcome: np.ndarray | pd.Series) -> pd.DataFrame:
        """Indices of each constant for one outcome per member.

        Returns
        -------
        pandas.DataFrame
            Indexed by constant. Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``;
            Morris: ``mu_star``, ``mu_star_conf``, ``mu``, ``sigma``. Sorted by
            influence (``ST`` or ``mu_star``), largest first.
        """
        y = np.asarray(outcome, dtype=float).ravel()
        if y.size != len(self.samples):
            raise ParameterError(
                f"outcome: expected one value per member ({len(self.samples)}), found {y.size}"
            )
        if not np.all(np.isfinite(y)):
            raise ParameterError(
                f"outcome: expected finite values, found {int(np.sum(~np.isfinite(y)))} not finite"
            )
        _, sobol_analysis, _, morris_analysis = _salib()
        names = list(self.ranges)
        if self.method == "sobol":
            indices = sobol_analysis.analyze(self.problem, y, calc_second_order=False, seed=self.seed)
            keys, order = ("S1", "S1_conf", "ST", "ST_conf"), "ST"
        else:
            indices = morris_analysis.analyze(
                self.problem, self.samples.to_numpy(), y, num_levels=self.num_levels, seed=self.seed
            )
            keys, order = ("mu_star", "mu_star_conf", "mu", "sigma"), "mu_star"
        table = pd.DataFrame({key: np.asarray(indices[key], dtype=float) for key in keys}, index=names)
        table.index.name = "constant"
        return table.sort_values(order, ascending=False)


def design(
    ranges: Mapping[str, tuple[float, float]],
    n: int,
    *,
    method: str = "sobol",
    seed: int | None = None,
    num_levels: int = 4,
) -> Design:
    """The members a Sobol or Morris analysis of ``ranges`` needs.

    Parameters
    ----------
    ranges:
        Constant name -> (low, high).
    n:
        Base sample size: Sobol makes ``n * (k + 2)`` members (``n`` is rounded up to
        a power of two, which Sobol sequences need), Morris ``n * (k + 1)`` (``n``
        trajectories).
    method:
        ``"sobol"`` or ``"morris"``.
    seed:
        Makes the design reproducible.
    num_levels:
        Morris grid levels.
    """
    if method not in DESIGNS:
        raise ParameterError(f"sensitivity method: expected one of {', '.join(DESIGNS)}, found {method!r}")
    if len(ranges) < 2 if method == "morris" else len(ranges) < 1:
        raise ParameterError(f"{method} design: expected more uncertain constants, found {len(ranges)}")
    if n < 2:
        raise ParameterError(f"{method} design: expected a base sample of at least 2, found {n}")
    sobol_sample, _, morris_sample, _ = _salib()
    problem = Design(method, dict(ranges), pd.DataFrame(), seed).problem
    if method == "sobol":
        base = 1 << int(np.ceil(np.log2(n)))
        table = sobol_sample.sample(problem, base, calc_second_order=False, seed=seed)
    else:
        table = morris_sample.sample(problem, n, num_levels=num_levels, seed=seed)
    samples = pd.DataFrame(table, columns=list(ranges))
    return Design(method, dict(ranges), samples, seed, num_levels)


def describe(indices: pd.DataFrame, outcome: str, *, top: int = 5) -> list[str]:
    """The most influential constants, in words, one sentence each."""
    lines = []
    for name, row in indices.head(top).iterrows():
        if "ST" in indices.columns:
            lines.append(
                f"{name!s} explains {100 * max(row['S1'], 0):.0f}% of the variance of {outcome} alone "
                f"and {100 * max(row['ST'], 0):.0f}% with its interactions"
            )
        else:
            bend = "nonlinear or interacting" if row["sigma"] > 0.5 * row["mu_star"] else "mostly linear"
            lines.append(
                f"{name!s} moves {outcome} by {row['mu_star']:.3g} on average across its whole range "
                f"(mean absolute elementary effect; {bend})"
            )
    return lines
