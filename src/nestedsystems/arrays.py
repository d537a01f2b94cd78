"""Subscripted equations compiled to whole-array numpy, never a loop over elements.

Every value of an arrayed variable has the shape ``(*dims, R)``: one axis per
dimension, in the variable's order, then the run axis (1 for a single run, N for
an ensemble). The run axis is last so that scalars, which are floats or ``(R,)``,
broadcast against any array.

The emitter works out each expression node's dimensions at compile time and
emits static reindexing, so that Vensim's subscript algebra becomes plain numpy:

- ``x[a1]`` picks an element (an integer index drops the axis);
- ``x[sub]`` on a dimension that holds the subrange ``sub`` takes its indices;
- a dimension mapped (``->``) onto another is read position by position;
- two operands over different dimensions broadcast (``x[a] * y[b]`` is an a-by-b
  array): each is transposed to a common order and given ``None`` axes;
- ``x[b, a]`` assigned to ``y[a, b]`` is a transpose;
- SUM, PROD, VMIN and VMAX reduce the axes marked ``!``;
- a variable defined in parts (`Defined`) is assembled by `_parts` from
  precomputed index tuples and EXCEPT masks;
- Vensim's other array functions (VECTOR SELECT, SORT ORDER, RANK, REORDER,
  ELM MAP, ALLOCATE, INVERT MATRIX) are emitted by `array_calls`; the helpers all
  of this code calls at run time live in `array_functions`.

Index lists, masks, number arrays and per-element lookup tables become constants
of the generated module under whitelisted names (``_K<n>``), never text from the file.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .array_calls import ARRAY_CALLS
from .array_functions import ARRAY_NAMESPACE
from .compiler import _Emitter, _number
from .errors import ModelSyntaxError, UnsupportedError
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
    Table,
    Unary,
    UnaryOp,
    canonical,
)
from .model import Dimension, Model, Variable

__all__ = ["ARRAY_NAMESPACE", "ArrayEmitter", "Space", "constant_value", "is_element"]

_VECTOR_FUNCTIONS = {"sum": "_np.sum", "prod": "_np.prod", "vmin": "_np.min", "vmax": "_np.max"}
_ARITHMETIC = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/"}
_COMPARISON = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


class Space:
    """What the model's subscript ranges say: sizes, element positions, mappings."""

    def __init__(self, model: Model):
        self.model = model
        self.by_key: dict[str, Dimension] = {d.key: d for d in model.dimensions}
        self.position = {d.key: {e: i for i, e in enumerate(d.element_keys)} for d in model.dimensions}

    def size(self, dim: str) -> int:
        return len(self.by_key[dim.rstrip("!")].elements)

    def shape(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.size(d) for d in dims)

    def elements(self, name: str) -> tuple[str, ...]:
        """The element keys a subscript stands for: a range's elements, or the element itself."""
        dimension = self.by_key.get(name)
        return dimension.element_keys if dimension is not None else (name,)

    def corresponds(self, a: str, b: str) -> bool:
        """Whether ``a`` maps onto ``b`` or ``b`` onto ``a`` (Vensim's ``->``), position by position."""
        a, b = a.rstrip("!"), b.rstrip("!")
        if a not in self.by_key or b not in self.by_key or self.size(a) != self.size(b):
            return False
        return b in self.by_key[a].mapping or a in self.by_key[b].mapping

    def indices(self, subscript: str, dim: str) -> list[int] | None:
        """Positions in ``dim`` of the elements ``subscript`` names (None if it names others)."""
        base = subscript.rstrip("!")
        position = self.position[dim]
        elements = self.elements(base)
        if all(e in position for e in elements):
            return [position[e] for e in elements]
        if self.corresponds(base, dim):
            return list(range(self.size(dim)))
        return None

    def columns(self, variable: Variable) -> list[str]:
        """Vensim's column names, row-major: ``Name[a1,b1]``, ``Name[a1,b2]``, ..."""
        if not variable.dims:
            return [variable.name]
        grids = np.meshgrid(*[np.arange(self.size(d)) for d in variable.dims], indexing="ij")
        names = [self.by_key[d].elements for d in variable.dims]
        flat = zip(*(g.ravel() for g in grids), strict=True)
        return [f"{variable.name}[{','.join(names[k][i] for k, i in enumerate(cell))}]" for cell in flat]

    def parent(self, dim: str) -> str:
        """The largest range holding every element of ``dim`` (the first such, in file order)."""
        held = set(self.elements(dim))
        holders = [d for d in self.by_key.values() if held <= set(d.element_keys)]
        return max(holders, key=lambda d: len(d.elements)).key

    def width(self, variable: Variable) -> int:
        return math.prod(self.shape(variable.dims))


class ArrayEmitter(_Emitter):
    """The vector flavour's emitter, aware of every node's dimensions."""

    def __init__(self, model: Model, tables: dict[str, Any]):
        super().__init__(model, "vector", tables)
        self.space = Space(model)
        self.context: tuple[str | None, ...] = ()  # the dimensions a `Numbers` fills

    # -- constants of the generated module

    def constant(self, value: Any) -> str:
        name = f"_K{sum(1 for k in self.tables if k.startswith('_K'))}"
        self.tables[name] = value
        return name

    def fail(self, message: str) -> ModelSyntaxError:
        variable = self.variable
        return ModelSyntaxError(
            message,
            file=self.model.source,
            line=variable.line if variable else None,
            variable=variable.name if variable else None,
        )

    # -- what the compiler asks for

    def preamble(self) -> list[str]:
        return ["_R = _runs(p)"]

    def value(self, variable: Variable, expr: Expr) -> str:
        """``expr`` as the full ``(*dims, R)`` array of ``variable``."""
        self.variable = variable
        if not variable.dims:
            text, dims = self.typed(expr)
            if dims:
                raise self.fail(f"the equation has subscripts {list(dims)} but the variable has none")
            return text
        if isinstance(expr, Defined):
            return self.parts(variable, expr)
        self.context = variable.dims
        text, dims = self.typed(expr)
        aligned = self.align(text, dims, variable.dims, assign=True)
        return f"_full({aligned}, {self.space.shape(variable.dims)!r})"

    def assign(self, variable: Variable, expr: Expr) -> str:
        return f"{self.local[variable.key]} = {self.value(variable, expr)}"

    def expression(self, node: Expr) -> str:
        return self.typed(node)[0]

    def save_lines(self, saved: tuple[Variable, ...]) -> list[str]:
        lines, column = [], 0
        for v in saved:
            width = self.space.width(v)
            name = self.local[v.key]
            if v.dims:
                lines.append(f"out[row, {column}:{column + width}] = {name}.reshape({width}, -1)")
            else:
                lines.append(f"out[row, {column}] = {name}")
            column += width
        return [*lines, "row += 1"]

    def saved_values(self, saved: tuple[Variable, ...]) -> str:
        return "".join(
            f"*{self.local[v.key]}.reshape({self.space.width(v)}, -1), "
            if v.dims
            else f"{self.local[v.key]}, "
            for v in saved
        )

    # -- definitions in parts

    def selection(
        self, dims: tuple[str, ...], selector: Any
    ) -> tuple[list[list[int]], tuple[str | None, ...], Any]:
        """Index lists per dimension, the part's own dimensions (None for a single
        element) and the EXCEPT mask over that box (None without EXCEPT)."""
        lists: list[list[int]] = []
        own: list[str | None] = []
        for dim, subscript in zip(dims, selector.subscripts, strict=True):
            indices = self.space.indices(subscript, dim)
            if indices is None:
                raise self.fail(
                    f"{subscript!r} is not an element or subrange of {self.space.by_key[dim].name!r}"
                )
            lists.append(indices)
            own.append(subscript if subscript in self.space.by_key else None)
        mask = None
        if selector.excepted:
            mask = np.ones([len(x) for x in lists], dtype=bool)
            for excepted in selector.excepted:
                where = []
                for k, subscript in enumerate(excepted):
                    out = set(self.space.elements(subscript))
                    keys = self.space.by_key[dims[k]].element_keys
                    where.append([i for i, j in enumerate(lists[k]) if keys[j] in out])
                mask[np.ix_(*where)] = False
            mask = mask[..., None]
        return lists, tuple(own), mask

    def parts(self, variable: Variable, defined: Defined) -> str:
        texts = []
        for selector, part in defined.parts:
            lists, own, mask = self.selection(variable.dims, selector)
            index = self.constant((*np.ix_(*lists), slice(None)))
            self.context = own
            if isinstance(part, Table):
                raise self.fail("a lookup's table where an equation was expected")
            text, dims = self.typed(part)
            text = self.align(text, dims, own, assign=True)
            texts.append(f"({index}, {text}, {self.constant(mask) if mask is not None else 'None'})")
        shape = self.space.shape(variable.dims)
        return f"_parts({shape!r}, _R, ({''.join(t + ', ' for t in texts)}))"

    # -- expressions with their dimensions

    def typed(self, node: Expr) -> tuple[str, tuple[str, ...]]:
        if isinstance(node, Number):
            return _number(node.value), ()
        if isinstance(node, Numbers):
            own = tuple(d for d in self.context if d is not None)
            if self.space.shape(own) != node.shape and math.prod(node.shape) != math.prod(
                self.space.shape(own)
            ):
                raise self.fail(
                    f"expected {math.prod(self.space.shape(own))} numbers, found {len(node.values)}"
                )
            array = np.array(node.values, dtype=float).reshape(*self.space.shape(own), 1)
            return self.constant(array), own
        if isinstance(node, Ref):
            return self.reference(node)
        if isinstance(node, Position):
            parent = self.space.position[self.space.parent(node.dimension)]
            numbers = [parent[e] + 1.0 for e in self.space.elements(node.dimension)]
            return self.constant(np.array(numbers).reshape(-1, 1)), self.mapped((node.dimension,))
        if isinstance(node, Unary):
            text, dims = self.typed(node.operand)
            if node.op is UnaryOp.NEG:
                return f"(-{text})", dims
            return f"_f({text} == 0)", dims
        if isinstance(node, Binary):
            (a, b), dims = self.common(node.left, node.right)
            if node.op in _ARITHMETIC:
                return f"({a} {_ARITHMETIC[node.op]} {b})", dims
            if node.op is Op.POW:
                return f"_np.power({a}, {b})", dims
            if node.op in _COMPARISON:
                return f"_f({a} {_COMPARISON[node.op]} {b})", dims
            word = "and" if node.op is Op.AND else "or"
            return f"_f(_np.logical_{word}({a}, {b}))", dims
        if isinstance(node, If):
            (c, a, b), dims = self.common(node.condition, node.then, node.otherwise)
            return f"_np.where({c}, {a}, {b})", dims
        if isinstance(node, LookupCall):
            return self.lookup(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Defined):
            raise self.fail("a definition in parts inside an expression")
        raise TypeError(f"not an expression node: {node!r}")

    def common(self, *nodes: Expr) -> tuple[list[str], tuple[str, ...]]:
        """Operands brought to one set of dimensions: the first operand's, then the others' new ones."""
        return self.common_typed(*(self.typed(n) for n in nodes))

    def common_typed(self, *typed: tuple[str, tuple[str, ...]]) -> tuple[list[str], tuple[str, ...]]:
        """`common` for operands already typed."""
        want: list[str] = []
        for _, dims in typed:
            want.extend(d for d in dims if d not in want)
        return [self.align(text, dims, tuple(want)) for text, dims in typed], tuple(want)

    def reference(self, node: Ref) -> tuple[str, tuple[str, ...]]:
        if node.name == "time":
            return "t", ()
        variable = self.model[node.name]
        text, dims = self.index(self.local[node.name], variable.dims, node.subscripts, node.name)
        return text, self.mapped(dims)

    def mapped(self, dims: tuple[str, ...]) -> tuple[str, ...]:
        """A dimension mapped (``->``) onto one the equation is defined over is that
        one, position by position: ``x[previous] = y[older]`` with ``older -> previous``."""
        own = [d for d in self.context if d is not None]
        renamed = []
        for dim in dims:
            if dim not in own and not dim.endswith("!"):
                dim = next((d for d in own if d not in dims and self.space.corresponds(dim, d)), dim)
            renamed.append(dim)
        return tuple(renamed)

    def index(
        self, text: str, dims: tuple[str, ...], subscripts: tuple[str, ...], name: str
    ) -> tuple[str, tuple[str, ...]]:
        """``text`` (an array over ``dims`` plus one trailing axis) read at ``subscripts``."""
        if not dims:
            if subscripts:
                raise self.fail(f"{name!r} has no subscripts, found [{', '.join(subscripts)}]")
            return text, ()
        subscripts = subscripts or dims
        if len(subscripts) != len(dims):
            raise self.fail(f"{name!r} takes {len(dims)} subscripts, found {len(subscripts)}")
        basic: list[str] = []
        takes: list[tuple[int, list[int]]] = []
        out: list[str] = []
        for dim, subscript in zip(dims, subscripts, strict=True):
            base = subscript.rstrip("!")
            if base in self.space.by_key:
                indices = self.space.indices(base, dim)
                if indices is None:
                    raise self.fail(f"{base!r} does not index the dimension {dim!r} of {name!r}")
                basic.append(":")
                if indices != list(range(self.space.size(dim))):
                    takes.append((len(out), indices))
                out.append(subscript)
            elif base in self.space.position[dim]:
                basic.append(str(self.space.position[dim][base]))
            else:
                raise self.fail(f"{base!r} is not an element of {dim!r}, the dimension of {name!r}")
        if any(b != ":" for b in basic):
            text = f"{text}[{', '.join(basic)}]"
        for axis, indices in takes:
            text = f"_np.take({text}, {self.constant(np.array(indices))}, axis={axis})"
        return text, tuple(out)

    def align(
        self, text: str, have: tuple[str, ...], want: tuple[str | None, ...], assign: bool = False
    ) -> str:
        """``text`` over ``have`` laid out over ``want``: transposed, new axes of size one.

        With ``assign``, a dimension missing from ``want`` may stand for one there that
        it maps onto, or that is its subrange (read at that subrange's elements).
        """
        if not have:
            return text
        positions: list[int] = []
        for axis, dim in enumerate(have):
            if dim in want:
                positions.append(want.index(dim))
                continue
            found = None
            if assign:
                for k, target in enumerate(want):
                    if target is None or k in positions or target in have:
                        continue
                    if self.space.corresponds(dim, target):
                        found = k
                        break
                    indices = self.space.indices(target, dim.rstrip("!"))
                    if indices is not None and dim.rstrip("!") in self.space.by_key:
                        if indices != list(range(self.space.size(dim))):
                            text = f"_np.take({text}, {self.constant(np.array(indices))}, axis={axis})"
                        found = k
                        break
            if found is None:
                wanted = [w for w in want if w is not None]
                raise self.fail(f"the subscript {dim!r} does not fit the equation's subscripts {wanted}")
            positions.append(found)
        order = sorted(range(len(have)), key=lambda i: positions[i])
        if order != list(range(len(have))):
            text = f"{text}.transpose({', '.join(map(str, order))}, {len(have)})"
        placed = sorted(positions)
        if placed != list(range(len(want))):
            text = f"{text}[{', '.join(':' if k in placed else 'None' for k in range(len(want)))}, :]"
        return text

    def call(self, node: Call) -> tuple[str, tuple[str, ...]]:
        if node.function in _VECTOR_FUNCTIONS:
            text, dims = self.typed(node.args[0])
            axes = tuple(i for i, d in enumerate(dims) if d.endswith("!"))
            if not axes:
                return text, dims
            kept = tuple(d for d in dims if not d.endswith("!"))
            return f"{_VECTOR_FUNCTIONS[node.function]}({text}, axis={axes!r})", kept
        if node.function in ARRAY_CALLS:
            return ARRAY_CALLS[node.function](self, node)
        template = self.calls.get(node.function)
        if template is None:
            raise UnsupportedError(
                f"{node.function.upper()} reached the compiler unlowered",
                file=self.model.source,
                line=self.variable.line if self.variable else None,
                variable=self.variable.name if self.variable else None,
            )
        args, dims = self.common(*node.args) if node.args else ([], ())
        if node.function == "ramp" and len(args) == 2:
            args.append("_inf")
        return template.format(*args), dims

    def lookup(self, node: LookupCall) -> tuple[str, tuple[str, ...]]:
        table = node.table
        variable = self.model[table.name] if isinstance(table, Ref) else None
        if variable is None or not variable.dims:
            argument, dims = self.typed(node.argument)
            name, mode = self.table(Ref(table.name) if isinstance(table, Ref) else table)
            mode = node.mode or mode
            if mode is LookupMode.INVERT:
                return f"_lookup({argument}, {name}[1], {name}[0])", dims
            from .compiler import _LOOKUP_FUNCTIONS

            return f"{_LOOKUP_FUNCTIONS[mode]}({argument}, {name}[0], {name}[1])", dims
        if (node.mode or LookupMode.INTERPOLATE) is not LookupMode.INTERPOLATE:
            raise UnsupportedError(
                "subscripted lookups read other than by interpolation are not supported yet",
                file=self.model.source,
                variable=self.variable.name if self.variable else None,
            )
        xs, ys = self.tables_of(variable)
        assert isinstance(table, Ref)
        xs_text, table_dims = self.index(self.constant(xs), variable.dims, table.subscripts, variable.name)
        ys_text, _ = self.index(self.constant(ys), variable.dims, table.subscripts, variable.name)
        argument, dims = self.typed(node.argument)
        want = tuple(dict.fromkeys((*table_dims, *dims)))
        return (
            f"_lookup_each({self.align(argument, dims, want)}, {self.align(xs_text, table_dims, want)}, "
            f"{self.align(ys_text, table_dims, want)})",
            want,
        )

    def tables_of(self, variable: Variable) -> tuple[np.ndarray, np.ndarray]:
        """One table per element as ``(*dims, points)`` arrays, short tables padded
        with their last point (which reads the same)."""
        shape = self.space.shape(variable.dims)
        cells: np.ndarray = np.empty(shape, dtype=object)
        equation = variable.equation
        if isinstance(equation, Table):
            cells.fill(equation)
        elif isinstance(equation, Defined):
            for selector, table in equation.parts:
                lists, _, mask = self.selection(variable.dims, selector)
                box = cells[np.ix_(*lists)]
                for cell in zip(
                    *np.nonzero(mask[..., 0] if mask is not None else np.ones(box.shape, bool)), strict=True
                ):
                    box[cell] = table
                cells[np.ix_(*lists)] = box
        points = max(len(t.x) for t in cells.ravel() if t is not None)
        xs, ys = np.zeros((*shape, points)), np.full((*shape, points), np.nan)
        for cell in np.ndindex(*shape):
            table = cells[cell]
            if table is None:
                continue  # Vensim lets a lookup skip elements nobody reads: NaN if read
            pad = points - len(table.x)
            xs[cell] = (*table.x, *(table.x[-1:] * pad))
            ys[cell] = (*table.y, *(table.y[-1:] * pad))
        return xs, ys


def is_element(model: Model, name: str) -> bool:
    """Whether ``name`` is one element's column of an arrayed variable, as ``Stock[a1,b2]``."""
    variable = model.get(name[: name.index("[")]) if "[" in name else None
    if variable is None or not variable.dims:
        return False
    return canonical(name) in {canonical(c) for c in Space(model).columns(variable)}


def constant_value(space: Space, variable: Variable) -> np.ndarray:
    """An arrayed constant's values, shape ``(*dims, 1)``."""
    shape = space.shape(variable.dims)
    equation = variable.equation

    def block(expr: Any, sizes: list[int]) -> np.ndarray:
        if isinstance(expr, Number):
            return np.full(sizes, expr.value)
        if isinstance(expr, Numbers):
            return np.array(expr.values, dtype=float).reshape(sizes)
        raise ModelSyntaxError(
            "an arrayed constant holds numbers only", file=space.model.source, variable=variable.name
        )

    if not isinstance(equation, Defined):
        return block(equation, list(shape))[..., None]
    out = np.zeros(shape)
    emitter = ArrayEmitter(space.model, {})
    emitter.variable = variable
    for selector, part in equation.parts:
        lists, _, mask = emitter.selection(variable.dims, selector)
        values = block(part, [len(x) for x in lists])
        if mask is not None:
            values = np.where(mask[..., 0], values, out[np.ix_(*lists)])
        out[np.ix_(*lists)] = values
    return out[..., None]
