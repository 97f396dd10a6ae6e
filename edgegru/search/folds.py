"""The K folds a trial is cross-validated on: stratified for classes, blocked for forecasts.

A trial is scored on every training case once, each by a model that did not train on it
(:func:`~edgegru.search.trial.cross_validate`): on sets of tens of cases one held-out fifth
is too coarse to rank trials (one case is ten points on 10 cases).

* Classification: each class's cases are shuffled (seeded by the search seed) and dealt in
  turn to the folds, so every fold holds every class and the folds differ in size by one
  case at most. Every trial of a study is scored on the same folds.
* Regression: the windows of a forecast are in time order and overlap, so shuffled folds
  would score a window with its neighbours in training. The folds are contiguous blocks in
  order (blocked cross-validation), the same for every seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgegru.core.errors import EdgeGruError, quote

if TYPE_CHECKING:
    from edgegru.data import Dataset

MIN_FOLDS = 2
MIN_REGRESSION_FOLD_CASES = 2  # a held-out block of one window scores one forecast step


def check_folds(ds: Dataset, k: int) -> None:
    """Refuse ``k`` folds ``ds`` cannot fill, in one line naming the flag, the value and the limit."""
    if k < MIN_FOLDS:
        raise EdgeGruError(f"--folds {k}: expected K >= {MIN_FOLDS}")
    if ds.task == "classification":
        counts = np.bincount(ds.y, minlength=ds.output_size)
        fewest = int(np.argmin(counts))
        if k > counts[fewest]:
            name = quote(ds.class_names[fewest]) if ds.class_names else str(fewest)
            raise EdgeGruError(
                f"--folds {k}: expected {MIN_FOLDS} <= K <= {counts[fewest]}: class {name} of {ds.source} "
                f"has {counts[fewest]} cases, and every fold needs one of each class"
            )
    elif k > ds.n // MIN_REGRESSION_FOLD_CASES:
        raise EdgeGruError(
            f"--folds {k}: expected {MIN_FOLDS} <= K <= {ds.n // MIN_REGRESSION_FOLD_CASES}: {ds.source} "
            f"has {ds.n} cases, and every fold needs {MIN_REGRESSION_FOLD_CASES}"
        )


def fold_indices(ds: Dataset, k: int, seed: int) -> list[np.ndarray]:
    """The held-out case indices of each of the ``k`` folds (sorted): every case in exactly one."""
    check_folds(ds, k)
    if ds.task != "classification":
        return list(np.array_split(np.arange(ds.n), k))
    rng = np.random.default_rng(seed)
    dealt = np.concatenate([rng.permutation(np.flatnonzero(ds.y == c)) for c in range(ds.output_size)])
    return [np.sort(dealt[fold::k]) for fold in range(k)]
