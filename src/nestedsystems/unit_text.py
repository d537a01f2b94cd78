"""Units as Vensim writes them: ``$/(client*Day)``, ``1/Month``, ``Dmnl``.

A unit is a product of free symbols with powers (``$/(client*Day)`` is ``$``,
``client^-1``, ``Day^-1``): symbols such as ``clients``, ``FTE`` or ``incidents`` have
no conversions between them, so nothing here needs a physical-units library.

Read as Vensim reads them: ``*``, ``/``, ``^`` with a whole power, parentheses;
``Dmnl`` (any case), ``dimensionless``, ``unitless`` and a number (``1/Month``) are
dimensionless. Names match whatever their case. Plurals and synonyms are different
units unless declared equivalent: by Vensim's defaults for every new model
(`VENSIM_EQUIVALENTS`) or by the file (the ``22:`` lines of its settings,
`file_equivalents`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DEFAULT_SYNONYMS",
    "DMNL",
    "VENSIM_EQUIVALENTS",
    "Units",
    "UnitsSyntaxError",
    "file_equivalents",
    "parse_units",
    "synonyms",
]

# The units equivalents Vensim writes into every new model (its settings' ``22:``
# lines); a file may declare more, which `file_equivalents` reads.
VENSIM_EQUIVALENTS: tuple[tuple[str, ...], ...] = (
    ("$", "Dollar", "Dollars", "$s"),
    ("Day", "Days"),
    ("Hour", "Hours"),
    ("Month", "Months"),
    ("Person", "People", "Persons"),
    ("Unit", "Units"),
    ("Week", "Weeks"),
    ("Year", "Years"),
)
DIMENSIONLESS = frozenset({"dmnl", "dimensionless", "unitless"})


@dataclass(frozen=True, slots=True, eq=False)
class Units:
    """Symbols with their powers, sorted; the empty product is dimensionless.

    Symbols keep their first spelling and compare case-folded, so that ``FTE``
    prints as written and ``fte`` equals it; synonyms are made one by `parse_units`.
    """

    powers: tuple[tuple[str, Fraction], ...] = ()

    @staticmethod
    def of(powers: Mapping[str, Fraction | int]) -> Units:
        kept = {name: Fraction(p) for name, p in powers.items() if p != 0}
        return Units(tuple(sorted(kept.items(), key=lambda item: _key(item[0]))))

    def __mul__(self, other: Units) -> Units:
        merged: dict[str, Fraction] = {}
        spelled: dict[str, str] = {}
        for name, power in self.powers + other.powers:
            spelled.setdefault(_key(name), name)
            merged[_key(name)] = merged.get(_key(name), Fraction(0)) + power
        return Units.of({spelled[k]: p for k, p in merged.items()})

    def __truediv__(self, other: Units) -> Units:
        return self * other**-1

    def __pow__(self, power: Fraction | int) -> Units:
        return Units.of({name: p * Fraction(power) for name, p in self.powers})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Units):
            return NotImplemented
        return self._keys() == other._keys()

    def __hash__(self) -> int:
        return hash(self._keys())

    def _keys(self) -> tuple[tuple[str, Fraction], ...]:
        return tuple((_key(name), power) for name, power in self.powers)

    def __str__(self) -> str:
        def product(items: list[tuple[str, Fraction]]) -> str:
            return "*".join(
                name if p == 1 else f"{name}^{p}" if p.denominator == 1 else f"{name}^({p})"
                for name, p in items
            )

        up = [(n, p) for n, p in self.powers if p > 0]
        down = [(n, -p) for n, p in self.powers if p < 0]
        if not down:
            return product(up) or "Dmnl"
        below = product(down)
        return f"{product(up) or '1'}/" + (f"({below})" if len(down) > 1 else below)


DMNL = Units()


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def synonyms(equivalents: Iterable[Iterable[str]]) -> dict[str, str]:
    """Each name of each group of equivalents (by `_key`) -> the group's first name."""
    table: dict[str, str] = {}
    for group in equivalents:
        names = [" ".join(n.split()) for n in group if n.strip()]
        for name in names:
            table[_key(name)] = names[0]
    return table


DEFAULT_SYNONYMS = synonyms(VENSIM_EQUIVALENTS)


def file_equivalents(text: str) -> tuple[tuple[str, ...], ...]:
    """The units equivalents a Vensim file declares: the ``22:`` lines of the
    settings after its sketch (nothing when it has none)."""
    _, marker, settings = text.rpartition("///---\\\\\\")
    if not marker:
        return ()
    lines = (line.strip() for line in settings.splitlines())
    return tuple(tuple(line[3:].split(",")) for line in lines if line.startswith("22:"))


class UnitsSyntaxError(ValueError):
    """Units text that is not a product of names, numbers and powers."""


_TOKEN = re.compile(r"\s*(?:(?P<op>[*/^()])|(?P<number>[-+]?\d+(?:\.\d*)?)(?![\w$%])|(?P<name>[^*/^()]+))")


def parse_units(text: str, equivalents: Mapping[str, str] = DEFAULT_SYNONYMS) -> Units:
    """The units of Vensim's units text (its ``[min,max,step]`` range removed first).

    Raises
    ------
    UnitsSyntaxError
        The text is not names, ``*``, ``/``, ``^`` with an integer and parentheses.
    """
    tokens = [(m.lastgroup, m.group(m.lastgroup or "").strip()) for m in _TOKEN.finditer(text)]
    tokens = [t for t in tokens if t[1]]
    position = 0

    def peek() -> str | None:
        return tokens[position][1] if position < len(tokens) else None

    def take() -> tuple[str | None, str]:
        nonlocal position
        if position >= len(tokens):
            raise UnitsSyntaxError(f"units {text!r} end too early")
        position += 1
        return tokens[position - 1]

    def product() -> Units:
        result = power()
        while peek() in ("*", "/"):
            op = take()[1]
            right = power()
            result = result * right if op == "*" else result / right
        return result

    def power() -> Units:
        base = atom()
        if peek() == "^":
            take()
            kind, exponent = take()
            if exponent == "(":
                kind, exponent = take()
                if take()[1] != ")":
                    raise UnitsSyntaxError(f"units {text!r}: ')' expected after the power")
            if kind != "number" or Fraction(exponent).denominator != 1:
                raise UnitsSyntaxError(f"units {text!r}: a power must be a whole number, found {exponent!r}")
            return base ** Fraction(exponent)
        return base

    def atom() -> Units:
        kind, token = take()
        if token == "(":
            inner = product()
            if take()[1] != ")":
                raise UnitsSyntaxError(f"units {text!r}: ')' expected")
            return inner
        if kind == "number":
            return DMNL
        if kind == "name" and token.lower() not in DIMENSIONLESS:
            name = " ".join(token.split())
            return Units.of({equivalents.get(_key(name), name): 1})
        if kind == "name":
            return DMNL
        raise UnitsSyntaxError(f"units {text!r}: a name expected, found {token!r}")

    if not tokens:
        return DMNL
    result = product()
    if position != len(tokens):
        raise UnitsSyntaxError(f"units {text!r}: unexpected {tokens[position][1]!r}")
    return result
