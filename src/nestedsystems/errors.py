"""Every error nestedsystems raises, under one base class.

Each is also a builtin exception, so callers may catch either::

    NestedSystemsError
    ├── ModelError (ValueError)              a model file or model object is wrong
    │   ├── ModelFileError                   missing, unreadable or not a model
    │   ├── ModelSyntaxError                 the parser refused the text
    │   ├── UnsafeModelError                 text that would have been executed
    │   ├── UnsupportedError                 a construct we cannot simulate yet
    │   ├── UndefinedVariableError           a reference to a name nobody defines
    │   └── AlgebraicLoopError               a cycle of equations with no stock in it
    ├── ParameterError (ValueError)          params, --set values or scenarios are wrong
    └── SimulationError (RuntimeError)       the run itself failed (NaN, infinity)

Messages name the file, line and variable where known, what was expected and what
was found, so that the CLI can print them as one line.
"""

from __future__ import annotations

__all__ = [
    "AlgebraicLoopError",
    "ModelError",
    "ModelFileError",
    "ModelSyntaxError",
    "NestedSystemsError",
    "ParameterError",
    "SimulationError",
    "UndefinedVariableError",
    "UnsafeModelError",
    "UnsupportedError",
]


class NestedSystemsError(Exception):
    """Base class of every error raised by nestedsystems."""


def _where(file: object = None, line: int | None = None, variable: str | None = None) -> str:
    parts = []
    if file is not None:
        parts.append(f"{file}" + (f":{line}" if line is not None else ""))
    if variable is not None:
        parts.append(f"variable {variable!r}")
    return ", ".join(parts)


class ModelError(NestedSystemsError, ValueError):
    """A model file or model object cannot be used as it is.

    Parameters
    ----------
    message:
        What was expected and what was found.
    file, line, variable:
        Where, when known; they prefix the message.
    """

    def __init__(
        self,
        message: str,
        *,
        file: object = None,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.variable = variable
        self.detail = message
        where = _where(file, line, variable)
        super().__init__(f"{where}: {message}" if where else message)


class ModelFileError(ModelError):
    """The file is missing, unreadable, or not a Vensim/XMILE model."""


class ModelSyntaxError(ModelError):
    """The model text does not parse."""


class UnsafeModelError(ModelError):
    """The model text holds something that a careless parser would execute."""


class UnsupportedError(ModelError):
    """The model uses a construct that nestedsystems cannot simulate yet."""


class UndefinedVariableError(ModelError):
    """An equation refers to a variable that the model does not define."""


class AlgebraicLoopError(ModelError):
    """Equations depend on each other in a cycle that passes through no stock."""


class ParameterError(NestedSystemsError, ValueError):
    """A parameter override, a ``--set`` value or a scenario is wrong."""


class SimulationError(NestedSystemsError, RuntimeError):
    """The simulation produced a value it cannot go on from (NaN or infinity).

    Attributes
    ----------
    variable, time:
        The first variable that went non-finite and when.
    """

    def __init__(self, message: str, *, variable: str | None = None, time: float | None = None):
        self.variable = variable
        self.time = time
        super().__init__(message)
