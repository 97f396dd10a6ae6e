"""The emulated Raspberry Pi: LiteRT runtime and generated C on arm64 under qemu-aarch64-static.

Nothing is mocked: the Pi's own aarch64 wheels (LiteRT, NumPy) run in a Debian
bookworm userland, the generated C is cross-compiled for the Pi's core, and both
are compared with this machine's results. The root is built once (about 10 s)
and cached (see edgegru.targets.pi.root). Missing tools fail these tests; they never skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.targets.pi.apt_sources import apt_mirror
from edgegru.targets.pi.boards import BOARDS
from edgegru.targets.pi.root import PiRoot, recipe
from edgegru.targets.pi.runner import run_python
from edgegru.targets.pi.tools import CROSS_CC, MMDEBSTRAP, QEMU, require_tools
from edgegru.targets.pi.verify_c import verify_pi_c
from edgegru.targets.verify import random_stimulus
from edgegru.tflite.exporter import export_tflite

pytestmark = pytest.mark.slow

D, HIDDEN, CLASSES, STEPS = 6, [16, 16], 3, 150
VARIANTS = ("reset_after", "reset_before")
FLOAT_TOLERANCE = 1e-6

# Run on both sides, this machine and the emulated Pi: every step's output and
# every layer's state at full precision, from the same CSV file.
STREAM_SCRIPT = """\
import sys
import numpy as np
from edgegru.tflite.lines import parse_row
from edgegru.tflite.stream import StreamingModel

out_path, csv_path, *model_paths = sys.argv[1:]
results = {}
for i, path in enumerate(model_paths):
    stream = StreamingModel(path)
    ys, states = [], []
    with open(csv_path) as rows:
        for line in rows:
            ys.append(stream.step(parse_row(line, stream.input_size)))
            states.append(np.concatenate(stream.state))
    results[f"y{i}"], results[f"h{i}"] = np.array(ys), np.array(states)
np.savez(out_path, **results)
"""


def test_tools_are_installed():
    """Fails (never skips) without qemu-aarch64-static, mmdebstrap or aarch64-linux-gnu-gcc."""
    require_tools(QEMU, MMDEBSTRAP, CROSS_CC)


def make_model(variant: str, seed: int):
    model = random_model(D, HIDDEN, variant, head="classification", output_size=CLASSES, seed=seed)
    model.normalisation = Normalisation(
        np.array([0.5, -1.0, 3.0, 0.0, 10.0, -4.0], np.float32),
        np.array([2.0, 0.5, 1.5, 1.0, 4.0, 3.0], np.float32),
    )
    return model


def raw_inputs(model, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    norm = model.normalisation
    return rng.normal(size=(*shape, D)) * 1.5 * norm.std + norm.mean


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """Float32 and int8 step models of both variants, and one CSV stream of raw inputs."""
    root = tmp_path_factory.mktemp("pi-models")
    paths, dtypes = [], []
    for i, variant in enumerate(VARIANTS):
        model = make_model(variant, seed=10 + i)
        calibration = raw_inputs(model, (12, 40), seed=20 + i)
        for dtype in ("float32", "int8"):
            path = root / f"{variant}-{dtype}.tflite"
            export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
            paths.append(path)
            dtypes.append(dtype)
    x = raw_inputs(model, (STEPS,), seed=3)
    x[40:50] *= 50.0  # far outside the calibration range: int8 inputs saturate
    csv = root / "steps.csv"
    csv.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n")
    script = root / "stream.py"
    script.write_text(STREAM_SCRIPT)
    host_out = root / "host.npz"
    args = [str(script), str(host_out), str(csv), *map(str, paths)]
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {
        "root": root,
        "paths": paths,
        "dtypes": dtypes,
        "csv": csv,
        "script": script,
        "host": dict(np.load(host_out)),
    }


def first_difference(got: np.ndarray, want: np.ndarray, tolerance: float) -> str:
    bad = np.argwhere(np.abs(got - want) > tolerance)
    if bad.size == 0:
        return "none"
    step, unit = bad[0]
    return f"step {step}, value {unit}: Pi {got[step, unit]!r}, x86 {want[step, unit]!r}"


# 1. The LiteRT runtime: the same CSV through the same models, x86 and the Pi --------------


@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_runtime_outputs_on_the_pi_equal_x86(pi_root, models, board):
    """int8: bit-identical outputs and states; float32: within 1e-6.

    Both sides use LiteRT's default op resolver (its XNNPACK delegate), as the
    runtime does; the Pi 4 core has no dot-product instructions and the Pi 5 core
    has them, so XNNPACK runs different int8 kernels on each.
    """
    out = models["root"] / f"{board}.npz"
    args = [str(models["script"]), str(out), str(models["csv"]), *map(str, models["paths"])]
    proc = run_python(args, board=board, root=pi_root)
    assert proc.returncode == 0, proc.stderr
    pi, host = dict(np.load(out)), models["host"]
    for i, (path, dtype) in enumerate(zip(models["paths"], models["dtypes"], strict=True)):
        for name in (f"y{i}", f"h{i}"):
            assert pi[name].shape == host[name].shape == (STEPS, CLASSES if name[0] == "y" else 32)
            tolerance = 0.0 if dtype == "int8" else FLOAT_TOLERANCE
            where = first_difference(pi[name], host[name], tolerance)
            assert where == "none", f"{path.name} {name}: first difference at {where}"
    # Not trivially equal: the outputs move, and before the saturating steps int8
    # tracks float32 (the same model).
    for i in (0, 2):
        assert np.ptp(host[f"y{i}"], axis=0).min() > 1e-2
        assert np.abs(host[f"y{i + 1}"][:40] - host[f"y{i}"][:40]).max() < 0.1


@pytest.mark.parametrize("variant", VARIANTS)
def test_runtime_cli_prints_the_same_lines_on_the_pi(pi_root, models, variant):
    """`python -m edgegru.runtime MODEL` (int8): the same stdout, byte for byte.

    The Pi reads the rows from stdin, as a sensor pipe would feed it; x86 from the file.
    """
    path = str(models["paths"][VARIANTS.index(variant) * 2 + 1])
    host = subprocess.run(
        [sys.executable, "-m", "edgegru.runtime", path, "--input", str(models["csv"])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    pi = run_python(["-m", "edgegru.runtime", path], stdin=models["csv"].read_text(), root=pi_root)
    assert host.returncode == 0, host.stderr
    assert pi.returncode == 0, pi.stderr
    assert len(pi.stdout.splitlines()) == STEPS
    assert pi.stdout == host.stdout


# 2. The generated C, cross-compiled for the Pi's core --------------------------------------


@pytest.mark.parametrize(
    ("variant", "state_bits", "board"),
    [
        ("reset_after", 16, "pi4"),
        ("reset_after", 8, "pi4"),
        ("reset_before", 16, "pi4"),
        ("reset_before", 8, "pi4"),
        ("reset_after", 16, "pi5"),
        ("reset_before", 8, "pi5"),
    ],
)
def test_generated_c_is_bit_exact_on_the_pi(pi_root, variant, state_bits, board):
    """int8 inputs through <prefix>_step, and raw float inputs through <prefix>_step_float."""
    model = make_model(variant, seed=30)
    qm = quantize(model, calibrate(model, raw_inputs(model, (12, 40), seed=31)), state_bits)
    x_int8 = random_stimulus(qm, 24, 80, seed=32)
    x_float = raw_inputs(model, (12, 80), seed=33).astype(np.float32)
    x_float[3, 10:20] = np.float32(1e6)  # saturates the on-device quantisation
    x_float[4, 5:8] = -np.float32(1e6)
    for x in (x_int8, x_float):
        report = verify_pi_c(qm, x, board=board)
        assert report.ok, report.summary()
        assert report.states_compared == x.shape[0] * x.shape[1] * sum(HIDDEN)
        assert report.target.startswith(f"aarch64 {board}")


# 3. The Pi has no torch, and the runtime does not want it ------------------------------------


def test_runtime_on_the_pi_runs_without_torch(pi_root, models):
    code = (
        "import importlib.util, json, platform, sys\n"
        "import ai_edge_litert, numpy as np\n"
        "from edgegru.tflite.stream import StreamingModel\n"
        "m = StreamingModel(sys.argv[1])\n"
        "y = m.run(np.zeros((3, m.input_size)))\n"
        "print(json.dumps({'machine': platform.machine(),\n"
        "    'torch_installed': importlib.util.find_spec('torch') is not None,\n"
        "    'modules': sorted(sys.modules), 'numpy': np.__version__,\n"
        "    'litert': ai_edge_litert.__version__, 'shape': list(y.shape)}))\n"
    )
    proc = run_python(["-c", code, str(models["paths"][1])], root=pi_root)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["machine"] == "aarch64"
    assert seen["torch_installed"] is False
    assert not (pi_root.site / "torch").exists()
    unwanted = {"torch", "edgegru.tflite.builder", "edgegru.tflite.exporter"}
    assert unwanted.isdisjoint(seen["modules"])
    assert seen["shape"] == [3, CLASSES]
    # The same versions as on this machine, so that the comparisons compare like with like.
    assert {"numpy": seen["numpy"], "ai-edge-litert": seen["litert"]} == recipe()["wheels"]


# The harness itself ------------------------------------------------------------------------------


def test_missing_tools_fail_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgeGruError) as err:
        require_tools(QEMU, MMDEBSTRAP, CROSS_CC)
    message = str(err.value)
    for hint in ("apt-get install qemu-user-static", "apt-get install mmdebstrap"):
        assert hint in message
    assert "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)" in message
    assert "\n" not in message


def test_mirror_comes_from_the_apt_sources(tmp_path):
    lists = tmp_path / "sources.list.d"
    lists.mkdir()
    (lists / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "# a disabled stanza\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n"
        "Enabled: no\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    # Another release's mirror serves bookworm too; -security archives do not.
    assert apt_mirror("trixie", tmp_path) == "http://mirror.example/debian"
    (lists / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://one.example/debian"
    (tmp_path / "sources.list").write_text("")
    with pytest.raises(EdgeGruError, match="no Debian mirror in the apt sources"):
        apt_mirror("bookworm", tmp_path)
    # On this machine the mirror is whatever apt uses, not a built-in address.
    apt = Path("/etc/apt")
    texts = [p.read_text() for p in [apt / "sources.list", *apt.glob("sources.list.d/*")] if p.is_file()]
    assert any(apt_mirror() in text for text in texts)


def test_an_incomplete_root_is_not_used(pi_root, tmp_path):
    spec = recipe()
    assert pi_root.is_complete(spec)
    assert (pi_root.view(BOARDS["pi4"]) / "proc" / "cpuinfo").read_text().count("CPU part\t: 0xd08") == 4
    partial = PiRoot(tmp_path)
    (tmp_path / "root").mkdir()
    assert not partial.is_complete(spec)  # no recipe.json: an interrupted build
    (tmp_path / "recipe.json").write_text(json.dumps({**spec, "suite": "trixie"}))
    assert not partial.is_complete(spec)  # built from another recipe
    (tmp_path / "recipe.json").write_text(json.dumps(spec))
    assert partial.is_complete(spec)


# 4. The user's own models through `edgegru pi run|verify|bench` ---------------------------------


def sequences_csv(path: Path, x: np.ndarray) -> Path:
    """Sequences x (N, T, D) in the long CSV layout, labelled with the models' class names."""
    lines = ["sequence,step," + ",".join(f"c{k}" for k in range(D)) + ",label"]
    for s, seq in enumerate(x):
        values = (",".join(repr(float(v)) for v in row) for row in seq)
        lines += [f"s{s},{t},{row},class{s % CLASSES}" for t, row in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pi_run_prints_what_run_prints_here(pi_root, models, capsys):
    """`edgegru pi run` on a file of sequences (int8): the stdout of `edgegru run` here, byte
    for byte, and the same label score on stderr; nothing of LiteRT's on stderr."""
    from edgegru.cli.main import main

    data = sequences_csv(models["root"] / "seqs.csv", raw_inputs(make_model("reset_after", 10), (3, 30), 5))
    path = str(models["paths"][1])
    host = subprocess.run(
        [sys.executable, "-m", "edgegru.cli", "run", path, "--input", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert host.returncode == 0, host.stderr
    assert main(["pi", "run", path, "--input", str(data)]) == 0
    pi = capsys.readouterr()
    assert len(pi.out.splitlines()) == 3 * 30
    assert pi.out == host.stdout
    assert pi.err == host.stderr and "of 3 sequence(s) end on their label" in pi.err
    assert main(["pi", "run", path, "--input", str(data), "--sequence", "1"]) == 0
    one = capsys.readouterr().out.splitlines()
    assert one == [line for line in host.stdout.splitlines() if line.startswith("1,")]


def test_pi_verify_checks_a_users_model_on_random_and_file_inputs(pi_root, tmp_path, capsys):
    from edgegru.cli.main import main

    model = make_model("reset_before", seed=40)
    qm = quantize(model, calibrate(model, raw_inputs(model, (8, 30), seed=41)), 8)
    qm.save(tmp_path / "q.egru")
    argv = ["pi", "verify", str(tmp_path / "q.egru")]
    assert main([*argv, "--board", "pi5", "--sequences", "5", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("aarch64 pi5")
    assert f"5 sequences, 200 steps, {200 * sum(HIDDEN)} state values" in out
    assert "0 mismatches" in out
    data = sequences_csv(tmp_path / "d.csv", raw_inputs(model, (4, 25), seed=42))
    assert main([*argv, str(data), "--board", "pi5"]) == 0
    assert "4 sequences, 100 steps" in capsys.readouterr().out
    model.save(tmp_path / "f.egru")
    assert main(["pi", "verify", str(tmp_path / "f.egru")]) == 2
    assert "a float model; pi verify needs a quantised one" in capsys.readouterr().err


def test_pi_bench_times_a_users_tflite_and_c(pi_root, models, tmp_path, capsys):
    """One .tflite (two LiteRT rows) and one quantised model (one C row), every figure measured;
    the ratios are against that C."""
    from edgegru.cli.main import main

    model = make_model("reset_after", seed=10)
    quantize(model, calibrate(model, raw_inputs(model, (8, 30), seed=43))).save(tmp_path / "q.egru")
    tflite = models["paths"][1]
    assert main(["pi", "bench", str(tflite), str(tmp_path / "q.egru"), "--steps", "50"]) == 0
    out = capsys.readouterr().out
    rows = [
        [c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")
    ]
    assert [r[0] for r in rows[2:]] == [
        f"LiteRT int8 {tflite.name}: StreamingModel.step",
        f"LiteRT int8 {tflite.name}: Interpreter.invoke only",
        f"generated C of {tmp_path / 'q.egru'}, int16 state, -O2",
    ]
    assert all(float(r[1]) > 0 and float(r[2]) > 0 for r in rows[2:])
    assert rows[-1][4:] == ["1.0x", "1.0x"]
