"""A PyTorch GRU model and its TorchScript ONNX export, shared by the ONNX tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


class TorchNet(torch.nn.Module):
    """GRU(num_layers=2, batch_first) + Linear, on every step or on the last one."""

    def __init__(self, last_step_softmax: bool) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(4, 10, num_layers=2, batch_first=True)
        self.fc = torch.nn.Linear(10, 3)
        self.last_step_softmax = last_step_softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        if self.last_step_softmax:
            return torch.softmax(self.fc(y[:, -1]), dim=-1)
        return self.fc(y)


def export_torchscript(net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """torch.onnx.export with the TorchScript exporter (the dynamo one needs onnxscript,
    which edgegru does not depend on; tests/fixtures/exporters holds its files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch", 1: "time"}},
            opset_version=17,
        )
