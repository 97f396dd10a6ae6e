"""The folds a trial is cross-validated on: stratified for classes, contiguous blocks for regression."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.data import builtin_dataset
from edgegru.search.folds import check_folds, fold_indices


def test_stratified_folds_hold_every_class_and_every_case_once() -> None:
    ds = builtin_dataset("gestures", 60, 0)
    counts = np.bincount(ds.y, minlength=ds.output_size)
    k = int(counts.min())
    assert k >= 3, "the data should allow several folds"
    folds = fold_indices(ds, k, seed=7)
    assert len(folds) == k
    assert sorted(np.concatenate(folds).tolist()) == list(range(ds.n))  # each case exactly once
    for held in folds:
        assert set(ds.y[held].tolist()) == set(range(ds.output_size))  # every class in every fold
        assert abs(len(held) - ds.n / k) < ds.output_size  # balanced: at most one extra per class
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 1


def test_stratified_folds_follow_the_seed() -> None:
    ds = builtin_dataset("gestures", 60, 0)
    same = [f.tolist() for f in fold_indices(ds, 3, seed=1)]
    assert same == [f.tolist() for f in fold_indices(ds, 3, seed=1)]
    assert same != [f.tolist() for f in fold_indices(ds, 3, seed=2)]


def test_regression_folds_are_contiguous_blocks_in_order() -> None:
    ds = builtin_dataset("adding", 23, 0)
    assert ds.task == "regression"
    folds = fold_indices(ds, 4, seed=5)
    assert np.concatenate(folds).tolist() == list(range(ds.n))  # in order, each case once
    assert all(np.all(np.diff(held) == 1) for held in folds)  # each fold one block
    assert [f.tolist() for f in folds] == [f.tolist() for f in fold_indices(ds, 4, seed=6)]  # no shuffle
    assert sorted(len(f) for f in folds) == [5, 6, 6, 6]


@pytest.mark.parametrize(
    ("name", "n", "k", "expected"),
    [
        ("gestures", 60, 1, "--folds 1: expected K >= 2"),
        ("gestures", 60, 0, "--folds 0: expected K >= 2"),
        ("adding", 9, 5, "--folds 5: expected 2 <= K <= 4: builtin:adding n=9 seed=0 length=50 has 9 cases"),
    ],
)
def test_impossible_fold_counts_are_refused(name: str, n: int, k: int, expected: str) -> None:
    ds = builtin_dataset(name, n, 0)
    with pytest.raises(EdgeGruError) as info:
        check_folds(ds, k)
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)


def test_more_folds_than_the_smallest_class_are_refused() -> None:
    ds = builtin_dataset("gestures", 60, 0)
    counts = np.bincount(ds.y, minlength=ds.output_size)
    fewest = int(counts.min())
    check_folds(ds, fewest)  # as many as the smallest class: accepted
    with pytest.raises(EdgeGruError) as info:
        check_folds(ds, fewest + 1)
    name = ds.class_names[int(np.argmin(counts))]
    assert f"--folds {fewest + 1}: expected 2 <= K <= {fewest}: class '{name}'" in str(info.value)
