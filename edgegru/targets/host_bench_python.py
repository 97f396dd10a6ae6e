"""The bench's contenders that run in this Python process: torch.nn.GRU and LiteRT.

Each is a :class:`~edgegru.targets.host_bench_rounds.Contender` whose run steps the float
model at batch 1 with the state carried, one call per step, one thread, and reports the
thread CPU time (``time.thread_time_ns``) and the wall time of the whole run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Model
from edgegru.targets.host_bench_rounds import Contender


def timed_loop(name: str, step: Callable[[int], None]) -> Contender:
    """A contender that calls ``step(t)`` for t = 0 .. steps - 1 and times the loop."""

    def run(steps: int) -> tuple[int, int]:
        cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
        for t in range(steps):
            step(t)
        return time.thread_time_ns() - cpu0, time.perf_counter_ns() - wall0

    return Contender(name, run)


def torch_contender(model: Model, x: np.ndarray) -> Contender | None:
    """torch.nn.GRU in float32 (one per layer, then the head's nn.Linear), one thread,
    inference mode. None for ``reset_before``, which nn.GRU does not compute (a Python step
    loop in its place would time Python, not torch)."""
    if model.variant != "reset_after":
        return None
    try:
        import torch
    except ImportError:
        raise EdgeGruError("torch is not installed: pip install 'edgegru[train]'") from None
    grus = []
    for layer in model.layers:
        hidden = layer.hidden_size
        gru = torch.nn.GRU(layer.input_size, hidden, batch_first=True)
        with torch.no_grad():  # same gate order (r, z, n) and layout as PyTorch
            gru.weight_ih_l0.copy_(torch.from_numpy(layer.w_x.reshape(3 * hidden, -1)))
            gru.weight_hh_l0.copy_(torch.from_numpy(layer.w_h.reshape(3 * hidden, hidden)))
            gru.bias_ih_l0.copy_(torch.from_numpy(layer.b_x.reshape(-1)))
            gru.bias_hh_l0.copy_(torch.from_numpy(layer.b_h.reshape(-1)))
        grus.append(gru.eval())
    head = None
    if model.head is not None:
        head = torch.nn.Linear(model.head.weight.shape[1], model.head.weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(model.head.weight))
            head.bias.copy_(torch.from_numpy(model.head.bias))
    steps = [torch.from_numpy(row).reshape(1, 1, -1) for row in x]
    state = [torch.zeros(1, 1, h) for h in model.hidden_sizes]

    @torch.inference_mode()
    def step(t: int) -> None:
        y = steps[t % len(steps)]
        for k, gru in enumerate(grus):
            y, state[k] = gru(y, state[k])
        if head is not None:
            head(y)

    loop = timed_loop("torch", step).run

    def run(steps: int) -> tuple[int, int]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return loop(steps)
        finally:
            torch.set_num_threads(threads)

    return Contender("torch", run)


def litert_contender(path: Path, x: np.ndarray, xnnpack: bool, name: str) -> Contender:
    """LiteRT on a step model (float32 or int8), one thread: per step set x and each layer's
    state h<k>, invoke, get each h<k>_next (fed back raw: the export gives a state and its
    successor the same quantisation) and y. The int8 model's inputs are quantised ahead."""
    from edgegru.tflite.interpreter import create_interpreter, load_interpreter

    resolvers = importlib.import_module(load_interpreter().__module__).OpResolverType
    resolver = resolvers.AUTO if xnnpack else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = create_interpreter(path, 1, experimental_op_resolver_type=resolver)
    inputs = {d["name"]: d for d in interp.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interp.get_output_details()}
    layers = range(len(inputs) - 1)
    steps = [_encoded(row, inputs["x"]) for row in x]
    state: list[Any] = [np.zeros(inputs[f"h{k}"]["shape"], inputs[f"h{k}"]["dtype"]) for k in layers]
    x_index = inputs["x"]["index"]
    state_in = [inputs[f"h{k}"]["index"] for k in layers]
    state_out = [outputs[f"h{k}_next"] for k in layers]
    y_index = outputs["y"]

    def step(t: int) -> None:
        interp.set_tensor(x_index, steps[t % len(steps)])
        for k in layers:
            interp.set_tensor(state_in[k], state[k])
        interp.invoke()
        for k in layers:
            state[k] = interp.get_tensor(state_out[k])
        interp.get_tensor(y_index)

    return timed_loop(name, step)


def _encoded(row: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """One input step in the tensor's dtype, quantised with its scale and zero point if int8."""
    scale, zero_point = detail["quantization"]
    if scale == 0:
        return row.reshape(1, -1).astype(detail["dtype"])
    return np.clip(np.rint(row / scale) + zero_point, -128, 127).astype(np.int8).reshape(1, -1)
