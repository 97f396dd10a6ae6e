"""Read a named metadata entry from a .tflite file with nothing but ``struct``.

The runtime must recognise edgegru models on a Raspberry Pi that has only an
interpreter (``tflite_runtime`` ships no schema module), so it reads the few
flatbuffer fields it needs itself: Model.metadata[*].name/.buffer and
Model.buffers[i].data (or .offset/.size).

The file comes from a stranger, so the reader trusts none of its numbers: every
offset is bounds-checked before it is read, a vector's length is checked to fit in
the file before anything is sliced, only the one buffer asked for is looked at (not
a list of all of them), and at most :data:`MAX_METADATA_ENTRIES` metadata entries are
compared. The walk has a fixed depth (model, entry, buffer) and every table reference
is a forward offset read once, so no file can make it loop or recurse. Anything
malformed is one :class:`MalformedTflite`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

TFLITE_IDENTIFIER = b"TFL3"

# The metadata entry by which edgegru recognises its own models (written by
# exporter, read by the runtime): its name, JSON "format" and format version.
METADATA_NAME = "edgegru"
METADATA_FORMAT = "edgegru-tflite"
METADATA_VERSION = 1


def is_csv_name(name: object) -> bool:
    """Whether a class name can be written to the metadata: ``edgegru run`` prints it as a
    CSV field of each output line, so it must be one field on one line."""
    return isinstance(name, str) and "," not in name and name.isprintable()


# The largest .tflite file read. The largest step model edgegru writes, ten float32
# layers of the largest size (512, edgegru.core.generator_limits.MAX_SIZE), is about 63 MB; four
# times that still leaves a Raspberry Pi's memory to the interpreter.
MAX_TFLITE_BYTES = 256 * 1024 * 1024
# Models carry a handful of metadata entries (edgegru's, the converter's
# min_runtime_version, perhaps a few more); more than this is not a model, and
# comparing each entry's name would only waste time.
MAX_METADATA_ENTRIES = 1024

# Field numbers from the TFLite schema (tflite/schema.fbs).
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME = 0
_METADATA_BUFFER = 1
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


class MalformedTflite(ValueError):
    """The bytes are not a well-formed TFLite flatbuffer."""


class Span(NamedTuple):
    """Where some bytes lie in the file: ``blob[start : start + length]``."""

    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


class _Reader:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def number(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.blob):
            raise MalformedTflite(f"offset {pos} is past the end of the file ({len(self.blob)} bytes)")
        return struct.unpack_from(fmt, self.blob, pos)[0]

    def field(self, table: int, field: int) -> int | None:
        """Absolute position of a table's field, or None when it is absent."""
        vtable = table - self.number("<i", table)
        vtable_size = self.number("<H", vtable)
        slot = 4 + 2 * field
        if slot + 2 > vtable_size:
            return None
        offset = self.number("<H", vtable + slot)
        return table + offset if offset else None

    def deref(self, pos: int) -> int:
        return pos + self.number("<I", pos)

    def vector(self, pos: int, elem_size: int) -> Span:
        """The elements of the vector referenced at pos, checked to fit in the file."""
        vec = self.deref(pos)
        length = self.number("<I", vec)
        start = vec + 4
        if start + length * elem_size > len(self.blob):
            raise MalformedTflite(f"a vector of {length} elements at {vec} runs past the end of the file")
        return Span(start, length)

    def table_vector(self, table: int, field: int) -> Span:
        """The vector of tables in a field; empty when the field is absent."""
        pos = self.field(table, field)
        return Span(0, 0) if pos is None else self.vector(pos, 4)

    def table_at(self, tables: Span, index: int) -> int:
        return self.deref(tables.start + 4 * index)

    def uint(self, table: int, field: int, fmt: str) -> int:
        pos = self.field(table, field)
        return 0 if pos is None else self.number(fmt, pos)

    def bytes_span(self, table: int, field: int) -> Span | None:
        pos = self.field(table, field)
        return None if pos is None else self.vector(pos, 1)

    def equals(self, span: Span | None, text: bytes) -> bool:
        """Whether the bytes at span are text, without copying a long vector first."""
        return span is not None and span.length == len(text) and self.blob[span.start : span.end] == text


def metadata_span(blob: bytes, name: str) -> Span | None:
    """Where the bytes of metadata entry ``name`` lie in ``blob``; None if there is none.

    A span, not the bytes, so that a caller can refuse an oversized entry before copying
    it. Raises :class:`MalformedTflite` if ``blob`` is not a TFLite flatbuffer.
    """
    reader, model = _open(blob)
    entries = reader.table_vector(model, _MODEL_METADATA)
    if entries.length > MAX_METADATA_ENTRIES:
        raise MalformedTflite(f"{entries.length} metadata entries, more than the {MAX_METADATA_ENTRIES} read")
    for i in range(entries.length):
        entry = reader.table_at(entries, i)
        if not reader.equals(reader.bytes_span(entry, _METADATA_NAME), name.encode()):
            continue
        buffers = reader.table_vector(model, _MODEL_BUFFERS)
        index = reader.uint(entry, _METADATA_BUFFER, "<I")
        if index >= buffers.length:
            raise MalformedTflite(f"metadata {name!r} points to missing buffer {index}")
        return _buffer_span(reader, reader.table_at(buffers, index))
    return None


def _open(blob: bytes) -> tuple[_Reader, int]:
    """A reader of ``blob`` and the position of its Model table, after the size and
    identifier checks."""
    if len(blob) > MAX_TFLITE_BYTES:
        raise MalformedTflite(f"{len(blob)} bytes, more than the {MAX_TFLITE_BYTES} a .tflite file may have")
    if len(blob) < 8 or blob[4:8] != TFLITE_IDENTIFIER:
        raise MalformedTflite("no TFLite file identifier (TFL3)")
    reader = _Reader(blob)
    return reader, reader.deref(0)


def read_metadata(blob: bytes, name: str) -> bytes | None:
    """The bytes of metadata entry ``name``; None if the model has no such entry.

    Raises :class:`MalformedTflite` if ``blob`` is not a TFLite flatbuffer.
    """
    span = metadata_span(blob, name)
    return None if span is None else blob[span.start : span.end]


def _buffer_span(reader: _Reader, buffer: int) -> Span:
    data = reader.bytes_span(buffer, _BUFFER_DATA)
    if data is not None:
        return data
    # Large models keep buffer data after the flatbuffer, addressed from the file start.
    offset = reader.uint(buffer, _BUFFER_OFFSET, "<Q")
    size = reader.uint(buffer, _BUFFER_SIZE, "<Q")
    if offset + size > len(reader.blob):
        raise MalformedTflite(f"a buffer of {size} bytes at {offset} runs past the end of the file")
    return Span(offset, size)


# Limits of what a summary of a stranger's graph reads: far beyond any real model (edgegru's
# largest sequence model has a few thousand operators), small enough that walking them is instant.
MAX_GRAPH_ENTRIES = 200_000
MAX_RANK = 16  # dimensions of a tensor shape read; real models have at most 6
MAX_QUANT_PARAMS = 4096  # per-axis scales read (one per channel of the widest tensor)

_MODEL_VERSION = 0
_MODEL_OPERATOR_CODES = 1
_MODEL_SUBGRAPHS = 2
_MODEL_DESCRIPTION = 3
_SUBGRAPH_TENSORS = 0
_SUBGRAPH_INPUTS = 1
_SUBGRAPH_OUTPUTS = 2
_SUBGRAPH_OPERATORS = 3
_TENSOR_SHAPE = 0
_TENSOR_TYPE = 1
_TENSOR_BUFFER = 2
_TENSOR_NAME = 3
_TENSOR_QUANTIZATION = 4
_QUANT_SCALE = 2
_QUANT_ZERO_POINT = 3
_OPCODE_DEPRECATED_BUILTIN = 0
_OPCODE_CUSTOM = 1
_OPCODE_BUILTIN = 3
_OPERATOR_OPCODE_INDEX = 0
_CUSTOM_OPERATOR = 32  # BuiltinOperator.CUSTOM


class TensorSummary(NamedTuple):
    """A graph input or output as the file declares it; ``type_code`` is the schema's
    TensorType number, and scales are empty for a tensor that is not quantised."""

    name: str
    shape: tuple[int, ...]
    type_code: int
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]


class GraphSummary(NamedTuple):
    """What the flatbuffer says of a model's main (first) subgraph, read without running it.

    ``operators`` counts each operator by its builtin code, or by ``"custom:<name>"``;
    ``constant_bytes`` is the size of the data of the subgraph's constant tensors (weights,
    biases, shapes), each buffer counted once however many tensors share it.
    """

    schema_version: int
    description: str
    subgraphs: int
    inputs: list[TensorSummary]
    outputs: list[TensorSummary]
    operators: dict[int | str, int]
    constant_bytes: int


def graph_summary(blob: bytes) -> GraphSummary:
    """The inputs, outputs and operator counts of the first subgraph of a .tflite file.

    Read with ``struct`` like :func:`metadata_span`, so that ``edgegru info`` describes any
    .tflite file on a base install, and nothing from the file is executed. Raises
    :class:`MalformedTflite` for bytes that are not a TFLite flatbuffer or for counts
    beyond the limits above.
    """
    reader, model = _open(blob)
    subgraphs = _capped(reader.table_vector(model, _MODEL_SUBGRAPHS), "subgraphs")
    if subgraphs.length == 0:
        raise MalformedTflite("no subgraph")
    graph = reader.table_at(subgraphs, 0)
    tensors = _capped(reader.table_vector(graph, _SUBGRAPH_TENSORS), "tensors")
    ports = [
        [_tensor(reader, tensors, i) for i in _indices(reader, graph, field)]
        for field in (_SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS)
    ]
    codes = _capped(reader.table_vector(model, _MODEL_OPERATOR_CODES), "operator codes")
    operators: dict[int | str, int] = {}
    ops = _capped(reader.table_vector(graph, _SUBGRAPH_OPERATORS), "operators")
    for i in range(ops.length):
        index = reader.uint(reader.table_at(ops, i), _OPERATOR_OPCODE_INDEX, "<I")
        if index >= codes.length:
            raise MalformedTflite(f"operator {i} has operator code {index}, the file has {codes.length}")
        key = _operator(reader, reader.table_at(codes, index))
        operators[key] = operators.get(key, 0) + 1
    buffers = reader.table_vector(model, _MODEL_BUFFERS)
    constants = {
        reader.uint(reader.table_at(tensors, i), _TENSOR_BUFFER, "<I") for i in range(tensors.length)
    }
    constants.discard(0)  # buffer 0 is the schema's empty sentinel: a tensor without data
    if constants and max(constants) >= buffers.length:
        raise MalformedTflite(f"a tensor points to missing buffer {max(constants)}")
    return GraphSummary(
        schema_version=reader.uint(model, _MODEL_VERSION, "<I"),
        description=_text(reader, model, _MODEL_DESCRIPTION),
        subgraphs=subgraphs.length,
        inputs=ports[0],
        outputs=ports[1],
        operators=operators,
        constant_bytes=sum(_buffer_span(reader, reader.table_at(buffers, i)).length for i in constants),
    )


def _capped(span: Span, what: str) -> Span:
    if span.length > MAX_GRAPH_ENTRIES:
        raise MalformedTflite(f"{span.length} {what}, more than the {MAX_GRAPH_ENTRIES} read")
    return span


def _indices(reader: _Reader, table: int, field: int) -> list[int]:
    """A vector of int32 tensor indices (a graph's inputs or outputs)."""
    pos = reader.field(table, field)
    if pos is None:
        return []
    span = _capped(reader.vector(pos, 4), "graph inputs or outputs")
    return [reader.number("<i", span.start + 4 * i) for i in range(span.length)]


def _tensor(reader: _Reader, tensors: Span, index: int) -> TensorSummary:
    if not 0 <= index < tensors.length:
        raise MalformedTflite(f"tensor index {index}, the graph has {tensors.length} tensors")
    tensor = reader.table_at(tensors, index)
    shape = _numbers(reader, tensor, _TENSOR_SHAPE, "<i", MAX_RANK, "shape")
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quant_pos = reader.field(tensor, _TENSOR_QUANTIZATION)
    if quant_pos is not None:
        quant = reader.deref(quant_pos)
        scales = _numbers(reader, quant, _QUANT_SCALE, "<f", MAX_QUANT_PARAMS, "scales")
        zero_points = _numbers(reader, quant, _QUANT_ZERO_POINT, "<q", MAX_QUANT_PARAMS, "zero points")
    return TensorSummary(
        name=_text(reader, tensor, _TENSOR_NAME),
        shape=tuple(int(d) for d in shape),
        type_code=reader.uint(tensor, _TENSOR_TYPE, "<b"),
        scales=tuple(float(s) for s in scales),
        zero_points=tuple(int(z) for z in zero_points),
    )


def _numbers(reader: _Reader, table: int, field: int, fmt: str, limit: int, what: str) -> tuple:
    pos = reader.field(table, field)
    if pos is None:
        return ()
    size = struct.calcsize(fmt)
    span = reader.vector(pos, size)
    if span.length > limit:
        raise MalformedTflite(f"a tensor with {span.length} {what}, more than the {limit} read")
    return struct.unpack_from(f"<{span.length}{fmt[1]}", reader.blob, span.start)


def _text(reader: _Reader, table: int, field: int) -> str:
    """A string field, decoded leniently: it is only shown (through ``quote``), never used."""
    span = reader.bytes_span(table, field)
    return "" if span is None else reader.blob[span.start : span.end].decode("utf-8", "replace")


def _operator(reader: _Reader, code: int) -> int | str:
    builtin = max(
        reader.uint(code, _OPCODE_DEPRECATED_BUILTIN, "<b"), reader.uint(code, _OPCODE_BUILTIN, "<i")
    )
    if builtin == _CUSTOM_OPERATOR:
        return "custom:" + _text(reader, code, _OPCODE_CUSTOM)
    return builtin
