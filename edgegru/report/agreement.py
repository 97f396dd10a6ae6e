"""The three implementations of one model run over the same data: the float model, the
integer reference, and the generated C compiled on the host.

The C is built and run by :func:`edgegru.targets.host.verify_host`, the same harness
``edgegru verify`` uses, so the report's bit-exactness count is that command's; the harness's
outputs are then read back once more to turn them into the C's own predictions, which is
what a device would report.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.data import Dataset
from edgegru.nn.float_reference import forward, last_valid
from edgegru.nn.model import Model
from edgegru.quant.integer_reference import head_result
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host import verify_host
from edgegru.targets.verify import VerifyReport, expected, read_output

HOST_CC = "gcc"


@dataclass
class Comparison:
    """How closely two implementations' per-sequence results agree: the share of equal
    classes for a classifier, else the root-mean-square difference in the outputs' units."""

    first: str
    second: str
    value: float


@dataclass
class Runs:
    """Per-sequence predictions of each implementation, and the hidden states behind them.

    ``float_predictions``/``float_states`` are None without the float model; the C's are None
    when the host compiler is missing, ``c_skipped`` saying so.
    """

    reference: np.ndarray
    reference_states: list[np.ndarray]  # per layer (N, T, H_k), stored integers
    float_predictions: np.ndarray | None
    float_states: list[np.ndarray] | None  # per layer (N, T, H_k), real values
    c_predictions: np.ndarray | None
    verify: VerifyReport | None
    c_skipped: str | None

    def by_implementation(self) -> dict[str, np.ndarray | None]:
        """Each implementation's predictions by the name the page gives it."""
        return {
            "float": self.float_predictions,
            "int8 reference": self.reference,
            "generated C": self.c_predictions,
        }

    def comparisons(self, classification: bool) -> list[Comparison]:
        """Every pair of implementations that ran."""
        present = [(name, p) for name, p in self.by_implementation().items() if p is not None]
        found = []
        for i, (a, pa) in enumerate(present):
            for b, pb in present[i + 1 :]:
                if classification:
                    value = float(np.mean(pa == pb))
                else:
                    value = float(np.sqrt(np.mean((np.asarray(pa, np.float64) - pb) ** 2)))
                found.append(Comparison(a, b, value))
        return found


def predictions(qm: QuantizedModel, outputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-sequence results from the records (N, T, C) the harness writes: the class, the
    regression values, or (no head) the last layer's Q0.15 state in real units; as
    :func:`edgegru.quant.integer_reference.predict` reads its own trace."""
    last = last_valid(outputs, lengths)
    if qm.head is None:
        return last / 32768.0
    return head_result(qm.head, last)


def run_all(qm: QuantizedModel, data: Dataset, float_model: Model | None = None, cc: str = HOST_CC) -> Runs:
    """Run the reference, the float model (if given) and the host-compiled C over ``data``."""
    x = data.x
    states, outputs = expected(qm, x)
    split = np.cumsum(qm.hidden_sizes)[:-1]
    reference_states = np.split(states, split, axis=-1)
    float_predictions = float_states = None
    if float_model is not None:
        float_predictions = float_model.predict(x, data.lengths)
        float_states = forward(float_model, x).hidden
    c_predictions = verify = None
    skipped = None
    if shutil.which(cc) is None:
        skipped = f"{cc} not found: install a C compiler to compare the generated C"
    else:
        with tempfile.TemporaryDirectory(prefix="edgegru-report-") as tmp:
            verify = verify_host(qm, x, cc=cc, workdir=Path(tmp))
            _, c_outputs = read_output(Path(tmp) / "output.bin", qm, data.n, x.shape[1])
        c_predictions = predictions(qm, c_outputs, data.lengths)
    return Runs(
        predictions(qm, outputs, data.lengths),
        reference_states,
        float_predictions,
        float_states,
        c_predictions,
        verify,
        skipped,
    )
