"""Integer arithmetic shared by the integer reference and mirrored by the C code.

Rounding is **round half away from zero** everywhere (the convention of TFLite's
requantisation), so a state decays symmetrically towards zero and a right shift
never adds a bias. Every function works on NumPy int64 arrays; callers keep all
intermediate values within int64 (the quantiser proves the bounds per model).
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def rshift_round(v: np.ndarray | int, shift: int) -> np.ndarray:
    """v / 2**shift rounded half away from zero (C: ``(v + 2^(s-1) - (v < 0)) >> s``)."""
    v = np.asarray(v, dtype=np.int64)
    if shift == 0:
        return v
    half = np.int64(1) << np.int64(shift - 1)
    return (v + half - (v < 0).astype(np.int64)) >> np.int64(shift)


def saturate(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Clamp to [lo, hi]: integer results saturate, they never wrap."""
    return np.clip(np.asarray(v, dtype=np.int64), lo, hi)


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round a float to the nearest integer, ties away from zero (used at generation time)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
