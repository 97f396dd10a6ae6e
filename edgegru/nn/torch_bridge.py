"""PyTorch <-> :class:`Model`: a trainable GRU for both variants, and nn.GRU import.

Training uses :class:`TorchGRU`. For ``reset_after`` it wraps ``nn.GRU`` (fast,
fused) over packed sequences; ``nn.GRU`` has no ``reset_before``, so that variant
runs :class:`TorchGRULayer`, a masked step loop with the same parameter layout
(``weight_ih`` (3H, D) in gate order r, z, n). Either way each sequence's state
stops at its last valid step, so padding never reaches the loss or the head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import GRULayer, Head, HeadKind, Model, Normalisation, Variant


class TorchGRULayer(nn.Module):
    """One GRU layer with PyTorch's parameter layout and either variant."""

    def __init__(self, input_size: int, hidden_size: int, variant: Variant) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.variant = variant
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), mask (B, T) -> states (B, T, H), frozen where mask is 0."""
        batch, steps, _ = x.shape
        hid = self.hidden_size
        gi = x @ self.weight_ih.T + self.bias_ih  # input parts of all steps at once
        w_rz, w_n = self.weight_hh[: 2 * hid], self.weight_hh[2 * hid :]
        b_rz, b_n = self.bias_hh[: 2 * hid], self.bias_hh[2 * hid :]
        h = x.new_zeros(batch, hid)
        out = []
        for t in range(steps):
            gx = gi[:, t]
            rz = torch.sigmoid(gx[:, : 2 * hid] + h @ w_rz.T + b_rz)
            r, z = rz[:, :hid], rz[:, hid:]
            if self.variant == "reset_after":
                n = torch.tanh(gx[:, 2 * hid :] + r * (h @ w_n.T + b_n))
            else:
                n = torch.tanh(gx[:, 2 * hid :] + (r * h) @ w_n.T + b_n)
            new = z * h + (1 - z) * n
            m = mask[:, t, None]
            h = m * new + (1 - m) * h
            out.append(h)
        return torch.stack(out, dim=1)


class TorchGRU(nn.Module):
    """Normalisation, stacked GRU layers and a linear head, as trained by edgegru.

    ``dropout`` zeroes that share of the head's inputs in training mode only (inverted
    dropout, so evaluation and the exported model use the plain state): a regulariser that
    leaves what a device computes unchanged.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: list[int],
        variant: Variant,
        output_size: int,
        mean: np.ndarray,
        std: np.ndarray,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.variant = variant
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        sizes = [input_size, *hidden_sizes]
        self.fused: nn.GRU | None = None
        self.layers = nn.ModuleList()
        if variant == "reset_after" and len(set(hidden_sizes)) == 1:
            self.fused = nn.GRU(input_size, hidden_sizes[0], len(hidden_sizes), batch_first=True)
        else:
            self.layers.extend(
                TorchGRULayer(sizes[i], sizes[i + 1], variant) for i in range(len(hidden_sizes))
            )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(sizes[-1], output_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Output at each sequence's last valid step: (B, C)."""
        h = (x - self.mean) / self.std
        if self.fused is not None:
            packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.fused(packed)
            return self.head(self.drop(h_n[-1]))
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(self.drop(h[torch.arange(x.shape[0]), lengths - 1]))

    def to_model(
        self,
        head_kind: HeadKind,
        class_names: list[str] | None,
        target_mean: np.ndarray | None = None,
        target_std: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
        frame: int = 1,
    ) -> Model:
        """Export to a :class:`Model`, folding a regression target's scaling into the head;
        ``frame`` is the samples per step it was trained on."""
        if self.fused is not None:
            state = self.fused.state_dict()
            layers = [_layer_from_torch(state, f"_l{i}") for i in range(self.fused.num_layers)]
        else:
            layers = [_layer_from_torch(layer.state_dict(), "") for layer in self.layers]
        w = self.head.weight.detach().double().numpy()
        b = self.head.bias.detach().double().numpy()
        if target_std is not None:
            w = w * target_std[:, None]
            b = b * target_std + target_mean
        head = Head(head_kind, w.astype(np.float32), b.astype(np.float32), class_names)
        norm = Normalisation(self.mean.numpy().copy(), self.std.numpy().copy())
        return Model(
            input_size=int(self.mean.shape[0]),
            variant=self.variant,
            layers=layers,
            head=head,
            normalisation=norm,
            metadata=metadata or {},
            frame=frame,
        )


def _layer_from_torch(state: Mapping[str, torch.Tensor], suffix: str) -> GRULayer:
    """PyTorch's (3H, ...) r, z, n stacks -> (3, H, ...) arrays."""

    def get(name: str) -> np.ndarray:
        return state[name + suffix].detach().cpu().double().numpy()

    w_ih, w_hh = get("weight_ih"), get("weight_hh")
    hid = w_hh.shape[1]
    return GRULayer(
        w_x=w_ih.reshape(3, hid, -1).astype(np.float32),
        w_h=w_hh.reshape(3, hid, hid).astype(np.float32),
        b_x=get("bias_ih").reshape(3, hid).astype(np.float32),
        b_h=get("bias_hh").reshape(3, hid).astype(np.float32),
    )


def from_torch(
    gru: nn.GRU | Mapping[str, torch.Tensor],
    head: nn.Linear | None = None,
    head_kind: HeadKind = "regression",
    class_names: list[str] | None = None,
) -> Model:
    """Import an ``nn.GRU`` (or its state_dict) and an optional ``nn.Linear`` head.

    PyTorch's GRU is the ``reset_after`` variant. ``batch_first`` does not change
    the weights, so either is accepted. Bidirectional GRUs, ``proj_size`` and
    ``bias=False`` are refused by name.
    """
    if isinstance(gru, nn.GRU):
        if gru.bidirectional:
            raise EdgeGruError("nn.GRU(bidirectional=True) is not supported: edgegru streams forward")
        if getattr(gru, "proj_size", 0):
            raise EdgeGruError("nn.GRU(proj_size=...) is not supported")
        if not gru.bias:
            raise EdgeGruError("nn.GRU(bias=False) is not supported: train with biases")
        state = gru.state_dict()
    else:
        state = gru
    if any(k.endswith("_reverse") for k in state):
        raise EdgeGruError("state_dict holds a bidirectional GRU (*_reverse): not supported")
    if any(k.startswith("weight_hr") for k in state):
        raise EdgeGruError("state_dict holds a GRU with proj_size: not supported")
    num_layers = sum(1 for k in state if k.startswith("weight_ih_l"))
    if num_layers == 0:
        raise EdgeGruError("state_dict has no weight_ih_l0: not an nn.GRU state_dict")
    if f"bias_ih_l{num_layers - 1}" not in state:
        raise EdgeGruError("state_dict has no biases (bias=False): not supported")
    layers = [_layer_from_torch(state, f"_l{i}") for i in range(num_layers)]
    head_obj = None
    if head is not None:
        head_obj = Head(
            head_kind,
            head.weight.detach().double().numpy().astype(np.float32),
            head.bias.detach().double().numpy().astype(np.float32),
            class_names,
        )
    return Model(
        input_size=layers[0].input_size,
        variant="reset_after",
        layers=layers,
        head=head_obj,
        metadata={"source": "torch.nn.GRU"},
    )
