"""Integer sigmoid and tanh: one 257-entry sigmoid table and linear interpolation.

Pre-activations are int32 with ``PRE_FRAC`` = 12 fractional bits. The table holds
sigmoid on [-16, 16] every 1/8 in Q0.15 (514 bytes of flash); tanh reads the same
table through tanh(x) = 2 sigmoid(2x) - 1. Both are shaped for the Cortex-M4:
one SSAT for the clamped index, one unaligned LDR for two neighbouring entries,
one SMLAD for the interpolation ``lo * (256 - f) + hi * f`` plus a constant, and
a shift. The table's first two and last two entries are equal, so a clamped
index gives the end value whatever the fraction f. The generated C has the same
functions under the same names (docs/quantization.md, "Sigmoid and tanh").
"""

from __future__ import annotations

import numpy as np

from edgegru.quant.fixedpoint import INT16_MAX, round_half_away

PRE_FRAC = 12  # fractional bits of every gate pre-activation
TABLE_STEP_BITS = 3  # sigmoid entries are 1/8 apart
TABLE_HALF = 128  # entries below 0; the table spans [-16, 16]
SIGMOID_TABLE: np.ndarray = np.minimum(
    round_half_away(32768 / (1 + np.exp(-(np.arange(2 * TABLE_HALF + 1) - TABLE_HALF) / 8.0))), INT16_MAX
)


def table_index(v: np.ndarray) -> np.ndarray:
    """v (a shifted pre-activation) clamped to -128..127: the entry below it, counted from entry 128."""
    return np.clip(v, -TABLE_HALF, TABLE_HALF - 1)


def interpolate(k: np.ndarray, f: np.ndarray, bias: int) -> np.ndarray:
    """T[128 + k] * (256 - f) + T[129 + k] * f + bias, 0 <= f < 256 (one SMLAD on a Cortex-M4)."""
    return SIGMOID_TABLE[TABLE_HALF + k] * (256 - f) + SIGMOID_TABLE[TABLE_HALF + 1 + k] * f + bias


def sigmoid_q15(pre: np.ndarray) -> np.ndarray:
    """sigmoid(pre / 2^12) in Q0.15, 0..32767: entries 1/8 apart."""
    v = np.asarray(pre, dtype=np.int64)
    shift = PRE_FRAC - TABLE_STEP_BITS
    return interpolate(table_index(v >> shift), (v >> (shift - 8)) & 0xFF, 128) >> 8


def tanh_q15(pre: np.ndarray) -> np.ndarray:
    """tanh(pre / 2^12) = 2 sigmoid(2 pre / 2^12) - 1 in Q0.15, -32768..32766: the same table, 1/16 apart."""
    v = np.asarray(pre, dtype=np.int64)
    shift = PRE_FRAC - TABLE_STEP_BITS - 1
    return interpolate(table_index(v >> shift), (v >> (shift - 8)) & 0xFF, 64 - (1 << 22)) >> 7


def max_error_lsb() -> tuple[float, float]:
    """Worst absolute error of (sigmoid, tanh) against float, in Q0.15 LSBs.

    Every pre-activation in [-20, 20] is tried (past it both functions are at
    their end values; the error there is the end value's).
    """
    v = np.arange(-20 << PRE_FRAC, (20 << PRE_FRAC) + 1, dtype=np.int64)
    x = v / 2.0**PRE_FRAC
    sig = np.abs(sigmoid_q15(v) - 32768 / (1 + np.exp(-x))).max()
    tanh = np.abs(tanh_q15(v) - 32768 * np.tanh(x)).max()
    return float(sig), float(tanh)
