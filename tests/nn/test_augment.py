"""Augmentation keeps the dataset's contract (shape, lengths, zero padding) and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.data import builtin_dataset
from edgegru.data.dataset import Dataset, valid_mask
from edgegru.nn.augment import Augmentation
from edgegru.nn.train import channel_stats

EVERY = Augmentation(jitter=0.05, scale=0.2, magnitude_warp=0.2, time_warp=0.2, crop=0.2)
ONE_AT_A_TIME = [
    Augmentation(jitter=0.05),
    Augmentation(scale=0.2),
    Augmentation(magnitude_warp=0.2),
    Augmentation(time_warp=0.2),
    Augmentation(crop=0.2),
    EVERY,
]


@pytest.fixture(scope="module")
def ragged() -> Dataset:
    """Gestures (3 channels) with lengths from 2 to the full length, so padding is exercised."""
    ds = builtin_dataset("gestures", 24, seed=0)
    lengths = np.linspace(2, ds.x.shape[1], ds.n).astype(np.int64)
    x = np.where(valid_mask(lengths, ds.x.shape[1])[:, :, None], ds.x, 0.0)
    return Dataset(x, lengths, ds.y, ds.task, ds.class_names, ds.source)


@pytest.mark.parametrize("aug", ONE_AT_A_TIME)
def test_shape_lengths_and_padding_are_kept(aug, ragged):
    mean, std = channel_stats(ragged)
    out = aug.apply(ragged.x, ragged.lengths, mean, std, np.random.default_rng(0))
    assert out.shape == ragged.x.shape and out.dtype == np.float32
    valid = valid_mask(ragged.lengths, ragged.x.shape[1])
    assert not np.any(out[~valid])
    assert np.all(np.isfinite(out))
    assert not np.allclose(out[valid], ragged.x[valid])  # it did something
    # a new Dataset checks the contract again: lengths and zero padding as the trainer needs
    Dataset(out, ragged.lengths, ragged.y, ragged.task, ragged.class_names, ragged.source)


def test_same_generator_same_batch_and_off_is_identity(ragged):
    mean, std = channel_stats(ragged)
    a = EVERY.apply(ragged.x, ragged.lengths, mean, std, np.random.default_rng(7))
    b = EVERY.apply(ragged.x, ragged.lengths, mean, std, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    off = Augmentation()
    assert not off.active and EVERY.active
    same = off.apply(ragged.x, ragged.lengths, mean, std, np.random.default_rng(0))
    np.testing.assert_allclose(same, ragged.x, atol=1e-5)


def test_time_warp_keeps_the_ends_and_the_range(ragged):
    """A resampling of time: the first and last valid samples stay, nothing leaves their span."""
    mean, std = channel_stats(ragged)
    out = Augmentation(time_warp=0.5).apply(ragged.x, ragged.lengths, mean, std, np.random.default_rng(1))
    for i, length in enumerate(ragged.lengths):
        seq, warped = ragged.x[i, :length], out[i, :length]
        np.testing.assert_allclose(warped[[0, -1]], seq[[0, -1]], atol=1e-5)
        assert np.all(warped >= seq.min(axis=0) - 1e-5) and np.all(warped <= seq.max(axis=0) + 1e-5)


def test_crop_stretches_a_window_of_at_least_one_minus_crop():
    """On a ramp (sample t = t) a crop without warp is a straight line again: a window that
    starts and ends inside the sequence, spans at least 1 - crop of it, and varies by case."""
    lengths = np.array([40, 40, 40, 40, 25, 3])
    x = np.zeros((6, 40, 1), np.float32)
    for i, length in enumerate(lengths):
        x[i, :length, 0] = np.arange(length)
    ramp = Dataset(x, lengths, np.zeros(6, np.int64), "classification", ["a"], "ramp")
    mean, std = channel_stats(ramp)
    out = Augmentation(crop=0.3).apply(x, lengths, mean, std, np.random.default_rng(3))
    starts = []
    for i, length in enumerate(lengths):
        window = out[i, :length, 0].astype(np.float64)
        step = np.diff(window)
        np.testing.assert_allclose(step, step[0], atol=1e-3)  # evenly spaced: no warp
        assert window[0] >= -1e-4 and window[-1] <= length - 1 + 1e-4
        assert window[-1] - window[0] >= 0.7 * (length - 1) - 1e-3
        starts.append(window[0])
    assert len({round(s, 3) for s in starts[:4]}) == 4  # a new window for every case


def test_jitter_strength_is_in_units_of_the_channel_std(ragged):
    """Channels of very different scales get noise in proportion to their own spread."""
    x = ragged.x.copy()
    x[:, :, 0] *= 1000.0
    mean, std = channel_stats(Dataset(x, ragged.lengths, ragged.y, ragged.task, ragged.class_names, "x"))
    out = Augmentation(jitter=0.1).apply(x, ragged.lengths, mean, std, np.random.default_rng(2))
    valid = valid_mask(ragged.lengths, x.shape[1])
    noise = (out - x)[valid].std(axis=0) / std
    np.testing.assert_allclose(noise, 0.1, rtol=0.1)
