"""Score float and quantised models on a dataset with the same metric.

Classification is scored by accuracy of the class at each sequence's last valid
step, regression by RMSE in the targets' units. The float model is read through
the float reference and the quantised one through the integer reference, so the
two numbers compare exactly what the targets compute.
"""

from __future__ import annotations

import numpy as np

from edgegru.data import Dataset
from edgegru.nn import float_reference
from edgegru.nn.model import Model
from edgegru.quant import integer_reference as int_reference
from edgegru.quant.qmodel import QuantizedModel


def metric_name(ds: Dataset) -> str:
    return "accuracy" if ds.task == "classification" else "rmse"


def score(predictions: np.ndarray, ds: Dataset) -> float:
    if ds.task == "classification":
        return float(np.mean(predictions == ds.y))
    pred = np.asarray(predictions, dtype=np.float64).reshape(ds.y.shape)
    return float(np.sqrt(np.mean((pred - ds.y) ** 2)))


def evaluate(model: Model | QuantizedModel, ds: Dataset) -> float:
    """Accuracy (classification) or RMSE (regression) of ``model`` on ``ds``."""
    if isinstance(model, QuantizedModel):
        return score(int_reference.predict(model, ds.x, ds.lengths), ds)
    return score(float_reference.predict(model, ds.x, ds.lengths), ds)


def format_metric(name: str, value: float) -> str:
    return f"{100 * value:.1f}%" if name == "accuracy" else f"{value:.4g}"
