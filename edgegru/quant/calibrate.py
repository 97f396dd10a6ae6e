"""Calibration: the ranges that fix the input scale and the gate pre-activation formats.

The float model is run over calibration data (normally the training set) and
records, after input normalisation, every input value and every gate
pre-activation. A range is then taken from each by ``minmax`` (the extremes) or
``percentile`` (ignore the outer tail, trading rare clipping for resolution).
Hidden states need no calibration: a GRU's h stays in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgeGruError
from ..model import Model
from ..reference import sigmoid

METHODS = ("minmax", "percentile")


@dataclass
class Ranges:
    """Calibrated ranges: input (lo, hi) after normalisation, and max |pre| per layer and gate."""

    input_lo: float
    input_hi: float
    preact: list[np.ndarray]  # per layer, (3,) for gates r, z, n


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
    """Collect ranges from float inputs x (N, T, D); padding past ``lengths`` is ignored."""
    if method not in METHODS:
        raise EdgeGruError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise EdgeGruError(f"percentile {percentile}: expected a value in (50, 100]")
    x = np.asarray(x, dtype=np.float64)
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
    inputs = x[valid]
    lo, hi = _pick(inputs, method, percentile)
    preacts = [[[], [], []] for _ in model.layers]
    states = [np.zeros((x.shape[0], h)) for h in model.hidden_sizes]
    for t in range(steps):
        act = x[:, t]
        live = valid[:, t]
        for k, layer in enumerate(model.layers):
            h = states[k]
            wx, wh = layer.w_x.astype(np.float64), layer.w_h.astype(np.float64)
            pr = act @ wx[0].T + layer.b_x[0] + h @ wh[0].T + layer.b_h[0]
            pz = act @ wx[1].T + layer.b_x[1] + h @ wh[1].T + layer.b_h[1]
            r, z = sigmoid(pr), sigmoid(pz)
            if model.variant == "reset_before":
                pn = act @ wx[2].T + layer.b_x[2] + (r * h) @ wh[2].T + layer.b_h[2]
            else:
                pn = act @ wx[2].T + layer.b_x[2] + r * (h @ wh[2].T + layer.b_h[2])
            for g, p in enumerate((pr, pz, pn)):
                preacts[k][g].append(np.abs(p[live]).ravel())
            new = z * h + (1 - z) * np.tanh(pn)
            states[k] = np.where(live[:, None], new, h)
            act = states[k]
    ranges = []
    for per_gate in preacts:
        ranges.append(np.array([_pick(np.concatenate(v), method, percentile)[1] for v in per_gate]))
    return Ranges(lo, hi, ranges)
