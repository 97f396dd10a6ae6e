"""Read an ONNX graph built on the standard ``GRU`` op into a float :class:`Model`.

The reader follows the data from the graph's one data input through a chain of nodes and
turns it into an edgegru model only if the chain computes exactly what
:func:`edgegru.nn.float_reference.forward` computes: an edgegru model that silently
differs from the file would be worse than none. The work is split by job:

* :mod:`edgegru.onnx.graph` checks the file's graph (types, dims, wiring, external data)
  and answers lookups;
* :mod:`edgegru.onnx.chain` follows the data path and reads each node in the forms that
  edgegru, PyTorch (both exporters) and tf2onnx write (``docs/onnx.md``);
* :mod:`edgegru.onnx.gru_node` reads one GRU node;
* this module checks the file itself, finds the data input and assembles the Model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from edgegru.core.errors import QUOTE_LIMIT, EdgeGruError, one_line, quote
from edgegru.core.generator_limits import MAX_NAME_BYTES, MAX_OUTPUTS
from edgegru.nn.model import HEAD_KINDS, Head, HeadKind, Model, Normalisation
from edgegru.onnx.chain import LOOP_ADVICE, ChainReader
from edgegru.onnx.graph import MAX_ENTRIES, MAX_FILE_BYTES, OnnxGraph, describe

# edgegru.class_names: the JSON of MAX_OUTPUTS longest names with every byte \uXXXX-escaped
MAX_CLASS_NAMES_JSON = MAX_OUTPUTS * (6 * MAX_NAME_BYTES + 4)
RECURRENT_OPS = ("LSTM", "RNN")  # named when a graph has them instead of a GRU


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


def _data_input(graph: OnnxGraph) -> str:
    """The graph input that reaches the first GRU's X, traced back through the first input
    of each node that is not a constant (``Add(shift, x)`` reads x)."""
    grus = [n for n in graph.nodes if n.op_type == "GRU"]
    if not grus:
        loop = next((n for n in graph.nodes if n.op_type in ("Loop", "Scan")), None)
        if loop is not None:
            graph.fail(f"no GRU node in the graph: {describe(loop)} computes the recurrence; {LOOP_ADVICE}")
        recurrent = sorted({n.op_type for n in graph.nodes if n.op_type in RECURRENT_OPS})
        found = f"; it has {', '.join(recurrent)}, which edgegru does not import" if recurrent else ""
        graph.fail(f"no GRU node in the graph{found}")
    name = grus[0].input[0] if grus[0].input else ""
    while name not in graph.inputs:  # ends: the graph is acyclic
        producer = graph.producers.get(name)
        computed = [i for i in producer.input if i and i not in graph.constants] if producer else []
        if not computed:
            graph.fail(f"{describe(grus[0])} input X does not come from a graph input")
        name = computed[0]
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


def _frame(graph: OnnxGraph, props: dict[str, str]) -> int:
    """Samples per step from edgegru's metadata (1 in every other exporter's graph); the
    model checks it against the input size."""
    text = props.get("edgegru.frame", "1")
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 3):
        graph.fail(f"metadata edgegru.frame {quote(text)}: expected a whole number of samples per step")
    return int(text)


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
    """The normalisation nodes before the first GRU, folded into ``(x - mean) / std``.

    Each node keeps the form: ``- c`` adds ``c * std`` to the mean, ``/ c`` multiplies std
    by ``c`` (``+`` and ``*`` likewise with ``-c`` and ``1/c``). ``Sub`` then ``Div`` (what
    edgegru writes) gives their constants exactly; ``Sub`` then ``Mul`` (tf2onnx) divides once.
    """
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    for node, constant in reader.normalisation:
        value = graph.vector(constant, size, describe(node)).astype(np.float64)
        if node.op_type in ("Sub", "Add"):
            shift = value if node.op_type == "Sub" else -value
            shift = shift if std is None else shift * std
            mean = shift if mean is None else mean + shift
        else:
            scale = value if node.op_type == "Div" else 1.0 / value
            std = scale if std is None else std * scale
    if mean is None and std is None:
        return None
    if std is not None and not np.all(std > 0):
        nodes = ", ".join(describe(node) for node, _ in reader.normalisation)
        channel = int(np.argmin(std > 0))
        graph.fail(
            f"the normalisation ({nodes}) divides channel {channel} by {std[channel]:g}; "
            "edgegru's normalisation divides by a positive std"
        )
    return Normalisation(
        (np.zeros(size) if mean is None else mean).astype(np.float32),
        (np.ones(size) if std is None else std).astype(np.float32),
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
                _frame(graph, props),
            )
        except EdgeGruError as exc:
            graph.fail(str(exc))
