"""Import a Keras GRU model (.keras or .h5) as a float :class:`Model`, without TensorFlow.

The file is read (by :func:`edgegru.keras.reader.read_keras`) in a child process,
``python -m edgegru.keras.importer FILE [HEAD_KIND]``, which sends the model back pickled
on its standard output. The HDF5 library under h5py is not hardened against damaged files:
fuzzing edgegru's fixtures found single-byte changes that make it crash the process reading
them (a segmentation fault, no exception). In a child, such a crash, or a read that never
ends, becomes one error line, and the caller (``edgegru import``, a notebook) survives it.
A plain child process (not multiprocessing) re-runs nothing of the caller's script.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.keras.archive import file_kind
from edgegru.nn.model import HEAD_KINDS, HeadKind, Model

SECONDS = 30  # reading the largest model edgegru takes (64 MB) takes about a second
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the edgegru package


def is_keras_file(path: str | Path) -> bool:
    """True if ``path`` starts like a .keras zip or an HDF5 file (the CLI's dispatch)."""
    return file_kind(Path(path)) is not None


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def import_keras(path: str | Path, *, head_kind: HeadKind | None = None) -> Model:
    """Read the GRU model in a Keras file (.keras zip or .h5, told apart by content).

    ``head_kind`` overrides the head's kind; by default a softmax head is a classifier
    and a linear one a regressor. Problems with the file raise :class:`EdgeGruError`.
    """
    if head_kind not in (None, *HEAD_KINDS):
        raise EdgeGruError(f"head_kind {head_kind!r}: expected classification or regression")
    path = Path(path)
    command = [sys.executable, "-m", "edgegru.keras.importer", str(path), head_kind or ""]
    search = [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(search)}
    try:
        child = subprocess.run(command, capture_output=True, timeout=SECONDS, env=environment, check=False)
    except subprocess.TimeoutExpired:
        raise EdgeGruError(f"{path}: reading the file took more than {SECONDS} s; it is damaged") from None
    if child.returncode != 0 or not child.stdout:
        raise EdgeGruError(
            f"{path}: reading the file crashed the HDF5 library ({_how_it_ended(child.returncode)}); "
            "it is damaged"
        )
    kind, value = pickle.loads(child.stdout)  # written by the child below, from this package
    if kind == "bug":
        raise RuntimeError(f"reading {path} failed in the child process:\n{value}")
    if kind == "error":
        raise EdgeGruError(str(value))
    assert isinstance(value, Model)
    return value


def _child(argv: list[str]) -> None:
    """Read ``argv[0]`` and write ("model", Model), ("error", one line) or ("bug", traceback)."""
    from edgegru.keras.reader import read_keras

    path, head_kind = Path(argv[0]), argv[1] or None
    try:
        reply: tuple[str, object] = ("model", read_keras(path, head_kind))  # type: ignore[arg-type]
    except EdgeGruError as exc:
        reply = ("error", str(exc))
    except MemoryError:
        reply = ("error", f"{path}: out of memory reading the file")
    except Exception:  # a bug in edgegru: the parent raises it with this traceback
        reply = ("bug", traceback.format_exc())
    sys.stdout.buffer.write(pickle.dumps(reply))


if __name__ == "__main__":
    _child(sys.argv[1:])
