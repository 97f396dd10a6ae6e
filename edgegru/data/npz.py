"""Reader for NumPy ``.npz`` datasets: the format for data already in Python.

Arrays: ``X`` (N, T, D) or (N, T) for one channel; ``y``; optional ``lengths`` (N,)
and ``class_names``. The kind of ``y`` decides the task: integers or strings are
class labels, floats are regression targets (an integer ``y`` may be read as
regression targets by requesting that task). With ``class_names``, integer labels
are indices into it and string labels must be among it. Values after a sequence's
length are ignored (NaN padding, as in the UCR archive, is fine) and zeroed.

The archive is read member by member rather than with :func:`numpy.load`, because the
file is untrusted: each array's ``.npy`` header (shape and dtype) is checked against the
caps in :mod:`~edgegru.data.limits` before any of its data is read, the member's size
in the zip directory must match that header, and the data are read in bounded chunks
up to that size, so neither a header declaring a huge shape nor a zip bomb makes
edgegru allocate beyond the caps. Object arrays, which only pickle can read, are refused.
"""

from __future__ import annotations

import io
import math
import sys
import tokenize
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS
from edgegru.data.dataset import Dataset, encode_classes, out_of_range, resolve_task, shown, valid_mask
from edgegru.data.limits import (
    MAX_ARRAY_BYTES,
    MAX_CASES,
    MAX_LABEL_CHARS,
    check_cap,
    check_label,
    check_padded,
)


@dataclass(frozen=True)
class _Spec:
    """What one array of the archive may be: dtype kinds, dimensions, rows."""

    kinds: str
    kinds_text: str
    ndims: tuple[int, ...]
    shape_text: str
    max_rows: int
    rows_unit: str


_SPECS = {
    "X": _Spec("fiu", "numbers", (2, 3), "(N, T, D) or (N, T)", MAX_CASES, "cases"),
    "y": _Spec("fiubUS", "numbers or strings", (1, 2), "(N,) or (N, C)", MAX_CASES, "cases"),
    "lengths": _Spec("iu", "integers", (1,), "(N,)", MAX_CASES, "cases"),
    "class_names": _Spec("US", "strings", (1,), "(K,)", MAX_OUTPUTS, "classes"),
}
# Enough of a member for the magic string, the version, the header length and numpy's
# largest accepted header (10,000 characters): a header is never read beyond this.
_NPY_PREFIX_BYTES = 12 + 10_000
_READ_CHUNK_BYTES = 2**20
# What zipfile and zlib raise for a damaged, truncated, encrypted or unsupported archive
# (ValueError: a member name flagged UTF-8 that is not; OSError: a file the system will
# not let us read, or an offset before the start of the file).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    NotImplementedError,
    ValueError,
    OSError,
)
# What numpy raises for a malformed .npy header: its own checks, and from the parsing of
# the header's Python literal (RecursionError: deep nesting; TokenError: from its fallback
# for headers written by Python 2).
_HEADER_ERRORS = (ValueError, SyntaxError, TypeError, OverflowError, RecursionError, tokenize.TokenError)


def load_npz(path: Path, task: str | None, class_names: list[str] | None) -> Dataset:
    """Read an ``.npz`` dataset (see the module docstring)."""
    name = path.name
    arrays = _read_arrays(path)
    x, lengths = _inputs(arrays, name)
    y = arrays["y"]
    if y.shape[:1] != (len(x),):
        raise EdgeGruError(f"{name}: y has shape {y.shape}, expected {len(x)} rows like X")
    file_classes = _class_names(arrays, name)

    if y.dtype.kind == "f" or (y.dtype.kind in "iub" and task == "regression"):
        task = resolve_task("regression", task, name)
        if file_classes is not None:
            raise EdgeGruError(f"{name}: 'class_names' given, but y holds regression targets")
        targets = y.astype(np.float64).reshape(len(y), -1)
        bad = out_of_range(targets)
        if bad.any():
            i, c = np.unravel_index(np.argmax(bad), bad.shape)
            raise EdgeGruError(f"{name}: y[{i}] is {targets[i, c]}, expected finite and within float32 range")
        return Dataset(x, lengths, targets, task, None, name)

    task = resolve_task("classification", task, name)
    if y.ndim != 1:
        raise EdgeGruError(f"{name}: y has shape {y.shape} and dtype {y.dtype}, expected (N,) class labels")
    labels = [_label_text(v, i, file_classes, name) for i, v in enumerate(y.tolist())]
    places = [f"{name} y[{i}]" for i in range(len(y))]
    indices, names = encode_classes(labels, places, file_classes, class_names)
    return Dataset(x, lengths, indices, task, names, name)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive, each checked against its spec before it is read."""
    name = path.name
    try:
        with path.open("rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise EdgeGruError(f"{name}: a single .npy array, expected an .npz archive")
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, name)
            return {key: _read_member(archive, info, key, name) for key, info in members.items()}
    except _ZIP_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise EdgeGruError(f"{name}: not a readable .npz archive ({quote(reason)})") from None


def _members(archive: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name; unknown, repeated or missing arrays refused."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key in members:
            raise EdgeGruError(f"{name}: array {quote(key)} appears twice")
        members[key] = info
    unknown = sorted(set(members) - set(_SPECS))
    if unknown:
        raise EdgeGruError(f"{name}: unexpected array(s) {shown(unknown)}, expected {list(_SPECS)}")
    for key in ("X", "y"):
        if key not in members:
            raise EdgeGruError(f"{name}: has no array {key!r}")
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, name: str) -> np.ndarray:
    """One array: header checked, then exactly the data bytes it declares, then the CRC."""
    where = f"{name} array {key}"
    with archive.open(info) as fh:
        shape, fortran_order, dtype = _npy_header(fh, where)
        _check_declared(_SPECS[key], shape, dtype, where, key)
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != fh.tell() + nbytes:
            raise EdgeGruError(
                f"{where}: the zip directory gives {info.file_size:,} bytes, "
                f"its .npy header implies {fh.tell() + nbytes:,}"
            )
        data = _read_exact(fh, nbytes, where)
        if fh.read(1):  # reaching the end also makes zipfile check the CRC
            raise EdgeGruError(f"{where}: data after the {nbytes:,} bytes its header declares")
    if dtype.kind == "U":
        _check_code_points(data, dtype, where)
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _check_code_points(data: np.ndarray, dtype: np.dtype, where: str) -> None:
    """Refuse UTF-32 data holding a value beyond U+10FFFF: NumPy would build a broken str."""
    codes = data.view(np.dtype(np.uint32).newbyteorder(dtype.byteorder))
    largest = int(codes.max()) if codes.size else 0
    if largest > sys.maxunicode:
        raise EdgeGruError(f"{where}: holds the value {largest:#x}, which is not a Unicode character")


def _npy_header(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from a ``.npy`` header; ``fh`` is left at the data."""
    prefix = io.BytesIO(fh.read(_NPY_PREFIX_BYTES))
    try:
        version = np.lib.format.read_magic(prefix)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in reader:
            raise EdgeGruError(f"{where}: .npy format version {version}, expected (1, 0) or (2, 0)")
        with (
            warnings.catch_warnings()
        ):  # numpy warns on headers written by Python 2; checked below all the same
            warnings.simplefilter("ignore")
            shape, fortran_order, dtype = reader[version](prefix)
    except _HEADER_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeGruError(f"{where}: not a valid .npy header ({quote(reason)})") from None
    fh.seek(prefix.tell())
    return shape, fortran_order, dtype


def _check_declared(spec: _Spec, shape: tuple[int, ...], dtype: np.dtype, where: str, key: str) -> None:
    """Refuse an array by its header alone: wrong kind, wrong shape, or beyond a cap."""
    if dtype.hasobject:
        raise EdgeGruError(f"{where}: holds Python objects (dtype object), which need pickle: refused")
    if dtype.kind not in spec.kinds or dtype.itemsize == 0:
        raise EdgeGruError(f"{where}: dtype {dtype.str!r}, expected {spec.kinds_text}")
    if len(shape) not in spec.ndims or min(shape) < 0:
        raise EdgeGruError(f"{where}: shape {_shape_text(shape)}, expected {spec.shape_text}")
    check_cap(shape[0], spec.max_rows, where, "the number of rows", spec.rows_unit)
    if key == "X":
        check_padded(shape[0], shape[1], shape[2] if len(shape) == 3 else 1, where)
    if len(shape) == 2 and key == "y":
        check_cap(shape[1], MAX_OUTPUTS, where, "the number of columns", "targets")
    if dtype.kind in "US":
        check_cap(
            dtype.itemsize,
            4 * MAX_LABEL_CHARS,
            where,
            "the string size",
            f"bytes ({MAX_LABEL_CHARS} characters)",
        )
    check_cap(math.prod(shape) * dtype.itemsize, MAX_ARRAY_BYTES, where, "the data size", "bytes")


def _shape_text(shape: tuple[int, ...]) -> str:
    """A declared shape for a message; a header can declare a thousand dimensions."""
    return str(shape) if len(shape) <= 8 else f"of {len(shape)} dimensions"


def _read_exact(fh: IO[bytes], nbytes: int, where: str) -> np.ndarray:
    """Exactly ``nbytes`` bytes, read in chunks into one writable array."""
    data = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(data)
    done = 0
    while done < nbytes:
        got = fh.readinto(view[done : done + _READ_CHUNK_BYTES])
        if not got:
            raise EdgeGruError(f"{where}: the data end after {done:,} of {nbytes:,} bytes")
        done += got
    return data


def _inputs(arrays: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated, zero-padded X as (N, T, D) float32 and its lengths."""
    x = arrays["X"]
    if x.ndim == 2:
        x = x[:, :, None]
    n, t_max, _ = x.shape
    if n == 0 or t_max == 0 or x.shape[2] == 0:
        raise EdgeGruError(f"{name}: holds no cases (X has shape {x.shape})")
    lengths = _lengths(arrays.get("lengths"), n, t_max, name)
    x[~valid_mask(lengths, t_max)] = 0  # in place: x is this reader's own buffer
    bad = out_of_range(x)
    if bad.any():
        i, t, d = np.unravel_index(np.argmax(bad), bad.shape)
        raise EdgeGruError(
            f"{name}: X[{i}, {t}, {d}] is {x[i, t, d]}, expected a finite value within float32 range"
        )
    return x.astype(np.float32), lengths.astype(np.int64)


def _lengths(lengths: np.ndarray | None, n: int, t_max: int, name: str) -> np.ndarray:
    """The valid steps per case: ``lengths`` checked against X, or T for every case."""
    if lengths is None:
        return np.full(n, t_max, dtype=np.int64)
    if lengths.shape != (n,):
        raise EdgeGruError(f"{name}: lengths has shape {lengths.shape}, expected ({n},) integers")
    bad = np.flatnonzero((lengths < 1) | (lengths > t_max))
    if len(bad):
        i = bad[0]
        raise EdgeGruError(f"{name}: lengths[{i}] is {lengths[i]}, expected 1..{t_max}")
    return lengths


def _class_names(arrays: dict[str, np.ndarray], name: str) -> list[str] | None:
    """The archive's class names, each a usable label, none repeated."""
    names = arrays.get("class_names")
    if names is None:
        return None
    if len(names) == 0:
        raise EdgeGruError(f"{name}: class_names must be a non-empty 1-D array of strings")
    result: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(names.tolist()):
        where = f"{name} class_names[{i}]"
        label = _label(value, where)
        if label in seen:
            raise EdgeGruError(f"{where}: {quote(label)} repeats an earlier name")
        seen.add(label)
        result.append(label)
    return result


def _label_text(value: object, i: int, file_classes: list[str] | None, name: str) -> str:
    """A label as text; an integer label with ``class_names`` is an index into them."""
    if isinstance(value, (bytes, str)):
        return _label(value, f"{name} y[{i}]")
    if file_classes is None:
        return str(int(value))
    if not 0 <= int(value) < len(file_classes):
        raise EdgeGruError(
            f"{name}: y[{i}] is {value}, not an index into the {len(file_classes)} class_names"
        )
    return file_classes[int(value)]


def _label(value: bytes | str, where: str) -> str:
    """A string label from the archive: bytes must be UTF-8, and the text a usable label."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise EdgeGruError(f"{where}: {quote(value)} is not UTF-8 text") from None
    return check_label(value, where)
