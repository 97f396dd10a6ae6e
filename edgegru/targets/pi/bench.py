"""Per-step cost of LiteRT and the generated C on the emulated Pi, next to this machine: of a
random model (:func:`pi_bench`), or of the user's own ``.tflite`` and quantised models
(:func:`pi_bench_models`)."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host_bench import time_c
from edgegru.targets.host_bench_binary import run_c_benchmark
from edgegru.targets.pi.boards import get_board
from edgegru.targets.pi.root import PiRoot, ensure_root, log_to_stderr
from edgegru.targets.pi.runner import run_python
from edgegru.targets.pi.tools import qemu_command
from edgegru.targets.pi.verify_c import cross_compile, verify_pi_c
from edgegru.targets.verify import random_stimulus
from edgegru.tflite.step_metadata import read_edgegru_metadata, step_spec

# Interpreter.invoke alone, inputs set once: the interpreter's share of a runtime step.
# It reports in the runtime's --latency format, so that one parser reads both.
INVOKE_TIMER = """\
import statistics, sys, time
import numpy as np
from edgegru.tflite.interpreter import create_interpreter

interpreter = create_interpreter(sys.argv[1], 1)
for detail in interpreter.get_input_details():
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    interpreter.invoke()
    times.append(time.perf_counter() - start)
median = statistics.median(times) * 1e6
print(f"latency: {len(times)} steps, median {median:.1f} us", file=sys.stderr)
"""


C_BACKEND = "generated C: <prefix>_step, int16 state, -O2"


@dataclass(frozen=True)
class BenchRow:
    """µs per step of one backend on the emulated Pi and natively on this machine."""

    backend: str
    pi_us: float
    host_us: float
    is_c: bool = False  # the generated C, against which the other rows are compared


def pi_bench(
    *,
    board: str = "pi4",
    input_size: int = 6,
    hidden_sizes: Sequence[int] = (32,),
    steps: int = 2000,
    log: Callable[[str], None] = log_to_stderr,
) -> list[BenchRow]:
    """Per-step cost of LiteRT (float32, int8 step models) and the generated C, Pi vs host.

    Method: LiteRT is timed twice per model, one thread, default op resolver
    (XNNPACK): by the runtime itself (``python -m edgegru.runtime --latency``, the
    median of StreamingModel.step over ``steps`` CSV rows: normalise, quantise,
    set the tensors, invoke, read back), and as Interpreter.invoke alone. The C is
    timed by the generated benchmark harness (int16 state, -O2, median of 7 runs)
    after the same sources were verified bit for bit on the emulated Pi. The same
    programs run natively here for comparison.

    What is measured is wall-clock time of QEMU's translated code, because
    qemu-user offers no instruction count here (the Debian static build has no
    TCG plugins). It is only indicative of a real Pi, for the microseconds and
    for the ratios alike: the slowdown is not uniform (about 8x for the scalar
    C, 15-30x for LiteRT, whose NEON kernels QEMU emulates with helper calls),
    so emulated ratios overstate LiteRT's cost next to the C. Hence the native
    column, and a real Pi for figures to quote.
    """
    from edgegru.tflite.exporter import export_tflite  # the tflite extra, for the random model only

    get_board(board)
    _check_steps(steps)
    pi = ensure_root(log)
    model = random_model(input_size, list(hidden_sizes), "reset_after", head="classification", seed=0)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((16, 50, input_size))
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-bench-") as tmp:
        directory = Path(tmp)
        csv = _random_rows(directory / "steps.csv", steps, input_size)
        for dtype in ("float32", "int8"):
            log(f"timing LiteRT {dtype} ...")
            path = directory / f"{dtype}.tflite"
            export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
            rows += _time_litert(path, f"LiteRT {dtype}", csv, steps, board, pi)
        log("verifying and timing the generated C ...")
        rows.append(_time_c(quantize(model, calibrate(model, calibration)), C_BACKEND, directory, board))
    return rows


def pi_bench_models(
    tflite_paths: Sequence[Path],
    qmodels: Sequence[tuple[str, QuantizedModel]],
    *,
    board: str = "pi4",
    steps: int = 2000,
    log: Callable[[str], None] = log_to_stderr,
) -> list[BenchRow]:
    """The user's models timed as :func:`pi_bench` times the random one: each edgegru step
    ``.tflite`` under LiteRT (the runtime's step and Interpreter.invoke alone, over ``steps``
    random rows, normal after the model's normalisation), each named quantised model's C
    (verified bit for bit on the emulated Pi first)."""
    get_board(board)
    _check_steps(steps)
    paths = [Path(p).resolve() for p in tflite_paths]  # the guest runs in another directory
    specs = [step_spec(read_edgegru_metadata(p), p) for p in paths]  # checked before the root is built
    pi = ensure_root(log) if tflite_paths else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-bench-") as tmp:
        directory = Path(tmp)
        for i, (path, spec) in enumerate(zip(paths, specs, strict=True)):
            log(f"timing LiteRT on {path} ...")
            norm = spec.normalisation
            csv = _random_rows(directory / f"steps{i}.csv", steps, spec.input_size, norm)
            rows += _time_litert(path, f"LiteRT {spec.dtype} {path.name}", csv, steps, board, pi)
        for i, (name, qm) in enumerate(qmodels):
            log(f"verifying and timing the C of {name} ...")
            (directory / f"c{i}").mkdir()
            label = f"generated C of {name}, int{qm.state_bits} state, -O2"
            rows.append(_time_c(qm, label, directory / f"c{i}", board))
    return rows


def _check_steps(steps: int) -> None:
    if steps < 10:
        raise EdgeGruError(f"steps {steps}: expected at least 10")


def _random_rows(
    path: Path, steps: int, size: int, normalisation: tuple[np.ndarray, np.ndarray] | None = None
) -> Path:
    """``steps`` CSV rows of standard normal values (before ``normalisation``, if given)."""
    x = np.random.default_rng(0).standard_normal((steps, size))
    if normalisation is not None:
        x = x * normalisation[1] + normalisation[0]
    path.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n")
    return path


def _time_litert(
    path: Path, name: str, csv: Path, steps: int, board: str, pi: PiRoot | None
) -> list[BenchRow]:
    """Two rows for one step model: the runtime's whole step, and Interpreter.invoke alone."""
    runtime = ["-m", "edgegru.runtime", str(path), "--input", str(csv), "--latency"]
    invoke = ["-c", INVOKE_TIMER, str(path), str(steps)]
    return [
        _time_python(f"{name}: StreamingModel.step", runtime, board, pi),
        _time_python(f"{name}: Interpreter.invoke only", invoke, board, pi),
    ]


def _time_c(qm: QuantizedModel, name: str, directory: Path, board: str) -> BenchRow:
    """The C verified bit for bit on the emulated Pi, then timed there and here."""
    report = verify_pi_c(qm, random_stimulus(qm, 6, 64), board=board)
    if not report.ok:
        raise EdgeGruError(f"the generated C is not bit-exact on the emulated Pi: {report.first}")
    (directory / "pi").mkdir()
    (directory / "host").mkdir()
    target = get_board(board)
    compile_for_pi = functools.partial(cross_compile, board=target)
    pi_c = run_c_benchmark(qm, directory / "pi", compile_for_pi, qemu_command(target), 7, 2e7)
    host_c = time_c(qm, directory / "host", 7, 0.02, "gcc", ("-O2",))  # checked bit for bit too
    return BenchRow(name, pi_c, host_c, is_c=True)


def _time_python(name: str, args: list[str], board: str, pi: PiRoot | None) -> BenchRow:
    """Run a timing program on the emulated Pi and natively; each reports a median."""
    pi_proc = run_python(args, board=board, root=pi)
    host_proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    return BenchRow(name, _median_us(pi_proc), _median_us(host_proc))


def _median_us(proc: subprocess.CompletedProcess[str]) -> float:
    """The median from a ``latency: N steps, median X us`` line (the runtime's format)."""
    match = re.search(r"^latency: \d+ steps, median ([\d.]+) us", proc.stderr, re.M)
    if proc.returncode != 0 or match is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise EdgeGruError(f"a LiteRT timing run failed (exit {proc.returncode}): {tail[0]}")
    return float(match[1])


def format_bench(rows: Sequence[BenchRow], board: str) -> str:
    """The bench table (Markdown, also readable as text); the ratio columns compare each row
    with the first generated-C row (n/a without one)."""
    target = get_board(board)
    c_row = next((r for r in rows if r.is_c), None)
    header = (
        f"| backend | emulated {target.name} ({target.cpu}) µs/step | x86 native µs/step "
        "| emulation slowdown | / C, emulated | / C, native |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratios = "n/a | n/a"
        if c_row is not None:
            ratios = f"{r.pi_us / c_row.pi_us:.1f}x | {r.host_us / c_row.host_us:.1f}x"
        lines.append(
            f"| {r.backend} | {r.pi_us:.2f} | {r.host_us:.3f} | {r.pi_us / r.host_us:.0f}x | {ratios} |"
        )
    return "\n".join(lines)
