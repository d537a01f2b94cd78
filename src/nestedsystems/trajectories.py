"""An Euler run at every TIME STEP, read as the causal graph's nodes see it.

Loops That Matter compares each variable with its value one step earlier, so it
needs a run saved at every TIME STEP, holding every variable a scored link reads
(the parts of a lowered SMOOTH or DELAY included). `every_step_run` makes one;
`Trajectories` serves each graph node's series and equation function, the
unnamed flow of a stock included (its net flow less its named flows).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from .causal_graph import TIME, UNNAMED_FLOW
from .errors import ModelError
from .expressions import Ref, canonical
from .loops import LoopSet
from .model import Kind, Model, Variable

__all__ = ["Trajectories", "every_step_run"]


class Trajectories:
    """Values and equations of every causal-graph node along one (ensemble) run."""

    def __init__(self, compiled: Any, graph: Any, run: Any):
        self.compiled = compiled
        self.model: Model = compiled.model
        self.graph = graph
        self.times = np.asarray(run.times, dtype=float)
        self.values: dict[str, np.ndarray] = {}
        n_runs = run.values.shape[0]
        for j, name in enumerate(run.names):
            self.values[canonical(name)] = np.asarray(run.values[:, :, j], dtype=float)
        self.values[TIME] = np.broadcast_to(self.times, (n_runs, len(self.times)))
        self.dt = float(self.times[1] - self.times[0]) if len(self.times) > 1 else 0.0
        self._functions: dict[str, tuple[tuple[str, ...], Any]] = {}
        self._current: dict[str, np.ndarray] = {}
        self._lags: dict[str, int] = {}
        self._changes: dict[tuple[str, int], np.ndarray] = {}
        self._steady: dict[str, bool] = {}
        self._arrays: dict[str, tuple[tuple[str, ...], Any]] = {}
        # an arrayed equation evaluated once serves all its elements
        self._moved: dict[tuple[str, str], np.ndarray] = {}
        self._wholes: dict[str, np.ndarray] = {}

    def function(self, node: str) -> tuple[tuple[str, ...], Any]:
        """The equation of `node` (its stock's net flow for an unnamed flow) as
        ``fn(*inputs)``, TIME STEP bound, TIME an input whenever the equation reads the clock."""
        owner = node[: -len(UNNAMED_FLOW)] if node.endswith(UNNAMED_FLOW) else node
        if owner not in self._functions:
            data = self.graph.nodes[owner] if owner in self.graph else {}
            if data.get("element") is None:
                inputs, function = self.compiled.equation_function(owner)
                self._functions[owner] = _clocked(inputs, function, self.dt)
            else:
                self._functions[owner] = self._element_function(data["variable"], data["element"])
        return self._functions[owner]

    def _element_function(self, variable: str, element: int) -> tuple[tuple[str, ...], Any]:
        """One element of an arrayed equation as a function of its inputs' elements."""
        inputs, whole = self.array_function(variable)
        return inputs, lambda *series: whole(*series)[element]

    def array_function(self, variable: str) -> tuple[tuple[str, ...], Any]:
        """An arrayed equation as a function of its inputs' elements, giving every
        element: shape (elements, *points).

        The compiled equation takes whole arrays: the inputs' element series are
        stacked into them, the (runs, times) points laid along the run axis, and
        the elements read back from the result.
        """
        if variable in self._arrays:
            return self._arrays[variable]
        inputs, function = self.compiled.equation_function(variable)
        elements = self.graph.graph.get("elements", {})
        groups = [tuple(elements.get(name, (name,))) for name in inputs]
        shapes = [self.compiled.shape(self.model[name]) if name in self.model else () for name in inputs]
        result_shape = self.compiled.shape(self.model[variable])
        dt = self.dt

        def whole(*series: Any) -> np.ndarray:
            size = np.broadcast_shapes(*(np.shape(s) for s in series)) if series else ()
            runs = int(np.prod(size)) if size else 1
            arrays, at = [], 0
            for group, shape in zip(groups, shapes, strict=True):
                block = [np.broadcast_to(series[at + k], size).reshape(-1) for k in range(len(group))]
                at += len(group)
                arrays.append(np.stack(block).reshape(*shape, runs) if shape else block[0])
            out = np.asarray(function(*arrays, dt=dt, _R=runs), dtype=float)
            return np.broadcast_to(out, (*result_shape, runs)).reshape(-1, *size)

        self._arrays[variable] = (tuple(key for group in groups for key in group), whole)
        return self._arrays[variable]

    def series(self, node: str) -> np.ndarray:
        if node in self.values:
            return self.values[node]
        if node.endswith(UNNAMED_FLOW):
            stock = node[: -len(UNNAMED_FLOW)]
            value = self.current(stock).copy()
            for source, _, data in self.graph.in_edges(stock, data=True):
                if data["flow"] and source != node:
                    value = value - data["sign"] * self.series(source)
            self.values[node] = value
            return value
        raise ModelError(f"the run does not hold {node!r}; loop scores need every variable saved")

    def current(self, node: str) -> np.ndarray:
        """What the node's equation function gives with every input at its own time
        (floating-point warnings are the caller's to silence, as for `partial_change`)."""
        if node not in self._current:
            owner = node.removesuffix(UNNAMED_FLOW)
            element = self.graph.nodes[owner].get("element") if owner in self.graph else None
            if element is None:
                inputs, function = self.function(node)
                value = function(*(self.series(name) for name in inputs))
            else:
                variable = self.graph.nodes[owner]["variable"]
                if variable not in self._wholes:
                    inputs, whole = self.array_function(variable)
                    self._wholes[variable] = whole(*(self.series(name) for name in inputs))
                value = self._wholes[variable][element]
            self._current[node] = np.broadcast_to(np.asarray(value, dtype=float), self.values[TIME].shape)
        return self._current[node]

    def lag(self, node: str) -> int:
        if node not in self._lags:
            variable = self.model.get(self.graph.nodes[node]["variable"] if node in self.graph else node)
            # A memory's value now is its equation evaluated one step earlier.
            self._lags[node] = 1 if variable is not None and variable.kind is Kind.MEMORY else 0
        return self._lags[node]

    def partial_change(self, source: str, target: str) -> np.ndarray:
        """Δx z at steps 1..n-1 (with a memory's extra step of delay: NaN at step 1).

        Floating-point warnings are the caller's to silence (`np.errstate`): set
        once around many calls, not once per call, which costs as much as a call.
        """
        inputs, function = self.function(target)
        lag = self.lag(target)
        if not lag and source in inputs and all(self.steady(name) for name in inputs if name != source):
            # every other input holds still, so moving x alone moves z all the way
            return self.change(target)
        n = len(self.times)
        owner = target.removesuffix(UNNAMED_FLOW)
        element = self.graph.nodes[owner].get("element") if owner in self.graph else None
        if element is not None:
            variable = self.graph.nodes[owner]["variable"]
            inputs, function = self.array_function(variable)
            if (source, variable) not in self._moved:
                self._moved[source, variable] = self._moved_value(inputs, function, source, lag)
            moved_value = self._moved[source, variable][element]
        else:
            moved_value = self._moved_value(inputs, function, source, lag)
        before = self.current(target)[:, : n - 1 - lag]
        change = moved_value - before
        return np.concatenate([np.full((change.shape[0], lag), np.nan), change], axis=1) if lag else change

    def _moved_value(self, inputs: tuple[str, ...], function: Any, source: str, lag: int) -> np.ndarray:
        n = len(self.times)
        arguments = []
        for name in inputs:
            series = self.series(name)
            arguments.append(series[:, 1 : n - lag] if name == source else series[:, : n - 1 - lag])
        return np.asarray(function(*arguments), dtype=float)

    def steady(self, node: str) -> bool:
        """Whether a node holds one value all along each run (a constant, or an
        auxiliary of constants); TIME never does."""
        if node not in self._steady:
            series = self.series(node)
            self._steady[node] = node != TIME and bool(np.all(series == series[:, :1]))
        return self._steady[node]

    def change(self, node: str, lag: int = 0) -> np.ndarray:
        if (node, lag) not in self._changes:
            series = self.series(node)
            n = len(self.times)
            delta = series[:, 1 : n - lag] - series[:, : n - 1 - lag]
            if lag:
                delta = np.concatenate([np.full((delta.shape[0], lag), np.nan), delta], axis=1)
            self._changes[node, lag] = delta
        return self._changes[node, lag]


def _clocked(inputs: tuple[str, ...], function: Any, dt: float) -> tuple[tuple[str, ...], Any]:
    """Bind TIME STEP, and make TIME an explicit input where STEP, RAMP or PULSE read
    the clock without the equation naming TIME (the generated code then looks ``t``
    up among its globals, which are its own)."""
    if "t" in function.__code__.co_names and TIME not in inputs:
        scope = function.__globals__

        def with_clock(*arguments: Any) -> Any:
            scope["t"] = arguments[-1]
            return function(*arguments[:-1], dt=dt)

        return (*inputs, TIME), with_clock
    return inputs, lambda *arguments: function(*arguments, dt=dt)


_NEEDED: weakref.WeakKeyDictionary[LoopSet, tuple[Model, list[str]]] = weakref.WeakKeyDictionary()


def _needed(compiled: Any, loops: LoopSet) -> list[str]:
    """The variables scoring `loops` reads: each link's ends, its target's inputs and,
    for a stock, its flows. Saving only these keeps a run for a few loops cheap."""
    model: Model = compiled.model
    known = _NEEDED.get(loops)
    if known is None or known[0] is not model:
        known = _NEEDED[loops] = (model, _reads(compiled, loops))
    return known[1]


def _reads(compiled: Any, loops: LoopSet) -> list[str]:
    graph = loops.graph

    def variable(node: str) -> str:  # the variable an element belongs to
        return graph.nodes[node]["variable"] if node in graph else node

    links = {(link.source, link.target) for loop in loops for path in loop.paths for link in path}
    keys = {variable(source) for source, _ in links}
    for target in {target.removesuffix(UNNAMED_FLOW) for _, target in links}:
        keys.add(variable(target))
        keys.update(compiled.equation_function(variable(target))[0])
        if graph.nodes[target]["state"]:
            keys.update(variable(source) for source, _, flow in graph.in_edges(target, data="flow") if flow)
    model: Model = compiled.model
    return [model[key].name for key in sorted(keys) if key in model and not key.endswith(UNNAMED_FLOW)]


def every_step_run(compiled: Any, params: Mapping[str, Any] | None, explicit: bool, loops: LoopSet) -> Any:
    from .compiler import compile_model
    from .simulation import control_value, simulate

    model: Model = compiled.model
    native = compiled.native
    names = _needed(compiled, loops)
    params = dict(params or {})
    saveper = model.get("saveper")
    if saveper is not None and saveper.kind is not Kind.CONSTANT:
        model = model.with_variables(Variable(saveper.name, Kind.AUXILIARY, Ref("time step")))
    elif saveper is not None:
        # Loops That Matter compares consecutive Euler steps: save every one of them.
        params["saveper"] = control_value(model, params, "time step")
    # Unless the caller compiled for machine code, generate Python rather than spend
    # seconds compiling for one run.
    wanted = native if explicit else False
    if model is not compiled.model or compiled.native != wanted:
        compiled = compile_model(model, native=wanted)  # (hashing a model costs milliseconds)
    return compiled, simulate(compiled, params=params, method="euler", return_columns=names)
