"""The result of a simulation: times, names and a (runs, times, variables) array.

Conversion to pandas, xarray, CSV and Parquet happens here, at the edge; the
engine only ever hands over arrays.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ParameterError, SimulationError
from .expressions import canonical

__all__ = ["Run"]


@dataclass(frozen=True, eq=False)
class Run:
    """A simulation result.

    Attributes
    ----------
    times:
        Saved times, shape (n_times,).
    names:
        Variable names as written in the model file.
    values:
        Shape (n_runs, n_times, n_variables).
    ensemble:
        True when the run was asked for with array parameters (it then keeps
        its run axis even when N is 1).
    method:
        The integration method used.
    """

    times: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    ensemble: bool = False
    method: str = "euler"
    model_name: str = "model"
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    order: tuple[str, ...] = field(default=(), repr=False)  # evaluation order, for NaN reports
    # Arrayed variables: name -> (dimension names, elements of each dimension). Their
    # columns in ``names`` are ``Name[e1,e2]``, consecutive and row-major.
    dimensions: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def n_runs(self) -> int:
        return int(self.values.shape[0])

    @functools.cached_property
    def _columns(self) -> dict[str, int]:
        return {canonical(candidate): j for j, candidate in reversed(list(enumerate(self.names)))}

    def _column(self, name: str) -> int:
        try:
            return self._columns[canonical(name)]
        except KeyError:
            raise KeyError(f"no variable named {name!r} in this run") from None

    def __getitem__(self, name: str) -> np.ndarray:
        """One variable: shape (n_times,) for a single run, (n_runs, n_times) for an ensemble.

        An arrayed variable's name (``"Stock"``, not ``"Stock[a1]"``) gives all its
        elements, with one more axis per dimension: (n_times, *sizes) for a single run.
        """
        try:
            series = self.values[:, :, self._column(name)]
        except KeyError:
            block = self._block(name)
            if block is None:
                raise
            series = block
        return series if self.ensemble else series[0]

    def _block(self, name: str) -> np.ndarray | None:
        """An arrayed variable's columns as (n_runs, n_times, *sizes), or None."""
        key = canonical(name)
        for variable, (_, elements) in self.dimensions.items():
            if canonical(variable) != key:
                continue
            first = f"{variable}[{','.join(e[0] for e in elements)}]"
            if first not in self.names:
                return None
            j = self.names.index(first)
            sizes = tuple(len(e) for e in elements)
            width = int(np.prod(sizes))
            return self.values[:, :, j : j + width].reshape(self.n_runs, len(self.times), *sizes)
        return None

    def __contains__(self, name: str) -> bool:
        try:
            self._column(name)
        except KeyError:
            return False
        return True

    def to_pandas(self) -> pd.DataFrame:
        """Index ``time`` (or (``run``, ``time``) for an ensemble); one column per variable."""
        if not self.ensemble:
            frame = pd.DataFrame(
                self.values[0], index=pd.Index(self.times, name="time"), columns=list(self.names)
            )
            return frame
        index = pd.MultiIndex.from_product([range(self.n_runs), self.times], names=["run", "time"])
        flat = self.values.reshape(self.n_runs * len(self.times), len(self.names))
        return pd.DataFrame(flat, index=index, columns=list(self.names))

    def to_xarray(self) -> Any:
        """An `xarray.Dataset` with dimensions (run, time), one data variable per model
        variable; an arrayed variable keeps its subscript ranges as further dimensions,
        with the elements as coordinates."""
        import xarray as xr

        coords: dict[str, Any] = {"run": np.arange(self.n_runs), "time": self.times}
        data: dict[str, Any] = {}
        arrayed: set[int] = set()
        for name, (dims, elements) in self.dimensions.items():
            block = self._block(name)
            if block is None:
                continue
            j = self.names.index(f"{name}[{','.join(e[0] for e in elements)}]")
            data[name] = (("run", "time", *dims), block)
            coords.update({d: list(e) for d, e in zip(dims, elements, strict=True)})
            arrayed.update(range(j, j + int(np.prod(block.shape[2:]))))
        for j, name in enumerate(self.names):
            if j not in arrayed:
                data[name] = (("run", "time"), self.values[:, :, j])
        return xr.Dataset(data, coords=coords)

    def write(self, path: str | Path) -> Path:
        """Write the run as CSV, or Parquet when the name ends in .parquet: ``time`` first."""
        path = Path(path)
        frame = self.to_pandas().reset_index()
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(path, index=False)
        elif path.suffix.lower() in (".csv", ".tab", ".tsv", ".txt"):
            frame.to_csv(path, index=False, sep="\t" if path.suffix.lower() in (".tab", ".tsv") else ",")
        else:
            raise ParameterError(
                f"output {path}: expected a .csv, .tab or .parquet file, found {path.suffix!r}"
            )
        return path

    def check_finite(self) -> None:
        """Raise `SimulationError` naming the first variable that became NaN or infinite."""
        if np.isfinite(np.add.reduce(self.values, axis=None)):
            return  # NaN and infinity survive a sum; a finite sum means every value is finite
        finite = np.isfinite(self.values)
        if finite.all():
            return  # the sum overflowed, not a value
        bad_times = np.nonzero(~finite.all(axis=(0, 2)))[0]
        i = int(bad_times[0])
        bad = [self.names[j] for j in np.nonzero(~finite[:, i, :].all(axis=0))[0]]
        ranked = [name for name in self.order if name in bad] or bad
        name = ranked[0]
        value = self.values[:, i, self._column(name)]
        what = "NaN" if np.isnan(value).any() else "infinite"
        inputs = ", ".join(
            f"{dep}={self._format(self.values[:, max(i - 1, 0), self._column(dep)])}"
            for dep in self.dependencies.get(name, ())
            if dep in self
        )
        message = f"variable {name!r} became {what} at t={self.times[i]:g}"
        if inputs:
            message += f"; one saved step earlier its inputs were {inputs}"
        message += " (pass on_nonfinite='ignore' to keep the run)"
        raise SimulationError(message, variable=name, time=float(self.times[i]))

    @staticmethod
    def _format(values: np.ndarray) -> str:
        return f"{values[0]:.6g}" if values.size == 1 else f"[{values.min():.4g} .. {values.max():.4g}]"

    def summary(self, limit: int = 12) -> str:
        """A short text table: each variable's initial, final, minimum and maximum."""
        lines = [
            f"{self.model_name}: {len(self.names)} variables, t = {self.times[0]:g} .. {self.times[-1]:g}"
            f" ({len(self.times)} saved times, {self.method})"
        ]
        width = min(max((len(n) for n in self.names), default=10), 40)
        lines.append(f"{'variable':<{width}}  {'initial':>12} {'final':>12} {'min':>12} {'max':>12}")
        for j, name in enumerate(self.names[:limit]):
            column = self.values[0, :, j]
            lines.append(
                f"{name[:width]:<{width}}  {column[0]:>12.6g} {column[-1]:>12.6g}"
                f" {np.nanmin(column):>12.6g} {np.nanmax(column):>12.6g}"
            )
        if len(self.names) > limit:
            lines.append(f"... and {len(self.names) - limit} more (use --output FILE for all)")
        return "\n".join(lines)
