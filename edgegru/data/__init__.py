"""Data stage: read sequences and labels from files or generate built-in tasks.

Every loader returns a :class:`Dataset` (zero-padded x, lengths, labels) and turns
every problem in the user's file into one :class:`~edgegru.core.errors.EdgeGruError`
line naming the file, line or field. Formats are described in docs/data.md.
"""

from __future__ import annotations

from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.data.builtin import BUILTIN_TASKS, builtin_dataset
from edgegru.data.csv_format import load_csv
from edgegru.data.dataset import TASKS, Dataset, existing_file
from edgegru.data.npz import load_npz
from edgegru.data.series import forecast_windows, load_series
from edgegru.data.ts import load_ts

_LOADERS = {".npz": load_npz, ".csv": load_csv, ".ts": load_ts}

__all__ = [
    "BUILTIN_TASKS",
    "TASKS",
    "Dataset",
    "builtin_dataset",
    "forecast_windows",
    "load_dataset",
    "load_series",
]


def load_dataset(
    path: str | Path, *, task: str | None = None, class_names: list[str] | None = None
) -> Dataset:
    """Load a labelled dataset from ``.npz``, ``.csv`` or ``.ts``.

    ``task`` ("classification" or "regression") must agree with the file when
    given. ``class_names`` fixes the label -> index mapping, so that a test file is
    encoded exactly like the training file it is evaluated against.
    """
    path = existing_file(path)
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise EdgeGruError(
            f"{path}: unknown dataset format {path.suffix!r}, expected one of {list(_LOADERS)}"
        )
    dataset = loader(path, task, class_names)
    if class_names is not None and dataset.task != "classification":
        raise EdgeGruError(f"{path.name}: holds regression targets, but class names were given")
    return dataset
