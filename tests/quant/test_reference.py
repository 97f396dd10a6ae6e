"""The float reference against torch.nn.GRU, an independent loop, and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgegru.core.errors import EdgeGruError
from edgegru.nn.float_reference import forward
from edgegru.nn.model import GRULayer, Model
from edgegru.nn.synthetic import random_model
from edgegru.nn.torch_bridge import TorchGRU, from_torch


@pytest.mark.parametrize(("layers", "d", "h"), [(1, 1, 1), (1, 6, 32), (2, 5, 17), (3, 12, 24), (2, 33, 64)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_reset_after_matches_torch(layers, d, h, batch_first):
    torch.manual_seed(layers * 100 + d)
    gru = torch.nn.GRU(d, h, num_layers=layers, batch_first=batch_first).double()
    x = torch.randn(4, 100, d, dtype=torch.float64)
    with torch.no_grad():
        out, h_n = gru(x if batch_first else x.transpose(0, 1))
    if not batch_first:
        out = out.transpose(0, 1)
    model = from_torch(gru)
    assert model.variant == "reset_after"
    trace = forward(model, x.numpy())
    # torch initialises in float32, so the model file's float32 weights are the same values:
    # both compute in float64 and differ by rounding only
    assert np.abs(trace.hidden[-1] - out.numpy()).max() <= 1e-12
    for k in range(layers):
        assert np.abs(trace.hidden[k][:, -1] - h_n[k].numpy()).max() <= 1e-12


def test_torch_head_and_state_dict_import():
    gru = torch.nn.GRU(3, 8, num_layers=2, batch_first=True)
    head = torch.nn.Linear(8, 2)
    m = from_torch(gru.state_dict(), head, "classification", ["a", "b"])
    x = torch.randn(2, 20, 3)
    with torch.no_grad():
        want = head(gru(x)[0]).numpy()
    assert np.abs(forward(m, x.numpy()).outputs - want).max() <= 1e-5
    # gate order: PyTorch stacks r, z, n; edgegru keeps them as gates 0, 1, 2
    np.testing.assert_array_equal(m.layers[0].w_x[1], gru.weight_ih_l0.detach().numpy()[8:16])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bidirectional": True}, "bidirectional"),
        ({"bias": False}, "bias=False"),
    ],
)
def test_torch_refusals(kwargs, message):
    with pytest.raises(EdgeGruError, match=message):
        from_torch(torch.nn.GRU(3, 4, **kwargs))
    # the same refusal when only the state_dict is at hand
    with pytest.raises(EdgeGruError, match=message.split("=")[0]):
        from_torch(torch.nn.GRU(3, 4, **kwargs).state_dict())


def test_state_dict_with_projection_refused():
    # nn.GRU itself has no proj_size (only LSTM does); a state_dict can still carry one
    state = torch.nn.GRU(3, 4).state_dict()
    state["weight_hr_l0"] = torch.zeros(2, 4)
    with pytest.raises(EdgeGruError, match="proj_size"):
        from_torch(state)


def _loop_reset_before(layer: GRULayer, x: np.ndarray) -> np.ndarray:
    """reset_before written unit by unit, independently of edgegru.nn.float_reference."""
    hid = layer.hidden_size
    layer = GRULayer(*(a.astype(np.float64) for a in (layer.w_x, layer.w_h, layer.b_x, layer.b_h)))
    h = [0.0] * hid
    out = []
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    for xt in x:
        r = [sig(sum(layer.w_x[0, j, i] * xt[i] for i in range(len(xt))) + layer.b_x[0, j]
                 + sum(layer.w_h[0, j, k] * h[k] for k in range(hid)) + layer.b_h[0, j])
             for j in range(hid)]  # fmt: skip
        z = [sig(sum(layer.w_x[1, j, i] * xt[i] for i in range(len(xt))) + layer.b_x[1, j]
                 + sum(layer.w_h[1, j, k] * h[k] for k in range(hid)) + layer.b_h[1, j])
             for j in range(hid)]  # fmt: skip
        rh = [r[k] * h[k] for k in range(hid)]
        n = [math.tanh(sum(layer.w_x[2, j, i] * xt[i] for i in range(len(xt))) + layer.b_x[2, j]
                       + sum(layer.w_h[2, j, k] * rh[k] for k in range(hid)) + layer.b_h[2, j])
             for j in range(hid)]  # fmt: skip
        h = [z[j] * h[j] + (1 - z[j]) * n[j] for j in range(hid)]
        out.append(h)
    return np.array(out)


def test_reset_before_matches_independent_loop():
    m = random_model(3, [5], "reset_before", seed=7, scale=2.0)
    x = np.random.default_rng(1).normal(size=(30, 3))
    want = _loop_reset_before(m.layers[0], x)
    assert np.abs(forward(m, x).hidden[0][0] - want).max() <= 1e-12


def test_variants_differ():
    """The same weights give different answers: the variant is never interchangeable."""
    a = random_model(3, [5], "reset_after", seed=1, scale=2.0)
    b = Model(3, "reset_before", a.layers)
    x = np.random.default_rng(0).normal(size=(20, 3))
    assert np.abs(forward(a, x).hidden[0] - forward(b, x).hidden[0]).max() > 1e-3


# A 1-input, 1-unit GRU over x = 1, -1, 0.5 with weights
#   W_x = (r 0.5, z -0.25, n 1.0), W_h = (r 0.3, z 0.6, n -0.8), b_x = (0.1, 0.2, -0.1),
#   b_h = (-0.2, 0.05, 0.3).
# Step 1 (h = 0): r = s(0.5 + 0.1 - 0.2) = s(0.4) = 0.598688, z = s(-0.25 + 0.2 + 0.05) = 0.5.
#   reset_after: n = tanh(0.9 + r * 0.3) = tanh(1.079606) = 0.793054, h = 0.396527;
#   reset_before: n = tanh(0.9 + (r * 0) * -0.8 + 0.3) = tanh(1.2) = 0.833655, h = 0.416827.
# Steps 2 and 3 repeat the same scalar arithmetic (math.exp, math.tanh), rounded to 6 decimals.
HAND = {
    "reset_after": [0.396527, 0.008576, 0.241262],
    "reset_before": [0.416827, 0.049054, 0.299014],
}


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_hand_computed_1x1(variant):
    layer = GRULayer(
        np.array([0.5, -0.25, 1.0]).reshape(3, 1, 1),
        np.array([0.3, 0.6, -0.8]).reshape(3, 1, 1),
        np.array([0.1, 0.2, -0.1]).reshape(3, 1),
        np.array([-0.2, 0.05, 0.3]).reshape(3, 1),
    )
    m = Model(1, variant, [layer])
    got = forward(m, np.array([[1.0], [-1.0], [0.5]])).hidden[0][0, :, 0]
    np.testing.assert_allclose(got, HAND[variant], atol=2e-6)


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_training_module_matches_reference(variant):
    """The trainable module computes the same function as the exported model."""
    net = TorchGRU(4, [6, 5], variant, 3, np.zeros(4), np.ones(4)).double()
    x = torch.randn(3, 25, 4, dtype=torch.float64)
    lengths = torch.tensor([25, 10, 1])
    with torch.no_grad():
        want = net(x, lengths).numpy()
    m = net.to_model("regression", None)
    out = forward(m, x.numpy()).outputs
    got = out[np.arange(3), lengths.numpy() - 1]
    assert np.abs(got - want).max() <= 1e-12  # float64 both, same float32-exact weights
