"""Read a named metadata entry from a .tflite file with nothing but ``struct``.

The runtime must recognise edgegru models on a Raspberry Pi that has only an
interpreter (``tflite_runtime`` ships no schema module), so it reads the few
flatbuffer fields it needs itself: Model.metadata[*].name/.buffer and
Model.buffers[i].data. Every offset is bounds-checked, so a truncated or
garbage file is reported instead of read past its end.
"""

from __future__ import annotations

import struct

TFLITE_IDENTIFIER = b"TFL3"

# The metadata entry by which edgegru recognises its own models (written by
# tflite_export, read by the runtime): its name, JSON "format" and format version.
METADATA_NAME = "edgegru"
METADATA_FORMAT = "edgegru-tflite"
METADATA_VERSION = 1

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

    def vector(self, pos: int, elem_size: int) -> tuple[int, int]:
        """(start, length) of the vector referenced at pos, checked to fit in the file."""
        vec = self.deref(pos)
        length = self._unpack("<I", vec)
        start = vec + 4
        if start + length * elem_size > len(self.blob):
            raise MalformedTflite("a vector runs past the end of the file")
        return start, length

    def tables(self, table: int, field: int) -> list[int]:
        pos = self.field(table, field)
        if pos is None:
            return []
        start, length = self.vector(pos, 4)
        return [self.deref(start + 4 * i) for i in range(length)]

    def uint(self, table: int, field: int, fmt: str) -> int:
        pos = self.field(table, field)
        return 0 if pos is None else self._unpack(fmt, pos)

    def bytes_field(self, table: int, field: int) -> bytes | None:
        pos = self.field(table, field)
        if pos is None:
            return None
        start, length = self.vector(pos, 1)
        return self.blob[start : start + length]


def read_metadata(blob: bytes, name: str) -> bytes | None:
    """The bytes of metadata entry ``name``; None if the model has no such entry.

    Raises :class:`MalformedTflite` if ``blob`` is not a TFLite flatbuffer.
    """
    if len(blob) < 8 or blob[4:8] != TFLITE_IDENTIFIER:
        raise MalformedTflite("no TFLite file identifier (TFL3)")
    reader = _Reader(blob)
    model = reader.deref(0)
    buffers = reader.tables(model, _MODEL_BUFFERS)
    for entry in reader.tables(model, _MODEL_METADATA):
        if reader.bytes_field(entry, _METADATA_NAME) != name.encode():
            continue
        index = reader.uint(entry, _METADATA_BUFFER, "<I")
        if index >= len(buffers):
            raise MalformedTflite(f"metadata {name!r} points to missing buffer {index}")
        return _buffer_bytes(reader, buffers[index])
    return None


def _buffer_bytes(reader: _Reader, buffer: int) -> bytes:
    data = reader.bytes_field(buffer, _BUFFER_DATA)
    if data is not None:
        return data
    # Large models keep buffer data after the flatbuffer, addressed from the file start.
    offset = reader.uint(buffer, _BUFFER_OFFSET, "<Q")
    size = reader.uint(buffer, _BUFFER_SIZE, "<Q")
    if offset + size > len(reader.blob):
        raise MalformedTflite("a buffer runs past the end of the file")
    return reader.blob[offset : offset + size]
