"""An ``.onnx`` file described for ``edgegru info`` (the record: :mod:`edgegru.nn.describe`).

The file is read by the importer's own checked code (:func:`edgegru.onnx.importer.load_onnx`,
:class:`edgegru.onnx.graph.OnnxGraph`), so a file ``info`` describes is one the importer
has checked the same way, and nothing in it is run. What every ONNX file has is listed
(opset, producer, inputs, outputs, operators, the GRU nodes); when the importer also reads
the file into an edgegru model, its architecture, classes and normalisation are added,
and otherwise the reason it does not.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from edgegru.core.errors import EdgeGruError
from edgegru.nn.describe import Description, Tensor, fill_float_model
from edgegru.onnx.graph import OnnxGraph
from edgegru.onnx.importer import import_onnx, load_onnx

# Metadata keys the description shows in its own fields rather than as free metadata.
SHOWN_ELSEWHERE = {"edgegru.class_names", "edgegru.variant", "edgegru.head_kind", "edgegru.frame"}


def describe_onnx(path: str | Path) -> Description:
    """An ONNX file described; EdgeGruError if the importer's checks refuse the file itself."""
    path = Path(path)
    proto = load_onnx(path)
    graph = OnnxGraph(proto, str(path), path.parent)
    props = {p.key: p.value for p in proto.metadata_props}
    d = Description(str(path), "onnx", path.stat().st_size, "edgegru.version" in props)
    initialisers = {t.name for t in proto.graph.initializer}
    d.tensors = {
        "inputs": [_tensor(v) for v in proto.graph.input if v.name not in initialisers],
        "outputs": [_tensor(v) for v in proto.graph.output],
    }
    for node in graph.nodes:
        d.operators[node.op_type] = d.operators.get(node.op_type, 0) + 1
    producer = f"{proto.producer_name} {proto.producer_version}".strip()
    d.details = {"opset": graph.opset, "ir_version": proto.ir_version, "producer": producer or None}
    d.details["GRU nodes"] = [_gru(graph, node) for node in graph.nodes if node.op_type == "GRU"]
    d.metadata = {k: v for k, v in props.items() if k not in SHOWN_ELSEWHERE}
    try:
        model = import_onnx(path)
    except EdgeGruError as exc:
        d.details["edgegru import"] = f"refused: {str(exc).removeprefix(f'{path}: ')}"
        return d
    d.details["edgegru import"] = "yes"
    fill_float_model(d, model)
    return d


def _gru(graph: OnnxGraph, node: onnx.NodeProto) -> dict[str, object]:
    """One GRU node's name and the attributes that decide what it computes."""
    attrs = graph.attributes(node)
    return {
        "name": node.name,
        "hidden_size": attrs.get("hidden_size"),
        "direction": attrs.get("direction", "forward"),
        "linear_before_reset": attrs.get("linear_before_reset", 0),
    }


def _tensor(value: onnx.ValueInfoProto) -> Tensor:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return Tensor(value.name, [], str(kind))
    t = value.type.tensor_type
    shape: list[int | str] = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return Tensor(value.name, shape, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name)
