"""Quantisation: rounding, activations, bounds, and closeness to the float model."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.nn import float_reference as fref
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant import integer_reference as iref
from edgegru.quant.activations import PRE_FRAC, SIGMOID_TABLE, max_error_lsb, sigmoid_q15, tanh_q15
from edgegru.quant.fixedpoint import mul_high_add, mul_r_add, rshift_round
from tests.helpers import ROOT, make_qmodel

DOC = ROOT / "docs" / "quantization.md"


def test_rshift_round_is_half_up():
    v = np.array([5, 6, 7, -5, -6, -7, 4, -4, 0, 1, -1, 2, -2, 3, -3])
    # divide by 4: 1.25 1.5 1.75 -1.25 -1.5 -1.75 1 -1 0 .25 -.25 .5 -.5 .75 -.75
    want = [1, 2, 2, -1, -1, -2, 1, -1, 0, 0, 0, 1, 0, 1, -1]
    assert rshift_round(v, 2).tolist() == want


def test_mul_high_add_is_smmlar():
    """b + ((a * m + 2^31) >> 32) over the whole int32 range, against Python's exact integers."""
    rng = np.random.default_rng(0)
    ends = [-(2**31), -1, 0, 1, 2**31 - 1]
    a = np.concatenate([rng.integers(-(2**31), 2**31, 20000), np.repeat(ends, 5)])
    m = np.concatenate([rng.integers(-(2**31), 2**31, 20000), np.tile(ends, 5)])
    b = rng.integers(-(2**20), 2**20, a.size)
    want = [int(c) + ((int(x) * int(y) + 2**31) >> 32) for c, x, y in zip(b, a, m, strict=True)]
    assert mul_high_add(b, a, m).tolist() == want


def test_mul_r_add_is_smlawb():
    """b + ((v * r) >> 16) for int32 v and Q0.15 r, against Python's exact integers."""
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.integers(-(2**31), 2**31, 20000), [-(2**31), -1, 0, 1, 2**31 - 1]])
    r = rng.integers(0, 2**15, v.size)
    b = rng.integers(-(2**20), 2**20, v.size)
    want = [int(c) + ((int(x) * int(y)) >> 16) for c, x, y in zip(b, v, r, strict=True)]
    assert mul_r_add(b, v, r).tolist() == want


def test_activations_limits_and_monotony():
    v = np.arange(-(20 << PRE_FRAC), 20 << PRE_FRAC)
    t, s = tanh_q15(v), sigmoid_q15(v)
    assert s.min() == 0 and s.max() == 32767 and t.min() == -32768 and t.max() == 32766
    assert np.all(np.diff(t) >= 0) and np.all(np.diff(s) >= 0)
    assert sigmoid_q15(0) == 16384 and tanh_q15(0) == 0
    extremes = np.array([-(2**31), 2**31 - 1])  # clamped indices give the end values
    assert sigmoid_q15(extremes).tolist() == [0, 32767] and tanh_q15(extremes).tolist() == [-32768, 32766]
    assert SIGMOID_TABLE.size == 257 and SIGMOID_TABLE[128] == 16384
    assert SIGMOID_TABLE[0] == SIGMOID_TABLE[1] == 0 and SIGMOID_TABLE[-1] == SIGMOID_TABLE[-2] == 32767


def test_documented_activation_errors_are_true():
    """docs/quantization.md states each function's max error; recompute and compare."""
    text = DOC.read_text()
    found = dict(re.findall(r"^\| (sigmoid|tanh) max error \| ([\d.]+) LSB \|", text, re.M))
    assert set(found) == {"sigmoid", "tanh"}, "the activation error table in docs/quantization.md is missing"
    sig, tanh = max_error_lsb()
    assert (f"{sig:.2f}", f"{tanh:.2f}") == (found["sigmoid"], found["tanh"])


# The operations of docs/quantization.md: each one is a function of that name in the integer
# reference and in the generated C.
OPERATIONS = (
    "rshift_round", "mul_high_add", "mul_r_add", "saturate8", "state_to_q15", "state_from_q15",
    "gate_pre", "blend", "table_index", "interpolate", "sigmoid_q15", "tanh_q15",
)  # fmt: skip


@pytest.mark.parametrize("layout", ["rows", "interleaved"])
def test_doc_reference_and_c_name_the_same_operations(layout):
    from edgegru.codegen.render import render
    from edgegru.quant import activations, fixedpoint

    text = DOC.read_text()
    c = render(make_qmodel(5, [6], "reset_after", None, 8), "m", layout).files["m.c"]
    for name in OPERATIONS:
        assert f"{name}(" in text, f"docs/quantization.md does not name {name}"
        assert any(callable(getattr(module, name, None)) for module in (fixedpoint, activations, iref)), name
        assert re.search(rf"^static (inline )?\w+ {name}\(.*\)\n{{", c, re.M), f"the C defines no {name}"


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("state_bits", [16, 8])
def test_integer_reference_tracks_float(variant, state_bits):
    m = random_model(6, [24, 12], variant, "classification", output_size=4, seed=5, scale=1.5)
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
    m.layers[0].b_h[0, 0] = 1e6  # 2^32 pre-activation LSBs: no int32 holds it
    with pytest.raises(EdgeGruError, match="layer 0 gate r unit 0: pre-activation could overflow int32"):
        quantize(m, calibrate(m, np.zeros((2, 5, 2))))
    m = random_model(2, [3], "reset_after")
    m.layers[0].w_h[1, 2, 0] = 600.0  # its row's multiplier would not fit int32
    with pytest.raises(EdgeGruError, match="layer 0: weights too large"):
        quantize(m, calibrate(m, np.zeros((2, 5, 2))))


def test_all_zero_rows_quantise_to_a_zero_multiplier():
    """A pruned unit's all-zero weight row needs no scale: its multiplier is 0, however wide
    the input range (it used to be refused as 'weights too large')."""
    from edgegru.targets.host import verify_host
    from edgegru.targets.verify import random_stimulus

    model = random_model(5, [6], "reset_after", "classification", output_size=3, seed=1)
    model.layers[0].w_x[1, 2, :] = 0.0
    model.layers[0].w_h[0, 4, :] = 0.0
    qm = quantize(model, calibrate(model, np.random.default_rng(0).normal(size=(8, 20, 5)) * 30))
    assert qm.layers[0].mult_x[1, 2] == 0 and qm.layers[0].mult_h[0, 4] == 0
    assert (qm.layers[0].mult_x[0] > 0).all()
    report = verify_host(qm, random_stimulus(qm, 4, 30))
    assert report.ok, report.summary()
