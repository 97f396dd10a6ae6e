"""The GRU time step written once, for every way edgegru evaluates it.

:func:`emit_step` describes one time step of the whole stack (every layer, then
the head) as calls on an *emitter*. The same description is

* evaluated in NumPy by :class:`NumpyEmitter` to collect the value range of
  every intermediate tensor for int8 calibration, and
* written as TFLite operators by ``emit.TfliteEmitter``, float32 or int8,
  once for a single-step model or T times for an unrolled sequence model.

Because both come from one description, the calibrated ranges are keyed by the
very roles (``l0.gx``, ``l0.n`` ...) the TFLite tensors carry, and the step and
sequence models contain identical arithmetic.

Per layer the graph is (x the layer input, h its state, c = 1 - z)::

    r, c = split(logistic(pre-activations of r and of -z))   (logistic(-a) = 1 - logistic(a))
    reset_after:  n = tanh(FC(x; W_x[n]) + r * FC(h; W_h[n]))
    reset_before: n = tanh(FC(x; W_x[n]) + FC(r * h; W_h[n]))
    h' = h + c * (n - h)                                     (= z*h + (1-z)*n)

How the pre-activations are grouped into FULLY_CONNECTED operators depends on
which tensors share a quantisation, because int8 CONCATENATION requires its
inputs to share one:

* a stacked layer's input is the previous layer's state, quantised like its own
  state, so one FC over concat(x, h) gives r and c;
* the first layer's input has its own calibrated scale, so x and h go through
  separate FCs whose results are added. In reset_after, whose n parts enter n's
  pre-activation directly, each of x and h goes through one FC for all three
  gates, split after: five constant tensors instead of eight and fewer
  quantisation records, for one weight and output scale per side (measured in
  docs/tflite.md; reset_before fits its size budget without it);
* in reset_before the FCs over h and r*h are only ever added to those over x,
  so the x side carries both biases and those FCs have none.

The update is written as h + c*(n - h) rather than n + z*(h - n): a GRU that
remembers keeps z near 1, and then the product c*(n - h) is a small correction
to h, quantised on a fine scale, instead of a large z*(h - n) that cancels most
of n and brings its rounding error into the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgegru.nn.model import Model


@dataclass(frozen=True)
class LayerWeights:
    """One GRU layer's weights as the graph uses them, rows in gate order r, c, n.

    The rows of c are the update gate's rows negated: logistic(-a) = 1 - logistic(a),
    so the LOGISTIC that gives r gives c = 1 - z as well.
    """

    w_x: np.ndarray  # (3H, D)
    b_x: np.ndarray  # (3H,)
    w_h: np.ndarray  # (3H, H)
    b_h: np.ndarray  # (3H,)

    @property
    def hidden_size(self) -> int:
        return int(self.w_h.shape[1])


@dataclass(frozen=True)
class StepWeights:
    """Everything :func:`emit_step` needs, in float64."""

    variant: str
    layers: list[LayerWeights]
    head_weight: np.ndarray | None  # (C, H)
    head_bias: np.ndarray | None  # (C,)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.hidden_size for layer in self.layers]


def state_role(layer: int) -> str:
    """The role of layer ``layer``'s hidden state, input or output of a step."""
    return f"l{layer}.h"


X_ROLE = "x"
Y_ROLE = "y"


def prepare_weights(model: Model, fold_normalisation: bool) -> StepWeights:
    """Arrange the model's weights for the graph, optionally folding normalisation in.

    Folding rewrites the first layer's input weights so that the graph takes raw
    inputs: ``W (x - m) / s + b = (W / s) x + (b - W (m / s))``. In float this is
    exact to rounding; int8 models keep normalisation outside instead (see
    ``exporter``) so that channels of very different units do not share one
    int8 input scale.
    """
    sign = np.array([1.0, -1.0, 1.0])  # r, then -z (for c = 1 - z), then n
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
                w_x=np.concatenate(sign[:, None, None] * w_x),
                b_x=np.concatenate(sign[:, None] * b_x),
                w_h=np.concatenate(sign[:, None, None] * w_h),
                b_h=np.concatenate(sign[:, None] * b_h),
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

    def fc(self, x: Any, weight: np.ndarray, bias: np.ndarray | None, role: str) -> Any: ...
    def add(self, a: Any, b: Any, role: str) -> Any: ...
    def sub(self, a: Any, b: Any, role: str) -> Any: ...
    def mul(self, a: Any, b: Any, role: str) -> Any: ...
    def logistic(self, a: Any, role: str) -> Any: ...
    def tanh(self, a: Any, role: str) -> Any: ...
    def split(self, a: Any, sizes: Sequence[int], roles: Sequence[str]) -> list[Any]: ...
    def concat(self, a: Any, b: Any, role: str) -> Any: ...


def emit_step(em: Emitter, weights: StepWeights, x: Any, states: list[Any]) -> tuple[Any, list]:
    """One time step of the stack; returns (head output or None, new states)."""
    gates = _reset_after_gates if weights.variant == "reset_after" else _reset_before_gates
    inp = x
    new_states = []
    for k, (layer, h) in enumerate(zip(weights.layers, states, strict=True)):
        p = f"l{k}."
        n_pre, c = gates(em, layer, k, inp, h)
        candidate = em.tanh(n_pre, p + "n")
        step = em.mul(c, em.sub(candidate, h, p + "n_minus_h"), p + "c_n_minus_h")
        h_new = em.add(h, step, state_role(k))
        new_states.append(h_new)
        inp = h_new
    y = None
    if weights.head_weight is not None:
        y = em.fc(inp, weights.head_weight, weights.head_bias, Y_ROLE)
    return y, new_states


def _reset_after_gates(em: Emitter, layer: LayerWeights, k: int, x: Any, h: Any) -> tuple[Any, Any]:
    """n's pre-activation FC(x; W_x[n]) + r * FC(h; W_h[n]), and c."""
    p, size = f"l{k}.", layer.hidden_size
    _, n = _gate_rows(layer)
    if k == 0:
        # The n parts enter n's pre-activation directly, so x and h each go through
        # one FC for all three gates, cut after into the r,c part and the n part.
        gx = em.fc(x, layer.w_x, layer.b_x, p + "gx")
        gx_rc, gx_n = em.split(gx, [2 * size, size], [p + "gx_rc", p + "gx_n"])
        gh = em.fc(h, layer.w_h, layer.b_h, p + "gh")
        gh_rc, gh_n = em.split(gh, [2 * size, size], [p + "gh_rc", p + "gh_n"])
        rc_pre = em.add(gx_rc, gh_rc, p + "rc_pre")
    else:
        rc_pre = _stacked_rc_pre(em, layer, k, x, h)
        gx_n = em.fc(x, layer.w_x[n], layer.b_x[n], p + "gx_n")
        gh_n = em.fc(h, layer.w_h[n], layer.b_h[n], p + "gh_n")
    r, c = _split_gates(em, rc_pre, k, size)
    return em.add(gx_n, em.mul(r, gh_n, p + "r_gh_n"), p + "n_pre"), c


def _reset_before_gates(em: Emitter, layer: LayerWeights, k: int, x: Any, h: Any) -> tuple[Any, Any]:
    """n's pre-activation FC(x; W_x[n]) + FC(r * h; W_h[n]), and c.

    The FCs over h and r*h are only added to those over x, so the x side carries
    both biases and those FCs have none (one constant tensor less each).
    """
    p, size = f"l{k}.", layer.hidden_size
    rc, n = _gate_rows(layer)
    if k == 0:
        gx_rc = em.fc(x, layer.w_x[rc], layer.b_x[rc] + layer.b_h[rc], p + "gx_rc")
        rc_pre = em.add(gx_rc, em.fc(h, layer.w_h[rc], None, p + "gh_rc"), p + "rc_pre")
    else:
        rc_pre = _stacked_rc_pre(em, layer, k, x, h)
    r, c = _split_gates(em, rc_pre, k, size)
    gx_n = em.fc(x, layer.w_x[n], layer.b_x[n] + layer.b_h[n], p + "gx_n")
    gh_n = em.fc(em.mul(r, h, p + "r_h"), layer.w_h[n], None, p + "gh_n")
    return em.add(gx_n, gh_n, p + "n_pre"), c


def _stacked_rc_pre(em: Emitter, layer: LayerWeights, k: int, x: Any, h: Any) -> Any:
    """r and c's pre-activations in a stacked layer: one FC over concat(x, h), x being a state."""
    rc, _ = _gate_rows(layer)
    w_rc = np.concatenate([layer.w_x[rc], layer.w_h[rc]], axis=1)
    return em.fc(em.concat(x, h, f"l{k}.xh"), w_rc, layer.b_x[rc] + layer.b_h[rc], f"l{k}.rc_pre")


def _split_gates(em: Emitter, rc_pre: Any, k: int, size: int) -> list[Any]:
    """r and c from one LOGISTIC."""
    return em.split(em.logistic(rc_pre, f"l{k}.rc"), [size, size], [f"l{k}.r", f"l{k}.c"])


def _gate_rows(layer: LayerWeights) -> tuple[slice, slice]:
    """The rows of r and c, and of n, in a LayerWeights array."""
    size = layer.hidden_size
    return slice(0, 2 * size), slice(2 * size, 3 * size)


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

    def fc(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, role: str) -> np.ndarray:
        return self._seen(x @ weight.T + (0.0 if bias is None else bias), role)

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

    def split(self, a: np.ndarray, sizes: Sequence[int], roles: Sequence[str]) -> list[np.ndarray]:
        parts = np.split(a, np.cumsum(sizes)[:-1], axis=-1)
        return [self._seen(part, role) for part, role in zip(parts, roles, strict=True)]


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
