"""Read an ONNX graph built on the standard ``GRU`` op into a float :class:`Model`.

The reader follows the data from the graph's one data input through a chain of
nodes and turns it into an edgegru model only if the chain computes exactly what
:func:`edgegru.reference.forward` computes. It accepts (``docs/onnx.md`` has the
full list and the reasons):

* ``Sub`` then ``Div`` by constants before the first GRU (the normalisation that
  :func:`~edgegru.backends.onnx_export.export_onnx` writes);
* ``Transpose``, ``Identity`` and the ``Squeeze``/``Reshape`` that drop the GRU's
  num_directions axis, as PyTorch's exporter writes them;
* forward ``GRU`` nodes, layout 0 or 1, ``linear_before_reset`` 0 or 1, default
  activations, no clip;
* a head: ``MatMul`` (+ ``Add``) on every step, or ``Gather`` of the last step then
  ``Gemm`` or ``MatMul`` (+ ``Add``), optionally followed by ``Softmax``,
  ``LogSoftmax`` or ``ArgMax`` on the class axis.

Everything else on the data path is refused by name with :class:`EdgeGruError`:
an edgegru model that silently differs from the file would be worse than none.
Axes are tracked by label ("A"/"B" for the input's first two axes until the first
GRU says which is time, "F" for features, "dir" for num_directions) so that a
Transpose that would feed time as batch is caught rather than trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from ..errors import EdgeGruError
from ..model import GRULayer, Head, HeadKind, Model, Normalisation, Variant
from .onnx_export import swap_update_reset

DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh"]
VARIANT_OF_LINEAR_BEFORE_RESET: dict[int, Variant] = {1: "reset_after", 0: "reset_before"}
# Ops through which an initial_h still comes from a zero constant or a graph input
# (PyTorch builds its zero state with ConstantOfShape -> Slice).
STATE_PASS_OPS = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Slice"}
STATE_PASS_OPS |= {"Expand", "Tile", "Gather"}
CLASS_AXIS_OPS = {"Softmax", "LogSoftmax", "ArgMax"}
SUPPORTED = "Sub, Div, Transpose, Identity, Squeeze, Reshape, GRU, Gather, MatMul, Add, Gemm, "
SUPPORTED += ", ".join(sorted(CLASS_AXIS_OPS))


def describe(node: onnx.NodeProto) -> str:
    """How messages name a node: its op and its name (or first output when unnamed)."""
    return f"{node.op_type} node '{node.name or node.output[0]}'"


def node_attributes(node: onnx.NodeProto) -> dict[str, object]:
    """Attribute values by name, strings decoded."""
    attrs: dict[str, object] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        attrs[attr.name] = value
    return attrs


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.array(helper.get_attribute_value(attr))
    return None


@dataclass
class OnnxGraph:
    """The lookups the reader needs, plus the file name for messages."""

    where: str
    opset: int
    constants: dict[str, np.ndarray]
    inputs: set[str]  # graph inputs the user feeds (initializers excluded)
    producers: dict[str, onnx.NodeProto]
    consumers: dict[str, list[onnx.NodeProto]]
    nodes: list[onnx.NodeProto]

    @classmethod
    def from_proto(cls, proto: onnx.ModelProto, where: str) -> OnnxGraph:
        graph = proto.graph
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        producers: dict[str, onnx.NodeProto] = {}
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.output:
                producers[name] = node
            for name in node.input:
                consumers.setdefault(name, []).append(node)
            value = _constant_node_value(node) if node.op_type == "Constant" else None
            if value is not None:
                constants[node.output[0]] = value
        opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
        inputs = {i.name for i in graph.input if i.name not in constants}
        return cls(where, opset, constants, inputs, producers, consumers, list(graph.node))

    def fail(self, message: str) -> NoReturn:
        raise EdgeGruError(f"{self.where}: {message}")

    def constant(self, node: onnx.NodeProto, port: int, role: str) -> np.ndarray:
        """The value of ``node``'s input ``port``, which must be stored in the file."""
        name = node.input[port] if port < len(node.input) else ""
        if name not in self.constants:
            origin = "a graph input" if name in self.inputs else "computed in the graph"
            self.fail(f"{describe(node)} input {role} '{name}' is {origin}, expected a constant")
        return self.constants[name]

    def state_origin(self, name: str) -> str | None:
        """'zero' or 'input' if an initial state provably is zeros or fed by the user."""
        if name in self.constants:
            return "zero" if not np.any(self.constants[name]) else None
        if name in self.inputs:
            return "input"
        node = self.producers.get(name)
        if node is None:
            return None
        if node.op_type == "ConstantOfShape":
            value = _constant_node_value(node)
            return "zero" if value is None or not np.any(value) else None
        if node.op_type == "Concat":
            origins = {self.state_origin(n) for n in node.input}
            return origins.pop() if len(origins) == 1 else None
        if node.op_type in STATE_PASS_OPS:
            return self.state_origin(node.input[0])
        return None


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file; a missing or non-ONNX file raises :class:`EdgeGruError`."""
    path = Path(path)
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path))
    except PermissionError:
        raise EdgeGruError(f"{path}: not readable (permission denied)") from None
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise EdgeGruError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    except onnx.checker.ValidationError as exc:  # e.g. an external-data file that is missing
        text = str(exc).strip()
        raise EdgeGruError(
            f"{path}: the ONNX file cannot be loaded ({text.splitlines()[0] if text else 'invalid'})"
        ) from None
    if proto.ir_version < 1 or not proto.graph.node:
        raise EdgeGruError(f"{path}: not an ONNX model (no graph inside)")
    return proto


def _check_optional_inputs(graph: OnnxGraph, node: onnx.NodeProto) -> None:
    """sequence_lens and initial_h: accept only what cannot change edgegru's answer.

    A graph-input sequence_lens is ignored: edgegru reads each sequence at its last
    valid step, which is what the ONNX GRU returns for it. A stored one is refused
    because it fixes lengths the model cannot carry. An initial_h must be zeros or
    fed by the user (edgegru models start from zeros unless given a state).
    """
    names = list(node.input) + [""] * 6
    seq, h0 = names[4], names[5]
    if seq and seq not in graph.inputs:
        origin = "a constant" if seq in graph.constants else "computed in the graph"
        graph.fail(
            f"{describe(node)} input sequence_lens '{seq}' is {origin}; edgegru takes "
            "lengths at run time (leave it out or make it a graph input)"
        )
    if h0 and graph.state_origin(h0) is None:
        graph.fail(
            f"{describe(node)} input initial_h '{h0}' is not provably zero nor a graph "
            "input; edgegru models start from a zero state"
        )


def _check_attributes(graph: OnnxGraph, node: onnx.NodeProto, attrs: dict[str, object]) -> None:
    """Refuse, by name, every attribute value that the edgegru equations do not have."""
    who = describe(node)
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        graph.fail(f"{who} direction={direction!r}: edgegru reads forward GRUs only")
    activations = attrs.get("activations")
    if activations is not None and activations != DEFAULT_ACTIVATIONS:
        graph.fail(f"{who} activations={activations}: expected the default {DEFAULT_ACTIVATIONS}")
    for name in ("activation_alpha", "activation_beta", "clip"):
        if name in attrs:
            graph.fail(f"{who} {name}={attrs[name]}: not supported by edgegru")
    for name in ("linear_before_reset", "layout"):
        if attrs.get(name, 0) not in (0, 1):
            graph.fail(f"{who} {name}={attrs[name]}: expected 0 or 1")


def gru_node_to_layer(
    graph: OnnxGraph, node: onnx.NodeProto, input_size: int | None
) -> tuple[GRULayer, Variant, int]:
    """One forward GRU node as (layer, variant, layout); ``input_size`` None takes W's."""
    attrs = node_attributes(node)
    _check_attributes(graph, node, attrs)
    _check_optional_inputs(graph, node)
    who = describe(node)
    w = graph.constant(node, 1, "W")
    r = graph.constant(node, 2, "R")
    if r.ndim != 3:
        graph.fail(f"{who} R has shape {r.shape}, expected [1, 3*hidden, hidden]")
    hidden = int(attrs.get("hidden_size", r.shape[-1]))
    size = w.shape[-1] if input_size is None else input_size
    expected = {"W": (1, 3 * hidden, size), "R": (1, 3 * hidden, hidden), "B": (1, 6 * hidden)}
    has_bias = len(node.input) > 3 and node.input[3] != ""
    b = graph.constant(node, 3, "B") if has_bias else np.zeros(expected["B"], np.float32)
    for role, value in (("W", w), ("R", r), ("B", b)):
        if value.shape != expected[role]:
            graph.fail(
                f"{who} {role} has shape {list(value.shape)}, expected "
                f"{list(expected[role])} for hidden_size={hidden}, input size {size}"
            )
    biases = b[0].reshape(2, 3, hidden).astype(np.float32)
    layer = GRULayer(
        swap_update_reset(w[0].reshape(3, hidden, size).astype(np.float32)),
        swap_update_reset(r[0].reshape(3, hidden, hidden).astype(np.float32)),
        swap_update_reset(biases[0]),
        swap_update_reset(biases[1]),
    )
    lbr = int(attrs.get("linear_before_reset", 0))
    return layer, VARIANT_OF_LINEAR_BEFORE_RESET[lbr], int(attrs.get("layout", 0))


def _as_vector(graph: OnnxGraph, value: np.ndarray, size: int, what: str) -> np.ndarray:
    """A per-channel constant broadcast to (size,), refusing any other broadcast."""
    if value.ndim and (any(d != 1 for d in value.shape[:-1]) or value.shape[-1] not in (1, size)):
        graph.fail(f"{what} has shape {list(value.shape)}, expected one value per channel ({size})")
    return np.broadcast_to(value.reshape(-1).astype(np.float32), (size,)).copy()


def _axis(graph: OnnxGraph, node: onnx.NodeProto, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        graph.fail(f"{describe(node)} axis {axis} is out of range for rank {rank}")
    return axis % rank


@dataclass
class ChainReader:
    """Follows the data path node by node, collecting what becomes the Model."""

    graph: OnnxGraph
    labels: tuple[str, ...] = ("A", "B", "F")
    time: str | None = None
    variant: Variant | None = None
    layers: list[GRULayer] = field(default_factory=list)
    grus: list[onnx.NodeProto] = field(default_factory=list)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None
    class_axis_op: str | None = None

    def run(self, start: str) -> None:
        cur = start
        while cur:
            consumers = [n for n in self.graph.consumers.get(cur, []) if n.op_type != "Shape"]
            if not consumers:
                return
            if len(consumers) > 1:
                names = ", ".join(describe(n) for n in consumers)
                self.graph.fail(f"tensor '{cur}' feeds {names}; edgegru reads one chain")
            node = consumers[0]
            handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if handler is None or list(node.input).count(cur) > 1:
                self.graph.fail(f"{describe(node)} on the GRU data path is not supported ({SUPPORTED})")
            cur = handler(self, node, list(node.input).index(cur))

    # -- helpers ---------------------------------------------------------------
    def _require(self, ok: bool, node: onnx.NodeProto, why: str) -> None:
        if not ok:
            self.graph.fail(f"{describe(node)} {why}")

    def _data_first(self, node: onnx.NodeProto, port: int) -> None:
        self._require(port == 0, node, f"reads the data as input {port}, expected input 0")

    def _on_sequence(self, node: onnx.NodeProto) -> None:
        """A node that needs per-step features: after a GRU output was squeezed, before a head."""
        self._require(self.head_weight is None, node, "comes after the head")
        self._require("dir" not in self.labels, node, "reads a GRU output with its direction axis")
        self._require(self.labels[-1] == "F", node, "does not read features on the last axis")

    # -- handlers: each returns the tensor to follow next ("" to stop) -----------
    def on_normalise(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(not self.layers, node, "comes after a GRU; only input normalisation is read")
        role = "mean" if node.op_type == "Sub" else "std"
        self._require(self.std is None, node, "follows Div; expected (x - mean) / std")
        self._require(getattr(self, role) is None, node, "repeats the normalisation")
        setattr(self, role, self.graph.constant(node, 1, role))
        return node.output[0]

    def on_transpose(self, node: onnx.NodeProto, port: int) -> str:
        perm = node_attributes(node).get("perm", list(range(len(self.labels)))[::-1])
        self._require(sorted(perm) == list(range(len(self.labels))), node, f"perm {perm}")
        self.labels = tuple(self.labels[p] for p in perm)
        return node.output[0]

    def on_identity(self, node: onnx.NodeProto, port: int) -> str:
        return node.output[0]

    def on_squeeze(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._require("dir" in self.labels, node, "only the GRU direction axis may be squeezed")
        if len(node.input) > 1 and node.input[1]:
            axes = self.graph.constant(node, 1, "axes").reshape(-1).tolist()
        else:
            axes = node_attributes(node).get("axes")
        self._require(axes is not None, node, "has no axes; expected the GRU direction axis")
        rank = len(self.labels)
        axes = [_axis(self.graph, node, int(a), rank) for a in axes]
        self._require(axes == [self.labels.index("dir")], node, f"squeezes axes {axes}")
        self.labels = tuple(label for label in self.labels if label != "dir")
        return node.output[0]

    def on_reshape(self, node: onnx.NodeProto, port: int) -> str:
        """A Reshape is read only as dropping the direction axis (size 1) of a GRU output."""
        self._data_first(node, port)
        self._require("dir" in self.labels, node, "only the GRU direction axis may be reshaped")
        shape = self.graph.constant(node, 1, "shape").reshape(-1).tolist()
        kept = tuple(label for label in self.labels if label != "dir")
        hidden = self.layers[-1].hidden_size
        zero_copies = not node_attributes(node).get("allowzero", 0)
        ok = len(shape) == 3 and shape.count(-1) <= 1 and shape[2] in (hidden, -1)
        for i, dim in enumerate(shape[:2] if ok else []):
            ok = ok and (dim == -1 or (dim == 0 and zero_copies and self.labels[i] == kept[i]))
        self._require(ok, node, f"shape {shape} does not just drop the direction axis")
        self.labels = kept
        return node.output[0]

    def on_gru(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(len(self.labels) == 3, node, f"reads a rank-{len(self.labels)} input")
        size = self.layers[-1].hidden_size if self.layers else None
        layer, variant, layout = gru_node_to_layer(self.graph, node, size)
        same = self.variant in (None, variant)
        self._require(same, node, f"is {variant} but the layers before it are {self.variant}")
        step, batch = (self.labels[0], self.labels[1])[:: 1 if layout == 0 else -1]
        if self.time is None:
            self.time = step
        self._require(step == self.time, node, f"layout={layout} reads the batch axis as time")
        self.variant = variant
        self.layers.append(layer)
        self.grus.append(node)
        self.labels = (step, "dir", batch, "F") if layout == 0 else (batch, step, "dir", "F")
        return node.output[0] if node.output else ""

    def on_gather(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(bool(self.layers), node, "comes before any GRU")
        axis = _axis(self.graph, node, int(node_attributes(node).get("axis", 0)), len(self.labels))
        index = self.graph.constant(node, 1, "indices")
        last_step = self.labels[axis] == self.time and index.shape == () and int(index) == -1
        self._require(last_step, node, "is read only as picking the last time step (index -1)")
        self.labels = tuple(label for i, label in enumerate(self.labels) if i != axis)
        return node.output[0]

    def on_matmul(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(bool(self.layers), node, "comes before any GRU")
        weight = self.graph.constant(node, 1, "B")
        hidden = self.layers[-1].hidden_size
        self._require(weight.ndim == 2 and weight.shape[0] == hidden, node, f"weight {weight.shape}")
        self.head_weight = weight.T
        return node.output[0]

    def on_gemm(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(bool(self.layers) and len(self.labels) == 2, node, "needs [batch, hidden]")
        attrs = node_attributes(node)
        self._require(not attrs.get("transA", 0), node, "has transA=1")
        weight = self.graph.constant(node, 1, "B")
        weight = weight if attrs.get("transB", 0) else weight.T
        hidden = self.layers[-1].hidden_size
        self._require(weight.ndim == 2 and weight.shape[1] == hidden, node, f"B {weight.shape}")
        self.head_weight = float(attrs.get("alpha", 1.0)) * weight
        if len(node.input) > 2 and node.input[2]:
            bias = _as_vector(self.graph, self.graph.constant(node, 2, "C"), len(weight), "Gemm C")
            self.head_bias = float(attrs.get("beta", 1.0)) * bias
        return node.output[0]

    def on_add(self, node: onnx.NodeProto, port: int) -> str:
        self._require(self.head_weight is not None, node, "is read only as the head's bias")
        self._require(self.head_bias is None, node, "adds a second head bias")
        assert self.head_weight is not None
        bias = self.graph.constant(node, 1 - port, "bias")
        self.head_bias = _as_vector(self.graph, bias, len(self.head_weight), describe(node))
        return node.output[0]

    def on_class_axis(self, node: onnx.NodeProto, port: int) -> str:
        """Softmax/LogSoftmax/ArgMax over the classes: marks a classifier and ends the chain."""
        self._data_first(node, port)
        self._require(self.head_weight is not None, node, "is read only after a head")
        default = 0 if node.op_type == "ArgMax" else (1 if self.graph.opset < 13 else -1)
        rank = len(self.labels)
        axis = _axis(self.graph, node, int(node_attributes(node).get("axis", default)), rank)
        self._require(axis == rank - 1, node, f"axis {axis} is not the class axis {rank - 1}")
        self.class_axis_op = node.op_type
        return ""


HANDLERS: dict[str, Callable[[ChainReader, onnx.NodeProto, int], str]] = {
    "Sub": ChainReader.on_normalise,
    "Div": ChainReader.on_normalise,
    "Transpose": ChainReader.on_transpose,
    "Identity": ChainReader.on_identity,
    "Squeeze": ChainReader.on_squeeze,
    "Reshape": ChainReader.on_reshape,
    "GRU": ChainReader.on_gru,
    "Gather": ChainReader.on_gather,
    "MatMul": ChainReader.on_matmul,
    "Gemm": ChainReader.on_gemm,
    "Add": ChainReader.on_add,
    **dict.fromkeys(CLASS_AXIS_OPS, ChainReader.on_class_axis),
}


def _data_input(graph: OnnxGraph) -> str:
    """The graph input that reaches the first GRU's X, traced back through first inputs."""
    grus = [n for n in graph.nodes if n.op_type == "GRU"]
    if not grus:
        recurrent = sorted({n.op_type for n in graph.nodes if n.op_type in ("LSTM", "RNN")})
        found = f"; it has {', '.join(recurrent)}, which edgegru does not import" if recurrent else ""
        graph.fail(f"no GRU node in the graph{found}")
    name = grus[0].input[0]
    while name not in graph.inputs:
        producer = graph.producers.get(name)
        if producer is None or not producer.input:
            graph.fail(f"{describe(grus[0])} input X does not come from a graph input")
        name = producer.input[0]
    return name


def _head(graph: OnnxGraph, reader: ChainReader, props: dict[str, str], kind: HeadKind | None) -> Head | None:
    """The head, its kind from the caller, edgegru's metadata, or a class-axis op."""
    if reader.head_weight is None:
        if kind is not None:
            graph.fail(f"head_kind={kind!r} given but no head follows the last GRU")
        return None
    weight = reader.head_weight.astype(np.float32)
    bias = reader.head_bias if reader.head_bias is not None else np.zeros(len(weight))
    stored = props.get("edgegru.head_kind")
    kind = kind or stored or ("classification" if reader.class_axis_op else "regression")
    names = None
    if kind == "classification" and "edgegru.class_names" in props:
        try:
            names = [str(n) for n in json.loads(props["edgegru.class_names"])]
        except (ValueError, TypeError):
            graph.fail("metadata edgegru.class_names is not a JSON list of names")
    return Head(kind, weight, bias.astype(np.float32), names)


def import_onnx(path: str | Path, *, head_kind: HeadKind | None = None) -> Model:
    """Read the GRU chain of an ONNX file into a float Model.

    ``head_kind`` overrides the head's kind; by default it comes from edgegru's
    metadata, else classification if a Softmax/LogSoftmax/ArgMax follows the head,
    else regression.
    """
    if head_kind not in (None, "classification", "regression"):
        raise EdgeGruError(f"head_kind {head_kind!r}: expected classification or regression")
    proto = load_onnx(path)
    graph = OnnxGraph.from_proto(proto, str(path))
    start = _data_input(graph)
    reader = ChainReader(graph)
    reader.run(start)
    for node in graph.nodes:
        if node.op_type == "GRU" and node not in reader.grus:
            graph.fail(f"{describe(node)} is not on the chain from input '{start}'")
    assert reader.variant is not None
    size = reader.layers[0].input_size
    norm = None
    if reader.mean is not None or reader.std is not None:
        mean = np.zeros(size) if reader.mean is None else reader.mean
        std = np.ones(size) if reader.std is None else reader.std
        norm = Normalisation(
            _as_vector(graph, mean, size, "normalisation mean"),
            _as_vector(graph, std, size, "normalisation std"),
        )
    props = {p.key: p.value for p in proto.metadata_props}
    axes = "time,batch,feature" if reader.time == "A" else "batch,time,feature"
    metadata = {"source": f"onnx:{Path(path).name}", "onnx_input_axes": axes}
    if proto.producer_name:
        metadata["onnx_producer"] = f"{proto.producer_name} {proto.producer_version}".strip()
    try:
        return Model(
            size,
            reader.variant,
            reader.layers,
            _head(graph, reader, props, head_kind),
            norm,
            metadata,
        )
    except EdgeGruError as exc:
        graph.fail(str(exc))
