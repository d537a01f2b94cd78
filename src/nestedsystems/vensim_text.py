"""What PySD does not keep from a Vensim file, read from the raw text.

PySD collapses the whole equation section to one line before parsing, so it
cannot say on which line a variable is defined; it drops the step of a
``[min, max, step]`` range; and it does not tell which sketch view a variable
sits in. This module recovers those from the text, best effort: anything it
cannot find is left out, never guessed.

Nothing here evaluates text from the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .expressions import canonical
from .model import Range

__all__ = ["Entry", "find_line", "locate", "scan_equations", "scan_views", "split_range", "xmile_line"]

SKETCH_MARK = "\\\\\\---///"  # \\\---/// opens the sketch section
PLOTS_MARK = "///---\\\\\\"  # ///---\\\ closes it


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``equation ~ units ~ documentation |`` entry of the equation section."""

    name: str
    line: int  # 1-based line of the entry's first character
    equation: str
    units: str
    documentation: str = ""  # as written, line continuations joined


def _split_unquoted(text: str, separators: str) -> list[tuple[int, str, str]]:
    """Split at any of `separators` outside double quotes (``\\"`` escapes a quote).

    Returns (start offset, piece, separator that ended it) triples.
    """
    pieces = []
    start = 0
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if quoted and char == "\\":
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in separators:
            pieces.append((start, text[start:i], char))
            start = i + 1
        i += 1
    pieces.append((start, text[start:], ""))
    return pieces


def _until(text: str, start: int, stops: str, quotes: bool) -> tuple[int, str]:
    """Scan from `start` to the first of `stops`; inside quotes when `quotes` says
    quotes matter (equations and units), plainly otherwise (documentation)."""
    i = start
    quoted = False
    while i < len(text):
        char = text[i]
        if quoted and char == "\\":
            i += 2
            continue
        if quotes and char == '"':
            quoted = not quoted
        elif not quoted and char in stops:
            return i, char
        i += 1
    return len(text), ""


def _entries(section: str) -> Iterator[tuple[int, str, str, str]]:
    """(offset, equation, units, documentation) of each ``equation ~ units ~
    documentation |`` entry.

    As in PySD's grammar, quotes protect separators in the equation and the units
    but not in the documentation, where a lone quote is just a character.
    """
    position = 0
    while position < len(section):
        end, stop = _until(section, position, "~|", quotes=True)
        equation = section[position:end]
        units = documentation = ""
        if stop == "~":
            units_end, stop = _until(section, end + 1, "~|", quotes=True)
            units = section[end + 1 : units_end]
            end = units_end
            fields = []
            while stop == "~":  # documentation, then the optional supplementary field
                start = end + 1
                end, stop = _until(section, start, "~|", quotes=False)
                fields.append(section[start:end])
            documentation = fields[0] if fields else ""
        yield position, equation, units, documentation
        position = end + 1


def _leading_name(equation: str) -> str | None:
    """The name an equation defines: its left-hand side up to ``=``, ``(``, ``[`` or ``:``."""
    equation = equation.strip()
    if equation.startswith('"'):
        i = 1
        while i < len(equation):
            if equation[i] == "\\":
                i += 2
                continue
            if equation[i] == '"':
                return equation[: i + 1]
            i += 1
        return None
    match = re.match(r"[^=(\[:~|]*", equation)
    name = match.group(0).strip() if match else ""
    # A line continuation inside a long name is not part of it.
    name = re.sub(r"\\\s*\n\s*", " ", name)
    return name or None


def equation_section(text: str) -> str:
    """The text before the sketch, where the equations are."""
    return text.split(SKETCH_MARK, 1)[0]


def scan_equations(text: str) -> dict[str, Entry]:
    """Index the entries of a .mdl by canonical name (the first definition wins).

    Parameters
    ----------
    text:
        The whole file.

    Returns
    -------
    dict
        ``canonical(name) -> Entry``; group headers and macro markers are skipped.
    """
    section = equation_section(text)
    entries: dict[str, Entry] = {}
    for start, equation, units, documentation in _entries(section):
        # The {UTF-8} marker sits before the first entry, and a macro's header or end
        # marker before the entry that follows it.
        skipped = re.match(r"\s*(\{[^}\n]*\}\s*)?((:MACRO:[^\n]*|:END OF MACRO:)\s*)*", equation)
        stripped = equation[skipped.end() :] if skipped else equation
        if not stripped or stripped.startswith(("*", ":MACRO:", ":END OF MACRO:")):
            continue
        name = _leading_name(stripped)
        if name is None:
            continue
        offset = start + (skipped.end() if skipped else 0)
        line = section.count("\n", 0, offset) + 1
        text = " ".join(re.sub(r"\\\s*\n", " ", documentation).split())
        entries.setdefault(canonical(name), Entry(name, line, stripped.strip(), units.strip(), text))
    return entries


def _number(text: str) -> float | None:
    text = text.strip()
    if text in ("", "?"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def split_range(units: str) -> tuple[str, Range]:
    """Split Vensim's ``units [min, max, step]`` into the units and a `Range`.

    ``?`` stands for "no bound"; missing or unreadable parts are None.
    """
    match = re.search(r"\[([^\]]*)\]\s*$", units)
    if not match:
        return units.strip(), Range()
    parts = [_number(p) for p in match.group(1).split(",")]
    parts += [None] * (3 - len(parts))
    return units[: match.start()].strip(), Range(parts[0], parts[1], parts[2])


def _sketch_fields(line: str) -> list[str]:
    return [piece for _, piece, _ in _split_unquoted(line, ",")]


def scan_views(text: str) -> dict[str, str]:
    """Map each variable's canonical name to the first sketch view showing it.

    Each view starts with a ``*View name`` line; a line ``10,id,name,...`` places a
    variable (or a shadow of it) in the current view.
    """
    if SKETCH_MARK not in text:
        return {}
    sketch = text.split(SKETCH_MARK, 1)[1].split(PLOTS_MARK, 1)[0]
    views: dict[str, str] = {}
    view = ""
    for line in sketch.splitlines():
        if line.startswith("*"):
            view = line[1:].strip()
        elif line.startswith("10,"):
            fields = _sketch_fields(line)
            if len(fields) > 2 and fields[2].strip():
                views.setdefault(canonical(fields[2]), view)
    return views


_SPACE = re.compile(r"[\s\\]+")


def find_line(text: str, fragment: str) -> int | None:
    """The line on which `fragment` starts in `text`, ignoring whitespace and
    line continuations (PySD hands back text with both collapsed)."""
    wanted = _SPACE.sub("", fragment)
    if not wanted:
        return None
    squeezed = []
    lines = []
    line = 1
    for char in text:
        if char == "\n":
            line += 1
        if char.isspace() or char == "\\":
            continue
        squeezed.append(char)
        lines.append(line)
    found = "".join(squeezed).find(wanted)
    return lines[found] if found >= 0 else None


def locate(text: str, fragment: str, xmile: bool) -> tuple[int | None, str | None]:
    """The line holding `fragment` and the variable defined around it."""
    line = find_line(text, fragment) or find_line(text, fragment.replace("),(", ")-("))
    if line is None:
        return None, None
    if xmile:
        before = "\n".join(text.splitlines()[:line])
        # The variable's element, not the <dim name=...> of its dimensions.
        names = re.findall(r'<(?:aux|flow|stock|gf)\b[^>]*?\bname="([^"]*)"', before)
        return line, (names[-1] if names else None)
    defined = [e for e in scan_equations(text).values() if e.line <= line]
    return line, (max(defined, key=lambda e: e.line).name if defined else None)


def xmile_line(text: str, name: str) -> int | None:
    """The line of the XMILE element named `name`, if it can be found."""
    for pattern in (f'name="{name}"', f"name='{name}'"):
        offset = text.find(pattern)
        if offset >= 0:
            return text.count("\n", 0, offset) + 1
    return None
