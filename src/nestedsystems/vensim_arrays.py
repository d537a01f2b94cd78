"""Subscripts in PySD's abstract model, turned into the IR's arrays.

Called from `vensim` (the only module that imports pysd; this one only reads the
objects it is handed): subscript ranges become `Dimension`, a component's
``subscripts`` (the definition's subscripts and its EXCEPT lists) become a
variable's ``dims`` and, for a variable defined in pieces, a `Defined` equation;
``ReferenceStructure.subscripts`` become ``Ref.subscripts``.

Names are made canonical here, once, like every other name of the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ModelSyntaxError, UnsupportedError
from .expressions import Call, Defined, Expr, Number, Numbers, Position, Ref, Selector, Table, canonical
from .model import Dimension, Kind, Variable

__all__ = [
    "STRUCTURES",
    "dimensions",
    "is_arrayed",
    "numbers",
    "reference",
    "reference_subscripts",
    "structure",
    "variable",
]


# PySD structure -> (IR function, the structure's fields in the IR's argument order)
STRUCTURES = {
    "AllocateByPriorityStructure": (
        "allocate by priority",
        ("request", "priority", "size", "width", "supply"),
    ),
    "AllocateAvailableStructure": ("allocate available", ("request", "pp", "avail")),
}


def structure(node: Any, walk: Callable[[Any], Expr]) -> Expr:
    """An array function PySD parses into a structure of its own."""
    function, fields = STRUCTURES[type(node).__name__]
    return Call(function, tuple(walk(getattr(node, f)) for f in fields))


def dimensions(section: Any, file: Any = None) -> tuple[Dimension, ...]:
    """The subscript ranges of a PySD section, copies resolved to their elements."""
    ranges = {canonical(r.name): r for r in section.subscripts}
    found: dict[str, Dimension] = {}

    def resolve(key: str, seen: frozenset[str] = frozenset()) -> Dimension:
        if key in found:
            return found[key]
        subscript_range = ranges[key]
        elements = subscript_range.subscripts
        if isinstance(elements, str):  # a copy, B <-> A: the elements of A
            source = canonical(elements)
            if source not in ranges or source in seen:
                raise ModelSyntaxError(
                    f"the subscript range {subscript_range.name!r} copies {elements!r}, which is not defined",
                    file=file,
                )
            elements = resolve(source, seen | {key}).elements
        elif not isinstance(elements, (list, tuple)):
            raise UnsupportedError(
                f"subscript range {subscript_range.name!r} read from external data is not supported yet",
                file=file,
            )
        # A range may list other ranges among its elements: they stand for their elements.
        expanded: list[str] = []
        for element in elements:
            inner = canonical(str(element))
            if inner in ranges and inner != key and inner not in seen:
                expanded.extend(resolve(inner, seen | {key}).elements)
            else:
                expanded.append(str(element))
        elements = expanded
        mapping = tuple(canonical(m) for m in (subscript_range.mapping or ()) if isinstance(m, str))
        if len(mapping) != len(subscript_range.mapping or ()):
            raise UnsupportedError(
                f"element-by-element mappings of {subscript_range.name!r} are not supported yet", file=file
            )
        found[key] = Dimension(subscript_range.name, tuple(str(e) for e in elements), mapping)
        return found[key]

    return tuple(resolve(key) for key in ranges)


def reference(node: Any, model_dimensions: tuple[Dimension, ...]) -> Ref | Position:
    """A PySD reference: a variable (perhaps subscripted), TIME, or a subscript
    range read as a number (Vensim's ``x[d] = d``)."""
    key = canonical(node.reference)
    if node.subscripts is not None:
        return Ref(key, reference_subscripts(node.subscripts))
    if node.reference == "time":
        return Ref("time")
    if any(d.key == key for d in model_dimensions):
        return Position(key)
    return Ref(key)


def reference_subscripts(node: Any) -> tuple[str, ...]:
    """``x[a, b!]`` -> ``("a", "b!")``: canonical, the vector functions' ``!`` kept."""
    return tuple(canonical(s.rstrip("!")) + ("!" if s.endswith("!") else "") for s in node.subscripts)


def numbers(array: np.ndarray) -> Numbers:
    """A list or table of numbers; PySD reads Vensim's :NA: as NaN, Vensim computes with -2**109."""
    values = np.where(np.isnan(array), -(2.0**109), array.astype(float))
    return Numbers(tuple(float(v) for v in values.ravel()), tuple(int(n) for n in array.shape))


def is_arrayed(element: Any) -> bool:
    """Whether a PySD element is subscripted (or defined in more than one piece)."""
    return len(element.components) > 1 or any(c.subscripts and any(c.subscripts) for c in element.components)


def variable(
    element: Any,
    where: Any,
    common: dict[str, Any],
    model_dimensions: tuple[Dimension, ...],
    expression: Callable[[Any], Expr],
    table: Callable[[Any], Table],
) -> Variable:
    """An arrayed variable from a PySD element whose components carry subscripts.

    Parameters
    ----------
    element:
        PySD's element: one component per ``name[subscripts] = ...`` definition.
    where:
        `vensim._Where`, for error messages.
    common:
        Name, units, range, documentation and line, worked out by the caller.
    model_dimensions:
        The model's subscript ranges.
    expression, table:
        The caller's walkers for an equation and a lookup.
    """
    by_key = {d.key: d for d in model_dimensions}
    pieces = []
    for component in element.components:
        subscripts, excepted = component.subscripts or ([], [])
        pieces.append(
            (
                tuple(canonical(s) for s in subscripts),
                tuple(tuple(canonical(s) for s in e) for e in excepted or ()),
                component,
            )
        )
    rank = {len(p[0]) for p in pieces}
    if len(rank) != 1 or 0 in rank:
        raise where.syntax("every definition of an arrayed variable needs one subscript per dimension")
    dims = _dimensions_spanned([p[0] for p in pieces], by_key, where)
    kinds = {type(p[2]).__name__ for p in pieces}
    if kinds - {"AbstractComponent", "AbstractLookup", "AbstractUnchangeableConstant"}:
        raise where.unsupported(
            "data variables (:=)" if "AbstractData" in kinds else f"the element kind {kinds}"
        )
    asts = [p[2].ast for p in pieces]
    structures = {type(a).__name__ for a in asts}
    whole = len(pieces) == 1 and pieces[0][0] == dims and not pieces[0][1]

    def selector(piece: tuple) -> Selector:
        return Selector(piece[0], piece[1])

    if kinds == {"AbstractLookup"}:
        if structures != {"LookupsStructure"}:
            raise where.unsupported("this lookup")
        tables = [table(a) for a in asts]
        equation: Any = (
            tables[0]
            if whole
            else Defined(tuple((selector(p), t) for p, t in zip(pieces, tables, strict=True)))
        )
        return Variable(kind=Kind.LOOKUP, equation=equation, dims=dims, **common)
    if "AbstractLookup" in kinds:
        raise where.unsupported("a variable defined partly as a lookup")
    if structures == {"IntegStructure"}:
        flows = [expression(a.flow) for a in asts]
        initials = [expression(a.initial) for a in asts]
        if whole:
            flow, initial = flows[0], initials[0]
        else:
            flow = Defined(tuple((selector(p), f) for p, f in zip(pieces, flows, strict=True)))
            initial = Defined(tuple((selector(p), i) for p, i in zip(pieces, initials, strict=True)))
        return Variable(
            kind=Kind.STOCK,
            equation=flow,
            initial=initial,
            non_negative=any(bool(a.non_negative) for a in asts),
            dims=dims,
            **common,
        )
    if "IntegStructure" in structures:
        raise where.unsupported("a variable defined partly as a stock")
    equations = [expression(a) for a in asts]
    constant = all(isinstance(e, (Number, Numbers)) for e in equations)
    equation = (
        equations[0]
        if whole
        else Defined(tuple((selector(p), e) for p, e in zip(pieces, equations, strict=True)))
    )
    return Variable(
        kind=Kind.CONSTANT if constant else Kind.AUXILIARY, equation=equation, dims=dims, **common
    )


def _dimensions_spanned(
    subscripts: list[tuple[str, ...]], by_key: dict[str, Dimension], where: Any
) -> tuple[str, ...]:
    """For each position, the dimension covering every element the definitions name.

    ``x[a1] = ...; x[sub] = ...`` spans the dimension holding both; a definition over
    a whole dimension names it outright.
    """
    element_home: dict[str, list[str]] = {}
    for dimension in by_key.values():
        for element in dimension.element_keys:
            element_home.setdefault(element, []).append(dimension.key)
    dims = []
    for position in range(len(subscripts[0])):
        names = [s[position] for s in subscripts]
        covered: set[str] = set()
        for name in names:
            if name in by_key:
                covered.update(by_key[name].element_keys)
            elif name in element_home:
                covered.add(name)
            else:
                raise where.syntax(f"{name!r} is neither a subscript range nor an element of one")
        named = [n for n in dict.fromkeys(names) if n in by_key and set(by_key[n].element_keys) == covered]
        if named:
            dims.append(named[0])
            continue
        order = list(by_key)
        candidates = [d for d in by_key.values() if covered <= set(d.element_keys)]
        if not candidates:
            raise where.syntax(f"no subscript range holds all of {sorted(covered)}")
        best = min(candidates, key=lambda d: (len(d.elements), order.index(d.key)))
        dims.append(best.key)
    return tuple(dims)
