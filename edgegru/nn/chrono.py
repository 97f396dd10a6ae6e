"""Chrono initialisation of the update gate (Tallec and Ollivier, "Can recurrent neural
networks warp time?", ICLR 2018), a training-time device.

A GRU keeps ``z`` of its old state each step (``h' = z h + (1 - z) n``). With the usual
small random biases ``z`` starts near 0.5, so a sample is forgotten within a few steps and
the gradient from a readout at step 250 never reaches the samples that decide the class.
Setting the update gate's bias to ``log(u)``, ``u`` uniform in ``[1, T - 1]``, gives each
unit a memory of about ``u`` steps from the first epoch on: a spread of time scales up to
the sequence length. Only the starting weights change; the trained model's equations are
the same.
"""

from __future__ import annotations

import torch

from edgegru.nn.torch_bridge import TorchGRU


def chrono_init(net: TorchGRU, max_steps: int, generator: torch.Generator) -> None:
    """Set every layer's update-gate biases (gate order r, z, n) for memories up to ``max_steps``."""
    if max_steps < 3:
        return  # no time scales to spread: keep the default initialisation
    if net.fused is not None:
        biases = [
            (getattr(net.fused, f"bias_ih_l{i}"), getattr(net.fused, f"bias_hh_l{i}"))
            for i in range(net.fused.num_layers)
        ]
    else:
        biases = [(layer.bias_ih, layer.bias_hh) for layer in net.layers]
    with torch.no_grad():
        for bias_ih, bias_hh in biases:
            hid = bias_ih.shape[0] // 3
            spans = 1.0 + (max_steps - 2) * torch.rand(hid, generator=generator)
            bias_ih[hid : 2 * hid] = torch.log(spans)
            bias_hh[hid : 2 * hid] = 0.0
