"""Integer sigmoid and tanh: one shared table and linear interpolation.

The table holds tanh on [0, 6] in steps of 1/32 (193 int16 entries, 386 bytes of
flash), in Q0.15 and clamped to 32767. tanh is odd, so negative inputs use the
table on |x| and flip the sign; sigmoid is read from the same table through
sigmoid(x) = (1 + tanh(x / 2)) / 2, which for an input with F fractional bits is
tanh of the same integer read with F + 1 fractional bits. Past the table's end
tanh is 32767 (tanh(6) already rounds to it).

Both functions take an int16 pre-activation with ``frac_bits`` fractional bits
(Q(15-F).F) and return Q0.15. The C templates implement exactly these steps.
"""

from __future__ import annotations

import numpy as np

from .fixedpoint import INT16_MAX, round_half_away, rshift_round

TABLE_STEP_BITS = 5  # entries are 1/32 apart
TABLE_LAST = 192  # index of tanh(6)
TANH_TABLE: np.ndarray = np.minimum(
    round_half_away(np.tanh(np.arange(TABLE_LAST + 1) / 2**TABLE_STEP_BITS) * 32768), INT16_MAX
)


def tanh_q15(v: np.ndarray, frac_bits: int) -> np.ndarray:
    """tanh of v / 2**frac_bits, in Q0.15, by table lookup with linear interpolation."""
    v = np.asarray(v, dtype=np.int64)
    shift = frac_bits - TABLE_STEP_BITS
    a = np.abs(v)
    idx = a >> shift
    frac = a & ((1 << shift) - 1)
    inside = idx < TABLE_LAST
    i = np.minimum(idx, TABLE_LAST - 1)
    lo = TANH_TABLE[i]
    y = lo + rshift_round((TANH_TABLE[i + 1] - lo) * frac, shift)
    y = np.where(inside, y, TANH_TABLE[TABLE_LAST])
    return np.where(v < 0, -y, y)


def sigmoid_q15(v: np.ndarray, frac_bits: int) -> np.ndarray:
    """sigmoid of v / 2**frac_bits in Q0.15: (32768 + tanh(v/2) + 1) >> 1, capped at 32767."""
    t = tanh_q15(v, frac_bits + 1)
    return np.minimum((t + 32769) >> 1, INT16_MAX)


def max_error_lsb(frac_bits: int) -> tuple[float, float]:
    """Worst absolute error of (sigmoid, tanh) against float over every int16 input, in Q0.15 LSBs."""
    v = np.arange(-32768, 32768, dtype=np.int64)
    x = v / 2.0**frac_bits
    sig = np.abs(sigmoid_q15(v, frac_bits) - 32768 / (1 + np.exp(-x))).max()
    tanh = np.abs(tanh_q15(v, frac_bits) - 32768 * np.tanh(x)).max()
    return float(sig), float(tanh)
