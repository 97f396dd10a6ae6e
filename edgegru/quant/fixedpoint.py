"""Integer arithmetic shared by the integer reference and mirrored by the C code.

The operations carry the names that docs/quantization.md and the generated C give them,
and are chosen for what a Cortex-M does in one instruction: ``mul_high_add`` is SMMLAR
(an addend plus the rounded high word of a 32x32-bit product), ``mul_r_add`` is SMLAWB
(an addend plus a 32x16-bit product shifted right by 16) and ``rshift_round`` is the
add-and-shift every core has. Rounding is half up (towards +inf on ties), which costs
nothing extra on any core; a tie is one part in 2^32 or 2^15 and the state update is
proved not to drift out of range because of it (docs/quantization.md). Every function
works on NumPy int64 arrays; the quantiser proves per model that each intermediate fits
the C type it lives in.
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def rshift_round(v: np.ndarray | int, shift: int) -> np.ndarray:
    """v / 2**shift rounded half up (C: ``(v + 2^(s-1)) >> s``, arithmetic shift), shift >= 1."""
    v = np.asarray(v, dtype=np.int64)
    return (v + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)


def mul_high_add(b: np.ndarray | int, a: np.ndarray | int, m: np.ndarray | int) -> np.ndarray:
    """b + ((a * m + 2^31) >> 32) for int32 a and m: Arm's SMMLAR.

    a * m needs up to 63 bits, so the product is split into m's 16-bit halves to
    stay exact in int64 NumPy arithmetic.
    """
    a = np.asarray(a, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    high, low = m >> 16, m & 0xFFFF
    # a * m + 2^31 = (a * high) * 2^16 + a * low + 2^31; shift in two exact steps.
    partial = a * low + (1 << 31)
    return np.asarray(b, dtype=np.int64) + ((a * high + (partial >> 16)) >> 16)


def mul_r_add(b: np.ndarray | int, v: np.ndarray | int, r: np.ndarray | int) -> np.ndarray:
    """b + ((v * r) >> 16) for int32 v and 0 <= r < 2^15 (a Q0.15 gate): Arm's SMLAWB."""
    v = np.asarray(v, dtype=np.int64)
    return np.asarray(b, dtype=np.int64) + ((v * np.asarray(r, dtype=np.int64)) >> 16)


def saturate8(v: np.ndarray) -> np.ndarray:
    """Clamp to int8: integer results saturate, they never wrap."""
    return np.clip(np.asarray(v, dtype=np.int64), INT8_MIN, INT8_MAX)


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round a float to the nearest integer, ties away from zero (used at generation time)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
