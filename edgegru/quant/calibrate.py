"""Calibration: the input range that fixes the int8 input scale and zero point.

The calibration data (normally the training set) is normalised as the model
does it, and a range is taken by ``minmax`` (the extremes) or ``percentile``
(ignore the outer tail, trading rare clipping for resolution). Nothing else
needs calibrating: a GRU's h stays in [-1, 1], and the gate pre-activations are
int32 with a fixed 12 fractional bits, wide enough for any value the weights
allow (docs/quantization.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.data.frames import frame_arrays
from edgegru.nn.model import Model

METHODS = ("minmax", "percentile")
# What `edgegru quantize` calibrates with unless told otherwise (and everything that quantises
# "as quantize does": train --report, demo, the search, the accuracy scripts). A 99.9th
# percentile ignores the rare outliers whose range would coarsen every other input's steps.
# The function's own defaults (minmax) suit the random stimuli of benchmarks and tests.
CLI_METHOD = "percentile"
CLI_PERCENTILE = 99.9


@dataclass
class Ranges:
    """The calibrated input range (lo, hi), after normalisation."""

    input_lo: float
    input_hi: float


def _pick(values: np.ndarray, method: str, percentile: float) -> tuple[float, float]:
    if method == "minmax":
        return float(values.min()), float(values.max())
    return float(np.percentile(values, 100 - percentile)), float(np.percentile(values, percentile))


def calibrate(
    model: Model,
    x: np.ndarray,
    lengths: np.ndarray | None = None,
    method: str = "minmax",
    percentile: float = 99.99,
) -> Ranges:
    """Collect ranges from float inputs x (N, T, D); padding past ``lengths`` is ignored.
    Samples of a framed model (D = its input size / its frame) are grouped into frames first,
    so that each frame position is normalised as the model normalises it."""
    if method not in METHODS:
        raise EdgeGruError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise EdgeGruError(f"percentile {percentile}: expected a value in (50, 100]")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and model.frame > 1 and x.shape[2] * model.frame == model.input_size:
        full = np.full(x.shape[0], x.shape[1]) if lengths is None else np.asarray(lengths)
        x, lengths = frame_arrays(x, full, model.frame)
    if x.ndim != 3 or x.shape[2] != model.input_size:
        raise EdgeGruError(
            f"calibration data: shape {x.shape}, expected (N, T, {model.input_size}) "
            f"for this model's {model.input_size} input channels"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise EdgeGruError("calibration data is empty")
    if not np.all(np.isfinite(x)):
        raise EdgeGruError("calibration data holds NaN or Inf")
    steps = x.shape[1]
    valid = (
        np.ones(x.shape[:2], bool)
        if lengths is None
        else np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
    )
    if model.normalisation is not None:
        x = model.normalisation.apply(x)
    lo, hi = _pick(x[valid], method, percentile)
    return Ranges(lo, hi)
