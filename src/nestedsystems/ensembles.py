"""Ensembles: one model, many parameter sets, run in chunks, locally or on Dask.

An ensemble is a transformation of one solve: the engine already runs a whole
parameter table in one vectorised call, so an ensemble only cuts the table into
chunks (thousands of members each, so that numpy's per-operation cost is shared),
runs them one after another or on a Dask cluster, and assembles the saved
variables into an `xarray.Dataset` with dimensions ``(run, time)``.

Why chunks and not single runs: a member costs microseconds inside a vectorised
chunk and milliseconds alone; shipping a Dask task costs about a millisecond. A
chunk of a thousand members makes both overheads vanish.

What travels to a worker is the `Model` (a small frozen IR that pickles), never the
`CompiledModel`: each worker process compiles once and keeps the result in a cache
keyed by the model's hash. Chunks are cut the same way locally and on a cluster,
and each chunk is computed by the same function, so one seed gives bit-identical
results wherever the ensemble runs.

Large ensembles and memory. Keeping every member costs runs x times x variables x
8 bytes (100,000 SIR members saving 10 variables every step would take 25 GB).
When that exceeds ``memory_limit`` (or ``keep_runs=False``) only summaries are
kept: for every (time, variable) a histogram merged chunk by chunk, and per member
its final, minimum, maximum and mean (enough for sensitivity analysis). Histograms
rather than a t-digest or P² markers because they merge exactly and vectorise over
all (time, variable) cells at once with one `numpy.bincount`; their bins come from
the first chunk's spread (padded), values outside fall in two open end bins bounded
by the exact running minimum and maximum. A quantile is then exact to within one
bin (``bins`` default 256, so 0.4 % of the padded spread; `EnsembleResult.quantile_error`
says how far) at a fixed memory of times x variables x (bins + 2) counters. When
the members are kept, quantiles are exact (`numpy.quantile`).

Members that break. Over a wide parameter range some members of a model may blow up
(a stock divided by a delay sampled near zero). One such member should not cost the
other thousands: by default (``on_nonfinite="mark"``) a member with a NaN or infinite
saved value is marked in `EnsembleResult.failed`, left out of quantiles and
histograms, its per-member statistics read NaN, and `EnsembleResult.failure` says
how many broke and where the first one did. ``on_nonfinite="raise"`` stops instead.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import noise
from .errors import ParameterError, SimulationError
from .expressions import Number, canonical
from .model import Kind, Model
from .progress import progress_bar

__all__ = ["STATISTICS", "EnsembleResult", "connect", "run_ensemble"]

# Per-member summaries kept even when the members themselves are not.
STATISTICS = ("final", "min", "max", "mean")

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_MEMORY_LIMIT = 512 * 2**20
ON_NONFINITE = ("mark", "raise")


@functools.lru_cache(maxsize=8)
def _compiled(model: Model) -> Any:
    # One compile per model per process: on a Dask worker every later chunk of the
    # same ensemble (and of the next one on the same model) reuses it.
    from .compiler import compile_model

    return compile_model(model)


def simulate_chunk(
    model: Any,
    params: Mapping[str, np.ndarray],
    method: str,
    save: tuple[str, ...],
    edges: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> dict[str, Any]:
    """Run one chunk of members; the unit of work shipped to a Dask worker.

    ``model`` is a `Model` (compiled once per process) or, in this process only, a
    `CompiledModel`. Returns a dict with ``times``, per-member ``statistics`` (stat ->
    (n, variables)), the ``failed`` mask of members with a non-finite value and, for
    the first of them, ``failure`` (member in the chunk, variable, time); then either
    ``values`` (n, times, variables) or, when ``edges`` (low, width, bins) are given,
    the histogram ``counts`` and the chunk's ``low``/``high`` extremes, both over the
    members that did not fail.
    """
    from .compiler import CompiledModel
    from .simulation import simulate

    compiled = model if isinstance(model, CompiledModel) else _compiled(model)
    run = simulate(
        compiled, params=dict(params), method=method, return_columns=list(save), on_nonfinite="ignore"
    )
    values = np.asarray(run.values, dtype=float)
    n = len(next(iter(params.values()))) if params else 1
    if values.shape[0] != n:  # a chunk with one member may come back without its run axis
        values = np.broadcast_to(values, (n, *values.shape[1:]))
    finite = np.isfinite(values)
    failed = ~finite.all(axis=(1, 2))
    # Reducing over time along a (run, time, variable) array with few variables is
    # slow (numpy's inner loop runs over the short axis); one copy with time last
    # makes the three reductions six times faster.
    series = np.ascontiguousarray(values.transpose(0, 2, 1))
    result: dict[str, Any] = {
        "times": np.asarray(run.times, dtype=float),
        "statistics": {
            "final": values[:, -1, :].copy(),
            "min": series.min(axis=-1),
            "max": series.max(axis=-1),
            "mean": series.mean(axis=-1),
        },
        "failed": failed,
        "failure": None,
    }
    if failed.any():
        for statistic in result["statistics"].values():
            statistic[failed] = np.nan
        member = int(np.flatnonzero(failed)[0])
        step, column = np.argwhere(~finite[member])[0]
        result["failure"] = (member, save[column], float(result["times"][step]))
    if edges is None:
        result["values"] = values
    else:
        low, width, bins = edges
        kept = values[~failed]
        result["counts"] = _histogram(kept, low, width, bins)
        # a chunk where every member failed holds no extremes: neutral ones for the merge
        result["low"] = kept.min(axis=0) if len(kept) else np.full(values.shape[1:], np.inf)
        result["high"] = kept.max(axis=0) if len(kept) else np.full(values.shape[1:], -np.inf)
    return result


def _histogram(values: np.ndarray, low: np.ndarray, width: np.ndarray, bins: int) -> np.ndarray:
    # Bin 0 and bin bins+1 are the open ends; every (time, variable) cell owns a
    # block of bins+2 counters, so one bincount fills them all.
    # clipped as floats: a member far beyond the first chunk's spread would overflow int64
    index = np.clip(np.floor((values - low) / width) + 1, 0, bins + 1).astype(np.int64)
    cells = np.arange(values.shape[1] * values.shape[2], dtype=np.int64).reshape(values.shape[1:])
    keys = cells * (bins + 2) + index
    counts = np.bincount(keys.ravel(), minlength=cells.size * (bins + 2))
    return counts.reshape(*values.shape[1:], bins + 2).astype(np.int64)


def _edges_from(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    if not len(values):  # every member of the first chunk failed: any bins will do
        values = np.zeros((1, *values.shape[1:]))
    low, high = values.min(axis=0), values.max(axis=0)
    # Later chunks stray beyond the first one's spread; padding by a quarter each
    # side keeps most of them inside the fine bins.
    pad = 0.25 * (high - low)
    pad = np.where(pad > 0, pad, np.maximum(np.abs(low) * 1e-6, 1e-12))
    low = low - pad
    width = (high + pad - low) / bins
    return low, width, bins


@dataclass
class _Summary:
    """Merged histograms of every (time, variable) cell."""

    low: np.ndarray
    width: np.ndarray
    bins: int
    counts: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray

    def merge(self, chunk: Mapping[str, Any]) -> None:
        self.counts += chunk["counts"]
        np.minimum(self.minimum, chunk["low"], out=self.minimum)
        np.maximum(self.maximum, chunk["high"], out=self.maximum)

    def quantiles(self, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and the width of the bin each was read from, (len(qs), times, variables)."""
        total = self.counts.sum(axis=-1)[..., None]
        cumulative = np.cumsum(self.counts, axis=-1)
        out = np.empty((len(qs), *self.low.shape))
        widths = np.empty_like(out)
        # cells where every member failed read inf - inf here; they become NaN below
        with np.errstate(invalid="ignore"):
            for i, q in enumerate(qs):
                # numpy's default (linear) quantile sits at rank q*(N-1) among N values
                rank = q * (total - 1)
                b = np.argmax(cumulative > rank, axis=-1)[..., None]
                before = np.take_along_axis(cumulative, b, -1) - np.take_along_axis(self.counts, b, -1)
                inside = (rank - before + 0.5) / np.maximum(np.take_along_axis(self.counts, b, -1), 1)
                b = b[..., 0]
                lower = np.where(b == 0, self.minimum, self.low + (b - 1) * self.width)
                upper = np.where(b == self.bins + 1, self.maximum, self.low + b * self.width)
                lower = np.maximum(lower, self.minimum)
                upper = np.minimum(upper, self.maximum)
                out[i] = np.clip(
                    lower + np.clip(inside[..., 0], 0, 1) * (upper - lower), self.minimum, self.maximum
                )
                # an open end bin reaches from the last edge to the exact extreme
                widths[i] = upper - lower
        empty = total[..., 0] == 0  # every member failed: no quantile to read
        out[:, empty] = np.nan
        widths[:, empty] = np.nan
        return out, widths


class EnsembleResult:
    """The outcome of `run_ensemble`.

    Attributes
    ----------
    samples:
        The parameter table, one row per member (``run``).
    times, names:
        Saved times and variable names.
    exact:
        True when every member was kept and quantiles are exact.
    failed:
        Per member, True when one of its saved values became NaN or infinite; those
        members are left out of quantiles.
    failure:
        Where the first failed member broke: ``{"run", "variable", "time"}``, or None.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        times: np.ndarray,
        names: tuple[str, ...],
        statistics: Mapping[str, np.ndarray],
        values: np.ndarray | None = None,
        summary: _Summary | None = None,
        failed: np.ndarray | None = None,
        failure: Mapping[str, Any] | None = None,
    ) -> None:
        self.samples = samples
        self.times = times
        self.names = names
        self._statistics = dict(statistics)
        self._values = values
        self._summary = summary
        self.failed = np.zeros(len(samples), dtype=bool) if failed is None else failed
        self.failure = dict(failure) if failure is not None else None

    @property
    def n_failed(self) -> int:
        return int(self.failed.sum())

    def failure_message(self) -> str:
        """One line on the members that failed ("" when none did)."""
        if self.failure is None:
            return ""
        first = self.failure
        return (
            f"{self.n_failed} of {len(self)} members became NaN or infinite and are left out of "
            f"the quantiles; the first, {_member_words(self.samples, first['run'])}, had "
            f"{first['variable']!r} non-finite at t={first['time']:g}"
        )

    def _attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"failed_members": self.n_failed}
        if self.failure is not None:
            attrs.update({f"first_failed_{key}": value for key, value in self.failure.items()})
        return attrs

    @property
    def exact(self) -> bool:
        return self._values is not None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def dataset(self) -> xr.Dataset:
        """Every member: variables over ``(run, time)``, sampled constants as ``run`` coordinates."""
        if self._values is None:
            raise ParameterError(
                "ensemble members: expected them kept, found only summaries "
                "(use .quantiles() and .outcomes(), or run_ensemble(keep_runs=True))"
            )
        data = {name: (("run", "time"), self._values[:, :, i]) for i, name in enumerate(self.names)}
        coords: dict[str, Any] = {
            "run": np.arange(len(self.samples)),
            "time": self.times,
            "failed": ("run", self.failed),
        }
        for column in self.samples.columns:
            if column not in data:
                coords[column] = ("run", self.samples[column].to_numpy())
        return xr.Dataset(data, coords=coords, attrs=self._attrs())

    def outcomes(self, statistic: str = "final") -> pd.DataFrame:
        """One number per member and variable: its ``final``, ``min``, ``max`` or ``mean`` value."""
        if statistic not in self._statistics:
            raise ParameterError(f"statistic: expected one of {', '.join(STATISTICS)}, found {statistic!r}")
        return pd.DataFrame(self._statistics[statistic], columns=list(self.names), index=self.samples.index)

    def quantiles(self, qs: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.Dataset:
        """Quantiles across members of every saved variable at every time.

        Exact when the members were kept; otherwise read from merged histograms,
        within `quantile_error` (same ``qs``) of the exact value. Failed members are
        left out (their count is ``attrs["failed_members"]``); when all failed, NaN.
        """
        q = np.asarray(qs, dtype=float)
        if q.ndim != 1 or np.any((q < 0) | (q > 1)):
            raise ParameterError(f"quantiles: expected numbers between 0 and 1, found {list(qs)}")
        if self._values is not None:
            kept = self._values[~self.failed] if self.failed.any() else self._values
            if len(kept):
                table = np.quantile(kept, q, axis=0)
            else:
                table = np.full((len(q), *self._values.shape[1:]), np.nan)
        else:
            assert self._summary is not None
            table = self._summary.quantiles(q)[0]
        data = {name: (("quantile", "time"), table[:, :, i]) for i, name in enumerate(self.names)}
        return xr.Dataset(data, coords={"quantile": q, "time": self.times}, attrs=self._attrs())

    def quantile_error(self, qs: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.Dataset:
        """How far each of `quantiles` may be from the exact one, per (quantile, time, variable).

        0 when the members were kept. Otherwise the width of the bin the estimate
        was read from (for an open end bin, from its edge to the exact extreme): the
        estimate and the order statistic below the quantile share that bin, so it is
        off by more only when the next member lies beyond a gap, which needs very
        sparse members.
        """
        q = np.asarray(qs, dtype=float)
        if self._summary is None:
            error = np.zeros((len(q), len(self.times), len(self.names)))
        else:
            error = self._summary.quantiles(q)[1]
        data = {name: (("quantile", "time"), error[:, :, i]) for i, name in enumerate(self.names)}
        return xr.Dataset(data, coords={"quantile": q, "time": self.times})

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the members (or, when only summaries were kept, five quantiles of each variable).

        ``.nc`` writes netCDF (needs a netCDF backend), ``.parquet`` and ``.csv`` a long
        table with one row per member and time.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".nc", ".parquet", ".csv"):
            raise ParameterError(
                f"output {str(path)!r}: expected a .nc, .parquet or .csv file, found {suffix!r}"
            )
        dataset = self.dataset if self._values is not None else self.quantiles([0.05, 0.25, 0.5, 0.75, 0.95])
        if suffix == ".nc":
            # netCDF cannot mark names with spaces as coordinates; store the sampled
            # constants as plain variables over ``run`` instead of letting xarray warn.
            dataset.reset_coords().to_netcdf(path)
            return path
        table = dataset.to_dataframe().reset_index()
        if suffix == ".parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        return path


def _member_words(table: pd.DataFrame, member: int) -> str:
    row = table.iloc[member]
    return f"member {member} (" + ", ".join(f"{name}={row[name]:.6g}" for name in table.columns) + ")"


def _as_table(samples: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    if isinstance(samples, pd.DataFrame):
        table = samples.reset_index(drop=True)
    elif isinstance(samples, Mapping):
        lengths = {name: np.size(value) for name, value in samples.items()}
        if len(set(lengths.values())) > 1:
            raise ParameterError(f"samples: expected arrays of one length, found lengths {lengths}")
        table = pd.DataFrame({name: np.atleast_1d(np.asarray(v, dtype=float)) for name, v in samples.items()})
    else:
        raise ParameterError(
            f"samples: expected a DataFrame or a dict of arrays, found {type(samples).__name__}"
        )
    if table.empty or table.shape[1] == 0:
        raise ParameterError("samples: expected at least one member and one constant, found none")
    return table


def _check(model: Model, table: pd.DataFrame, save: Sequence[str]) -> None:
    for name in table.columns:
        variable = model.get(str(name))
        if variable is None or variable.kind is not Kind.CONSTANT:
            found = "no such variable" if variable is None else f"a {variable.kind.value}"
            raise ParameterError(
                f"samples column {name!r}: expected a constant of {model.name}, found {found}"
            )
        column = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(column)):
            row = int(np.flatnonzero(~np.isfinite(column))[0])
            raise ParameterError(
                f"samples column {name!r}: expected finite numbers, found {table[name].iloc[row]!s}"
            )
    for name in save:
        if name not in model and not _is_element(model, name):
            raise ParameterError(
                f"save {name!r}: expected a variable of {model.name}, found no such variable"
            )


def _seed_members(model: Model, columns: dict[str, np.ndarray], n: int) -> None:
    """Give each member of a model with RANDOM functions a stream of its own, numbered
    by its row (NOISE SEED + row) whatever chunk or worker runs it."""
    if not noise.draws_random(model) or any(canonical(c) == noise.SEED for c in columns):
        return
    seed = model[noise.SEED].equation
    base = seed.value if isinstance(seed, Number) else 0.0
    columns["NOISE SEED"] = base + np.arange(n, dtype=float)


def _default_save(model: Model) -> tuple[str, ...]:
    # The modeller's stocks: those made by lowering (SMOOTH, DELAY) are internals.
    # An arrayed stock is one column per element, as a run names them (Stock[a1]).
    if not model.dimensions:
        return tuple(v.name for v in model.stocks if v.origin is None)
    from .arrays import Space

    space = Space(model)
    return tuple(c for v in model.stocks if v.origin is None for c in space.columns(v))


def _is_element(model: Model, name: str) -> bool:
    from .arrays import is_element

    return is_element(model, name)


def _elements(model: Model, save: tuple[str, ...]) -> tuple[str, ...]:
    """An arrayed variable named whole stands for its elements' columns."""
    if not model.dimensions:
        return save
    from .arrays import Space

    space = Space(model)
    expanded: list[str] = []
    for name in save:
        variable = model.get(name)
        expanded.extend(space.columns(variable) if variable is not None and variable.dims else [name])
    return tuple(dict.fromkeys(expanded))


def _apply(model: Model, scenario: Any) -> Model:
    if scenario is None:
        return model
    from .scenarios import apply_scenario, load_scenario

    if isinstance(scenario, str | PathLike):
        scenario = load_scenario(Path(scenario))
    return apply_scenario(model, scenario)


def connect(address: str, *, timeout: float = 10.0) -> Any:
    """A `dask.distributed.Client` for the scheduler at ``address`` (``tcp://HOST:PORT``).

    Raises `ParameterError` in one line when dask is missing or nobody answers.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError(
            f"--scheduler {address}: expected dask.distributed installed, found it missing "
            "(pip install 'dask[distributed]')"
        ) from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ParameterError(
            f"--scheduler {address}: expected a dask scheduler answering within {timeout:g} s, "
            f"found none ({type(error).__name__})"
        ) from None


def _run_chunks(client: Any, tasks: Iterator[tuple], retries: int) -> Iterator[dict[str, Any]]:
    """Results in chunk order; on a cluster a bounded window of chunks is in flight."""
    if client is None:
        for task in tasks:
            yield simulate_chunk(*task)
        return
    slots = max(1, sum(client.nthreads().values()))
    window = 2 * slots + 1  # keeps every worker thread busy without flooding memory
    pending: deque[Any] = deque()
    for task in tasks:
        pending.append(client.submit(simulate_chunk, *task, retries=retries, pure=False))
        if len(pending) >= window:
            yield _take(pending.popleft())
    while pending:
        yield _take(pending.popleft())


def _take(future: Any) -> dict[str, Any]:
    result = future.result()
    future.release()
    return result


def run_ensemble(
    model: Any,
    samples: pd.DataFrame | Mapping[str, Any],
    *,
    scenario: Any = None,
    method: str = "euler",
    save: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    client: Any = None,
    progress: bool | None = None,
    keep_runs: bool | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    bins: int = 256,
    retries: int = 3,
    on_nonfinite: str = "mark",
) -> EnsembleResult:
    """Run ``model`` once per row of ``samples``.

    Parameters
    ----------
    model:
        The model: a `Model` (compiled once per process), or a `CompiledModel` already
        at hand (a dashboard's), used as it is when the ensemble runs in this process.
    samples:
        Members: a DataFrame (rows = members, columns = constant names) or a dict of
        equally long arrays.
    scenario:
        A `Scenario` or the path of a saved one, applied before compiling.
    method:
        Integration method, as for `simulate`.
    save:
        Variables to keep; default the model's stocks.
    chunk_size:
        Members per vectorised call (and per Dask task).
    client:
        A `dask.distributed.Client`; None runs in this process.
    progress:
        Show a bar; None shows one only on a terminal.
    keep_runs:
        Keep every member (True), only summaries (False), or decide by ``memory_limit``
        (None).
    memory_limit:
        Bytes the kept members may take when ``keep_runs`` is None.
    bins:
        Histogram bins per (time, variable) when only summaries are kept.
    retries:
        Times Dask may rerun a chunk that failed (a lost worker is rerun regardless).
    on_nonfinite:
        A member whose saved values become NaN or infinite is ``"mark"``-ed (in
        `EnsembleResult.failed`, left out of quantiles) or makes the ensemble
        ``"raise"`` a `SimulationError` naming the member, variable and time.

    Returns
    -------
    EnsembleResult
    """
    if chunk_size < 1:
        raise ParameterError(f"chunk_size: expected at least 1, found {chunk_size}")
    if on_nonfinite not in ON_NONFINITE:
        raise ParameterError(
            f"on_nonfinite: expected one of {', '.join(ON_NONFINITE)}, found {on_nonfinite!r}"
        )
    from .compiler import CompiledModel

    # A compiled model runs as it is only here: a cluster gets the IR, which pickles.
    compiled = model if isinstance(model, CompiledModel) and scenario is None and client is None else None
    model = _apply(model.model if isinstance(model, CompiledModel) else model, scenario)
    table = _as_table(samples)
    save = _elements(model, tuple(save)) if save is not None else _default_save(model)
    if not save:
        raise ParameterError(f"save: expected at least one variable of {model.name}, found none")
    _check(model, table, save)
    n = len(table)
    columns = {str(c): table[c].to_numpy(dtype=float) for c in table.columns}
    _seed_members(model, columns, n)

    def task(start: int, edges: Any = None) -> tuple:
        params = {c: v[start : start + chunk_size] for c, v in columns.items()}
        return (compiled or model, params, method, save, edges)

    starts = range(0, n, chunk_size)
    statistics = {s: np.empty((n, len(save))) for s in STATISTICS}
    failed = np.zeros(n, dtype=bool)
    failures: list[dict[str, Any]] = []
    bar = progress_bar(n, description="ensemble", enabled=progress)
    with bar:
        first = next(_run_chunks(client, iter([task(0)]), retries))
        times = first["times"]
        kept_bytes = n * times.size * len(save) * 8
        keep = keep_runs if keep_runs is not None else kept_bytes <= memory_limit
        values = summary = None
        edges = None
        if keep:
            values = np.empty((n, times.size, len(save)))
        else:
            kept = first["values"][~first["failed"]]
            edges = _edges_from(kept, bins)
            summary = _Summary(
                *edges,
                counts=_histogram(kept, *edges),
                minimum=kept.min(axis=0) if len(kept) else np.full(kept.shape[1:], np.inf),
                maximum=kept.max(axis=0) if len(kept) else np.full(kept.shape[1:], -np.inf),
            )
        consume = _consumer(statistics, values, summary, failed, failures, table, on_nonfinite)
        consume(0, first)
        bar.update(min(chunk_size, n))
        rest = (task(start, edges) for start in starts[1:])
        for start, chunk in zip(starts[1:], _run_chunks(client, rest, retries), strict=True):
            consume(start, chunk)
            bar.update(min(chunk_size, n - start))
    return EnsembleResult(
        table,
        times,
        save,
        statistics,
        values=values,
        summary=summary,
        failed=failed,
        failure=failures[0] if failures else None,
    )


def _consumer(
    statistics: dict[str, np.ndarray],
    values: np.ndarray | None,
    summary: _Summary | None,
    failed: np.ndarray,
    failures: list[dict[str, Any]],
    table: pd.DataFrame,
    on_nonfinite: str,
) -> Callable[[int, dict[str, Any]], None]:
    def consume(start: int, chunk: dict[str, Any]) -> None:
        if chunk["failure"] is not None and not failures:
            member, variable, time = chunk["failure"]
            failures.append({"run": start + member, "variable": variable, "time": time})
            if on_nonfinite == "raise":
                raise SimulationError(
                    f"ensemble {_member_words(table, start + member)}: variable {variable!r} became "
                    f"NaN or infinite at t={time:g} (pass on_nonfinite='mark' to leave such "
                    "members out and keep the others)",
                    variable=variable,
                    time=time,
                )
        failed[start : start + len(chunk["failed"])] = chunk["failed"]
        for name, array in chunk["statistics"].items():
            statistics[name][start : start + len(array)] = array
        if values is not None:
            values[start : start + len(chunk["values"])] = chunk["values"]
        elif "counts" in chunk:
            assert summary is not None
            summary.merge(chunk)

    return consume
