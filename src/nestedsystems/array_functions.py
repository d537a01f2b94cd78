"""The functions generated array code calls: the array counterpart of `builtins`.

Every array they take or return has the run axis last, ``(*dims, R)`` (see
`arrays`); the axis a function works along is the one before it (``axis=-2``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["ARRAY_NAMESPACE"]


def _runs(p: Any) -> int:
    """The run axis' length: 1, or N when some parameter is an ensemble's array."""
    return max((np.shape(v)[-1] for v in p if np.ndim(v)), default=1)


def _full(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` broadcast to ``(*shape, R)``: every arrayed variable is stored whole, so
    that reading one of its elements or subranges is plain indexing."""
    x = np.asarray(x, dtype=float)
    runs = x.shape[-1] if x.ndim else 1
    return np.broadcast_to(x, (*shape, runs))


def _parts(shape: tuple[int, ...], runs: int, parts: tuple) -> np.ndarray:
    """A variable defined in parts: each part's values written at its index tuple."""
    out = np.zeros((*shape, runs))
    for index, values, mask in parts:
        if mask is None:
            out[index] = values
        else:
            out[index] = np.where(mask, values, out[index])
    return out


def _lookup_each(x: Any, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Linear interpolation with one table per element: ``x`` is ``(..., R)``, the
    tables ``(..., points)``, broadcast against each other; held flat outside."""
    x = np.asarray(x, dtype=float)[..., None]  # (..., R, 1)
    xs, ys = xs[..., None, :], ys[..., None, :]  # (..., 1, points)
    shape = np.broadcast_shapes(x.shape, xs.shape)
    xs, ys = np.broadcast_to(xs, shape), np.broadcast_to(ys, shape)
    x = np.broadcast_to(x, (*shape[:-1], 1))
    points = shape[-1]
    right = np.clip((xs <= x).sum(axis=-1, keepdims=True), 1, max(points - 1, 1))
    left = right - 1
    x0, x1 = np.take_along_axis(xs, left, -1), np.take_along_axis(xs, right, -1)
    y0, y1 = np.take_along_axis(ys, left, -1), np.take_along_axis(ys, right, -1)
    span = np.where(x1 > x0, x1 - x0, 1.0)
    inside = np.where(x1 > x0, y0 + (y1 - y0) * (x - x0) / span, y0)
    low, high = xs[..., :1], xs[..., -1:]
    value = np.where(x <= low, ys[..., :1], np.where(x >= high, ys[..., -1:], inside))
    return value[..., 0]


def _invert(x: np.ndarray) -> np.ndarray:
    """INVERT MATRIX over the two axes before the run axis, for every run and leading element."""
    stacked = np.moveaxis(np.asarray(x, dtype=float), -1, 0)  # (R, ..., n, n)
    return np.moveaxis(np.linalg.inv(stacked), 0, -1)


def _sort_order(x: np.ndarray, ascending: bool) -> np.ndarray:
    """VECTOR SORT ORDER: for each place, the index (from 0) of the element that goes there."""
    order = np.argsort(x, axis=-2, kind="stable")
    return (order if ascending else np.flip(order, axis=-2)) * 1.0


def _rank(x: np.ndarray, ascending: bool) -> np.ndarray:
    """VECTOR RANK: each element's place (from 1) in that order."""
    return np.argsort(_sort_order(x, ascending), axis=-2, kind="stable") + 1.0


def _reorder(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """VECTOR REORDER: the elements of ``x`` taken in ``order`` along the last subscript."""
    shape = np.broadcast_shapes(np.shape(x), np.shape(order))
    index = np.broadcast_to(np.asarray(order), shape).astype(int)
    return np.take_along_axis(np.broadcast_to(x, shape), index, axis=-2)


def _allocate_by_priority(request: Any, priority: Any, width: Any, supply: Any) -> np.ndarray:
    """ALLOCATE BY PRIORITY along the axis before the run axis.

    Vensim's rule, as PySD's runtime follows it, amounts to one cut-off level ``x``
    shared by the requesters: each gets ``request * clip((priority - x) / width, 0, 1)``,
    with ``x`` such that the allocations add up to the supply (all requests in full
    when the supply covers them). The total only falls as ``x`` rises, so ``x`` is
    found by bisection, for every group and run at once.
    """
    shape = np.broadcast_shapes(np.shape(request), np.shape(priority), np.shape(width), np.shape(supply))
    request, priority = np.broadcast_to(request, shape), np.broadcast_to(priority, shape)
    width = np.broadcast_to(width, shape)
    supply = np.broadcast_to(supply, shape)[..., :1, :]

    def total(x: np.ndarray) -> np.ndarray:
        return np.sum(request * np.clip((priority - x) / width, 0.0, 1.0), axis=-2, keepdims=True)

    low = np.min(priority - width, axis=-2, keepdims=True)
    high = np.max(priority, axis=-2, keepdims=True)
    for _ in range(80):  # halves the bracket to round-off
        middle = 0.5 * (low + high)
        over = total(middle) > supply
        low, high = np.where(over, middle, low), np.where(over, high, middle)
    return request * np.clip((priority - high) / width, 0.0, 1.0)


# Abramowitz and Stegun 26.2.16 (Hastings' three-term rational approximation):
# the upper tail of the unit normal as Vensim computes its normal priority
# profile. Its error is under 1e-5 absolutely but grows relatively in the tail
# (+0.5% at 3.3 widths, +4% at 7), and Vensim's allocations carry exactly that:
# with the exact curve, ALLOCATE AVAILABLE's tails differ from Vensim's by up to 4%.
_HASTINGS_P = 0.33267
_HASTINGS_A = (0.4361836, -0.1201676, 0.9372980)


def _normal_tail(u: np.ndarray) -> np.ndarray:
    """Share of a normal priority profile at ``u`` widths past its priority: the
    upper tail by Vensim's approximation, mirrored below the midpoint."""
    z = np.abs(u)
    t = 1.0 / (1.0 + _HASTINGS_P * z)
    a1, a2, a3 = _HASTINGS_A
    tail = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) * t * (a1 + t * (a2 + t * a3))
    return np.where(u >= 0, tail, 1.0 - tail)


_PROFILE_KINDS = np.array([1.0, 2.0, 3.0, 4.0])


def _demand(kind: np.ndarray, request: np.ndarray, priority: np.ndarray, width: np.ndarray, x: Any) -> Any:
    """What each requester takes at the cut-off level ``x``, by its profile's kind:
    1 rectangular, 2 triangular, 3 normal, 4 exponential."""
    unknown = np.setdiff1d(np.unique(kind), _PROFILE_KINDS)
    if unknown.size:
        # Vensim's 0 (fixed quantity) and 5 (constant elasticity) are not written yet:
        # stop with the reason rather than let NaN run on
        raise ParameterError(
            f"a priority profile's ptype must be 1 (rectangular), 2 (triangular), 3 (normal) "
            f"or 4 (exponential); found {unknown[0]:g} (0, fixed quantity, and 5, constant "
            "elasticity, are not supported yet)"
        )
    with np.errstate(all="ignore"):
        u = (x - priority) / width  # from the midpoint, in widths
        rectangular = np.clip(0.5 - u, 0.0, 1.0)
        falling = np.where(u < 0.5, 2 * (0.5 - u) ** 2, 0.0)
        triangular = np.where(u <= -0.5, 1.0, np.where(u < 0, 1 - 2 * (u + 0.5) ** 2, falling))
        normal = _normal_tail(u)
        exponential = np.where(u < 0, 1 - 0.5 * np.exp(np.minimum(u, 0.0)), 0.5 * np.exp(-np.maximum(u, 0.0)))
        curves = [rectangular, triangular, normal, exponential]
        share = np.select([kind == k for k in (1, 2, 3, 4)], curves, np.nan)
    return request * share


def _allocate_available(request: Any, kind: Any, priority: Any, width: Any, available: Any) -> np.ndarray:
    """ALLOCATE AVAILABLE along the axis before the run axis: as ALLOCATE BY PRIORITY,
    one cut-off level shared by the requesters, each taking what its priority profile
    gives there (Vensim's curves: PySD's runtime has the same, but for the normal
    profile, where Vensim approximates the curve); bisection on the level."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in (request, kind, priority, width, available)))
    request, kind, priority, width = (np.broadcast_to(v, shape) for v in (request, kind, priority, width))
    available = np.broadcast_to(available, shape)[..., :1, :]
    reach = 40.0 * np.abs(width)  # past this every curve is flat to round-off

    def total(x: np.ndarray) -> np.ndarray:
        return np.sum(_demand(kind, request, priority, width, x), axis=-2, keepdims=True)

    low = np.min(priority - reach, axis=-2, keepdims=True)
    high = np.max(priority + reach, axis=-2, keepdims=True)
    for _ in range(100):
        middle = 0.5 * (low + high)
        over = total(middle) > available
        low, high = np.where(over, middle, low), np.where(over, high, middle)
    allocation = _demand(kind, request, priority, width, high)
    enough = np.sum(request, axis=-2, keepdims=True) <= available
    return np.where(enough, request, allocation)


def _at_price(quantity: Any, kind: Any, priority: Any, width: Any, price: Any, supply: bool) -> Any:
    """DEMAND AT PRICE and SUPPLY AT PRICE: each agent's quantity times its profile's
    share at ``price``. Demand takes the curve ALLOCATE AVAILABLE gives requesters
    (falling as the price rises), supply its complement (rising with the price)."""
    demanded = _demand(np.asarray(kind), np.asarray(quantity), np.asarray(priority), np.asarray(width), price)
    return quantity - demanded if supply else demanded


def _market_price(*sides: Any) -> np.ndarray:
    """FIND MARKET PRICE: the price at which the demanders' quantities at that price add
    up to the suppliers', along the axis before the run axis of each side (quantity,
    ptype, ppriority, pwidth for demand, then the same for supply). The excess of
    demand only falls as the price rises, so the price is found by bisection, for
    every market and run at once."""

    def spread(side: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        shape = np.broadcast_shapes(*(np.shape(v) for v in side))
        quantity, kind, priority, width = (np.broadcast_to(v, shape) for v in side)
        return quantity, kind, priority, width

    demanders, suppliers = spread(sides[:4]), spread(sides[4:])
    lows, highs = [], []
    for _, _, priority, width in (demanders, suppliers):
        reach = 40.0 * np.abs(width)  # past this every curve is flat to round-off
        lows.append(np.min(priority - reach, axis=-2, keepdims=True))
        highs.append(np.max(priority + reach, axis=-2, keepdims=True))
    low, high = np.minimum(*lows), np.maximum(*highs)

    def excess(price: np.ndarray) -> np.ndarray:
        wanted = np.sum(_at_price(*demanders, price, supply=False), axis=-2, keepdims=True)
        offered = np.sum(_at_price(*suppliers, price, supply=True), axis=-2, keepdims=True)
        return wanted - offered

    for _ in range(100):
        middle = 0.5 * (low + high)
        short = excess(middle) > 0  # demand exceeds supply: the price must rise
        low, high = np.where(short, middle, low), np.where(short, high, middle)
    return 0.5 * (low + high)[..., 0, :]


_SELECT_REDUCTIONS: dict[int, Any] = {
    0: np.nansum,
    6: np.nansum,
    1: np.nanprod,
    5: np.nanprod,
    7: np.nanprod,
    2: np.nanmin,
    8: np.nanmin,
    3: np.nanmax,
    9: np.nanmax,
    4: np.nanmean,
    10: np.nanmean,
}


def _vector_select(selection: Any, values: Any, axes: tuple[int, ...], action: int, missing: Any) -> Any:
    """VECTOR SELECT: actions 0-4 weigh the values by the selection, 5 raises them to
    it (as Vensim does, whatever its help says), 6-10 take them as they are; then sum
    (0, 6), product (1, 5, 7), minimum (2, 8), maximum (3, 9) or mean (4, 10) over the
    selected elements, ``missing`` where none is selected."""
    selection, values = np.broadcast_arrays(selection, values)
    chosen = selection != 0
    if action <= 4:
        picked = selection * values
    elif action == 5:
        picked = values**selection
    else:
        picked = values
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: filled below
        reduced = _SELECT_REDUCTIONS[action](np.where(chosen, picked, np.nan), axis=axes)
    return np.where(np.any(chosen, axis=axes), reduced, missing)


def _element_map(x: np.ndarray, start: Any, offset: Any) -> np.ndarray:
    """VECTOR ELM MAP: ``x`` flattened row-major, read at ``start + offset``; NaN
    outside the array."""
    flat = x.reshape(-1, x.shape[-1])
    place = np.rint(np.asarray(start) + np.asarray(offset))
    runs = max(flat.shape[-1], place.shape[-1] if place.ndim else 1)
    place = np.broadcast_to(place, (*np.shape(place)[:-1], runs)) if place.ndim else np.full(runs, place)
    flat = np.broadcast_to(flat, (flat.shape[0], runs))
    inside = (place >= 0) & (place < flat.shape[0])
    picked = flat[np.where(inside, place, 0).astype(int), np.arange(runs)]
    return np.where(inside, picked, np.nan)


ARRAY_NAMESPACE = {
    "_element_map": _element_map,
    "_vector_select": _vector_select,
    "_allocate_available": _allocate_available,
    "_at_price": _at_price,
    "_market_price": _market_price,
    "_sort_order": _sort_order,
    "_rank": _rank,
    "_reorder": _reorder,
    "_allocate_by_priority": _allocate_by_priority,
    "_runs": _runs,
    "_full": _full,
    "_parts": _parts,
    "_lookup_each": _lookup_each,
    "_invert": _invert,
}
