"""Model files are untrusted: loading one must never execute text from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nestedsystems.errors import ModelError, UnsafeModelError
from nestedsystems.vensim import load

CONTROL = """
INITIAL TIME = 0
\t~\tMonth
\t~\t|

FINAL TIME = 10
\t~\tMonth
\t~\t|

TIME STEP = 1
\t~\tMonth
\t~\t|

SAVEPER = TIME STEP
\t~\tMonth
\t~\t|
"""


def _model(tmp_path: Path, equations: str) -> Path:
    path = tmp_path / "attack.mdl"
    path.write_text("{UTF-8}\n" + equations + CONTROL, encoding="utf-8")
    return path


def _payload(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


def test_code_in_a_lookup_range_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    path = _model(
        tmp_path,
        "x(\n\t[(0,0)-(" + _payload(marker) + ",10)],(0,0),(1,1))\n\t~\t\n\t~\t|\n\n"
        "y = x(Time)\n\t~\t\n\t~\t|\n\n",
    )
    with pytest.raises(UnsafeModelError) as caught:
        load(path)
    assert not marker.exists()
    error = caught.value
    assert isinstance(error, ModelError) and isinstance(error, ValueError)
    assert error.file == path
    assert error.line == 3  # the line holding the brackets
    assert error.variable == "x"
    assert str(path) in str(error) and "'x'" in str(error)


def test_code_in_an_inline_lookup_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    path = _model(
        tmp_path,
        "a = 1\n\t~\t\n\t~\t|\n\n"
        "y = WITH LOOKUP(Time, ([(0,0)-(" + _payload(marker) + ",1)],(0,0),(10,1)))\n\t~\t\n\t~\t|\n\n",
    )
    with pytest.raises(UnsafeModelError) as caught:
        load(path)
    assert not marker.exists()
    assert caught.value.variable == "y"
    assert caught.value.line == 6


def test_code_in_lookup_points_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    path = _model(tmp_path, "x(\n\t(0,0),(1," + _payload(marker) + "))\n\t~\t\n\t~\t|\n\n")
    with pytest.raises(ModelError):
        load(path)
    assert not marker.exists()


def test_the_guard_is_removed_after_a_refusal(tmp_path: Path) -> None:
    from pysd.translators.vensim import vensim_element

    path = _model(
        tmp_path, "x(\n\t[(0,0)-(" + _payload(tmp_path / "m") + ",10)],(0,0),(1,1))\n\t~\t\n\t~\t|\n\n"
    )
    with pytest.raises(UnsafeModelError):
        load(path)
    assert "eval" not in vars(vensim_element)


def test_a_lookup_with_numbers_still_loads(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        "x(\n\t[(0,0)-(10,10)],(0,0),(5,2.5e0),(10,-1))\n\t~\t\n\t~\t|\n\ny = x(Time)\n\t~\t\n\t~\t|\n\n",
    )
    model = load(path)
    assert model["x"].equation.x == (0.0, 5.0, 10.0)
    assert model["x"].equation.y == (0.0, 2.5, -1.0)


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "entity.xmile"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        '<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"><model><variables>'
        '<aux name="a"><eqn>&e;</eqn></aux></variables></model></xmile>\n',
        encoding="utf-8",
    )
    with pytest.raises(UnsafeModelError, match="entity"):
        load(path)
