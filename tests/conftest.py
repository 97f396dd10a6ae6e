"""Shared fixtures: the public datasets beside the project, and small quantised models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgegru.model import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared/datasets, or a skip with the reason when this checkout has none."""
    if not SHARED.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED} (a user's fresh clone has none)")
    return SHARED


def make_qmodel(
    d: int,
    hidden: list[int],
    variant: str,
    head: str | None = None,
    state_bits: int = 16,
    seed: int = 0,
    scale: float = 2.0,
) -> QuantizedModel:
    """A random model, quantised on random normal calibration data."""
    model = random_model(d, hidden, variant, head, 3, seed=seed, scale=scale)
    x = np.random.default_rng(seed).normal(size=(16, 40, d))
    return quantize(model, calibrate(model, x), state_bits)
