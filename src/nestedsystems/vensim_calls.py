"""Vensim's function calls, read from PySD's syntax tree into IR expressions.

Most calls map one to one onto the IR's vocabulary (`expressions.FUNCTIONS`); this
module holds the ones that do not: lookups called by name, IF THEN ELSE, PySD's own
spellings, Vensim functions that read as algebra (GET TIME VALUE, TIME BASE,
ELMCOUNT, XMILE's PULSE), macro calls, and the functions refused on purpose, each
with its reason. Nothing here imports pysd: the nodes arrive already parsed.
"""

from __future__ import annotations

from typing import Any

from . import noise, vensim_arrays
from .expressions import FUNCTIONS, Binary, Call, Expr, If, LookupCall, LookupMode, Number, Op, Ref, canonical
from .macros import MacroCall

__all__ = ["call"]

_LOOKUP_FUNCTIONS = {
    "lookup_extrapolate": LookupMode.EXTRAPOLATE,
    "lookup_forward": LookupMode.FORWARD,
    "lookup_backward": LookupMode.BACKWARD,
    "lookup_invert": LookupMode.INVERT,
}
# PySD's names for functions the IR spells differently.
_RENAMED = {"Xramp": "ramp"}
_SPELLED = {
    "vmax_xmile": "MAX over an array",
    "vmin_xmile": "MIN over an array",
}
# Vensim functions refused on purpose, and why: what a modeler can do instead.
_REFUSED = {
    "shift if true": ": it overwrites the stock it is given, which no equation may do here; "
    "write the aging chain with flows (DELAY FIXED or an outflow per cohort)",
}
# The market's allocation functions, and which of their arguments are the agents'
# quantities and priority profiles: subscripted variables, read whole at run time.
_AGENT_ARGUMENTS = {"find market price": (0, 1, 2, 3), "demand at price": (0, 1), "supply at price": (0, 1)}


def call(node: Any, where: Any, walk: Any) -> Expr:
    """A PySD call node as an IR expression: a function, a lookup, or a macro.

    ``where`` is the loader's record of the variable being read (its errors name
    the file, line and variable); ``walk`` reads an argument."""
    name = node.function.reference
    if name == "elmcount":
        return _element_count(node, where)
    args = tuple(walk(a) for a in node.arguments)
    key = canonical(name)
    if key == "get time value" and key not in where.lookups:
        return _time_value(args, where)
    if key == "time base" and key not in where.lookups:
        # Vensim: "Same as START + Time*SLOPE", marking the variable as a time axis.
        if len(args) != 2:
            raise where.syntax(f"TIME BASE takes 2 arguments, found {len(args)}")
        return Binary(Op.ADD, args[0], Binary(Op.MUL, Ref("time"), args[1]))
    arity = noise.RANDOM_FUNCTIONS.get(key)
    if arity is not None and len(args) != arity and key not in where.lookups:
        raise where.syntax(f"{key.upper()} takes {arity} arguments, found {len(args)}")
    if key in where.macros and key not in where.lookups:
        return MacroCall(key, args)  # type: ignore[return-value]  # gone after expand_macros
    if key in where.lookups:
        if len(args) != 1:
            raise where.syntax(f"the lookup {name} takes one argument, found {len(args)}")
        lookup = vensim_arrays.reference(node.function, where.dimensions)
        assert isinstance(lookup, Ref)  # a lookup's name, which no subscript range shares
        return LookupCall(lookup, args[0])
    if name in _LOOKUP_FUNCTIONS:
        table = args[0] if args else None
        if len(args) != 2 or not isinstance(table, Ref):
            raise where.syntax(f"{name.upper().replace('_', ' ')} takes a lookup's name and one argument")
        return LookupCall(table, args[1], _LOOKUP_FUNCTIONS[name])
    if name == "if_then_else":
        if len(args) != 3:
            raise where.syntax(f"IF THEN ELSE takes 3 arguments, found {len(args)}")
        return If(*args)
    if name in ("Xpulse", "Xpulse_train"):
        return _xmile_pulse(args)
    if name == "pulse_train":
        # PySD reorders Vensim's (start, width, interval, end) to (start, interval, width, end).
        start, interval, width, end = args
        args = (start, width, interval, end)
    agents = _AGENT_ARGUMENTS.get(key, ()) if key not in where.lookups else ()
    if any(not (isinstance(args[i], Ref) and args[i].subscripts) for i in agents if i < len(args)):
        raise where.syntax(
            f"{key.upper()} takes subscripted quantities and priority profiles, "
            "as q[agent] and pp[agent, ptype]"
        )
    function = _RENAMED.get(name, key)
    if function not in FUNCTIONS:
        spelled = _SPELLED.get(name, name.upper().replace("_", " "))
        hint = _REFUSED.get(key, " (and the model defines no lookup of that name)")
        raise where.unsupported(f"the function {spelled}", hint)
    try:
        return Call(function, args)
    except ValueError as error:
        raise where.syntax(str(error)) from None


def _xmile_pulse(args: tuple[Expr, ...]) -> Expr:
    """XMILE's PULSE(magnitude, first, interval), which PySD hands over as (first,
    magnitude) or (first, interval, magnitude): a volume, so magnitude/TIME STEP for
    the one step at first and every interval after (once when interval is 0), as in
    Stella and PySD's runtime (whose pulse lasts half a step)."""
    start, interval, magnitude = (args[0], Number(0.0), args[1]) if len(args) == 2 else args
    step = Ref("time step")
    half_step = Binary(Op.DIV, step, Number(2.0))
    if interval == Number(0.0):
        shape = Call("pulse", (start, half_step))
    else:  # a train that never ends: its end lies past the final time
        end = Binary(Op.ADD, Ref("final time"), step)
        shape = Call("pulse train", (start, half_step, interval, end))
    return Binary(Op.MUL, Binary(Op.DIV, magnitude, step), shape)


def _element_count(node: Any, where: Any) -> Expr:
    """ELMCOUNT(range) is a number known at load: the range's size."""
    argument = node.arguments[0] if len(node.arguments) == 1 else None
    key = canonical(getattr(argument, "reference", "") or "")
    dimension = next((d for d in where.dimensions if d.key == key), None)
    if dimension is None:
        raise where.syntax("ELMCOUNT takes the name of a subscript range")
    return Number(float(len(dimension.elements)))


def _time_value(args: tuple[Expr, ...], where: Any) -> Expr:
    """GET TIME VALUE(relativeto, offset, 0): the simulation time (relativeto 0) or
    INITIAL TIME (relativeto 1), plus the offset, in the model's units of time.

    The computer's clock (relativeto 2) would make a run depend on when it ran, and
    the calendar measures (1 to 10) on the date Vensim's settings attach to the
    time axis, which the equations do not carry: both are refused, not guessed.
    """
    if len(args) != 3:
        raise where.syntax(f"GET TIME VALUE takes 3 arguments, found {len(args)}")
    relative, offset, measure = args
    if not (isinstance(relative, Number) and isinstance(measure, Number)):
        raise where.unsupported(
            "GET TIME VALUE with a computed relativeto or measure",
            ": expected numbers, as Vensim's help gives them (relativeto 0 or 1, measure 0)",
        )
    if relative == Number(2.0):
        raise where.unsupported(
            "GET TIME VALUE of the computer's clock (relativeto 2)",
            ": a run would depend on when it ran; give NOISE SEED a number instead",
        )
    if measure != Number(0.0):
        raise where.unsupported(
            "GET TIME VALUE in calendar measures (measure 1 to 10)",
            ": they need the dates Vensim's settings give the time axis; expected measure 0, "
            "the model's units of time",
        )
    if relative not in (Number(0.0), Number(1.0)):
        raise where.syntax(
            "GET TIME VALUE's relativeto must be 0 (current time), 1 (initial time) or 2 (clock)"
        )
    start = Ref("time") if relative == Number(0.0) else Ref("initial time")
    return Binary(Op.ADD, start, offset)
