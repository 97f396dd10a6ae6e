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

# The largest .tflite file read. The largest step model edgegru writes, ten float32
# layers of the largest size (512, edgegru.nn.model.MAX_SIZE), is about 63 MB; four
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

    def _unpack(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.blob):
            raise MalformedTflite(f"offset {pos} is past the end of the file ({len(self.blob)} bytes)")
        return struct.unpack_from(fmt, self.blob, pos)[0]

    def field(self, table: int, field: int) -> int | None:
        """Absolute position of a table's field, or None when it is absent."""
        vtable = table - self._unpack("<i", table)
        vtable_size = self._unpack("<H", vtable)
        slot = 4 + 2 * field
        if slot + 2 > vtable_size:
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def deref(self, pos: int) -> int:
        return pos + self._unpack("<I", pos)

    def vector(self, pos: int, elem_size: int) -> Span:
        """The elements of the vector referenced at pos, checked to fit in the file."""
        vec = self.deref(pos)
        length = self._unpack("<I", vec)
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
        return 0 if pos is None else self._unpack(fmt, pos)

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
    if len(blob) > MAX_TFLITE_BYTES:
        raise MalformedTflite(f"{len(blob)} bytes, more than the {MAX_TFLITE_BYTES} a .tflite file may have")
    if len(blob) < 8 or blob[4:8] != TFLITE_IDENTIFIER:
        raise MalformedTflite("no TFLite file identifier (TFL3)")
    reader = _Reader(blob)
    model = reader.deref(0)
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
