"""Training-time augmentation of padded sequence batches.

The UEA/UCR training sets hold 36-200 cases; a GRU of a few thousand weights memorises
them within tens of epochs. Showing it a slightly different version of every case on
every epoch (noise, a different gain per channel, a slowly varying gain, a slightly
faster or slower stroke, a little less of its start and end) is the cheapest regulariser
there is, and it costs nothing on the device: the deployed model is the same network,
only trained on more varied data.

Every transform works in normalised units (each channel divided by its training std),
so one strength suits accelerometers and leaf outlines alike, and keeps the dataset's
contract: the same shape, each sequence's length unchanged, zeros after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.data.dataset import valid_mask


@dataclass(frozen=True)
class Augmentation:
    """Strengths of the transforms; 0 turns one off.

    ``jitter``: std of Gaussian noise added to each valid sample; ``scale``: std of one
    random gain per sequence and channel (around 1); ``magnitude_warp``: std of a gain that
    drifts smoothly along the sequence (four knots); ``time_warp``: std of the local speed
    of a smooth resampling of time, which keeps a sequence's first and last samples;
    ``crop``: the largest share of a sequence cut off its two ends together, the window
    left stretched back to the full length (window slicing, Le Guennec et al. 2016), so
    that a class is not learnt from where in the sequence a feature happens to sit.
    """

    jitter: float = 0.0
    scale: float = 0.0
    magnitude_warp: float = 0.0
    time_warp: float = 0.0
    crop: float = 0.0

    @property
    def active(self) -> bool:
        return any(v > 0 for v in (self.jitter, self.scale, self.magnitude_warp, self.time_warp, self.crop))

    def apply(
        self,
        x: np.ndarray,
        lengths: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """A transformed copy of ``x`` (N, T, D) with the same lengths and zero padding."""
        z = (x.astype(np.float64) - mean) / std
        n, steps, dims = z.shape
        valid = valid_mask(lengths, steps)
        # Random numbers are drawn per valid sample, never per padded step, so that the
        # same data padded to a longer T_max are augmented (and trained) identically.
        if self.time_warp > 0 or self.crop > 0:
            z = _resample_time(z, lengths, self.time_warp, self.crop, rng)
        if self.magnitude_warp > 0:
            z = z * _smooth_curves(lengths, steps, dims, self.magnitude_warp, rng)
        if self.scale > 0:
            z = z * (1.0 + self.scale * rng.standard_normal((n, 1, dims)))
        if self.jitter > 0:
            z[valid] += self.jitter * rng.standard_normal((int(valid.sum()), dims))
        out = (z * std + mean).astype(np.float32)
        out[~valid] = 0.0
        return out


_KNOTS = 4  # knots of a warp curve: a few slow changes per sequence, not a new noise


def _smooth_curves(
    lengths: np.ndarray, steps: int, dims: int, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, steps, dims) gains around 1, linear between random knots spread over each length."""
    knots = 1.0 + sigma * rng.standard_normal((len(lengths), _KNOTS, dims))
    curves = np.ones((len(lengths), steps, dims))
    for i, length in enumerate(lengths):
        at = np.linspace(0.0, length - 1, _KNOTS)
        for d in range(dims):
            curves[i, :length, d] = np.interp(np.arange(length), at, knots[i, :, d])
    return curves


def _resample_time(
    z: np.ndarray, lengths: np.ndarray, warp: float, crop: float, rng: np.random.Generator
) -> np.ndarray:
    """Each sequence read at smoothly uneven times (linear interpolation), over a window of it.

    The speed curve (std ``warp``) is kept positive, so time never runs backwards. The times
    span a window of ``1 - crop·u`` of the sequence (``u`` uniform in 0..1) placed at random,
    stretched to the sequence's own length; without a crop the window is the whole sequence,
    so the first and the last valid sample stay where they are.
    """
    out = np.zeros_like(z)
    for i, length in enumerate(lengths):
        length = int(length)
        if length < 3:
            out[i, :length] = z[i, :length]
            continue
        speed = np.interp(
            np.arange(length - 1),
            np.linspace(0, length - 2, _KNOTS),
            np.clip(1.0 + warp * rng.standard_normal(_KNOTS), 0.1, None),
        )
        where = np.concatenate([[0.0], np.cumsum(speed)])
        span, start = length - 1, 0.0
        if crop > 0:
            span *= 1.0 - crop * rng.uniform()
            start = rng.uniform() * (length - 1 - span)
        where = start + where * (span / where[-1])
        for d in range(z.shape[2]):
            out[i, :length, d] = np.interp(where, np.arange(length), z[i, :length, d])
    return out
