"""The integer reference: the oracle that every target must match bit for bit.

It follows docs/quantization.md step by step, vectorised over the batch, with the
operations named as there and in the generated C (``gate_pre``, ``blend``,
``state_from_q15``, and those of :mod:`~edgegru.quant.fixedpoint` and
:mod:`~edgegru.quant.activations`). Values
are held in int64 NumPy arrays; the quantiser has proved per model that no
intermediate leaves the range the C code computes it in (int32 accumulators and
pre-activations), so int64 here is exact, not wider.

Matrix products are computed with float64 BLAS on integer-valued operands: each
product is below 2^22 and each sum below 2^31, far inside float64's 2^53 exact
range, so the result is the exact integer whatever the summation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.nn.float_reference import last_valid
from edgegru.quant.activations import sigmoid_q15, tanh_q15
from edgegru.quant.fixedpoint import INT8_MAX, INT8_MIN, mul_high_add, mul_r_add, rshift_round, saturate8
from edgegru.quant.qmodel import InputQuantisation, QuantizedHead, QuantizedLayer, QuantizedModel

R, Z, N = 0, 1, 2


def matvec(weights: np.ndarray, act: np.ndarray) -> np.ndarray:
    """acc[b, j] = sum_k weights[j, k] * act[b, k], exactly (see module docstring)."""
    return np.rint(act.astype(np.float64) @ weights.astype(np.float64).T).astype(np.int64)


def quantize_input(inq: InputQuantisation, x: np.ndarray) -> np.ndarray:
    """Float inputs (..., D) -> int8 values, exactly as the C float entry point does it.

    float32 arithmetic, one operation at a time: t = x * scale_mul; t = t + offset;
    u = t + copysign(0.5, t); then saturate to [-128, 127] and truncate. NaN maps to
    the zero point.
    """
    x = np.asarray(x, dtype=np.float32)
    t = x * inq.scale_mul
    t = t + inq.offset
    u = t + np.where(t >= 0, np.float32(0.5), np.float32(-0.5))
    nan = np.isnan(u)
    u = np.where(nan, np.float32(0), u)
    q = np.trunc(np.clip(u, np.float32(INT8_MIN), np.float32(INT8_MAX))).astype(np.int64)
    return np.where(nan, inq.zero_point, q)


def state_to_q15(h: np.ndarray, state_bits: int) -> np.ndarray:
    """The Q0.15 view of a stored state: int16 as is, int8 shifted left by 8."""
    return h if state_bits == 16 else h << 8


def state_from_q15(h15: np.ndarray, state_bits: int) -> np.ndarray:
    """The state stored for a new Q0.15 value: int16 as is, int8 rounded and saturated."""
    return h15 if state_bits == 16 else saturate8(rshift_round(h15, 8))


def gate_pre(
    bias: np.ndarray, acc_x: np.ndarray, mult_x: np.ndarray, acc_h: np.ndarray, mult_h: np.ndarray
) -> np.ndarray:
    """A gate's pre-activation (12 fractional bits) from its two accumulators."""
    return mul_high_add(mul_high_add(bias, acc_x, mult_x), acc_h, mult_h)


def blend(z: np.ndarray, h15: np.ndarray, n: np.ndarray) -> np.ndarray:
    """h' = n + z * (h - n), all Q0.15: z*h + (1-z)*n, between h and n (so no saturation)."""
    return n + rshift_round(z * (h15 - n), 15)


def layer_step(
    layer: QuantizedLayer, variant: str, state_bits: int, act: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """One step of one layer for a batch.

    act: (B, K) layer input as int16 values (layer 0's int8 inputs times 256, Q0.15
    otherwise); h: (B, H) stored state (int16 or int8 values). Returns the new state.
    """
    h15 = state_to_q15(h, state_bits)
    acc_x = [matvec(layer.wx[g], act) for g in (R, Z, N)]
    bias, mult_x, mult_h = layer.bias, layer.mult_x, layer.mult_h
    r = sigmoid_q15(gate_pre(bias[R], acc_x[R], mult_x[R], matvec(layer.wh[R], h15), mult_h[R]))
    z = sigmoid_q15(gate_pre(bias[Z], acc_x[Z], mult_x[Z], matvec(layer.wh[Z], h15), mult_h[Z]))
    if variant == "reset_before":
        reset_h = rshift_round(r * h15, 15)
        pre_n = gate_pre(bias[N], acc_x[N], mult_x[N], matvec(layer.wh[N], reset_h), mult_h[N])
    else:
        rec_n = mul_high_add(layer.bias_hn, matvec(layer.wh[N], h15), mult_h[N])  # 13 fractional bits
        pre_n = mul_r_add(mul_high_add(bias[N], acc_x[N], mult_x[N]), rec_n, r)
    n = tanh_q15(pre_n)
    return state_from_q15(blend(z, h15, n), state_bits)


def head_logits(head: QuantizedHead, h15: np.ndarray) -> np.ndarray:
    """int32 logits = bias + W h15 (no requantisation: one scale for all outputs)."""
    return head.bias.astype(np.int64) + matvec(head.weight, h15)


@dataclass
class IntTrace:
    """Every stored state (B, T, H_k) per layer, and the head's logits (B, T, C)."""

    states: list[np.ndarray]
    logits: np.ndarray | None


def run(qm: QuantizedModel, xq: np.ndarray, initial: list[np.ndarray] | None = None) -> IntTrace:
    """Run int8 inputs xq (B, T, D) (or (T, D)) through the model."""
    xq = np.asarray(xq, dtype=np.int64)
    if xq.ndim == 2:
        xq = xq[None]
    batch, steps, _ = xq.shape
    states = [
        np.zeros((batch, h), np.int64) if initial is None else np.asarray(initial[k], np.int64)
        for k, h in enumerate(qm.hidden_sizes)
    ]
    trace = [np.zeros((batch, steps, h), np.int64) for h in qm.hidden_sizes]
    for t in range(steps):
        act = xq[:, t] << 8
        for k, layer in enumerate(qm.layers):
            states[k] = layer_step(layer, qm.variant, qm.state_bits, act, states[k])
            trace[k][:, t] = states[k]
            act = state_to_q15(states[k], qm.state_bits)
    logits = None
    if qm.head is not None:
        logits = head_logits(qm.head, state_to_q15(trace[-1], qm.state_bits))
    return IntTrace(trace, logits)


def predict(qm: QuantizedModel, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Per-sequence output from float inputs: class index, or dequantised regression values.

    Without a head, the last layer's state in real units.
    """
    trace = run(qm, quantize_input(qm.input, x))
    if qm.head is None:
        return last_valid(trace.states[-1], lengths) / 2.0 ** (qm.state_bits - 1)
    return head_result(qm.head, last_valid(trace.logits, lengths))


def head_result(head: QuantizedHead, logits: np.ndarray) -> np.ndarray:
    """What a head's int32 logits (..., C) mean: the class index, or the regression values."""
    if head.kind == "classification":
        return logits.argmax(axis=-1)
    return logits * head.logit_scale
