"""The C engine on this machine: the generated C built as a shared library with the system
compiler, called through ctypes, compared with the integer reference, and refused when the
library is not the model's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgegru.cli.main import main
from edgegru.core.errors import EdgeGruError
from edgegru.engine.build import Toolchain, build_library, cached_library, host_toolchain
from edgegru.engine.library import EngineLibrary
from edgegru.engine.stream import CStreamingModel
from edgegru.nn.model import Normalisation
from edgegru.quant import integer_reference as iref
from edgegru.targets.verify import compare, random_stimulus
from tests.helpers import make_qmodel

D = 5
NORMALISATION = Normalisation(
    np.array([0.5, -1.0, 3.0, 0.0, 10.0], np.float32), np.array([2.0, 0.5, 1.5, 1.0, 4.0], np.float32)
)


def qmodel(variant: str = "reset_after", state_bits: int = 16, hidden=(12,), head="classification", seed=0):
    return make_qmodel(D, list(hidden), variant, head, state_bits, seed=seed, normalisation=NORMALISATION)


def raw_inputs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Raw sensor floats around the normalisation, with a stretch far outside it (saturating)."""
    x = np.random.default_rng(seed).normal(size=(*shape, D)) * 1.5 * NORMALISATION.std + NORMALISATION.mean
    x[..., 10:15, :] *= 40.0
    return x.astype(np.float32)


@pytest.fixture
def library(tmp_path):
    """Build a model's library into tmp_path (not the user cache)."""

    def build(qm, name: str = "libmodel.so") -> Path:
        return build_library(qm, tmp_path / name, host_toolchain())

    return build


# Bit for bit ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("state_bits", [16, 8])
@pytest.mark.parametrize("hidden", [(12,), (16, 9)])
def test_engine_equals_the_integer_reference(library, variant, state_bits, hidden):
    """Every state and output at every step, int8 inputs (with saturating runs) and raw
    floats through the C's own normalisation and quantisation."""
    qm = qmodel(variant, state_bits, hidden, seed=len(hidden) + state_bits)
    engine = EngineLibrary(library(qm), qm)
    for x in (random_stimulus(qm, 6, 60, seed=1), raw_inputs((3, 40), seed=2)):
        report = compare(qm, x, *engine.records(x), "C engine")
        assert report.states_compared == x.shape[0] * x.shape[1] * sum(hidden)
        assert report.ok, report.summary()


def test_streaming_model_carries_the_state_and_resets(library):
    """CStreamingModel.step: outputs are the reference's integers times their scale, the state
    is carried between calls and cleared by reset; classification, regression and no head."""
    for head in ("classification", "regression", None):
        qm = qmodel(head=head, hidden=(8, 6), state_bits=8, seed=5)
        stream = CStreamingModel(qm, library(qm, f"lib-{head}.so"))
        x = raw_inputs((30,), seed=3)
        trace = iref.run(qm, iref.quantize_input(qm.input, x))
        want = trace.logits if qm.head else iref.state_to_q15(trace.states[-1], qm.state_bits)
        scale = qm.head.logit_scale if qm.head else 2.0**-15
        got = np.array([stream.step(row) for row in x])
        np.testing.assert_array_equal(got, want[0] * scale)
        for layer, state in zip(trace.states, stream.state, strict=True):
            np.testing.assert_array_equal(state, layer[0, -1] / 2.0**7)  # int8 state: Q0.7
        stream.reset()
        assert all(not state.any() for state in stream.state)
        np.testing.assert_array_equal(stream.step(x[0]), got[0])
        assert stream.latency.count == 31
        with pytest.raises(EdgeGruError, match="holds NaN"):
            stream.step(np.full(D, np.nan))


# The command ----------------------------------------------------------------------------


def sequences_csv(path: Path, x: np.ndarray, class_names: list[str]) -> Path:
    """Sequences (N, T, D) in the long CSV layout, labelled with the model's classes."""
    lines = ["sequence,step," + ",".join(f"c{k}" for k in range(D)) + ",label"]
    for s, seq in enumerate(x):
        label = class_names[s % len(class_names)]
        lines += [
            f"{s},{t}," + ",".join(repr(float(v)) for v in row) + f",{label}" for t, row in enumerate(seq)
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def expected_lines(qm, x: np.ndarray) -> list[str]:
    """What run prints for sequences x, from the integer reference: SEQUENCE,STEP,CLASS,SCORES."""
    logits = iref.run(qm, iref.quantize_input(qm.input, x)).logits * qm.head.logit_scale
    names = qm.head.class_names or [str(c) for c in range(qm.head.output_size)]
    return [
        f"{s},{t},{names[int(np.argmax(y))]}," + ",".join(f"{v:.6g}" for v in y)
        for s, seq in enumerate(logits)
        for t, y in enumerate(seq)
    ]


def test_run_engine_c_prints_the_reference_outputs(library, tmp_path, capsys):
    """`edgegru run MODEL.egru --engine c` on a file of sequences: the reference's outputs,
    the state reset before each sequence, the label score on stderr; step rows too."""
    qm = qmodel(hidden=(10, 7), seed=7)
    qm.head.class_names = ["walk", "run", "rest"]
    model = tmp_path / "m.egru"
    qm.save(model)
    x = raw_inputs((3, 20), seed=4)
    data = sequences_csv(tmp_path / "seqs.csv", x, qm.head.class_names)
    lib = str(library(qm))
    assert main(["run", str(model), "--engine", "c", "--library", lib, "--input", str(data)]) == 0
    out, err = capsys.readouterr()
    want = expected_lines(qm, x)
    assert out.splitlines() == want
    last_classes = [
        line.split(",")[2] for line in want if line.startswith(tuple(f"{s},19," for s in range(3)))
    ]
    hits = sum(name == qm.head.class_names[s % 3] for s, name in enumerate(last_classes))
    assert err.startswith(f"{hits} of 3 sequence(s) end on their label")
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in x[1]) + "\n")
    assert main(["run", str(model), "--engine", "c", "--library", lib, "--input", str(rows)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",", 1)[1] for line in lines] == [
        line.split(",", 2)[2] for line in expected_lines(qm, x[1:2])
    ]


def test_run_engine_c_prints_what_the_litert_path_prints(tmp_path, capsys, monkeypatch):
    """The same format as LiteRT's: the int8 .tflite and the quantised .egru of one float model
    on one file give lines of the same sequences, steps, classes and field counts (the
    values differ: the two int8 models are quantised apart, docs/tflite.md)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the C engine is built on first use
    from edgegru.nn.synthetic import random_model
    from edgegru.quant import calibrate, quantize
    from edgegru.tflite.exporter import export_tflite

    model = random_model(D, [8], "reset_after", head="classification", output_size=3, seed=2)
    model.normalisation = NORMALISATION
    calibration = raw_inputs((8, 30), seed=5)
    export_tflite(model, tmp_path / "m.tflite", dtype="int8", calibration=calibration, quiet=True)
    quantize(model, calibrate(model, calibration)).save(tmp_path / "m.egru")
    data = sequences_csv(tmp_path / "seqs.csv", raw_inputs((2, 20), seed=6), ["0", "1", "2"])
    printed = {}
    for engine, name in (("litert", "m.tflite"), ("c", "m.egru")):
        assert main(["run", str(tmp_path / name), "--engine", engine, "--input", str(data)]) == 0
        printed[engine] = capsys.readouterr()
    litert, c = (printed[e].out.splitlines() for e in ("litert", "c"))
    assert len(c) == len(litert) == 40
    assert [line.split(",")[:2] for line in c] == [line.split(",")[:2] for line in litert]
    assert {len(line.split(",")) for line in c} == {len(line.split(",")) for line in litert} == {6}
    assert printed["c"].err.split(" (")[0].endswith("of 2 sequence(s) end on their label")


# Refusals ------------------------------------------------------------------------------


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgegru: error: "), err
    return err


def test_another_models_or_a_tampered_library_is_refused(library, tmp_path, capsys):
    qm, other = qmodel(seed=1), qmodel(seed=2)
    other_lib = library(other, "libother.so")
    with pytest.raises(EdgeGruError, match=f"built for model '{other.fingerprint()}', not this model"):
        EngineLibrary(other_lib, qm)
    model = tmp_path / "m.egru"
    qm.save(model)
    assert main(["run", str(model), "--engine", "c", "--library", str(other_lib), "--input", "x.csv"]) == 2
    assert "rebuild it from this model" in one_error_line(capsys)
    # The model's own library with one digit of its hash changed (a patched or damaged file).
    data = library(qm).read_bytes()
    digest = qm.fingerprint().encode()
    assert digest in data
    patched = digest[:-1] + (b"0" if digest[-1:] != b"0" else b"1")
    tampered = tmp_path / "libtampered.so"
    tampered.write_bytes(data.replace(digest, patched))
    with pytest.raises(EdgeGruError, match=f"built for model '{patched.decode()}'"):
        EngineLibrary(tampered, qm)
    # Not a library at all, or no library; an ELF shared object that is not an engine.
    (tmp_path / "text.so").write_text("not a library")
    with pytest.raises(EdgeGruError, match="not a shared library"):
        EngineLibrary(tmp_path / "text.so", qm)
    with pytest.raises(EdgeGruError, match="no such file"):
        EngineLibrary(tmp_path / "missing.so", qm)
    source = tmp_path / "other.c"
    source.write_text("int other(void);\nint other(void) { return 0; }\n")
    other_so = tmp_path / "libother_code.so"
    subprocess.run(["gcc", "-shared", "-fPIC", str(source), "-o", str(other_so)], check=True)
    with pytest.raises(EdgeGruError, match="not an edgegru engine library"):
        EngineLibrary(other_so, qm)


def test_bad_engine_and_misplaced_options_are_one_line(library, tmp_path, capsys):
    qm = qmodel()
    model = tmp_path / "m.egru"
    qm.save(model)
    assert main(["run", str(model), "--engine", "neon"]) == 2
    assert "--engine 'neon': expected litert" in one_error_line(capsys)
    assert main(["run", str(model)]) == 2
    assert "run a quantised .egru with --engine c" in one_error_line(capsys)
    assert main(["run", "m.tflite", "--library", str(library(qm))]) == 2
    assert "--library applies to --engine c" in one_error_line(capsys)
    assert main(["run", "m.tflite", "--engine", "c"]) == 2
    assert "--engine c runs a quantised .egru" in one_error_line(capsys)


# The build cache and the Pi's runtime ------------------------------------------------------


def test_first_use_builds_once_into_the_user_cache(tmp_path, monkeypatch):
    """Without --library the library is built into $XDG_CACHE_HOME/edgegru/engine under the
    model hash (no name from a file), reused, and rebuilt for other compiler flags."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    qm = qmodel(seed=3)
    stream = CStreamingModel(qm)
    built = stream.engine.path
    assert built.parent == tmp_path / "cache" / "edgegru" / "engine"
    assert built.name.startswith(qm.fingerprint() + "-") and built.suffix == ".so"
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no temporaries left
    stamp = built.stat().st_mtime_ns
    assert cached_library(qm) == built and built.stat().st_mtime_ns == stamp
    assert cached_library(qm, Toolchain("cc", ("-march=native", "-O3"))) != built
    x = raw_inputs((12,), seed=8)
    np.testing.assert_array_equal(
        np.array([stream.step(row) for row in x]),
        iref.run(qm, iref.quantize_input(qm.input, x)).logits[0] * qm.head.logit_scale,
    )


def runtime_on_a_bare_pi(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`python -m edgegru.runtime ARGS` with torch, LiteRT, tflite_runtime and Jinja2
    unimportable and nothing on PATH (no compiler)."""
    code = (
        "import runpy, sys\n"
        "for name in ('torch', 'ai_edge_litert', 'tflite_runtime', 'jinja2'):\n"
        "    sys.modules[name] = None  # importing it now fails\n"
        f"sys.argv = ['edgegru.runtime', *{args!r}]\n"
        "runpy.run_module('edgegru.runtime', run_name='__main__')\n"
    )
    env = {"PATH": str(tmp_path / "empty"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_runtime_engine_c_needs_no_torch_litert_or_compiler(library, tmp_path):
    """With a prebuilt --library the bare runtime prints what `edgegru run` prints here;
    without one it says in one line what building one here would need."""
    qm = qmodel(seed=4)
    model = tmp_path / "m.egru"
    qm.save(model)
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in raw_inputs((25,), seed=9)))
    args = [str(model), "--engine", "c", "--input", str(rows)]
    shipped = [*args, "--library", str(library(qm))]
    bare = runtime_on_a_bare_pi(shipped, tmp_path)
    assert bare.returncode == 0, bare.stderr
    here = subprocess.run(
        [sys.executable, "-m", "edgegru.cli", "run", *shipped], capture_output=True, text=True, timeout=120
    )
    assert here.returncode == 0, here.stderr
    assert bare.stdout == here.stdout and len(bare.stdout.splitlines()) == 25
    unbuilt = runtime_on_a_bare_pi(args, tmp_path)
    assert (unbuilt.returncode, unbuilt.stdout) == (2, "")
    assert unbuilt.stderr == (
        "python -m edgegru.runtime: error: --engine c without --library builds the engine here, which "
        "needs jinja2 (not installed): give --library FILE.so built elsewhere with edgegru engine\n"
    )
