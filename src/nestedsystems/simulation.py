"""One verb solves: `simulate`.

``euler`` and ``rk4`` step at the model's TIME STEP and save as Vensim does (at
``t0 + n*dt`` whenever ``n*dt`` is a multiple of SAVEPER), so their results can be
compared with Vensim's to round-off. Any method of `scipy.integrate.solve_ivp`
(``RK45``, ``LSODA``, ``BDF``, ``Radau``...) is there for accuracy checks and stiff
models.

Euler runs of a model compiled natively (the default where numba is installed) are
one machine-code call each: a single run, or all N members when parameters are
arrays of length N, written straight into the run's (runs, times, variables) array.
Otherwise a single run uses the scalar kernels (plain floats: a numpy operation
costs more than the arithmetic it does on one number) and N members run at once in
the numpy kernels, over a run axis.
"""

from __future__ import annotations

import difflib
import math
from array import array
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from . import noise
from .compiler import SCALAR, VECTOR, CompiledModel, compile_model
from .errors import ParameterError, UnsupportedError
from .expressions import Number, Ref, canonical
from .model import Kind, Model
from .run import Run

__all__ = ["FIXED_STEP_METHODS", "simulate"]

FIXED_STEP_METHODS = ("euler", "rk4")
_SOLVE_IVP_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


def simulate(
    model: Model | CompiledModel,
    *,
    params: Mapping[str, Any] | None = None,
    scenario: Any = None,
    method: str = "euler",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    return_columns: Iterable[str] | None = None,
    on_nonfinite: str = "raise",
    seed: int | None = None,
) -> Run:
    """Simulate a model and return its `Run`.

    Parameters
    ----------
    model:
        A `Model` (compiled on first use and cached) or a `CompiledModel`.
    params:
        Constant name -> value. Scalars set one run; 1-D arrays of one common
        length N run N members at once (the result then has a run axis).
        Names are matched as Vensim does (case, spaces and underscores ignored).
    scenario:
        A `nestedsystems.scenarios.Scenario` or the path of a scenario file,
        applied to the model before it is compiled.
    method:
        ``"euler"`` or ``"rk4"`` at TIME STEP (Vensim-exact), or a
        `scipy.integrate.solve_ivp` method name.
    rtol, atol:
        Tolerances of the solve_ivp methods.
    return_columns:
        Names of the variables to keep (default: every variable).
    on_nonfinite:
        ``"raise"`` (default) stops with a `SimulationError` naming the first
        variable that became NaN or infinite and when; ``"ignore"`` returns the run.
    seed:
        The NOISE SEED of a model that calls RANDOM functions (see `noise`): the same
        seed, the same run. Ensemble members draw with ``seed + j`` unless ``params``
        gives NOISE SEED itself.

    Returns
    -------
    Run
    """
    native = model.native if isinstance(model, CompiledModel) else None
    if scenario is not None:
        from .scenarios import apply_scenario, load_scenario

        base = model.model if isinstance(model, CompiledModel) else model
        if not hasattr(scenario, "interventions"):
            scenario = load_scenario(scenario)
        model = apply_scenario(base, scenario)
    compiled = compile_model(model, native=native) if isinstance(model, Model) else model
    values, n_runs = _parameters(compiled, params or {})
    _seed_streams(compiled, values, n_runs, seed, params or {})
    columns = None if return_columns is None else _columns(compiled, return_columns)
    plan = compiled.plan(columns)
    saved = plan.saved
    flavour = SCALAR if n_runs is None and not compiled.arrayed else VECTOR
    clock = _control(compiled, values, flavour)
    if on_nonfinite not in ("raise", "ignore"):
        raise ParameterError(f"on_nonfinite must be 'raise' or 'ignore', found {on_nonfinite!r}")
    if method == "euler" and compiled.native and not compiled.dynamic_time:
        # The fast path, a single run or a whole ensemble in one machine-code call.
        data, total = _euler_native(compiled, plan, values, clock, n_runs)
        run = _run(compiled, plan, clock.times, data, n_runs, method)
        if on_nonfinite == "raise" and not math.isfinite(total):
            run.check_finite()
        return run
    t0, dt = clock.t0, clock.dt
    if compiled.arrayed:
        # numpy scalars, so that 1/0 in a scalar equation gives inf as it does in arrays
        values = [np.float64(v) if np.ndim(v) == 0 else v for v in values]
        t0, dt = np.float64(t0), np.float64(dt)

    with np.errstate(all="ignore"):
        if method == "euler" and compiled.dynamic_time:
            if flavour == VECTOR:
                raise UnsupportedError(  # also subscripted models, which run in numpy
                    "models whose TIME STEP, SAVEPER or FINAL TIME change during the run "
                    "simulate one run at a time",
                    file=compiled.model.source,
                )
            times, rows = _euler_dynamic(compiled, values, saved, t0, dt)
            data = _assemble(plan, values, times, rows)
        elif method in FIXED_STEP_METHODS or method in _SOLVE_IVP_METHODS:
            if compiled.dynamic_time:
                raise UnsupportedError(
                    f"method {method!r} needs a fixed TIME STEP, SAVEPER and FINAL TIME; use 'euler'",
                    file=compiled.model.source,
                )
            n, every, times = clock.n, clock.every, clock.times
            # A subscripted single run is a numpy run with a run axis of length 1.
            runs = n_runs if n_runs is not None or flavour == SCALAR else 1
            if method == "euler":
                data = _euler(compiled, plan, values, flavour, t0, dt, n, every, times, runs)
            elif method == "rk4":
                rows = _rk4(compiled, values, saved, flavour, t0, dt, n, every, runs)
                data = _assemble(plan, values, times, rows)
            else:
                rows = _solve_ivp(compiled, values, saved, t0, dt, times, method, rtol, atol, n_runs)
                data = _assemble(plan, values, times, rows)
        else:
            raise ParameterError(
                f"unknown method {method!r}; expected one of "
                + ", ".join(FIXED_STEP_METHODS + _SOLVE_IVP_METHODS)
            )
    run = _run(compiled, plan, times, data, n_runs, method)
    if on_nonfinite == "raise":
        run.check_finite()
    return run


def _parameters(compiled: CompiledModel, params: Mapping[str, Any]) -> tuple[list[Any], int | None]:
    """The parameter vector (defaults overridden) and the number of runs (None: one)."""
    values: list[Any] = list(compiled.defaults)
    n_runs: int | None = None
    for name, value in params.items():
        j = compiled.parameter_index(canonical(name))
        if j is None:
            raise ParameterError(_unknown(compiled, name))
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {name!r}: expected a number, found {value!r}") from None
        if np.ndim(compiled.defaults[j]):
            values[j], n_runs = _array_parameter(name, compiled.defaults[j], array, n_runs)
            continue
        if array.ndim == 0:
            values[j] = float(array)
            continue
        if array.ndim != 1 or array.size == 0:
            raise ParameterError(
                f"parameter {name!r}: expected a number or a 1-D array, found shape {array.shape}"
            )
        if n_runs is not None and array.size != n_runs:
            raise ParameterError(
                f"parameter {name!r}: expected {n_runs} values like the other arrays, found {array.size}"
            )
        n_runs = array.size
        values[j] = array
    return values, n_runs


def _array_parameter(
    name: str, default: np.ndarray, array: np.ndarray, n_runs: int | None
) -> tuple[np.ndarray, int | None]:
    """An arrayed constant's values, shape ``(*dims, R)``: one number for every
    element, one per element, or one per element and run (``(*dims, N)``)."""
    shape = default.shape[:-1]
    if array.ndim == 0 or array.shape == shape:
        return np.broadcast_to(array, shape)[..., None].astype(float), n_runs
    if array.shape[:-1] == shape and array.ndim == len(shape) + 1:
        if n_runs is not None and array.shape[-1] != n_runs:
            raise ParameterError(
                f"parameter {name!r}: expected {n_runs} runs like the other arrays, found {array.shape[-1]}"
            )
        return array, array.shape[-1]
    raise ParameterError(
        f"parameter {name!r}: expected a number, shape {shape} or {shape} plus a run axis, "
        f"found {array.shape}"
    )


def _seed_streams(
    compiled: CompiledModel,
    values: list[Any],
    n_runs: int | None,
    seed: int | None,
    params: Mapping[str, Any],
) -> None:
    """Set NOISE SEED in place: to ``seed``, and one stream per ensemble member."""
    j = compiled.parameter_index(noise.SEED)
    if j is None or not noise.draws_random(compiled.model):
        return
    given = any(canonical(name) == noise.SEED for name in params)
    if given and seed is not None:
        raise ParameterError("give the seed either as seed= or as the NOISE SEED parameter, not both")
    if given:
        return
    base = float(values[j]) if seed is None else float(seed)
    # Vensim's sensitivity runs add one to the noise seed for each run; so do members.
    values[j] = base if n_runs is None else base + np.arange(n_runs, dtype=float)


def _unknown(compiled: CompiledModel, name: str) -> str:
    model = compiled.model
    variable = model.get(name)
    if variable is not None:
        return (
            f"parameter {name!r}: {variable.name!r} is a {variable.kind.value}, not a constant; "
            "only constants can be set"
        )
    close = difflib.get_close_matches(canonical(name), [canonical(p) for p in compiled.parameters], n=1)
    hint = f"; did you mean {model[close[0]].name!r}?" if close else ""
    return f"parameter {name!r}: the model has no constant of that name{hint}"


def _columns(compiled: CompiledModel, names: Iterable[str]) -> tuple[str, ...]:
    model = compiled.model
    columns = []
    for name in [names] if isinstance(names, str) else names:
        variable = model.get(name)
        if variable is None and _is_element(compiled, name):
            columns.append(name)  # one element of an arrayed variable, Stock[a1]
            continue
        if variable is None or variable.kind is Kind.LOOKUP:
            raise ParameterError(f"return_columns: {name!r} is not a variable of {model.name}")
        columns.append(variable.name)
    return tuple(columns)


def _is_element(compiled: CompiledModel, name: str) -> bool:
    """Whether ``name`` is one column of an arrayed variable, as ``Stock[a1,b2]``."""
    if not compiled.arrayed:
        return False
    from .arrays import is_element

    owner = compiled.model.get(name[: name.index("[")]) if "[" in name else None
    return owner is not None and owner.kind is not Kind.LOOKUP and is_element(compiled.model, name)


class Clock(NamedTuple):
    """A run's control values, its number of steps, and the saved times."""

    t0: float
    dt: float
    final: float
    saveper: float
    n: int  # Euler steps
    every: int  # steps between saved rows
    times: np.ndarray  # t0 + k*dt at the saved steps; read-only, shared by runs alike


def _control(compiled: CompiledModel, values: list[Any], flavour: str) -> Clock:
    """INITIAL TIME, TIME STEP, FINAL TIME and SAVEPER as numbers, and what follows from them."""
    # Arrays (ensemble members) cannot be keys; control variables read one value of each.
    key = tuple(values) if flavour == SCALAR else tuple(v if isinstance(v, float) else id(v) for v in values)
    cached = compiled._control_cache.get(key)
    if cached is None:
        t0, dt, final, saveper = _control_values(compiled, values)
        n = max(round((final - t0) / dt), 0)
        every = max(round(saveper / dt), 1)
        times = t0 + dt * np.arange(0, n + 1, every)
        times.flags.writeable = False
        cached = Clock(t0, dt, final, saveper, n, every, times)
        if len(compiled._control_cache) > 256:
            compiled._control_cache.clear()
        compiled._control_cache[key] = cached
    return cached


def control_value(model: Model, params: Mapping[str, Any], name: str) -> float:
    """A control variable (``"time step"``, ``"saveper"``...) as a run with ``params``
    reads it: given there (names matched as Vensim does), else the model's number.

    Raises `ParameterError` when it is neither: an equation is read only by a run.
    """
    for key, value in params.items():
        if canonical(key) == name:
            return float(value)
    variable = model[name]
    if variable.kind is not Kind.CONSTANT or not isinstance(variable.equation, Number):
        raise ParameterError(f"{variable.name} is given by an equation here; expected a number")
    return float(variable.equation.value)


def _control_values(compiled: CompiledModel, values: list[Any]) -> tuple[float, float, float, float]:
    model = compiled.model
    numbers = {}
    for name in ("initial time", "time step", "final time", "saveper"):
        variable = model[name]
        if variable.kind is Kind.CONSTANT:
            j = compiled.parameter_index(name)
            value = values[j]  # type: ignore[index]
            if np.ndim(value):
                raise ParameterError(f"{variable.name} must be one number for all runs, found an array")
            numbers[name] = float(value)
        else:
            numbers[name] = _evaluate_control(compiled, values, name)
    if not numbers["time step"] > 0:
        raise ParameterError(f"TIME STEP must be positive, found {numbers['time step']}")
    if numbers["saveper"] <= 0:
        numbers["saveper"] = numbers["time step"]
    return numbers["initial time"], numbers["time step"], numbers["final time"], numbers["saveper"]


def _first(value: Any) -> float:
    return float(np.ravel(value)[0]) if np.ndim(value) else float(value)


def _evaluate_control(compiled: CompiledModel, values: list[Any], name: str) -> float:
    """A control variable given by an expression, evaluated at the start.

    The initial kernel computes every variable; we read this one back through a
    one-variable evaluation, at time zero for INITIAL TIME itself.
    """
    model = compiled.model
    inputs, function = compiled.equation_function(name)
    scalars = [_first(v) for v in values]
    known = {canonical(p): scalars[j] for j, p in enumerate(compiled.parameters)}
    arguments = []
    for key in inputs:
        if key == "time":
            arguments.append(
                0.0 if name == "initial time" else _evaluate_control(compiled, values, "initial time")
            )
        elif key in known:
            arguments.append(known[key])
        elif model[key].kind is Kind.AUXILIARY:
            arguments.append(_evaluate_control(compiled, values, key))
        else:
            raise UnsupportedError(
                f"{model[name].name} depends on the stock {model[key].name!r}",
                file=model.source,
                variable=model[name].name,
            )
    return float(function(*arguments))


def _euler_native(compiled, plan, values, clock, n_runs):  # type: ignore[no-untyped-def]
    """The run's final (runs, times, variables) array, filled by one native call,
    and the sum of its values (finite when every value is)."""
    rows, width = clock.n // clock.every + 1, len(plan.names)
    if n_runs is None:
        data = np.empty((1, rows, plan.width))
        kernel = compiled.native_kernel(members=False)
        parameters = np.array(values, dtype=float)
        total = kernel(parameters, clock.t0, clock.dt, clock.n, clock.every, data[0], plan.index)
        return data[:, :, :width], total
    # The kernel runs `lanes` members at a time: the last group is completed with
    # copies of the last member, run and then dropped.
    padded = -(-n_runs // compiled.lanes) * compiled.lanes
    parameters = _by_member(values, n_runs)
    if padded > n_runs:
        parameters = np.concatenate([parameters, np.repeat(parameters[-1:], padded - n_runs, axis=0)])
    data = np.empty((padded, rows, plan.width))
    kernel = compiled.native_kernel(members=True)
    total = kernel(parameters, clock.t0, clock.dt, clock.n, clock.every, data, plan.index)
    return data[:n_runs, :, :width], total


def _euler(compiled, plan, values, flavour, t0, dt, n, every, times, n_runs):  # type: ignore[no-untyped-def]
    """The interpreted Euler run as the run's (runs, times, variables) array."""
    saved = plan.saved
    if flavour == SCALAR:
        try:
            state = compiled.kernel(SCALAR, "initial")(t0, dt, values)
            kind = "euler_every_step" if every == 1 else "euler"
            out = compiled.kernel(SCALAR, kind, saved)(values, state, t0, dt, n, every, array("d"))
            return _assemble(plan, values, times, np.frombuffer(out, dtype=float).reshape(-1, len(saved), 1))
        except (ArithmeticError, ValueError):
            # Plain floats raise where numpy returns inf or NaN (1/0, exp(1000), ln(-1)):
            # rerun in numpy so the run can report which variable failed, and when.
            flavour, n_runs = VECTOR, 1
    state = compiled.kernel(VECTOR, "initial")(t0, dt, values)
    if compiled.arrayed:  # whole arrays are saved into consecutive columns, then placed
        out = np.empty((len(times), compiled.width(saved), n_runs))
        compiled.kernel(VECTOR, "euler", saved)(values, state, t0, dt, n, every, out)
        return _assemble(plan, values, times, out)
    # Each saved value goes straight to its column, in the kernel's (times, variables,
    # runs) layout, and the run gets a transposed view: no copy afterwards.
    filled = np.empty((len(times), len(plan.names), n_runs))
    compiled.kernel(VECTOR, "euler", saved)(values, state, t0, dt, n, every, filled, plan.saved_columns)
    _fill_constants(filled, plan, values)
    return filled.transpose(2, 0, 1)


def _by_member(values: Any, n_runs: int) -> np.ndarray:
    """Per-run values (numbers or arrays of N) as an (N, k) matrix, k possibly 0."""
    matrix = np.empty((n_runs, len(values)))
    for j, value in enumerate(values):
        matrix[:, j] = value
    return matrix


def _euler_dynamic(compiled, values, saved, t0, dt):  # type: ignore[no-untyped-def]
    state = compiled.kernel(SCALAR, "initial")(t0, dt, values)
    rows = compiled.kernel(SCALAR, "euler_dynamic", saved)(values, state, t0, dt, [])
    # The kernel saves the time first in each row: it is not t0 + n*dt when dt changes.
    return np.array([row[0] for row in rows]), [row[1:] for row in rows]


def _advance(compiled, state, derivatives, memories, h):  # type: ignore[no-untyped-def]
    stocks = len(compiled.stocks)
    new = [s + h * d for s, d in zip(state[:stocks], derivatives, strict=True)]
    for j, variable in enumerate(compiled.model.stocks):
        if variable.non_negative:
            new[j] = np.maximum(new[j], 0.0) if np.ndim(new[j]) else max(new[j], 0.0)
    return (*new, *memories)


def _rk4(compiled, values, saved, flavour, t0, dt, n, every, n_runs):  # type: ignore[no-untyped-def]
    """Classical RK4 on the stocks, as Vensim does: the saved values and the
    memories are those at the start of each step."""
    evaluate = compiled.kernel(flavour, "evaluate", saved)
    state = compiled.kernel(flavour, "initial")(t0, dt, values)
    stocks = len(compiled.stocks)
    rows = []
    for k in range(n + 1):
        t = t0 + k * dt
        k1, memories, row = evaluate(t, dt, state, values)
        if k % every == 0:
            rows.append(row)
        if k == n:
            break
        s = state[:stocks]
        m = state[stocks:]
        k2 = evaluate(t + dt / 2, dt, (*(a + dt / 2 * b for a, b in zip(s, k1, strict=True)), *m), values)[0]
        k3 = evaluate(t + dt / 2, dt, (*(a + dt / 2 * b for a, b in zip(s, k2, strict=True)), *m), values)[0]
        k4 = evaluate(t + dt, dt, (*(a + dt * b for a, b in zip(s, k3, strict=True)), *m), values)[0]
        slope = tuple((a + 2 * b + 2 * c + d) / 6 for a, b, c, d in zip(k1, k2, k3, k4, strict=True))
        state = _advance(compiled, state, slope, memories, dt)
    return _stack_rows(rows, compiled.width(saved), n_runs)


def _stack_rows(rows, width, n_runs):  # type: ignore[no-untyped-def]
    if n_runs is None:
        return rows
    out = np.empty((len(rows), width, n_runs))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            out[i, j] = value
    return out


def _solve_ivp(compiled, values, saved, t0, dt, times, method, rtol, atol, n_runs):  # type: ignore[no-untyped-def]
    from scipy.integrate import solve_ivp

    model = compiled.model
    for memory in model.of_kind(Kind.MEMORY):
        if memory.equation != Ref(memory.key):
            origin = memory.origin or memory.name
            raise UnsupportedError(
                f"method {method!r} integrates continuous stocks only; {origin!r} holds a discrete "
                "state (SAMPLE IF TRUE, DELAY FIXED): use 'euler' or 'rk4'",
                file=model.source,
                variable=origin,
            )
    flavour = SCALAR if n_runs is None else VECTOR
    width = 1 if n_runs is None else n_runs
    evaluate = compiled.kernel(VECTOR, "evaluate", saved)
    state = compiled.kernel(VECTOR, "initial")(t0, dt, values)
    stocks = len(compiled.stocks)
    memories = state[stocks:]
    # Each stock is (*dims, width) in the kernels and a flat run of numbers in y.
    shapes = [(*compiled.shape(v), width) for v in model.stocks]
    edges = np.cumsum([0, *(int(np.prod(s)) for s in shapes)])

    def pack(arrays: Any) -> np.ndarray:
        return np.concatenate([np.broadcast_to(a, s).ravel() for a, s in zip(arrays, shapes, strict=True)])

    def unpack(y: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(y[a:b].reshape(s) for a, b, s in zip(edges, edges[1:], shapes, strict=False))

    y0 = pack(np.asarray(s, float) for s in state[:stocks]) if stocks else np.zeros(0)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        derivatives = evaluate(t, dt, (*unpack(y), *memories), values)[0]
        return pack(derivatives) if stocks else y

    if stocks:
        solution = solve_ivp(
            rhs, (times[0], times[-1]), y0, method=method, t_eval=times, rtol=rtol, atol=atol
        )
        if not solution.success:
            from .errors import SimulationError

            raise SimulationError(f"{method} failed: {solution.message}")
        ys = solution.y
    else:
        ys = np.zeros((0, len(times)))
    rows = []
    for i, t in enumerate(times):
        row = evaluate(t, dt, (*unpack(ys[:, i]), *memories), values)[2]
        rows.append(row)
    out = _stack_rows(rows, compiled.width(saved), width)
    return [tuple(float(x) for x in r[:, 0]) for r in out] if flavour == SCALAR else out


def _assemble(plan, values, times, rows):  # type: ignore[no-untyped-def]
    """Kernel rows and constants put together as a (runs, times, variables) array."""
    block = rows if isinstance(rows, np.ndarray) else np.array(rows, dtype=float).reshape(len(rows), -1, 1)
    width = block.shape[-1]  # 1 for a single run, even one that fell back to the vector kernel
    # Filled in the kernels' (times, variables, runs) layout and handed over as a
    # transposed view: copying into (runs, times, variables) cost more than the run.
    filled = np.empty((len(times), len(plan.names), width))
    filled[:, plan.saved_columns, :] = block[: len(times)]
    _fill_constants(filled, plan, values)
    return filled.transpose(2, 0, 1)


def _fill_constants(filled, plan, values) -> None:  # type: ignore[no-untyped-def]
    """Write the constants' columns of a (times, variables, runs) array."""
    for column, j in zip(plan.constant_columns, plan.constant_parameters, strict=True):
        filled[:, column, :] = np.asarray(values[j], float).reshape(1, -1)


def _run(compiled, plan, times, data, n_runs, method) -> Run:  # type: ignore[no-untyped-def]
    names = plan.names
    if plan.selected is not None:
        data = data[:, :, list(plan.selected)]
        names = tuple(plan.names[j] for j in plan.selected)
    return Run(
        times=times,
        names=names,
        values=data,
        ensemble=n_runs is not None,
        method=method,
        model_name=compiled.model.name,
        dependencies=plan.dependencies,
        order=plan.order,
        dimensions=plan.dimensions,
    )
