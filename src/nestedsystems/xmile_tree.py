"""XMILE files made fit for PySD's parser: fixes and refusals on the XML tree.

PySD's XMILE parser reads what it knows and quietly skips the rest, so a file it
half understands would load as a different model. Before it parses, the tree is
checked and, where XMILE's own reading is clear, corrected:

- a graphical function that lists its ``<xpts>`` is read by them: XMILE uses the
  ``<xscale>`` only when there are no points, PySD the other way round (and Stella
  writes a scale of 0 to 0 beside the points);
- variables placed straight in ``<model>`` (isee's files from before the XMILE 1.0
  standard, ``*_legacy.stmx``) are moved into the ``<variables>`` PySD looks in;
- ``<macro>`` definitions are refused by line: PySD would skip them without a word.

Nothing here evaluates text from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UnsupportedError

__all__ = ["prepare"]

_VARIABLES = ("aux", "flow", "stock", "gf", "module")


def prepare(root: Any, namespace: str, path: Path) -> None:
    """Check the tree of an XMILE file and fix what PySD would misread, in place."""
    tag = lambda name: f"{{{namespace}}}{name}"  # noqa: E731
    macro = root.find(tag("macro"))
    if macro is not None:
        raise UnsupportedError(
            "XMILE macros are not supported yet (PySD's XMILE parser does not read them)",
            file=path,
            line=macro.sourceline,
        )
    for model in root.findall(tag("model")):
        stray = [child for child in model if child.tag in {tag(v) for v in _VARIABLES}]
        if stray:
            variables = model.find(tag("variables"))
            if variables is None:
                variables = model.makeelement(tag("variables"), {})
                model.insert(0, variables)
            for child in stray:
                variables.append(child)  # moves it
    for function in root.iter(tag("gf")):
        if function.find(tag("xpts")) is not None:
            for scale in function.findall(tag("xscale")):
                function.remove(scale)
