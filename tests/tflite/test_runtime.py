"""The device-side runtime: StreamingModel and `python -m edgegru.runtime` (edgegru run).

Models are exported with the real exporter and run in the real LiteRT; the CLI is
exercised in subprocesses, as it runs on a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from edgegru.cli.run import add_parser, run
from edgegru.core.errors import EdgeGruError
from edgegru.nn.float_reference import forward
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.tflite.builder import GraphBuilder, Op
from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.interpreter import DELEGATE_NOTICE, _without_delegate_notice, interpreter_missing_message
from edgegru.tflite.lines import parse_row
from edgegru.tflite.stream import StreamingModel
from tests.helpers import ROOT

D = 4


def make_model(head: str | None = "classification"):
    model = random_model(D, [12, 8], "reset_after", head=head, output_size=3, seed=5, scale=1.5)
    model.normalisation = Normalisation(
        np.array([1.0, -2.0, 0.5, 10.0], np.float32), np.array([2.0, 1.0, 0.5, 5.0], np.float32)
    )
    return model


def raw_inputs(model, steps: int, seed: int = 0, batch: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (steps, D) if batch is None else (batch, steps, D)
    return rng.normal(size=shape) * model.normalisation.std + model.normalisation.mean


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Float and int8 step models (and the int8 sequence twin) of one model."""
    root = tmp_path_factory.mktemp("models")
    model = make_model()
    calibration = raw_inputs(model, 30, seed=9, batch=16)
    paths = {
        "float": export_tflite(model, root / "float.tflite", quiet=True).path,
        "int8": export_tflite(
            model, root / "int8.tflite", dtype="int8", calibration=calibration, quiet=True
        ).path,
        "regression": export_tflite(make_model("regression"), root / "reg.tflite", quiet=True).path,
    }
    seq = export_tflite(
        model,
        root / "seq.tflite",
        kind="sequence",
        steps=40,
        dtype="int8",
        calibration=calibration,
        quiet=True,
    )
    return {"model": model, "root": root, "seq": seq, **paths}


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgegru.runtime", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def csv_lines(x: np.ndarray) -> list[str]:
    return [",".join(repr(float(v)) for v in row) for row in x]


# Import hygiene --------------------------------------------------------------------


def test_runtime_imports_no_torch_and_no_exporter():
    """Neither the streaming module nor the `python -m edgegru.runtime` command (the CLI's
    `run`) loads torch, the exporter or Jinja2, none of which a Pi needs."""
    code = (
        "import sys, edgegru.tflite.stream, edgegru.runtime\n"
        "bad = [m for m in ('torch', 'jinja2', 'edgegru.tflite.builder', "
        "'edgegru.tflite.exporter') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_runtime_streams_with_torch_unavailable(models):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # any attempt to import torch now fails\n"
        "import numpy as np\n"
        "from edgegru.tflite.stream import StreamingModel\n"
        f"m = StreamingModel({str(models['int8'])!r})\n"
        "print(m.run(np.ones((5, 4))).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(5, 3)"


# StreamingModel --------------------------------------------------------------------


def test_float_streaming_matches_reference(models):
    model = models["model"]
    x = raw_inputs(model, 60, seed=1)
    ref = forward(model, x)
    stream = StreamingModel(models["float"])
    y = stream.run(x)
    assert y.shape == (60, 3)
    assert np.abs(y - ref.outputs[0]).max() <= 1e-5
    for k, state in enumerate(stream.state):
        assert np.abs(state - ref.hidden[k][0, -1]).max() <= 1e-5
    stream.reset()
    again = np.stack([stream.step(row) for row in x])
    np.testing.assert_array_equal(again, y)
    assert stream.latency.count == 120
    median, p99 = stream.latency_summary()
    assert stream.latency.min <= median <= p99 <= stream.latency.max


def test_int8_streaming_equals_sequence_model_exactly(models):
    """The runtime normalises and quantises x itself, exactly as a caller must."""
    from ai_edge_litert.interpreter import Interpreter

    model, seq = models["model"], models["seq"]
    x = raw_inputs(model, 40, seed=2)
    stream = StreamingModel(models["int8"])
    y = stream.run(x)

    x_info, y_info = seq.inputs[0], seq.outputs[0]
    xq = np.clip(np.rint(model.normalisation.apply(x) / x_info.scale) + x_info.zero_point, -128, 127)
    runner = Interpreter(model_path=str(seq.path)).get_signature_runner("serving_default")
    out = runner(x=xq.astype(np.int8)[None])
    expected = (out["y"][0].astype(np.float64) - y_info.zero_point) * y_info.scale
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(stream.state[1], out["h1_next"][0] / 128.0)
    ref = forward(model, x)
    assert np.abs(stream.state[1] - ref.hidden[1][0, -1]).max() < 0.1


def test_step_rejects_bad_input(models):
    stream = StreamingModel(models["float"])
    with pytest.raises(EdgeGruError, match=r"shape \(3,\), expected \(4,\)"):
        stream.step(np.zeros(3))
    with pytest.raises(EdgeGruError, match="NaN or Inf"):
        stream.step(np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(EdgeGruError, match="no steps"):
        stream.latency_summary()


def plain_tflite(metadata: dict[str, bytes]) -> bytes:
    """A valid one-op TFLite model (y = x + x) with the given metadata entries."""
    b = GraphBuilder()
    x = b.tensor("x", (1, D), np.float32)
    y = b.tensor("y", (1, D), np.float32)
    b.op(Op.ADD, [x, x], [y])
    return b.finish({"x": x}, {"y": y}, "serving_default", metadata, "not edgegru")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "not a readable .tflite file"),
        (b"GIF89a" + bytes(200), "not a readable .tflite file"),
        ("truncated", ".tflite"),
        (plain_tflite({}), "not an edgegru model (no 'edgegru' metadata inside)"),
        (plain_tflite({"edgegru": b"\xff{"}), "not valid JSON"),
        (plain_tflite({"edgegru": b'{"format": "other"}'}), "not edgegru-tflite metadata"),
        (
            plain_tflite({"edgegru": b'{"format": "edgegru-tflite", "format_version": 99}'}),
            "newer edgegru",
        ),
        (
            plain_tflite({"edgegru": b'{"format": "edgegru-tflite", "format_version": 1}'}),
            "metadata is incomplete (no 'kind')",
        ),
        (
            plain_tflite({"edgegru": b'{"format": "edgegru-tflite", "format_version": 1, "kind": "step"}'}),
            "metadata is incomplete",
        ),
        ("sequence", "is an edgegru sequence model"),
    ],
)
def test_refuses_what_is_not_an_edgegru_step_model(models, tmp_path, content, message):
    path = tmp_path / "m.tflite"
    if content == "truncated":
        blob = models["int8"].read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
    elif content == "sequence":
        path = models["seq"].path
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(EdgeGruError, match=r"m\.tflite|seq\.tflite") as err:
        StreamingModel(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_files_are_refused_at_every_length(models, tmp_path):
    blob = models["float"].read_bytes()
    path = tmp_path / "cut.tflite"
    for length in range(0, len(blob), max(1, len(blob) // 40)):
        path.write_bytes(blob[:length])
        with pytest.raises(EdgeGruError):
            StreamingModel(path)


# Interpreter discovery --------------------------------------------------------------


def test_no_interpreter_says_how_to_install():
    code = (
        "import sys\n"
        "sys.modules['ai_edge_litert'] = None\n"
        "sys.modules['tflite_runtime'] = None\n"
        "from edgegru.tflite.interpreter import load_interpreter\n"
        "from edgegru.core.errors import EdgeGruError\n"
        "try:\n"
        "    load_interpreter()\n"
        "except EdgeGruError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install ai-edge-litert" in out.stdout
    assert "tflite-runtime" in out.stdout


def test_numpy2_breaking_tflite_runtime_is_explained():
    broken = ImportError("numpy.core.multiarray failed to import")
    missing = ModuleNotFoundError("No module named 'ai_edge_litert'", name="ai_edge_litert")
    message = interpreter_missing_message(missing, broken, "2.1.0")
    assert "tflite-runtime 2.14 needs numpy<2" in message
    # Not installed at all: no numpy advice, just how to install.
    absent = ModuleNotFoundError("No module named 'tflite_runtime'", name="tflite_runtime")
    message = interpreter_missing_message(missing, absent, "2.1.0")
    assert "numpy<2" not in message and "pip install ai-edge-litert" in message
    # With numpy 1 a broken tflite_runtime is some other problem.
    assert "numpy<2" not in interpreter_missing_message(missing, broken, "1.26.4")


# The command line ------------------------------------------------------------------


def test_parse_row():
    np.testing.assert_array_equal(parse_row(" 1, 2.5,-3,4e-1", 4), [1, 2.5, -3, 0.4])
    with pytest.raises(EdgeGruError, match="expected 4 comma-separated values, got 3"):
        parse_row("1,2,3", 4)
    with pytest.raises(EdgeGruError, match="value 2 'x' is not a number"):
        parse_row("1,x,3,4", 4)
    with pytest.raises(EdgeGruError, match="value 4 'inf' is not a finite float32"):
        parse_row("1,2,3,inf", 4)
    with pytest.raises(EdgeGruError, match="value 1 '1e39' is not a finite float32"):
        parse_row("1e39,2,3,4", 4)
    with pytest.raises(EdgeGruError, match="value 2 '1_0' is not a number"):
        parse_row("1,1_0,3,4", 4)


def test_cli_file_input_skips_bad_lines_and_matches_streaming_model(models, tmp_path):
    x = raw_inputs(models["model"], 6, seed=3)
    rows = csv_lines(x)
    lines = [rows[0], rows[1], "1,2,three,4", rows[2], "1,2", "", "# a comment", *rows[3:]]
    data = tmp_path / "in.csv"
    data.write_text("\n".join(lines) + "\n")
    out = run_cli(str(models["float"]), "--input", str(data))
    assert out.returncode == 0, out.stderr
    assert "line 3: value 3 'three' is not a number" in out.stderr
    assert "line 5: expected 4 comma-separated values, got 2" in out.stderr
    assert "2 bad line(s) skipped" in out.stderr
    assert "Traceback" not in out.stderr

    expected = StreamingModel(models["float"]).run(x)
    printed = [line.split(",") for line in out.stdout.splitlines()]
    assert [int(p[0]) for p in printed] == [1, 2, 4, 8, 9, 10]
    names = [f"class{int(np.argmax(y))}" for y in expected]
    assert [p[1] for p in printed] == names
    scores = np.array([[float(v) for v in p[2:]] for p in printed])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_cli_stop_on_bad_line(models):
    rows = csv_lines(raw_inputs(models["model"], 3))
    out = run_cli(str(models["int8"]), "--on-bad-line", "stop", stdin="\n".join([rows[0], "oops", rows[1]]))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0].startswith("1,class")
    assert len(out.stdout.splitlines()) == 1
    assert "line 2: expected 4 comma-separated values, got 1" in out.stderr


def test_cli_reads_stdin_by_default_and_with_dash(models):
    rows = csv_lines(raw_inputs(models["model"], 4))
    text = "\n".join(rows) + "\n"
    default = run_cli(str(models["int8"]), stdin=text)
    dash = run_cli(str(models["int8"]), "--input", "-", stdin=text)
    assert default.returncode == dash.returncode == 0
    assert default.stdout == dash.stdout
    assert len(default.stdout.splitlines()) == 4


def test_cli_reset_on_blank(models):
    rows = csv_lines(raw_inputs(models["model"], 3))
    text = "\n".join([*rows, "", *rows]) + "\n"
    with_reset = run_cli(str(models["float"]), "--reset-on-blank", stdin=text).stdout.splitlines()
    first = [line.split(",", 1)[1] for line in with_reset[:3]]
    second = [line.split(",", 1)[1] for line in with_reset[3:]]
    assert first == second
    without = run_cli(str(models["float"]), stdin=text).stdout.splitlines()
    assert [line.split(",", 1)[1] for line in without[3:]] != first


def test_cli_latency_report_and_regression_output(models):
    rows = csv_lines(raw_inputs(models["model"], 20))
    out = run_cli(str(models["regression"]), "--latency", stdin="\n".join(rows))
    assert out.returncode == 0, out.stderr
    report = [line for line in out.stderr.splitlines() if line.startswith("latency:")]
    assert len(report) == 1
    assert report[0].startswith("latency: 20 steps, median ")
    assert all(f" {name} " in report[0] for name in ("p90", "p99", "min", "mean", "max"))
    assert "(quantiles within 1 %)" in report[0]
    fields = out.stdout.splitlines()[0].split(",")
    assert len(fields) == 1 + 3  # line number and three regression values
    float(fields[1])


def readline_within(stream, seconds: float) -> str:
    """One line from a pipe, or '' if none arrives in time."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout=seconds)
    return got[0] if got else ""


def test_cli_answers_each_line_before_the_input_ends(models):
    rows = csv_lines(raw_inputs(models["model"], 2))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgegru.runtime", str(models["float"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        answers = []
        for row in rows:
            proc.stdin.write(row + "\n")
            proc.stdin.flush()
            answer = readline_within(proc.stdout, 60)
            assert answer, "no output for a line while stdin is still open"
            answers.append(answer)
        assert [a.split(",")[0] for a in answers] == ["1", "2"]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_stops_quietly_when_the_reader_goes_away(models, tmp_path):
    rows = csv_lines(raw_inputs(models["model"], 1))
    data = tmp_path / "long.csv"
    data.write_text("\n".join(rows * 20000) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgegru.runtime", str(models["float"]), "--input", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"1,")
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_cli_reports_unusable_model_without_traceback(tmp_path):
    out = run_cli(str(tmp_path / "missing.tflite"))
    assert out.returncode == 2
    want = f"python -m edgegru.runtime: error: {tmp_path / 'missing.tflite'}: no such file"
    assert out.stderr.strip() == want
    bad = run_cli(str(tmp_path / "m.tflite"), "--input", str(tmp_path / "none.csv"))
    assert "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_run_through_a_subcommand_parser(models, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="edgegru")
    add_parser(parser.add_subparsers(dest="command"))
    data = tmp_path / "in.csv"
    data.write_text("\n".join(csv_lines(raw_inputs(models["model"], 3))) + "\n")
    args = parser.parse_args(["run", str(models["int8"]), "--input", str(data), "--latency"])
    assert args.on_bad_line is None and args.reset_on_blank is False  # None: skip
    assert run(args) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert "latency: 3 steps" in captured.err
    with pytest.raises(EdgeGruError, match="no such file"):
        run(parser.parse_args(["run", str(tmp_path / "nope.tflite")]))


def test_metadata_is_what_the_runtime_reads(models):
    stream = StreamingModel(models["int8"])
    assert stream.meta["kind"] == "step" and stream.meta["dtype"] == "int8"
    assert stream.class_names == ["class0", "class1", "class2"]
    assert stream.output_kind == "classification" and stream.input_size == D
    json.dumps(stream.meta)  # plain JSON types only


TFLITE_RUNTIME_CHECK = """
import json, sys
import numpy as np
from edgegru.tflite.interpreter import load_interpreter
from edgegru.tflite.stream import StreamingModel
x = np.array(json.loads(sys.argv[2]))
model = StreamingModel(sys.argv[1])
print(json.dumps({"interpreter": load_interpreter().__module__, "y": model.run(x).tolist()}))
"""


@pytest.fixture(scope="module")
def tflite_runtime_python(tmp_path_factory) -> str:
    """The python of a venv with only numpy<2 and tflite-runtime 2.14 (as on a Raspberry Pi
    with Python 3.11 and no ai-edge-litert)."""
    venv = tmp_path_factory.mktemp("tflite-runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "numpy<2", "tflite-runtime==2.14.0"]
    installed = subprocess.run(pip, capture_output=True, text=True)
    assert installed.returncode == 0, f"pip could not install tflite-runtime: {installed.stderr[-500:]}"
    return python


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_tflite_runtime_fallback(dtype, tflite_runtime_python, tmp_path):
    """Without ai-edge-litert, the runtime falls back to tflite-runtime and streams the
    exported step model: float32 as LiteRT does; int8 within the int8 tests' bound of the
    float model (tflite-runtime 2.14's int8 kernels are not LiteRT 2.3's)."""
    model = make_model()
    path = tmp_path / f"m-{dtype}.tflite"
    calibration = np.random.default_rng(0).normal(size=(8, 20, D)) * 2.0 + 1.0
    export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
    x = np.random.default_rng(1).normal(size=(25, D)) * 2.0 + 1.0
    want = StreamingModel(path).run(x)  # LiteRT, in this environment
    repo = str(ROOT)
    command = [tflite_runtime_python, "-c", TFLITE_RUNTIME_CHECK, str(path), json.dumps(x.tolist())]
    result = subprocess.run(command, capture_output=True, text=True, env={"PYTHONPATH": repo})
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["interpreter"] == "tflite_runtime.interpreter"
    got = np.array(out["y"])
    if dtype == "int8":
        # outputs differ by a few output steps once the states drift apart (measured up to
        # 3 steps of 0.0042 over 200 steps); both stay as close to the float model as the
        # int8 tests demand of LiteRT
        ref = forward(model, x[None])
        assert np.abs(want - ref.outputs[0]).max() < 0.1
        assert np.abs(got - ref.outputs[0]).max() < 0.1
        assert np.abs(got - want).max() < 0.05  # not unrelated: far closer than a lost state
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# Training formats as --input: a file of sequences, streamed one after another ----------


def long_csv(path, sequences: list[np.ndarray], labels: list[str]):
    """The long CSV layout of docs/data.md, channels named a..d, columns in a shuffled order."""
    lines = ["step,a,b,label,c,d,sequence"]
    for s, (x, label) in enumerate(zip(sequences, labels, strict=True)):
        lines += [f"{t},{r[0]!r},{r[1]!r},{label},{r[2]!r},{r[3]!r},seq{s}" for t, r in enumerate(x.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def sequence_file(models, tmp_path_factory):
    """Three sequences of different lengths, labelled with the model's class names."""
    model = models["model"]
    sequences = [raw_inputs(model, steps, seed=40 + steps) for steps in (7, 3, 5)]
    labels = ["class2", "class0", "class2"]
    path = long_csv(tmp_path_factory.mktemp("seq") / "seqs.csv", sequences, labels)
    return path, sequences, labels


def expected_lines(path, x: np.ndarray, index: int) -> tuple[list[str], str]:
    """The printed lines of one sequence from a fresh StreamingModel, and its last class."""
    stream = StreamingModel(path)
    ys = stream.run(x)
    lines = [f"{index},{t},{stream.format_output(y)}" for t, y in enumerate(ys)]
    return lines, f"class{int(np.argmax(ys[-1]))}"


@pytest.mark.parametrize("dtype", ["float", "int8"])
def test_cli_streams_every_sequence_of_a_long_csv_with_the_state_reset(models, sequence_file, dtype):
    path, sequences, labels = sequence_file
    out = run_cli(str(models[dtype]), "--input", str(path))
    assert out.returncode == 0, out.stderr
    want, hits = [], 0
    for i, x in enumerate(sequences):
        lines, last = expected_lines(models[dtype], x, i)
        want += lines
        hits += last == labels[i]
    assert out.stdout.splitlines() == want
    assert f"{hits} of 3 sequence(s) end on their label" in out.stderr


def test_cli_runs_one_sequence_of_a_ts_and_an_npz_file(models, sequence_file, tmp_path):
    """--sequence N picks sequence N (from 0) of every training format alike."""
    from edgegru.data import load_dataset

    csv_path, sequences, _ = sequence_file
    dataset = load_dataset(csv_path)
    labels = np.array(dataset.class_names)[dataset.y]
    np.savez(tmp_path / "d.npz", X=dataset.x, y=labels, lengths=dataset.lengths)
    ts = ["@problemName t", "@timeStamps false", "@missing false", "@univariate false", f"@dimensions {D}",
          "@equalLength false", "@classLabel true class0 class2", "@data"]  # fmt: skip
    for x, label in zip(sequences, ["class2", "class0", "class2"], strict=True):
        ts.append(":".join(",".join(repr(v) for v in x[:, c].tolist()) for c in range(D)) + f":{label}")
    (tmp_path / "d.ts").write_text("\n".join(ts) + "\n")
    want, _ = expected_lines(models["float"], sequences[2], 2)
    for path in (csv_path, tmp_path / "d.npz", tmp_path / "d.ts"):
        out = run_cli(str(models["float"]), "--input", str(path), "--sequence", "2")
        assert out.returncode == 0, (path, out.stderr)
        assert out.stdout.splitlines() == want, path
        assert "of 1 sequence(s) end on their label" in out.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sequence", "3"], "--sequence 3: --input {csv} has 3 sequences, numbered 0 to 2"),
        (["--sequence", "-1"], "--sequence -1: --input {csv} has 3 sequences"),
        (["--reset-on-blank"], "--reset-on-blank applies to step rows; --input {csv} holds sequences"),
        (["--on-bad-line", "stop"], "--on-bad-line applies to step rows"),
    ],
)
def test_cli_refuses_what_a_file_of_sequences_does_not_take(models, sequence_file, extra, message):
    path = sequence_file[0]
    out = run_cli(str(models["float"]), "--input", str(path), *extra)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("python -m edgegru.runtime: error: " + message.format(csv=path))
    assert len(out.stderr.splitlines()) == 1


def test_cli_refuses_sequence_for_step_rows_and_other_channel_counts(models, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(csv_lines(raw_inputs(models["model"], 2))) + "\n")
    out = run_cli(str(models["float"]), "--input", str(rows), "--sequence", "0")
    assert out.returncode == 2
    assert "--sequence applies to a .ts, .npz or long .csv (sequence,step,...) --input" in out.stderr
    assert f"not to step rows ({rows})" in out.stderr
    assert "not to step rows (stdin)" in run_cli(str(models["float"]), "--sequence", "0").stderr
    narrow = tmp_path / "three.csv"
    narrow.write_text("sequence,step,a,b,c,label\ns,0,1,2,3,class0\n")
    out = run_cli(str(models["float"]), "--input", str(narrow))
    assert out.returncode == 2
    assert f"--input {narrow}: 3 channel(s) per step, the model takes 4" in out.stderr


# LiteRT's delegate notice ------------------------------------------------------------------


def test_run_prints_no_litert_info_line_errors_included(models, tmp_path):
    """The notice LiteRT's C++ prints when it applies XNNPACK is not in `run`'s output, on
    success or on a bad line; edgegru's own messages are."""
    out = run_cli(str(models["float"]), stdin="\n".join([*csv_lines(raw_inputs(models["model"], 2)), "x"]))
    assert out.returncode == 0
    assert "line 3: expected 4 comma-separated values, got 1" in out.stderr
    assert "INFO" not in out.stderr and "XNNPACK" not in out.stderr
    assert len(out.stdout.splitlines()) == 2


def test_the_notice_filter_passes_every_other_native_line(capfd):
    """Whatever else reaches file descriptor 2 while the interpreter is made still gets out."""
    with _without_delegate_notice():
        os.write(2, f"ERROR: a real problem\n{DELEGATE_NOTICE}\nWARNING: another\n".encode())
    err = capfd.readouterr().err
    assert err == "ERROR: a real problem\nWARNING: another\n"
