"""Per-step cost of LiteRT and the generated C on the emulated Pi, next to this machine."""

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
from edgegru.targets.host_bench import run_c_benchmark, time_c
from edgegru.targets.pi.boards import get_board
from edgegru.targets.pi.root import PiRoot, ensure_root, log_to_stderr
from edgegru.targets.pi.runner import run_python
from edgegru.targets.pi.tools import qemu_command
from edgegru.targets.pi.verify_c import cross_compile, verify_pi_c
from edgegru.targets.verify import random_stimulus
from edgegru.tflite.exporter import export_tflite

# Interpreter.invoke alone, inputs set once: the interpreter's share of a runtime step.
# It reports in the runtime's --latency format, so that one parser reads both.
INVOKE_TIMER = """\
import statistics, sys, time
import numpy as np
from edgegru.tflite.stream import load_interpreter

interpreter = load_interpreter()(model_path=sys.argv[1], num_threads=1)
interpreter.allocate_tensors()
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


@dataclass(frozen=True)
class BenchRow:
    """µs per step of one backend on the emulated Pi and natively on this machine."""

    backend: str
    pi_us: float
    host_us: float


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
    target = get_board(board)
    if steps < 10:
        raise EdgeGruError(f"steps {steps}: expected at least 10")
    pi = ensure_root(log)
    model = random_model(input_size, list(hidden_sizes), "reset_after", head="classification", seed=0)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((16, 50, input_size))
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-bench-") as tmp:
        directory = Path(tmp)
        csv = directory / "steps.csv"
        lines = (",".join(f"{v:.6f}" for v in row) for row in rng.standard_normal((steps, input_size)))
        csv.write_text("\n".join(lines) + "\n")
        for dtype in ("float32", "int8"):
            log(f"timing LiteRT {dtype} ...")
            path = directory / f"{dtype}.tflite"
            export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
            runtime = ["-m", "edgegru.runtime", str(path), "--input", str(csv), "--latency"]
            invoke = ["-c", INVOKE_TIMER, str(path), str(steps)]
            rows.append(_time_python(f"LiteRT {dtype}: StreamingModel.step", runtime, board, pi))
            rows.append(_time_python(f"LiteRT {dtype}: Interpreter.invoke only", invoke, board, pi))
        log("verifying and timing the generated C ...")
        qm = quantize(model, calibrate(model, calibration))
        report = verify_pi_c(qm, random_stimulus(qm, 6, 64), board=board)
        if not report.ok:
            raise EdgeGruError(f"the generated C is not bit-exact on the emulated Pi: {report.first}")
        (directory / "pi").mkdir()
        (directory / "host").mkdir()
        compile_for_pi = functools.partial(cross_compile, board=target)
        pi_c = run_c_benchmark(qm, directory / "pi", compile_for_pi, qemu_command(target), 7, 2e7)
        host_c = time_c(qm, directory / "host", 7, 0.02, "gcc", ("-O2",))  # checked bit for bit too
        rows.append(BenchRow("generated C: <prefix>_step, int16 state, -O2", pi_c, host_c))
    return rows


def _time_python(name: str, args: list[str], board: str, pi: PiRoot) -> BenchRow:
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
    """The bench table (Markdown, also readable as text)."""
    target = get_board(board)
    c_pi, c_host = rows[-1].pi_us, rows[-1].host_us
    header = (
        f"| backend | emulated {target.name} ({target.cpu}) µs/step | x86 native µs/step "
        "| emulation slowdown | / C, emulated | / C, native |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r.backend} | {r.pi_us:.2f} | {r.host_us:.3f} | {r.pi_us / r.host_us:.0f}x "
            f"| {r.pi_us / c_pi:.1f}x | {r.host_us / c_host:.1f}x |"
        )
    return "\n".join(lines)
