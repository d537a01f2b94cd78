"""Load and compile a model once per server, and run its baseline once.

Every browser session of a dashboard needs the same compiled model and the same
baseline run; building them per session would cost each visitor the load and compile
time and the server that memory again. `prepared_model` keeps them in a small cache
keyed by the file's resolved path, modification time and size, so editing the model
file and reloading the page picks up the new version without restarting the server.

A file that fails to load raises and is not cached: fixing it and reloading works.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelFileError

if TYPE_CHECKING:  # the engine is imported when a model is asked for, not before
    from ..compiler import CompiledModel
    from ..model import Model
    from ..run import Run

__all__ = ["FLAGSHIP_MODEL", "PreparedModel", "clear_cache", "find_model", "prepared_model"]


@dataclass(frozen=True, slots=True)
class PreparedModel:
    """A model ready for a dashboard.

    Attributes
    ----------
    path:
        The resolved file.
    model:
        The loaded IR.
    compiled:
        Its compiled form, shared by every session of the server.
    baseline:
        The run with every constant at its model value.
    """

    path: Path
    model: Model
    interpreted: CompiledModel
    baseline: Run
    _native: _NativeWarmUp

    @property
    def compiled(self) -> CompiledModel:
        """The compiled model sessions run: machine code once its compile in the
        background is done, generated Python until then (a first compile of a large
        model takes tens of seconds, which the first visitor should not wait for)."""
        return self._native.compiled or self.interpreted

    def wait_for_native(self) -> None:
        """Block until the background compile has finished (or failed): a server about
        to fork must not have it running, since a thread does not survive a fork and
        numba's locks could be held by it."""
        self._native.wait()

    @property
    def key(self) -> str:
        """The name under which its scenarios are filed: the file's stem, which stays the
        same when the file is edited."""
        return self.path.stem


def prepared_model(path: str | Path) -> PreparedModel:
    """The loaded, compiled model at ``path`` and its baseline run, built at most once
    per version of the file.

    Raises
    ------
    ModelFileError
        The file is missing or is not a file.
    ModelError, SimulationError
        Whatever loading, compiling or the baseline run raised.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError as error:
        raise ModelFileError(f"cannot read the model file: {error.strerror or error}", file=path) from None
    if not resolved.is_file():
        raise ModelFileError("is not a file", file=path)
    return _prepare(str(resolved), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _prepare(path: str, mtime_ns: int, size: int) -> PreparedModel:
    # Imported here so that importing the dashboard package stays cheap and never
    # drags the engine in before a model is asked for.
    import nestedsystems as ns

    model = ns.load(path)
    interpreted = ns.compile_model(model, native=False)
    baseline = ns.simulate(interpreted)
    return PreparedModel(
        path=Path(path),
        model=model,
        interpreted=interpreted,
        baseline=baseline,
        _native=_NativeWarmUp(model, path),
    )


class _NativeWarmUp:
    """Compiles a model's native kernels on a daemon thread; ``compiled`` is None until
    they ran once (or forever, where numba is missing or the compile failed)."""

    def __init__(self, model: Model, path: str | Path) -> None:
        self.compiled: CompiledModel | None = None
        self.thread: threading.Thread | None = None
        from .. import native

        if native.by_default():
            self.thread = threading.Thread(
                target=self._compile, args=(model, path), daemon=True, name="native-compile"
            )
            self.thread.start()

    def wait(self) -> None:
        """Until the compile has finished (or failed)."""
        if self.thread is not None:
            self.thread.join()

    def _compile(self, model: Model, path: str | Path) -> None:
        import nestedsystems as ns

        from .warm import compile_elsewhere

        # numba holds the GIL while it compiles: done in a child process, the kernels
        # land in the disk cache and the compile below only loads them (see warm.py)
        compile_elsewhere(path)
        try:
            compiled = ns.compile_model(model, native=True)
            ns.simulate(compiled)  # the first run compiles (or loads from the disk cache)
        except Exception:  # the interpreted kernels keep serving; nothing is lost
            return
        self.compiled = compiled


def clear_cache() -> None:
    """Forget every prepared model (tests, and a server asked to reload)."""
    _prepare.cache_clear()


FLAGSHIP_MODEL = Path("models") / "nested_systems.mdl"


def find_model(name: str | Path = FLAGSHIP_MODEL) -> Path:
    """A model file named relative to the working folder or, failing that, to the
    project checkout this package was installed from (``pip install -e``)."""
    candidate = Path(name)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    checkout = Path(__file__).resolve().parents[3] / candidate
    return checkout if checkout.exists() else candidate
