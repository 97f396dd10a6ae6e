"""Read an ONNX graph built on the standard ``GRU`` op into a float :class:`Model`.

The reader follows the data from the graph's one data input through a chain of
nodes and turns it into an edgegru model only if the chain computes exactly what
:func:`edgegru.nn.float_reference.forward` computes. It accepts (``docs/onnx.md`` has the
full list and the reasons):

* ``Sub`` then ``Div`` by constants before the first GRU (the normalisation that
  :func:`~edgegru.onnx.exporter.export_onnx` writes);
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

ONNX files come from strangers, so nothing in one is trusted before it is checked:
the file's size before it is read; every tensor's type, dims and (external) data size
before it becomes an array, against limits derived from what the C generator takes;
the wiring (one maker per tensor, no dangling input, no cycle) before any walk; every
attribute's type before its value is used. Every string from the file reaches a
message through :func:`~edgegru.core.errors.quote`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import NoReturn

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from edgegru.core.errors import QUOTE_LIMIT, EdgeGruError, one_line, quote
from edgegru.nn.model import (
    HEAD_KINDS,
    MAX_LAYERS,
    MAX_NAME_BYTES,
    MAX_OUTPUTS,
    MAX_SIZE,
    GRULayer,
    Head,
    HeadKind,
    Model,
    Normalisation,
    Variant,
)
from edgegru.onnx.exporter import swap_update_reset

DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh"]
VARIANT_OF_LINEAR_BEFORE_RESET: dict[int, Variant] = {1: "reset_after", 0: "reset_before"}
# Ops through which an initial_h still comes from a zero constant or a graph input
# (PyTorch builds its zero state with ConstantOfShape -> Slice).
STATE_PASS_OPS = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Slice"}
STATE_PASS_OPS |= {"Expand", "Tile", "Gather"}
CLASS_AXIS_OPS = {"Softmax", "LogSoftmax", "ArgMax"}
SUPPORTED = "Sub, Div, Transpose, Identity, Squeeze, Reshape, GRU, Gather, MatMul, Add, Gemm, "
SUPPORTED += ", ".join(sorted(CLASS_AXIS_OPS))

# Limits on what a file may make the reader do. A model within the C generator's limits
# (sizes up to MAX_SIZE, MAX_OUTPUTS head outputs) stays far inside every one of them.
MAX_FILE_BYTES = 64 * 2**20  # MAX_LAYERS GRU(512) in float32 (6 MB each) + the largest head: 52 MB
# Nodes, initializers, inputs of a node, ...: PyTorch writes about 25 nodes per GRU layer, so
# a real GRU stack has a few hundred at most. The limit keeps every pass over them instant.
MAX_ENTRIES = 10_000
MAX_RANK = 8  # GRU weights have rank 3; deeper tensors are not weights (and NumPy stops at 64)
MAX_ELEMENTS = 3 * MAX_SIZE * MAX_SIZE  # the largest tensor such a model has: W or R, 1 x 3*512 x 512
# Bytes of constants turned into arrays, counted at every use: a real file's constants are
# read about once, so this only stops one weight shared by thousands of GRU nodes (or read
# from one external file by thousands of tensors) from multiplying memory past the file's.
MAX_READ_BYTES = 2 * MAX_FILE_BYTES
# edgegru.class_names: the JSON of MAX_OUTPUTS longest names with every byte \uXXXX-escaped
MAX_CLASS_NAMES_JSON = MAX_OUTPUTS * (6 * MAX_NAME_BYTES + 4)
MAX_SHOWN = 4  # list items (or nodes) a message shows before "…"
NUMBER_TYPES = frozenset({
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL,
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
})  # fmt: skip
# The type ONNX defines for every attribute the reader uses (the names mean the same in
# every op it reads); a value of another type is refused before it is used.
ATTRIBUTE_TYPES = {
    "direction": AttributeProto.STRING,
    "activations": AttributeProto.STRINGS,
    "activation_alpha": AttributeProto.FLOATS,
    "activation_beta": AttributeProto.FLOATS,
    "clip": AttributeProto.FLOAT,
    "hidden_size": AttributeProto.INT,
    "linear_before_reset": AttributeProto.INT,
    "layout": AttributeProto.INT,
    "perm": AttributeProto.INTS,
    "axes": AttributeProto.INTS,
    "axis": AttributeProto.INT,
    "allowzero": AttributeProto.INT,
    "transA": AttributeProto.INT,
    "transB": AttributeProto.INT,
    "alpha": AttributeProto.FLOAT,
    "beta": AttributeProto.FLOAT,
}
# Constant-node attributes holding plain numbers: (attribute, its type) -> tensor type
CONSTANT_NUMBERS = {
    ("value_float", AttributeProto.FLOAT): TensorProto.FLOAT,
    ("value_floats", AttributeProto.FLOATS): TensorProto.FLOAT,
    ("value_int", AttributeProto.INT): TensorProto.INT64,
    ("value_ints", AttributeProto.INTS): TensorProto.INT64,
}


def _enum_name(name_of: Callable[[int], str], value: int) -> str:
    """An enum value's name (``name_of`` is the enum's ``Name``), or the number for values
    this onnx does not know."""
    try:
        return name_of(value)
    except ValueError:
        return str(value)


def _op(node: onnx.NodeProto) -> str:
    """A node's op type, quoted unless it is a plain name as every real op type is."""
    op = node.op_type
    plain = isinstance(op, str) and op.isascii() and op.isidentifier() and len(op) <= 40
    return op if plain else quote(op)


def describe(node: onnx.NodeProto) -> str:
    """How messages name a node: its op and its name (or first output when unnamed)."""
    return f"{_op(node)} node {quote(node.name or (node.output[0] if node.output else ''))}"


def _describe_some(nodes: list[onnx.NodeProto]) -> str:
    """Nodes for a message: the first few, then how many more."""
    shown = ", ".join(describe(n) for n in nodes[:MAX_SHOWN])
    return shown + (f" and {len(nodes) - MAX_SHOWN} more" if len(nodes) > MAX_SHOWN else "")


def _shown_value(value: object) -> str:
    """An attribute value for a message: numbers as they are, strings quoted, lists cut short."""
    if isinstance(value, list):
        items = [_shown_value(v) for v in value[:MAX_SHOWN]] + (["…"] if len(value) > MAX_SHOWN else [])
        return f"[{', '.join(items)}]"
    return repr(value) if isinstance(value, int | float) else quote(value)


def _decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _attribute_value(attr: onnx.AttributeProto) -> object:
    """The value of an attribute of one of the types in ATTRIBUTE_TYPES."""
    if attr.type == AttributeProto.STRING:
        return _decoded(attr.s)
    if attr.type == AttributeProto.STRINGS:
        return [_decoded(s) for s in attr.strings]
    field_name = {AttributeProto.FLOAT: "f", AttributeProto.INT: "i"}.get(attr.type)
    if field_name:
        return getattr(attr, field_name)
    return list(attr.floats if attr.type == AttributeProto.FLOATS else attr.ints)


class OnnxGraph:
    """The lookups the reader needs, built from a checked graph, plus the file for messages.

    Stored tensors are checked when the graph is built but stay protobuf until a rule
    needs their value: :meth:`array` converts one then, so a tensor no rule reads never
    costs memory, and external data is read only for tensors that are used.
    """

    def __init__(self, proto: onnx.ModelProto, where: str, base_dir: Path) -> None:
        self.where = where
        self.base_dir = base_dir
        self.opset = self._default_opset(proto)
        self.nodes = list(proto.graph.node)
        self.constants: dict[str, onnx.TensorProto] = {}  # initializers and Constant nodes
        self.inputs: set[str] = set()  # graph inputs the user feeds (initializers excluded)
        self.producers: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.read_bytes = 0
        self._index(proto.graph)
        self._check_acyclic()

    def fail(self, message: str) -> NoReturn:
        raise EdgeGruError(f"{self.where}: {message}")

    # -- building and checking ---------------------------------------------------------
    def _default_opset(self, proto: onnx.ModelProto) -> int:
        """The ai.onnx opset version: the meaning of every op (and of some defaults) depends on it."""
        versions = {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")}
        latest = onnx.defs.onnx_opset_version()
        if len(versions) != 1 or not 1 <= min(versions) <= latest:
            found = ", ".join(str(v) for v in sorted(versions)[:MAX_SHOWN]) or "none"
            self.fail(f"default (ai.onnx) opset import {found}: expected one version from 1 to {latest}")
        return versions.pop()

    def _index(self, graph: onnx.GraphProto) -> None:
        """Fill the lookups, refusing a tensor made twice and an input nothing makes."""
        made: dict[str, onnx.NodeProto | str] = {}  # tensor -> its maker, named only in a message

        def define(name: str, maker: onnx.NodeProto | str) -> None:
            if name in made:
                first, second = (m if isinstance(m, str) else describe(m) for m in (made[name], maker))
                self.fail(f"tensor {quote(name)} is made by both {first} and {second}")
            made[name] = maker

        for tensor in graph.initializer:
            define(tensor.name, "an initializer")
            self._check_tensor(tensor, f"initializer {quote(tensor.name)}")
            self.constants[tensor.name] = tensor
        for sparse in graph.sparse_initializer:  # known names, but never read as constants
            define(sparse.values.name, "a sparse initializer")
        for info in graph.input:
            if info.name not in self.constants:
                define(info.name, "a graph input")
                self.inputs.add(info.name)
        for node in self.nodes:
            for name in filter(None, node.output):
                define(name, node)
                self.producers[name] = node
            tensor = self._constant_tensor(node) if node.op_type == "Constant" else None
            if tensor is not None and node.output:
                self._check_tensor(tensor, f"{describe(node)} value")
                self.constants[node.output[0]] = tensor
        for node in self.nodes:
            for name in dict.fromkeys(filter(None, node.input)):
                if name not in made:
                    self.fail(
                        f"{describe(node)} input {quote(name)} is made by no node, initializer or input"
                    )
                self.consumers.setdefault(name, []).append(node)

    def _constant_tensor(self, node: onnx.NodeProto) -> onnx.TensorProto | None:
        """A Constant node's value as a tensor (None for kinds the reader never needs)."""
        for attr in node.attribute:
            if attr.name == "value" and attr.type == AttributeProto.TENSOR:
                return attr.t
            data_type = CONSTANT_NUMBERS.get((attr.name, attr.type))
            if data_type is None:
                continue
            count = len(attr.floats) + len(attr.ints)
            if count > MAX_ELEMENTS:
                self.fail(f"{describe(node)} holds {count} values, more than {MAX_ELEMENTS}")
            values = _attribute_value(attr)
            dims = [len(values)] if isinstance(values, list) else []
            return helper.make_tensor("", data_type, dims, values if isinstance(values, list) else [values])
        return None

    def _check_acyclic(self) -> None:
        """Refuse a cycle, naming a node on it: every walk of the reader would go round it forever.

        Kahn's algorithm takes nodes whose inputs are all made; nodes left over wait on
        each other, and following waited-on nodes from any of them must come back round.
        """
        position = {id(node): k for k, node in enumerate(self.nodes)}
        waits_on = [
            {position[id(self.producers[name])] for name in node.input if name in self.producers}
            for node in self.nodes
        ]
        waiting = [len(w) for w in waits_on]
        unblocks: list[list[int]] = [[] for _ in self.nodes]
        for k, before in enumerate(waits_on):
            for j in before:
                unblocks[j].append(k)
        ready = [k for k, n in enumerate(waiting) if n == 0]
        while ready:
            for k in unblocks[ready.pop()]:
                waiting[k] -= 1
                if waiting[k] == 0:
                    ready.append(k)
        left = next((k for k, n in enumerate(waiting) if n), None)
        if left is None:
            return
        seen: set[int] = set()
        while left not in seen:
            seen.add(left)
            left = next(j for j in waits_on[left] if waiting[j])
        self.fail(f"{describe(self.nodes[left])} is on a cycle; an ONNX graph must be acyclic")

    def _check_tensor(self, tensor: onnx.TensorProto, what: str) -> None:
        """Type, dims and where the data is: everything that sizes the array, before it exists."""
        if tensor.data_type not in NUMBER_TYPES:
            found = _enum_name(TensorProto.DataType.Name, tensor.data_type)
            self.fail(f"{what} has data type {found}, expected a number type")
        dims = list(tensor.dims)
        if len(dims) > MAX_RANK or min(dims, default=0) < 0 or math.prod(dims) > MAX_ELEMENTS:
            self.fail(
                f"{what} has dims {_shown_value(dims)}, expected at most {MAX_RANK} non-negative dims "
                f"and {MAX_ELEMENTS} elements (the largest GRU tensor the C generator takes)"
            )
        if tensor.data_location == TensorProto.EXTERNAL:
            self._external_location(tensor, what)
        elif tensor.data_location != TensorProto.DEFAULT:
            self.fail(f"{what} has data_location {tensor.data_location}, expected DEFAULT or EXTERNAL")

    def _external_location(self, tensor: onnx.TensorProto, what: str) -> PurePath:
        """The external data file, relative to the model's directory and never leaving it."""
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        relative = PurePath(location) if isinstance(location, str) and "\0" not in location else None
        if relative is None or not location or relative.anchor or ".." in relative.parts:
            self.fail(
                f"{what} external data location {quote(location)}: expected a file name "
                "relative to the model's directory, without '..'"
            )
        return relative

    def _inline(self, tensor: onnx.TensorProto, what: str, nbytes: int) -> onnx.TensorProto:
        """A copy of an external tensor with its data read in."""
        inline = onnx.TensorProto()
        inline.CopyFrom(tensor)
        inline.ClearField("external_data")
        inline.data_location = TensorProto.DEFAULT
        inline.raw_data = self._external_bytes(tensor, what, nbytes)
        return inline

    def _external_bytes(self, tensor: onnx.TensorProto, what: str, nbytes: int) -> bytes:
        """The ``nbytes`` of an external tensor, after checking its file really holds them."""
        base = self.base_dir.resolve()
        location = self._external_location(tensor, what)
        path = (base / location).resolve()
        shown = quote(str(location))
        if not path.is_relative_to(base):
            self.fail(f"{what} external data {shown} lies outside the model's directory")
        if not path.is_file():
            self.fail(f"the ONNX file cannot be loaded (external data {shown} of {what} is missing)")
        keys = {e.key: e.value for e in tensor.external_data}
        try:
            offset, length = int(keys.get("offset", 0)), int(keys.get("length", nbytes))
            size = path.stat().st_size
            if offset < 0 or length != nbytes or offset + nbytes > size:
                self.fail(
                    f"{what} external data {shown}: offset {offset}, length {length} in a file of "
                    f"{size} bytes, expected {nbytes} bytes inside the file"
                )
            with path.open("rb") as file:
                file.seek(offset)
                return file.read(nbytes)
        except ValueError:
            self.fail(f"{what} external data offset or length is not a whole number")
        except OSError as exc:
            self.fail(f"{what} external data {shown} cannot be read ({exc.strerror or exc})")

    # -- reading values ------------------------------------------------------------------
    def array(self, tensor: onnx.TensorProto, what: str) -> np.ndarray:
        """A checked tensor as an array, its bytes counted against MAX_READ_BYTES first."""
        self._check_tensor(tensor, what)
        nbytes = math.prod(tensor.dims) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        self.read_bytes += nbytes
        if self.read_bytes > MAX_READ_BYTES:
            self.fail(f"reading {what} takes the constants read past {MAX_READ_BYTES} bytes")
        if tensor.data_location == TensorProto.EXTERNAL:
            tensor = self._inline(tensor, what, nbytes)
        try:
            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError):
            self.fail(f"{what} is damaged: its data does not fit its type and dims")

    def constant(self, node: onnx.NodeProto, port: int, role: str) -> np.ndarray:
        """The value of ``node``'s input ``port``, which must be stored in the file."""
        name = node.input[port] if port < len(node.input) else ""
        if not name:
            self.fail(f"{describe(node)} has no input {role}")
        if name not in self.constants:
            origin = "a graph input" if name in self.inputs else "computed in the graph"
            self.fail(f"{describe(node)} input {role} {quote(name)} is {origin}, expected a constant")
        return self.array(self.constants[name], f"{describe(node)} input {role} {quote(name)}")

    def int_constant(self, node: onnx.NodeProto, port: int, role: str) -> np.ndarray:
        """A stored input that must hold integers (axes, indices, shapes)."""
        value = self.constant(node, port, role)
        if value.dtype.kind not in "iu":
            self.fail(f"{describe(node)} input {role} holds {value.dtype} values, expected integers")
        return value

    def state_origin(self, name: str) -> str | None:
        """'zero' or 'input' if an initial state provably is zeros or fed by the user.

        Walks back through STATE_PASS_OPS (first input) and Concat (all inputs) to the
        sources; the state has an origin if all sources have the same one. The walk keeps
        a visited set, so a graph of many Concats sharing inputs costs each tensor once.
        """
        origins: set[str | None] = set()
        seen: set[str] = set()
        todo = [name]
        while todo and None not in origins:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            node = self.producers.get(name)
            if name in self.constants:
                stored = self.array(self.constants[name], f"tensor {quote(name)}")
                origins.add("zero" if not np.any(stored) else None)
            elif name in self.inputs:
                origins.add("input")
            elif node is not None and node.op_type == "ConstantOfShape":
                origins.add("zero" if not np.any(self._fill_value(node)) else None)
            elif node is not None and node.op_type == "Concat" and node.input:
                todo.extend(node.input)
            elif node is not None and node.op_type in STATE_PASS_OPS and node.input:
                todo.append(node.input[0])
            else:
                origins.add(None)
        return origins.pop() if len(origins) == 1 else None

    def _fill_value(self, node: onnx.NodeProto) -> np.ndarray:
        """A ConstantOfShape's fill value (0 when it has none)."""
        for attr in node.attribute:
            if attr.name == "value" and attr.type == AttributeProto.TENSOR:
                return self.array(attr.t, f"{describe(node)} value")
        return np.zeros(1)

    def attributes(self, node: onnx.NodeProto) -> dict[str, object]:
        """The attributes the reader uses, each checked to have the type ONNX defines for it."""
        attrs: dict[str, object] = {}
        for attr in node.attribute:
            expected = ATTRIBUTE_TYPES.get(attr.name)
            if expected is None:
                continue
            if attr.type != expected:
                found = _enum_name(AttributeProto.AttributeType.Name, attr.type)
                wanted = _enum_name(AttributeProto.AttributeType.Name, expected)
                self.fail(f"{describe(node)} attribute {attr.name} has type {found}, expected {wanted}")
            attrs[attr.name] = _attribute_value(attr)
        return attrs


def _read_capped(path: Path) -> bytes:
    """The file's bytes, refusing more than MAX_FILE_BYTES before reading them all."""
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise EdgeGruError(f"{path}: larger than {MAX_FILE_BYTES} bytes, more than any model edgegru takes")
    return data


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file, without its external data (read later, after checks).

    A missing, oversized or non-ONNX file, or an IR version this onnx does not know,
    raises :class:`EdgeGruError`.
    """
    path = Path(path)
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    try:
        proto = onnx.load_model_from_string(_read_capped(path))
    except PermissionError:
        raise EdgeGruError(f"{path}: not readable (permission denied)") from None
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise EdgeGruError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    if proto.ir_version < 1 and not proto.graph.node:
        raise EdgeGruError(f"{path}: not an ONNX model (no graph inside)")
    if not 1 <= proto.ir_version <= onnx.IR_VERSION:
        raise EdgeGruError(f"{path}: ir_version {proto.ir_version}, expected 1 to {onnx.IR_VERSION}")
    if not proto.graph.node:
        raise EdgeGruError(f"{path}: the graph has no nodes")
    _check_counts(proto, path)
    return proto


def _check_counts(proto: onnx.ModelProto, path: Path) -> None:
    """Refuse more than MAX_ENTRIES of anything the reader loops over, before any loop."""
    graph = proto.graph
    lists = {"nodes": graph.node, "initializers": graph.initializer, "graph inputs": graph.input}
    lists |= {"sparse initializers": graph.sparse_initializer, "metadata entries": proto.metadata_props}
    lists |= {"opset imports": proto.opset_import}
    for what, entries in lists.items():
        if len(entries) > MAX_ENTRIES:
            raise EdgeGruError(f"{path}: {len(entries)} {what}, more than the {MAX_ENTRIES} edgegru reads")
    for node in graph.node:
        if max(len(node.input), len(node.output), len(node.attribute)) > MAX_ENTRIES:
            raise EdgeGruError(
                f"{path}: {describe(node)} has more than {MAX_ENTRIES} inputs, outputs or attributes"
            )


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
            f"{describe(node)} input sequence_lens {quote(seq)} is {origin}; edgegru takes "
            "lengths at run time (leave it out or make it a graph input)"
        )
    if h0 and graph.state_origin(h0) is None:
        graph.fail(
            f"{describe(node)} input initial_h {quote(h0)} is not provably zero nor a graph "
            "input; edgegru models start from a zero state"
        )


def _check_attributes(graph: OnnxGraph, node: onnx.NodeProto, attrs: dict[str, object]) -> None:
    """Refuse, by name, every attribute value that the edgegru equations do not have."""
    who = describe(node)
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        graph.fail(f"{who} direction={quote(direction)}: edgegru reads forward GRUs only")
    activations = attrs.get("activations")
    if activations is not None and activations != DEFAULT_ACTIVATIONS:
        graph.fail(
            f"{who} activations={_shown_value(activations)}: expected the default {DEFAULT_ACTIVATIONS}"
        )
    for name in ("activation_alpha", "activation_beta", "clip"):
        if name in attrs:
            graph.fail(f"{who} {name}={_shown_value(attrs[name])}: not supported by edgegru")
    for name in ("linear_before_reset", "layout"):
        if attrs.get(name, 0) not in (0, 1):
            graph.fail(f"{who} {name}={attrs[name]}: expected 0 or 1")


def _gru_weights(
    graph: OnnxGraph, node: onnx.NodeProto, attrs: dict[str, object]
) -> tuple[np.ndarray, np.ndarray, int]:
    """(W, R, hidden size): rank and sizes checked against MAX_SIZE before anything is derived."""
    who = describe(node)
    w, r = graph.constant(node, 1, "W"), graph.constant(node, 2, "R")
    for role, value in (("W", w), ("R", r)):
        if value.ndim != 3:
            graph.fail(f"{who} {role} has shape {list(value.shape)}, expected [1, 3*hidden, size]")
    hidden = int(attrs.get("hidden_size", r.shape[-1]))
    if not 1 <= hidden <= MAX_SIZE:
        graph.fail(f"{who} hidden_size={hidden}: expected 1 to {MAX_SIZE} (the C generator's limit)")
    return w, r, hidden


def gru_node_to_layer(
    graph: OnnxGraph, node: onnx.NodeProto, input_size: int | None
) -> tuple[GRULayer, Variant, int]:
    """One forward GRU node as (layer, variant, layout); ``input_size`` None takes W's."""
    attrs = graph.attributes(node)
    _check_attributes(graph, node, attrs)
    _check_optional_inputs(graph, node)
    who = describe(node)
    w, r, hidden = _gru_weights(graph, node, attrs)
    size = w.shape[-1] if input_size is None else input_size
    if not 1 <= size <= MAX_SIZE:
        graph.fail(f"{who} input size {size}: expected 1 to {MAX_SIZE} (the C generator's limit)")
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
                names = _describe_some(consumers)
                self.graph.fail(f"tensor {quote(cur)} feeds {names}; edgegru reads one chain")
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

    def _head_weight(self, node: onnx.NodeProto, weight: np.ndarray) -> np.ndarray:
        """A head weight (outputs, hidden), its outputs within what the C generator takes."""
        outputs = len(weight)
        self._require(
            1 <= outputs <= MAX_OUTPUTS, node, f"has {outputs} outputs, expected 1 to {MAX_OUTPUTS}"
        )
        return weight

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
        perm = self.graph.attributes(node).get("perm", list(range(len(self.labels)))[::-1])
        self._require(sorted(perm) == list(range(len(self.labels))), node, f"perm {_shown_value(perm)}")
        self.labels = tuple(self.labels[p] for p in perm)
        return node.output[0]

    def on_identity(self, node: onnx.NodeProto, port: int) -> str:
        return node.output[0]

    def on_squeeze(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._require("dir" in self.labels, node, "only the GRU direction axis may be squeezed")
        if len(node.input) > 1 and node.input[1]:
            axes = self.graph.int_constant(node, 1, "axes").reshape(-1).tolist()
        else:
            axes = self.graph.attributes(node).get("axes")
        self._require(axes is not None, node, "has no axes; expected the GRU direction axis")
        rank = len(self.labels)
        axes = [_axis(self.graph, node, int(a), rank) for a in axes]
        self._require(axes == [self.labels.index("dir")], node, f"squeezes axes {_shown_value(axes)}")
        self.labels = tuple(label for label in self.labels if label != "dir")
        return node.output[0]

    def on_reshape(self, node: onnx.NodeProto, port: int) -> str:
        """A Reshape is read only as dropping the direction axis (size 1) of a GRU output."""
        self._data_first(node, port)
        self._require("dir" in self.labels, node, "only the GRU direction axis may be reshaped")
        shape = self.graph.int_constant(node, 1, "shape").reshape(-1).tolist()
        kept = tuple(label for label in self.labels if label != "dir")
        hidden = self.layers[-1].hidden_size
        zero_copies = not self.graph.attributes(node).get("allowzero", 0)
        ok = len(shape) == 3 and shape.count(-1) <= 1 and shape[2] in (hidden, -1)
        for i, dim in enumerate(shape[:2] if ok else []):
            ok = ok and (dim == -1 or (dim == 0 and zero_copies and self.labels[i] == kept[i]))
        self._require(ok, node, f"shape {_shown_value(shape)} does not just drop the direction axis")
        self.labels = kept
        return node.output[0]

    def on_gru(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(len(self.labels) == 3, node, f"reads a rank-{len(self.labels)} input")
        self._require(
            len(self.layers) < MAX_LAYERS,
            node,
            f"would be layer {len(self.layers) + 1} of at most {MAX_LAYERS}",
        )
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
        axis = _axis(self.graph, node, int(self.graph.attributes(node).get("axis", 0)), len(self.labels))
        index = self.graph.int_constant(node, 1, "indices")
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
        self.head_weight = self._head_weight(node, weight.T)
        return node.output[0]

    def on_gemm(self, node: onnx.NodeProto, port: int) -> str:
        self._data_first(node, port)
        self._on_sequence(node)
        self._require(bool(self.layers) and len(self.labels) == 2, node, "needs [batch, hidden]")
        attrs = self.graph.attributes(node)
        self._require(not attrs.get("transA", 0), node, "has transA=1")
        weight = self.graph.constant(node, 1, "B")
        weight = weight if attrs.get("transB", 0) else weight.T
        hidden = self.layers[-1].hidden_size
        self._require(weight.ndim == 2 and weight.shape[1] == hidden, node, f"B {weight.shape}")
        self.head_weight = self._head_weight(node, float(attrs.get("alpha", 1.0)) * weight)
        if len(node.input) > 2 and node.input[2]:
            bias = _as_vector(self.graph, self.graph.constant(node, 2, "C"), len(weight), "Gemm C")
            self.head_bias = float(attrs.get("beta", 1.0)) * bias
        return node.output[0]

    def on_add(self, node: onnx.NodeProto, port: int) -> str:
        self._require(self.head_weight is not None, node, "is read only as the head's bias")
        self._require(self.head_bias is None, node, "adds a second head bias")
        self._require(port < 2, node, f"reads the data as input {port}, expected input 0 or 1")
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
        axis = _axis(self.graph, node, int(self.graph.attributes(node).get("axis", default)), rank)
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
    name = grus[0].input[0] if grus[0].input else ""
    while name not in graph.inputs:  # ends: the graph is acyclic
        producer = graph.producers.get(name)
        if producer is None or not producer.input:
            graph.fail(f"{describe(grus[0])} input X does not come from a graph input")
        name = producer.input[0]
    return name


def _class_names(graph: OnnxGraph, text: object) -> list[str]:
    """edgegru.class_names metadata as a list of strings; their count and lengths are the
    model's to check (:func:`edgegru.nn.model.check_class_names`), like any model's names."""
    what = "metadata edgegru.class_names"
    if not isinstance(text, str) or len(text) > MAX_CLASS_NAMES_JSON:
        graph.fail(f"{what} is not text of at most {MAX_CLASS_NAMES_JSON} characters")
    try:
        names = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: lists nested thousands deep
        graph.fail(f"{what} is not valid JSON (expected a list of names)")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        graph.fail(f"{what} is not a JSON list of strings")
    return names


def _head(graph: OnnxGraph, reader: ChainReader, props: dict[str, str], kind: HeadKind | None) -> Head | None:
    """The head, its kind from the caller, edgegru's metadata, or a class-axis op."""
    if reader.head_weight is None:
        if kind is not None:
            graph.fail(f"head_kind={kind!r} given but no head follows the last GRU")
        return None
    weight = reader.head_weight.astype(np.float32)
    bias = reader.head_bias if reader.head_bias is not None else np.zeros(len(weight))
    stored = props.get("edgegru.head_kind")
    if kind is None and stored is not None and stored not in HEAD_KINDS:
        graph.fail(f"metadata edgegru.head_kind {quote(stored)}: expected classification or regression")
    kind = kind or stored or ("classification" if reader.class_axis_op else "regression")
    names = None
    if kind == "classification" and "edgegru.class_names" in props:
        names = _class_names(graph, props["edgegru.class_names"])
    return Head(kind, weight, bias.astype(np.float32), names)


def _read_chain(graph: OnnxGraph) -> ChainReader:
    """The chain from the data input, which must hold every GRU of the graph."""
    start = _data_input(graph)
    reader = ChainReader(graph)
    reader.run(start)
    on_chain = {id(node) for node in reader.grus}
    for node in graph.nodes:
        if node.op_type == "GRU" and id(node) not in on_chain:
            graph.fail(f"{describe(node)} is not on the chain from input {quote(start)}")
    return reader


def _normalisation(graph: OnnxGraph, reader: ChainReader, size: int) -> Normalisation | None:
    if reader.mean is None and reader.std is None:
        return None
    mean = np.zeros(size) if reader.mean is None else reader.mean
    std = np.ones(size) if reader.std is None else reader.std
    return Normalisation(
        _as_vector(graph, mean, size, "normalisation mean"),
        _as_vector(graph, std, size, "normalisation std"),
    )


def _metadata(proto: onnx.ModelProto, path: Path, reader: ChainReader) -> dict[str, str]:
    """Where the model came from; the producer is the file's text, kept to one short line."""
    axes = "time,batch,feature" if reader.time == "A" else "batch,time,feature"
    metadata = {"source": f"onnx:{path.name}", "onnx_input_axes": axes}
    if proto.producer_name:
        producer = f"{proto.producer_name} {proto.producer_version}".strip()
        metadata["onnx_producer"] = one_line(producer)[:QUOTE_LIMIT]
    return metadata


def import_onnx(path: str | Path, *, head_kind: HeadKind | None = None) -> Model:
    """Read the GRU chain of an ONNX file into a float Model.

    ``head_kind`` overrides the head's kind; by default it comes from edgegru's
    metadata, else classification if a Softmax/LogSoftmax/ArgMax follows the head,
    else regression.
    """
    if head_kind not in (None, *HEAD_KINDS):
        raise EdgeGruError(f"head_kind {head_kind!r}: expected classification or regression")
    path = Path(path)
    proto = load_onnx(path)
    graph = OnnxGraph(proto, str(path), path.parent)
    # Overflow to inf or nan in a scaled weight is refused by Model.validate by name;
    # NumPy's warnings about it would only add lines that are not the error.
    with np.errstate(all="ignore"):
        reader = _read_chain(graph)
        assert reader.variant is not None  # the chain holds the first GRU
        size = reader.layers[0].input_size
        props = {p.key: p.value for p in proto.metadata_props}
        try:
            return Model(
                size,
                reader.variant,
                reader.layers,
                _head(graph, reader, props, head_kind),
                _normalisation(graph, reader, size),
                _metadata(proto, path, reader),
            )
        except EdgeGruError as exc:
            graph.fail(str(exc))
