"""How far the integer hidden state drifts from the float model's, step by step.

Quantisation error in a recurrent model can accumulate through the state, so the figure
that matters is not one step's error but its course over a sequence: if the error grows
with time the int8 model will disagree on long inputs even when it agrees on short ones.
States are compared in real units (the stored integer over 2^15, or 2^7 for int8 state),
over every unit of every layer, and only at steps within each sequence's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.data.dataset import valid_mask


@dataclass
class StateError:
    """Absolute error of the integer state against float, per step (NaN where no sequence
    is that long), across units and sequences."""

    mean: np.ndarray  # (T,)
    max: np.ndarray  # (T,)
    overall_mean: float
    overall_max: float


def state_error(
    int_states: list[np.ndarray], float_states: list[np.ndarray], state_bits: int, lengths: np.ndarray
) -> StateError:
    """Compare per-layer stored integer states with the float ones, both (N, T, H_k)."""
    ints = np.concatenate(int_states, axis=-1) / 2.0 ** (state_bits - 1)
    error = np.abs(ints - np.concatenate(float_states, axis=-1))  # (N, T, units)
    valid = valid_mask(lengths, error.shape[1])  # (N, T)
    counted = np.where(valid[..., None], error, 0.0)
    per_step = valid.sum(axis=0) * error.shape[2]
    with np.errstate(invalid="ignore"):
        mean = counted.sum(axis=(0, 2)) / per_step
    peak = np.where(per_step > 0, np.where(valid[..., None], error, -1.0).max(axis=(0, 2)), np.nan)
    return StateError(mean, peak, float(error[valid].mean()), float(error[valid].max()))
