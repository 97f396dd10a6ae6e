"""Stream inputs through an edgegru step .tflite model: NumPy and an interpreter only.

This is the part of edgegru that runs on the device (a Raspberry Pi): it must not import
torch, nor the export code, so it depends on NumPy, the metadata reader
(:mod:`edgegru.tflite.step_metadata`) and a TFLite interpreter
(:mod:`edgegru.tflite.interpreter`).

:class:`StreamingModel` keeps the hidden state between calls and does the caller's share of
an int8 model (normalise, quantise the input, dequantise the output); its metadata is
checked against the graph's tensors before the first step. A stream may run for months, so
step times are summarised in constant memory (:class:`LatencyStats`). Lines of text are fed
to it by :mod:`edgegru.tflite.lines`.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.tflite.interpreter import create_interpreter
from edgegru.tflite.step_metadata import StepSpec, names_text, read_edgegru_metadata, step_spec


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
            f"{path}: the model's {side} are {names_text(actual)}, "
            f"its 'edgegru' metadata names {names_text(names)}"
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
