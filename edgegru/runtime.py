"""Stream inputs through an edgegru step .tflite model: NumPy and an interpreter only.

This is the part of edgegru that runs on the device (a Raspberry Pi): it must
not import torch, nor the export code, so it depends on NumPy, the edgegru
metadata reader and a TFLite interpreter, ``ai_edge_litert`` or, failing that,
``tflite_runtime``.

:class:`StreamingModel` keeps the hidden state between calls and does the
caller's share of an int8 model (normalise, quantise the input, dequantise the
output). ``python -m edgegru.runtime MODEL.tflite`` (also ``edgegru run``) reads
CSV rows, one time step per line, from a file or stdin and prints each step's
output as soon as the line arrives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .backends.tflite_read import (
    METADATA_FORMAT,
    METADATA_NAME,
    METADATA_VERSION,
    MalformedTflite,
    read_metadata,
)
from .errors import EdgeGruError, run_reporting


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


def read_edgegru_metadata(path: Path) -> dict[str, Any]:
    """The edgegru metadata of a .tflite file; EdgeGruError if it is not an edgegru model."""
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    try:
        raw = read_metadata(path.read_bytes(), METADATA_NAME)
    except MalformedTflite as exc:
        raise EdgeGruError(f"{path}: not a readable .tflite file ({exc})") from None
    except OSError as exc:
        raise EdgeGruError(f"{path}: cannot read ({exc.strerror})") from None
    if raw is None:
        raise EdgeGruError(f"{path}: not an edgegru model (no 'edgegru' metadata inside)")
    try:
        meta = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != METADATA_FORMAT:
        raise EdgeGruError(f"{path}: its 'edgegru' metadata is not edgegru-tflite metadata")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > METADATA_VERSION:
        raise EdgeGruError(
            f"{path}: written by a newer edgegru (metadata version {version!r}, this edgegru "
            f"reads up to {METADATA_VERSION}); upgrade edgegru"
        )
    return meta


class _Port:
    """One interpreter tensor and its quantisation (scale 0 means float)."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.index = detail["index"]
        self.dtype = detail["dtype"]
        self.shape = tuple(int(d) for d in detail["shape"])
        self.scale, self.zero_point = detail["quantization"]

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


class StreamingModel:
    """An edgegru step model with its hidden state, fed one time step at a time."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        path = Path(path)
        meta = read_edgegru_metadata(path)
        if "kind" not in meta:
            raise EdgeGruError(f"{path}: its 'edgegru' metadata is incomplete (no 'kind')")
        if meta["kind"] != "step":
            raise EdgeGruError(
                f"{path}: is an edgegru {meta['kind']} model; streaming needs a step model "
                "(export it with kind='step')"
            )
        self.path = path
        self.meta = meta
        try:
            self.input_size = int(meta["input_size"])
            self.output_kind: str = meta["output"]["kind"]
            self.class_names: list[str] | None = meta["output"].get("class_names")
            state_inputs, state_outputs = meta["inputs"][1:], meta["outputs"][1:]
            norm = meta.get("normalisation")
            self._norm = None
            if norm is not None and not norm["in_graph"]:
                self._norm = (np.asarray(norm["mean"], float), np.asarray(norm["std"], float))
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeGruError(f"{path}: its 'edgegru' metadata is incomplete ({exc!r})") from None
        interpreter_class = load_interpreter()
        try:
            self._interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
            inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
            outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
            self._x = _Port(inputs["x"])
            self._states_in = [_Port(inputs[name]) for name in state_inputs]
            self._y = _Port(outputs["y"])
            self._states_out = [_Port(outputs[name]) for name in state_outputs]
        except (ValueError, RuntimeError) as exc:
            raise EdgeGruError(f"{path}: the TFLite interpreter cannot load it ({exc})") from None
        except KeyError as exc:
            raise EdgeGruError(f"{path}: has no tensor {exc} named in its edgegru metadata") from None
        if self._x.shape != (1, self.input_size):
            raise EdgeGruError(
                f"{path}: input x has shape {self._x.shape}, its metadata says (1, {self.input_size})"
            )
        self.latencies: list[float] = []
        self.reset()

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
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.input_size,):
            raise EdgeGruError(f"input: shape {x.shape}, expected ({self.input_size},)")
        if not np.all(np.isfinite(x)):
            raise EdgeGruError("input: holds NaN or Inf")
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        interp = self._interpreter
        interp.set_tensor(self._x.index, self._x.encode(x))
        for port, raw in zip(self._states_in, self._state, strict=True):
            interp.set_tensor(port.index, raw)
        interp.invoke()
        self._state = [interp.get_tensor(port.index) for port in self._states_out]
        y = self._y.decode(interp.get_tensor(self._y.index))
        self.latencies.append(time.perf_counter() - start)
        return y

    def run(self, x: np.ndarray) -> np.ndarray:
        """Feed x (T, D) step by step, continuing from the current state; return (T, C)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise EdgeGruError(f"input: shape {x.shape}, expected (T, {self.input_size})")
        return np.stack([self.step(row) for row in x])

    def latency_summary(self) -> tuple[float, float]:
        """(median, 99th percentile) of the per-step times in seconds."""
        if not self.latencies:
            raise EdgeGruError("no steps have been run, so there is no latency to report")
        times = np.asarray(self.latencies)
        return float(np.median(times)), float(np.percentile(times, 99))

    def format_output(self, y: np.ndarray) -> str:
        """A step's output as CSV: the class name then the scores, or the values."""
        values = ",".join(f"{v:.6g}" for v in y)
        if self.output_kind == "classification":
            names = self.class_names or [str(i) for i in range(len(y))]
            return f"{names[int(np.argmax(y))]},{values}"
        return values


# The command line ------------------------------------------------------------


def parse_row(text: str, size: int) -> np.ndarray:
    """One CSV line of ``size`` finite numbers; EdgeGruError naming what is wrong."""
    fields = text.split(",")
    if len(fields) != size:
        raise EdgeGruError(f"expected {size} comma-separated values, got {len(fields)}")
    values = np.empty(size)
    for i, field in enumerate(fields):
        try:
            if "_" in field:  # Python's float() takes 1_000; a CSV number does not
                raise ValueError
            values[i] = float(field)
        except ValueError:
            raise EdgeGruError(f"value {i + 1} {field.strip()!r} is not a number") from None
        # the models take float32: a value beyond its range would become inf there
        if not abs(values[i]) <= np.finfo(np.float32).max:  # also false for NaN and inf
            raise EdgeGruError(f"value {i + 1} {field.strip()!r} is not a finite float32")
    return values


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.tflite", help="an edgegru step model")
    parser.add_argument(
        "--input",
        default="-",
        metavar="FILE.csv",
        help="one time step per line, D comma-separated numbers; '-' (default) reads stdin",
    )
    parser.add_argument(
        "--on-bad-line",
        choices=("skip", "stop"),
        default="skip",
        help="a malformed line is reported and skipped (default) or stops the run",
    )
    parser.add_argument(
        "--latency", action="store_true", help="report median and p99 step latency at the end"
    )
    parser.add_argument("--reset-on-blank", action="store_true", help="a blank line resets the hidden state")


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``run`` to an argparse subparsers object; run_run executes it."""
    parser = subparsers.add_parser(
        "run",
        help="stream CSV rows through an edgegru step .tflite model",
        description="Stream CSV rows (one time step per line) through an edgegru step "
        ".tflite model and print each step's output as soon as its line arrives. "
        "Output lines are 'LINE,CLASS,SCORES...' for classifiers, 'LINE,VALUES...' otherwise.",
        epilog="examples:\n"
        "  edgegru run bm.tflite --input steps.csv --latency\n"
        "  sensor_reader | edgegru run bm-int8.tflite --on-bad-line stop\n"
        "  python -m edgegru.runtime bm.tflite --input steps.csv   # on a Pi without torch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_arguments(parser)
    return parser


def run_run(args: argparse.Namespace) -> int:
    """Execute ``edgegru run``: 0 when the stream ended, 1 when a bad line stopped it."""
    model = StreamingModel(args.model)
    source = _open_input(args.input)
    try:
        status = _stream(model, source, args.on_bad_line == "stop", args.reset_on_blank)
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit-time
        # flush of stdout from failing on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    finally:
        if source is not sys.stdin:
            source.close()
    if args.latency:
        _report_latency(model)
    return status


def _open_input(name: str) -> TextIO:
    if name == "-":
        if hasattr(sys.stdin, "reconfigure"):
            sys.stdin.reconfigure(errors="replace")
        return sys.stdin
    try:
        return open(name, encoding="utf-8", errors="replace")  # closed by run_run
    except FileNotFoundError:
        raise EdgeGruError(f"{name}: no such file") from None
    except OSError as exc:
        raise EdgeGruError(f"{name}: cannot read ({exc.strerror})") from None


def _stream(model: StreamingModel, source: TextIO, stop: bool, reset_on_blank: bool) -> int:
    """Read lines as they arrive (readline, not a read-ahead iterator) and answer each."""
    bad = 0
    for lineno, line in enumerate(iter(source.readline, ""), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            if not text and reset_on_blank:
                model.reset()
            continue
        try:
            y = model.step(parse_row(text, model.input_size))
        except EdgeGruError as exc:
            print(f"line {lineno}: {exc}", file=sys.stderr, flush=True)
            if stop:
                return 1
            bad += 1
            continue
        print(f"{lineno},{model.format_output(y)}", flush=True)
    if bad:
        print(f"{bad} bad line(s) skipped", file=sys.stderr)
    return 0


def _report_latency(model: StreamingModel) -> None:
    if not model.latencies:
        print("latency: no steps were run", file=sys.stderr)
        return
    median, p99 = model.latency_summary()
    print(
        f"latency: {len(model.latencies)} steps, median {median * 1e6:.1f} us, p99 {p99 * 1e6:.1f} us",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m edgegru.runtime``: the ``run`` command without the rest of the CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m edgegru.runtime",
        description="Stream CSV rows through an edgegru step .tflite model.",
    )
    _add_run_arguments(parser)
    return run_reporting(run_run, parser.parse_args(argv), "python -m edgegru.runtime")


if __name__ == "__main__":
    sys.exit(main())
