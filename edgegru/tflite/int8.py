"""int8 quantisation for the TFLite export: calibration plan and weight encoding.

Activations are int8 with one scale and zero point per tensor *role* (``l0.gx``
...), the same at every time step, so that a step model and an unrolled
sequence model quantise identically and agree bit for bit. Ranges come from
running the float graph (``graph.run_numpy``) over the caller's
calibration inputs; a role's range always includes 0 so that zero is exact.

Some parameters are not free, because the int8 kernels or the recurrence fix
them: LOGISTIC outputs 1/256 with zero point -128, TANH outputs 1/128 with zero
point 0, and every hidden state 1/128 with zero point 0 (h lies in (-1, 1); the
state fed back must have the same parameters as the state that came out).
"""

from __future__ import annotations

import numpy as np

from edgegru.tflite.builder import Op, QuantParams
from edgegru.tflite.graph import X_ROLE, StepWeights, run_numpy, state_role

LOGISTIC_QUANT = QuantParams.per_tensor(1.0 / 256.0, -128)
TANH_QUANT = QuantParams.per_tensor(1.0 / 128.0, 0)
STATE_QUANT = QuantParams.per_tensor(1.0 / 128.0, 0)

# Keeps a constant (all-zero) role from getting a zero scale.
MIN_RANGE = 1e-6
INT32_MAX = 2**31 - 1


def params_from_range(lo: float, hi: float) -> QuantParams:
    """Asymmetric int8 parameters covering [lo, hi] (widened to include 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    hi = max(hi, lo + MIN_RANGE)
    scale = float(np.float32((hi - lo) / 255.0))
    zero_point = int(np.clip(np.rint(-128 - lo / scale), -128, 127))
    return QuantParams.per_tensor(scale, zero_point)


def make_plan(weights: StepWeights, x: np.ndarray) -> dict[str, QuantParams]:
    """Quantisation of every activation role from calibration inputs x (N, T, D).

    ``x`` is what the graph's ``x`` input receives (already normalised).
    """
    em, _, _ = run_numpy(weights, x.astype(np.float64))
    plan = {role: params_from_range(lo, hi) for role, (lo, hi) in em.ranges.items()}
    plan[X_ROLE] = params_from_range(float(x.min()), float(x.max()))
    for k in range(len(weights.layers)):
        plan[state_role(k)] = STATE_QUANT
    return plan


def quantize_fc(
    weight: np.ndarray, bias: np.ndarray | None, input_quant: QuantParams
) -> tuple[np.ndarray, QuantParams, np.ndarray | None, QuantParams | None]:
    """int8 symmetric weights and int32 biases (None without a bias) for one FULLY_CONNECTED.

    The weight scale is per tensor: per-channel scales would cost 24 bytes of
    parameters per output channel (a float scale and an int64 zero point, for weight
    and bias), which small models cannot afford (docs/tflite.md measures what one
    scale for several gates costs). The bias scale must be input_scale*weight_scale
    (the kernel adds the bias to its int32 accumulator as is); scales are rounded
    to float32 first because that is what the kernel reads back from the file.
    """
    absmax = float(np.abs(weight).max())
    w_scale = float(np.float32(absmax / 127.0)) if absmax > 0 else 1.0
    q_weight = np.clip(np.rint(weight / w_scale), -127, 127).astype(np.int8)
    w_quant = QuantParams.per_tensor(w_scale, 0)
    if bias is None:
        return q_weight, w_quant, None, None
    b_scale = float(np.float32(np.float32(input_quant.scale[0]) * np.float32(w_scale)))
    q_bias = np.clip(np.rint(bias / b_scale), -INT32_MAX, INT32_MAX).astype(np.int32)
    return q_weight, w_quant, q_bias, QuantParams.per_tensor(b_scale, 0)


def binary_op_version(
    code: int, a: QuantParams | None, b: QuantParams | None, out: QuantParams | None
) -> int:
    """The int8 operator version TFLite's versioning rules give ADD, SUB and MUL.

    MUL needs version 3 when its rescale factor in1*in2/out is >= 1.
    """
    if code == Op.MUL and a and b and out and a.scale[0] * b.scale[0] / out.scale[0] >= 1.0:
        return 3
    return 2
