"""Vensim's array functions, emitted: each takes the `arrays.ArrayEmitter` and a
`Call` and gives the generated text and the dimensions of its result.

VECTOR SELECT and the vector functions reduce the dimensions marked ``!``; VECTOR
SORT ORDER, RANK and REORDER work along the argument's last subscript; ALLOCATE BY
PRIORITY and ALLOCATE AVAILABLE along the last subscript of the equation they
define; INVERT MATRIX over the last two. The numbers are computed at run time by
`array_functions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .expressions import Call, Number, Ref

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


def _allocate_available(emit: ArrayEmitter, node: Call) -> Typed:
    """ALLOCATE AVAILABLE(request, pp[..., ptype], avail): the priority profiles'
    last subscript names the profile's first field; the profile is all four."""
    target = tuple(d for d in emit.context if d is not None)
    request, profile, available = node.args
    if not target or not isinstance(profile, Ref) or not profile.subscripts:
        raise emit.fail("ALLOCATE AVAILABLE takes subscripted requests and priority profiles")
    variable = emit.model[profile.name]
    whole = (*profile.subscripts[:-1], variable.dims[-1])
    text, dims = emit.index(emit.local[profile.name], variable.dims, whole, variable.name)
    if emit.space.size(dims[-1]) != 4:
        raise emit.fail("a priority profile has four fields: ptype, ppriority, pwidth, pextra")
    own = emit.mapped(dims[:-1])
    fields = [emit.align(f"{text}[..., {k}, :]", own, target, assign=True) for k in range(3)]
    (r, r_dims), (a, a_dims) = emit.typed(request), emit.typed(available)
    r, a = emit.align(r, r_dims, target, assign=True), emit.align(a, a_dims, target, assign=True)
    return f"_allocate_available({r}, {', '.join(fields)}, {a})", target


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
    "invert matrix": _invert_matrix,
}
