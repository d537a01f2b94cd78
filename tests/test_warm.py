"""The dashboard's machine code compiled in a child process (dashboard/warm.py): the
kernels land in numba's disk cache under the same text the server builds, so the
server's own compile loads them instead of holding the GIL to compile them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nestedsystems.dashboard.scored_run import every_step_columns
from nestedsystems.dashboard.warm import compile_elsewhere, compile_here

pytestmark = pytest.mark.slow

MODELS = Path(__file__).parent / "models"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def _logistic(tmp_path: Path, saveper: str) -> Path:
    """The logistic growth model (it names its two loops) with SAVEPER as given."""
    text = (MODELS / "logistic_growth.mdl").read_text(encoding="utf-8")
    path = tmp_path / "logistic.mdl"
    path.write_text(text.replace("SAVEPER  = TIME STEP", f"SAVEPER  = {saveper}"), encoding="utf-8")
    return path


def _smoothed_goal_with_a_named_loop(tmp_path: Path) -> Path:
    """A SMOOTH inside a named loop: the strip's run saves the SMOOTH's inner stock,
    which a plain run does not, with the same kernel."""
    text = (MODELS / "smoothed_goal.mdl").read_text(encoding="utf-8")
    named = (
        'Loop B1 "Inventory control": Inventory -> desired production -> production -> '
        "Inventory. The plant makes up a shortfall with a delay."
    )
    path = tmp_path / "goal.mdl"
    path.write_text(text.replace("\t~\twidgets\n\t~\t|", f"\t~\twidgets\n\t~\t{named}\n\t|", 1))
    return path


def test_kernels_compiled_in_a_child_are_loaded_here_not_compiled_again(tmp_path, monkeypatch):
    import nestedsystems as ns

    cache = tmp_path / "kernels"
    monkeypatch.setenv("NESTEDSYSTEMS_CACHE_DIR", str(cache))
    path = _smoothed_goal_with_a_named_loop(tmp_path)
    assert [loop.id for loop in ns.load(path).loops] == ["B1"]
    assert compile_elsewhere(path)
    warmed = _files(cache)
    # one kernel, with numba's index, for the run and the strip's run at every TIME STEP
    assert len([name for name in warmed if name.endswith(".nbi")]) == 1
    compile_here(path)  # what the server does next: the same texts, found in the cache
    assert _files(cache) == warmed


def test_a_child_that_fails_is_reported_not_raised(tmp_path):
    assert compile_elsewhere(tmp_path / "missing.mdl") is False


def test_the_strips_run_saves_every_variable_unless_saveper_is_an_equation(tmp_path):
    import nestedsystems as ns

    model = ns.load(_logistic(tmp_path, "1"))
    assert every_step_columns(model) == tuple(v.name for v in model.variables)  # it has no lookups
    assert every_step_columns(ns.load(_logistic(tmp_path, "TIME STEP * 2"))) is None


def _with_uncertainty(tmp_path: Path) -> Path:
    """The smoothed goal model with an uncertainty file beside it."""
    path = _smoothed_goal_with_a_named_loop(tmp_path)
    path.with_name("goal.uncertainty.toml").write_text(
        'members = 20\nseed = 1\n[outlook]\nvariable = "Inventory"\nphrase = "inventory"\n'
        '[spans]\n"adjustment time" = [2, 6]\n"production delay" = [2, 4]\n',
        encoding="utf-8",
    )
    return path


def _server_side(path: Path, spec: object) -> object:
    """What a server does after the child: its own compile, its run, the strip's run
    at every TIME STEP and the uncertainty toggle's bands, as the app asks for them."""
    from types import SimpleNamespace

    import nestedsystems as ns
    from nestedsystems.compiler import CompiledModel
    from nestedsystems.dashboard.figures import time_axis
    from nestedsystems.dashboard.uncertainty_view import view_for_app

    model = ns.load(path)
    compiled = CompiledModel(model, native=True)  # not compile_model's in-memory cache
    ns.simulate(compiled)
    ns.simulate(compiled, params={"saveper": 0.25}, return_columns=every_step_columns(model))
    prepared = SimpleNamespace(path=path, model=model, compiled=compiled, interpreted=compiled)
    view = view_for_app(prepared, (), spec.trajectories, spec.indicators, time_axis("Week"))  # type: ignore[attr-defined]
    assert view is not None
    bands = view.engine.bands({}).result(timeout=600)
    assert bands.size == 20 and not bands.failed
    return compiled


def test_every_kernel_the_server_asks_for_is_loaded_from_the_disk_cache(tmp_path, monkeypatch):
    from nestedsystems.dashboard.figures import Series
    from nestedsystems.dashboard.whatif import WhatIfSpec

    monkeypatch.setenv("NESTEDSYSTEMS_CACHE_DIR", str(tmp_path / "kernels"))
    path = _with_uncertainty(tmp_path)
    spec = WhatIfSpec("", "", trajectories=(Series("Inventory"),), indicators=(Series("production"),))
    compile_here(path)  # as the child process does
    compiled = _server_side(path, spec)
    kernels = compiled._native_kernels  # type: ignore[attr-defined]
    # one kernel for the run and the strip's run, one for ensemble members side by side
    assert sorted(kernels) == [False, True]
    for kernel in kernels.values():
        assert sum(kernel.stats.cache_hits.values()) == 1, kernel.stats
        assert not kernel.stats.cache_misses, kernel.stats
