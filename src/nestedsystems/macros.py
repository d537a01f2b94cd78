"""Vensim macros, expanded at load into ordinary variables.

A macro (``:MACRO: NAME(input, parameter) ... :END OF MACRO:``) is a small model
with parameters: its variable named like the macro is the value a call returns.
Expanding a call copies every variable of the macro, so that each call site keeps
its own state (a stock inside a macro integrates separately for each call), and
replaces the call by a reference to the copy of the output:

- the output is named ``"EXPRESSION MACRO of macro output"`` (macro, then the
  calling variable), any other variable ``"intermediate in EXPRESSION MACRO of
  macro output"``; a second call from the same variable adds ``(2)``;
- every copy has ``origin`` set to the calling variable, so runs report the
  modeler's variables and not the machinery, as for lowered SMOOTHs and DELAYs;
- an argument that is a number or a plain reference is substituted where the
  parameter is read; any other argument becomes an auxiliary of its own
  (``"input in EXPRESSION MACRO of ..."``), computed once per step as Vensim does
  rather than repeated (and, for a stateful argument, duplicated) at each use;
- names a macro neither defines nor takes as a parameter (TIME, TIME STEP) are
  the model's.

Macros may call other macros; a macro that calls itself, directly or not, is
refused rather than expanded forever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ModelSyntaxError, UnsupportedError
from .expressions import Binary, Call, Defined, Expr, If, LookupCall, Number, Ref, Table, Unary, canonical
from .model import Kind, Variable

__all__ = ["Macro", "MacroCall", "expand_macros"]

# Deeper nesting than this is a macro calling itself.
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Macro:
    """One ``:MACRO:`` definition."""

    name: str
    parameters: tuple[str, ...]  # canonical keys, in the order of the call's arguments
    variables: tuple[Variable, ...]  # as written inside the macro
    line: int | None = None

    @property
    def key(self) -> str:
        return canonical(self.name)


@dataclass(frozen=True, slots=True)
class MacroCall:
    """A call of a macro, only between reading the file and `expand_macros`."""

    macro: str  # canonical key
    args: tuple[Expr, ...]


def expand_macros(
    variables: tuple[Variable, ...] | list[Variable], macros: dict[str, Macro], file: str | Path | None = None
) -> tuple[Variable, ...]:
    """Replace every `MacroCall` in `variables` by copies of the macro's variables.

    Parameters
    ----------
    variables:
        The model's variables as read, whose equations may hold `MacroCall` nodes.
    macros:
        The macros by canonical name.
    file:
        The model file, for error messages.

    Returns
    -------
    tuple of Variable
        Each variable followed by the copies its calls made.

    Raises
    ------
    ModelSyntaxError
        A call with the wrong number of arguments, or a macro without a variable of
        its own name.
    UnsupportedError
        A macro that calls itself.
    """
    expander = _Expander(macros, {v.key for v in variables}, file)
    expanded: list[Variable] = []
    for variable in variables:
        expanded.extend(expander.variable(variable))
    return tuple(expanded)


class _Expander:
    def __init__(self, macros: dict[str, Macro], taken: set[str], file: str | Path | None) -> None:
        self.macros = macros
        self.taken = set(taken)
        self.file = file
        self.made: list[Variable] = []

    def variable(self, variable: Variable) -> list[Variable]:
        self.made = []
        origin = variable.origin or variable.name
        return [self.copy(variable, variable.name, origin, {}, 0), *self.made]

    def copy(
        self, variable: Variable, name: str, origin: str, names: dict[str, Expr], depth: int
    ) -> Variable:
        """`variable` renamed, its references mapped through `names`, its calls expanded."""
        where = (variable, origin, depth)
        equation = variable.equation
        if not isinstance(equation, Table):
            equation = self.expression(equation, names, where)
        initial = None if variable.initial is None else self.expression(variable.initial, names, where)
        return replace(variable, name=name, equation=equation, initial=initial)

    def expression(self, expr: Expr, names: dict[str, Expr], where: tuple[Variable, str, int]) -> Expr:
        walk = lambda e: self.expression(e, names, where)  # noqa: E731
        if isinstance(expr, Ref):
            mapped = names.get(expr.name)
            if mapped is None:
                return expr
            # A local read with subscripts keeps them on the renamed reference.
            if expr.subscripts and isinstance(mapped, Ref):
                return replace(mapped, subscripts=expr.subscripts)
            return mapped
        if isinstance(expr, Unary):
            return Unary(expr.op, walk(expr.operand))
        if isinstance(expr, Binary):
            return Binary(expr.op, walk(expr.left), walk(expr.right))
        if isinstance(expr, If):
            return If(walk(expr.condition), walk(expr.then), walk(expr.otherwise))
        if isinstance(expr, Call):
            return Call(expr.function, tuple(walk(a) for a in expr.args))
        if isinstance(expr, LookupCall):
            table = expr.table
            if isinstance(table, Ref):
                renamed = names.get(table.name, table)
                table = renamed if isinstance(renamed, Ref) else table
            return LookupCall(table, walk(expr.argument), expr.mode)
        if isinstance(expr, Defined):
            return Defined(tuple((s, p if isinstance(p, Table) else walk(p)) for s, p in expr.parts))
        if isinstance(expr, MacroCall):
            return self.call(expr.macro, tuple(walk(a) for a in expr.args), where)
        return expr

    def call(self, key: str, args: tuple[Expr, ...], where: tuple[Variable, str, int]) -> Ref:
        caller, origin, depth = where
        macro = self.macros[key]
        if depth >= MAX_DEPTH:
            raise UnsupportedError(
                f"the macro {macro.name} calls itself; recursive macros cannot be expanded",
                file=self.file,
                line=caller.line,
                variable=caller.name,
            )
        if len(args) != len(macro.parameters):
            raise ModelSyntaxError(
                f"the macro {macro.name} takes {len(macro.parameters)} arguments, found {len(args)}",
                file=self.file,
                line=caller.line,
                variable=caller.name,
            )
        base = self.unique(f"{macro.name} of {origin}")
        names: dict[str, Expr] = {}
        for parameter, argument in zip(macro.parameters, args, strict=True):
            if isinstance(argument, (Number, Ref)):
                names[parameter] = argument
            else:
                holder = self.reserve(f"{parameter} in {base}")
                self.made.append(
                    Variable(
                        name=holder,
                        kind=Kind.AUXILIARY,
                        equation=argument,
                        line=caller.line,
                        origin=origin,
                        group=caller.group,
                        dims=caller.dims,
                    )
                )
                names[parameter] = Ref(canonical(holder))
        output = None
        renamed: dict[str, str] = {}
        for local in macro.variables:
            new = base if local.key == macro.key else self.reserve(f"{local.name} in {base}")
            renamed[local.key] = new
            names[local.key] = Ref(canonical(new))
            if local.key == macro.key:
                output = names[local.key]
        if output is None:
            raise ModelSyntaxError(
                f"the macro {macro.name} defines no variable named {macro.name}, the value it returns",
                file=self.file,
                line=macro.line,
            )
        for local in macro.variables:
            copy = self.copy(local, renamed[local.key], origin, names, depth + 1)
            # Called from an arrayed variable, the macro runs element by element.
            dims = copy.dims or caller.dims
            self.made.append(replace(copy, origin=origin, group=caller.group, dims=dims))
        assert isinstance(output, Ref)
        return output

    def unique(self, base: str) -> str:
        """`base`, or ``base (n)``: a call prefix no earlier call used."""
        candidate, n = base, 1
        while canonical(candidate) in self.taken:
            n += 1
            candidate = f"{base} ({n})"
        return self.reserve(candidate)

    def reserve(self, name: str) -> str:
        self.taken.add(canonical(name))
        return name
