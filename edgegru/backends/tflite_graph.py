"""The GRU time step written once, for every way edgegru evaluates it.

:func:`emit_step` describes one time step of the whole stack (every layer, then
the head) as calls on an *emitter*. The same description is

* evaluated in NumPy by :class:`NumpyEmitter` to collect the value range of
  every intermediate tensor for int8 calibration, and
* written as TFLite operators by ``tflite_emit.TfliteEmitter``, float32 or int8,
  once for a single-step model or T times for an unrolled sequence model.

Because both come from one description, the calibrated ranges are keyed by the
very roles (``l0.gx_rz``, ``l0.n`` ...) the TFLite tensors carry, and the step
and sequence models contain identical arithmetic.

Per layer the graph is (x the layer input, h its state)::

    rz = logistic(FC(x; W_x[r,z]) + FC(h; W_h[r,z]));  r, z = split(rz)
         (stacked layers: rz = logistic(FC(concat(x, h); [W_x | W_h][r,z])))
    reset_after:  hn = r * FC(h; W_h[n])      reset_before:  hn = FC(r * h; W_h[n])
    n  = tanh(FC(x; W_x[n]) + hn)
    h' = n + z * (h - n)                      (= z*h + (1-z)*n)

In the first layer x and h go through separate FULLY_CONNECTED ops because int8
CONCATENATION requires its inputs to share one scale, which the model input and
the state (fixed at 1/128) do not; a stacked layer's input is the previous
layer's state, so there r and z come from one FC over concat(x, h).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..model import Model


@dataclass(frozen=True)
class LayerWeights:
    """One GRU layer's weights cut along the gates the graph computes together."""

    w_x_rz: np.ndarray  # (2H, D)
    b_x_rz: np.ndarray  # (2H,)
    w_x_n: np.ndarray  # (H, D)
    b_x_n: np.ndarray  # (H,)
    w_h_rz: np.ndarray  # (2H, H)
    b_h_rz: np.ndarray  # (2H,)
    w_h_n: np.ndarray  # (H, H)
    b_h_n: np.ndarray  # (H,)


@dataclass(frozen=True)
class StepWeights:
    """Everything :func:`emit_step` needs, in float64."""

    variant: str
    layers: list[LayerWeights]
    head_weight: np.ndarray | None  # (C, H)
    head_bias: np.ndarray | None  # (C,)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.w_h_n.shape[0] for layer in self.layers]


def state_role(layer: int) -> str:
    """The role of layer ``layer``'s hidden state, input or output of a step."""
    return f"l{layer}.h"


X_ROLE = "x"
Y_ROLE = "y"


def prepare_weights(model: Model, fold_normalisation: bool) -> StepWeights:
    """Cut the model's weights for the graph, optionally folding normalisation in.

    Folding rewrites the first layer's input weights so that the graph takes raw
    inputs: ``W (x - m) / s + b = (W / s) x + (b - W (m / s))``. In float this is
    exact to rounding; int8 models keep normalisation outside instead (see
    ``tflite_export``) so that channels of very different units do not share one
    int8 input scale.
    """
    layers = []
    for i, layer in enumerate(model.layers):
        w_x = layer.w_x.astype(np.float64)
        b_x = layer.b_x.astype(np.float64)
        if i == 0 and fold_normalisation and model.normalisation is not None:
            mean = model.normalisation.mean.astype(np.float64)
            std = model.normalisation.std.astype(np.float64)
            b_x = b_x - w_x @ (mean / std)
            w_x = w_x / std
        w_h = layer.w_h.astype(np.float64)
        b_h = layer.b_h.astype(np.float64)
        layers.append(
            LayerWeights(
                w_x_rz=np.concatenate([w_x[0], w_x[1]]),
                b_x_rz=np.concatenate([b_x[0], b_x[1]]),
                w_x_n=w_x[2],
                b_x_n=b_x[2],
                w_h_rz=np.concatenate([w_h[0], w_h[1]]),
                b_h_rz=np.concatenate([b_h[0], b_h[1]]),
                w_h_n=w_h[2],
                b_h_n=b_h[2],
            )
        )
    head = model.head
    return StepWeights(
        variant=model.variant,
        layers=layers,
        head_weight=None if head is None else head.weight.astype(np.float64),
        head_bias=None if head is None else head.bias.astype(np.float64),
    )


class Emitter(Protocol):
    """The operations a GRU step is made of; values are emitter-specific handles."""

    def fc(self, x: Any, weight: np.ndarray, bias: np.ndarray, role: str) -> Any: ...
    def add(self, a: Any, b: Any, role: str) -> Any: ...
    def sub(self, a: Any, b: Any, role: str) -> Any: ...
    def mul(self, a: Any, b: Any, role: str) -> Any: ...
    def logistic(self, a: Any, role: str) -> Any: ...
    def tanh(self, a: Any, role: str) -> Any: ...
    def split(self, a: Any, roles: Sequence[str]) -> list[Any]: ...
    def concat(self, a: Any, b: Any, role: str) -> Any: ...


def emit_step(em: Emitter, weights: StepWeights, x: Any, states: list[Any]) -> tuple[Any, list]:
    """One time step of the stack; returns (head output or None, new states)."""
    inp = x
    new_states = []
    for k, (layer, h) in enumerate(zip(weights.layers, states, strict=True)):
        p = f"l{k}."
        if k == 0:
            gx_rz = em.fc(inp, layer.w_x_rz, layer.b_x_rz, p + "gx_rz")
            gh_rz = em.fc(h, layer.w_h_rz, layer.b_h_rz, p + "gh_rz")
            rz_pre = em.add(gx_rz, gh_rz, p + "rz_pre")
        else:
            # A stacked layer's input is a state, quantised like its own state, so one
            # FC over their concatenation replaces two FCs and an ADD (smaller model).
            xh = em.concat(inp, h, p + "xh")
            w_rz = np.concatenate([layer.w_x_rz, layer.w_h_rz], axis=1)
            rz_pre = em.fc(xh, w_rz, layer.b_x_rz + layer.b_h_rz, p + "rz_pre")
        rz = em.logistic(rz_pre, p + "rz")
        r, z = em.split(rz, [p + "r", p + "z"])
        gx_n = em.fc(inp, layer.w_x_n, layer.b_x_n, p + "gx_n")
        if weights.variant == "reset_after":
            gh_n = em.fc(h, layer.w_h_n, layer.b_h_n, p + "gh_n")
            hn = em.mul(r, gh_n, p + "r_gh_n")
        else:
            rh = em.mul(r, h, p + "r_h")
            hn = em.fc(rh, layer.w_h_n, layer.b_h_n, p + "gh_n")
        n = em.tanh(em.add(gx_n, hn, p + "n_pre"), p + "n")
        d = em.sub(h, n, p + "h_minus_n")
        e = em.mul(z, d, p + "z_h_minus_n")
        h_new = em.add(n, e, state_role(k))
        new_states.append(h_new)
        inp = h_new
    y = None
    if weights.head_weight is not None:
        y = em.fc(inp, weights.head_weight, weights.head_bias, Y_ROLE)
    return y, new_states


class NumpyEmitter:
    """Evaluates a step in float64 on a batch and records each role's value range."""

    def __init__(self) -> None:
        self.ranges: dict[str, tuple[float, float]] = {}

    def _seen(self, value: np.ndarray, role: str) -> np.ndarray:
        lo, hi = float(value.min()), float(value.max())
        if role in self.ranges:
            old_lo, old_hi = self.ranges[role]
            lo, hi = min(lo, old_lo), max(hi, old_hi)
        self.ranges[role] = (lo, hi)
        return value

    def fc(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray, role: str) -> np.ndarray:
        return self._seen(x @ weight.T + bias, role)

    def add(self, a: np.ndarray, b: np.ndarray, role: str) -> np.ndarray:
        return self._seen(a + b, role)

    def sub(self, a: np.ndarray, b: np.ndarray, role: str) -> np.ndarray:
        return self._seen(a - b, role)

    def mul(self, a: np.ndarray, b: np.ndarray, role: str) -> np.ndarray:
        return self._seen(a * b, role)

    def logistic(self, a: np.ndarray, role: str) -> np.ndarray:
        return self._seen(0.5 * (1.0 + np.tanh(0.5 * a)), role)

    def tanh(self, a: np.ndarray, role: str) -> np.ndarray:
        return self._seen(np.tanh(a), role)

    def concat(self, a: np.ndarray, b: np.ndarray, role: str) -> np.ndarray:
        return self._seen(np.concatenate([a, b], axis=-1), role)

    def split(self, a: np.ndarray, roles: Sequence[str]) -> list[np.ndarray]:
        return [
            self._seen(part, role) for part, role in zip(np.split(a, len(roles), axis=-1), roles, strict=True)
        ]


def run_numpy(weights: StepWeights, x: np.ndarray) -> tuple[NumpyEmitter, np.ndarray | None, list]:
    """Run the step graph over x (N, T, D) from zero states; return ranges, outputs, states.

    Outputs are (N, T, C) (None without a head); states are the final (N, H_k).
    """
    em = NumpyEmitter()
    batch, steps, _ = x.shape
    states: list[Any] = [np.zeros((batch, h)) for h in weights.hidden_sizes]
    outputs = []
    for t in range(steps):
        y, states = emit_step(em, weights, x[:, t], states)
        outputs.append(y)
    ys = None if weights.head_weight is None else np.stack(outputs, axis=1)
    return em, ys, states
