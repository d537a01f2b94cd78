"""Vensim's Reality Checks, run: does the model do what must be true of reality?

A constraint ``name :THE CONDITION: condition :IMPLIES: consequence`` is run the way
Vensim's help describes it (User Guide, chapter 14):

- Each equality ``variable = expression`` in the condition (a ``:TEST INPUT:`` named
  there is one) is forced: the variable takes the expression's value for the whole
  run, the expression reading the variable's own value "as modelled" where it names
  it. ``workers[a] = 0`` sets one element. Several are joined with ``:AND:``.
- An inequality on a constant (``temperature < 50``) is forced as Vensim forces it:
  a constant that meets it keeps its value, one that does not takes the bound's.
- Any other condition (``Inventory < 10``) is passive: the model runs as it is and
  the consequence is checked only at the steps where the condition holds.
- The consequence is evaluated at every TIME STEP of that run, through the same
  compiled kernels as the model: it, and each variable it names, are added to a
  copy of the model as auxiliaries. The check fails at every step where the
  condition holds and the consequence does not.

The RC functions shape a test input in time, and their CHECK twins the bound a
consequence compares with. Each keeps its basis (the variable's value) until
``start`` (the model's RC START TIME, else INITIAL TIME + TIME STEP), then follows a
trajectory anchored at the basis's value at ``start``, for ``duration`` (to the end
by default); a CHECK function holds off for a further ``grace``:

=============================================  ====================================
``RC STEP(basis, mult)``                       anchor * mult
``RC RAMP(basis, mult, ramptime)``             anchor to anchor * mult over ramptime
``RC DECAY(basis, decaytime)``                 anchor * EXP(-elapsed / decaytime)
``RC GROW(basis, growrate)``                   anchor * EXP(growrate * elapsed)
``RC ... CHECK(grace, basis, ...)``            the same, enforced from start + grace
=============================================  ====================================

each with ``[, start[, duration]]`` after. "Starts" and "ends" fall as STEP's do
(``Time + TIME STEP/2 > start``). RC COMPARE, which compares with a saved run of
Vensim's, is refused. Everything is built from IR nodes: no text is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import numpy as np

from .compiler import compile_model
from .errors import ModelError, ModelSyntaxError, UndefinedVariableError, UnsupportedError
from .expressions import (
    STATEFUL_FUNCTIONS,
    Binary,
    Call,
    Defined,
    Expr,
    If,
    Number,
    Op,
    Ref,
    Selector,
    Unary,
    UnaryOp,
    canonical,
    rebuild,
    references,
    walk,
)
from .macros import MacroCall
from .model import Kind, Model, RealityCheck, Variable
from .simulation import simulate

__all__ = ["RC_FUNCTIONS", "CheckResult", "run_checks"]

# name -> the arguments before [, start[, duration]]: the RC functions Vensim documents.
_SHAPES = {"rc step": 2, "rc ramp": 3, "rc decay": 2, "rc grow": 2}
_CHECKS = {f"{name} check": count + 1 for name, count in _SHAPES.items()}  # grace first
RC_FUNCTIONS = frozenset(_SHAPES) | frozenset(_CHECKS)
_RC_NAME = re.compile(r"\bRC[ _]+[A-Z]+(?:[ _]+CHECK)?\b", re.IGNORECASE)
_BOUNDS = (Op.LT, Op.LE, Op.GT, Op.GE)
_COMPARISONS = (Op.EQ, Op.NE, *_BOUNDS)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What running one constraint found.

    Attributes
    ----------
    checked:
        Steps at which the condition held, so that the consequence was tested.
    failures:
        Of those, the steps at which the consequence was false.
    first_failure:
        The time of the first of them (None when the check passed).
    values:
        At that time, each variable the consequence names and each RC CHECK bound,
        labelled as written (``output[a]``), for the element that failed first.
    """

    name: str
    checked: int
    failures: int
    first_failure: float | None = None
    values: tuple[tuple[str, float], ...] = ()
    file: str | None = None
    line: int | None = None

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        if self.passed:
            return f"{where}reality check {self.name!r} passed ({self.checked} steps checked)"
        values = ", ".join(f"{label} = {value:.6g}" for label, value in self.values)
        return (
            f"{where}reality check {self.name!r} failed at time {self.first_failure:g} "
            f"({self.failures} of {self.checked} steps): {values}"
        )


def run_checks(
    model: Model, *, params: Mapping[str, Any] | None = None, method: str = "euler"
) -> tuple[CheckResult, ...]:
    """Run every Reality Check constraint of `model`, in the file's order.

    Parameters
    ----------
    model:
        A loaded model; its ``checks`` hold the statements.
    params:
        Constant overrides that hold in every check's run (as in `simulate`), as
        Vensim keeps the settings made before a Reality Check session.
    method:
        The integration method (`simulate`'s).

    Returns
    -------
    tuple of CheckResult
        One per constraint (test inputs are run through the constraints naming them).
    """
    inputs = {canonical(c.name): c for c in model.checks if c.test_input}
    return tuple(
        _Check(model, check, inputs).run(dict(params or {}), method)
        for check in model.checks
        if not check.test_input
    )


class _Check:
    """One constraint, turned into a copy of the model that runs it."""

    def __init__(self, model: Model, check: RealityCheck, inputs: dict[str, RealityCheck]) -> None:
        self.model, self.check, self.inputs = model, check, inputs
        self.added: list[Variable] = []
        self.renamed: dict[str, str] = {}  # forced variable -> its copy as modelled
        # What a failure shows, each (RC CHECK function or "", the variable, the auxiliary
        # holding the value): the variables the consequence names, and its bounds.
        self.shown: list[tuple[str, Ref | None, str]] = []

    def fail(self, message: str, kind: type[ModelError] = ModelSyntaxError) -> NoReturn:
        raise kind(
            f"reality check {self.check.name!r}: {message}", file=self.model.source, line=self.check.line
        )

    def parsed(self, statement: RealityCheck, text: str, expr: Expr | None) -> Expr:
        if expr is not None:
            return expr
        other = [f for f in _RC_NAME.findall(text) if canonical(f) not in RC_FUNCTIONS]
        if other:
            supported = ", ".join(sorted(f.upper() for f in RC_FUNCTIONS))
            self.fail(
                f"the function {other[0].upper()} is not supported: expected one of {supported}",
                UnsupportedError,
            )
        self.fail(f"cannot read {text!r} (in {statement.name!r}): expected a comparison of model variables")

    # -- building the run

    def run(self, params: dict[str, Any], method: str) -> CheckResult:
        check = self.check
        condition = self.parsed(check, check.condition, check.condition_expr)
        consequence = self.parsed(check, check.consequence, check.consequence_expr)
        passive: list[Expr] = []
        for part in _conjuncts(condition):
            forced = self.forced(part)
            if forced is None:
                passive.append(part)
            else:
                self.force(*forced)
        holds = self.auxiliary("condition", self.expression(_all(passive), checks=False)) if passive else None
        verdict = self.auxiliary("consequence", self.expression(consequence, checks=True))
        for i, ref in enumerate(_named(consequence)):
            self.shown.insert(i, ("", ref, self.auxiliary(f"value {i}", ref)))
        copy = self.copy()
        params = {self.renamed.get(canonical(k), k): v for k, v in params.items()}
        # Each check's model runs once: machine code would cost more to compile than it saves.
        run = simulate(compile_model(copy, native=False), params=params, method=method)
        return self.verdict(copy, run, holds, verdict)

    def forced(self, part: Expr) -> tuple[Ref, Expr] | None:
        """An equality the condition forces (a test input's, or its own), or None."""
        if isinstance(part, Ref) and part.name in self.inputs:
            statement = self.inputs[part.name]
            part = self.parsed(statement, statement.condition, statement.condition_expr)
            if not (isinstance(part, Binary) and part.op is Op.EQ and isinstance(part.left, Ref)):
                self.fail(f"the test input {statement.name!r} is not of the form variable = expression")
        if not (isinstance(part, Binary) and isinstance(part.left, Ref)):
            return None
        if part.op is Op.EQ:
            if part.left.name not in self.model:
                self.fail(
                    f"it names {part.left.name!r}, which the model does not define", UndefinedVariableError
                )
            return part.left, part.right
        if (
            part.op in _BOUNDS
            and self.constant(part.left.name)
            and all(map(self.constant, references(part.right)))
        ):
            # Vensim's rule for an inequality: a constant that meets it keeps its value,
            # one that does not takes the bound's.
            return part.left, If(part, part.left, part.right)
        return None

    def force(self, target: Ref, value: Expr) -> None:
        variable = self.model[target.name]
        if variable.kind is Kind.LOOKUP or target.name in self.renamed:
            self.fail(f"it forces {variable.name!r}, a lookup or a variable already forced")
        modelled = f"{variable.name} as modelled"
        self.renamed[variable.key] = canonical(modelled)
        self.added.append(replace(variable, name=modelled, origin=variable.name))
        value = self.expression(value, checks=False, outside=Ref(canonical(modelled), target.subscripts))
        whole = all(s in variable.dims for s in target.subscripts)
        if not whole:  # some elements: the others keep the value as modelled
            rest = Selector(variable.dims, ((target.subscripts),))
            value = Defined(((Selector(target.subscripts), value), (rest, Ref(canonical(modelled)))))
        self.added.append(
            Variable(
                variable.name,
                Kind.AUXILIARY,
                value,
                units=variable.units,
                dims=variable.dims,
                line=variable.line,
            )
        )

    def expression(self, expr: Expr, *, checks: bool, outside: Expr | None = None) -> Expr:
        """`expr` with its RC calls built into IR nodes and its names checked; a forced
        variable's own name reads its value as modelled.

        Outside its window an RC function gives "the normally generated model value"
        of the variable it stands for: the forced variable's (`outside`), or the one a
        consequence compares it with, so that the comparison holds there."""

        def visit(node: Expr) -> Expr | None:
            if isinstance(node, Binary) and node.op in _COMPARISONS:
                if isinstance(node.right, MacroCall):
                    left = rebuild(node.left, visit)
                    return Binary(node.op, left, self.rc_call(node.right, visit, checks, left))
                if isinstance(node.left, MacroCall):
                    right = rebuild(node.right, visit)
                    return Binary(node.op, self.rc_call(node.left, visit, checks, right), right)
            if isinstance(node, MacroCall):
                return self.rc_call(node, visit, checks, outside)
            if isinstance(node, Call) and node.function in STATEFUL_FUNCTIONS:
                self.fail(f"{node.function.upper()} keeps state; Reality Check equations cannot call it")
            if isinstance(node, Ref) and node.name != "time":
                if node.name in self.inputs:  # not one of the condition's :AND: terms
                    self.fail(f"the test input {node.name!r} can only be joined to a condition with :AND:")
                if node.name not in self.model:
                    self.fail(
                        f"it names {node.name!r}, which the model does not define", UndefinedVariableError
                    )
                if node.name in self.renamed:
                    return Ref(self.renamed[node.name], node.subscripts)
            return None

        return rebuild(expr, visit)

    def rc_call(self, call: MacroCall, visit: Any, checks: bool, outside: Expr | None) -> Expr:
        """An RC function as IR nodes: its trajectory in its window, `outside` (or its
        basis) elsewhere. A CHECK function's bound becomes an auxiliary, to be shown."""
        name, args = call.macro, tuple(rebuild(a, visit) for a in call.args)
        needed = (_CHECKS if checks else _SHAPES).get(name)
        if needed is None:
            where = "a consequence (:IMPLIES:)" if checks else "a condition or test input"
            expected = "an RC ... CHECK function" if checks else "an RC function without CHECK"
            self.fail(f"{name.upper()} cannot stand in {where}: expected {expected}")
        if not needed <= len(args) <= needed + 2:
            self.fail(f"{name.upper()} takes {needed} to {needed + 2} arguments, found {len(args)}")
        grace, (basis, *rest) = (args[0], args[1:]) if checks else (Number(0.0), args)
        core = needed - 1 - int(checks)  # the trajectory's own arguments after the basis
        shape, timing = tuple(rest[:core]), rest[core:]
        start = timing[0] if timing else self.start()
        half = Binary(Op.DIV, Ref("time step"), Number(2.0))
        began = lambda at: Binary(Op.GT, Binary(Op.ADD, Ref("time"), half), at)  # noqa: E731
        window: Expr = began(Binary(Op.ADD, start, grace))
        if len(timing) == 2:
            window = Binary(Op.AND, window, Unary(UnaryOp.NOT, began(Binary(Op.ADD, start, timing[1]))))
        elapsed = Binary(Op.SUB, Ref("time"), start)
        factor = _factor(name.removesuffix(" check"), shape, elapsed)
        result = If(window, Binary(Op.MUL, self.anchor(basis, start, half), factor), outside or basis)
        if not checks:
            return result
        key = self.auxiliary(f"bound {len(self.shown)}", result)
        self.shown.append((name.upper(), call.args[1] if isinstance(call.args[1], Ref) else None, key))
        return Ref(key, self.dims_of(result))

    def start(self) -> Expr:
        if "rc start time" in self.model:
            return Ref("rc start time")
        return Binary(Op.ADD, Ref("initial time"), Ref("time step"))

    def anchor(self, basis: Expr, start: Expr, half: Expr) -> Expr:
        """The basis's value at `start`, held after it: the basis itself when it is
        the same at every step, else a memory that stops following it."""
        if all(self.constant(name) for name in references(basis)):
            return basis
        held = f"{self.check.name} anchor {len(self.added)}"
        memory, dims, origin = f"{held} memory", self.dims_of(basis), self.check.name
        after = Binary(Op.GT, Binary(Op.SUB, Ref("time"), half), start)  # the step after start
        self.added += [
            Variable(
                held, Kind.AUXILIARY, If(after, Ref(canonical(memory)), basis), dims=dims, origin=origin
            ),
            Variable(memory, Kind.MEMORY, Ref(canonical(held)), initial=basis, dims=dims, origin=origin),
        ]
        return Ref(canonical(held))

    def constant(self, name: str) -> bool:
        made = next((v for v in self.added if v.key == name), None)
        variable = made if made is not None else self.model.get(name)
        return variable is not None and variable.kind is Kind.CONSTANT and name not in self.renamed

    # -- made variables

    def auxiliary(self, role: str, expr: Expr) -> str:
        name = f"{self.check.name} {role}"
        self.added.append(Variable(name, Kind.AUXILIARY, expr, dims=self.dims_of(expr)))
        return canonical(name)

    def dims_of(self, expr: Expr) -> tuple[str, ...]:
        """The dimensions an expression spans: those its references range over."""
        dims: list[str] = []
        known = {v.key: v for v in (*self.model.variables, *self.added)}
        for node in walk(expr):
            if not isinstance(node, Ref) or node.name not in known:
                continue
            spans = node.subscripts or known[node.name].dims
            for subscript in spans:
                key = subscript.rstrip("!")
                if self.model.dimension(key) is not None and key not in dims and not subscript.endswith("!"):
                    dims.append(key)
        return tuple(dims)

    def label(self, function: str, ref: Ref | None, at: dict[str, int]) -> str:
        """A shown value's label, its subscripts the elements that failed first."""
        if ref is None:
            return function
        variable = self.model[ref.name]
        subscripts = ref.subscripts or variable.dims
        elements = [_elements(self.model, s)[at[s]] if s in at else s for s in subscripts]
        text = variable.name + (f"[{','.join(elements)}]" if elements else "")
        return f"{function}({text})" if function else text

    def copy(self) -> Model:
        """The model with the forced variables replaced and the check's variables added,
        saving every TIME STEP so that every step is checked."""
        saveper = self.model.get("saveper")
        added = list(self.added)
        if saveper is not None:
            added.append(replace(saveper, kind=Kind.AUXILIARY, equation=Ref("time step")))
        return self.model.with_variables(*added).replace(checks=())

    # -- reading the run

    def verdict(self, copy: Model, run: Any, holds: str | None, verdict: str) -> CheckResult:
        fails = np.asarray(run[verdict]) == 0
        tested = (
            np.ones_like(fails)
            if holds is None
            else np.broadcast_to(_wide(run[holds], fails), fails.shape) != 0
        )
        failing = (fails & tested).reshape(len(run.times), -1)
        steps = failing.any(axis=1)
        checked = int(tested.reshape(len(run.times), -1).any(axis=1).sum())
        result = CheckResult(self.check.name, checked, 0, file=self.model.source, line=self.check.line)
        if not steps.any():
            return result
        first = int(np.argmax(steps))
        dims = copy[verdict].dims
        element = (
            np.unravel_index(int(np.argmax(failing[first])), tuple(len(_elements(copy, d)) for d in dims))
            if dims
            else ()
        )
        at = {d: int(i) for d, i in zip(dims, element, strict=True)}
        values = tuple(
            (self.label(function, ref, at), _pick(run[key][first], copy, key, at))
            for function, ref, key in self.shown
        )
        return replace(
            result, failures=int(steps.sum()), first_failure=float(run.times[first]), values=values
        )


def _conjuncts(expr: Expr) -> list[Expr]:
    if isinstance(expr, Binary) and expr.op is Op.AND:
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _all(parts: list[Expr]) -> Expr:
    result = parts[0]
    for part in parts[1:]:
        result = Binary(Op.AND, result, part)
    return result


def _named(expr: Expr) -> list[Ref]:
    """The model variables a consequence names, once each, in order."""
    seen: list[Ref] = []
    nodes = list(walk(expr))
    for node in nodes:
        if isinstance(node, MacroCall):
            nodes.extend(n for a in node.args for n in walk(a))
        elif isinstance(node, Ref) and node.name != "time" and node not in seen:
            seen.append(node)
    return seen


def _factor(name: str, shape: tuple[Expr, ...], elapsed: Expr) -> Expr:
    """How far along its trajectory an RC function is, as a multiple of its anchor."""
    if name == "rc step":
        return shape[0]
    if name == "rc ramp":
        mult, ramptime = shape
        fraction = Call("min", (Number(1.0), Binary(Op.DIV, elapsed, ramptime)))
        return Binary(Op.ADD, Number(1.0), Binary(Op.MUL, Binary(Op.SUB, mult, Number(1.0)), fraction))
    if name == "rc decay":
        return Call("exp", (Unary(UnaryOp.NEG, Binary(Op.DIV, elapsed, shape[0])),))
    return Call("exp", (Binary(Op.MUL, shape[0], elapsed),))  # rc grow


def _elements(model: Model, dimension: str) -> tuple[str, ...]:
    found = model.dimension(dimension)
    return found.elements if found is not None else ()


def _wide(values: Any, like: np.ndarray) -> np.ndarray:
    """A scalar condition's series, widened over the consequence's elements."""
    values = np.asarray(values)
    return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))


def _pick(values: Any, model: Model, key: str, at: dict[str, int]) -> float:
    dims = model[key].dims
    values = np.asarray(values)
    return float(values[tuple(at.get(d, 0) for d in dims)] if dims else values)
