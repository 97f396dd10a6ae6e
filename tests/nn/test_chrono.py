"""Chrono initialisation: update-gate biases that give memories of 1 to T-1 steps, others untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgegru.nn.chrono import chrono_init
from edgegru.nn.torch_bridge import TorchGRU


@pytest.mark.parametrize(("variant", "hidden"), [("reset_after", [16, 16]), ("reset_before", [16, 8])])
def test_update_gate_biases_span_the_sequence_length(variant, hidden):
    net = TorchGRU(3, hidden, variant, 2, np.zeros(3), np.ones(3))
    before = net.to_model("classification", ["a", "b"])
    chrono_init(net, 200, torch.Generator().manual_seed(0))
    model = net.to_model("classification", ["a", "b"])
    for old, layer in zip(before.layers, model.layers, strict=True):
        z_bias = layer.b_x[1] + layer.b_h[1]  # gate order r, z, n
        memory = np.exp(z_bias)  # the steps a unit keeps about 1/e of its state, roughly
        assert memory.min() >= 1.0 - 1e-5 and memory.max() <= 199.0 + 1e-3
        assert memory.max() > 20  # a spread of time scales, not the default's ~1
        assert not np.any(layer.b_h[1])
        for name in ("w_x", "w_h"):
            np.testing.assert_array_equal(getattr(layer, name), getattr(old, name))
        for gate in (0, 2):  # r and n
            np.testing.assert_array_equal(layer.b_x[gate], old.b_x[gate])
            np.testing.assert_array_equal(layer.b_h[gate], old.b_h[gate])


def test_short_sequences_keep_the_default():
    net = TorchGRU(1, [4], "reset_after", 2, np.zeros(1), np.ones(1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    chrono_init(net, 2, torch.Generator().manual_seed(0))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
