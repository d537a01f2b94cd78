"""Build or edit a model in Python, its equations written as Vensim text: `ModelBuilder`.

::

    b = ModelBuilder("Population", time_units="Year", final_time=100, time_step=0.25)
    b.stock("Population", 1000, inflows=["Births"], outflows=["Deaths"], units="people")
    b.flow("Births", "Population * Birth rate", units="people/Year")
    ...
    model = b.build()

Each variable is kept as the text of its Vensim equation. `build` writes them into
the text of a .mdl file and reads that as `load` reads any file, so whatever a file
may say (SMOOTH, DELAY, IF THEN ELSE, lookups, subscripts) works here too, lowered
and checked alike. Before that each equation is read on its own
(`vensim.parse_equation`), so that a mistake names its variable, what was expected
and what was found, and an unknown name comes with the nearest known one.

Text from the caller is never evaluated. What would end an equation early (``~``,
``|``) or open another part of the file (the sketch and macro markers) is refused,
and names are quoted as `save` quotes them.

`from_model` starts from a model, each variable kept as `save` writes it until it is
changed (`equation`, `remove`, `rename`). A model loaded from a .mdl keeps that file
as its source, so `save` keeps the file's sketch as long as every name it shows remains.
"""

from __future__ import annotations

import difflib
import math
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ModelError, ModelSyntaxError, UndefinedVariableError
from .expressions import Table, canonical, references
from .expressions import rename as rename_references
from .mdl_writer import _Writer
from .model import CONTROL_VARIABLES, Dimension, Kind, Model, Range, Variable
from .named_loops import find_named_loops
from .vensim import load, parse_equation
from .vensim_text import SKETCH_MARK

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ModelBuilder"]

# What would end an equation's field or open another part of a .mdl file.
_FORBIDDEN = {"~": "ends an equation in a .mdl", "|": "ends an entry", SKETCH_MARK: "opens the sketch"}
_KEYWORD = re.compile(r":\s*([A-Za-z][A-Za-z ]*?)\s*:")
_EQUATION_KEYWORDS = {"and", "or", "not", "na"}  # :AND:, :OR:, :NOT:, :NA:
_INTEG = re.compile(r"\bINTEG\s*\(", re.IGNORECASE)
_NAME = re.compile(r"\s*(?P<name>[^\[\]~|\"\\\r\n]+?)\s*(?P<subscripts>\[[^\[\]~|\"\\\r\n]*\])?\s*")
_LOOP_ID = re.compile(r"[RB]\d+")
_UNKNOWN_FUNCTION = re.compile(r"the function (.+?) is not supported")  # as `vensim_calls` says

Number = float | int
Limits = tuple[Number, Number] | tuple[Number, Number, Number] | None
_SPELL = _Writer(Model(()))  # quotes names and writes numbers and tables as `save` does


class About(TypedDict, total=False):
    """What any variable may say besides its equation."""

    units: str
    range: Limits  # (minimum, maximum[, step]): a lever's bounds for sliders
    doc: str  # its documentation
    group: str  # its sector: one view each in a saved diagram


@dataclass(frozen=True, slots=True)
class _Entry:
    """One variable: the Vensim text of its equation, or the model's variable it
    stands for, unchanged, which is written as `save` writes it."""

    name: str
    kind: Kind
    equation: str = ""  # a stock's net flow, a lookup's points, else the right-hand side
    initial: str = ""  # a stock's initial value, or an ACTIVE INITIAL auxiliary's
    subscripts: str = ""  # ``[Region]`` on the left-hand side
    units: str = ""
    range: Range = field(default_factory=Range)
    doc: str = ""
    group: str = ""
    flows: tuple[str, ...] | None = None  # a stock's inflows and outflows; for a flow, ()
    variable: Variable | None = None

    @property
    def key(self) -> str:
        return canonical(self.name)


def _error(message: str, variable: str | None = None, kind: type[ModelError] = ModelError) -> ModelError:
    return kind(message, file="ModelBuilder", variable=variable)


def _suggest(name: str, known: Iterable[str]) -> str:
    spelled = {canonical(k): k for k in known}
    close = difflib.get_close_matches(canonical(name), spelled, n=1)
    return f" (did you mean {spelled[close[0]]!r}?)" if close else ""


def _unknown(found: str, name: str, known: Iterable[str], variable: str | None = None) -> ModelError:
    """`found` names `name`, which nothing defines: said with the nearest known name."""
    message = f"{found} {name!r}, which is not in the model{_suggest(name, known)}"
    return _error(message, variable, UndefinedVariableError)


def _spelled(text: str, key: str) -> str:
    """`key` as `text` spells it, for messages."""
    found = re.search(r"[\s_]+".join(map(re.escape, key.split())), text, re.IGNORECASE)
    return found.group(0) if found else key


def _text(text: str | Number, variable: str) -> str:
    """One equation, as Vensim text: refused when it could end its entry or open
    another part of the file, or when its parentheses do not balance."""
    if isinstance(text, (int, float)) and math.isfinite(text):
        return _SPELL.number(float(text))[0]
    if not isinstance(text, str) or not text.strip():
        raise _error(f"expected an equation as Vensim text or a finite number, found {text!r}", variable)
    problems = [
        f"holds {mark!r}, which {why}; expected one equation"
        for mark, why in _FORBIDDEN.items()
        if mark in text
    ]
    problems += [
        f"holds the keyword {m[0]!r}; expected one equation, whose only keywords are :AND:, :OR:, :NOT:, :NA:"
        for m in _KEYWORD.finditer(text)
        if canonical(m[1]) not in _EQUATION_KEYWORDS
    ]
    if _INTEG.search(text):
        problems.append("holds INTEG; expected an auxiliary's equation (declare a stock with stock())")
    problem = next(filter(None, [*problems, _unbalanced(text)]), None)
    if problem:
        raise _error(f"equation {text!r} {problem}", variable, ModelSyntaxError)
    return " ".join(text.split())  # lines joined, as the loader joins them


def _unbalanced(text: str) -> str:
    """What is wrong with the parentheses outside quoted names, if anything: said
    plainly, before the parser's less direct "cannot parse near ..."."""
    opened: list[int] = []
    quoted = False
    for column, char in enumerate(text, 1):
        quoted = quoted != (char == '"')
        if quoted or char not in "()":
            continue
        if char == "(":
            opened.append(column)
        elif not opened:
            return f"has unbalanced parentheses: the ')' at column {column} closes nothing"
        else:
            opened.pop()
    return f"has unbalanced parentheses: the '(' at column {opened[-1]} is never closed" if opened else ""


class ModelBuilder:
    """A model assembled in Python from equations written as in Vensim.

    The methods that declare or change variables return the builder, so calls
    chain; `build` returns the frozen, checked `Model`. Every variable may be given
    ``units``, ``doc`` (its documentation), ``group`` (its sector: one view each in
    a saved diagram) and ``range=(minimum, maximum[, step])`` (`About`).

    Parameters
    ----------
    name:
        The model's name.
    time_units:
        Units of INITIAL TIME, FINAL TIME and TIME STEP.
    initial_time, final_time, time_step:
        The run's span and step.
    saveper:
        How often results are kept; every TIME STEP by default.
    """

    def __init__(
        self,
        name: str = "model",
        *,
        time_units: str = "Month",
        initial_time: Number = 0,
        final_time: Number = 100,
        time_step: Number = 1,
        saveper: Number | None = None,
    ) -> None:
        self.name = name
        self._entries: dict[str, _Entry] = {}
        self._loops: list[tuple[str, tuple[str, ...], str]] = []  # (id, chain, declaration)
        self._dimensions: list[Dimension] = []
        self._base = Model(())  # the model edited; it spells the variables kept from it
        control = {"INITIAL TIME": initial_time, "FINAL TIME": final_time, "TIME STEP": time_step}
        for name_, value in {**control, "SAVEPER": "TIME STEP" if saveper is None else saveper}.items():
            self._add(_Entry(name_, Kind.CONSTANT, _text(value, name_)), units=time_units)

    @classmethod
    def from_model(cls, model: Model) -> ModelBuilder:
        """A builder holding `model`'s variables, to change some and build anew."""
        builder = cls(model.name)
        builder._base, builder._dimensions = model, list(model.dimensions)
        internal = _Writer(model).internal  # lowering's parts, which `save` leaves out too
        builder._entries = {
            v.key: _Entry(v.name, v.kind, group=v.group, variable=v)
            for v in model.variables
            if v.origin is None or v.key not in internal
        }
        return builder

    # -- declaring

    def stock(
        self,
        name: str,
        initial: str | Number,
        *,
        inflows: Sequence[str] = (),
        outflows: Sequence[str] = (),
        **about: Unpack[About],
    ) -> ModelBuilder:
        """A stock: it starts at `initial` and integrates its inflows less its outflows."""
        names = [self._check_name(flow) for flow in (*inflows, *outflows)]
        spelled = [_SPELL.name(m["name"]) + (m["subscripts"] or "") for m in names]
        rate = " + ".join(spelled[: len(inflows)]) + "".join(f" - {f}" for f in spelled[len(inflows) :])
        flows = tuple(m["name"] for m in names)
        entry = _Entry(name, Kind.STOCK, rate.strip() or "0", _text(initial, name), flows=flows)
        return self._add(entry, **about)

    def flow(self, name: str, equation: str, **about: Unpack[About]) -> ModelBuilder:
        """A flow: a rate that a stock lists among its inflows or outflows."""
        return self._add(_Entry(name, Kind.AUXILIARY, _text(equation, name), flows=()), **about)

    def auxiliary(self, name: str, equation: str, **about: Unpack[About]) -> ModelBuilder:
        """An auxiliary, computed from other variables every step."""
        return self._add(_Entry(name, Kind.AUXILIARY, _text(equation, name)), **about)

    def constant(self, name: str, value: Number | str, **about: Unpack[About]) -> ModelBuilder:
        """A constant; a lever when given ``range=(minimum, maximum, step)`` for sliders."""
        return self._add(_Entry(name, Kind.CONSTANT, _text(value, name)), **about)

    def lookup(
        self, name: str, points: Iterable[tuple[Number, Number]], **about: Unpack[About]
    ) -> ModelBuilder:
        """A lookup (graphical function) through `points`, called as ``name(x)``."""
        pairs = [(float(x), float(y)) for x, y in points]
        if not pairs or not all(math.isfinite(v) for pair in pairs for v in pair):
            raise _error(f"expected (x, y) points of finite numbers, found {pairs!r}", name)
        table = _SPELL.table(Table(tuple(x for x, _ in pairs), tuple(y for _, y in pairs)))
        return self._add(_Entry(name, Kind.LOOKUP, table[1:-1]), **about)

    def subscript(self, name: str, elements: Sequence[str]) -> ModelBuilder:
        """A subscript range, for arrayed variables (``auxiliary("Demand[Region]", ...)``)."""
        if not elements:
            raise _error(f"subscript range {name!r}: expected elements, found none")
        self._dimensions.append(Dimension(name, tuple(elements)))
        return self

    def loop(self, id: str, name: str, chain: Sequence[str], description: str = "") -> ModelBuilder:
        """A feedback loop as its author names it: `id` R or B and a number, `chain`
        its variables in causal order. Declared in the first one's documentation as
        `named_loops` reads it, so a saved model keeps it."""
        if not _LOOP_ID.fullmatch(id):
            raise _error(f"loop {name!r}: expected an id such as R1 or B2, found {id!r}")
        if not chain or '"' in name or any(c in part for part in (name, *chain) for c in ("->", "~", "|")):
            raise _error(
                f"loop {id}: expected a name and a chain of variables without quotes, '->', '~' or '|'"
            )
        declaration = f'Loop {id} "{name}": {" -> ".join((*chain, chain[0]))}. {description}'
        self._loops.append((id, tuple(chain), declaration.strip()))
        return self

    # -- editing

    def equation(
        self, name: str, equation: str | Number, *, initial: str | Number | None = None
    ) -> ModelBuilder:
        """A new equation for `name` (for a stock its net flow, and its initial value
        when given); its units, range, documentation and group stay."""
        entry = self._get(name)
        if entry.kind is Kind.LOOKUP:
            raise _error("is a lookup: remove() it and declare its points with lookup()", entry.name)
        if entry.variable is not None:
            entry = self._as_text(entry.variable)
        # A stock's list of flows no longer says what its new net flow reads.
        flows = None if entry.kind is Kind.STOCK else entry.flows
        changed = replace(entry, equation=_text(equation, entry.name), flows=flows)
        if initial is not None:
            changed = replace(changed, initial=_text(initial, entry.name))
        self._entries[entry.key] = changed
        return self

    def remove(self, name: str) -> ModelBuilder:
        """Leave `name` out of the model; `build` names what still reads it."""
        del self._entries[self._get(name).key]
        return self

    def rename(self, name: str, new_name: str) -> ModelBuilder:
        """Call `name` `new_name` in every equation and loop that reads it. The model is
        built first, so its equations must hold; a saved diagram is then drawn anew,
        as the file's own shows the old name.

        Raises
        ------
        ModelError
            `new_name` is taken, or a Reality Check names `name` in its text.
        """
        old, new = self._get(name), self._check_name(new_name)["name"]
        if canonical(new) in self._entries:
            raise _error(f"cannot take the name {new!r}: it is defined already", old.name)
        model = self.build()
        for check in model.checks:
            if old.key in references(check.condition_expr) | references(check.consequence_expr):
                raise _error(
                    f"the Reality Check {check.name!r} names it in its text; rename it there", old.name
                )
        keys = {old.key: canonical(new)}
        words = r"[\s_]+".join(map(re.escape, old.key.split()))
        # In a loop declaration, a name sits between "name": or an arrow, and an arrow or the full stop.
        chained = re.compile(
            rf'(?:(?<=->)|(?<=\u2192)|(?<=":))(\s*){words}(?=\s*(?:->|\u2192|\.(?:\s|$)))', re.I
        )

        def moved(part: Any) -> Any:  # an equation, or a tuple of them (`Variable.written`)
            if isinstance(part, tuple):
                return tuple(map(moved, part))
            return part if part is None or isinstance(part, Table) else rename_references(part, keys)

        variables = tuple(
            replace(
                v,
                name=new if v.key == old.key else v.name,
                origin=new if v.origin is not None and canonical(v.origin) == old.key else v.origin,
                equation=moved(v.equation),
                initial=moved(v.initial),
                documentation=chained.sub(lambda m: m[1] + new, v.documentation),
                written=moved(v.written),
            )
            for v in model.variables
        )
        renamed = model.replace(variables=variables)
        # Read again, so that a chain still naming the old name fails here, not later.
        renamed = renamed.replace(loops=find_named_loops(renamed))
        edited = ModelBuilder.from_model(renamed)
        self._entries, self._base, self._loops = edited._entries, renamed, []
        return self

    # -- building

    def build(self) -> Model:
        """The model: its equations read as from a file, lowered and checked.

        Raises
        ------
        ModelSyntaxError
            An equation does not parse.
        UndefinedVariableError
            An equation, a stock's flows or a loop names a variable nobody declared.
        AlgebraicLoopError, UnsupportedError, ModelError
            As `load` raises them; and a flow that no stock lists.
        NotWritableError
            A model kept from `from_model` that a .mdl cannot hold (XMILE's
            non-negative stocks): the builder reads every model as Vensim text.
        """
        self._check_names()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.mdl"
            try:
                path.write_text(self._file_text(), encoding="utf-8")
                model = load(path)
            except ModelError as error:  # the file is the builder's own: name the variable alone
                raise _error(error.detail, error.variable, type(error)) from None
        drained = set().union(*(v.dependencies for v in model.stocks if v.origin is None))
        for entry in self._entries.values():
            if entry.flows == () and entry.key not in drained:
                raise _error(
                    "is declared a flow, but no stock lists it among its inflows or outflows; "
                    "list it so, or declare it with auxiliary()",
                    entry.name,
                )
        return self._settled(model)

    # -- the parts

    def _add(
        self, entry: _Entry, *, units: str = "", range: Limits = None, doc: str = "", group: str = ""
    ) -> ModelBuilder:
        match = self._check_name(entry.name)
        if range is not None and len(range) not in (2, 3):
            raise _error(f"expected a range (minimum, maximum[, step]), found {range!r}", entry.name)
        limits = Range(*(float(v) for v in range or ()))
        entry = replace(entry, name=match["name"], subscripts=match["subscripts"] or "", units=units)
        entry = replace(entry, range=limits, doc=doc, group=group)
        if entry.key in self._entries:
            raise _error("is defined twice; change it with equation(), or remove() it first", entry.name)
        self._entries[entry.key] = entry
        return self

    @staticmethod
    def _check_name(name: str) -> re.Match[str]:
        match = _NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            raise _error(
                f"expected a name without quotes, '~', '|', backslashes or line breaks, found {name!r}"
            )
        return match

    def _get(self, name: str) -> _Entry:
        entry = self._entries.get(canonical(name))
        if entry is None:
            known = [e.name for e in self._entries.values()]
            raise _unknown("expected a variable of the model; found", name, known)
        return entry

    def _as_text(self, variable: Variable) -> _Entry:
        """A variable kept from the model, as text to change."""
        writer = _Writer(self._base)
        writer.current = variable
        # A stock's initial value as written; an ACTIVE INITIAL auxiliary's is written
        # inside its call, and lowering keeps it as the variable's initial.
        initial = variable.as_written[1] if variable.kind is Kind.STOCK else variable.initial
        dims = ",".join(writer.name(writer.spelled.get(d, d)) for d in variable.dims)
        return _Entry(
            variable.name,
            variable.kind,
            initial=writer.expr(initial) if initial is not None else "",
            subscripts=f"[{dims}]" if dims else "",
            units=variable.units,
            range=variable.range,
            doc=variable.documentation,
            group=variable.group,
        )

    def _check_names(self) -> None:
        """Each equation parses and names only what the model defines; so do the
        stocks' flows and the loops' chains."""
        known = [e.name for e in self._entries.values()]
        defined = {*self._entries, "time"}
        for dimension in self._dimensions:
            defined |= {dimension.key, *dimension.element_keys}
        lookups = [e.name for e in self._entries.values() if e.kind is Kind.LOOKUP]
        for entry in self._entries.values():
            for flow in entry.flows or ():
                if canonical(flow) not in defined:
                    raise _unknown("lists the flow", flow, known, entry.name)
            for text, key in sorted(self._references(entry, lookups)):
                if key not in defined:
                    found = f"equation {text!r} names" if text else "its equation names"
                    raise _unknown(found, _spelled(text, key), known, entry.name)
        for id, chain, _ in self._loops:
            for name in chain:
                if canonical(name) not in self._entries:
                    raise _unknown(f"loop {id} names", name, known)

    def _references(self, entry: _Entry, lookups: list[str]) -> set[tuple[str, str]]:
        """(equation text, name) for each name the entry's equations read."""
        if entry.variable is not None:
            parts = [p for p in entry.variable.as_written if p is not None and not isinstance(p, Table)]
            return {("", key) for part in parts for key in references(part)}
        if entry.kind is Kind.LOOKUP:
            return set()
        named = set()
        keys = frozenset(map(canonical, lookups))
        for text in filter(None, (entry.equation, entry.initial)):
            try:
                expression = parse_equation(text, lookups=keys, dimensions=tuple(self._dimensions))
            except ModelError as error:
                called = _UNKNOWN_FUNCTION.search(error.detail)
                hint = _suggest(called.group(1), lookups) if called else ""
                raise _error(error.detail + hint, entry.name, type(error)) from None
            named |= {(text, key) for key in references(expression)}
        return named

    def _file_text(self) -> str:
        """The model as the text of a .mdl file, without a sketch."""
        writer = _Writer(self._base)
        declared: dict[str, list[str]] = {}
        for _, chain, declaration in self._loops:
            declared.setdefault(canonical(chain[0]), []).append(declaration)
        parts = ["{UTF-8}\n"]
        parts += [writer.dimension(d) for d in self._dimensions]
        parts += [writer.check(c) for c in self._base.checks]
        # Vensim's order: the control variables close the equations.
        for entry in sorted(self._entries.values(), key=lambda e: e.key in CONTROL_VARIABLES):
            loops = declared.get(entry.key, [])
            if entry.variable is not None:
                documentation = " ".join([entry.variable.documentation, *loops]).strip()
                parts.append(writer.variable(replace(entry.variable, documentation=documentation)))
                continue
            left = _SPELL.name(entry.name) + entry.subscripts
            if entry.kind is Kind.LOOKUP:
                body = f"{left}(\n\t{entry.equation})"
            elif entry.kind is Kind.STOCK:
                body = f"{left}= INTEG (\n\t{entry.equation},\n\t\t{entry.initial})"
            elif entry.initial:  # an auxiliary with an initial value of its own
                body = f"{left}= ACTIVE INITIAL (\n\t{entry.equation},\n\t\t{entry.initial})"
            else:
                body = f"{left}=\n\t{entry.equation}"
            units, doc = writer.units(entry.units, entry.range), writer.text(" ".join([entry.doc, *loops]))
            parts.append(f"{body}\n\t~\t{units}\n\t~\t{doc}\n\t|\n\n")
        return "".join(parts)

    def _settled(self, model: Model) -> Model:
        """The model read from the text, with the builder's name, groups and source;
        lines are the edited file's where a variable comes from it, else none."""
        variables = []
        for variable in model.variables:
            entry = self._entries.get(variable.key) or self._entries.get(canonical(variable.origin or ""))
            kept = self._base.get(variable.key)
            group = entry.group if entry is not None else variable.group
            variables.append(replace(variable, group=group, line=kept.line if kept is not None else None))
        lines = {c.name: c.line for c in self._base.checks}
        checks = tuple(replace(c, line=lines.get(c.name)) for c in model.checks)
        return model.replace(
            variables=tuple(variables),
            checks=checks,
            name=self.name,
            source=self._base.source,
            units_equivalents=self._base.units_equivalents,  # settings the text does not carry
        )
