"""Link polarity: the sign of ∂z/∂x, read from the equation tree where it can be.

A link x → z is positive when z moves with x, other inputs held. Most links in a
system-dynamics model say so in their structure: sums, products with positive
constants, graphical functions that only rise or only fall. Those are decided
here without running anything. What the tree cannot decide (a product with a
variable whose sign is not known, a lookup that rises and falls) is left
``UNDETERMINED`` for the caller to sample along a run (`sample_link_signs`).

Signs are small integers: +1 rises with x, -1 falls with x, 0 does not depend on x,
and ``None`` for "cannot tell from the structure".
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .expressions import Binary, Call, Expr, If, LookupCall, Number, Op, Ref, Table, Unary, UnaryOp, walk

__all__ = [
    "SHAPE",
    "LinkPolarity",
    "expression_sign",
    "sample_link_sign",
    "sample_polarities",
    "table_sign",
    "value_sign",
]

Sign = int | None

# Key prefix, in the mapping of known signs, of a lookup's shape (rising or falling);
# the lookup's own name there holds the sign of its values.
SHAPE = "\u2197"

# Functions that rise with their (only or every) argument.
_INCREASING = frozenset({"exp", "ln", "sqrt", "arctan", "sinh", "tanh", "integer", "min", "max", "quantum"})


class LinkPolarity(enum.Enum):
    """The sign of a causal link, as drawn on a causal loop diagram."""

    POSITIVE = "+"
    NEGATIVE = "-"
    UNDETERMINED = "?"

    @classmethod
    def from_sign(cls, sign: Sign) -> LinkPolarity:
        if sign is not None and sign > 0:
            return cls.POSITIVE
        if sign is not None and sign < 0:
            return cls.NEGATIVE
        return cls.UNDETERMINED

    @property
    def sign(self) -> int | None:
        return {"+": 1, "-": -1}.get(self.value)


def _combine_sum(a: Sign, b: Sign) -> Sign:
    # A sum rises with x when every term that depends on x rises with it.
    if a == 0:
        return b
    if b == 0:
        return a
    if a is None or b is None or a != b:
        return None
    return a


def _times(a: Sign, b: Sign) -> Sign:
    if a == 0 or b == 0:
        return 0
    if a is None or b is None:
        return None
    return a * b


def table_sign(table: Table) -> Sign:
    """+1 for a graphical function that never falls, -1 for one that never rises."""
    steps = np.diff(np.asarray(table.y, dtype=float))
    if np.all(steps >= 0):
        return 1
    if np.all(steps <= 0):
        return -1
    return None


def value_sign(expr: Expr, known: Mapping[str, int]) -> Sign:
    """The sign of the value of `expr` when the structure decides it.

    `known` maps canonical names to the sign of their value: +1 for quantities
    that are never negative (constants, stocks that stay positive along a run), as
    a never-negative factor cannot turn a product's slope around. Returns 0 only
    for a literal zero; ``None`` when the structure leaves it open.
    """
    if isinstance(expr, Number):
        return int(np.sign(expr.value))
    if isinstance(expr, Ref):
        return known.get(expr.name)
    if isinstance(expr, Unary) and expr.op is UnaryOp.NEG:
        inner = value_sign(expr.operand, known)
        return None if inner is None else -inner
    if isinstance(expr, Binary):
        left, right = value_sign(expr.left, known), value_sign(expr.right, known)
        if expr.op in (Op.MUL, Op.DIV):
            return _times(left, right)
        if expr.op is Op.ADD and left is not None and left == right:
            return left
        if expr.op is Op.SUB and left is not None and right is not None and left == -right:
            return left
        return None
    if isinstance(expr, If):
        then, otherwise = value_sign(expr.then, known), value_sign(expr.otherwise, known)
        return then if then == otherwise else None
    if isinstance(expr, LookupCall):
        if isinstance(expr.table, Table):
            return _values_sign(expr.table.y)
        return known.get(expr.table.name)
    if isinstance(expr, Call):
        signs = [value_sign(arg, known) for arg in expr.args]
        if expr.function in ("exp", "sqrt", "abs"):
            return 1  # never negative: as good as positive for the sign of a product
        if expr.function == "max" and any(sign is not None and sign >= 0 for sign in signs):
            return 1
        if expr.function == "min" and all(sign == 1 for sign in signs):
            return 1
        if expr.function in ("xidz", "zidz"):
            return _times(signs[0], signs[1])
        if expr.function in ("pulse", "pulse train"):
            return 1  # 0 or 1
        if expr.function in ("step", "ramp"):
            return signs[0]  # 0 or the height (slope) given
    return None


def _values_sign(values: tuple[float, ...]) -> Sign:
    """+1 for a table that never goes negative, -1 for one that never goes positive."""
    if min(values) >= 0:
        return 1
    if max(values) <= 0:
        return -1
    return None


def expression_sign(expr: Expr | Table, source: str, known: Mapping[str, int]) -> Sign:
    """The sign of ∂expr/∂source decided from the tree, or None when it is open.

    Parameters
    ----------
    expr:
        The equation of the target variable (for a stock: its net flow).
    source:
        The canonical name of the input moved.
    known:
        Signs of values known in advance (see `value_sign`); for a lookup
        variable, the sign of its values, and under ``SHAPE + name`` the shape of
        its table (`table_sign`).

    Returns
    -------
    +1, -1, 0 (the expression does not read `source`) or None.
    """
    if isinstance(expr, Table):
        return 0
    if not any(isinstance(node, Ref) and node.name == source for node in walk(expr)):
        return 0
    if isinstance(expr, Ref):
        return 1
    if isinstance(expr, Unary):
        inner = expression_sign(expr.operand, source, known)
        if expr.op is UnaryOp.NEG:
            return None if inner is None else -inner
        return None
    if isinstance(expr, Binary):
        return _binary_sign(expr, source, known)
    if isinstance(expr, If):
        # A condition switches between branches; it adds a jump, not a slope. The
        # link's sign is the branches' when they agree (a switch between two
        # positive delay times still divides by something positive).
        return _combine_sum(
            expression_sign(expr.then, source, known), expression_sign(expr.otherwise, source, known)
        )
    if isinstance(expr, LookupCall):
        inner = expression_sign(expr.argument, source, known)
        if isinstance(expr.table, Ref) and expr.table.name == source:
            return None
        # for a lookup variable, `known` holds the shape of its table under SHAPE + name
        shape = (
            table_sign(expr.table) if isinstance(expr.table, Table) else known.get(SHAPE + expr.table.name)
        )
        return _times(inner, shape)
    if isinstance(expr, Call):
        return _call_sign(expr, source, known)
    return None


def _binary_sign(expr: Binary, source: str, known: Mapping[str, int]) -> Sign:
    left = expression_sign(expr.left, source, known)
    right = expression_sign(expr.right, source, known)
    if expr.op is Op.ADD:
        return _combine_sum(left, right)
    if expr.op is Op.SUB:
        return _combine_sum(left, None if right is None else -right)
    if expr.op is Op.MUL:
        # d(ab) = b da + a db: each term's sign times the other factor's value sign
        return _combine_sum(
            _times(left, value_sign(expr.right, known)), _times(right, value_sign(expr.left, known))
        )
    if expr.op is Op.DIV:
        # d(a/b) = da/b - a db/b²
        numerator = _times(left, value_sign(expr.right, known))
        denominator = _times(right, value_sign(expr.left, known))
        return _combine_sum(numerator, None if denominator is None else -denominator)
    if expr.op is Op.POW and right == 0 and isinstance(expr.right, Number):
        exponent = expr.right.value
        base = value_sign(expr.left, known)
        if base is not None and base > 0:
            return _times(left, int(np.sign(exponent)))
        return None
    return None  # comparisons and logic are steps, not slopes


def _call_sign(expr: Call, source: str, known: Mapping[str, int]) -> Sign:
    signs = [expression_sign(arg, source, known) for arg in expr.args]
    name = expr.function
    if name in _INCREASING:
        if name == "quantum":
            return signs[0] if signs[1] == 0 else None
        total: Sign = 0
        for sign in signs:
            total = _combine_sum(total, sign)
        return total
    if name in ("xidz", "zidz"):
        # a/b with a fallback; read it as the division it usually is
        return expression_sign(Binary(Op.DIV, expr.args[0], expr.args[1]), source, known)
    if name in ("step", "ramp", "pulse", "pulse train"):
        return None if any(signs) else 0
    return None


def sample_link_sign(
    function: Callable[..., np.ndarray],
    inputs: tuple[str, ...],
    values: Mapping[str, np.ndarray],
    source: str,
) -> Sign:
    """The sign of ∂z/∂x measured along a run, None if it changes sign.

    Each input is taken from `values` (arrays over the run's time axis, or runs by
    times); the source is nudged up and down by a small relative step and the
    equation re-evaluated, vectorised over every point at once.

    Returns
    -------
    +1 or -1 when every point that responds agrees, 0 when no point responds,
    None when points disagree.
    """
    base = [np.asarray(values[name], dtype=float) for name in inputs]
    index = inputs.index(source)
    x = base[index]
    up, down = list(base), list(base)
    with np.errstate(all="ignore"):
        step = 1e-6 * np.maximum(np.abs(x), 1e-3)
        up[index], down[index] = x + step, x - step
        slope = (np.asarray(function(*up), dtype=float) - np.asarray(function(*down), dtype=float)) / (
            2 * step
        )
    slope = slope[np.isfinite(slope)]
    scale = np.max(np.abs(slope)) if slope.size else 0.0
    if scale == 0.0:
        return 0
    # Round-off around flat stretches is not a change of sign.
    significant = slope[np.abs(slope) > 1e-9 * scale]
    if np.all(significant > 0):
        return 1
    if np.all(significant < 0):
        return -1
    return None


def sample_polarities(
    model: Any,
    graph: Any,
    links: list[tuple[str, str]],
    *,
    known: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[tuple[str, str], LinkPolarity]:
    """Polarities of `links` read with the help of one simulated run.

    First the structure again, with the signs of values the run shows never
    change (a stock that stays positive); then, for what is still open, the sign
    of ∂z/∂x measured along the run (`sample_link_sign`). A link whose sign
    changes along the run, or that never responds, stays ``UNDETERMINED``. When
    the model cannot be simulated the result is empty and the structural reading
    stands.
    """
    from .compiler import compile_model
    from .errors import NestedSystemsError
    from .model import Kind
    from .simulation import simulate
    from .trajectories import Trajectories

    try:
        compiled = compile_model(model, native=False)  # one run: not worth compiling to machine code
        names = [v.name for v in model.variables if v.kind is not Kind.LOOKUP]
        run = simulate(compiled, params=params, return_columns=names, on_nonfinite="ignore")
    except NestedSystemsError:
        return {}
    trajectories = Trajectories(compiled, graph, run)
    # The structure again, now that the run tells which values never go negative.
    observed = dict(known or {})
    for name, series in trajectories.values.items():
        finite = series[np.isfinite(series)]
        if name not in observed and finite.size == series.size:
            if np.all(finite >= 0):
                observed[name] = 1
            elif np.all(finite <= 0):
                observed[name] = -1
    # a variable's elements all keep one sign: so does the variable, read in an equation
    for variable, keys in graph.graph.get("elements", {}).items():
        signs = {observed.get(key) for key in keys}
        sign = signs.pop() if len(signs) == 1 else None
        if variable not in observed and sign is not None:
            observed[variable] = sign
    with np.errstate(all="ignore"):
        return _sampled(graph, trajectories, links, observed)


def _sampled(
    graph: Any, trajectories: Any, links: list[tuple[str, str]], observed: Mapping[str, int]
) -> dict[tuple[str, str], LinkPolarity]:
    found = {}
    for source, target in links:
        variable = graph.nodes[source].get("variable", source)  # an element reads as its variable
        sign = expression_sign(graph.nodes[target]["equation"], variable, observed)
        if sign:
            found[source, target] = LinkPolarity.from_sign(sign)
            continue
        inputs, function = trajectories.function(target)
        if source not in inputs:
            continue
        values = {name: trajectories.series(name) for name in inputs}
        sign = sample_link_sign(function, inputs, values, source)
        found[source, target] = LinkPolarity.from_sign(sign if sign != 0 else None)
    return found
