"""Score a .tflite model on a dataset with LiteRT, as :mod:`edgegru.nn.evaluate` scores
the float and quantised models, so the three numbers compare like for like.

The int8 .tflite is not the ``.egru``'s integer contract (docs/tflite.md says how they
differ) and is calibrated on its own, so its accuracy is measured, not assumed: each
sequence is streamed through the step model from a zero state by the runtime's own
:class:`~edgegru.tflite.stream.StreamingModel` (normalisation, int8 quantisation of the
input, dequantisation of the output), and read at its last valid step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.nn.evaluate import evaluate
from edgegru.nn.model import Model
from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.stream import StreamingModel

if TYPE_CHECKING:
    from edgegru.data import Dataset


class TflitePredictor:
    """A step .tflite file as a :class:`~edgegru.nn.evaluate.Predictor`."""

    def __init__(self, path: str | Path) -> None:
        self.model = StreamingModel(path)
        self.input_size, self.frame = self.model.input_size, self.model.frame
        if self.model.output_kind == "hidden":
            raise EdgeGruError(
                f"{path}: has no head (it outputs the hidden state), so there is nothing to score"
            )

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Per-sequence output: the class index for classification, the values for regression."""
        n, steps = x.shape[:2]
        lengths = np.full(n, steps) if lengths is None else lengths
        outputs = []
        for sequence, length in zip(x, lengths, strict=True):
            self.model.reset()
            outputs.append(self.model.run(sequence[: int(length)])[-1])
        out = np.stack(outputs)
        return out.argmax(axis=-1) if self.model.output_kind == "classification" else out


def evaluate_tflite(path: str | Path, ds: Dataset) -> float:
    """Accuracy (classification) or RMSE (regression) of a step .tflite model on ``ds``."""
    return evaluate(TflitePredictor(path), ds)


def evaluate_export(
    model: Model, ds: Dataset, dtype: str = "float32", calibration: np.ndarray | None = None
) -> float:
    """The score on ``ds`` of ``model`` exported as a step .tflite of ``dtype`` (with
    ``calibration`` for int8, as :func:`~edgegru.tflite.exporter.export_tflite` takes it).

    For a sequence model, which edgegru quantises exactly as the step model (the same
    parameters per tensor role, so the two agree bit for bit), and whose fixed length
    need not hold every test sequence.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "step.tflite"
        export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
        return evaluate_tflite(path, ds)
