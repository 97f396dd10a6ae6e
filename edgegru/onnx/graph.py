"""A checked, indexed ONNX graph: what every reading rule of the importer stands on.

ONNX files come from strangers, so nothing in one is trusted before it is checked: every
tensor's type, dims and (external) data size before it becomes an array, against limits
derived from what the C generator takes; the wiring (one maker per tensor, no dangling
input, no cycle) before any walk; every attribute's type before its value is used. Every
string from the file reaches a message through :func:`~edgegru.core.errors.quote`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import NoReturn

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_SIZE

# Ops through which an initial_h still comes from a zero constant or a graph input
# (PyTorch builds its zero state with ConstantOfShape -> Slice).
STATE_PASS_OPS = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Slice"}
STATE_PASS_OPS |= {"Expand", "Tile", "Gather"}

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
    "to": AttributeProto.INT,
    "start": AttributeProto.INT,
    "end": AttributeProto.INT,
    "starts": AttributeProto.INTS,
    "ends": AttributeProto.INTS,
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


def describe_some(nodes: list[onnx.NodeProto]) -> str:
    """Nodes for a message: the first few, then how many more."""
    shown = ", ".join(describe(n) for n in nodes[:MAX_SHOWN])
    return shown + (f" and {len(nodes) - MAX_SHOWN} more" if len(nodes) > MAX_SHOWN else "")


def shown_value(value: object) -> str:
    """An attribute value for a message: numbers as they are, strings quoted, lists cut short."""
    if isinstance(value, list):
        items = [shown_value(v) for v in value[:MAX_SHOWN]] + (["…"] if len(value) > MAX_SHOWN else [])
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
                f"{what} has dims {shown_value(dims)}, expected at most {MAX_RANK} non-negative dims "
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

    def vector(self, value: np.ndarray, size: int, what: str) -> np.ndarray:
        """A per-channel constant broadcast to (size,), refusing any other broadcast."""
        if value.ndim and (any(d != 1 for d in value.shape[:-1]) or value.shape[-1] not in (1, size)):
            self.fail(f"{what} has shape {list(value.shape)}, expected one value per channel ({size})")
        return np.broadcast_to(value.reshape(-1).astype(np.float32), (size,)).copy()

    def axis(self, node: onnx.NodeProto, axis: int, rank: int) -> int:
        """An axis attribute of ``node`` for a rank-``rank`` input, made non-negative."""
        if not -rank <= axis < rank:
            self.fail(f"{describe(node)} axis {axis} is out of range for rank {rank}")
        return axis % rank
