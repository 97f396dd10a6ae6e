"""Reader for NumPy ``.npz`` datasets: the format for data already in Python.

Arrays: ``X`` (N, T, D) or (N, T) for one channel; ``y``; optional ``lengths`` (N,)
and ``class_names``. The kind of ``y`` decides the task: integers or strings are
class labels, floats are regression targets (an integer ``y`` may be read as
regression targets by requesting that task). With ``class_names``, integer labels
are indices into it and string labels must be among it. Values after a sequence's
length are ignored (NaN padding, as in the UCR archive, is fine) and zeroed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import EdgeGruError
from .dataset import Dataset, encode_classes, resolve_task, valid_mask

_ARRAYS = ("X", "y", "lengths", "class_names")


def load_npz(path: Path, task: str | None, class_names: list[str] | None) -> Dataset:
    """Read an ``.npz`` dataset (see the module docstring)."""
    name = path.name
    arrays = _read_arrays(path)
    x, lengths = _inputs(arrays, name)
    y = arrays["y"]
    if y.shape[:1] != (len(x),):
        raise EdgeGruError(f"{name}: y has shape {y.shape}, expected {len(x)} rows like X")
    file_classes = _class_names(arrays, name)

    if y.dtype.kind == "f" or (y.dtype.kind in "iub" and task == "regression"):
        task = resolve_task("regression", task, name)
        if file_classes is not None:
            raise EdgeGruError(f"{name}: 'class_names' given, but y holds regression targets")
        if y.ndim > 2:
            raise EdgeGruError(f"{name}: y has shape {y.shape}, expected (N,) or (N, C) targets")
        targets = y.astype(np.float64).reshape(len(y), -1)
        bad = np.argwhere(~np.isfinite(targets))
        if len(bad):
            raise EdgeGruError(f"{name}: y[{bad[0][0]}] is {targets[tuple(bad[0])]}, expected finite")
        return Dataset(x, lengths, targets, task, None, name)

    task = resolve_task("classification", task, name)
    if y.ndim != 1 or y.dtype.kind not in "iubUS":
        raise EdgeGruError(f"{name}: y has shape {y.shape} and dtype {y.dtype}, expected (N,) class labels")
    labels = [_label_text(v, i, file_classes, name) for i, v in enumerate(y.tolist())]
    places = [f"{name} y[{i}]" for i in range(len(y))]
    indices, names = encode_classes(labels, places, file_classes, class_names)
    return Dataset(x, lengths, indices, task, names, name)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise EdgeGruError(f"{path.name}: a single .npy array, expected an .npz archive")
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeGruError(f"{path.name}: not a readable .npz archive ({reason})") from None
    unknown = sorted(set(arrays) - set(_ARRAYS))
    if unknown:
        raise EdgeGruError(f"{path.name}: unexpected array(s) {unknown}, expected {list(_ARRAYS)}")
    for key in ("X", "y"):
        if key not in arrays:
            raise EdgeGruError(f"{path.name}: has no array {key!r}")
    return arrays


def _inputs(arrays: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated, zero-padded X as (N, T, D) float32 and its lengths."""
    x = arrays["X"]
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.dtype.kind not in "fiu":
        raise EdgeGruError(f"{name}: X has shape {x.shape} and dtype {x.dtype}, expected (N, T, D)")
    n, t_max, _ = x.shape
    if n == 0 or t_max == 0 or x.shape[2] == 0:
        raise EdgeGruError(f"{name}: holds no cases (X has shape {x.shape})")
    lengths = arrays.get("lengths")
    if lengths is None:
        lengths = np.full(n, t_max, dtype=np.int64)
    elif lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise EdgeGruError(f"{name}: lengths has shape {lengths.shape}, expected ({n},) integers")
    bad = np.flatnonzero((lengths < 1) | (lengths > t_max))
    if len(bad):
        i = bad[0]
        raise EdgeGruError(f"{name}: lengths[{i}] is {lengths[i]}, expected 1..{t_max}")
    mask = valid_mask(lengths, t_max)
    x = np.where(mask[:, :, None], x, 0).astype(np.float64)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, t, d = bad[0]
        raise EdgeGruError(f"{name}: X[{i}, {t}, {d}] is {x[i, t, d]}, expected a finite value")
    return x.astype(np.float32), lengths.astype(np.int64)


def _class_names(arrays: dict[str, np.ndarray], name: str) -> list[str] | None:
    names = arrays.get("class_names")
    if names is None:
        return None
    if names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0:
        raise EdgeGruError(f"{name}: class_names must be a non-empty 1-D array of strings")
    result = [_text(v) for v in names.tolist()]
    if len(set(result)) != len(result):
        raise EdgeGruError(f"{name}: class_names has duplicates")
    return result


def _label_text(value: object, i: int, file_classes: list[str] | None, name: str) -> str:
    """A label as text; an integer label with ``class_names`` is an index into them."""
    if isinstance(value, (bytes, str)):
        return _text(value)
    if file_classes is None:
        return str(int(value))
    if not 0 <= int(value) < len(file_classes):
        raise EdgeGruError(
            f"{name}: y[{i}] is {value}, not an index into the {len(file_classes)} class_names"
        )
    return file_classes[int(value)]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
