"""Synthetic tasks that need no files: for demos, smoke tests and CI.

Both are deterministic given ``seed`` so that a test or a tutorial reproduces the
same numbers everywhere. ``adding`` is the classic long-range-dependency benchmark
for recurrent networks (the answer depends on two values far apart in time);
``gestures`` looks like the data an MCU actually sees (a 3-axis accelerometer,
variable-length recordings) and is easy enough for a small GRU to exceed 90 %.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.data.dataset import Dataset

BUILTIN_TASKS: dict[str, str] = {
    "adding": "adding problem: sum the two marked values of a uniform sequence "
    "(2 channels, length 50, regression)",
    "gestures": "accelerometer-like gestures: rest, shake, wave, circle, tap "
    "(3 channels, length 40..80, 5 classes)",
}

# name, sine axes, cosine axes, frequency in cycles per sample
_GESTURES = (
    ("rest", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0),
    ("shake", (1.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.22),
    ("wave", (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), 0.07),
    ("circle", (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 0.10),
    ("tap", (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), 0.15),
)


def adding(n: int, seed: int, length: int = 50) -> Dataset:
    """The adding problem: channel 0 uniform in [0, 1], channel 1 marks two steps.

    One mark falls in the first half and one in the second, so the network must
    remember a value for up to ``length`` steps; the target is the marked sum.
    """
    _check_positive(n, "n")
    if length < 2:
        raise EdgeGruError(f"builtin task 'adding': length {length}, expected at least 2")
    rng = np.random.default_rng(seed)
    half = length // 2
    values = rng.uniform(0.0, 1.0, size=(n, length))
    marks = np.zeros((n, length))
    rows = np.arange(n)
    marks[rows, rng.integers(0, half, size=n)] = 1.0
    marks[rows, rng.integers(half, length, size=n)] = 1.0
    x = np.stack([values, marks], axis=2)
    y = (values * marks).sum(axis=1, keepdims=True)
    return Dataset(
        x=x,
        lengths=np.full(n, length),
        y=y,
        task="regression",
        class_names=None,
        source=f"builtin:adding n={n} seed={seed} length={length}",
    )


def gestures(n: int, seed: int) -> Dataset:
    """Accelerometer-like recordings of five gestures, balanced over classes.

    Each recording is gravity (about 1 g on z, with a random tilt) plus noise, and,
    except for "rest", a smooth burst of a class-specific oscillation (axis and
    frequency) with random amplitude, phase, onset and duration.
    """
    _check_positive(n, "n")
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(n) % len(_GESTURES))
    lengths = rng.integers(40, 81, size=n)
    x = np.zeros((n, int(lengths.max()), 3))
    for i, (label, length) in enumerate(zip(classes, lengths, strict=True)):
        _, sin_axes, cos_axes, freq = _GESTURES[label]
        t = np.arange(length)
        start = rng.integers(0, length // 4)
        duration = rng.integers(length // 2, length - start + 1)
        envelope = np.zeros(length)
        envelope[start : start + duration] = np.sin(np.linspace(0.0, np.pi, duration)) ** 2
        phase = 2 * np.pi * (freq * rng.uniform(0.9, 1.1) * t) + rng.uniform(0, 2 * np.pi)
        motion = np.outer(np.sin(phase), sin_axes) + np.outer(np.cos(phase), cos_axes)
        gravity = np.array([0.0, 0.0, 1.0]) + rng.normal(0.0, 0.1, size=3)
        noise = rng.normal(0.0, 0.15, size=(length, 3))
        x[i, :length] = gravity + rng.uniform(0.6, 1.2) * envelope[:, None] * motion + noise
    return Dataset(
        x=x,
        lengths=lengths,
        y=classes,
        task="classification",
        class_names=[g[0] for g in _GESTURES],
        source=f"builtin:gestures n={n} seed={seed}",
    )


_GENERATORS: dict[str, Callable[..., Dataset]] = {"adding": adding, "gestures": gestures}


def builtin_dataset(name: str, n: int, seed: int, **params: int) -> Dataset:
    """Generate ``n`` cases of built-in task ``name``; ``params`` go to its generator
    (e.g. ``length`` for "adding")."""
    if name not in _GENERATORS:
        raise EdgeGruError(f"builtin task {name!r}: unknown, expected one of {list(BUILTIN_TASKS)}")
    generator = _GENERATORS[name]
    try:
        inspect.signature(generator).bind(n, seed, **params)
    except TypeError as exc:
        raise EdgeGruError(f"builtin task {name!r}: {exc}") from None
    return generator(n, seed, **params)


def _check_positive(value: int, what: str) -> None:
    if int(value) != value or value < 1:
        raise EdgeGruError(f"{what} is {value}, expected a positive integer")
