"""The interleaved layout decodes to the rows it was made from (what the kernels rely on)."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.codegen.layout import interleave
from edgegru.core.errors import EdgeGruError


def _signed(word: int, shift: int, bits: int) -> int:
    v = (word >> shift) & ((1 << bits) - 1)
    return v - (v >> (bits - 1) << bits)


@pytest.mark.parametrize(("gates", "k"), [(3, 11), (3, 4), (3, 3), (2, 13), (2, 8), (1, 7)])
def test_words_and_tail_hold_the_rows(gates, k):
    rng = np.random.default_rng(gates * 100 + k)
    hidden, n_blocks, tail = 5, k // 4, k % 4
    rows = rng.integers(-127, 128, (gates, hidden, k)).astype(np.int8)
    rows[..., 0] = -127
    rows[0, 0, 1] = -128  # fits: only z's -128 does not
    il = interleave(rows)
    assert il.portable.dtype == np.int32 and il.portable.size == gates * hidden * n_blocks
    assert il.tail.dtype == np.int8 and il.tail.size == gates * hidden * tail
    portable = il.portable.reshape(hidden, n_blocks, gates)
    dsp = il.dsp.reshape(hidden, n_blocks, gates)
    a = rng.integers(-32768, 32768, k)
    for j in range(hidden):
        for g in range(gates):
            for b in range(n_blocks):
                w0, w2, w1, w3 = (_signed(int(portable[j, b, g]), s, 8) for s in (0, 8, 16, 24))
                assert [w0, w1, w2, w3] == rows[g, j, 4 * b : 4 * b + 4].tolist()
            assert il.tail.reshape(hidden, gates, tail)[j, g].tolist() == rows[g, j, 4 * n_blocks :].tolist()
        if gates == 1:
            continue
        # the DSP kernels' arithmetic: SXTB16 for r, SMLALD for 256·z + r, then z = (s - r) / 256
        r = s = 0
        for b in range(n_blocks):
            for h in (0, 1):
                word, x = int(dsp[j, b, h]), a[4 * b + 2 * h : 4 * b + 2 * h + 2]
                s += _signed(word, 0, 16) * int(x[0]) + _signed(word, 16, 16) * int(x[1])
                r += _signed(word, 0, 8) * int(x[0]) + _signed(word, 16, 8) * int(x[1])
        blocks = a[: 4 * n_blocks].astype(np.int64)
        assert r == rows[0, j, : 4 * n_blocks].astype(np.int64) @ blocks
        assert s - r == 256 * (rows[1, j, : 4 * n_blocks].astype(np.int64) @ blocks)
        if gates == 3:
            assert (dsp[j, :, 2] == portable[j, :, 2]).all()  # n is stored as in the portable words


def test_a_z_weight_of_minus_128_is_refused():
    rows = np.zeros((3, 2, 4), np.int8)
    rows[1, 1, 2], rows[0, 1, 2] = -128, -1  # 256·(-128) - 1 does not fit an int16
    with pytest.raises(
        EdgeGruError, match=r"layer 0 input weights: an int8 weight of -128 in the second row of a pair"
    ):
        interleave(rows, "layer 0 input weights")
