"""Fixtures of the report tests: small random models and data made to be scored."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from edgegru.data import Dataset
from edgegru.nn.model import HeadKind, Model
from edgegru.nn.synthetic import random_model
from edgegru.quant.calibrate import calibrate
from edgegru.quant.qmodel import QuantizedModel
from edgegru.quant.quantize import quantize


def case(
    head: HeadKind | None = "classification",
    names: list[str] | None = None,
    state_bits: int = 16,
    n: int = 30,
    seed: int = 0,
) -> tuple[QuantizedModel, Model, Dataset]:
    """A random float model, its quantised version (calibrated at the 99th percentile, so some
    inputs clip) and data of varying lengths whose labels are the float model's answers with a
    few changed, so that every score lies strictly between 0 and 1."""
    outputs = len(names) if names else 2
    model = random_model(3, [6, 5], "reset_after", head, output_size=outputs, seed=seed, scale=2.0)
    if names is not None and model.head is not None:
        model.head.class_names = names
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 24, 3)).astype(np.float32)
    lengths = rng.integers(8, 25, n)
    x[np.arange(24)[None, :] >= lengths[:, None]] = 0
    qm = quantize(model, calibrate(model, x, lengths, "percentile", 99.0), state_bits)
    y = model.predict(x, lengths)
    if head == "classification":
        y[: n // 5] = (y[: n // 5] + 1) % outputs
        return qm, model, Dataset(x, lengths, y, "classification", model.head.class_names, "cases.npz")
    y = np.asarray(y, np.float64).reshape(n, -1) + rng.normal(scale=0.1, size=(n, 1))
    return qm, model, Dataset(x, lengths, y, "regression", None, "cases.npz")


def save_npz(path, data: Dataset) -> None:
    """``data`` as a .npz data file (docs/data.md)."""
    arrays = {"X": data.x, "y": data.y, "lengths": data.lengths}
    if data.class_names is not None:
        arrays["class_names"] = np.array(data.class_names)
    np.savez(path, **arrays)


@pytest.fixture
def make_case() -> Callable[..., tuple[QuantizedModel, Model, Dataset]]:
    """:func:`case`, for tests that choose the head, names or state width."""
    return case


@pytest.fixture
def write_npz() -> Callable[..., None]:
    """:func:`save_npz`."""
    return save_npz
