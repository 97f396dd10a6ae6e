"""Quantisation-aware training: the float quantisers against the integer ones, straight-through
gradients, and a fine-tuned model that quantises and runs bit-exact in C."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from edgegru.cli.main import main
from edgegru.data import builtin_dataset
from edgegru.data.frames import model_input
from edgegru.nn import float_reference as fref
from edgegru.nn.synthetic import random_model
from edgegru.nn.train import TrainConfig, train
from edgegru.quant import calibrate, quantize
from edgegru.quant import fake_quant as fq
from edgegru.quant import integer_reference as iref
from edgegru.quant.activations import sigmoid_q15, tanh_q15
from edgegru.quant.fixedpoint import mul_high_add, mul_r_add, rshift_round
from edgegru.quant.qat import Objective, QatConfig, qat
from edgegru.targets.host import verify_host
from tests.helpers import assert_same_model

INT32 = st.integers(-(2**31), 2**31 - 1)
Q15 = st.integers(-(2**15), 2**15 - 1)
GATE = st.integers(0, 2**15 - 1)


def t64(values: object) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def columns(rows: list[tuple[int, ...]]) -> list[np.ndarray]:
    return [np.array(v, dtype=np.int64) for v in zip(*rows, strict=True)]


@given(st.lists(st.tuples(st.integers(-(2**24), 2**24), INT32, st.integers(0, 2**31 - 1)), min_size=1))
def test_mul_high_add_matches_the_reference(rows):
    b, a, m = columns(rows)
    assert np.array_equal(fq.mul_high_add(t64(b), t64(a), t64(m)).numpy(), mul_high_add(b, a, m))


@given(st.lists(st.tuples(st.integers(-(2**24), 2**24), INT32, GATE), min_size=1))
def test_mul_r_add_matches_the_reference(rows):
    b, v, r = columns(rows)
    assert np.array_equal(fq.mul_r_add(t64(b), t64(v), t64(r)).numpy(), mul_r_add(b, v, r))


@given(st.lists(INT32, min_size=1, max_size=64))
def test_tables_match_the_integer_activations(pre):
    pre = np.array([*pre, 0, -1, 1, 2**31 - 1, -(2**31), 4095, -4096], dtype=np.int64)
    assert np.array_equal(fq.sigmoid_q15(t64(pre)).numpy(), sigmoid_q15(pre))
    assert np.array_equal(fq.tanh_q15(t64(pre)).numpy(), tanh_q15(pre))


def test_tables_match_over_every_pre_activation_in_range():
    pre = np.arange(-(20 << 12), (20 << 12) + 1, dtype=np.int64)
    assert np.array_equal(fq.sigmoid_q15(t64(pre)).numpy(), sigmoid_q15(pre))
    assert np.array_equal(fq.tanh_q15(t64(pre)).numpy(), tanh_q15(pre))


@given(st.lists(st.tuples(GATE, Q15, Q15), min_size=1, max_size=64))
def test_state_arithmetic_matches_the_reference(rows):
    z, h, n = columns(rows)
    h15 = iref.blend(z, h, n)
    assert np.array_equal(fq.blend(t64(z), t64(h), t64(n)).numpy(), h15)
    assert np.array_equal(fq.rshift_round(t64(z * h), 15).numpy(), rshift_round(z * h, 15))
    for bits in (16, 8):
        stored = iref.state_to_q15(iref.state_from_q15(h15, bits), bits)
        assert np.array_equal(fq.state_from_q15(t64(h15), bits).numpy(), stored)


def test_straight_through_value_and_gradient():
    v = torch.linspace(-0.9, 0.9, 24, dtype=torch.float64, requires_grad=True)
    out = fq.straight_through(v * 3, torch.round(v.detach() * 10))
    assert torch.equal(out.detach(), torch.round(v.detach() * 10))
    out.sum().backward()
    assert torch.equal(v.grad, torch.full_like(v, 3.0))


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("bits", [16, 8])
def test_forward_is_the_integer_reference_and_gradients_flow(variant, bits):
    """Logits equal the integer reference's bit for bit (times the logit scale), on a random
    model with saturating weights and sequences of mixed length, and every weight gets a
    gradient (straight through the rounding)."""
    rng = np.random.default_rng(1)
    x = rng.normal(scale=2.0, size=(48, 40, 5))
    lengths = rng.integers(5, 41, 48)
    model = random_model(5, [12, 6], variant, "classification", output_size=4, seed=3, scale=2.0)
    qm = quantize(model, calibrate(model, x, lengths, "percentile", 99.0), bits)
    xq = iref.quantize_input(qm.input, x)
    net = fq.FakeQuantGRU(model, bits, qm.input)
    out, states = net(torch.as_tensor(xq), torch.as_tensor(lengths))
    trace = iref.run(qm, xq)
    assert np.array_equal(out.detach().numpy(), fref.last_valid(trace.logits, lengths) * qm.head.logit_scale)
    for mine, want in zip(states, trace.states, strict=True):
        steps = mine.shape[1]
        assert np.array_equal(mine.detach().numpy() * 2.0 ** (bits - 1), want[:, :steps])
    out.logsumexp(dim=1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("task", "kind"), [("gestures", "classification"), ("adding", "regression")])
def test_objective_is_the_same_in_training_and_on_the_integer_reference(task, kind):
    """The loss trained on (torch) and the one each epoch is kept by (integer reference) agree."""
    data = builtin_dataset(task, 24, seed=2)
    model = random_model(data.input_size, [6], "reset_before", kind, output_size=data.output_size, seed=5)
    qm = quantize(model, calibrate(model, data.x, data.lengths), 8)
    objective = Objective(model, data, state_weight=1000.0)
    net = fq.FakeQuantGRU(model, 8, qm.input)
    xq = torch.as_tensor(iref.quantize_input(qm.input, data.x))
    trained = objective(*net(xq, torch.as_tensor(data.lengths)), torch.arange(data.n))
    assert float(trained.detach()) == pytest.approx(objective.integer(qm, data), rel=1e-9)
    assert objective.integer(qm, data) > Objective(model, data, state_weight=0.0).integer(qm, data)


@pytest.fixture(scope="module")
def gestures():
    """A small float model trained briefly on the built-in gestures task, and its data."""
    data = builtin_dataset("gestures", 120, seed=0)
    model = train(data, TrainConfig(hidden=10, epochs=4, seed=0), progress=False).model
    return data, model


@pytest.mark.parametrize("bits", [16, 8])
def test_qat_model_quantises_and_is_bit_exact_in_c(gestures, bits):
    data, model = gestures
    ranges = calibrate(model, data.x, data.lengths, "percentile", 99.9)
    result = qat(model, data, ranges, bits, QatConfig(epochs=3, seed=1))
    assert len(result.history) == 4
    assert result.history[result.best_epoch] == min(result.history)
    assert result.best_epoch > 0  # fine-tuning a briefly trained model lowers the int8 loss
    again = quantize(result.model, ranges, bits)  # the normal path, same integers
    for a, b in zip(again.layers, result.quantized.layers, strict=True):
        for name in a.ARRAYS:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert result.quantized.metadata["source_model"]["qat"]["kept_epoch"] == result.best_epoch
    assert "qat" not in model.metadata  # the model given is left as it was
    frames = model_input(data, model.frame, model.input_size)  # the harness takes steps, that is frames
    report = verify_host(result.quantized, frames.x[:24].astype(np.float32))
    assert report.ok, report.summary()


def test_qat_keeps_the_model_when_no_epoch_is_better(gestures):
    """A learning rate far too large only makes the int8 loss worse: epoch 0 is kept."""
    data, model = gestures
    ranges = calibrate(model, data.x, data.lengths)
    result = qat(model, data, ranges, 16, QatConfig(epochs=1, lr=3.0))
    assert result.best_epoch == 0 and result.history[1] > result.history[0]
    assert_same_model(result.model, model)
    # epoch 0 is plain quantisation: the same integers, and only the QAT result says it was tuned
    plain = quantize(model, ranges, 16)
    assert result.plain.fingerprint() == result.quantized.fingerprint() == plain.fingerprint()
    assert result.quantized.metadata["source_model"]["qat"]["kept_epoch"] == 0
    assert "qat" not in result.plain.metadata["source_model"]


def _bad(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegru: error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--qat", "0"], "--qat 0"),
        (["--qat", "-2"], "--qat -2"),
        (["--qat", "2", "--qat-lr", "0"], "--qat-lr 0"),
        (["--qat", "2", "--qat-lr", "nan"], "--qat-lr nan"),
        (["--qat", "2", "--qat-state-weight", "-1"], "--qat-state-weight -1"),
        (["--qat", "2", "--qat-state-weight", "inf"], "--qat-state-weight inf"),
        (["--qat-lr", "0.01"], "--qat-lr applies with --qat"),
        (["--qat-state-weight", "5"], "--qat-state-weight applies with --qat"),
    ],
)
def test_bad_qat_flags_give_one_line(tmp_path, capsys, gestures, flags, named):
    path = tmp_path / "m.egru"
    gestures[1].save(path)
    out = tmp_path / "q.egru"
    err = _bad(
        capsys, "quantize", str(path), "--builtin", "gestures", "--samples", "40", *flags, "-o", str(out)
    )
    assert named in err
    assert not out.exists()


def test_qat_needs_a_head(tmp_path, capsys):
    path = tmp_path / "m.egru"
    random_model(2, [3], "reset_after").save(path)
    out = tmp_path / "q.egru"
    err = _bad(
        capsys, "quantize", str(path), "--builtin", "adding", "--samples", "20", "--qat", "1", "-o", str(out)
    )
    assert "--qat: the model has no head" in err
    assert not out.exists()


def test_quantize_qat_from_the_cli(tmp_path, capsys, gestures):
    path = tmp_path / "m.egru"
    gestures[1].save(path)
    out = tmp_path / "q.egru"
    args = ["quantize", str(path), "--builtin", "gestures", "--samples", "60", "--qat", "2", "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "qat: kept epoch" in printed and "without --qat: int8" in printed and out.exists()
