"""Float :class:`Model` -> :class:`QuantizedModel` (see docs/quantization.md).

Besides choosing scales, this is where the integer ranges are proved: for every
row the worst-case accumulator and requantisation sums are bounded from the
actual integer weights, and a model whose arithmetic could overflow is refused
instead of being allowed to wrap on a target.
"""

from __future__ import annotations

import math

import numpy as np

from .. import __version__
from ..errors import EdgeGruError
from ..model import GRULayer, Head, Model
from .calibrate import Ranges
from .fixedpoint import INT32_MAX, round_half_away
from .qmodel import (
    STATE_BITS,
    InputQuantisation,
    QuantizedHead,
    QuantizedLayer,
    QuantizedModel,
)

MAX_MULTIPLIER = 2**31 - 1
MAX_SHIFT = 62
MIN_SHIFT = 16
MIN_PRE_FRAC, MAX_PRE_FRAC = 11, 15  # pre-activations span at most ±16, at least ±1
INT64_LIMIT = 2**63 - 1


def row_scales(w: np.ndarray) -> np.ndarray:
    """Symmetric int8 scale per output row (last axis is the row); 1.0 for an all-zero row."""
    peak = np.abs(w.astype(np.float64)).max(axis=-1)
    return np.where(peak > 0, peak / 127.0, 1.0)


def to_int8(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip(round_half_away(w / scale), -127, 127).astype(np.int8)


def pre_frac_bits(peak: float) -> int:
    """Fractional bits of a pre-activation format that holds ±peak (Q(15-F).F)."""
    int_bits = 0 if peak <= 1.0 else math.ceil(math.log2(peak))
    return int(min(max(15 - int_bits, MIN_PRE_FRAC), MAX_PRE_FRAC))


def quantize_input(model: Model, lo: float, hi: float) -> InputQuantisation:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-6
    scale = (hi - lo) / 255.0
    zero_point = int(np.clip(round_half_away(-128 - lo / scale), -128, 127))
    d = model.input_size
    mean = np.zeros(d) if model.normalisation is None else model.normalisation.mean.astype(np.float64)
    std = np.ones(d) if model.normalisation is None else model.normalisation.std.astype(np.float64)
    return InputQuantisation(
        scale=scale,
        zero_point=zero_point,
        scale_mul=(1.0 / (std * scale)).astype(np.float32),
        offset=(-mean / (std * scale) + zero_point).astype(np.float32),
    )


def _choose_shift(real_mults: np.ndarray, real_bias: np.ndarray, where: str) -> int:
    """Largest shift that keeps every multiplier below 2^31 and every bias term below 2^61.

    Multipliers then carry as many bits as the widest row allows; a shift below 16
    would leave them too coarse to mean anything, so such a layer is refused.
    """
    peak_mult = float(real_mults.max())
    peak_bias = float(np.abs(real_bias).max())
    shift = MAX_SHIFT
    while shift >= MIN_SHIFT and (
        peak_mult * 2.0**shift > MAX_MULTIPLIER or peak_bias * 2.0**shift > 2.0**61
    ):
        shift -= 1
    if shift < MIN_SHIFT:
        raise EdgeGruError(
            f"{where}: weights or biases too large for int32 multipliers "
            f"(peak multiplier {peak_mult:.3g}, peak bias {peak_bias:.3g} pre-activation units)"
        )
    return shift


def quantize_layer(
    layer: GRULayer,
    variant: str,
    index: int,
    input_scale: float,
    input_zero_point: int,
    input_peak: int,
    preact_peaks: np.ndarray,
) -> QuantizedLayer:
    """Quantise one layer; ``input_peak`` bounds |input value| (128 for int8, 32768 for Q0.15)."""
    wx_scale, wh_scale = row_scales(layer.w_x), row_scales(layer.w_h)
    wx, wh = to_int8(layer.w_x, wx_scale[..., None]), to_int8(layer.w_h, wh_scale[..., None])
    hidden = layer.hidden_size
    mult_x = np.zeros((3, hidden), np.int64)
    mult_h = np.zeros((3, hidden), np.int64)
    bias = np.zeros((3, hidden), np.int64)
    bias_hn = np.zeros(hidden, np.int64)
    shifts = np.zeros(3, np.int64)
    fracs = np.array([pre_frac_bits(p) for p in preact_peaks], np.int64)
    split_n = variant == "reset_after"
    for g in range(3):
        unit = 2.0 ** fracs[g]  # real value 1.0 in pre-activation LSBs
        real_mx = wx_scale[g] * input_scale * unit
        real_mh = wh_scale[g] * 2.0**-15 * unit
        b_x, b_h = layer.b_x[g].astype(np.float64), layer.b_h[g].astype(np.float64)
        real_b = np.abs(b_x) + np.abs(b_h)
        shift = _choose_shift(
            np.concatenate([real_mx, real_mh]), real_b * unit, f"layer {index} gate {'rzn'[g]}"
        )
        rowsum = wx[g].astype(np.int64).sum(axis=1)
        mx = round_half_away(real_mx * 2.0**shift)
        mh = round_half_away(real_mh * 2.0**shift)
        both = 2.0 ** (fracs[g] + shift)
        if g == 2 and split_n:
            bias[g] = round_half_away(b_x * both) - input_zero_point * rowsum * mx
            bias_hn[:] = round_half_away(b_h * both)
        else:
            bias[g] = round_half_away((b_x + b_h) * both) - input_zero_point * rowsum * mx
        mult_x[g], mult_h[g], shifts[g] = mx, mh, shift
        _check_bounds(index, g, wx[g], wh[g], mx, mh, bias[g], bias_hn, shift, input_peak, split_n)
    return QuantizedLayer(
        wx, wh, mult_x, mult_h, bias, bias_hn, shifts, fracs, wx_scale, wh_scale, input_scale
    )


def _check_bounds(
    index: int,
    gate: int,
    wx: np.ndarray,
    wh: np.ndarray,
    mx: np.ndarray,
    mh: np.ndarray,
    bias: np.ndarray,
    bias_hn: np.ndarray,
    shift: int,
    input_peak: int,
    split_n: bool,
) -> None:
    """Refuse a layer whose worst case could overflow int32 accumulators or int64 sums."""
    where = f"layer {index} gate {'rzn'[gate]}"
    acc_x = np.abs(wx.astype(np.int64)).sum(axis=1) * input_peak
    acc_h = np.abs(wh.astype(np.int64)).sum(axis=1) * 32768
    if acc_x.max() > INT32_MAX or acc_h.max() > INT32_MAX:
        raise EdgeGruError(f"{where}: a dot product could overflow its int32 accumulator")
    # Python ints: these bounds may exceed int64 by design.
    for j in range(len(mx)):
        x_part = abs(int(bias[j])) + int(acc_x[j]) * int(mx[j])
        h_part = int(acc_h[j]) * int(mh[j])
        if split_n and gate == 2:
            h_part += abs(int(bias_hn[j]))
            too_big = max(x_part, h_part) + (1 << shift) > INT64_LIMIT
            too_big |= (x_part >> shift) + (h_part >> shift) + 2 > INT32_MAX
        else:
            too_big = x_part + h_part + (1 << shift) > INT64_LIMIT
        if too_big:
            raise EdgeGruError(f"{where} unit {j}: requantisation sum could overflow")


def quantize_head(head: Head) -> QuantizedHead:
    peak = float(np.abs(head.weight).max())
    scale = peak / 127.0 if peak > 0 else 1.0
    weight = to_int8(head.weight, scale)
    bias = round_half_away(head.bias.astype(np.float64) / (scale * 2.0**-15))
    worst = np.abs(bias) + np.abs(weight.astype(np.int64)).sum(axis=1) * 32768
    if worst.max() > INT32_MAX:
        raise EdgeGruError("head: a logit could overflow int32 (bias too large for the weights' scale)")
    return QuantizedHead(head.kind, weight, bias.astype(np.int32), scale, head.class_names)


def quantize(model: Model, ranges: Ranges, state_bits: int = 16) -> QuantizedModel:
    """Quantise ``model`` with calibrated ``ranges`` (from :func:`calibrate`)."""
    if state_bits not in STATE_BITS:
        raise EdgeGruError(f"state bits {state_bits}: expected 16 (Q0.15) or 8 (Q0.7)")
    if len(ranges.preact) != len(model.layers):
        raise EdgeGruError("calibration ranges do not match the model's layers")
    inq = quantize_input(model, ranges.input_lo, ranges.input_hi)
    layers = []
    for k, layer in enumerate(model.layers):
        first = k == 0
        layers.append(
            quantize_layer(
                layer,
                model.variant,
                k,
                input_scale=inq.scale if first else 2.0**-15,
                input_zero_point=inq.zero_point if first else 0,
                input_peak=128 if first else 32768,
                preact_peaks=ranges.preact[k],
            )
        )
    head = quantize_head(model.head) if model.head is not None else None
    meta = {
        "source_model": model.metadata,
        "input_range": [ranges.input_lo, ranges.input_hi],
        "edgegru_version": __version__,
    }
    return QuantizedModel(model.variant, state_bits, inq, layers, head, meta)
