"""Float :class:`Model` -> :class:`QuantizedModel` (see docs/quantization.md).

Besides choosing scales, this is where the integer ranges are proved: for every
row the worst-case accumulator and pre-activation sums are bounded from the
actual integer weights, and a model whose arithmetic could overflow is refused
instead of being allowed to wrap on a target.
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..errors import EdgeGruError
from ..model import GRULayer, Head, Model
from .activations import PRE_FRAC
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
PRE_UNIT = 2.0**PRE_FRAC  # a real 1.0 in pre-activation LSBs
ACT_PEAK = 32768  # |activation| bound: Q0.15 states, and layer 0's int8 inputs times 256


def row_scales(w: np.ndarray) -> np.ndarray:
    """Symmetric int8 scale per output row (last axis is the row); 1.0 for an all-zero row."""
    peak = np.abs(w.astype(np.float64)).max(axis=-1)
    return np.where(peak > 0, peak / 127.0, 1.0)


def to_int8(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip(round_half_away(w / scale), -127, 127).astype(np.int8)


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


def _multipliers(real: np.ndarray, where: str) -> np.ndarray:
    """round(real * 2^32) as int32 multipliers of :func:`mul_high`; refuse what does not fit."""
    mult = round_half_away(real * 2.0**32)
    if mult.max() > MAX_MULTIPLIER:
        peak = float(real.max() * 2.0**32 / MAX_MULTIPLIER)
        raise EdgeGruError(
            f"{where}: weights too large for the fixed-point format "
            f"(a row's scale is {peak:.3g} times the largest that fits; expected |weight| < ~250)"
        )
    return mult


def quantize_layer(
    layer: GRULayer, variant: str, index: int, act_scale: float, input_zero_point: int
) -> QuantizedLayer:
    """Quantise one layer whose int16 activations are worth ``act_scale`` each.

    ``input_zero_point`` is layer 0's int8 zero point (its activations are q * 256),
    0 for a stacked layer reading the Q0.15 state below.
    """
    wx_scale, wh_scale = row_scales(layer.w_x), row_scales(layer.w_h)
    wx, wh = to_int8(layer.w_x, wx_scale[..., None]), to_int8(layer.w_h, wh_scale[..., None])
    where = f"layer {index}"
    split_n = variant == "reset_after"
    # reset_after keeps the candidate's recurrent part apart, with one more fractional
    # bit (see the docs), and its bias there instead of in B
    rec_frac = np.array([1.0, 1.0, 2.0 if split_n else 1.0])[:, None]
    rec_bias_in_b = np.array([1.0, 1.0, 0.0 if split_n else 1.0])[:, None]
    # an all-zero row (a pruned unit, say) contributes nothing: multiplier 0, whatever its scale
    mult_x = _multipliers(np.where(wx.any(axis=2), wx_scale * act_scale * PRE_UNIT, 0.0), where)
    mult_h = _multipliers(np.where(wh.any(axis=2), wh_scale * 2.0**-15 * PRE_UNIT * rec_frac, 0.0), where)
    b_x, b_h = layer.b_x.astype(np.float64), layer.b_h.astype(np.float64)
    # the zero point's share of each input product: zp * 256 * row sum, in pre-activation units
    zp_share = input_zero_point * 256.0 * wx.astype(np.float64).sum(axis=2) * mult_x / 2.0**32
    bias = round_half_away((b_x + rec_bias_in_b * b_h) * PRE_UNIT - zp_share)
    bias_hn = round_half_away(b_h[2] * PRE_UNIT * 2) if split_n else np.zeros(layer.hidden_size, np.int64)
    _check_bounds(index, wx, wh, mult_x, mult_h, bias, bias_hn if split_n else None)
    return QuantizedLayer(wx, wh, mult_x, mult_h, bias, bias_hn)


def _check_bounds(
    index: int,
    wx: np.ndarray,
    wh: np.ndarray,
    mult_x: np.ndarray,
    mult_h: np.ndarray,
    bias: np.ndarray,
    bias_hn: np.ndarray | None,
) -> None:
    """Refuse a layer whose worst case could overflow an int32 accumulator or sum.

    Bounds are taken from the actual integer weights: |acc| <= sum|w| * 32768, and
    each requantised part is at most (|acc| * M + 2^31) / 2^32 in magnitude.
    ``bias_hn`` is reset_after's bias of n's recurrent part: that part, scaled by
    r <= 1, adds at most |B_hn| + its product to pre_n.
    """
    acc_x = np.abs(wx.astype(np.int64)).sum(axis=2) * ACT_PEAK
    acc_h = np.abs(wh.astype(np.int64)).sum(axis=2) * ACT_PEAK
    for gate in range(3):
        where = f"layer {index} gate {'rzn'[gate]}"
        if acc_x[gate].max() > INT32_MAX or acc_h[gate].max() > INT32_MAX:
            raise EdgeGruError(f"{where}: a dot product could overflow its int32 accumulator")
        part_x = (acc_x[gate] * mult_x[gate] >> 32) + 1
        part_h = (acc_h[gate] * mult_h[gate] >> 32) + 1
        worst = np.abs(bias[gate]) + part_x + part_h
        if bias_hn is not None and gate == 2:
            worst = worst + np.abs(bias_hn)
        if worst.max() > INT32_MAX:
            raise EdgeGruError(f"{where} unit {int(worst.argmax())}: pre-activation could overflow int32")


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
    """Quantise ``model`` with the calibrated input range (from :func:`calibrate`)."""
    if state_bits not in STATE_BITS:
        raise EdgeGruError(f"state bits {state_bits}: expected 16 (Q0.15) or 8 (Q0.7)")
    inq = quantize_input(model, ranges.input_lo, ranges.input_hi)
    layers = []
    for k, layer in enumerate(model.layers):
        first = k == 0
        layers.append(
            quantize_layer(
                layer,
                model.variant,
                k,
                act_scale=inq.scale / 256 if first else 2.0**-15,
                input_zero_point=inq.zero_point if first else 0,
            )
        )
    head = quantize_head(model.head) if model.head is not None else None
    meta = {
        "source_model": model.metadata,
        "input_range": [ranges.input_lo, ranges.input_hi],
        "edgegru_version": __version__,
    }
    return QuantizedModel(model.variant, state_bits, inq, layers, head, meta)
