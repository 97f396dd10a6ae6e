"""The float reference: the GRU equations in NumPy, batched, in float64.

It is written straight from the equations so that it can be read against a
paper, and it is what every float backend (PyTorch, ONNX, TFLite float) is
tested against:

* R = σ(x W_xr + b_xr + h W_hr + b_hr)
* Z = σ(x W_xz + b_xz + h W_hz + b_hz)
* reset_before: N = tanh(x W_xn + b_xn + (R ⊙ h) W_hn + b_hn)
* reset_after:  N = tanh(x W_xn + b_xn + R ⊙ (h W_hn + b_hn))
* h' = Z ⊙ h + (1 − Z) ⊙ N
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.nn.model import GRULayer, Model, Variant


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gru_step(layer: GRULayer, variant: Variant, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One time step for a batch: x (B, D), h (B, H) -> h' (B, H)."""
    wx = layer.w_x.astype(np.float64)
    wh = layer.w_h.astype(np.float64)
    bx = layer.b_x.astype(np.float64)
    bh = layer.b_h.astype(np.float64)
    r = sigmoid(x @ wx[0].T + bx[0] + h @ wh[0].T + bh[0])
    z = sigmoid(x @ wx[1].T + bx[1] + h @ wh[1].T + bh[1])
    if variant == "reset_before":
        n = np.tanh(x @ wx[2].T + bx[2] + (r * h) @ wh[2].T + bh[2])
    else:
        n = np.tanh(x @ wx[2].T + bx[2] + r * (h @ wh[2].T + bh[2]))
    return z * h + (1.0 - z) * n


@dataclass
class FloatTrace:
    """Everything a forward pass computed.

    ``hidden[k]`` is (B, T, H_k), the state of layer k after each step;
    ``outputs`` is (B, T, C), the head applied at every step (None without a head).
    """

    hidden: list[np.ndarray]
    outputs: np.ndarray | None


def forward(
    model: Model,
    x: np.ndarray,
    initial_state: list[np.ndarray] | None = None,
    normalise: bool = True,
) -> FloatTrace:
    """Run the model over x (B, T, D) or (T, D) and return every step's state.

    Inputs are normalised with the model's normalisation unless ``normalise`` is
    False (for callers that already did it).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    batch, steps, _ = x.shape
    if normalise and model.normalisation is not None:
        x = (x - model.normalisation.mean.astype(np.float64)) / model.normalisation.std.astype(np.float64)
    states = [
        np.zeros((batch, h)) if initial_state is None else np.asarray(initial_state[k], np.float64)
        for k, h in enumerate(model.hidden_sizes)
    ]
    hidden = [np.zeros((batch, steps, h)) for h in model.hidden_sizes]
    for t in range(steps):
        inp = x[:, t]
        for k, layer in enumerate(model.layers):
            states[k] = gru_step(layer, model.variant, inp, states[k])
            hidden[k][:, t] = states[k]
            inp = states[k]
    outputs = None
    if model.head is not None:
        w = model.head.weight.astype(np.float64)
        outputs = hidden[-1] @ w.T + model.head.bias.astype(np.float64)
    return FloatTrace(hidden, outputs)


def last_valid(values: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Pick values[b, lengths[b] - 1] for each sequence: how a sequence's output is read."""
    if lengths is None:
        return values[:, -1]
    return values[np.arange(values.shape[0]), np.asarray(lengths) - 1]


def predict(model: Model, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Per-sequence output: class index for classification, values for regression."""
    trace = forward(model, x)
    if trace.outputs is None:
        return last_valid(trace.hidden[-1], lengths)
    out = last_valid(trace.outputs, lengths)
    if model.head is not None and model.head.kind == "classification":
        return out.argmax(axis=-1)
    return out
