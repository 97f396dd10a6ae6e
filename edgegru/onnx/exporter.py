"""Write a float :class:`~edgegru.nn.model.Model` as an ONNX graph built on the standard ``GRU`` op.

The graph (documented with examples in ``docs/onnx.md``) is, for L layers::

    x [batch, time, D]
      -> Sub(norm_mean) -> Div(norm_std)          (only with a normalisation)
      -> Transpose(1, 0, 2)                        time-major, [time, batch, D]
      -> GRU_k (layout 0, forward) -> Squeeze(1)   hidden{k} [time, batch, H_k], k = 0..L-1
      -> Transpose(1, 0, 2)                        [batch, time, H]
      -> MatMul(head_weight_t) -> Add(head_bias)   (only with a head)
      -> y [batch, time, C] (or [batch, time, H] without a head)

    GRU_k.Y_h -> Squeeze(0) -> h_n_{k} [batch, H_k]
    optional h0_{k} [batch, H_k] -> Unsqueeze(0) -> GRU_k.initial_h

The GRUs use ``layout`` 0 with a Transpose on each side even at opsets that have
``layout`` 1, because onnxruntime's CPU GRU kernel refuses ``layout`` 1 and a file
that the most common runtime cannot load is of little use. The head is MatMul+Add
rather than Gemm because Gemm only takes 2-D inputs and the head runs at every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgegru.core.atomic import atomic_write_bytes
from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.model import Model

DEFAULT_OPSET = 17
MIN_OPSET = 7  # GRU-7 is the first GRU without the removed ``output_sequence`` attribute.
# IR 4 is the first that lets initializers be absent from the graph inputs (older IRs
# would make every weight an overridable input).
MIN_IR_VERSION = 4
SQUEEZE_AXES_AS_INPUT_OPSET = 13  # From opset 13, Squeeze/Unsqueeze take axes as an input.

LINEAR_BEFORE_RESET = {"reset_after": 1, "reset_before": 0}
TIME_MAJOR = (1, 0, 2)


def swap_update_reset(gates: np.ndarray) -> np.ndarray:
    """Swap the first two gate blocks along axis 0: ONNX (z, r, h) <-> edgegru (r, z, n).

    The swap is its own inverse, so export and import share it.
    """
    return gates[[1, 0, 2]]


def onnx_gru_tensors(model: Model, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer k's weights as the GRU op's W [1, 3H, D], R [1, 3H, H] and B [1, 6H]."""
    layer = model.layers[k]
    h = layer.hidden_size
    w = swap_update_reset(layer.w_x).reshape(1, 3 * h, layer.input_size)
    r = swap_update_reset(layer.w_h).reshape(1, 3 * h, h)
    b = np.concatenate([swap_update_reset(layer.b_x).ravel(), swap_update_reset(layer.b_h).ravel()])
    return (w.astype(np.float32), r.astype(np.float32), b.reshape(1, 6 * h).astype(np.float32))


class _GraphBuilder:
    """Collects nodes and initializers; hides the opset's Squeeze/Unsqueeze signature."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str | list[str], **attrs: object) -> str:
        outputs = [output] if isinstance(output, str) else output
        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0]

    def axis_op(self, op: str, data: str, axis: int, output: str) -> str:
        """Squeeze or Unsqueeze one axis, as an input (opset >= 13) or attribute (older)."""
        if self.opset < SQUEEZE_AXES_AS_INPUT_OPSET:
            return self.node(op, [data], output, axes=[axis])
        name = f"axes_{axis}"
        if name not in {t.name for t in self.initializers}:
            self.constant(name, np.array([axis], dtype=np.int64))
        return self.node(op, [data, name], output)


def _float_info(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build_onnx_model(
    model: Model, *, opset: int = DEFAULT_OPSET, initial_state_inputs: bool = False
) -> onnx.ModelProto:
    """The ONNX model for ``model`` (checked with ``onnx.checker``), not yet written."""
    model.validate()
    latest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise EdgeGruError(f"opset {opset!r}: expected an integer from {MIN_OPSET} to {latest}")
    g = _GraphBuilder(opset)
    inputs = [_float_info("x", ["batch", "time", model.input_size])]
    outputs = []
    cur = "x"
    if model.normalisation is not None:
        mean = g.constant("norm_mean", model.normalisation.mean.astype(np.float32))
        std = g.constant("norm_std", model.normalisation.std.astype(np.float32))
        cur = g.node("Div", [g.node("Sub", [cur, mean], "x_centred"), std], "x_normalised")
    cur = g.node("Transpose", [cur], "x_time_major", perm=list(TIME_MAJOR))
    for k, size in enumerate(model.hidden_sizes):
        w, r, b = onnx_gru_tensors(model, k)
        h0 = ""
        if initial_state_inputs:
            inputs.append(_float_info(f"h0_{k}", ["batch", size]))
            h0 = g.axis_op("Unsqueeze", f"h0_{k}", 0, f"h0_{k}_3d")
        gru_inputs = [cur, g.constant(f"W_{k}", w), g.constant(f"R_{k}", r)]
        gru_inputs += [g.constant(f"B_{k}", b), "", h0]
        y, y_h = f"gru{k}_Y", f"gru{k}_Y_h"
        g.node(
            "GRU",
            gru_inputs,
            [y, y_h],
            hidden_size=size,
            linear_before_reset=LINEAR_BEFORE_RESET[model.variant],
            direction="forward",
        )
        cur = g.axis_op("Squeeze", y, 1, f"hidden{k}")
        outputs.append(_float_info(g.axis_op("Squeeze", y_h, 0, f"h_n_{k}"), ["batch", size]))
    if model.head is None:
        g.node("Transpose", [cur], "y", perm=list(TIME_MAJOR))
        width = model.hidden_sizes[-1]
    else:
        cur = g.node("Transpose", [cur], "hidden_batch_major", perm=list(TIME_MAJOR))
        weight_t = g.constant("head_weight_t", model.head.weight.T.astype(np.float32))
        bias = g.constant("head_bias", model.head.bias.astype(np.float32))
        g.node("Add", [g.node("MatMul", [cur, weight_t], "head_matmul"), bias], "y")
        width = model.head.output_size
    outputs.insert(0, _float_info("y", ["batch", "time", width]))
    graph = helper.make_graph(g.nodes, "edgegru", inputs, outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=max(MIN_IR_VERSION, helper.find_min_ir_version_for(opsets)),
        producer_name="edgegru",
        producer_version=__version__,
    )
    helper.set_model_props(proto, _metadata(model))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _metadata(model: Model) -> dict[str, str]:
    """What the graph cannot say by itself, so that import gives back the same model."""
    props = {"edgegru.version": __version__, "edgegru.variant": model.variant}
    if model.frame > 1:
        props["edgegru.frame"] = str(model.frame)
    if model.head is not None:
        props["edgegru.head_kind"] = model.head.kind
        if model.head.class_names is not None:
            props["edgegru.class_names"] = json.dumps(list(model.head.class_names))
    return props


def export_onnx(
    model: Model,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    initial_state_inputs: bool = False,
) -> None:
    """Write ``model`` as a float32 ONNX file (see the module docstring for the graph).

    With ``initial_state_inputs`` the graph takes one ``h0_{k}`` [batch, H_k] input per
    layer; without it every layer starts from zeros, as edgegru models do.
    """
    proto = build_onnx_model(model, opset=opset, initial_state_inputs=initial_state_inputs)
    atomic_write_bytes(path, proto.SerializeToString())
