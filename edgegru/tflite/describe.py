"""A ``.tflite`` file described for ``edgegru info`` (the record: :mod:`edgegru.nn.describe`).

Any .tflite file is described from its flatbuffer alone (:func:`edgegru.tflite.read.graph_summary`):
its inputs, outputs and operators, read with ``struct`` and never run, so a stranger's
file is described on a base install. An edgegru file adds what its ``edgegru`` metadata
says (kind, variant, classes, normalisation), checked as the runtime checks it.
"""

from __future__ import annotations

from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.nn.describe import Description, Tensor
from edgegru.tflite.read import GraphSummary, MalformedTflite, TensorSummary, graph_summary
from edgegru.tflite.step_metadata import NoEdgegruMetadata, parse_edgegru_metadata, read_model_file, step_spec

# TensorType numbers of the TFLite schema, by name (the ones a GRU model may use; others are
# shown by number).
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
    15: "uint32",
    16: "uint16",
}


def describe_tflite(path: str | Path) -> Description:
    """A .tflite file described; EdgeGruError if it is not a readable TFLite flatbuffer."""
    path = Path(path)
    blob = read_model_file(path)
    try:
        graph = graph_summary(blob)
    except MalformedTflite as exc:
        raise EdgeGruError(f"{path}: not a readable .tflite file ({exc})") from None
    d = Description(str(path), "tflite", len(blob), False)
    d.tensors = {"inputs": [_tensor(t) for t in graph.inputs], "outputs": [_tensor(t) for t in graph.outputs]}
    d.operators = _operator_names(graph)
    d.weight_bytes = graph.constant_bytes
    d.details = {"schema_version": graph.schema_version, "subgraphs": graph.subgraphs}
    if graph.description:
        d.details["description"] = graph.description
    dtypes = {t.dtype for t in d.tensors["inputs"]}
    d.precision = dtypes.pop() if len(dtypes) == 1 else None
    try:
        meta = parse_edgegru_metadata(blob, path)
    except NoEdgegruMetadata:
        return d
    except EdgeGruError as exc:
        d.details["edgegru metadata"] = f"unreadable: {exc}"
        return d
    _fill_from_metadata(d, meta, graph, path)
    return d


def _fill_from_metadata(d: Description, meta: dict, graph: GraphSummary, path: Path) -> None:
    """The fields an edgegru file's metadata states, each checked as the runtime checks it
    (a sequence model is checked as the step model it unrolls)."""
    kind = meta.get("kind")
    spec = step_spec({**meta, "kind": "step", "inputs": _step_inputs(meta)}, path)
    d.edgegru_model = True
    d.precision = spec.dtype
    d.variant = meta.get("variant") if isinstance(meta.get("variant"), str) else None
    d.input_size, d.frame = spec.input_size, spec.frame
    states = [t for t in graph.outputs if t.name.endswith("_next")]
    d.hidden_sizes = [t.shape[-1] for t in states if t.shape]
    y = next((t for t in graph.outputs if t.name == "y"), None)
    if spec.output_kind != "hidden":
        d.head = spec.output_kind
        d.outputs = y.shape[-1] if y is not None and y.shape else None
    d.class_names = spec.class_names
    if spec.normalisation is not None:
        d.normalisation = {"mean": spec.normalisation[0].tolist(), "std": spec.normalisation[1].tolist()}
    elif isinstance(meta.get("normalisation"), dict):
        d.normalisation = {"in_graph": True}
    d.details = {"kind": kind, **d.details}
    if kind == "sequence":
        x = next((t for t in graph.inputs if t.name == "x"), None)
        d.details["steps"] = x.shape[1] if x is not None and len(x.shape) == 3 else None
    version = meta.get("edgegru_version")
    if isinstance(version, str):
        d.details["written by"] = f"edgegru {version}"
    for t in d.tensors["inputs"][:1] + d.tensors["outputs"][:1]:
        if t.scale is not None:
            d.quantisation["input" if t.name == "x" else "output"] = {
                "scale": t.scale,
                "zero_point": t.zero_point,
            }


def _step_inputs(meta: dict) -> object:
    """A sequence model's metadata lists only ``x`` as input; its step model's inputs are ``x``
    and one state per output ``h<k>_next``, which is what :func:`step_spec` checks."""
    if meta.get("kind") != "sequence" or not isinstance(meta.get("outputs"), list):
        return meta.get("inputs")
    return ["x", *(str(n).removesuffix("_next") for n in meta["outputs"][1:])]


def _tensor(t: TensorSummary) -> Tensor:
    dtype = TENSOR_TYPES.get(t.type_code, f"type {t.type_code}")
    if len(t.scales) == 1 and t.zero_points:
        return Tensor(t.name, list(t.shape), dtype, t.scales[0], t.zero_points[0])
    return Tensor(t.name, list(t.shape), dtype)


def _operator_names(graph: GraphSummary) -> dict[str, int]:
    """Operator counts by the schema's names when LiteRT's schema module is installed, else
    by builtin code number."""
    try:
        from ai_edge_litert import schema_py_generated as schema

        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    except ImportError:
        names = {}
    return {
        key if isinstance(key, str) else names.get(key, f"builtin {key}"): count
        for key, count in graph.operators.items()
    }
