"""Quantisation: rounding, activations, bounds, and closeness to the float model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgegru import reference as fref
from edgegru.errors import EdgeGruError
from edgegru.model import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant import reference as iref
from edgegru.quant.activations import TANH_TABLE, max_error_lsb, sigmoid_q15, tanh_q15
from edgegru.quant.fixedpoint import rshift_round

DOC = Path(__file__).resolve().parents[1] / "docs" / "quantization.md"


def test_rshift_round_is_half_away_from_zero():
    v = np.array([5, 6, 7, -5, -6, -7, 4, -4, 0, 1, -1, 2, -2, 3, -3])
    # divide by 4: 1.25 1.5 1.75 -1.25 -1.5 -1.75 1 -1 0 .25 -.25 .5 -.5 .75 -.75
    want = [1, 2, 2, -1, -2, -2, 1, -1, 0, 0, 0, 1, -1, 1, -1]
    assert rshift_round(v, 2).tolist() == want
    big = np.array([2**62 - 1, -(2**62)], dtype=np.int64)
    assert rshift_round(big, 40).tolist() == [2**22, -(2**22)]


def test_activations_limits_and_symmetry():
    v = np.arange(-32768, 32768)
    for frac in range(11, 16):
        t = tanh_q15(v, frac)
        s = sigmoid_q15(v, frac)
        assert t.min() >= -32767 and t.max() <= 32767
        assert s.min() >= 0 and s.max() <= 32767
        assert np.all(np.diff(t) >= 0) and np.all(np.diff(s) >= 0)  # monotonic
        assert np.array_equal(tanh_q15(-v[1:], frac), -t[1:])  # odd
    assert TANH_TABLE[0] == 0 and TANH_TABLE[-1] == 32767 and TANH_TABLE.size == 193


def test_documented_activation_errors_are_true():
    """docs/quantization.md states each function's max error; recompute and compare."""
    text = DOC.read_text()
    rows = re.findall(r"^\| Q(\d)\.(\d+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
    assert len(rows) == 5, "the activation error table in docs/quantization.md is missing"
    for int_bits, frac, sig_doc, tanh_doc in rows:
        assert int(int_bits) + int(frac) == 15
        sig, tanh = max_error_lsb(int(frac))
        assert f"{sig:.2f}" == sig_doc and f"{tanh:.2f}" == tanh_doc


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("state_bits", [16, 8])
def test_integer_reference_tracks_float(variant, state_bits):
    m = random_model(6, [24, 12], variant, "classification", 4, seed=5, scale=1.5)
    x = np.random.default_rng(2).normal(size=(64, 60, 6))
    qm = quantize(m, calibrate(m, x), state_bits)
    trace = iref.run(qm, iref.quantize_input(qm.input, x))
    ft = fref.forward(m, x)
    for k in range(2):
        err = np.abs(trace.states[k] / 2.0 ** (state_bits - 1) - ft.hidden[k]).max()
        assert err < (0.05 if state_bits == 16 else 0.08), err
    agree = np.mean(iref.predict(qm, x) == fref.predict(m, x))
    assert agree >= 0.95


def test_quantize_input_mirrors_float32():
    qm = quantize(*(lambda m: (m, calibrate(m, np.random.default_rng(0).normal(size=(4, 9, 3)))))(
        random_model(3, [4], "reset_after")))  # fmt: skip
    x = np.array([[0.0, 1e9, -1e9], [np.nan, np.inf, -np.inf]], dtype=np.float32)
    q = iref.quantize_input(qm.input, x)
    assert q[0, 1] == 127 and q[0, 2] == -128
    assert q[1, 0] == qm.input.zero_point and q[1, 1] == 127 and q[1, 2] == -128


def test_calibration_errors():
    m = random_model(3, [4], "reset_after")
    with pytest.raises(EdgeGruError, match=r"expected \(N, T, 3\)"):
        calibrate(m, np.zeros((2, 5, 4)))
    with pytest.raises(EdgeGruError, match="NaN or Inf"):
        calibrate(m, np.full((2, 5, 3), np.nan))
    with pytest.raises(EdgeGruError, match="calibration method"):
        calibrate(m, np.zeros((2, 5, 3)), method="kl")
    with pytest.raises(EdgeGruError, match="state bits 4"):
        quantize(m, calibrate(m, np.zeros((2, 5, 3))), 4)


def test_percentile_narrows_the_input_range():
    m = random_model(1, [4], "reset_after")
    x = np.random.default_rng(0).normal(size=(50, 100, 1))
    x[0, 0, 0] = 40.0  # one outlier
    wide = quantize(m, calibrate(m, x, method="minmax"))
    narrow = quantize(m, calibrate(m, x, method="percentile", percentile=99.9))
    assert narrow.input.scale < wide.input.scale / 4


def test_overflowing_weights_are_refused():
    m = random_model(2, [3], "reset_after")
    m.layers[0].b_h[0, 0] = 1e30  # a bias no int64 term can hold at any useful shift
    with pytest.raises(EdgeGruError, match="layer 0 gate r"):
        quantize(m, calibrate(m, np.zeros((2, 5, 2))))
