"""nestedsystems: system dynamics of nested human-service systems.

Load a Vensim or XMILE model, simulate it (one run or a vectorised ensemble), and
read the results as pandas or xarray::

    import nestedsystems as ns
    model = ns.load("models/nested_systems.mdl")
    run = ns.simulate(model, params={"Restraint reduction policy": 1})
    run.to_pandas()
"""

from .compiler import CompiledModel, compile_model
from .errors import (
    ModelError,
    NestedSystemsError,
    ParameterError,
    SimulationError,
)
from .model import Kind, Model, Variable
from .simulation import Run, simulate
from .vensim import load

__all__ = [
    "CompiledModel",
    "Kind",
    "Model",
    "ModelError",
    "NestedSystemsError",
    "ParameterError",
    "Run",
    "SimulationError",
    "Variable",
    "compile_model",
    "load",
    "simulate",
]
