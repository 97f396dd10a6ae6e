"""Following the data from the graph input through the GRUs to the head, one node at a time.

Exporters write the same model in different forms; each handler here reads one op in the
forms they use and proves it computes what :func:`edgegru.nn.float_reference.forward`
computes, or refuses the node by name saying what was expected (``docs/onnx.md`` lists
the forms and the exporters that write them):

* normalisation before the first GRU: ``Sub``/``Add``/``Mul``/``Div`` by per-channel
  constants, in any order (edgegru writes ``Sub`` then ``Div``, tf2onnx ``Sub`` then ``Mul``);
* layout: ``Transpose``, ``Identity``, ``Cast`` to a float type, ``Squeeze`` of size-one
  axes, and ``Reshape`` to a constant or computed shape that only merges or
  splits adjacent axes (:mod:`edgegru.onnx.shapes`);
* forward ``GRU`` nodes (:mod:`edgegru.onnx.gru_node`);
* the last step: ``Gather`` of index -1 or ``Slice`` from -1 on the time axis;
* the head: ``MatMul`` (+ ``Add``) or ``Gemm``, on every step or on the last, then
  optionally ``Softmax``/``LogSoftmax`` (only layout ops may follow them) or ``ArgMax``.

Axes are tracked by name: ``A`` and ``B`` are the input's first two axes until the first
GRU's layout says which is time, ``F`` the features, ``dir`` the GRU's direction axis,
``step`` a time axis cut to its last step, ``one`` a size-one axis a reshape made. A tensor's
axis is a tuple of names (a reshape may merge axes), so a Transpose or Reshape that would
feed time as batch, or features as time, is caught rather than trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto

from edgegru.core.errors import quote
from edgegru.core.generator_limits import MAX_LAYERS, MAX_OUTPUTS
from edgegru.nn.model import GRULayer, Variant
from edgegru.onnx.graph import OnnxGraph, describe, describe_some, shown_value
from edgegru.onnx.gru_node import gru_node_to_layer
from edgegru.onnx.shapes import MINUS_ONE, ONE, ZERO, Size, product, regroup, shape_value

Axis = tuple[str, ...]
SEQUENCE = ("A", "B")  # the input's first two axes: time and batch, in the order the first GRU says
FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE}  # a Cast to these keeps every float32 value
CLASS_AXIS_OPS = {"Softmax", "LogSoftmax", "ArgMax"}
INPUT_WIDTH = Size(1, ("D",))  # the input's features: their count is known from the first GRU's W
PLACEHOLDERS = {"dir", "step", "one"}  # size-one axes that mean nothing once merged with another
# Ops that only move values, allowed after Softmax/LogSoftmax (whose scores give the same
# class as the logits edgegru computes)
LAYOUT_OPS = {"Identity", "Cast", "Transpose", "Reshape", "Squeeze"}
LOOP_ADVICE = (
    "edgegru reads the ONNX GRU op, and exporters write a Loop for Keras 3 models and for tf.keras "
    "GRUs with reset_after=False or Masking: import the Keras file itself (edgegru import model.keras "
    "or model.h5), or export a tf.keras GRU with reset_after=True and no Masking with tf2onnx, or a "
    "PyTorch nn.GRU with torch.onnx.export"
)


@dataclass
class ChainReader:
    """Follows the data path node by node, collecting what becomes the Model."""

    graph: OnnxGraph
    axes: list[Axis] = field(default_factory=lambda: [("A",), ("B",), ("F",)])
    time: str | None = None
    features: Size = INPUT_WIDTH  # the size of the F axis
    variant: Variant | None = None
    layers: list[GRULayer] = field(default_factory=list)
    grus: list[onnx.NodeProto] = field(default_factory=list)
    normalisation: list[tuple[onnx.NodeProto, np.ndarray]] = field(default_factory=list)
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None
    class_axis_op: str | None = None
    sizes: dict[str, tuple[Size, ...]] = field(default_factory=dict)  # of each tensor passed

    def run(self, start: str) -> None:
        cur = start
        while cur:
            self.sizes[cur] = tuple(product([self._size(a) for a in axis]) for axis in self.axes)
            consumers = [n for n in self.graph.consumers.get(cur, []) if n.op_type != "Shape"]
            if not consumers:
                return
            if len(consumers) > 1:
                names = describe_some(consumers)
                self.graph.fail(f"tensor {quote(cur)} feeds {names}; edgegru reads one chain")
            node = consumers[0]
            handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if handler is None or list(node.input).count(cur) > 1:
                self.graph.fail(f"{describe(node)} on the GRU data path is not supported ({SUPPORTED})")
            if self.class_axis_op and node.op_type not in LAYOUT_OPS | {"ArgMax"}:
                self.graph.fail(
                    f"{describe(node)} follows {self.class_axis_op}: only layout ops "
                    f"({', '.join(sorted(LAYOUT_OPS))}) or ArgMax may follow the class scores"
                )
            cur = handler(self, node, list(node.input).index(cur))

    # -- helpers ---------------------------------------------------------------
    def _require(self, ok: bool, node: onnx.NodeProto, why: str) -> None:
        if not ok:
            self.graph.fail(f"{describe(node)} {why}")

    def _data_first(self, node: onnx.NodeProto, port: int) -> None:
        self._require(port == 0, node, f"reads the data as input {port}, expected input 0")

    def _size(self, atom: str) -> Size:
        if atom in SEQUENCE:
            return Size(1, (atom,))
        return self.features if atom == "F" else ONE

    def _name(self, atom: str) -> str:
        """An axis name for a message."""
        if atom in SEQUENCE:
            if self.time is None:
                return f"input axis {SEQUENCE.index(atom)}"
            return "time" if atom == self.time else "batch"
        return {"F": "features", "dir": "direction", "step": "last step"}.get(atom, "size-1")

    def _shown_axes(self, axes: list[Axis]) -> str:
        return "[" + ", ".join("*".join(self._name(a) for a in axis) for axis in axes) + "]"

    def _axis_list(self, node: onnx.NodeProto, port: int) -> list[int] | None:
        """The axes of a Squeeze: an input from opset 13, an attribute before."""
        if len(node.input) > port and node.input[port]:
            return [int(a) for a in self.graph.int_constant(node, port, "axes").reshape(-1)]
        axes = self.graph.attributes(node).get("axes")
        return None if axes is None else [int(a) for a in axes]

    def _head_weight(self, node: onnx.NodeProto, weight: np.ndarray) -> np.ndarray:
        """A head weight (outputs, hidden), its outputs within what the C generator takes."""
        outputs = len(weight)
        self._require(
            1 <= outputs <= MAX_OUTPUTS, node, f"has {outputs} outputs, expected 1 to {MAX_OUTPUTS}"
        )
        self.features = Size(outputs)
        return weight

    def _on_sequence(self, node: onnx.NodeProto) -> None:
        """A node that needs per-step features: after a GRU output was squeezed, before a head."""
        self._require(self.head_weight is None, node, "comes after the head")
        self._require(all("dir" not in axis for axis in self.axes), node, "reads the GRU direction axis")
        self._require(self.axes[-1] == ("F",), node, "does not read features on the last axis")

    def _after_gru(self, node: onnx.NodeProto) -> None:
        self._require(bool(self.layers), node, "comes before any GRU")
        self._on_sequence(node)

    def _last_step(self, node: onnx.NodeProto, axis: int, ok: bool, keeps_axis: bool) -> str:
        """Pick the last time step on ``axis`` (``ok`` if the node's indices say so), before
        the head or after it (``fc(y)[:, -1]`` is ``fc(y[:, -1])``)."""
        self._require(bool(self.layers), node, "comes before any GRU")
        self._require(all("dir" not in a for a in self.axes), node, "reads the GRU direction axis")
        on_time = self.axes[axis] == (self.time,)
        self._require(ok and on_time, node, "is read only as picking the last time step (index -1)")
        if keeps_axis:
            self.axes[axis] = ("step",)
        else:
            del self.axes[axis]
        return node.output[0]

    # -- handlers: each returns the tensor to follow next ("" to stop) -----------
    def on_arithmetic(self, node: onnx.NodeProto, port: int) -> str:
        """Sub/Add/Mul/Div by a constant: normalisation before the first GRU, the head's bias after."""
        if node.op_type == "Add" and self.head_weight is not None:
            return self.on_head_bias(node, port)
        commutes = node.op_type in ("Add", "Mul")
        self._require(port == 0 or (commutes and port == 1), node, f"reads the data as input {port}")
        self._require(
            not self.layers,
            node,
            "comes after a GRU; expected normalisation before the first GRU or a bias after the head",
        )
        self._on_sequence(node)
        self.normalisation.append((node, self.graph.constant(node, 1 - port, "constant")))
        return node.output[0]

    def on_transpose(self, node: onnx.NodeProto, port: int) -> str:
        rank = len(self.axes)
        perm = self.graph.attributes(node).get("perm", list(range(rank))[::-1])
        self._require(sorted(perm) == list(range(rank)), node, f"perm {shown_value(perm)}")
        self.axes = [self.axes[p] for p in perm]
        return node.output[0]

    def on_identity(self, node: onnx.NodeProto, port: int) -> str:
        return node.output[0]

    def on_cast(self, node: onnx.NodeProto, port: int) -> str:
        to = self.graph.attributes(node).get("to")
        self._require(to in FLOAT_TYPES, node, f"casts to type {to}, expected FLOAT or DOUBLE")
        return node.output[0]

    def on_squeeze(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        axes = self._axis_list(node, 1)
        self._require(axes is not None, node, "has no axes; expected the size-1 axes to drop")
        assert axes is not None
        rank = len(self.axes)
        axes = sorted({self.graph.axis(node, a, rank) for a in axes})
        for a in axes:
            size_one = all(self._size(atom).is_one for atom in self.axes[a])
            self._require(size_one, node, f"squeezes axis {a} ({self._shown_axes([self.axes[a]])})")
        self.axes = [axis for i, axis in enumerate(self.axes) if i not in axes]
        return node.output[0]

    def on_reshape(self, node: onnx.NodeProto, port: int) -> str:
        """A Reshape that merges or splits adjacent axes, to a constant or computed shape."""
        self._data_first(node, port)
        name = node.input[1] if len(node.input) > 1 else ""
        shape = shape_value(self.graph, name, self.sizes) if name else None
        self._require(
            shape is not None,
            node,
            "has a shape computed in a way edgegru does not follow (expected constants and "
            "Shape/Slice/Gather/Concat/Cast/Mul of the data's shape)",
        )
        assert shape is not None
        current = list(self.sizes[node.input[0]])
        copy_zero = not self.graph.attributes(node).get("allowzero", 0)
        target = [
            current[i] if s == ZERO and copy_zero and i < len(current) else s for i, s in enumerate(shape)
        ]
        shown = "[" + ", ".join(map(str, target)) + "]"
        unknown = [i for i, size in enumerate(target) if size == MINUS_ONE]
        ok = len(unknown) <= 1 and all(s == MINUS_ONE or s.factor > 0 for s in target)
        if ok and unknown:
            inferred = product(current).divided_by(product([s for s in target if s != MINUS_ONE]))
            ok = inferred is not None
            target[unknown[0]] = inferred or MINUS_ONE
        atoms = [(atom, self._size(atom)) for axis in self.axes for atom in axis]
        axes = regroup(atoms, target) if ok else None
        self._require(
            axes is not None,
            node,
            f"reshapes {self._shown_axes(self.axes)} to {shown}, which does not keep "
            "time, batch and features apart",
        )
        assert axes is not None
        self.axes = [tuple(a for a in axis if a not in PLACEHOLDERS) or axis[:1] for axis in axes]
        return node.output[0]

    def on_gru(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        rank_three = len(self.axes) == 3 and all(len(axis) == 1 for axis in self.axes)
        self._require(rank_three, node, f"reads {self._shown_axes(self.axes)}, expected 3 axes")
        self._require(
            len(self.layers) < MAX_LAYERS,
            node,
            f"would be layer {len(self.layers) + 1} of at most {MAX_LAYERS}",
        )
        size = self.layers[-1].hidden_size if self.layers else None
        layer, variant, layout = gru_node_to_layer(self.graph, node, size)
        same = self.variant in (None, variant)
        self._require(same, node, f"is {variant} but the layers before it are {self.variant}")
        step, batch = (self.axes[0][0], self.axes[1][0])[:: 1 if layout == 0 else -1]
        if self.time is None and {step, batch} == set(SEQUENCE):
            self.time = step
        self._require(batch != self.time, node, f"layout={layout} reads the batch axis as time")
        expected = "[time, batch, features]" if layout == 0 else "[batch, time, features]"
        self._require(
            step == self.time and batch in SEQUENCE,
            node,
            f"layout={layout} reads {self._shown_axes(self.axes)} as {expected}",
        )
        self.variant = variant
        self.layers.append(layer)
        self.grus.append(node)
        self.features = Size(layer.hidden_size)
        order = (
            [(step,), ("dir",), (batch,), ("F",)] if layout == 0 else [(batch,), (step,), ("dir",), ("F",)]
        )
        self.axes = order
        return node.output[0] if node.output else ""

    def on_gather(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        axis = self.graph.axis(node, int(self.graph.attributes(node).get("axis", 0)), len(self.axes))
        index = self.graph.int_constant(node, 1, "indices")
        ok = index.size == 1 and index.ndim <= 1 and int(index.reshape(-1)[0]) == -1
        return self._last_step(node, axis, ok, keeps_axis=index.ndim == 1)

    def on_slice(self, node: onnx.NodeProto, port: int) -> str:
        """A Slice from -1 to past the end, step 1, on the time axis only (tf2onnx's last step)."""
        self._data_first(node, port)
        if self.graph.opset < 10:
            attrs = self.graph.attributes(node)
            starts, ends = attrs.get("starts", []), attrs.get("ends", [])
            axes, steps = attrs.get("axes", list(range(len(starts)))), [1]
        else:
            starts, ends = (
                self.graph.int_constant(node, p, r).reshape(-1).tolist()
                for p, r in ((1, "starts"), (2, "ends"))
            )
            given = [len(node.input) > p and bool(node.input[p]) for p in (3, 4)]
            axes = self.graph.int_constant(node, 3, "axes").reshape(-1).tolist() if given[0] else [0]
            steps = self.graph.int_constant(node, 4, "steps").reshape(-1).tolist() if given[1] else [1]
        one = [len(v) for v in (starts, ends, axes, steps)] == [1, 1, 1, 1]
        axis = self.graph.axis(node, int(axes[0]), len(self.axes)) if one else 0
        ok = one and starts[0] == -1 and ends[0] >= 2**31 - 1 and steps[0] == 1
        return self._last_step(node, axis, ok, keeps_axis=True)

    def on_matmul(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._after_gru(node)
        weight = self.graph.constant(node, 1, "B")
        hidden = self.layers[-1].hidden_size
        self._require(weight.ndim == 2 and weight.shape[0] == hidden, node, f"weight {weight.shape}")
        self.head_weight = self._head_weight(node, weight.T)
        return node.output[0]

    def on_gemm(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._after_gru(node)
        self._require(len(self.axes) == 2, node, "needs [batch, hidden]")
        attrs = self.graph.attributes(node)
        self._require(not attrs.get("transA", 0), node, "has transA=1")
        weight = self.graph.constant(node, 1, "B")
        weight = weight if attrs.get("transB", 0) else weight.T
        hidden = self.layers[-1].hidden_size
        self._require(weight.ndim == 2 and weight.shape[1] == hidden, node, f"B {weight.shape}")
        self.head_weight = self._head_weight(node, float(attrs.get("alpha", 1.0)) * weight)
        if len(node.input) > 2 and node.input[2]:
            bias = self.graph.vector(self.graph.constant(node, 2, "C"), len(weight), "Gemm C")
            self.head_bias = float(attrs.get("beta", 1.0)) * bias
        return node.output[0]

    def on_head_bias(self, node: onnx.NodeProto, port: int) -> str:
        assert self.head_weight is not None
        self._require(self.head_bias is None, node, "adds a second head bias")
        self._require(port < 2, node, f"reads the data as input {port}, expected input 0 or 1")
        self._require(self.axes[-1] == ("F",), node, "does not add to the head outputs on the last axis")
        bias = self.graph.constant(node, 1 - port, "bias")
        self.head_bias = self.graph.vector(bias, len(self.head_weight), describe(node))
        return node.output[0]

    def on_class_axis(self, node: onnx.NodeProto, port: int) -> str:
        """Softmax/LogSoftmax/ArgMax over the classes: marks a classifier; ArgMax ends the chain."""
        self._data_first(node, port)
        self._require(self.head_weight is not None, node, "is read only after a head")
        default = 0 if node.op_type == "ArgMax" else (1 if self.graph.opset < 13 else -1)
        rank = len(self.axes)
        axis = self.graph.axis(node, int(self.graph.attributes(node).get("axis", default)), rank)
        on_classes = axis == rank - 1 and self.axes[-1] == ("F",)
        self._require(on_classes, node, f"axis {axis} is not the class axis {rank - 1}")
        self.class_axis_op = node.op_type
        return "" if node.op_type == "ArgMax" else node.output[0]

    def on_loop(self, node: onnx.NodeProto, port: int) -> str:
        self.graph.fail(f"{describe(node)} computes the recurrence; {LOOP_ADVICE}")


HANDLERS: dict[str, Callable[[ChainReader, onnx.NodeProto, int], str]] = {
    **dict.fromkeys(("Sub", "Add", "Mul", "Div"), ChainReader.on_arithmetic),
    "Transpose": ChainReader.on_transpose,
    "Identity": ChainReader.on_identity,
    "Cast": ChainReader.on_cast,
    "Squeeze": ChainReader.on_squeeze,
    "Reshape": ChainReader.on_reshape,
    "GRU": ChainReader.on_gru,
    "Gather": ChainReader.on_gather,
    "Slice": ChainReader.on_slice,
    "MatMul": ChainReader.on_matmul,
    "Gemm": ChainReader.on_gemm,
    **dict.fromkeys(CLASS_AXIS_OPS, ChainReader.on_class_axis),
    **dict.fromkeys(("Loop", "Scan"), ChainReader.on_loop),
}
SUPPORTED = ", ".join(sorted(set(HANDLERS) - {"Loop", "Scan"}))
