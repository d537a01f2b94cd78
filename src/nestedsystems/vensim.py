"""Load Vensim (.mdl) and XMILE (.xmile, .stmx) models into the IR.

PySD is the parser: its `VensimFile`/`XmileFile` turn the text into an abstract
syntax tree, which this module walks into `Model`, `Variable` and the expression
nodes of `expressions`. This is the only module that imports pysd.

Model files are untrusted. PySD calls ``eval`` on text taken from the file (a
lookup's range brackets, numbers, arguments), so every parse runs inside
`_guard`, which swaps that ``eval`` for one that accepts numeric literals only
and refuses anything else with `UnsafeModelError`, before it runs.
"""

from __future__ import annotations

import ast
import itertools
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import external, lowering, noise, vensim_arrays, vensim_calls, xmile_modules, xmile_tree
from .errors import (
    ModelError,
    ModelFileError,
    ModelSyntaxError,
    ParameterError,
    UnsafeModelError,
    UnsupportedError,
)
from .expressions import (
    Binary,
    Call,
    Expr,
    LookupCall,
    LookupMode,
    Number,
    Op,
    Ref,
    Table,
    Unary,
    UnaryOp,
    canonical,
)
from .macros import Macro, expand_macros
from .model import Dimension, Kind, Model, Range, RealityCheck, Variable
from .named_loops import find_named_loops
from .ordering import check_references, initial_order, run_order
from .unit_text import file_equivalents
from .vensim_text import locate, scan_equations, scan_views, split_range, xmile_line

__all__ = ["load"]

VENSIM_SUFFIXES = (".mdl",)
XMILE_SUFFIXES = (".xmile", ".xml", ".stmx")
NOT_AVAILABLE = -(2.0**109)  # Vensim's :NA:

# ---------------------------------------------------------------- the guard

# Numbers, signs, parentheses and commas: all a lookup's points or range may hold.
_NUMERIC_TEXT = re.compile(r"[\s\\0-9eE.+\-(),\[\]]*")
_STRING_TEXT = re.compile(r"'[^']*'")
_GUARD_LOCK = threading.Lock()
_MISSING = object()


class _Refused(Exception):
    """Raised inside PySD's visitors; the guard turns it into UnsafeModelError."""


@dataclass
class _GuardState:
    refused: str | None = None  # text that was not a literal at all
    malformed: str | None = None  # numeric-looking text that is not a number


def _literal(state: _GuardState, text: Any, *_: Any) -> Any:
    """Stand-in for the builtin ``eval`` inside PySD's parsers: literals only."""
    if isinstance(text, str):
        if _STRING_TEXT.fullmatch(text.strip()):
            # File names of GET XLS and the like; returned without unescaping.
            return text.strip()[1:-1]
        if _NUMERIC_TEXT.fullmatch(text):
            try:
                return _numbers(text.replace("\\", " ").strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
                state.malformed = text
                raise ValueError(f"not a number: {text!r}") from error
    state.refused = str(text)
    raise _Refused(str(text))


def _numbers(text: str) -> Any:
    """A literal, or a sum of signed numbers: PySD reads ``4 - 5 + 6`` as a run of
    numbers and hands it to ``eval``; here only numbers, signs and + or - between
    them are computed."""
    try:
        return ast.literal_eval(text)
    except ValueError:
        tree = ast.parse(text, mode="eval").body

    def value(node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise ValueError(f"not a sum of numbers: {text!r}")
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            left, right = value(node.left), value(node.right)
            return left - right if isinstance(node.op, ast.Sub) else left + right
        raise ValueError(f"not a sum of numbers: {text!r}")

    return value(tree)


def _negated_number(original: Any) -> Any:
    """PySD's ``visit_neg_expr``, except for a negative number raised to a power.

    PySD folds ``-30`` into the number, so ``30^-30^x`` reads ``30^((-30)^x)`` (NaN),
    where Vensim, as for any other operand, reads ``30^(-(30^x))``. Left unfolded, the
    number takes PySD's own path for negated operands of ``^``; ``(-30)^2`` keeps its
    parentheses and stays 900.
    """

    def visit_neg_expr(self: Any, node: Any, children: Any) -> Any:
        id_ = children[2]
        raised = node.full_text[node.end :].lstrip().startswith("^")
        if children[0] == "-" and raised and isinstance(self.elements[id_], (float, int)):
            self.negatives.add(id_)
            return id_
        return original(self, node, children)

    return visit_neg_expr


@contextmanager
def _guard() -> Iterator[_GuardState]:
    """Replace ``eval`` in PySD's parsing modules for the duration of a parse (and
    correct its reading of a negative number raised to a power, `_negated_number`).

    A module-level name shadows the builtin, so setting ``eval`` on the module is
    enough; the lock keeps two threads from restoring each other's patch.
    """
    from pysd.translators.vensim import vensim_element
    from pysd.translators.xmile import xmile_element

    state = _GuardState()
    modules = (vensim_element, xmile_element)
    visitor = vensim_element.EquationVisitor
    with _GUARD_LOCK:
        saved = [module.__dict__.get("eval", _MISSING) for module in modules]
        for module in modules:
            module.eval = lambda text, *rest: _literal(state, text, *rest)
        negated = visitor.__dict__["visit_neg_expr"]
        visitor.visit_neg_expr = _negated_number(negated)
        try:
            yield state
        finally:
            visitor.visit_neg_expr = negated
            for module, old in zip(modules, saved, strict=True):
                if old is _MISSING:
                    del module.eval
                else:
                    module.eval = old


# ------------------------------------------------------------------ reading


def _read(path: Path) -> str:
    if not path.exists():
        raise ModelFileError("no such file; expected a Vensim .mdl or XMILE .xmile model", file=path)
    if not path.is_file():
        raise ModelFileError("is not a file; expected a Vensim .mdl or XMILE .xmile model", file=path)
    suffix = path.suffix.lower()
    if suffix not in VENSIM_SUFFIXES + XMILE_SUFFIXES:
        raise ModelFileError(
            f"expected a file ending in .mdl, .xmile or .stmx, found {suffix or 'no extension'!r}",
            file=path,
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"cannot be read ({error.strerror})", file=path) from None
    if b"\x00" in raw:
        raise ModelFileError("is a binary file, not a model", file=path)
    return raw.decode("utf-8", errors="replace")


def _parse(path: Path, text: str) -> Any:
    """PySD's abstract model of the file, parsed under the guard."""
    xmile = path.suffix.lower() in XMILE_SUFFIXES
    if xmile and re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        # Entities can read local files or expand exponentially; XMILE needs none.
        raise UnsafeModelError("XML entity or DOCTYPE declarations are not allowed in a model", file=path)
    if not xmile and "~" not in text:
        raise ModelFileError("no Vensim equations found (no '~' separators); is this a model?", file=path)
    with _guard() as state, warnings.catch_warnings():
        # PySD warns about every construct it parses but would not build; we report our own.
        warnings.simplefilter("ignore")
        try:
            if xmile:
                from pysd.translators.xmile.xmile_file import XmileFile

                source: Any = XmileFile(path)
                xmile_tree.prepare(source.xmile_root, source.ns, path)
                if xmile_modules.has_modules(source.xmile_root, source.ns):
                    return _parse_modules(path, source)
            else:
                from pysd.translators.vensim.vensim_file import VensimFile

                source = VensimFile(path, encoding="utf-8")
            source.parse()
            return tuple(source.get_abstract_model().sections), ()
        except ModelError:
            raise
        except Exception as error:
            if state.refused is not None:
                raise _unsafe(path, text, state.refused, xmile) from None
            if state.malformed is not None:
                line, variable = locate(text, state.malformed, xmile)
                raise ModelSyntaxError(
                    f"expected numbers, found {state.malformed.strip()[:80]!r}",
                    file=path,
                    line=line,
                    variable=variable,
                ) from None
            raise _syntax_error(path, text, error, xmile) from None


def _parse_modules(path: Path, source: Any) -> tuple[tuple[Any, ...], tuple[xmile_modules.Instance, ...]]:
    """The main model's section, then one per sub-model, each parsed as a file of
    its own (PySD's XMILE parser reads every <model> of a file into one section)."""
    from pysd.translators.xmile.xmile_section import Section

    main, submodels, instances = xmile_modules.split(source.xmile_root, source.ns, path)
    sections = []
    for name, root in (("__main__", main), *submodels.items()):
        section = Section(
            name=name,
            path=path.with_suffix(".py"),
            section_type="main" if name == "__main__" else "module",
            params=[],
            returns=[],
            content_root=root,
            namespace=source.ns,
            split=False,
            views_dict=None,
        )
        section.parse()
        sections.append(section.get_abstract_section())
    return tuple(sections), instances


def _unsafe(path: Path, text: str, refused: str, xmile: bool) -> UnsafeModelError:
    line, variable = locate(text, refused, xmile)
    return UnsafeModelError(
        f"expected numbers in a lookup or constant, found {refused[:80]!r}; refusing to evaluate it",
        file=path,
        line=line,
        variable=variable,
    )


def _syntax_error(path: Path, text: str, error: Exception, xmile: bool) -> ModelError:
    fragment = getattr(error, "text", None)
    position = getattr(error, "pos", None)
    line = variable = None
    if isinstance(fragment, str) and isinstance(position, int):
        line, variable = locate(text, fragment[position : position + 40] or fragment, xmile)
        found = fragment[position : position + 40] or "the end of the text"
        detail = f"cannot parse the model text near {found!r}"
    else:
        detail = f"cannot parse the model ({type(error).__name__}: {str(error)[:200]})"
    return ModelSyntaxError(detail, file=path, line=line, variable=variable)


# ------------------------------------------------------------- the walker

_OPERATORS = {op.value: op for op in Op} | {"AND": Op.AND, "OR": Op.OR}
_LOOKUP_MODES = {
    "interpolate": LookupMode.INTERPOLATE,
    "extrapolate": LookupMode.EXTRAPOLATE,
    "hold_backward": LookupMode.BACKWARD,
    "look_forward": LookupMode.FORWARD,
}
# PySD structure -> (IR function, the structure's fields in the IR's argument order)
_STATEFUL_STRUCTURES = {
    "SmoothNStructure": ("smooth n", ("input", "smooth_time", "initial", "order")),
    "DelayNStructure": ("delay n", ("input", "delay_time", "initial", "order")),
    "DelayFixedStructure": ("delay fixed", ("input", "delay_time", "initial")),
    "TrendStructure": ("trend", ("input", "average_time", "initial_trend")),
    "ForecastStructure": ("forecast", ("input", "average_time", "horizon", "initial_trend")),
    "SampleIfTrueStructure": ("sample if true", ("condition", "input", "initial")),
    "InitialStructure": ("initial", ("initial",)),
}
_UNSUPPORTED_STRUCTURES = {
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS outside a lookup definition",
    "GetDataStructure": "GET XLS/DIRECT DATA outside a data variable (:=)",
    "DataStructure": "data variables without an equation (data given at run time)",
}


@dataclass(frozen=True)
class _Where:
    """Where an equation came from, for error messages, and what names are lookups."""

    file: Path
    line: int | None
    variable: str
    lookups: frozenset[str]
    dimensions: tuple[Any, ...] = ()  # the model's subscript ranges (`Dimension`)
    macros: frozenset[str] = frozenset()  # canonical names of the file's macros
    given: Any = None  # series given to `load` for data variables: name -> (times, values)

    @property
    def data(self) -> external.DataSource:
        return external.DataSource(self.file, self.line, self.variable)

    def unsupported(self, what: str, hint: str = "") -> UnsupportedError:
        verb = "are" if what.startswith(("subscripts", "data variables")) else "is"
        return UnsupportedError(
            f"{what} {verb} not supported yet{hint}", file=self.file, line=self.line, variable=self.variable
        )

    def syntax(self, message: str) -> ModelSyntaxError:
        return ModelSyntaxError(message, file=self.file, line=self.line, variable=self.variable)


def _is_number(node: Any) -> bool:
    return isinstance(node, (int, float, np.integer, np.floating)) and not isinstance(node, bool)


def _table(node: Any) -> Table:
    points = sorted(
        zip((float(x) for x in node.x), (float(y) for y in node.y), strict=True), key=lambda p: p[0]
    )
    return Table(
        x=tuple(p[0] for p in points),
        y=tuple(p[1] for p in points),
        mode=_LOOKUP_MODES.get(getattr(node, "type", "interpolate"), LookupMode.INTERPOLATE),
    )


def _expression(node: Any, where: _Where) -> Expr:
    """Turn one PySD syntax node into an IR expression."""
    if _is_number(node):
        # PySD reads Vensim's :NA: as NaN; Vensim computes with -2**109 instead.
        return Number(NOT_AVAILABLE if np.isnan(node) else float(node))
    kind = type(node).__name__
    walk = lambda child: _expression(child, where)  # noqa: E731
    if kind == "ReferenceStructure":
        if node.subscripts is not None or where.dimensions:
            return vensim_arrays.reference(node, where.dimensions)
        return Ref("time" if node.reference == "time" else canonical(node.reference))
    if kind == "ArithmeticStructure":
        return _operators(node, where, walk)
    if kind == "LogicStructure":
        return _operators(node, where, walk)
    if kind == "CallStructure":
        return vensim_calls.call(node, where, walk)
    if kind == "InlineLookupsStructure" and getattr(node.lookups, "type", "") == "raw":  # :RAW: data
        x, y = (tuple(float(v) for v in values) for values in (node.lookups.x, node.lookups.y))
        return external.raw_equation(x, y, walk(node.argument))
    if kind == "InlineLookupsStructure":
        return LookupCall(_table(node.lookups), walk(node.argument))
    if kind == "SmoothStructure":  # SMOOTH and SMOOTH3, with or without an initial value
        name = "smooth" if node.order == 1 else "smooth3"
        return Call(name, (walk(node.input), walk(node.smooth_time), walk(node.initial)))
    if kind == "DelayStructure":  # DELAY1 and DELAY3, with or without an initial value
        name = "delay1" if node.order == 1 else "delay3"
        return Call(name, (walk(node.input), walk(node.delay_time), walk(node.initial)))
    if kind in _STATEFUL_STRUCTURES:
        function, fields = _STATEFUL_STRUCTURES[kind]
        return Call(function, tuple(walk(getattr(node, field)) for field in fields))
    if kind == "IntegStructure":
        raise where.unsupported("INTEG inside a larger expression")
    if kind == "GameStructure":  # without a gaming session, GAME(x) is x
        return walk(node.expression)
    if kind == "GetConstantsStructure":
        return Number(external.read_constant(where.data, node.file, node.tab, node.cell))
    if isinstance(node, float) or (isinstance(node, np.ndarray) and node.ndim == 0):
        return Number(float(node))
    if isinstance(node, np.ndarray):
        return vensim_arrays.numbers(node)
    if kind in vensim_arrays.STRUCTURES:
        return vensim_arrays.structure(node, walk)
    raise where.unsupported(_UNSUPPORTED_STRUCTURES.get(kind, f"the construct {kind}"))


def _operators(node: Any, where: _Where, walk: Any) -> Expr:
    operators = [op.strip().upper() for op in node.operators]
    arguments = [walk(a) for a in node.arguments]
    if operators in (["NEGATIVE"], ["-"]) and len(arguments) == 1:
        return Unary(UnaryOp.NEG, arguments[0])
    if operators in ([":NOT:"], ["NOT"]) and len(arguments) == 1:
        return Unary(UnaryOp.NOT, arguments[0])
    if operators and all(op == "^" for op in operators):
        # Vensim's a^b^c is a^(b^c), as in PySD's output (which writes Python's **).
        result = arguments[-1]
        for left in reversed(arguments[:-1]):
            result = Binary(Op.POW, left, result)
        return result
    result = arguments[0]
    for operator, right in zip(operators, arguments[1:], strict=True):
        op = _OPERATORS.get(operator)
        if op is None:
            raise where.unsupported(f"the operator {operator}")
        result = Binary(op, result, right)
    return result


# ------------------------------------------------------------- elements


def _variable(element: Any, where: _Where, units_text: str | None) -> Variable:
    if not element.components:
        raise where.unsupported("a variable without an equation")
    component = element.components[0]
    units, ranged = split_range(units_text) if units_text is not None else (element.units or "", Range())
    if units_text is None and element.limits and any(v is not None for v in element.limits):
        ranged = Range(*(None if v is None or np.isnan(v) else float(v) for v in element.limits))
    common = {
        "name": element.name,
        "units": units,
        "range": ranged,
        "documentation": (element.documentation or "").strip(),
        "line": where.line,
    }
    if vensim_arrays.is_arrayed(element) and any(
        type(c.ast).__name__.startswith("Get") or type(c).__name__ == "AbstractData"
        for c in element.components
    ):
        element = _external_arrays(element, where)
    if vensim_arrays.is_arrayed(element):
        walk = lambda node: _expression(node, where)  # noqa: E731
        return vensim_arrays.variable(element, where, common, where.dimensions, walk, _table)
    kind = type(component).__name__
    ast_node = component.ast
    if kind == "AbstractData":
        structure = type(ast_node).__name__
        if structure == "GetDataStructure":
            points = external.read_series(
                where.data, ast_node.file, ast_node.tab, ast_node.time_row_or_col, ast_node.cell
            )
            equation = external.data_equation(points, component.keyword, where.data)
            return Variable(kind=Kind.AUXILIARY, equation=equation, **common)
        if structure == "DataStructure":  # data without an equation: from load(..., data=)
            given = where.given.pop(canonical(element.name), None) if where.given is not None else None
            if given is None:
                raise where.unsupported(
                    _UNSUPPORTED_STRUCTURES[structure], "; give its series with load(path, data=...)"
                )
            equation = external.data_equation(given, component.keyword, where.data)
            return Variable(kind=Kind.AUXILIARY, equation=equation, **common)
        return Variable(kind=Kind.AUXILIARY, equation=_expression(ast_node, where), **common)
    if kind == "AbstractLookup":
        if type(ast_node).__name__ == "GetLookupsStructure":
            x, y = external.read_series(
                where.data, ast_node.file, ast_node.tab, ast_node.x_row_or_col, ast_node.cell
            )
            return Variable(kind=Kind.LOOKUP, equation=Table(x=x, y=y), **common)
        if type(ast_node).__name__ != "LookupsStructure":
            raise where.unsupported(_UNSUPPORTED_STRUCTURES.get(type(ast_node).__name__, "this lookup"))
        return Variable(kind=Kind.LOOKUP, equation=_table(ast_node), **common)
    if _is_number(ast_node):
        return Variable(kind=Kind.CONSTANT, equation=_expression(ast_node, where), **common)
    if type(ast_node).__name__ == "IntegStructure":
        return Variable(
            kind=Kind.STOCK,
            equation=_expression(ast_node.flow, where),
            initial=_expression(ast_node.initial, where),
            non_negative=bool(ast_node.non_negative),
            **common,
        )
    return Variable(kind=Kind.AUXILIARY, equation=_expression(ast_node, where), **common)


def _external_subscripts(section: Any, path: Path, entries: dict) -> Any:
    """The section with GET XLS/DIRECT SUBSCRIPT ranges read into their elements."""
    ranges = []
    for subscript_range in section.subscripts:
        spec = subscript_range.subscripts
        if isinstance(spec, dict) and "file" in spec:
            entry = entries.get(canonical(subscript_range.name))
            source = external.DataSource(path, entry.line if entry else None, subscript_range.name)
            elements = external.read_subscript(
                source, spec["file"], spec["tab"], spec["firstcell"], spec["lastcell"], spec.get("prefix", "")
            )
            subscript_range = replace(subscript_range, subscripts=elements)
        ranges.append(subscript_range)
    return replace(section, subscripts=ranges)


def _external_arrays(element: Any, where: _Where) -> Any:
    """An arrayed element with its external data read: constants become arrays of
    numbers; lookups and data series one definition per element (data as a lookup of
    time), in the order the file lays the series out (row-major over the subscripts)."""
    from pysd.translators.structures.abstract_expressions import (
        InlineLookupsStructure,
        LookupsStructure,
        ReferenceStructure,
    )

    by_key = {d.key: d for d in where.dimensions}
    components = []
    for component in element.components:
        node = component.ast
        kind = type(node).__name__
        subscripts, excepted = component.subscripts or ([], [])
        if any(excepted) and kind.startswith("Get"):
            raise where.unsupported("GET XLS/DIRECT functions with :EXCEPT:")
        ranges = [by_key.get(canonical(s)) for s in subscripts]
        shape = tuple(len(r.elements) for r in ranges if r is not None)
        if kind == "GetConstantsStructure":
            values = external.read_constants(where.data, node.file, node.tab, node.cell, shape)
            components.append(replace(component, ast=values if shape else float(values)))
            continue
        if kind not in ("GetLookupsStructure", "GetDataStructure"):
            if type(component).__name__ == "AbstractData":  # x[d] := expression: an auxiliary
                component = type(component).__mro__[1](subscripts=component.subscripts, ast=node)
            components.append(component)
            continue
        spans = [r.elements if r else [s] for r, s in zip(ranges, subscripts, strict=True)]
        cells = list(itertools.product(*spans))
        axis = node.x_row_or_col if kind == "GetLookupsStructure" else node.time_row_or_col
        series = external.read_series_block(where.data, node.file, node.tab, axis, node.cell, len(cells))
        for names, (x, y) in zip(cells, series, strict=True):
            limits = ((min(x), max(x)), (min(y), max(y)))
            if kind == "GetLookupsStructure":
                table = LookupsStructure(x, y, *limits, "interpolate")
                components.append(replace(component, subscripts=(list(names), []), ast=table))
                continue
            keyword = component.keyword or "interpolate"
            if keyword not in ("interpolate", "hold_backward", "look_forward", "raw"):
                external.data_equation((x, y), keyword, where.data)  # refuses it by name
            table = LookupsStructure(x, y, *limits, keyword)
            series_node = InlineLookupsStructure(ReferenceStructure("time"), table)
            components.append(type(component).__mro__[1](subscripts=(list(names), []), ast=series_node))
    return replace(element, components=components)


def _lookup_names(section: Any) -> frozenset[str]:
    return frozenset(
        canonical(e.name)
        for e in section.elements
        if e.components and all(type(c).__name__ == "AbstractLookup" for c in e.components)
    )


def _to_model(
    parsed: tuple[tuple[Any, ...], tuple[xmile_modules.Instance, ...]],
    path: Path,
    text: str,
    given: dict | None = None,
) -> Model:
    sections, instances = parsed
    xmile = path.suffix.lower() in XMILE_SUFFIXES
    entries = {} if xmile else scan_equations(text)
    main = _external_subscripts(sections[0], path, entries)
    # After the main section come a .mdl's macros, or an XMILE file's sub-models.
    macros = {} if instances else _macros(sections[1:], path, text, entries)
    dimensions = vensim_arrays.dimensions(main, path)
    read = lambda section: _section_variables(section, path, text, entries, dimensions, macros, given)  # noqa: E731
    variables = read(main)
    if instances:
        submodels = {section.name: tuple(read(section)) for section in sections[1:]}
        variables += xmile_modules.instantiate(submodels, instances, path)
    time_step = next((v for v in variables if v.key == "time step"), None)
    expanded = expand_macros(variables, macros, path) if macros else tuple(variables)
    try:
        model = Model(
            variables=expanded,
            name=path.stem,
            source=str(path),
            time_units=time_step.units if time_step else "",
            dimensions=dimensions,
            units_equivalents=file_equivalents(text),
        )
    except ValueError as error:
        raise ModelSyntaxError(str(error), file=path) from None
    return model.replace(loops=find_named_loops(model), checks=_reality_checks(main, entries, path))


def _section_variables(
    section: Any, path: Path, text: str, entries: dict, dimensions: Any, macros: dict, given: Any
) -> list[Variable]:
    """The variables of one section (the model, or an XMILE sub-model), as read."""
    xmile = path.suffix.lower() in XMILE_SUFFIXES
    views = {} if xmile else scan_views(text)
    lookups = _lookup_names(section)
    variables = []
    for element in section.elements:
        entry = entries.get(canonical(element.name))
        line = entry.line if entry else (xmile_line(text, element.name.strip('"')) if xmile else None)
        where = _Where(path, line, element.name, lookups, dimensions, frozenset(macros), given)
        try:
            variable = _variable(element, where, entry.units if entry else None)
        except ModelError:
            raise
        except (ValueError, TypeError, IndexError, AttributeError) as error:
            # A shape PySD accepted but the IR cannot hold (a lookup with odd points, ...).
            raise ModelSyntaxError(
                f"cannot read this definition: {error}", file=path, line=line, variable=element.name
            ) from None
        group = views.get(canonical(element.name), "")
        variables.append(Variable(**{**_fields(variable), "group": group}))
    return variables


def _reality_checks(section: Any, entries: dict, path: Path) -> tuple[RealityCheck, ...]:
    """Reality Check statements; PySD keeps their text, which is parsed here."""
    from .reality_checks import RC_FUNCTIONS

    lookups = _lookup_names(section)
    checks = []
    for statement, test_input in [(c, False) for c in section.constraints] + [
        (t, True) for t in section.test_inputs
    ]:
        text = " ".join(str(statement.expression).split())
        condition, _, consequence = text.partition(":IMPLIES:") if not test_input else (text, "", "")
        entry = entries.get(canonical(statement.name))
        # The RC functions read as calls of a macro the file does not define: kept as
        # such (`MacroCall`) for `reality_checks`, which alone knows what they do.
        where = _Where(path, entry.line if entry else None, statement.name, lookups, macros=RC_FUNCTIONS)
        checks.append(
            RealityCheck(
                name=statement.name,
                test_input=test_input,
                condition=condition.strip(),
                consequence=consequence.strip(),
                line=where.line,
                condition_expr=_check_expression(condition, where),
                consequence_expr=_check_expression(consequence, where) if consequence.strip() else None,
                documentation=entry.documentation if entry else "",
            )
        )
    return tuple(checks)


def _check_expression(text: str, where: _Where) -> Expr | None:
    """A Reality Check's text as an equation, parsed by PySD's grammar under the
    guard; None when it does not parse: the check is then kept as text only, and
    `reality_checks` says why it cannot run it."""
    from pysd.translators.vensim import vensim_utils
    from pysd.translators.vensim.vensim_element import EquationVisitor
    from pysd.translators.vensim.vensim_structures import parsing_ops

    try:
        with _guard(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = vensim_utils.Grammar.get("components", parsing_ops).parse(text.strip())
            node = EquationVisitor(tree).translation
        return _expression(node, where)
    except Exception:  # any failure to parse leaves the text as it is
        return None


def parse_equation(
    text: str, *, lookups: frozenset[str] = frozenset(), dimensions: tuple[Dimension, ...] = ()
) -> Expr:
    """One right-hand side of a Vensim equation, read as `load` reads a file's: PySD's
    grammar under the guard, then the same walk into the IR (not lowered).

    ``lookups`` are the canonical names that read as lookups when called, ``dimensions``
    the model's subscript ranges. The errors raised carry no file, line or variable:
    the caller knows which variable the text belongs to.

    Raises
    ------
    ModelSyntaxError
        The text does not parse: says what was found where.
    UnsafeModelError, UnsupportedError
        As `load` raises them for the same text in a file.
    """
    from pysd.translators.vensim import vensim_utils
    from pysd.translators.vensim.vensim_element import EquationVisitor
    from pysd.translators.vensim.vensim_structures import parsing_ops

    where = _Where(Path("equation"), None, "", lookups, dimensions)
    with _guard() as state, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = vensim_utils.Grammar.get("components", parsing_ops).parse(text)
            node = EquationVisitor(tree).translation
        except Exception as error:
            if state.refused is not None or state.malformed is not None:
                found = state.refused if state.refused is not None else state.malformed
                raise UnsafeModelError(f"expected numbers, found {str(found)[:80]!r}") from None
            position = getattr(error, "pos", None)
            found = text[position : position + 40] if isinstance(position, int) else ""
            raise ModelSyntaxError(
                f"cannot parse {text!r} near {found!r}" if found else f"{text!r} ends too soon"
            ) from None
    return _expression(node, where)


_MACRO_NAME = re.compile(r":MACRO:\s*([^(]+)\(", re.IGNORECASE)


def _macros(sections: Any, path: Path, text: str, entries: dict) -> dict[str, Macro]:
    """The file's ``:MACRO:`` sections, their variables read like the model's."""
    headers = [(n, t.strip()) for n, t in enumerate(text.splitlines(), 1) if t.lstrip().startswith(":MACRO:")]
    lines = [n for n, _ in headers]
    # PySD spells a macro's name in Python style; errors and made names use the file's.
    spelled = {canonical(m.group(1)): m.group(1).strip() for _, t in headers if (m := _MACRO_NAME.match(t))}
    names = frozenset(canonical(section.name) for section in sections)
    macros: dict[str, Macro] = {}
    for i, section in enumerate(sections):
        line = lines[i] if i < len(lines) else None
        if section.returns:
            raise UnsupportedError(
                f"macros with additional outputs (':' in the parameters of {section.name!r}) "
                "are not supported yet",
                file=path,
                line=line,
            )
        lookups = _lookup_names(section)
        variables = []
        for element in section.elements:
            entry = entries.get(canonical(element.name))
            where = _Where(path, entry.line if entry else line, element.name, lookups, macros=names)
            variables.append(_variable(element, where, entry.units if entry else None))
        name = spelled.get(canonical(section.name), section.name)
        macro = Macro(name, tuple(canonical(p) for p in section.params), tuple(variables), line)
        macros[macro.key] = macro
    return macros


def _fields(variable: Variable) -> dict[str, Any]:
    return {name: getattr(variable, name) for name in Variable.__slots__ if not name.startswith("_")}


def load(path: str | Path, *, data: Any = None) -> Model:
    """Read a Vensim or XMILE model into a `Model`, lowered and checked.

    Parameters
    ----------
    path:
        A ``.mdl`` (Vensim) or ``.xmile``/``.stmx`` (XMILE) file.
    data:
        Series for the model's data variables that have no equation (``x :=`` or
        ``x :HOLD BACKWARD:`` alone, whose values Vensim takes from a data file at
        run time): a mapping of names to pandas Series indexed by time or to
        ``(times, values)``, a DataFrame with a column per variable, or a CSV file
        with a Time column (or row). Read now into lookups of time, as GET DATA is.

    Returns
    -------
    Model
        Stateful functions (SMOOTH, DELAY, ...) already lowered to stocks and
        memories; every reference defined; no algebraic loop.

    Raises
    ------
    ModelFileError
        The file is missing, unreadable or not a model.
    ModelSyntaxError
        The text does not parse.
    UnsafeModelError
        The text holds something a careless parser would execute.
    UnsupportedError
        Constructs not simulated, named with their variable and line (SHIFT IF
        TRUE, DELAY CONVEYOR with leakage, XMILE macros, ...).
    UndefinedVariableError, AlgebraicLoopError
        From `ordering`: a name nobody defines, a cycle without a stock.
    """
    path = Path(path)
    text = _read(path)
    parsed = _parse(path, text)
    given = None if data is None else external.given_series(data)
    model = lowering.lower(noise.number_streams(_to_model(parsed, path, text, given)))
    if given:
        name = next(iter(given))
        variable = model.get(name)
        found = "no such variable" if variable is None else "a variable with its own equation"
        raise ParameterError(f"data {name!r}: expected a data variable without an equation, found {found}")
    check_references(model)
    run_order(model)
    initial_order(model)
    return model
