"""Where the weights go: the two C layouts of a layer's int8 matrices, as NumPy transforms.

* ``rows`` (``--target c99``): for hosts. Each matrix's rows (gate-major) come in tiles
  of LANE_TILE rows; within a tile, column pair by column pair, each row's two weights side
  by side. A vector of int32 lanes then holds whole rows: one broadcast pair of inputs
  multiplies and adds into every row of the tile at once (pmaddwd, vpdpwssd), so no row
  needs a horizontal sum (see :func:`lane_tiles`). Builds for aarch64 cores with the
  dot-product extension store the same bytes with each row's four weights side by side
  instead (see :func:`quad_tiles`); the weights header holds one order or the other.
* ``interleaved`` (``--target cortex-m``): for microcontrollers. Unit by unit, the rows of
  the gates computed together are interleaved in blocks of 4 columns, so that one
  activation load serves several rows and, on cores with the DSP extension, SXTB16 +
  SMLAD/SMLALD consume the words directly (see :func:`interleave`).

Both hold the same integers and give the same bits (integer sums are exact), which the
verification proves on every target. Nothing here knows C: :mod:`edgegru.codegen.context`
turns these arrays into the templates' context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.quant.activations import SIGMOID_TABLE

LAYOUTS = ("rows", "interleaved")
LANE_TILE = 32  # rows layout: rows per tile, the accumulators a kernel keeps in registers (2 AVX-512 vectors)


def padded_rows(n_rows: int) -> int:
    """Rows of a matrix as the rows layout stores them: whole tiles, zero rows completing the last."""
    return -(-n_rows // LANE_TILE) * LANE_TILE


def lane_tiles(rows: np.ndarray) -> np.ndarray:
    """(R, K) int8 rows -> the rows layout's flat int8 array: tile, column pair, row, column.

    Tile t holds rows 32t..32t+31; for each pair of columns (2c, 2c+1) its 64 bytes hold
    each row's two weights side by side, which is what pmaddwd (and vpdpwssd) multiplies by
    a broadcast pair of int16 inputs to give one int32 lane per row. Zero rows complete the
    last tile and a zero column an odd K; their products are zero or never read.
    """
    n_rows, n_columns = rows.shape
    padded = np.zeros((padded_rows(n_rows), n_columns + n_columns % 2), np.int64)
    padded[:n_rows, :n_columns] = rows
    tiles = padded.reshape(-1, LANE_TILE, padded.shape[1] // 2, 2)  # tile, row, pair, column
    return tiles.transpose(0, 2, 1, 3).ravel()


def quad_tiles(rows: np.ndarray) -> np.ndarray:
    """(R, K) int8 rows -> the rows layout's order for the SDOT kernels: tile, quad, row, column.

    The same bytes as :func:`lane_tiles`, in the same number and the same tiles, reordered
    within each tile: for each quad of columns (4q .. 4q + 3) its 128 bytes hold each row's
    four weights side by side, the 32-bit lane one SDOT multiplies by a quad of activation
    bytes, so the kernel loads them as they are instead of zipping two pairs at run time.
    An odd number of pairs leaves a last pair, stored as in :func:`lane_tiles` (row, column)
    after the quads; the kernel widens it to a quad with zeros. Keeping the length keeps every
    offset into the array (reset_before's candidate rows) the same in both orders.
    """
    n_rows, n_columns = rows.shape
    pairs = (n_columns + 1) // 2
    padded = np.zeros((padded_rows(n_rows), 2 * pairs), np.int64)
    padded[:n_rows, :n_columns] = rows
    tiles = padded.reshape(-1, LANE_TILE, 2 * pairs)  # tile, row, column
    whole = 4 * (pairs // 2)  # the columns in whole quads
    quads = tiles[:, :, :whole].reshape(tiles.shape[0], LANE_TILE, whole // 4, 4).transpose(0, 2, 1, 3)
    last = tiles[:, :, whole:]  # tile, row, the odd pair's two columns (none for an even number)
    return np.concatenate(
        [quads.reshape(tiles.shape[0], -1), last.reshape(tiles.shape[0], -1)], axis=1
    ).ravel()


def low_byte_sums(rows: np.ndarray) -> np.ndarray:
    """(R, K) int8 rows -> 128 · (each row's sum of weights), int64, one per row of :func:`lane_tiles`.

    The SDOT kernels (aarch64 with the dot-product extension) multiply int8 by int8, so they
    split each int16 activation a into a high byte h = a >> 8 and a signed low byte
    l = (a & 0xFF) - 128, a = 256·h + l + 128. A row's sum is then 256·Σw·h + Σw·l + 128·Σw,
    and this is the last term, a constant of the matrix, which the kernels start the low
    bytes' sums from. Zero rows complete the last tile, as in :func:`lane_tiles`.
    """
    sums = np.zeros(padded_rows(rows.shape[0]), np.int64)
    sums[: rows.shape[0]] = 128 * rows.astype(np.int64).sum(axis=1)
    return sums


def sigmoid_pairs() -> np.ndarray:
    """The rows layout's table: entry k = T[k] | T[k + 1] << 16 for k = 0..255.

    One 32-bit load then yields both ends of an interpolation, which lets a host vectorise
    the lookup with one 32-bit gather (there is no 16-bit gather). T is 0..32767, so both
    halves are non-negative.
    """
    table = SIGMOID_TABLE.astype(np.int64)
    return table[:-1] | (table[1:] << 16)


def sigmoid_words() -> np.ndarray:
    """The table's entries 0..255, for kernels that look up T[k] and T[k + 1] as words.

    Entry 256 is left out: it equals entry 255 (both 32767), so such a kernel reads 255 for it
    and a power-of-two table (eight 512-bit vectors) serves every index.
    """
    if SIGMOID_TABLE[256] != SIGMOID_TABLE[255]:
        raise EdgeGruError("sigmoid table: entries 255 and 256 differ, the word table cannot stand for 256")
    return SIGMOID_TABLE[:256]


@dataclass
class Interleaved:
    """One matrix in the interleaved layout (see :func:`interleave`)."""

    dsp: np.ndarray  # int32 words of the DSP kernels
    portable: np.ndarray  # int32 words of the portable kernels
    tail: np.ndarray  # int8: the last K % 4 columns, read by both


def interleave(rows: np.ndarray, what: str = "weights") -> Interleaved:
    """(G, H, K) int8 rows -> the interleaved layout, unit by unit (the dot kernels read it).

    A unit's G·(K//4) words hold its blocks of 4 columns, the G rows of a block side by
    side, one word per row; its G·(K%4) tail bytes the last columns of each row in turn,
    in an int8 array of their own so that no unit needs padding. The words are int32: the
    arrays are then aligned for word loads (LDM; ARMv6-M has no unaligned ones), and, being
    values rather than bytes, mean the same on either byte order.

    * portable: a row's columns 0, 2, 1, 3 in bits 0-7, 8-15, 16-23, 24-31, which is also
      what SXTB16 and SXTB16 ROR #8 need to give the pairs (w0, w1) and (w2, w3);
    * dsp: the same, except that rows 0 and 1 (r and z) share their two words, as the int16
      halves 256·z[c] + r[c] of columns (0, 1) and (2, 3). SXTB16 gives the r pairs, SMLALD
      sums 256·z·a + r·a, and z·a follows exactly. z = -128 with r < 0 does not fit a half:
      such weights (never made by edgegru's quantiser, which stays within -127..127) are
      refused.
    """
    gates, hidden, k = rows.shape
    full = k // 4 * 4
    columns = rows[:, :, :full].astype(np.int64).reshape(gates, hidden, -1, 4)  # gate, unit, block, column
    portable = _pack_bytes(columns[..., [0, 2, 1, 3]])  # gate, unit, block
    dsp = portable.copy()
    if gates >= 2 and full:
        halves = 256 * columns[1] + columns[0]  # 256·z + r: unit, block, column
        if (halves < -32768).any():
            raise EdgeGruError(
                f"{what}: an int8 weight of -128 in the second row of a pair (gate z, or the odd unit's n); "
                "the Cortex-M layout needs weights in -127..127"
            )
        halves &= 0xFFFF
        dsp[0] = halves[..., 0] | halves[..., 1] << 16
        dsp[1] = halves[..., 2] | halves[..., 3] << 16
    tail = rows[:, :, full:].transpose(1, 0, 2).ravel().astype(np.int8)
    return Interleaved(_int32_words(dsp), _int32_words(portable), tail)


def _pack_bytes(values: np.ndarray) -> np.ndarray:
    """int8 values along the last axis (4) -> the 32-bit pattern with them in bits 0-7, ..., 24-31."""
    u = values & 0xFF
    return u[..., 0] | u[..., 1] << 8 | u[..., 2] << 16 | u[..., 3] << 24


def _int32_words(words: np.ndarray) -> np.ndarray:
    """(gate, unit, block) 32-bit patterns -> the int32 values, in the order unit, block, gate."""
    return np.ascontiguousarray(words.transpose(1, 2, 0)).astype(np.uint32).view(np.int32).ravel()


def unit_pairs(rows: np.ndarray) -> np.ndarray:
    """(H, K) rows of one gate -> (2, ceil(H/2), K): units 2i and 2i+1 side by side as two rows.

    The kernels then treat a pair of units like the r and z rows of one (the SMLALD
    pairing); a zero row completes an odd H, and its products are never used.
    """
    if rows.shape[0] % 2:
        rows = np.concatenate([rows, np.zeros((1, rows.shape[1]), rows.dtype)])
    return rows.reshape(-1, 2, rows.shape[1]).transpose(1, 0, 2)
