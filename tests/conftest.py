"""Shared fixtures: the public datasets beside the project, and small quantised models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from edgegru.core.container import META_KEY
from edgegru.data import Dataset, load_dataset
from edgegru.nn.model import Model, random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# Fuzz tests (hypothesis): a bounded run in CI, a long one on demand, e.g.
#   HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests -k fuzz -p no:xdist
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


# The configuration the notes report for the UEA/UCR datasets: 1 layer of 32 units, all
# training cases used for training (they are few), early stopping on the training loss.
UEA_CONFIG = {"hidden": 32, "epochs": 100, "lr": 5e-3, "batch_size": 16, "val_fraction": 0.0, "seed": 0}


def train_uea(shared: Path, name: str, variant: str = "reset_after") -> tuple[Dataset, Dataset, Model]:
    """(train set, test set, trained float model) for a UEA/UCR dataset in ../shared."""
    from edgegru.nn.train import TrainConfig, train

    tr = load_dataset(shared / f"{name}_TRAIN.ts")
    te = load_dataset(shared / f"{name}_TEST.ts", class_names=tr.class_names)
    model = train(tr, TrainConfig(**UEA_CONFIG, variant=variant), progress=False).model
    return tr, te, model


@pytest.fixture(scope="session")
def basic_motions(shared: Path) -> tuple[Dataset, Dataset, Model]:
    """BasicMotions trained once per test session (about 10 s)."""
    return train_uea(shared, "BasicMotions")


def assert_same_model(a: Model, b: Model) -> None:
    """Every array and name of two float models is equal."""
    assert (a.variant, a.input_size, a.hidden_sizes) == (b.variant, b.input_size, b.hidden_sizes)
    for la, lb in zip(a.layers, b.layers, strict=True):
        for name in ("w_x", "w_h", "b_x", "b_h"):
            assert np.array_equal(getattr(la, name), getattr(lb, name)), name
    assert (a.head is None) == (b.head is None)
    if a.head is not None:
        assert (a.head.kind, a.head.class_names) == (b.head.kind, b.head.class_names)
        assert np.array_equal(a.head.weight, b.head.weight)
        assert np.array_equal(a.head.bias, b.head.bias)
    assert (a.normalisation is None) == (b.normalisation is None)
    if a.normalisation is not None:
        assert np.array_equal(a.normalisation.mean, b.normalisation.mean)
        assert np.array_equal(a.normalisation.std, b.normalisation.std)


def rewrite_meta(path: Path, **changes: object) -> None:
    """Change fields of a saved container's header in place (for version and kind checks)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays[META_KEY].tobytes())
    meta.update(changes)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as fh:  # np.savez would add ".npz" to any other name
        np.savez(fh, **arrays)
