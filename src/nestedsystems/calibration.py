"""Calibration: fit constants so that the model reproduces observed time series.

The fit is weighted least squares (`scipy.optimize.least_squares`, trust region
reflective, so bounds are honoured): the residuals are model minus data at every
observed time of every observed series, missing observations skipped. Each series
is divided by its own spread (the standard deviation of its observations) so that a
series counted in thousands does not drown one counted in fractions; ``weights``
multiply on top.

Why the Jacobian is ours: it needs ``2p`` runs (central differences), and the
engine has two ways to make them. A single run goes through its compiled scalar
kernel in milliseconds; many go through the vectorised one, whose cost hardly
grows with their number but starts near a second for a large model. So up to
`SINGLE_RUNS_UP_TO` members run one by one, more in one vectorised call. The same
Jacobian at the optimum gives the covariance of the estimates, ``s^2 (J^T J)^-1``
with ``s^2`` the residual variance, hence standard errors and Student-t confidence intervals.

Several starts (``starts``, Latin hypercube over the bounds) guard against local
minima; on a Dask ``client`` each start runs on a worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import qmc

from .arrays import is_element
from .errors import ParameterError
from .expressions import Number
from .model import Kind, Model
from .progress import progress_bar

__all__ = ["SINGLE_RUNS_UP_TO", "Calibration", "calibrate", "plot_fit", "read_data"]

# Below this many parameter sets, single runs (compiled scalar kernel) beat one
# vectorised run: measured 4 ms vs 0.2 s on SIR, 10 ms vs 3 s on the flagship.
SINGLE_RUNS_UP_TO = 32


def read_data(path: str | PathLike[str]) -> pd.DataFrame:
    """Observed series from a CSV file: a ``time`` column, then one column per variable.

    Empty cells are missing observations. Raises `ParameterError` when there is no
    time column or a cell holds text that is not a number.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ParameterError(f"--data {str(path)!r}: expected a CSV file, found {error}") from None
    return _checked_data(table, str(path))


def _checked_data(table: pd.DataFrame, where: str) -> pd.DataFrame:
    times = [c for c in table.columns if str(c).strip().lower() == "time"]
    if not times:
        raise ParameterError(f"{where}: expected a 'time' column, found {', '.join(map(str, table.columns))}")
    table = table.rename(columns={times[0]: "time"})
    for column in table.columns:
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = numbers.isna() & table[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ParameterError(
                f"{where}: column {column!r} row {row + 2}: "
                f"expected a number, found {table[column].iloc[row]!r}"
            )
        table[column] = numbers.astype(float)
    if table["time"].isna().any():
        raise ParameterError(f"{where}: column 'time': expected a time on every row, found a blank")
    return table.sort_values("time").reset_index(drop=True)


@dataclass
class Calibration:
    """The outcome of `calibrate`.

    Attributes
    ----------
    estimates:
        Indexed by constant: ``value``, ``standard_error``, ``low``, ``high`` (the
        confidence interval at ``confidence``), ``lower_bound``, ``upper_bound``.
    statistics:
        Indexed by series (and ``all``): observations ``n``, ``rmse`` in the series'
        units, ``r2``, and the ``weight`` used.
    covariance:
        Of the estimates, from the Jacobian at the optimum.
    data:
        The observations.
    fitted:
        The model's saved series with the fitted constants (``time`` column first).
    """

    estimates: pd.DataFrame
    statistics: pd.DataFrame
    covariance: np.ndarray
    confidence: float
    data: pd.DataFrame
    fitted: pd.DataFrame
    cost: float
    success: bool
    message: str
    evaluations: int
    starts: list[float] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        """Fitted constant -> value, ready for ``simulate(params=...)``."""
        return {str(k): float(v) for k, v in self.estimates["value"].items()}

    def summary(self) -> str:
        """The estimates and fit statistics as a few lines of text."""
        lines = [f"fitted constants ({100 * self.confidence:g}% confidence intervals):"]
        for name, row in self.estimates.iterrows():
            lines.append(
                f"  {name} = {row['value']:.6g}  [{row['low']:.6g}, {row['high']:.6g}]"
                f"  (standard error {row['standard_error']:.3g})"
            )
        lines.append("fit:")
        for name, row in self.statistics.iterrows():
            lines.append(
                f"  {name}: RMSE {row['rmse']:.4g}, R² {row['r2']:.4f} over {int(row['n'])} observations"
            )
        if not self.success:
            lines.append(f"warning: the optimiser stopped early: {self.message}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Problem:
    """Everything a fit needs, picklable so that a start can run on a Dask worker."""

    model: Model
    names: tuple[str, ...]
    series: tuple[str, ...]
    times: np.ndarray
    observed: np.ndarray  # (times, series), NaN where missing
    weights: np.ndarray  # (series,)
    lower: np.ndarray
    upper: np.ndarray
    method: str

    def simulate(self, thetas: np.ndarray) -> tuple[np.ndarray, Any]:
        """Model series at the observed times for each row of ``thetas``: (members, times, series)."""
        from .ensembles import _compiled
        from .simulation import simulate

        compiled = _compiled(self.model)
        columns = list(self.series)
        if len(thetas) <= SINGLE_RUNS_UP_TO:
            runs = [
                simulate(
                    compiled,
                    params=dict(zip(self.names, map(float, theta), strict=True)),
                    method=self.method,
                    return_columns=columns,
                )
                for theta in thetas
            ]
            run = runs[0]
            values = np.stack(
                [np.asarray(r.values, dtype=float).reshape(len(r.times), len(columns)) for r in runs]
            )
        else:
            params = {name: thetas[:, i] for i, name in enumerate(self.names)}
            run = simulate(compiled, params=params, method=self.method, return_columns=columns)
            values = np.asarray(run.values, dtype=float).reshape(len(thetas), len(run.times), len(columns))
        if self.times[0] < run.times[0] - 1e-9 or self.times[-1] > run.times[-1] + 1e-9:
            raise ParameterError(
                f"data times: expected them within the model's {run.times[0]:g} to {run.times[-1]:g}, "
                f"found {self.times[0]:g} to {self.times[-1]:g}"
            )
        at = np.empty((len(thetas), len(self.times), len(self.series)))
        for m in range(len(thetas)):
            for s in range(len(self.series)):
                at[m, :, s] = np.interp(self.times, run.times, values[m, :, s])
        return at, run

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        return self._weighted(self.simulate(theta[None, :])[0][0])

    def _weighted(self, at: np.ndarray) -> np.ndarray:
        mask = ~np.isnan(self.observed)
        return ((at - np.nan_to_num(self.observed)) * self.weights)[mask]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        # Central differences, one-sided at a bound; all 2p members in one run.
        step = np.cbrt(np.finfo(float).eps) * np.maximum(np.abs(theta), 1.0)
        up = np.minimum(theta + step, self.upper)
        down = np.maximum(theta - step, self.lower)
        p = len(theta)
        thetas = np.repeat(theta[None, :], 2 * p, axis=0)
        thetas[np.arange(p), np.arange(p)] = up
        thetas[p + np.arange(p), np.arange(p)] = down
        at = self.simulate(thetas)[0]
        columns = [(self._weighted(at[i]) - self._weighted(at[p + i])) / (up[i] - down[i]) for i in range(p)]
        return np.column_stack(columns)


def _fit_from(problem: _Problem, start: np.ndarray) -> optimize.OptimizeResult:
    """One least-squares fit from one starting point (a Dask task when distributed)."""
    return optimize.least_squares(
        problem.residuals,
        start,
        jac=problem.jacobian,
        bounds=(problem.lower, problem.upper),
        method="trf",
        x_scale="jac",
    )


def _starting_points(problem: _Problem, first: np.ndarray, starts: int, seed: int | None) -> list[np.ndarray]:
    points = [first]
    if starts > 1:
        unit = qmc.LatinHypercube(d=len(first), seed=np.random.default_rng(seed)).random(starts - 1)
        # unbounded constants wander over a factor of two around their first guess
        low = np.where(np.isfinite(problem.lower), problem.lower, first - np.maximum(np.abs(first), 1.0))
        high = np.where(np.isfinite(problem.upper), problem.upper, first + np.maximum(np.abs(first), 1.0))
        points += list(low + unit * (high - low))
    return points


def calibrate(
    model: Model,
    data: pd.DataFrame | str | PathLike[str],
    fit: Mapping[str, tuple[float | None, float | None]] | Sequence[str],
    *,
    weights: Mapping[str, float] | None = None,
    scenario: Any = None,
    method: str = "euler",
    confidence: float = 0.95,
    starts: int = 1,
    seed: int | None = 0,
    client: Any = None,
    progress: bool | None = None,
) -> Calibration:
    """Fit constants of ``model`` to observed series.

    Parameters
    ----------
    model:
        The model; its current constant values are the first starting point.
    data:
        A DataFrame (or CSV path) with a ``time`` column and columns named as model
        variables; NaN marks a missing observation.
    fit:
        Constant names, or name -> (low, high) bounds (None: the model's range, else
        unbounded).
    weights:
        Series name -> weight, multiplying the default 1 / spread of the series.
    scenario:
        A `Scenario` or path, applied before fitting.
    method:
        Integration method, as for `simulate`.
    confidence:
        Level of the reported intervals.
    starts:
        Fits from this many starting points (the model's values, then a Latin
        hypercube over the bounds); the best is kept.
    seed:
        Seed of the extra starting points.
    client:
        A `dask.distributed.Client`: each start runs on a worker.
    progress:
        Show a bar over the starts; None only on a terminal.
    """
    from .ensembles import _apply

    model = _apply(model, scenario)
    table = data if isinstance(data, pd.DataFrame) else read_data(data)
    table = _checked_data(table.copy(), "data")
    problem = _problem(model, table, fit, weights or {}, method)
    # `_problem` admits only constants holding one number
    first = np.array([float(cast(Number, model[name].equation).value) for name in problem.names])
    first = np.clip(first, problem.lower, problem.upper)
    points = _starting_points(problem, first, starts, seed)
    with progress_bar(len(points), description="calibration", enabled=progress, unit="start") as bar:
        if client is None:
            results = []
            for point in points:
                results.append(_fit_from(problem, point))
                bar.update()
        else:
            futures = [client.submit(_fit_from, problem, point, pure=False, retries=3) for point in points]
            results = []
            for future in futures:
                results.append(future.result())
                bar.update()
    best = min(range(len(results)), key=lambda i: (results[i].cost, i))
    return _report(problem, table, results[best], confidence, [float(r.cost) for r in results])


def _problem(
    model: Model,
    table: pd.DataFrame,
    fit: Mapping[str, tuple[float | None, float | None]] | Sequence[str],
    weights: Mapping[str, float],
    method: str,
) -> _Problem:
    given = dict(fit) if isinstance(fit, Mapping) else dict.fromkeys(fit, (None, None))
    if not given:
        raise ParameterError("--fit: expected at least one constant to fit, found none")
    names, lower, upper = [], [], []
    for name, (low, high) in given.items():
        variable = model.get(name)
        if variable is None or variable.kind is not Kind.CONSTANT:
            found = "no such variable" if variable is None else f"a {variable.kind.value}"
            raise ParameterError(f"--fit {name!r}: expected a constant of {model.name}, found {found}")
        if not isinstance(variable.equation, Number):
            found = f"subscripts [{', '.join(variable.dims)}]" if variable.dims else "an expression"
            raise ParameterError(f"--fit {name!r}: expected a constant holding one number, found {found}")
        low = variable.range.minimum if low is None else low
        high = variable.range.maximum if high is None else high
        names.append(variable.name)
        lower.append(-np.inf if low is None else float(low))
        upper.append(np.inf if high is None else float(high))
        if not lower[-1] < upper[-1]:
            raise ParameterError(f"--fit {name!r}: expected LOW < HIGH, found {low} and {high}")
    series = [str(c) for c in table.columns if c != "time"]
    if not series:
        raise ParameterError("data: expected at least one observed series besides 'time', found none")
    for name in series:
        if name not in model and not is_element(model, name):  # Stock[a1] of an arrayed stock
            raise ParameterError(
                f"data column {name!r}: expected a variable of {model.name}, found no such variable"
            )
    for name in weights:
        if name not in series:
            raise ParameterError(f"--weight {name!r}: expected one of the observed {', '.join(series)}")
    observed = table[series].to_numpy(dtype=float)
    spread = np.nanstd(observed, axis=0)
    scale = np.where(spread > 0, spread, np.maximum(np.abs(np.nanmean(observed, axis=0)), 1.0))
    factors = np.array([float(weights.get(name, 1.0)) for name in series])
    if np.any(factors < 0) or not np.all(np.isfinite(factors)):
        raise ParameterError(f"--weight: expected finite weights >= 0, found {dict(weights)}")
    return _Problem(
        model=model,
        names=tuple(names),
        series=tuple(series),
        times=table["time"].to_numpy(dtype=float),
        observed=observed,
        weights=factors / scale,
        lower=np.array(lower),
        upper=np.array(upper),
        method=method,
    )


def _report(
    problem: _Problem,
    table: pd.DataFrame,
    result: optimize.OptimizeResult,
    confidence: float,
    costs: list[float],
) -> Calibration:
    theta = np.asarray(result.x, dtype=float)
    residuals = problem.residuals(theta)
    jacobian = problem.jacobian(theta)
    dof = max(residuals.size - theta.size, 1)
    variance = float(residuals @ residuals) / dof
    covariance = variance * np.linalg.pinv(jacobian.T @ jacobian)
    error = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    t = float(stats.t.ppf(0.5 + confidence / 2, dof))
    estimates = pd.DataFrame(
        {
            "value": theta,
            "standard_error": error,
            "low": theta - t * error,
            "high": theta + t * error,
            "lower_bound": problem.lower,
            "upper_bound": problem.upper,
        },
        index=pd.Index(problem.names, name="constant"),
    )
    at, run = problem.simulate(theta[None, :])
    rows = {}
    mask = ~np.isnan(problem.observed)
    for s, name in enumerate(problem.series):
        observed, model = problem.observed[mask[:, s], s], at[0, mask[:, s], s]
        rows[name] = _statistics(observed, model, problem.weights[s])
    rows["all"] = _statistics(problem.observed[mask], at[0][mask], np.nan)
    statistics = pd.DataFrame(rows).T
    statistics.index.name = "series"
    fitted = pd.DataFrame({"time": run.times})
    values = np.asarray(run.values, dtype=float).reshape(len(run.times), len(problem.series))
    for s, name in enumerate(problem.series):
        fitted[name] = values[:, s]
    return Calibration(
        estimates=estimates,
        statistics=statistics,
        covariance=covariance,
        confidence=confidence,
        data=table,
        fitted=fitted,
        cost=float(result.cost),
        success=bool(result.success),
        message=str(result.message),
        evaluations=int(result.nfev),
        starts=costs,
    )


def _statistics(observed: np.ndarray, model: np.ndarray, weight: float) -> dict[str, float]:
    residual = model - observed
    total = float(np.sum((observed - observed.mean()) ** 2)) if observed.size else 0.0
    return {
        "n": float(observed.size),
        "rmse": float(np.sqrt(np.mean(residual**2))) if observed.size else np.nan,
        "r2": 1.0 - float(residual @ residual) / total if total > 0 else np.nan,
        "weight": weight,
    }


def plot_fit(calibration: Calibration, path: str | PathLike[str]) -> Path:
    """Write an HTML page (Bokeh) with one figure per series: the data and the fitted run."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from bokeh.resources import CDN

    figures = []
    for name in calibration.fitted.columns[1:]:
        row = calibration.statistics.loc[name]
        plot = figure(
            title=f"{name}: RMSE {row['rmse']:.4g}, R² {row['r2']:.3f}",
            x_axis_label="time",
            y_axis_label=str(name),
            width=800,
            height=300,
        )
        fitted = ColumnDataSource({"time": calibration.fitted["time"], "value": calibration.fitted[name]})
        observed = calibration.data[["time", name]].dropna()
        data = ColumnDataSource({"time": observed["time"], "value": observed[name]})
        plot.line("time", "value", source=fitted, line_width=2, legend_label="fitted model")
        plot.scatter("time", "value", source=data, size=5, color="black", alpha=0.6, legend_label="data")
        plot.legend.location = "top_left"
        figures.append(plot)
    fitted_values = ", ".join(f"{k} = {v:.4g}" for k, v in calibration.values.items())
    path = Path(path)
    path.write_text(file_html(column(*figures), CDN, f"Calibration: {fitted_values}"), encoding="utf-8")
    return path
