"""One versioned file format for everything edgegru saves.

A container is a NumPy ``.npz`` archive (arrays, no pickles) with one extra member
holding JSON metadata: what kind of object it is and which format version wrote
it. Writing goes to a temporary file in the same directory that is renamed into
place, so an interrupted save never leaves a half-written file behind.

Model files come from strangers, so reading never trusts a size the file states: the
zip directory, each member's declared size, each array's ``.npy`` header (shape and
type) and the JSON header are checked against the limits below before anything of
that size is decompressed or parsed, and every read is bounded. A deflated member of
a few kilobytes that would inflate to gigabytes is refused having cost a few kilobytes.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgegru.core.atomic import atomic_open
from edgegru.core.errors import EdgeGruError, quote

META_KEY = "__edgegru_meta__"
FORMAT_NAME = "edgegru"

# What a file may make the loader read. The limits follow from the C generator's, which
# every model meets (edgegru.nn.model: sizes <= 512, <= 1024 outputs, <= 8 layers): the largest
# array is a layer's 3 x 512 x 512 float32 weights (3 MiB), and the largest model (8 layers
# of such w_x and w_h, a 1024 x 512 head) holds about 50 MiB. tests/nn/test_model_contract.py
# checks that these numbers still cover the model limits.
MAX_ARRAY_BYTES = 8 << 20  # one array: the largest, with room for it in 8-byte numbers
MAX_TOTAL_BYTES = 64 << 20  # all arrays of a file together
MAX_META_BYTES = 1 << 20  # the JSON header: names and free-form metadata
MAX_MEMBERS = 128  # arrays in a file: a model has at most 8 * 6 + 7
MAX_NPY_HEADER = 4096  # one array's .npy header (numpy writes about 128 bytes)
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 512  # the zip's central directory: one short entry per array
MAX_FILE_BYTES = MAX_TOTAL_BYTES + (1 << 20)  # the arrays stored uncompressed, and the zip's headers
# Nesting of the JSON header. Deeper JSON serves only to exhaust the parser's stack
# (Python's json raises RecursionError near depth 1000).
MAX_JSON_DEPTH = 32

END_OF_DIRECTORY = struct.Struct("<4s4H2LH")  # zip's end-of-central-directory record
END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"  # zip64 is for archives far beyond MAX_FILE_BYTES
ZIP64_LOCATOR_SIZE = 20
NPY_VERSIONS = {(1, 0): "<H", (2, 0): "<I"}  # .npy header-length field, by format version
NUMBER_KINDS = "biuf"  # booleans, integers, floats: no strings, objects or records

# What a damaged archive raises from zipfile, zlib, struct and numpy's header parser
# (zipfile raises NotImplementedError for a directory entry claiming a newer zip version).
UNREADABLE = (
    zipfile.BadZipFile,
    NotImplementedError,
    zlib.error,
    struct.error,
    ValueError,
    OSError,
    EOFError,
    UnicodeDecodeError,
)


def save_container(
    path: str | Path, kind: str, version: int, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Atomically write ``arrays`` and ``meta`` as a container of ``kind``; refuse what
    loading would refuse (a header that is not JSON, too large or too deeply nested)."""
    header = {"format": FORMAT_NAME, "kind": kind, "format_version": version, **meta}
    blob = np.frombuffer(encode_header(header), dtype=np.uint8)
    with atomic_open(path) as fh:
        np.savez(fh, **{META_KEY: blob}, **arrays)


def encode_header(header: dict[str, Any]) -> bytes:
    """The JSON header as saved; EdgeGruError for metadata that JSON (without NaN) cannot
    hold, or that loading would refuse."""
    try:
        text = json.dumps(header, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise EdgeGruError(f"metadata cannot be written as JSON ({type(exc).__name__}: {exc})") from None
    _check_depth(header)
    blob = text.encode()
    if len(blob) > MAX_META_BYTES:
        raise EdgeGruError(f"metadata: {len(blob)} bytes of JSON, more than the {MAX_META_BYTES} allowed")
    return blob


def decode_header(blob: bytes) -> Any:
    """Parse the JSON header: standard JSON only (no NaN or Infinity, which no scale may
    be), at most MAX_JSON_DEPTH deep."""
    try:
        header = json.loads(blob.decode(), parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise EdgeGruError(f"metadata nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError among them
        raise EdgeGruError(f"metadata is not JSON ({type(exc).__name__}: {exc})") from None
    _check_depth(header)
    return header


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one beyond float's range (1e400) is refused, not made inf."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is beyond a float's range")
    return value


def _check_depth(value: Any) -> None:
    """Refuse JSON nested more than MAX_JSON_DEPTH deep (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if not isinstance(item, list | tuple):
            continue
        if depth > MAX_JSON_DEPTH:
            raise EdgeGruError(f"metadata nested more than {MAX_JSON_DEPTH} deep")
        stack.extend((child, depth + 1) for child in item)


def _check_directory(fh: IO[bytes], size: int) -> None:
    """Refuse a file too large for any model, or whose zip directory is: the directory is
    parsed whole when the archive is opened (about 600 bytes of memory per entry).

    The end record is found as zipfile finds it: the last 22 bytes if they are one without
    a comment, else the last signature in the 64 KiB a comment may take, and it is refused
    if a zip64 locator precedes it (zipfile would follow that instead).
    """
    if size > MAX_FILE_BYTES:
        raise EdgeGruError(f"{size} bytes, more than the {MAX_FILE_BYTES} a model file may have")
    window = min(size, END_OF_DIRECTORY.size + (1 << 16))
    before = min(size - window, ZIP64_LOCATOR_SIZE)  # room to see a zip64 locator
    fh.seek(size - window - before)
    tail = fh.read(window + before)
    at = len(tail) - END_OF_DIRECTORY.size
    if not (tail[at:].startswith(END_SIGNATURE) and tail.endswith(b"\0\0")):
        at = tail.rfind(END_SIGNATURE, before)
    if at < 0 or at + END_OF_DIRECTORY.size > len(tail):
        raise zipfile.BadZipFile("no end of the zip directory")
    fields = END_OF_DIRECTORY.unpack_from(tail, at)
    entries, directory_bytes = fields[4], fields[5]
    zip64 = at >= ZIP64_LOCATOR_SIZE and tail.startswith(ZIP64_LOCATOR_SIGNATURE, at - ZIP64_LOCATOR_SIZE)
    if zip64 or entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise EdgeGruError(
            f"a zip directory of {entries} entries in {directory_bytes} bytes; a model file has "
            f"at most {MAX_MEMBERS} arrays"
        )


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's arrays by name, once their declared sizes are within the limits."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in members:
            raise EdgeGruError(f"member {quote(info.filename)}: expected one .npy array per name")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise EdgeGruError(
                f"member {quote(info.filename)}: encrypted, or compressed in a way numpy does not"
            )
        if info.file_size > MAX_ARRAY_BYTES + MAX_NPY_HEADER:
            raise EdgeGruError(
                f"member {quote(info.filename)}: {info.file_size} bytes, more than the "
                f"{MAX_ARRAY_BYTES} an array of a model may have"
            )
        members[name] = info
    total = sum(info.file_size for info in members.values())
    if total > MAX_TOTAL_BYTES:
        raise EdgeGruError(f"{total} bytes of arrays, more than the {MAX_TOTAL_BYTES} a model may have")
    return members


def _npy_header(stream: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, header bytes) of an .npy stream, reading only its header
    (at most MAX_NPY_HEADER bytes of it): numpy's own reader would read any length the file
    states."""
    version = np.lib.format.read_magic(stream)
    if version not in NPY_VERSIONS:
        raise EdgeGruError(f"array {quote(name)}: .npy format version {version}, expected 1.0 or 2.0")
    length_format = NPY_VERSIONS[version]
    length_field = stream.read(struct.calcsize(length_format))
    (length,) = struct.unpack(length_format, length_field)
    if length > MAX_NPY_HEADER:
        raise EdgeGruError(
            f"array {quote(name)}: a {length}-byte .npy header; expected at most {MAX_NPY_HEADER}"
        )
    header = io.BytesIO(length_field + stream.read(length))
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(header)
    header_bytes = np.lib.format.MAGIC_LEN + len(length_field) + length
    return shape, fortran, dtype, header_bytes


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limit: int) -> np.ndarray:
    """One member's array, refused before its data is read if its header states a type that
    is not a plain number, more than ``limit`` bytes, or a size other than the member's."""
    with archive.open(info) as stream:
        shape, fortran, dtype, header_bytes = _npy_header(stream, name)
        if dtype.kind not in NUMBER_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise EdgeGruError(f"array {quote(name)}: values of type {dtype}, expected plain numbers")
        if any(d < 0 for d in shape):
            raise EdgeGruError(f"array {quote(name)}: shape {shape}, expected sizes >= 0")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > limit:
            raise EdgeGruError(f"array {quote(name)}: shape {shape} is {nbytes} bytes, expected <= {limit}")
        if header_bytes + nbytes != info.file_size:
            raise EdgeGruError(f"array {quote(name)}: its header and its size in the zip disagree")
        data = stream.read(nbytes)
        if len(data) != nbytes or stream.read(1):  # the read to the end checks the CRC
            raise EdgeGruError(f"array {quote(name)}: its data and its size in the zip disagree")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    values = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return np.array(values, dtype=dtype.newbyteorder("="), order="C")


def _read_file(fh: IO[bytes], with_arrays: bool) -> tuple[Any, dict[str, np.ndarray]]:
    """The JSON header and, if asked, the arrays of an open container file."""
    _check_directory(fh, os.fstat(fh.fileno()).st_size)
    with zipfile.ZipFile(fh) as archive:
        members = _members(archive)
        if META_KEY not in members:
            raise EdgeGruError("not an edgegru file (no edgegru metadata inside)")
        blob = _read_array(archive, members.pop(META_KEY), META_KEY, MAX_META_BYTES)
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise EdgeGruError(f"metadata: {blob.dtype} array of shape {blob.shape}, expected bytes")
        header = decode_header(blob.tobytes())
        arrays = (
            {name: _read_array(archive, info, name, MAX_ARRAY_BYTES) for name, info in members.items()}
            if with_arrays
            else {}
        )
    return header, arrays


def _read(path: Path, with_arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header (checked to be an edgegru container's) and, if asked, the arrays."""
    if not path.is_file():
        what = (
            "is a directory" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        )
        raise EdgeGruError(f"{path}: {what}; expected an edgegru model file")
    try:
        with path.open("rb") as fh:
            header, arrays = _read_file(fh, with_arrays)
    except EdgeGruError as exc:
        raise EdgeGruError(f"{path}: {exc}") from None
    except UNREADABLE as exc:
        reason = type(exc).__name__
        if reason == "error":  # zlib.error, struct.error
            reason = f"{type(exc).__module__}.error"
        raise EdgeGruError(f"{path}: not a readable edgegru file ({reason})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise EdgeGruError(f"{path}: not an edgegru file")
    return header, arrays


def container_kind(path: str | Path) -> str:
    """The kind of object a container holds (read from its header alone)."""
    return str(_read(Path(path), with_arrays=False)[0].get("kind"))


def load_container(
    path: str | Path, kind: str, max_version: int, min_version: int = 1, redo: str = ""
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a container and check that it is a ``kind`` this edgegru can read.

    Versions below ``min_version`` are refused with ``redo``, the command that
    makes a current file.
    """
    path = Path(path)
    header, arrays = _read(path, with_arrays=True)
    if header.get("kind") != kind:
        raise EdgeGruError(f"{path}: holds a {quote(header.get('kind'))}, expected a {kind!r}")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EdgeGruError(f"{path}: invalid format_version {quote(version)}")
    if version > max_version:
        raise EdgeGruError(
            f"{path}: written by a newer edgegru (format version {version}, this edgegru "
            f"reads up to {max_version}); upgrade edgegru"
        )
    if version < min_version:
        raise EdgeGruError(
            f"{path}: written by an older edgegru (format version {version}, this edgegru "
            f"reads {min_version} and later); {redo}"
        )
    return header, arrays
