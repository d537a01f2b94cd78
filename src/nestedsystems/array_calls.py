"""Vensim's array functions, emitted: each takes the `arrays.ArrayEmitter` and a
`Call` and gives the generated text and the dimensions of its result.

VECTOR SELECT and the vector functions reduce the dimensions marked ``!``; VECTOR
SORT ORDER, RANK and REORDER work along the argument's last subscript; ALLOCATE BY
PRIORITY, ALLOCATE AVAILABLE, DEMAND AT PRICE and SUPPLY AT PRICE along the last
subscript of the equation they define; FIND MARKET PRICE along the last subscript
of its quantities, which its result does not have; INVERT MATRIX over the last two.
The numbers are computed at run time by `array_functions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .expressions import Call, Expr, Number, Ref

if TYPE_CHECKING:
    from .arrays import ArrayEmitter

__all__ = ["ARRAY_CALLS"]

Typed = tuple[str, tuple[str, ...]]


def _vector_select(emit: ArrayEmitter, node: Call) -> Typed:
    """VECTOR SELECT(selection[d!], values[d!], missing, action, error action):
    reduces the ``!`` dimensions over the selected (non-zero) elements. The error
    action is not acted on: a run does not stop for an empty selection."""
    selection, values, missing, action, _ = node.args
    if not isinstance(action, Number) or action.value not in range(11):
        raise emit.fail("VECTOR SELECT's numerical action must be a number from 0 to 10")
    (s, v), dims = emit.common(selection, values)
    axes = tuple(i for i, d in enumerate(dims) if d.endswith("!"))
    if not axes:
        raise emit.fail("VECTOR SELECT reduces a dimension marked with '!'")
    kept = tuple(d for d in dims if not d.endswith("!"))
    fill, fill_dims = emit.typed(missing)
    fill = emit.align(fill, fill_dims, kept)
    return f"_vector_select({s}, {v}, {axes!r}, {int(action.value)}, {fill})", kept


def _element_map(emit: ArrayEmitter, node: Call) -> Typed:
    """VECTOR ELM MAP(x[first], offset): x read ``offset`` elements after the one
    named, counting through x's elements row-major as Vensim lays them out."""
    vector, offset = node.args
    if not isinstance(vector, Ref) or not emit.model[vector.name].dims:
        raise emit.fail("VECTOR ELM MAP reads a subscripted variable, as x[first element]")
    variable = emit.model[vector.name]
    shape = emit.space.shape(variable.dims)
    places = emit.constant(np.arange(math.prod(shape), dtype=float).reshape(*shape, 1))
    start, start_dims = emit.index(places, variable.dims, vector.subscripts, variable.name)
    (start, step), dims = emit.common_typed((start, emit.mapped(start_dims)), emit.typed(offset))
    return f"_element_map({emit.local[vector.name]}, {start}, {step})", dims


def _along_last(emit: ArrayEmitter, node: Call) -> Typed:
    """VECTOR SORT ORDER, RANK and REORDER work along the argument's last subscript."""
    text, dims = emit.typed(node.args[0])
    if not dims:
        raise emit.fail(f"{node.function.upper()} takes a subscripted argument")
    if node.function == "vector reorder":
        order, order_dims = emit.typed(node.args[1])
        want = tuple(dict.fromkeys((*dims[:-1], *order_dims)))
        if want[-1] != order_dims[-1]:
            raise emit.fail("VECTOR REORDER's order must end with the same subscript as the equation")
        renamed = (*dims[:-1], order_dims[-1])
        return f"_reorder({emit.align(text, renamed, want)}, {emit.align(order, order_dims, want)})", want
    direction = node.args[1]
    if not isinstance(direction, Number):
        raise emit.fail(f"{node.function.upper()}'s direction must be 1 (ascending) or 0 (descending)")
    ascending = "True" if direction.value > 0 else "False"
    helper = "_sort_order" if node.function == "vector sort order" else "_rank"
    return f"{helper}({text}, {ascending})", dims


def _allocate_by_priority(emit: ArrayEmitter, node: Call) -> Typed:
    """ALLOCATE BY PRIORITY along the last subscript of the equation it defines."""
    target = tuple(d for d in emit.context if d is not None)
    if not target:
        raise emit.fail("ALLOCATE BY PRIORITY defines a subscripted variable")
    request, priority, _, width, supply = (emit.typed(a) for a in node.args)
    arguments = (request, priority, width, supply)
    texts = [emit.align(t, emit.mapped(d), target, assign=True) for t, d in arguments]
    return f"_allocate_by_priority({', '.join(texts)})", target


def _whole(emit: ArrayEmitter, node: Expr, depth: int, expected: str) -> Typed:
    """An agents' argument read whole along its last ``depth`` subscripts, whatever
    element it names there: a priority profile is passed as ``pp[..., ptype]`` and
    stands for all four fields; FIND MARKET PRICE's arguments name their agents'
    first element, as its result has no agents' subscript."""
    if not isinstance(node, Ref) or len(node.subscripts) < depth:
        raise emit.fail(f"expected {expected}, a subscripted variable")
    variable = emit.model[node.name]
    whole = (*node.subscripts[:-depth], *variable.dims[-depth:])
    text, dims = emit.index(emit.local[node.name], variable.dims, whole, variable.name)
    return text, (emit.mapped(dims) if emit.variable and emit.variable.dims else dims)


def _profile(emit: ArrayEmitter, node: Expr, want: tuple[str, ...], depth: int = 1) -> list[str]:
    """ptype, ppriority and pwidth of a priority profile, each laid over ``want``."""
    text, dims = _whole(emit, node, depth, "a priority profile, as pp[..., ptype]")
    if emit.space.size(dims[-1]) != 4:
        raise emit.fail("a priority profile has four fields: ptype, ppriority, pwidth, pextra")
    return [emit.align(f"{text}[..., {k}, :]", dims[:-1], want, assign=True) for k in range(3)]


def _allocate_available(emit: ArrayEmitter, node: Call) -> Typed:
    """ALLOCATE AVAILABLE(request, pp[..., ptype], avail) along the last subscript of
    the equation it defines."""
    target = tuple(d for d in emit.context if d is not None)
    request, profile, available = node.args
    if not target:
        raise emit.fail("ALLOCATE AVAILABLE defines a subscripted variable")
    fields = _profile(emit, profile, target)
    (r, r_dims), (a, a_dims) = emit.typed(request), emit.typed(available)
    r, a = emit.align(r, r_dims, target, assign=True), emit.align(a, a_dims, target, assign=True)
    return f"_allocate_available({r}, {', '.join(fields)}, {a})", target


def _at_price(emit: ArrayEmitter, node: Call) -> Typed:
    """DEMAND AT PRICE and SUPPLY AT PRICE(q, pp[..., ptype], price) along the last
    subscript of the equation they define."""
    target = tuple(d for d in emit.context if d is not None)
    quantity, profile, price = node.args
    if not target:
        raise emit.fail(f"{node.function.upper()} defines a subscripted variable")
    fields = _profile(emit, profile, target)
    (q, q_dims), (p, p_dims) = emit.typed(quantity), emit.typed(price)
    q, p = emit.align(q, q_dims, target, assign=True), emit.align(p, p_dims, target, assign=True)
    supply = node.function == "supply at price"
    return f"_at_price({q}, {', '.join(fields)}, {p}, {supply})", target


def _market_price(emit: ArrayEmitter, node: Call) -> Typed:
    """FIND MARKET PRICE(dq[..., d1], dp[..., d1, ptype], sq[..., s1], sp[..., s1, ptype]):
    one price per market, over the equation's subscripts (none of the agents')."""
    result = tuple(d for d in emit.context if d is not None) if emit.variable and emit.variable.dims else ()
    sides = []
    for quantity, profile in (node.args[:2], node.args[2:]):
        text, dims = _whole(emit, quantity, 1, "the agents' quantities, as q[..., first agent]")
        if dims[-1] in result:
            raise emit.fail(f"FIND MARKET PRICE's result has no subscript of its agents, found {dims[-1]!r}")
        want = (*result, dims[-1])
        sides += [emit.align(text, dims, want, assign=True), *_profile(emit, profile, want, depth=2)]
    return f"_market_price({', '.join(sides)})", result


def _invert_matrix(emit: ArrayEmitter, node: Call) -> Typed:
    text, dims = emit.typed(node.args[0])
    if len(dims) < 2 or emit.space.size(dims[-1]) != emit.space.size(dims[-2]):
        raise emit.fail("INVERT MATRIX takes a square matrix over its last two subscripts")
    return f"_invert({text})", dims


ARRAY_CALLS: dict[str, Callable[[ArrayEmitter, Call], Typed]] = {
    "vector select": _vector_select,
    "vector elm map": _element_map,
    "vector sort order": _along_last,
    "vector rank": _along_last,
    "vector reorder": _along_last,
    "allocate by priority": _allocate_by_priority,
    "allocate available": _allocate_available,
    "demand at price": _at_price,
    "supply at price": _at_price,
    "find market price": _market_price,
    "invert matrix": _invert_matrix,
}
