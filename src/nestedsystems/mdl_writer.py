"""Write a `Model` back to a Vensim .mdl file: `save`.

The equations are written as the modeler wrote them: lowering turns SMOOTH, DELAY
and the like into variables of its own (``origin`` set), which are never written;
the stateful call they came from is kept on the modeler's variable
(`Variable.written`) and written instead.

Data read with a keyword (HOLD BACKWARD, LOOK FORWARD) is, in the IR, an inline
table with a mode; a .mdl gives a mode only to a named lookup, so the writer adds one,
``<variable> data``, read with LOOKUP BACKWARD or FORWARD. Lookups are not run
columns, so runs keep their names.

A model loaded from a .mdl keeps that file's sketch, verbatim, so that a Vensim
user's diagram survives an edit of the equations; any other model gets a diagram
laid out by `sketch`.

Everything written comes from the IR, never from text that could be read as code:
names that need them are quoted (``\\"`` inside; backslashes stay, as the loader
keeps them), and what would end a field or a section (``~``, ``|``, the sketch and
macro markers) is replaced in units and documentation.

Macros are expanded at load, and their definitions are not kept: the variables a
call made (``origin`` set, but read by what is written, unlike lowering's) are
written as ordinary variables, so the file runs the same, with the macro's insides
as variables of their own. Not written: the subscripts of a Reality Check's own name.
A non-negative stock (XMILE's) is refused: a .mdl cannot say it, and without it the
model would run differently.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from .errors import ModelError
from .expressions import (
    Binary,
    Call,
    Defined,
    Expr,
    If,
    LookupCall,
    LookupMode,
    Number,
    Numbers,
    Op,
    Position,
    Ref,
    Selector,
    Table,
    Unary,
    UnaryOp,
    canonical,
    references,
)
from .model import CONTROL_VARIABLES, Dimension, Kind, Model, Range, RealityCheck, Variable
from .noise import RANDOM_FUNCTIONS
from .vensim_text import SKETCH_MARK, scan_views

__all__ = ["NotWritableError", "save", "to_mdl"]

NOT_AVAILABLE = -(2.0**109)  # Vensim's :NA:, as the loader reads it

# Binding strength, loosest first. A unary minus or :NOT: (and a negative number)
# is parenthesised inside any binary operation and takes a parenthesised operand
# unless that is an atom: readers disagree on where it binds, parentheses do not.
_PRECEDENCE = {
    Op.OR: 1,
    Op.AND: 2,
    Op.EQ: 3,
    Op.NE: 3,
    Op.LT: 3,
    Op.LE: 3,
    Op.GT: 3,
    Op.GE: 3,
    Op.ADD: 4,
    Op.SUB: 4,
    Op.MUL: 5,
    Op.DIV: 5,
    Op.POW: 7,
}
_UNARY = 0.5
_ATOM = 8.0

_LOOKUP_FUNCTIONS = {
    LookupMode.EXTRAPOLATE: "LOOKUP EXTRAPOLATE",
    LookupMode.FORWARD: "LOOKUP FORWARD",
    LookupMode.BACKWARD: "LOOKUP BACKWARD",
    LookupMode.INVERT: "LOOKUP INVERT",
}
_CONTROL_GROUP = (
    "********************************************************\n\t.Control\n"
    "********************************************************~\n"
    "\t\tSimulation Control Parameters\n\t|\n\n"
)
_WITH_INITIAL = {"SMOOTH": "SMOOTHI", "SMOOTH3": "SMOOTH3I", "DELAY1": "DELAY1I", "DELAY3": "DELAY3I"}
_PLAIN_NAME = re.compile(r"[^\W\d](?:[\w $']*[\w$'])?")
# A quoted name whose inner quotes are escaped and which holds no line break.
_QUOTED_NAME = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')


class NotWritableError(ModelError):
    """The model holds something the target format (.mdl or XMILE), or its writer, cannot express."""


def save(model: Model, path: str | Path) -> Path:
    """Write `model` in the format the suffix of `path` names: Vensim (``.mdl``) or
    XMILE (``.xmile``, ``.stmx``, ``.xml``; see `xmile_writer`).

    Parameters
    ----------
    model:
        A model, as `load` returns it or built by hand.
    path:
        Where to write.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    NotWritableError
        A construct the format cannot express (an infinite number, a non-negative
        stock in a .mdl, ...), named with its variable; or a suffix of no format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xmile", ".stmx", ".xml"):
        from .xmile_writer import to_xmile  # it builds on this module

        text = to_xmile(model)
    elif suffix == ".mdl":
        text = to_mdl(model)
    else:
        raise NotWritableError(
            f"expected a file name ending in .mdl, .xmile, .stmx or .xml, found {suffix or 'no suffix'!r}",
            file=path,
        )
    path.write_text(text, encoding="utf-8")
    return path


def to_mdl(model: Model) -> str:
    """The text of `model` as a Vensim .mdl file (equations, then the sketch)."""
    writer = _Writer(model)
    parts = ["{UTF-8}\n"]
    parts.extend(writer.dimension(d) for d in model.dimensions)
    parts.extend(writer.check(c) for c in model.checks)
    # Model order, kept: runs list their variables, and number RANDOM calls, in it.
    control = False
    for variable in model.variables:
        if variable.origin is not None and variable.key in writer.internal:
            continue
        if variable.key in CONTROL_VARIABLES and not control:
            control = True
            parts.append(_CONTROL_GROUP)
        parts.append(writer.variable(variable))
    equations = "".join(parts)
    if SKETCH_MARK in equations:  # only a quoted name can still hold it
        raise NotWritableError("a name holds the sketch marker \\\\\\---///", file=model.source)
    return equations + _sketch_section(model, writer)


def _sketch_section(model: Model, writer: _Writer) -> str:
    """The source file's sketch when it still fits the model, else a generated one."""
    if model.source and Path(model.source).suffix.lower() == ".mdl":
        try:
            text = Path(model.source).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if SKETCH_MARK in text:
            shown = set(scan_views(text))
            # A sketch naming a variable the model no longer has would not open cleanly.
            checks = {canonical(c.name) for c in model.checks}
            if all(name in model or name in checks or name == "time" for name in shown):
                return SKETCH_MARK + text.split(SKETCH_MARK, 1)[1]
    from .sketch import sketch  # networkx is imported only when a diagram is drawn

    return sketch(model, writer.name)


def _read_as_written(model: Model, made: dict[str, Variable]) -> set[str]:
    """The made variables that what is written reads: those a macro call made.
    Lowering's variables are read only by the lowered equations, never written."""
    found: set[str] = set()
    todo = [v for v in model.variables if v.origin is None]
    while todo:
        variable = todo.pop()
        for part in variable.as_written:
            for key in references(part) if not isinstance(part, Table) else ():
                if key in made and key not in found:
                    found.add(key)
                    todo.append(made[key])
    return found


class _Writer:
    """Expression trees to Vensim text, names spelled as the model spells them."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.spelled: dict[str, str] = {"time": "Time"}
        for dimension in model.dimensions:
            self.spelled.setdefault(dimension.key, dimension.name)
            for key, element in zip(dimension.element_keys, dimension.elements, strict=True):
                self.spelled.setdefault(key, element)
        for variable in model.variables:
            self.spelled[variable.key] = variable.name
        made = {v.key: v for v in model.variables if v.origin is not None}
        self.internal = {k: v for k, v in made.items() if k not in _read_as_written(model, made)}
        self.current: Variable | None = None
        self.tables: list[tuple[str, Table]] = []  # lookups made for the current variable

    # -- names and text fields

    def name(self, name: str) -> str:
        """A name as Vensim reads it: quoted when it holds anything but letters,
        digits, spaces, underscores, ``$`` and ``'``."""
        name = name.strip()
        if _QUOTED_NAME.fullmatch(name):
            return name  # quoted as the file quoted it, and the loader keeps it so
        if "\n" in name or "\r" in name:
            raise self.error(f"the name {name!r} holds a line break")
        if _PLAIN_NAME.fullmatch(name):
            return name
        if name.endswith("\\"):
            raise self.error(f"the name {name!r} ends in a backslash, which would escape its closing quote")
        # Only the quote is escaped: the loader keeps a name's backslashes as they are.
        return '"' + name.replace('"', '\\"') + '"'

    def ref_name(self, key: str) -> str:
        if key in self.internal:
            origin = self.internal[key].origin
            raise self.error(
                f"it reads {self.spelled.get(key, key)!r}, made from {origin!r} by lowering "
                "a stateful function the IR no longer holds as written"
            )
        return self.name(self.spelled.get(key, key))

    def error(self, message: str) -> NotWritableError:
        variable = self.current.name if self.current is not None else None
        return NotWritableError(
            f"cannot write it as Vensim: {message}", file=self.model.source, variable=variable
        )

    # -- expressions

    def expr(self, e: Expr | Table, parent: float = 0) -> str:
        text, strength = self._expr(e)
        return f"({text})" if strength <= parent else text

    def _expr(self, e: Expr | Table) -> tuple[str, float]:
        if isinstance(e, Number):
            return self.number(e.value)
        if isinstance(e, Ref):
            return self.ref(e), _ATOM
        if isinstance(e, Position):
            return self.name(self.spelled.get(e.dimension, e.dimension)), _ATOM
        if isinstance(e, Unary):
            op = "-" if e.op is UnaryOp.NEG else ":NOT: "
            return op + self.expr(e.operand, _ATOM - 1), _UNARY
        if isinstance(e, Binary):
            strength = _PRECEDENCE[e.op]
            if e.op is Op.POW or strength == 3:  # right-associative, and kept explicit either way
                left, right = self.expr(e.left, strength), self.expr(e.right, strength)
            else:
                left, right = self.expr(e.left, strength - 1), self.expr(e.right, strength)
            spaced = f" {e.op.value} " if strength <= 4 else e.op.value
            return left + spaced + right, strength
        if isinstance(e, If):
            args = ", ".join(self.expr(a) for a in (e.condition, e.then, e.otherwise))
            return f"IF THEN ELSE({args})", _ATOM
        if isinstance(e, Call):
            return self.call(e), _ATOM
        if isinstance(e, LookupCall):
            return self.lookup_call(e), _ATOM
        if isinstance(e, Numbers):
            return self.numbers(e), _ATOM  # only ever a whole right-hand side
        if isinstance(e, Table):
            return self.table(e), _ATOM
        raise self.error(f"an expression of type {type(e).__name__}")

    def number(self, value: float) -> tuple[str, float]:
        if value == NOT_AVAILABLE:
            return ":NA:", _ATOM
        if not math.isfinite(value):
            raise self.error(f"the number {value}, which Vensim cannot spell")
        text = repr(float(value))
        if text.endswith(".0"):
            text = text[:-2]
        # A negative number is a unary minus to the reader: it binds like one.
        return text, (_UNARY if value < 0 else _ATOM)

    def ref(self, e: Ref) -> str:
        name = self.ref_name(e.name)
        if not e.subscripts:
            return name
        return name + self.subscripts(e.subscripts)

    def subscripts(self, subscripts: tuple[str, ...]) -> str:
        spelled = []
        for s in subscripts:
            bang = s.endswith("!")
            key = s[:-1] if bang else s
            spelled.append(self.name(self.spelled.get(key, key)) + ("!" if bang else ""))
        return "[" + ",".join(spelled) + "]"

    def call(self, e: Call) -> str:
        args = e.args
        extra = RANDOM_FUNCTIONS.get(e.function)
        if extra is not None and len(args) == extra + 3:
            args = args[:extra]  # the stream `noise.number_streams` added: not Vensim's
        function = e.function.upper()
        if function == "PI" and not args:
            return "PI"
        # The IR always carries the initial value; Vensim spells the call that takes it
        # with an I (SMOOTHI), and FORECAST's initial trend is not Vensim's to give.
        if function in _WITH_INITIAL:
            function = _WITH_INITIAL[function]
        if function == "FORECAST":
            if args[3] != Number(0.0):
                raise self.error("FORECAST with an initial trend other than 0")
            args = args[:3]
        return f"{function}({', '.join(self.expr(a) for a in args)})"

    def lookup_call(self, e: LookupCall) -> str:
        argument = self.expr(e.argument)
        if isinstance(e.table, Table):
            mode = e.mode or e.table.mode
            if mode is LookupMode.INTERPOLATE:
                return f"WITH LOOKUP({argument}, {self.table(e.table)})"
            if e.mode is not None and e.table.mode not in (LookupMode.INTERPOLATE, e.mode):
                raise self.error("an inline lookup read with two different keywords")
            # Data read with a keyword (GET DATA, HOLD BACKWARD, ...) is an inline table
            # with a mode; a .mdl says that only of a named lookup, so one is written.
            table = self.made_table(Table(e.table.x, e.table.y))
            return f"{_LOOKUP_FUNCTIONS[mode]}({table}, {argument})"
        table = self.ref(e.table)
        if e.mode is None or e.mode is LookupMode.INTERPOLATE:
            return f"{table}({argument})"
        return f"{_LOOKUP_FUNCTIONS[e.mode]}({table}, {argument})"

    def made_table(self, table: Table) -> str:
        assert self.current is not None
        base = self.current.name.strip('"') + " data"
        name, n = base, 1
        taken = {canonical(t) for t, _ in self.tables}
        while canonical(name) in self.model or canonical(name) in taken:
            n += 1
            name = f"{base} {n}"
        self.tables.append((name, table))
        return self.name(name)

    def table(self, table: Table) -> str:
        if table.mode is not LookupMode.INTERPOLATE:
            raise self.error(f"a lookup read by {table.mode.value}, which a .mdl lookup cannot say")
        num = lambda v: self.number(v)[0]  # noqa: E731
        box = f"[({num(min(table.x))},{num(min(table.y))})-({num(max(table.x))},{num(max(table.y))})]"
        points = ",".join(f"({num(x)},{num(y)})" for x, y in zip(table.x, table.y, strict=True))
        return f"({box},{points})"

    def numbers(self, e: Numbers) -> str:
        values = [self.number(v)[0] for v in e.values]
        if len(e.shape) <= 1:
            return ",".join(values)
        width = e.shape[-1]
        rows = [",".join(values[i : i + width]) for i in range(0, len(values), width)]
        return ";".join(rows) + ";"

    # -- entries

    def dimension(self, dimension: Dimension) -> str:
        elements = ",".join(self.name(e) for e in dimension.elements)
        mapping = ""
        if dimension.mapping:
            mapping = " -> " + ",".join(self.name(self.spelled.get(m, m)) for m in dimension.mapping)
        return f"{self.name(dimension.name)}:\n\t{elements}{mapping}\n\t~\t\n\t~\t\n\t|\n\n"

    def variable(self, variable: Variable) -> str:
        self.current = variable
        self.tables = []
        text = self.defined(variable)
        for name, table in self.tables:  # after the variable, which needs them
            text += f"{self.name(name)}(\n\t{self.table(table)[1:-1]})\n\t~\t\n\t~\t\n\t|\n\n"
        return text

    def defined(self, variable: Variable) -> str:
        # Edited after loading, a variable is written with the equation it holds now.
        equation, initial = variable.as_written
        left = self.name(variable.name)
        units = self.units(variable.units, variable.range)
        documentation = self.text(variable.documentation)
        if isinstance(equation, Defined):
            # A stock defined in parts has its initial values in the same parts.
            initials: dict[Selector, Expr | None] = {}
            if isinstance(initial, Defined):
                initials = {sel: part for sel, part in initial.parts if not isinstance(part, Table)}
            entries = []
            for selector, part in equation.parts:
                head = left + self.selector(selector)
                part_initial = initials.get(selector) if isinstance(initial, Defined) else initial
                entries.append(self.entry(variable, head, part, part_initial, units, documentation))
                documentation = ""  # once is enough
            return "".join(entries)
        if variable.dims:
            left += "[" + ",".join(self.name(self.spelled.get(d, d)) for d in variable.dims) + "]"
        return self.entry(variable, left, equation, initial, units, documentation)

    def check(self, check: RealityCheck) -> str:
        """A Reality Check statement, its parts as the file's text, which the loader
        parses again."""
        self.current = None
        parts = (check.condition, check.consequence)
        if any(c in part for part in parts for c in "~|\r\n"):
            raise self.error(f"the reality check {check.name!r} holds a field separator or line break")
        if check.test_input:
            body = f"{self.name(check.name)}:TEST INPUT:\n\t{check.condition}"
        else:
            body = f"{self.name(check.name)}:THE CONDITION:\n\t{check.condition}:IMPLIES:{check.consequence}"
        return f"{body}\n\t~\t\n\t~\t{self.text(check.documentation)}\n\t|\n\n"

    def selector(self, selector: Selector) -> str:
        text = self.subscripts(selector.subscripts)
        for excepted in selector.excepted:
            text += (" :EXCEPT: " if excepted is selector.excepted[0] else ", ") + self.subscripts(excepted)
        return text

    def entry(
        self,
        variable: Variable,
        left: str,
        equation: Expr | Table,
        initial: Expr | None,
        units: str,
        doc: str,
    ) -> str:
        if isinstance(equation, Table):
            body = f"{left}(\n\t{self.table(equation)[1:-1]})"
        elif variable.kind is Kind.STOCK:
            if initial is None:
                raise self.error("a stock without an initial value")
            if variable.non_negative:
                # MAX-guarded outflows would differ: they cut the flow, not the stock.
                raise self.error(
                    "a non-negative stock (XMILE), which a .mdl cannot say; save it as .xmile instead"
                )
            body = f"{left}= INTEG (\n\t{self.expr(equation)},\n\t\t{self.expr(initial)})"
        elif variable.kind is Kind.MEMORY:
            raise self.error("a memory that no stateful function of the file accounts for")
        elif initial is not None:
            body = f"{left}= ACTIVE INITIAL (\n\t{self.expr(equation)},\n\t\t{self.expr(initial)})"
        else:
            body = f"{left}=\n\t{self.expr(equation)}"
        return f"{body}\n\t~\t{units}\n\t~\t{doc}\n\t|\n\n"

    def units(self, units: str, limits: Range) -> str:
        text = self.text(units).replace("\n", " ")
        bounds = (limits.minimum, limits.maximum, limits.step)
        if all(b is None for b in bounds):
            return text
        # An open bound reads back as infinite; Vensim spells it ``?``.
        spelled = ["?" if b is None or not math.isfinite(b) else self.number(b)[0] for b in bounds]
        if limits.step is None:
            spelled = spelled[:2]
        return f"{text} [{','.join(spelled)}]".strip()

    @staticmethod
    def text(text: str) -> str:
        """Units or documentation with the field separators replaced: ``~`` and ``|``
        would end the field and let the rest be read as an equation."""
        text = text.replace("~", "-").replace("|", "/").strip()
        # Markers the reader looks for anywhere in the file, documentation included.
        text = text.replace(SKETCH_MARK, "---").replace(":MACRO:", ": MACRO:")
        text = re.sub(":END OF MACRO:", ": END OF MACRO:", text, flags=re.IGNORECASE)
        # A line ending in a backslash would join the next line to it.
        return "\n\t\t".join(line.rstrip("\\ ") for line in text.splitlines())
