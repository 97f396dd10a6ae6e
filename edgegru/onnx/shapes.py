"""Sizes and reshapes the importer proves without running the graph.

Exporters reshape the data between the GRUs and the head: tf2onnx flattens
``[batch, time, hidden]`` to ``[-1, hidden]`` around a ``TimeDistributed`` Dense and
restores it with a shape computed from ``Shape`` nodes; PyTorch's dynamo exporter merges
the GRU's direction axis into the features with a computed shape. Such a Reshape keeps
the model's meaning only if every output axis is a run of whole, adjacent input axes
(the data stay in row-major order). This module checks exactly that:

* :class:`Size` is a product of a whole number and named sizes that are unknown until
  run time (the batch and time axes, the input width before the first GRU);
* :func:`shape_value` evaluates the small integer sub-graph that computes a Reshape's
  shape (``Shape``, ``Slice``, ``Gather``, ``Concat``, ``Cast``, ``Mul``, ...) into
  Sizes, given the sizes of the data tensors it reads;
* :func:`regroup` maps a Reshape's output sizes onto runs of the input's axes, or says
  that it cannot (the reshape would mix batch, time or features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx

from edgegru.core.errors import quote
from edgegru.onnx.graph import MAX_RANK, OnnxGraph

MAX_DEPTH = 64  # nodes between a Reshape and the Shape it reads: exporters use fewer than 10


@dataclass(frozen=True)
class Size:
    """``factor`` times the product of the named run-time sizes in ``names`` (sorted)."""

    factor: int
    names: tuple[str, ...] = ()

    def __mul__(self, other: Size) -> Size:
        return Size(self.factor * other.factor, tuple(sorted(self.names + other.names)))

    def divided_by(self, other: Size) -> Size | None:
        """The exact quotient, or None if ``other`` does not divide this size."""
        names = list(self.names)
        for name in other.names:
            if name not in names:
                return None
            names.remove(name)
        if other.factor == 0 or self.factor % other.factor:
            return None
        return Size(self.factor // other.factor, tuple(names))

    @property
    def is_one(self) -> bool:
        return self == ONE

    def __str__(self) -> str:
        parts = ([str(self.factor)] if self.factor != 1 or not self.names else []) + list(self.names)
        return "*".join(parts)


ONE = Size(1)
MINUS_ONE = Size(-1)
ZERO = Size(0)


def product(sizes: list[Size]) -> Size:
    total = ONE
    for size in sizes:
        total = total * size
    return total


def regroup(atoms: list[tuple[str, Size]], target: list[Size]) -> list[tuple[str, ...]] | None:
    """The output axes of a reshape of ``atoms`` (the input's axes, merged axes spelled out,
    each with its size) to the sizes ``target``: each output axis is the run of input atoms
    whose sizes multiply to its size. None if some output size is not such a run.

    A size-one output axis takes the next atom if that has size one too (else it is a new
    ``"one"`` axis); size-one atoms left at the end join the last axis.
    """
    axes: list[tuple[str, ...]] = []
    k = 0
    for size in target:
        run: list[str] = []
        got = ONE
        while got != size or (not run and size.is_one and k < len(atoms) and atoms[k][1].is_one):
            if k == len(atoms):
                return None
            name, atom_size = atoms[k]
            if size.divided_by(got * atom_size) is None:
                return None
            run.append(name)
            got = got * atom_size
            k += 1
        axes.append(tuple(run) or ("one",))
    while k < len(atoms) and atoms[k][1].is_one and axes:
        axes[-1] += (atoms[k][0],)
        k += 1
    return axes if k == len(atoms) else None


def shape_value(graph: OnnxGraph, name: str, known: dict[str, tuple[Size, ...]]) -> list[Size] | None:
    """The integers a shape tensor holds, as Sizes; None where the sub-graph that computes it
    uses anything but the ops exporters write for shapes, or reads a tensor not in ``known``
    (data tensors on the chain, with their sizes when the chain passed them)."""
    return _ShapeEvaluator(graph, known).value(name, 0)


class _ShapeEvaluator:
    """Walks back from a shape tensor; each rule handles one op of the integer sub-graph."""

    def __init__(self, graph: OnnxGraph, known: dict[str, tuple[Size, ...]]) -> None:
        self.graph = graph
        self.known = known
        self.rules: dict[str, Callable[[onnx.NodeProto, int], list[Size] | None]] = {
            "Shape": self._shape,
            "Cast": self._same,
            "Identity": self._same,
            "Squeeze": self._same_scalar,
            "Unsqueeze": self._same_scalar,
            "Reshape": self._same_scalar,
            "Concat": self._concat,
            "Slice": self._slice,
            "Gather": self._gather,
            "Mul": self._mul,
        }

    def value(self, name: str, depth: int) -> list[Size] | None:
        if depth > MAX_DEPTH:
            return None
        if name in self.graph.constants:
            return self._ints(name)
        node = self.graph.producers.get(name)
        rule = self.rules.get(node.op_type) if node is not None and node.domain in ("", "ai.onnx") else None
        if node is None or rule is None or not node.input:
            return None
        values = rule(node, depth + 1)
        return values if values is None or len(values) <= MAX_RANK else None

    def _ints(self, name: str) -> list[Size] | None:
        """A stored integer vector of at most MAX_RANK values (a shape), else None."""
        tensor = self.graph.constants[name]
        if len(tensor.dims) > 1 or (tensor.dims and tensor.dims[0] > MAX_RANK):
            return None
        values = self.graph.array(tensor, f"tensor {quote(name)}")
        if values.dtype.kind not in "iu":
            return None
        return [Size(int(v)) for v in values.reshape(-1)]

    def _constant_ints(self, node: onnx.NodeProto, port: int) -> list[int] | None:
        name = node.input[port] if port < len(node.input) else ""
        if not name or name not in self.graph.constants:
            return None
        values = self._ints(name)
        return None if values is None or any(v.names for v in values) else [v.factor for v in values]

    def _shape(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        dims = self.known.get(node.input[0])
        if dims is None:
            return None
        attrs = self.graph.attributes(node)
        start, end = int(attrs.get("start", 0)), attrs.get("end")
        return list(dims[start : None if end is None else int(end)])

    def _same(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        return self.value(node.input[0], depth)

    def _same_scalar(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        """Squeeze, Unsqueeze or Reshape of one value: the value, whatever its rank."""
        values = self.value(node.input[0], depth)
        return values if values is not None and len(values) == 1 else None

    def _concat(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        if int(self.graph.attributes(node).get("axis", 0)) not in (0, -1):
            return None
        values: list[Size] = []
        for name in node.input:
            part = self.value(name, depth) if name else None
            if part is None:
                return None
            values += part
        return values

    def _slice(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        """A step-1 slice of the vector (its one axis), ends past the end allowed."""
        values = self.value(node.input[0], depth)
        if self.graph.opset < 10:
            attrs = self.graph.attributes(node)
            bounds = [attrs.get(key) for key in ("starts", "ends", "axes")]
            starts, ends, axes = (b if isinstance(b, list) else None for b in bounds)
            steps = None
        else:
            given = [port < len(node.input) and bool(node.input[port]) for port in range(5)]
            starts, ends, axes, steps = (
                self._constant_ints(node, port) if given[port] else None for port in (1, 2, 3, 4)
            )
            if (given[3] and axes is None) or (given[4] and steps is None):
                return None
        if values is None or starts is None or ends is None or len(starts) != 1 or len(ends) != 1:
            return None
        if axes not in (None, [0], [-1]) or steps not in (None, [1]):
            return None
        return values[starts[0] : ends[0]]

    def _gather(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        values = self.value(node.input[0], depth)
        indices = self._constant_ints(node, 1)
        if (
            values is None
            or indices is None
            or int(self.graph.attributes(node).get("axis", 0)) not in (0, -1)
        ):
            return None
        if not all(-len(values) <= i < len(values) for i in indices):
            return None
        return [values[i] for i in indices]

    def _mul(self, node: onnx.NodeProto, depth: int) -> list[Size] | None:
        """Elementwise product of two vectors (PyTorch multiplies the sizes it merges)."""
        if len(node.input) != 2:
            return None
        left, right = (self.value(name, depth) for name in node.input)
        if left is None or right is None:
            return None
        if len(left) == 1 or len(right) == 1:
            left, right = (left * len(right), right) if len(left) == 1 else (left, right * len(left))
        if len(left) != len(right):
            return None
        return [a * b for a, b in zip(left, right, strict=True)]
