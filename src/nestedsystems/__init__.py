"""nestedsystems: system dynamics of nested human-service systems.

Load a Vensim or XMILE model, simulate it (one run or a vectorised ensemble), and
read the results as pandas or xarray::

    import nestedsystems as ns
    model = ns.load("models/nested_systems.mdl")
    run = ns.simulate(model, params={"Restraint reduction policy": 1})
    run.to_pandas()
"""

from importlib import import_module
from typing import Any

from .builder import ModelBuilder
from .compiler import CompiledModel, compile_model
from .errors import (
    ModelError,
    NestedSystemsError,
    ParameterError,
    SimulationError,
)
from .mdl_writer import save
from .model import Kind, Model, Variable
from .run import Run
from .scenarios import Scenario, apply_scenario, load_scenario
from .simulation import simulate
from .vensim import load

# Loop analysis and ensembles pull in networkx, xarray and SALib: imported when first used.
_LAZY = {"find_loops": "loops", "run_ensemble": "ensembles"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nestedsystems' has no attribute {name!r}")


__all__ = [
    "CompiledModel",
    "Kind",
    "Model",
    "ModelBuilder",
    "ModelError",
    "NestedSystemsError",
    "ParameterError",
    "Run",
    "Scenario",
    "SimulationError",
    "Variable",
    "apply_scenario",
    "compile_model",
    "find_loops",
    "load",
    "load_scenario",
    "run_ensemble",
    "save",
    "simulate",
]
