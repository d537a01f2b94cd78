"""Feedback loops that a model's author named in the documentation.

A variable's documentation may declare loops, one after another::

    Loop R1 "Parallel process (trauma contagion)": Staff stress -> Client distress
    -> Staff stress. Stress spreads both ways between staff and clients.

The id is R (reinforcing) or B (balancing) and digits; the name is quoted; the
chain lists model variables in causal order, joined by ``->`` (or ``\u2192``) and
ending with a full stop; the
description runs until the next ``Loop <id> "`` or the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ModelError
from .expressions import canonical
from .model import Model, NamedLoop, Variable

__all__ = ["LoopDeclaration", "find_named_loops", "parse_loop_declarations"]

_START = re.compile(r'\bLoop\s+([RB]\d+)\s+"([^"]*)"\s*:\s*')
_SENTENCE_END = re.compile(r"\.(\s|$)")
_ARROW = re.compile(r"->|\u2192")  # ASCII arrows, or the arrow character editors substitute


@dataclass(frozen=True, slots=True)
class LoopDeclaration:
    """A loop as written, before its names are checked against a model."""

    id: str
    name: str
    chain: tuple[str, ...]
    description: str


def parse_loop_declarations(text: str) -> list[LoopDeclaration]:
    """Every ``Loop <id> "<name>": a -> b -> c. description`` in `text`.

    Parameters
    ----------
    text:
        Documentation text, in which declarations may stand among other prose.

    Returns
    -------
    list of LoopDeclaration
        In the order written. A chain whose last name repeats the first is
        closed: the repetition is dropped, as the link back is implied anyway.
    """
    starts = list(_START.finditer(text))
    declarations = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[match.end() : end]
        chain: list[str] = []
        description = ""
        position = 0
        while True:
            arrow = _ARROW.search(body, position)
            segment_end = arrow.start() if arrow else len(body)
            stop = _SENTENCE_END.search(body, position, segment_end)
            if stop is not None:
                chain.append(body[position : stop.start()].strip())
                description = body[stop.end() :].strip()
                break
            chain.append(body[position:segment_end].strip())
            if arrow is None:
                break
            position = arrow.end()
        chain = [name for name in chain if name]
        if len(chain) > 1 and canonical(chain[-1]) == canonical(chain[0]):
            chain.pop()
        declarations.append(
            LoopDeclaration(match.group(1), match.group(2).strip(), tuple(chain), description)
        )
    return declarations


def find_named_loops(model: Model) -> tuple[NamedLoop, ...]:
    """The loops declared in any variable's documentation, sorted by id.

    Raises
    ------
    ModelError
        A chain names a variable the model does not define, or an id is declared twice.
    """
    found: dict[str, NamedLoop] = {}
    for variable in model.variables:
        for declaration in parse_loop_declarations(variable.documentation):

            def error(message: str, variable: Variable = variable) -> ModelError:
                return ModelError(message, file=model.source, line=variable.line, variable=variable.name)

            if declaration.id in found:
                raise error(f"loop {declaration.id} is declared twice")
            names = []
            for name in declaration.chain:
                defined = model.get(name)
                if defined is None:
                    raise error(
                        f"loop {declaration.id} names {name!r}, which the model does not define; "
                        "write the chain as 'Loop R1 \"name\": A -> B -> C.' with exact variable names"
                    )
                names.append(defined.name)
            if not names:
                raise error(f"loop {declaration.id} lists no variables")
            found[declaration.id] = NamedLoop(
                declaration.id, declaration.name, tuple(names), declaration.description
            )
    return tuple(sorted(found.values(), key=lambda loop: (loop.id[0], int(loop.id[1:]))))
