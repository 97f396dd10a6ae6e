"""Stream inputs through an edgegru step .tflite model: NumPy and an interpreter only.

This is the part of edgegru that runs on the device (a Raspberry Pi): it must
not import torch, nor the export code, so it depends on NumPy, the edgegru
metadata reader and a TFLite interpreter, ``ai_edge_litert`` or, failing that,
``tflite_runtime``.

:class:`StreamingModel` keeps the hidden state between calls and does the
caller's share of an int8 model (normalise, quantise the input, dequantise the
output). :func:`stream_lines` feeds it CSV rows, one time step per line, answering
each line as soon as it arrives; ``edgegru run`` and ``python -m edgegru.runtime``
(:mod:`edgegru.cli.run`) print those answers.

Model and input come from strangers, and a stream may run for months: the model
file is read up to MAX_TFLITE_BYTES and its metadata checked against the graph's
tensors before the first step; an input line is read up to MAX_LINE_CHARS, never
whole; step times are summarised in constant memory (LatencyStats).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

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

# The longest input line read. A row of MAX_SIZE (512) channels, each written as the
# longest float repr (24 characters, "-1.2345678901234567e-308") and a comma, is under
# 13 KB; 64 Ki characters leave room for spaces and padding while one line can hold no
# more than that in memory (a longer one is read past in pieces of this size).
MAX_LINE_CHARS = 64 * 1024
# The largest 'edgegru' metadata parsed. Its JSON holds a few names, the normalisation
# (two lists of at most 512 numbers, ~20 KB) and class names (a thousand names of a
# few hundred characters still fit): 1 MiB bounds what parsing a stranger's JSON costs.
MAX_METADATA_BYTES = 1024 * 1024
PORT_DTYPES = ("float32", "int8")  # the dtype of every input and output tensor
OUTPUT_KINDS = ("classification", "regression", "hidden")


def load_interpreter() -> Any:
    """The TFLite ``Interpreter`` class: ai_edge_litert's, else tflite_runtime's."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as exc:
        litert_error: Exception = exc
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except Exception as exc:  # a broken binary fails with ImportError or AttributeError
        raise EdgeGruError(interpreter_missing_message(litert_error, exc, np.__version__)) from None


# LiteRT's C++ prints this once per process, to file descriptor 2, when it applies its default
# delegate; it is news to nobody and preceded every line `edgegru run` printed, errors included.
DELEGATE_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
MAX_NATIVE_STDERR = 64 * 1024  # the most of the interpreter's own messages passed on


def create_interpreter(path: Path | str, num_threads: int = 1, **options: Any) -> Any:
    """A LiteRT (or tflite_runtime) interpreter with its tensors allocated, without the
    delegate notice: see :func:`_without_delegate_notice`. ``options`` go to the constructor."""
    interpreter_class = load_interpreter()
    with _without_delegate_notice():
        interpreter = interpreter_class(model_path=str(path), num_threads=num_threads, **options)
        interpreter.allocate_tensors()
    return interpreter


@contextmanager
def _without_delegate_notice() -> Iterator[None]:
    """Run the body with file descriptor 2 captured, then pass on every line of it except
    :data:`DELEGATE_NOTICE`.

    The notice comes from C++ (no Python logger, no option or environment variable turns it
    off), so the descriptor itself is redirected; the interpreter's real messages (an
    ``ERROR:`` about a bad model, say) still reach stderr, after the body, in their order.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read(MAX_NATIVE_STDERR).decode(errors="replace")
            kept = [line for line in text.splitlines(True) if line.strip() != DELEGATE_NOTICE]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def interpreter_missing_message(litert_error: Exception, tflite_error: Exception, numpy_version: str) -> str:
    """One line saying why no interpreter could be imported and how to get one."""
    not_installed = isinstance(tflite_error, ModuleNotFoundError) and (tflite_error.name or "").startswith(
        "tflite_runtime"
    )
    if not not_installed and int(numpy_version.split(".")[0]) >= 2:
        return (
            f"tflite_runtime failed to import ({tflite_error}): tflite-runtime 2.14 needs "
            f"numpy<2 (numpy {numpy_version} is installed); pip install 'numpy<2', "
            "or pip install ai-edge-litert"
        )
    return (
        f"no TFLite interpreter (ai_edge_litert: {litert_error}; tflite_runtime: {tflite_error}); "
        "install one with: pip install ai-edge-litert (or pip install tflite-runtime)"
    )


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


def _names(names: list[str]) -> str:
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
            f"{path}: its 'edgegru' metadata lists inputs {_names(names['inputs'])}, expected x "
            "then one state h<k> per layer (h0, h1, ...)"
        )
    if names["outputs"] != outputs:
        raise EdgeGruError(
            f"{path}: its 'edgegru' metadata lists outputs {_names(names['outputs'])}, expected "
            f"{_names(outputs)} to match its inputs"
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


class _Port:
    """One interpreter tensor and its quantisation (scale 0 means float), checked to be
    what a step model's input or output must be: (1, N) of the model's dtype, float or
    int8 quantised per tensor."""

    def __init__(self, detail: dict[str, Any], dtype: str, path: Path) -> None:
        name = quote(detail["name"])
        self.index = detail["index"]
        self.dtype = np.dtype(detail["dtype"])
        self.shape = tuple(int(d) for d in detail["shape"])
        self.scale, self.zero_point = detail["quantization"]
        if self.dtype != np.dtype(dtype):
            raise EdgeGruError(f"{path}: tensor {name} is {self.dtype}, its metadata says {dtype}")
        if len(self.shape) != 2 or self.shape[0] != 1 or self.shape[1] < 1:
            raise EdgeGruError(f"{path}: tensor {name} has shape {self.shape}, expected (1, N)")
        scales = detail["quantization_parameters"]["scales"]
        if dtype == "float32" and (self.scale != 0 or len(scales)):
            raise EdgeGruError(f"{path}: float32 tensor {name} is quantised")
        if dtype == "int8" and not (
            len(scales) == 1 and 0 < self.scale < np.inf and -128 <= self.zero_point < 128
        ):
            raise EdgeGruError(
                f"{path}: int8 tensor {name} has quantisation scale {self.scale}, zero point "
                f"{self.zero_point}; expected one positive scale and an int8 zero point"
            )

    def encode(self, values: np.ndarray) -> np.ndarray:
        if self.scale == 0:
            return values.astype(self.dtype).reshape(self.shape)
        info = np.iinfo(self.dtype)
        q = np.rint(values / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype).reshape(self.shape)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        if self.scale == 0:
            return raw.astype(np.float64).reshape(-1)
        return (raw.astype(np.float64).reshape(-1) - self.zero_point) * self.scale


def _ports(details: list[dict[str, Any]], names: list[str], dtype: str, path: Path, side: str) -> list[_Port]:
    """The interpreter's input or output tensors in the metadata's order; EdgeGruError
    unless they are exactly the ones the metadata names."""
    actual = [str(d["name"]) for d in details]
    if sorted(actual) != sorted(names):
        raise EdgeGruError(
            f"{path}: the model's {side} are {_names(actual)}, its 'edgegru' metadata names {_names(names)}"
        )
    by_name = {str(d["name"]): d for d in details}
    return [_Port(by_name[name], dtype, path) for name in names]


class LatencyStats:
    """Count, total, min, max and quantiles of step times, in constant memory.

    A stream may run for months, so times are not kept: each is counted in one of
    1280 fixed log-spaced bins from 1 ns to 100 s, each 2 % wider than the last (10 KB
    in all). A quantile q is the geometric centre of the bin holding the ceil(q * count)-th
    smallest time, clamped to the exact min and max: within 1 % (sqrt(1.02) - 1) of that
    time when it lies between 1 ns and 100 s. Count, min, max and mean are exact.
    """

    LOW = 1e-9  # seconds: the lower edge of the first bin
    RATIO = 1.02  # each bin's upper edge over its lower edge
    LOG_RATIO = math.log(RATIO)
    BINS = math.ceil(math.log(100 / LOW) / LOG_RATIO)  # up to 100 s
    ACCURACY = "quantiles within 1 %"

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0
        self._bins = array("Q", bytes(8 * self.BINS))

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)
        bin_ = int(math.log(seconds / self.LOW) / self.LOG_RATIO) if seconds > self.LOW else 0
        self._bins[min(bin_, self.BINS - 1)] += 1

    @property
    def mean(self) -> float:
        return self.total / self.count

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q <= 1) to within 1 %; EdgeGruError if nothing was added."""
        if not self.count:
            raise EdgeGruError("no steps have been run, so there is no latency to report")
        rank = max(1, math.ceil(q * self.count))
        bin_ = bisect_left(list(accumulate(self._bins)), rank)
        centre = self.LOW * self.RATIO ** (bin_ + 0.5)
        return min(max(centre, self.min), self.max)

    def report(self) -> str:
        """The ``--latency`` line (edgegru.targets.pi.bench parses its ``N steps, median X us`` head)."""
        if not self.count:
            return "latency: no steps were run"
        us = {
            "median": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p99": self.quantile(0.99),
            "min": self.min,
            "mean": self.mean,
            "max": self.max,
        }
        values = ", ".join(f"{name} {seconds * 1e6:.1f} us" for name, seconds in us.items())
        return f"latency: {self.count} steps, {values} ({self.ACCURACY})"


def checked_step_input(x: np.ndarray, input_size: int) -> np.ndarray:
    """One step's raw inputs as float64 (D,), or one line saying why they cannot be streamed:
    every engine refuses the same inputs in the same words."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (input_size,):
        raise EdgeGruError(f"input: shape {x.shape}, expected ({input_size},)")
    if not np.all(np.isfinite(x)):
        raise EdgeGruError("input: holds NaN or Inf")
    return x


class StreamingModel:
    """An edgegru step model with its hidden state, fed one time step at a time.

    Construction checks the metadata against the interpreter's tensors (names,
    shapes, dtypes, int8 quantisation), so a file that disagrees with itself is
    refused with one line before any step is run.
    """

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        path = Path(path)
        self.path = path
        self.meta = read_edgegru_metadata(path)
        spec = step_spec(self.meta, path)
        self.input_size = spec.input_size
        self.frame = spec.frame
        self.output_kind = spec.output_kind
        self.class_names = spec.class_names
        self._norm = spec.normalisation
        try:
            self._interpreter = create_interpreter(path, num_threads)
            inputs = self._interpreter.get_input_details()
            outputs = self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise EdgeGruError(f"{path}: the TFLite interpreter cannot load it ({exc})") from None
        self._x, *self._states_in = _ports(inputs, spec.inputs, spec.dtype, path, "inputs")
        self._y, *self._states_out = _ports(outputs, spec.outputs, spec.dtype, path, "outputs")
        self._check_tensors(spec)
        self.latency = LatencyStats()
        self.reset()

    def _check_tensors(self, spec: StepSpec) -> None:
        """x holds the metadata's input size, y one score per class name, and each state
        output is shaped and quantised like the input it is fed back into."""
        if self._x.shape != (1, spec.input_size):
            raise EdgeGruError(
                f"{self.path}: input x has shape {self._x.shape}, its metadata says (1, {spec.input_size})"
            )
        if spec.class_names is not None and self._y.shape[1] != len(spec.class_names):
            raise EdgeGruError(
                f"{self.path}: output y has {self._y.shape[1]} values, its metadata names "
                f"{len(spec.class_names)} classes"
            )
        for k, (state_in, state_out) in enumerate(zip(self._states_in, self._states_out, strict=True)):
            if (state_in.shape, state_in.scale, state_in.zero_point) != (
                state_out.shape,
                state_out.scale,
                state_out.zero_point,
            ):
                raise EdgeGruError(
                    f"{self.path}: state h{k}_next (shape {state_out.shape}, scale {state_out.scale}) "
                    f"cannot be fed back into h{k} (shape {state_in.shape}, scale {state_in.scale})"
                )

    def reset(self) -> None:
        """Start a new sequence: every hidden state back to zero."""
        self._state = [port.encode(np.zeros(port.shape)) for port in self._states_in]

    @property
    def state(self) -> list[np.ndarray]:
        """The current hidden state of each layer, as floats (H_k,)."""
        return [port.decode(raw) for port, raw in zip(self._states_out, self._state, strict=True)]

    def step(self, x: np.ndarray) -> np.ndarray:
        """Feed one time step x (D,) of raw inputs; return the output (C,) as floats."""
        start = time.perf_counter()
        x = checked_step_input(x, self.input_size)
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        interp = self._interpreter
        interp.set_tensor(self._x.index, self._x.encode(x))
        for port, raw in zip(self._states_in, self._state, strict=True):
            interp.set_tensor(port.index, raw)
        interp.invoke()
        self._state = [interp.get_tensor(port.index) for port in self._states_out]
        y = self._y.decode(interp.get_tensor(self._y.index))
        self.latency.add(time.perf_counter() - start)
        return y

    def run(self, x: np.ndarray) -> np.ndarray:
        """Feed x (T, D) step by step, continuing from the current state; return (T, C)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise EdgeGruError(f"input: shape {x.shape}, expected (T, {self.input_size})")
        return np.stack([self.step(row) for row in x])

    def latency_summary(self) -> tuple[float, float]:
        """(median, 99th percentile) of the per-step times in seconds, each within 1 %."""
        return self.latency.quantile(0.5), self.latency.quantile(0.99)

    def format_output(self, y: np.ndarray) -> str:
        """A step's output as CSV: the class name then the scores, or the values."""
        values = ",".join(f"{v:.6g}" for v in y)
        if self.output_kind == "classification":
            names = self.class_names or [str(i) for i in range(len(y))]
            return f"{names[int(np.argmax(y))]},{values}"
        return values


# Text rows, one time step per line ------------------------------------------------


def parse_row(text: str, size: int) -> np.ndarray:
    """One CSV line of ``size`` finite numbers; EdgeGruError naming what is wrong."""
    count = text.count(",") + 1  # before splitting: a line of commas is not made a list
    if count != size:
        raise EdgeGruError(f"expected {size} comma-separated values, got {count}")
    fields = text.split(",")
    values = np.empty(size)
    for i, field in enumerate(fields):
        try:
            if "_" in field:  # Python's float() takes 1_000; a CSV number does not
                raise ValueError
            values[i] = float(field)
        except ValueError:
            raise EdgeGruError(f"value {i + 1} {quote(field.strip())} is not a number") from None
        # the models take float32: a value beyond its range would become inf there
        if not abs(values[i]) <= np.finfo(np.float32).max:  # also false for NaN and inf
            raise EdgeGruError(f"value {i + 1} {quote(field.strip())} is not a finite float32")
    return values


@dataclass(frozen=True)
class LineResult:
    """What one data line of a stream gave: the step's output, or why the line was refused
    (then ``output`` is None and the state is as before the line)."""

    line: int  # 1-based, counting every line read, so that skipped lines do not shift it
    output: np.ndarray | None
    error: EdgeGruError | None


def stream_lines(model: StreamingModel, source: TextIO, reset_on_blank: bool = False) -> Iterator[LineResult]:
    """Feed ``model`` one CSV row per line of ``source``, answering each line as it arrives.

    Lines are read with readline, not a read-ahead iterator, so that a live sensor pipe
    gets each answer before it sends the next line. Blank lines and lines starting with
    ``#`` are not data (a blank line resets the state with ``reset_on_blank``). A bad
    line (not ``model.input_size`` finite numbers, or longer than MAX_LINE_CHARS) yields
    its error and the stream goes on: the caller decides whether to stop. A framed model
    (edgegru/data/frames.py) also takes one sample a line (:class:`SampleFrames`): only the
    line that completes a frame steps the model and is answered.
    """
    frames = SampleFrames(model.frame, model.input_size)
    for lineno, line in enumerate(_lines(source), start=1):
        text = None if line is None else line.strip()
        if text is not None and (not text or text.startswith("#")):
            if not text and reset_on_blank:
                model.reset()
                frames.clear()
            continue
        try:
            x = frames.step_input(_parse_line(text, frames))
            if x is None:
                continue
            y = model.step(x)
        except EdgeGruError as exc:
            yield LineResult(lineno, None, exc)
            continue
        yield LineResult(lineno, y, None)


class SampleFrames:
    """A framed model's step inputs from lines of whole frames or of single samples.

    A device streams samples; the model steps once per frame of ``frame`` of them. A line
    of ``input_size`` values is a whole frame; with frames of several samples, a line of
    ``input_size / frame`` values is one sample, kept until its frame is complete. Mixing
    the two inside one frame is refused, so that no step sees half a frame.
    """

    def __init__(self, frame: int, input_size: int) -> None:
        self.frame, self.input_size = frame, input_size
        self.channels = input_size // frame
        self._pending: list[np.ndarray] = []

    def sizes(self) -> tuple[int, ...]:
        """The values a line may hold: a frame's, or also a sample's."""
        return (self.input_size,) if self.frame == 1 else (self.input_size, self.channels)

    def step_input(self, row: np.ndarray) -> np.ndarray | None:
        """The model's input once ``row`` completes a frame (a whole frame at once), else None."""
        if row.size == self.input_size:
            if self._pending:
                raise EdgeGruError(
                    f"a whole frame ({self.input_size} values) while {len(self._pending)} of the "
                    f"{self.frame} samples of a frame wait: send the frame's other samples"
                )
            return row
        self._pending.append(row)
        if len(self._pending) < self.frame:
            return None
        x = np.concatenate(self._pending)
        self._pending.clear()
        return x

    def clear(self) -> None:
        """Drop a partial frame (the stream was reset)."""
        self._pending.clear()


def _lines(source: TextIO) -> Iterator[str | None]:
    """Each line as it arrives; None for a line longer than MAX_LINE_CHARS, which is read
    past in pieces of that size and so never held whole."""
    while line := source.readline(MAX_LINE_CHARS + 1):
        if len(line) <= MAX_LINE_CHARS or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = source.readline(MAX_LINE_CHARS + 1)
        yield None


def _parse_line(text: str | None, frames: SampleFrames) -> np.ndarray:
    """The row of a stripped line (None: an overlong one): a frame's values, or a sample's
    for a framed model; EdgeGruError for a bad line."""
    if text is None:
        raise EdgeGruError(f"longer than {MAX_LINE_CHARS} characters, the most a line may have")
    count = text.count(",") + 1
    sizes = frames.sizes()
    if count not in sizes and len(sizes) > 1:
        raise EdgeGruError(
            f"expected {frames.input_size} comma-separated values (a frame of {frames.frame} samples) "
            f"or {frames.channels} (one sample), got {count}"
        )
    return parse_row(text, count if count in sizes else frames.input_size)
