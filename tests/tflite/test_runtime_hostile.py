"""Hostile input to the device runtime (`edgegru run`): endless streams, overlong lines,
.tflite files whose metadata disagrees with their graph, and malformed flatbuffers.

Every bad input must give one ``EdgeGruError`` line before the first output line, and
a stream must run in memory that does not grow with its length. Bad files are made by
exporting a real model and rewriting its metadata (or tensor names) through the TFLite
schema's object API, so everything but the planted fault is a valid model.

Fuzz tests run under the hypothesis profile of tests/conftest.py (``ci`` by default);
a longer session:
HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/tflite/test_runtime_hostile.py -k fuzz
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from hypothesis import given, settings
from hypothesis import strategies as st

from edgegru.cli.run import print_outputs, runtime_main
from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.tflite.builder import GraphBuilder, Op
from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.lines import MAX_LINE_CHARS
from edgegru.tflite.read import MAX_METADATA_ENTRIES, MAX_TFLITE_BYTES, MalformedTflite, metadata_span
from edgegru.tflite.step_metadata import MAX_METADATA_BYTES, read_edgegru_metadata
from edgegru.tflite.stream import LatencyStats, StreamingModel, _Port

D = 4
PROG = "python -m edgegru.runtime: error: "


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Float32 and int8 step models of D=4, two layers (12, 8) and 3 classes, and a tiny
    float model (D=1, H=2, no head) for long streams."""
    root = tmp_path_factory.mktemp("models")
    model = random_model(D, [12, 8], "reset_after", head="classification", output_size=3, seed=5)
    model.normalisation = Normalisation(np.arange(1.0, 5.0, dtype=np.float32), np.ones(D, np.float32))
    calibration = np.random.default_rng(0).normal(size=(8, 20, D))
    tiny = random_model(1, [2], "reset_after", head=None, seed=0)
    return {
        "float": export_tflite(model, root / "float.tflite", quiet=True).path,
        "int8": export_tflite(
            model, root / "int8.tflite", dtype="int8", calibration=calibration, quiet=True
        ).path,
        "tiny": export_tflite(tiny, root / "tiny.tflite", quiet=True).path,
        "root": root,
    }


def rewritten(blob: bytes, metadata: bytes | None = None, edit: Callable[[Any], None] | None = None) -> bytes:
    """The model with its 'edgegru' metadata replaced by ``metadata`` and/or its object-API
    ModelT changed by ``edit``, packed again: a valid flatbuffer with one planted fault."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    if metadata is not None:
        entry = next(e for e in model.metadata if e.name == b"edgegru")
        model.buffers[entry.buffer].data = np.frombuffer(metadata, np.uint8)
    if edit is not None:
        edit(model)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def metadata_of(path: Path) -> dict[str, Any]:
    return read_edgegru_metadata(path)


def tensors_named(model: Any) -> dict[bytes, Any]:
    return {t.name: t for t in model.subgraphs[0].tensors if t.name}


def swap_graph_states(model: Any) -> None:
    """Swap the graph's names of h0 and h1 (shapes (1, 12) and (1, 8)), not the metadata's."""
    tensors = tensors_named(model)
    tensors[b"h0"].name, tensors[b"h1"].name = b"h1", b"h0"


def rename_output(model: Any) -> None:
    tensors_named(model)[b"h1_next"].name = b"h9_next"


def requantise_state(model: Any) -> None:
    """h0 on a different scale from h0_next: the raw bytes fed back would be misread."""
    tensors_named(model)[b"h0"].quantization.scale = [1 / 64]


def changed(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A metadata edit setting top-level keys, or output.<key> for 'output_<key>'."""

    def edit(meta: dict[str, Any]) -> dict[str, Any]:
        for key, value in changes.items():
            if key.startswith("output_"):
                meta["output"][key.removeprefix("output_")] = value
            elif key.startswith("norm_"):
                meta["normalisation"][key.removeprefix("norm_")] = value
            else:
                meta[key] = value
        return meta

    return edit


def deeply_nested(depth: int) -> bytes:
    head = b'{"format":"edgegru-tflite","format_version":1,"kind":'
    return head + b"[" * depth + b"]" * depth + b"}"


# (id, model, metadata edit (dict -> dict) or raw metadata bytes, graph edit, expected message part)
INCONSISTENT = [
    (
        "too-few-classes",
        "float",
        changed(output_class_names=["a", "b"]),
        None,
        "its metadata names 2 classes",
    ),
    (
        "too-many-classes",
        "int8",
        changed(output_class_names=list("abcd")),
        None,
        "its metadata names 4 classes",
    ),
    ("class-not-string", "float", changed(output_class_names=[1, "b", "c"]), None, "class name 0 '1'"),
    (
        "class-newline",
        "float",
        changed(output_class_names=["a\nb", "c", "d"]),
        None,
        "'a\\nb', expected a string",
    ),
    ("class-ansi", "float", changed(output_class_names=["\x1b[2J", "c", "d"]), None, "'\\x1b[2J'"),
    ("class-comma", "float", changed(output_class_names=["a,b", "c", "d"]), None, "without commas"),
    ("classes-not-list", "float", changed(output_class_names="abc"), None, "output.class_names 'abc'"),
    ("classes-regression", "float", changed(output_kind="regression"), None, "null for a regression output"),
    ("output-kind", "float", changed(output_kind="softmax"), None, "output.kind 'softmax'"),
    ("norm-short", "int8", changed(norm_mean=[0.0, 1.0, 2.0]), None, "normalisation.mean a JSON array of 3"),
    ("norm-long", "int8", changed(norm_std=[1.0] * 5), None, "expected a list of 4 finite numbers"),
    ("norm-zero-std", "int8", changed(norm_std=[1.0, 0.0, 1.0, 1.0]), None, "positive values"),
    ("norm-string", "int8", changed(norm_mean=["0", 0, 0, 0]), None, "normalisation.mean"),
    ("norm-no-in-graph", "int8", changed(normalisation={"mean": [0] * 4}), None, "'in_graph' true or false"),
    ("norm-list", "int8", changed(normalisation=[1, 2]), None, "normalisation a JSON array of 2 items"),
    ("inputs-swapped", "float", changed(inputs=["x", "h1", "h0"]), None, "lists inputs 'x, h1, h0'"),
    ("outputs-swapped", "int8", changed(outputs=["y", "h1_next", "h0_next"]), None, "lists outputs"),
    ("inputs-states-swapped", "float", changed(inputs=["h0", "x", "h1"]), None, "lists inputs 'h0, x, h1'"),
    (
        "state-missing",
        "float",
        changed(inputs=["x", "h0"], outputs=["y", "h0_next"]),
        None,
        "the model's inputs are 'x, h0, h1', its 'edgegru' metadata names 'x, h0'",
    ),
    (
        "state-not-a-tensor",
        "int8",
        changed(inputs=["x", "h0", "h1", "h2"], outputs=["y", "h0_next", "h1_next", "h2_next"]),
        None,
        "the model's inputs are 'x, h0, h1'",
    ),
    ("no-states", "float", changed(inputs=["x"], outputs=["y"]), None, "lists inputs 'x'"),
    ("names-not-strings", "float", changed(inputs=["x", 0, 1]), None, "inputs a JSON array of 3 items"),
    ("graph-states-swapped", "float", None, swap_graph_states, "cannot be fed back into h0"),
    ("graph-output-renamed", "int8", None, rename_output, "the model's outputs are 'y, h0_next, h9_next'"),
    ("state-requantised", "int8", None, requantise_state, "into h0 (shape (1, 12), scale 0.015625)"),
    (
        "dtype-int8-of-float",
        "float",
        changed(dtype="int8"),
        None,
        "tensor 'x' is float32, its metadata says int8",
    ),
    (
        "dtype-float-of-int8",
        "int8",
        changed(dtype="float32"),
        None,
        "tensor 'x' is int8, its metadata says float32",
    ),
    ("dtype-unknown", "float", changed(dtype="int4"), None, "dtype 'int4', expected 'float32' or 'int8'"),
    (
        "input-size",
        "float",
        changed(input_size=5),
        None,
        "input x has shape (1, 4), its metadata says (1, 5)",
    ),
    ("input-size-bool", "float", changed(input_size=True), None, "input_size 'True', expected an integer"),
    ("input-size-huge", "float", changed(input_size=10**9), None, "from 1 to 512"),
    ("kind-unknown", "float", changed(kind="batch"), None, "kind 'batch', expected 'step'"),
    ("kind-sequence", "float", changed(kind="sequence"), None, "is an edgegru sequence model"),
    ("version-string", "float", changed(format_version="1"), None, "format_version '1'"),
    (
        "no-output",
        "float",
        lambda meta: {k: v for k, v in meta.items() if k != "output"},
        None,
        "no 'output'",
    ),
    ("json-list", "float", b'["edgegru-tflite", 1]', None, "is not edgegru-tflite metadata"),
    ("json-nested", "float", deeply_nested(100_000), None, "nested too deeply"),
    ("json-huge-int", "float", b'{"format_version":' + b"9" * 5000 + b"}", None, "not valid JSON"),
    ("not-utf8", "float", b'{"kind":"\xff"}', None, "not valid JSON"),
    ("oversized", "float", b" " * (MAX_METADATA_BYTES + 1), None, f"more than the {MAX_METADATA_BYTES} read"),
]


def hostile_model(models: dict[str, Path], base: str, meta_edit: Any, graph_edit: Any, path: Path) -> Path:
    """Write the base model with one planted fault to ``path``."""
    raw = meta_edit
    if callable(meta_edit):
        raw = json.dumps(meta_edit(metadata_of(models[base]))).encode()
    path.write_bytes(rewritten(models[base].read_bytes(), raw, graph_edit))
    return path


def rows_file(path: Path, steps: int = 3, size: int = D) -> Path:
    path.write_text("\n".join(",".join(["0.5"] * size) for _ in range(steps)) + "\n")
    return path


@pytest.mark.parametrize(
    ("base", "meta_edit", "graph_edit", "message"),
    [case[1:] for case in INCONSISTENT],
    ids=[case[0] for case in INCONSISTENT],
)
def test_inconsistent_model_is_one_error_before_any_output(
    models, tmp_path, capsys, base, meta_edit, graph_edit, message
):
    path = hostile_model(models, base, meta_edit, graph_edit, tmp_path / "m.tflite")
    code = runtime_main([str(path), "--input", str(rows_file(tmp_path / "in.csv"))])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith(f"{PROG}{path}: ") and err.count("\n") == 1, err
    assert message in err
    assert "\x1b" not in err


def test_inconsistent_model_through_the_command(models, tmp_path):
    """The same through `python -m edgegru.runtime` reading stdin, as on the Pi: the
    swapped state names once printed a line of nan scores before anything else."""
    path = hostile_model(models, "float", changed(inputs=["x", "h1", "h0"]), None, tmp_path / "m.tflite")
    rows = rows_file(tmp_path / "in.csv").read_text()
    out = subprocess.run(
        [sys.executable, "-m", "edgegru.runtime", str(path)],
        input=rows,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr.count("\n") == 1 and "lists inputs 'x, h1, h0'" in out.stderr


def test_consistent_rewrite_still_runs(models, tmp_path):
    """The rewriting helper itself plants nothing: a rewritten valid model still runs."""
    for base in ("float", "int8"):
        same = json.dumps(metadata_of(models[base])).encode()
        path = tmp_path / f"{base}.tflite"
        path.write_bytes(rewritten(models[base].read_bytes(), same))
        np.testing.assert_array_equal(
            StreamingModel(path).run(np.ones((3, D))), StreamingModel(models[base]).run(np.ones((3, D)))
        )


def tensor_detail(dtype: type, shape: list[int], scales: list[float], zero_point: int = 0) -> dict[str, Any]:
    """An interpreter tensor detail as LiteRT reports it."""
    return {
        "name": "x",
        "index": 0,
        "dtype": dtype,
        "shape": np.array(shape),
        "quantization": (scales[0] if scales else 0.0, zero_point),
        "quantization_parameters": {"scales": np.array(scales), "zero_points": np.array([zero_point])},
    }


@pytest.mark.parametrize(
    ("detail", "dtype", "message"),
    [
        (tensor_detail(np.float32, [1, 4], [0.5]), "float32", "float32 tensor 'x' is quantised"),
        (tensor_detail(np.int8, [1, 4], []), "int8", "scale 0.0, zero point 0"),
        (tensor_detail(np.int8, [1, 4], [float("nan")]), "int8", "scale nan"),
        (tensor_detail(np.int8, [1, 4], [0.1], 300), "int8", "zero point 300"),
        (tensor_detail(np.int8, [1, 4], [0.1, 0.2]), "int8", "expected one positive scale"),
        (tensor_detail(np.int8, [4], [0.1]), "int8", "shape (4,), expected (1, N)"),
        (tensor_detail(np.float32, [1, 0], []), "float32", "shape (1, 0)"),
        (tensor_detail(np.int16, [1, 4], [0.1]), "int8", "'x' is int16, its metadata says int8"),
    ],
)
def test_tensor_checks_the_interpreter_would_not_make(detail, dtype, message):
    """Faults LiteRT itself refuses to load (so the files above cannot plant them), checked
    again for interpreters that might not: tflite_runtime's reference kernels, say."""
    with pytest.raises(EdgeGruError, match=r"m\.tflite: ") as err:
        _Port(detail, dtype, Path("m.tflite"))
    assert message in str(err.value)


# The flatbuffer reader -------------------------------------------------------------------


def with_u32(blob: bytes, pos: int, value: int) -> bytes:
    return blob[:pos] + value.to_bytes(4, "little") + blob[pos + 4 :]


def metadata_length_at(blob: bytes) -> int:
    """Position of the length of the 'edgegru' metadata vector (just before its JSON)."""
    return blob.index(b'{"format":"edgegru-tflite"') - 4


def many_metadata_entries(blob: bytes) -> bytes:
    """A valid model with one metadata entry more than the reader compares."""
    b = GraphBuilder()
    x = b.tensor("x", (1, D), np.float32)
    y = b.tensor("y", (1, D), np.float32)
    b.op(Op.ADD, [x, x], [y])
    entries = {f"m{i}": b"" for i in range(MAX_METADATA_ENTRIES + 1)}
    return b.finish({"x": x}, {"y": y}, "serving_default", entries)


def missing_buffer(blob: bytes) -> bytes:
    def edit(model: Any) -> None:
        next(e for e in model.metadata if e.name == b"edgegru").buffer = 10**6

    return rewritten(blob, edit=edit)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: with_u32(b, 0, len(b) + 100), "past the end of the file"),
        (lambda b: with_u32(b, 0, 0), "not an edgegru model"),  # the root table at offset 0, its own vtable
        (lambda b: with_u32(b, metadata_length_at(b), 0xFFFFFFF0), "a vector of 4294967280 elements"),
        (lambda b: with_u32(b, metadata_length_at(b), MAX_METADATA_BYTES * 3), "runs past the end"),
        (many_metadata_entries, f"{MAX_METADATA_ENTRIES + 1} metadata entries, more than the"),
        (missing_buffer, "points to missing buffer 1000000"),
        (lambda b: b[:8] + bytes(len(b) - 8), "not an edgegru model"),
    ],
    ids=["root-past-end", "root-self", "vector-huge", "vector-past-end", "many-entries", "buffer", "zeros"],
)
def test_malformed_flatbuffer_is_one_error(models, tmp_path, mutate, message):
    path = tmp_path / "m.tflite"
    path.write_bytes(mutate(models["float"].read_bytes()))
    with pytest.raises(EdgeGruError, match=r"m\.tflite: ") as err:
        StreamingModel(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_oversized_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.tflite"
    with path.open("wb") as file:
        file.truncate(MAX_TFLITE_BYTES + 1)  # sparse: nothing is written, nothing may be read
    tracemalloc.start()
    try:
        with pytest.raises(EdgeGruError, match=f"more than the {MAX_TFLITE_BYTES} a model may have"):
            read_edgegru_metadata(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


# Fuzzing the metadata reader ---------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
META_KEYS = ["kind", "dtype", "input_size", "output", "inputs", "outputs", "normalisation", "format_version"]


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def assert_one_error_or_metadata(path: Path) -> None:
    try:
        meta = read_edgegru_metadata(path)
    except EdgeGruError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(meta, dict)


@settings(deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 2**32 - 1)), min_size=1, max_size=6),
    cut=st.none() | st.integers(0, 2**31),
)
def test_fuzz_mutated_file_gives_metadata_or_one_error(models, fuzz_dir, edits, cut):
    """Overwrite u32 words of a valid file (offsets, lengths, anything) and maybe cut it."""
    blob = bytearray(models["int8"].read_bytes())
    for pos, value in edits:
        at = pos % (len(blob) - 3)
        blob[at : at + 4] = value.to_bytes(4, "little")
    blob = bytes(blob if cut is None else blob[: cut % (len(blob) + 1)])
    try:
        span = metadata_span(blob, "edgegru")
        assert span is None or 0 <= span.start <= span.end <= len(blob)
    except MalformedTflite:
        pass
    path = fuzz_dir / "mutated.tflite"
    path.write_bytes(blob)
    assert_one_error_or_metadata(path)


@settings(deadline=None)
@given(key=st.sampled_from(META_KEYS), value=JSON, raw=st.none() | st.binary(max_size=64))
def test_fuzz_metadata_gives_a_model_or_one_error(models, fuzz_dir, key, value, raw):
    """One field of valid metadata replaced by arbitrary JSON (or the whole entry by
    arbitrary bytes): either a model that steps, or one EdgeGruError when it is built."""
    base = models["int8"]
    meta = metadata_of(base)
    meta[key] = value
    path = fuzz_dir / "meta.tflite"
    path.write_bytes(rewritten(base.read_bytes(), raw if raw is not None else json.dumps(meta).encode()))
    try:
        stream = StreamingModel(path)
    except EdgeGruError as exc:
        assert "\n" not in str(exc) and "\x1b" not in str(exc)
        return
    y = stream.step(np.ones(D))
    assert y.shape == (3,) and np.all(np.isfinite(y))
    stream.format_output(y)


# Bounded memory over a long stream ---------------------------------------------------------


class Rows:
    """An endless sensor: ``count`` lines of one value, produced as they are read."""

    def __init__(self, count: int) -> None:
        self.count = count

    def readline(self, limit: int = -1) -> str:
        if not self.count:
            return ""
        self.count -= 1
        return "0.25\n"


def test_stream_memory_does_not_grow_with_its_length(models):
    stream = StreamingModel(models["tiny"])
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        print_outputs(stream, Rows(1000), stop=False, reset_on_blank=False)  # warm caches up untraced
        tracemalloc.start()
        try:
            print_outputs(stream, Rows(1000), stop=False, reset_on_blank=False)
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            print_outputs(stream, Rows(50_000), stop=False, reset_on_blank=False)
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stream.latency.count == 52_000
    # a list of step times would have grown by 50_000 * 32 bytes = 1.6 MB
    assert after - before < 16 * 1024
    assert peak - before < 64 * 1024


def test_latency_stats_are_fixed_size_and_within_one_percent():
    rng = np.random.default_rng(3)
    times = np.concatenate([rng.lognormal(np.log(20e-6), 0.6, 100_000), [3e-3, 1e-6]])
    stats = LatencyStats()
    size = len(stats._bins)
    for t in times:
        stats.add(float(t))
    assert len(stats._bins) == size == LatencyStats.BINS < 1300
    assert stats.count == len(times)
    assert (stats.min, stats.max) == (times.min(), times.max())
    assert stats.mean == pytest.approx(times.mean(), rel=1e-9)
    for q in (0.5, 0.9, 0.99, 0.999, 1.0):
        exact = np.quantile(times, q, method="inverted_cdf")  # the ceil(q*n)-th smallest
        assert abs(stats.quantile(q) / exact - 1) <= 0.01 + 1e-9, q
    assert stats.quantile(1.0) == times.max()
    with pytest.raises(EdgeGruError, match="no steps"):
        LatencyStats().quantile(0.5)
    assert LatencyStats().report() == "latency: no steps were run"


# Overlong lines ---------------------------------------------------------------------------


def run_measured(command: list[str], source: Path, out_dir: Path) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in bytes) of a command fed ``source`` through a pipe."""
    out, err = out_dir / "out.txt", out_dir / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr)

    def feed() -> None:
        with source.open("rb") as data, contextlib.suppress(BrokenPipeError):
            while chunk := data.read(1 << 20):
                proc.stdin.write(chunk)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    writer.join(timeout=60)
    return proc.returncode, out.read_text(), err.read_text(), usage.ru_maxrss * 1024


def test_overlong_line_is_one_error_in_bounded_memory(models, tmp_path):
    line_bytes = 64 * 1024 * 1024
    row = ",".join(["0.5"] * D) + "\n"
    short = tmp_path / "short.csv"
    short.write_text(row + row)
    long = tmp_path / "long.csv"
    with long.open("w") as file:
        file.write(row)
        for _ in range(line_bytes // (1 << 20)):
            file.write("1," * (1 << 19))
        file.write("\n" + row)
    command = [sys.executable, "-m", "edgegru.runtime", str(models["float"])]
    _, _, _, baseline = run_measured(command, short, tmp_path)
    code, out, err, peak = run_measured(command, long, tmp_path)
    assert code == 0
    assert [line.split(",")[0] for line in out.splitlines()] == ["1", "3"]
    assert err.splitlines() == [
        f"line 2: longer than {MAX_LINE_CHARS} characters, the most a line may have",
        "1 bad line(s) skipped",
    ]
    assert peak - baseline < 16 * 1024 * 1024, (peak, baseline)  # the line is 64 MB

    code, out, err, _ = run_measured([*command, "--on-bad-line", "stop"], long, tmp_path)
    assert (code, out.count("\n"), err.count("\n")) == (1, 1, 1)


def test_line_of_exactly_the_cap_is_read(models, tmp_path, capsys):
    padded = ",".join(["0.5"] * D)
    exact = tmp_path / "exact.csv"
    exact.write_text(
        padded + " " * (MAX_LINE_CHARS - len(padded)) + "\n" + padded + " " * MAX_LINE_CHARS + "\n"
    )
    assert runtime_main([str(models["float"]), "--input", str(exact)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("1,") and out.count("\n") == 1
    assert f"line 2: longer than {MAX_LINE_CHARS} characters" in err
