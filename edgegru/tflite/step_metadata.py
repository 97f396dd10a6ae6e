"""The 'edgegru' metadata of a step .tflite model, read and checked field by field.

The metadata comes from the file's author, a stranger: the file is read up to
MAX_TFLITE_BYTES and the metadata up to MAX_METADATA_BYTES, and every field a streaming
runtime uses is checked for type and form (:func:`step_spec`) before it is used, then
against the interpreter's tensors (:class:`~edgegru.tflite.stream.StreamingModel`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_FRAME, MAX_SIZE
from edgegru.tflite.read import (
    MAX_TFLITE_BYTES,
    METADATA_FORMAT,
    METADATA_NAME,
    METADATA_VERSION,
    MalformedTflite,
    is_csv_name,
    metadata_span,
)

# The largest 'edgegru' metadata parsed. Its JSON holds a few names, the normalisation
# (two lists of at most 512 numbers, ~20 KB) and class names (a thousand names of a
# few hundred characters still fit): 1 MiB bounds what parsing a stranger's JSON costs.
MAX_METADATA_BYTES = 1024 * 1024
PORT_DTYPES = ("float32", "int8")  # the dtype of every input and output tensor
OUTPUT_KINDS = ("classification", "regression", "hidden")


class NoEdgegruMetadata(EdgeGruError):
    """A readable .tflite file without edgegru's metadata: a stranger's model."""


def read_edgegru_metadata(path: Path) -> dict[str, Any]:
    """The edgegru metadata of a .tflite file; EdgeGruError if it is not an edgegru model.

    Only the envelope is checked here (JSON object, format, version); what a step model
    needs of it is checked by :func:`step_spec`.
    """
    return parse_edgegru_metadata(read_model_file(path), path)


def parse_edgegru_metadata(blob: bytes, path: Path) -> dict[str, Any]:
    """:func:`read_edgegru_metadata` of the bytes of ``path``, already read;
    :class:`NoEdgegruMetadata` when the file has none."""
    try:
        span = metadata_span(blob, METADATA_NAME)
    except MalformedTflite as exc:
        raise EdgeGruError(f"{path}: not a readable .tflite file ({exc})") from None
    if span is None:
        raise NoEdgegruMetadata(f"{path}: not an edgegru model (no 'edgegru' metadata inside)")
    if span.length > MAX_METADATA_BYTES:
        raise EdgeGruError(
            f"{path}: its 'edgegru' metadata is {span.length} bytes, more than the {MAX_METADATA_BYTES} read"
        )
    meta = _parse_json(blob[span.start : span.end], path)
    if not isinstance(meta, dict) or meta.get("format") != METADATA_FORMAT:
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is not edgegru-tflite metadata")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _bad_field(path, "format_version", version, "a positive integer")
    if version > METADATA_VERSION:
        raise EdgeGruError(
            f"{path}: written by a newer edgegru (metadata version {version}, this edgegru "
            f"reads up to {METADATA_VERSION}); upgrade edgegru"
        )
    return meta


def read_model_file(path: Path) -> bytes:
    """The bytes of a model file, its size checked before they are read."""
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_TFLITE_BYTES:
                raise EdgeGruError(f"{path}: {size} bytes, more than the {MAX_TFLITE_BYTES} a model may have")
            return file.read(MAX_TFLITE_BYTES + 1)  # a file that grew is refused by the reader
    except OSError as exc:
        raise EdgeGruError(f"{path}: cannot read ({exc.strerror})") from None


def _parse_json(raw: bytes, path: Path) -> Any:
    try:
        return json.loads(raw.decode())
    except ValueError:  # not UTF-8, not JSON, or an integer of more digits than Python converts
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is not valid JSON") from None
    except RecursionError:
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is nested too deeply to be edgegru's") from None


def _is_int(value: object) -> bool:
    """A JSON integer (JSON's true and false are Python ints too, and are not integers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A metadata value for a message: a scalar quoted, a container only by its kind, since
    it may be large or deeply nested."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'} of {len(value)} items"
    return quote(value)


def _bad_field(path: Path, field: str, value: object, expected: str) -> EdgeGruError:
    return EdgeGruError(f"{path}: its 'edgegru' metadata has {field} {_shown(value)}, expected {expected}")


def names_text(names: list[str]) -> str:
    """Tensor names for a message, quoted as one list."""
    return quote(", ".join(names))


@dataclass(frozen=True)
class StepSpec:
    """What the metadata of an edgegru step model says, each field checked for type and form.

    The metadata comes from the file's author, so nothing in it is used before it has
    been checked here and then against the interpreter's tensors (StreamingModel):
    a wrong class count or state name would otherwise surface as wrong output lines.
    """

    dtype: str
    input_size: int
    frame: int  # samples per step (edgegru/data/frames.py); files without it take one
    output_kind: str
    class_names: list[str] | None
    layers: int
    normalisation: tuple[np.ndarray, np.ndarray] | None  # (mean, std) applied by the runtime

    @property
    def inputs(self) -> list[str]:
        return _port_names(self.layers)[0]

    @property
    def outputs(self) -> list[str]:
        return _port_names(self.layers)[1]


def _port_names(layers: int) -> tuple[list[str], list[str]]:
    """The input and output tensor names of a step model of ``layers`` layers."""
    states = [f"h{k}" for k in range(layers)]
    return ["x", *states], ["y", *(f"{name}_next" for name in states)]


def step_spec(meta: dict[str, Any], path: Path) -> StepSpec:
    """The checked contents of a step model's metadata; one EdgeGruError for the first fault."""
    kind = _required(meta, "kind", path)
    if kind == "sequence":
        raise EdgeGruError(
            f"{path}: is an edgegru sequence model; streaming needs a step model "
            "(export it with --kind step, kind='step')"
        )
    if kind != "step":
        raise _bad_field(path, "kind", kind, "'step'")
    dtype = _required(meta, "dtype", path)
    if dtype not in PORT_DTYPES:
        raise _bad_field(path, "dtype", dtype, " or ".join(map(repr, PORT_DTYPES)))
    input_size = _required(meta, "input_size", path)
    if not _is_int(input_size) or not 1 <= input_size <= MAX_SIZE:
        raise _bad_field(path, "input_size", input_size, f"an integer from 1 to {MAX_SIZE}")
    frame = meta.get("frame", 1)
    if not _is_int(frame) or not 1 <= frame <= MAX_FRAME or input_size % frame:
        raise _bad_field(path, "frame", frame, f"an integer from 1 to {MAX_FRAME} dividing input_size")
    output_kind, class_names = _output(_required(meta, "output", path), path)
    return StepSpec(
        dtype=dtype,
        input_size=input_size,
        frame=frame,
        output_kind=output_kind,
        class_names=class_names,
        layers=_layers(meta, path),
        normalisation=_normalisation(meta.get("normalisation"), input_size, path),
    )


def _required(meta: dict[str, Any], key: str, path: Path) -> Any:
    if key not in meta:
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is incomplete (no {key!r})")
    return meta[key]


def _output(output: object, path: Path) -> tuple[str, list[str] | None]:
    """(output kind, class names or None) from the metadata's ``output`` object."""
    if not isinstance(output, dict):
        raise _bad_field(path, "output", output, "an object with 'kind' and 'class_names'")
    kind = output.get("kind")
    if kind not in OUTPUT_KINDS:
        raise _bad_field(path, "output.kind", kind, " or ".join(map(repr, OUTPUT_KINDS)))
    names = output.get("class_names")
    if names is None:
        return kind, None
    if kind != "classification":
        raise _bad_field(path, "output.class_names", names, f"null for a {kind} output")
    if not isinstance(names, list) or not names:
        raise _bad_field(path, "output.class_names", names, "null or a list of names")
    for i, name in enumerate(names):
        if not is_csv_name(name):
            raise _bad_field(path, f"class name {i}", name, "a string of printable characters without commas")
    return kind, names


def _layers(meta: dict[str, Any], path: Path) -> int:
    """The number of state pairs: inputs x, h0..h<L-1>; outputs y, h0_next..h<L-1>_next,
    in that order, so that each state output is fed back into its own input."""
    names = {key: _required(meta, key, path) for key in ("inputs", "outputs")}
    for key, value in names.items():
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise _bad_field(path, key, value, "a list of tensor names")
    layers = len(names["inputs"]) - 1
    inputs, outputs = _port_names(layers)
    if layers < 1 or names["inputs"] != inputs:
        raise EdgeGruError(
            f"{path}: its 'edgegru' metadata lists inputs {names_text(names['inputs'])}, expected x "
            "then one state h<k> per layer (h0, h1, ...)"
        )
    if names["outputs"] != outputs:
        raise EdgeGruError(
            f"{path}: its 'edgegru' metadata lists outputs {names_text(names['outputs'])}, expected "
            f"{names_text(outputs)} to match its inputs"
        )
    return layers


def _normalisation(norm: object, size: int, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) the runtime must apply, or None when there is none or the graph does it."""
    if norm is None:
        return None
    if not isinstance(norm, dict) or not isinstance(norm.get("in_graph"), bool):
        raise _bad_field(path, "normalisation", norm, "null or an object with 'in_graph' true or false")
    if norm["in_graph"]:
        return None
    mean, std = (_finite_vector(norm.get(key), size, f"normalisation.{key}", path) for key in ("mean", "std"))
    if not np.all(std > 0):
        raise _bad_field(path, "normalisation.std", norm["std"], "positive values")
    return mean, std


def _finite_vector(values: object, size: int, field: str, path: Path) -> np.ndarray:
    expected = f"a list of {size} finite numbers (one per input channel)"
    if not isinstance(values, list) or len(values) != size:
        raise _bad_field(path, field, values, expected)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise _bad_field(path, field, values, expected)
    vector = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(vector)):
        raise _bad_field(path, field, values, expected)
    return vector
