"""The integer reference's forward pass in torch, with straight-through gradients.

Quantisation-aware training (:mod:`edgegru.quant.qat`) needs a forward pass that computes
what the targets compute and a backward pass that still has a useful slope. Every value
here is carried twice in one tensor: its *value* is the integer reference's, bit for bit
(the integers held as float64, which is exact below 2^53, and every product here is below
2^48), and its *gradient* is that of the float GRU computed from the same quantised inputs,
state and weights (the straight-through estimator: rounding has a zero gradient almost
everywhere, which would stop training, while its error is small enough that the float
slope points the right way).

The integer constants (int8 weights, multipliers, biases) come from
:func:`~edgegru.quant.quantize.quantize_layer` and ``quantize_head`` on the current float
weights, so the scale rules are quantize.py's own; the operations (``mul_high_add``,
``mul_r_add``, the table ``sigmoid_q15`` and ``tanh_q15``, ``blend``, the state's
rounding) mirror :mod:`~edgegru.quant.fixedpoint`, :mod:`~edgegru.quant.activations` and
:mod:`~edgegru.quant.integer_reference` under their names, on float64 tensors. The input is
given as the int8 values the device computes; the normalisation and the input scale are
fixed (calibrated before fine-tuning).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from edgegru.nn.model import GRULayer, Head, Model
from edgegru.quant.activations import PRE_FRAC, SIGMOID_TABLE, TABLE_HALF, TABLE_STEP_BITS
from edgegru.quant.qmodel import InputQuantisation
from edgegru.quant.quantize import quantize_head, quantize_layer, row_scales

Q15 = 2.0**15


def straight_through(value: torch.Tensor, quantised: torch.Tensor) -> torch.Tensor:
    """``quantised`` in the forward pass, the gradient of ``value`` in the backward pass."""
    return value + (quantised - value).detach()


def mul_high_add(b: torch.Tensor, a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``fixedpoint.mul_high_add`` on integer-valued float64: b + ((a * m + 2^31) >> 32), with
    m split into 16-bit halves so that each product stays below 2^48 (exact in float64)."""
    high, low = torch.floor(m / 2**16), torch.remainder(m, 2**16)
    partial = torch.floor((a * low + 2.0**31) / 2**16)
    return b + torch.floor((a * high + partial) / 2**16)


def mul_r_add(b: torch.Tensor, v: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``fixedpoint.mul_r_add`` on integer-valued float64: b + ((v * r) >> 16)."""
    return b + torch.floor(v * r / 2**16)


def rshift_round(v: torch.Tensor, shift: int) -> torch.Tensor:
    """``fixedpoint.rshift_round`` on integer-valued float64: v / 2^shift rounded half up."""
    return torch.floor((v + 2.0 ** (shift - 1)) / 2**shift)


TABLE = torch.as_tensor(SIGMOID_TABLE, dtype=torch.float64)


def _interpolate(k: torch.Tensor, f: torch.Tensor, bias: float) -> torch.Tensor:
    """``activations.interpolate(k, f, bias)`` on integer-valued floats."""
    idx = (k + TABLE_HALF).long()
    return TABLE[idx] * (256 - f) + TABLE[idx + 1] * f + bias


def sigmoid_q15(pre: torch.Tensor) -> torch.Tensor:
    """``activations.sigmoid_q15`` of integer-valued pre-activations (12 fractional bits)."""
    shift = 2.0 ** (PRE_FRAC - TABLE_STEP_BITS)
    k = torch.clamp(torch.floor(pre / shift), -TABLE_HALF, TABLE_HALF - 1)
    f = torch.remainder(torch.floor(pre / (shift / 256)), 256)
    return torch.floor(_interpolate(k, f, 128) / 256)


def tanh_q15(pre: torch.Tensor) -> torch.Tensor:
    """``activations.tanh_q15`` of integer-valued pre-activations (12 fractional bits)."""
    shift = 2.0 ** (PRE_FRAC - TABLE_STEP_BITS - 1)
    k = torch.clamp(torch.floor(pre / shift), -TABLE_HALF, TABLE_HALF - 1)
    f = torch.remainder(torch.floor(pre / (shift / 256)), 256)
    return torch.floor(_interpolate(k, f, 64 - 2**22) / 128)


def blend(z15: torch.Tensor, h15: torch.Tensor, n15: torch.Tensor) -> torch.Tensor:
    """``integer_reference.blend``: n + rshift_round(z * (h - n), 15), all Q0.15 integers."""
    return n15 + rshift_round(z15 * (h15 - n15), 15)


def state_from_q15(h15: torch.Tensor, state_bits: int) -> torch.Tensor:
    """``integer_reference.state_from_q15``, returned in Q0.15 (the int8 state times 256):
    int16 as is, int8 rounded half up and saturated."""
    if state_bits == 16:
        return h15
    return torch.clamp(rshift_round(h15, 8), -128, 127) * 256


def as_stored(p: torch.Tensor) -> np.ndarray:
    """A float64 parameter as the float32 array a model file stores and ``quantize`` reads."""
    return p.detach().numpy().astype(np.float32)


def _const(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


class FakeQuantGRU(nn.Module):
    """A float :class:`Model` as trainable float64 parameters whose forward pass is the
    integer reference's (docs/quantization.md, "One step of one layer") and whose backward
    pass is the float GRU's, evaluated at the quantised values.

    ``forward`` takes the int8 inputs (B, T, D) and returns the head's real logits (integer
    logits times the logit scale) at each sequence's last valid step, and the states.
    """

    def __init__(self, model: Model, state_bits: int, inq: InputQuantisation) -> None:
        super().__init__()
        if model.head is None:
            raise ValueError("FakeQuantGRU needs a model with a head")
        self.variant = model.variant
        self.state_bits = state_bits
        self.inq = inq

        def param(a: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.as_tensor(a, dtype=torch.float64).clone())

        self.layers = nn.ModuleList()
        for layer in model.layers:
            module = nn.Module()
            for name in ("w_x", "w_h", "b_x", "b_h"):
                module.register_parameter(name, param(getattr(layer, name)))
            self.layers.append(module)
        self.head = model.head  # kind and class names; the weights below are trained
        self.head_weight = param(model.head.weight)
        self.head_bias = param(model.head.bias)

    def _float_layer(self, index: int) -> GRULayer:
        p = self.layers[index]
        return GRULayer(*(as_stored(getattr(p, name)) for name in ("w_x", "w_h", "b_x", "b_h")))

    def _layer(self, index: int, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Layer ``index`` over a whole sequence. ``a`` (B, T, K) is its integer input (layer 0's
        int8 values times 256, the Q0.15 state above), ``x`` the same as real values carrying
        the gradient. Returns the stored states in Q0.15 as real values (B, T, H)."""
        p = self.layers[index]
        w32 = self._float_layer(index)
        first = index == 0
        ql = quantize_layer(
            w32,
            self.variant,
            index,
            act_scale=self.inq.scale / 256 if first else 2.0**-15,
            input_zero_point=self.inq.zero_point if first else 0,
        )
        # the float path's weights are the int8 values times their scales
        wx = straight_through(p.w_x, _const(ql.wx * row_scales(w32.w_x)[..., None]))
        wh = straight_through(p.w_h, _const(ql.wh * row_scales(w32.w_h)[..., None]))
        iwx, iwh = _const(ql.wx), _const(ql.wh)
        bias, mult_x, mult_h, bias_hn = (_const(v) for v in (ql.bias, ql.mult_x, ql.mult_h, ql.bias_hn))
        # the float input parts of all steps, split by step once: indexing one step of the whole
        # tensor would cost a full-size gradient buffer per step in the backward pass
        gx = (torch.einsum("btk,ghk->tgbh", x, wx) + p.b_x[None, :, None, :]).unbind(0)
        acc_x = torch.einsum("btk,ghk->gbth", a, iwx)
        x_part = [mul_high_add(bias[g, None, None], acc_x[g], mult_x[g, None, None]) for g in range(3)]
        h = x.new_zeros(x.shape[0], ql.hidden_size)
        out = []
        for t in range(x.shape[1]):
            h15 = h.detach() * Q15
            xp = [part[:, t] for part in x_part]  # mul_high_add(bias, acc_x, mult_x) per gate
            r15 = sigmoid_q15(mul_high_add(xp[0], h15 @ iwh[0].T, mult_h[0]))  # gate_pre
            z15 = sigmoid_q15(mul_high_add(xp[1], h15 @ iwh[1].T, mult_h[1]))
            r = straight_through(torch.sigmoid(gx[t][0] + h @ wh[0].T + p.b_h[0]), r15 / Q15)
            z = straight_through(torch.sigmoid(gx[t][1] + h @ wh[1].T + p.b_h[1]), z15 / Q15)
            if self.variant == "reset_before":
                reset_h15 = rshift_round(r15 * h15, 15)
                reset_h = straight_through(r * h, reset_h15 / Q15)
                n15 = tanh_q15(mul_high_add(xp[2], reset_h15 @ iwh[2].T, mult_h[2]))
                n_float = torch.tanh(gx[t][2] + reset_h @ wh[2].T + p.b_h[2])
            else:
                rec_n = mul_high_add(bias_hn, h15 @ iwh[2].T, mult_h[2])  # 13 fractional bits
                n15 = tanh_q15(mul_r_add(xp[2], rec_n, r15))
                n_float = torch.tanh(gx[t][2] + r * (h @ wh[2].T + p.b_h[2]))
            n = straight_through(n_float, n15 / Q15)
            new15 = state_from_q15(blend(z15, h15, n15), self.state_bits)
            h = straight_through(z * h + (1 - z) * n, new15 / Q15)
            out.append(h)
        return torch.stack(out, dim=1)

    def forward(self, xq: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Real logits (B, C) at each sequence's last valid step, and every layer's stored states
        as real values (B, T, H_k), up to the longest sequence (later steps cannot change them)."""
        steps = int(lengths.max())
        a = xq[:, :steps].to(torch.float64) * 256
        x = (a / 256 - self.inq.zero_point) * self.inq.scale
        states = []
        for index in range(len(self.layers)):
            x = self._layer(index, a, x)
            a = x.detach() * Q15
            states.append(x)
        last = x[torch.arange(x.shape[0]), lengths - 1]
        head = quantize_head(self._float_head())
        weight = straight_through(self.head_weight, _const(head.weight * head.weight_scale))
        logits = _const(head.bias) + (last.detach() * Q15) @ _const(head.weight).T
        return straight_through(last @ weight.T + self.head_bias, logits * head.logit_scale), states

    def _float_head(self) -> Head:
        return dataclasses.replace(
            self.head, weight=as_stored(self.head_weight), bias=as_stored(self.head_bias)
        )

    def to_model(self, template: Model) -> Model:
        """``template`` (the model fine-tuned) with this module's weights, as float32."""
        layers = [self._float_layer(index) for index in range(len(self.layers))]
        return dataclasses.replace(
            template, layers=layers, head=self._float_head(), metadata=dict(template.metadata)
        )
