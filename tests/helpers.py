"""Helpers the test modules share (imported as ``tests.helpers``; fixtures stay in conftest)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np

from edgegru.core.container import META_KEY
from edgegru.data import Dataset, load_dataset
from edgegru.nn.model import Model
from edgegru.quant import qmodel
from edgegru.quant.qmodel import QuantizedModel
from edgegru.quant.synthetic import random_qmodel

ROOT = Path(__file__).resolve().parents[1]  # the repository: tests/ is one level down
SHARED = ROOT.parent / "shared" / "datasets"
FIXTURES = ROOT / "tests" / "fixtures"

# The tests' random quantised model: twice PyTorch's weight range, so that saturation and the
# activation tables' ends are exercised.
make_qmodel = partial(random_qmodel, scale=2.0)


# The trained model the tests of the later stages use on the UEA/UCR datasets: 1 layer of 32
# units, all training cases used for training, early stopping on the training loss. Every
# recipe setting is spelled out, so that a change of the training defaults (a stage of its
# own, measured by scripts/accuracy.py) does not change the model these tests examine.
# A search small enough for a test: one variant and state width, so that flash grows with the
# hidden size alone (tests/search).
SEARCH_DATA = ["--builtin", "gestures", "--samples", "60"]
SEARCH_SPACE = ["--hidden", "4:8", "--layers", "1", "--variants", "reset_after", "--state-bits", "16"]

UEA_CONFIG = {
    "hidden": 32, "epochs": 100, "lr": 5e-3, "batch_size": 16, "val_fraction": 0.0, "seed": 0,
    "patience": 20, "refit": False, "schedule": "constant", "warmup": 0, "weight_decay": 0.0,
    "label_smoothing": 0.0, "jitter": 0.0, "scale": 0.0, "magnitude_warp": 0.0, "time_warp": 0.0, "crop": 0.0,
    "chrono": False, "frame": 1, "dropout": 0.0,
}  # fmt: skip


def train_uea(shared: Path, name: str, variant: str = "reset_after") -> tuple[Dataset, Dataset, Model]:
    """(train set, test set, trained float model) for a UEA/UCR dataset in ../shared."""
    from edgegru.nn.train import TrainConfig, train

    tr = load_dataset(shared / f"{name}_TRAIN.ts")
    te = load_dataset(shared / f"{name}_TEST.ts", class_names=tr.class_names)
    model = train(tr, TrainConfig(**UEA_CONFIG, variant=variant), progress=False).model
    return tr, te, model


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


def rewrite_meta(path: Path, remove: tuple[str, ...] = (), **changes: object) -> None:
    """Change fields of a saved container's header in place (for version and kind checks),
    after removing the fields in ``remove``."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays[META_KEY].tobytes())
    for key in remove:
        del meta[key]
    meta.update(changes)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as fh:  # np.savez would add ".npz" to any other name
        np.savez(fh, **arrays)


# C that a hostile string would inject if it reached the generated code unescaped.
PAYLOAD = (
    "x */\n#include <stdlib.h>\n"
    '__attribute__((constructor)) static void pwn(void){system("touch PWNED");}\n/* '
)


def save_unchecked(model: Model | QuantizedModel, path: Path) -> None:
    """Save a model past the checks that saving makes: a damaged file, as a stranger's tool
    might write it."""
    with (
        mock.patch.object(qmodel, "check_quantized", lambda _qm: None),
        mock.patch.object(Model, "validate", lambda _self: None),
    ):
        model.save(path)
