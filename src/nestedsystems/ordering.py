"""Evaluation order: which variable is computed before which.

Two orders matter. While the model runs, stocks and memories are known from the
state, so only auxiliaries need ordering among themselves. While it initialises,
stocks and memories have to be computed too, from their initial equations, in an
order of their own (Vensim's "chained initialisation"). A cycle in either order is
an algebraic loop, reported with the variables on it.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from .errors import AlgebraicLoopError, UndefinedVariableError
from .model import Kind, Model, Variable

__all__ = ["check_references", "initial_order", "run_order"]

TIME = "time"


def check_references(model: Model) -> None:
    """Raise `UndefinedVariableError` for the first reference nobody defines."""
    for variable in model.variables:
        for name in sorted(variable.dependencies | variable.initial_dependencies):
            if name != TIME and name not in model:
                raise UndefinedVariableError(
                    f"the equation uses {name!r}, which the model does not define",
                    file=model.source,
                    line=variable.line,
                    variable=variable.name,
                )
            if name != TIME and model[name].kind is Kind.LOOKUP and not _called(variable, name):
                raise UndefinedVariableError(
                    f"{model[name].name!r} is a lookup; call it with an argument, as {model[name].name}(x)",
                    file=model.source,
                    line=variable.line,
                    variable=variable.name,
                )


def _called(variable: Variable, name: str) -> bool:
    from .expressions import LookupCall, Ref, Table, walk

    for expression in (variable.equation, variable.initial):
        if expression is None or isinstance(expression, Table):
            continue
        plain = {id(n.table) for n in walk(expression) if isinstance(n, LookupCall)}
        for node in walk(expression):
            if isinstance(node, Ref) and node.name == name and id(node) not in plain:
                return False
    return True


def _sorted(model: Model, graph: dict[str, list[str]], what: str) -> list[str]:
    """A topological order that depends only on the model, never on string hashing:
    the generated kernels' text, and so their on-disk compile cache, stays the same
    from one process to the next."""
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        cycle = [model[name].name for name in error.args[1]][:-1]
        first = model[error.args[1][0]]
        raise AlgebraicLoopError(
            f"algebraic loop {what}: "
            + " -> ".join([*cycle, cycle[0]])
            + "; put a stock (INTEG, SMOOTH, DELAY) somewhere on this cycle",
            file=model.source,
            line=first.line,
            variable=first.name,
        ) from None


def run_order(model: Model) -> list[Variable]:
    """Auxiliaries in an order in which each is computed after what it reads."""
    computed = {v.key for v in model.of_kind(Kind.AUXILIARY)}
    graph = {v.key: sorted(d for d in v.dependencies if d in computed) for v in model.of_kind(Kind.AUXILIARY)}
    return [model[name] for name in _sorted(model, graph, "among the equations") if name in computed]


def initial_order(model: Model) -> list[Variable]:
    """Every variable but lookups, in the order initialisation computes them."""
    wanted = {v.key for v in model.variables if v.kind is not Kind.LOOKUP}
    graph = {
        v.key: sorted(d for d in v.initial_dependencies if d in wanted)
        for v in model.variables
        if v.kind is not Kind.LOOKUP
    }
    return [model[name] for name in _sorted(model, graph, "in the initial values") if name in wanted]
