"""Float :class:`Model` -> :class:`QuantizedModel` (see docs/quantization.md).

Besides choosing scales, this is where the integer ranges are proved: for every
row the worst-case accumulator and pre-activation sums are bounded from the
actual integer weights, and a model whose arithmetic could overflow is refused
instead of being allowed to wrap on a target.
"""

from __future__ import annotations

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.model import GRULayer, Head, Model
from edgegru.quant.activations import PRE_FRAC
from edgegru.quant.calibrate import Ranges
from edgegru.quant.fixedpoint import round_half_away
from edgegru.quant.qmodel import (
    STATE_BITS,
    InputQuantisation,
    QuantizedHead,
    QuantizedLayer,
    QuantizedModel,
    check_head_bounds,
    check_layer_bounds,
    check_quantized,
)

MAX_MULTIPLIER = 2**31 - 1
PRE_UNIT = 2.0**PRE_FRAC  # a real 1.0 in pre-activation LSBs
WIDE = 2.0**60  # beyond any int32; sums of a few such values (the bounds) stay within int64


def row_scales(w: np.ndarray) -> np.ndarray:
    """Symmetric int8 scale per output row (last axis is the row); 1.0 for an all-zero row."""
    peak = np.abs(w.astype(np.float64)).max(axis=-1)
    return np.where(peak > 0, peak / 127.0, 1.0)


def round_wide(x: np.ndarray) -> np.ndarray:
    """:func:`round_half_away` for values that may be far beyond int32 (weights near float32's
    limit give multipliers of 1e45): they are clipped to +-2^60 first, so the int64 cast
    cannot wrap them into small numbers that the range checks would then accept."""
    return round_half_away(np.clip(x, -WIDE, WIDE))


def to_int8(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip(round_half_away(w / scale), -127, 127).astype(np.int8)


def quantize_input(model: Model, lo: float, hi: float) -> InputQuantisation:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if not np.isfinite(hi - lo):
        raise EdgeGruError(f"calibrated input range [{lo:g}, {hi:g}]: expected a finite range")
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
    """round(real * 2^32) as int32 multipliers of :func:`mul_high_add`; refuse what does not fit."""
    mult = round_wide(real * 2.0**32)
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
    bias = round_wide((b_x + rec_bias_in_b * b_h) * PRE_UNIT - zp_share)
    bias_hn = round_wide(b_h[2] * PRE_UNIT * 2) if split_n else np.zeros(layer.hidden_size, np.int64)
    check_layer_bounds(index, wx, wh, mult_x, mult_h, bias, bias_hn if split_n else None)
    return QuantizedLayer(wx, wh, mult_x, mult_h, bias, bias_hn)


def quantize_head(head: Head) -> QuantizedHead:
    peak = float(np.abs(head.weight).max())
    scale = peak / 127.0 if peak > 0 else 1.0
    weight = to_int8(head.weight, scale)
    bias = round_wide(head.bias.astype(np.float64) / (scale * 2.0**-15))
    check_head_bounds(weight, bias)
    return QuantizedHead(head.kind, weight, bias.astype(np.int32), scale, head.class_names)


def quantize(model: Model, ranges: Ranges, state_bits: int = 16) -> QuantizedModel:
    """Quantise ``model`` with the calibrated input range (from :func:`calibrate`).

    The result passes :func:`check_quantized` (the check on load) or is refused here, so
    that ``edgegru quantize`` never writes a file that ``edgegru export`` would refuse.
    """
    model.validate()
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
    qm = QuantizedModel(model.variant, state_bits, inq, layers, head, meta, model.frame)
    check_quantized(qm)
    return qm
