"""Score float and quantised models on a dataset with the same metric.

Classification is scored by accuracy of the class at each sequence's last valid
step, regression by RMSE in the targets' units. The float model is read through
the float reference and the quantised one through the integer reference (each model's
``predict``), so the two numbers compare exactly what the targets compute, and this
float-stage module needs nothing from the quantisation stage above it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgegru.data import Dataset
from edgegru.data.frames import model_input


class Predictor(Protocol):
    """A float :class:`~edgegru.nn.model.Model` or a quantised model."""

    input_size: int  # inputs per step
    frame: int  # samples per step (edgegru/data/frames.py)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray: ...


def metric_name(ds: Dataset) -> str:
    return "accuracy" if ds.task == "classification" else "rmse"


def score(predictions: np.ndarray, ds: Dataset) -> float:
    if ds.task == "classification":
        return float(np.mean(predictions == ds.y))
    pred = np.asarray(predictions, dtype=np.float64).reshape(ds.y.shape)
    return float(np.sqrt(np.mean((pred - ds.y) ** 2)))


def evaluate(model: Predictor, ds: Dataset) -> float:
    """Accuracy (classification) or RMSE (regression) of ``model`` on ``ds``, whose samples
    are grouped into the model's frames first."""
    ds = model_input(ds, model.frame, model.input_size)
    return score(model.predict(ds.x, ds.lengths), ds)


def format_metric(name: str, value: float) -> str:
    return f"{100 * value:.1f}%" if name == "accuracy" else f"{value:.4g}"
