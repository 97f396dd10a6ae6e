"""How fast the generated C runs on this machine, next to torch.nn.GRU and LiteRT.

What ``edgegru bench`` (``--target host``) measures: for each shape D -> H one
random single-layer ``reset_after`` model without a head is timed three ways, each
at batch 1 with the state carried from step to step, the way a device streams:

* the generated C (``rows`` layout, int16 state) built with the host compiler and
  :data:`DEFAULT_CFLAGS` (plus the strict C99 warning flags), timed in C by a
  generated harness (``templates/bench_host.c.j2``);
* ``torch.nn.GRU`` in float32, one call per step, one thread, inference mode;
* the LiteRT interpreter on the float32 step model, one ``invoke`` per step plus
  the ``set_tensor``/``get_tensor`` calls that carry the state and read the
  output, one thread, with the default op resolver (which applies the XNNPACK
  delegate) unless told not to.

Every figure is the median over repeats of (time of a run of steps) / steps,
where the number of steps doubles until one run lasts ``min_time``. Before it is
timed, the very C build (same compiler, same flags) is checked bit for bit
against the integer reference, so the speed reported is that of correct code.
Method and results: docs/performance.md.
"""

from __future__ import annotations

import importlib
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.codegen.render import render, render_bench
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.nn.model import Model
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host import verify_host
from edgegru.targets.verify import random_stimulus

DEFAULT_SHAPES = ((6, 32), (12, 64), (33, 96), (64, 64), (128, 128))
# gcc's default for AMD Zen 4 is 512-bit vectors, whose longer reductions cost more in the
# row dot products than they gain; Intel tunings already prefer 256 bits.
X86_FLAGS = ("-mprefer-vector-width=256",)
DEFAULT_CFLAGS = (
    "-O3",
    "-march=native",
    *(X86_FLAGS if platform.machine().lower() in ("x86_64", "amd64") else ()),
)
PREFIX = "bm"
INPUT_STEPS = 64  # distinct input steps, replayed cyclically (as the C harness does)
VERIFY_SEQUENCES, VERIFY_STEPS = 6, 64


@dataclass(frozen=True)
class Row:
    """Microseconds per step of one shape, three ways."""

    input_size: int
    hidden_size: int
    c_us: float
    torch_us: float
    litert_us: float

    @property
    def torch_ratio(self) -> float:
        return self.torch_us / self.c_us

    @property
    def litert_ratio(self) -> float:
        return self.litert_us / self.c_us


def bench_model(input_size: int, hidden_size: int, seed: int = 0) -> Model:
    """The benchmarked model: one ``reset_after`` layer, no head, random weights."""
    return random_model(input_size, [hidden_size], "reset_after", seed=seed)


def bench_inputs(model: Model, seed: int = 0) -> np.ndarray:
    """INPUT_STEPS float32 steps (T, D) of standard normal inputs for torch and LiteRT."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((INPUT_STEPS, model.input_size)).astype(np.float32)


def quantise_for_bench(model: Model, x: np.ndarray) -> QuantizedModel:
    """int16-state quantisation calibrated on the benchmark's own inputs."""
    return quantize(model, calibrate(model, x[None].astype(np.float64)), state_bits=16)


def median_per_step(step: Callable[[int], None], repeats: int, min_time: float) -> float:
    """Median seconds per call of ``step(t)``, t = 0, 1, ...; runs last at least min_time.

    The run length doubles until one run lasts ``min_time`` (the doubling runs
    double as warm-up); then ``repeats`` runs are timed.
    """

    def run(steps: int) -> float:
        start = time.perf_counter()
        for t in range(steps):
            step(t)
        return time.perf_counter() - start

    steps = INPUT_STEPS
    while run(steps) < min_time:
        steps *= 2
    return statistics.median(run(steps) / steps for _ in range(repeats))


def time_c(
    qm: QuantizedModel,
    directory: Path,
    repeats: int,
    min_time: float,
    cc: str,
    cflags: Sequence[str],
) -> float:
    """µs per step of the generated C, after checking this very build bit for bit."""
    flags = [*STRICT_FLAGS, *cflags]
    stimulus = random_stimulus(qm, VERIFY_SEQUENCES, VERIFY_STEPS)
    report = verify_host(qm, stimulus, prefix=PREFIX, cc=cc, cflags=cflags, workdir=directory / "verify")
    if not report.ok:
        raise EdgeGruError(f"the C built with {' '.join(flags)} is not bit-exact: {report.first}")

    def compile_c(sources: list[Path], exe: Path) -> None:
        run_tool([cc, *flags, *map(str, sources), "-o", str(exe)], "compile the C benchmark")

    return run_c_benchmark(qm, directory, compile_c, [], repeats, min_time * 1e9)


def run_c_benchmark(
    qm: QuantizedModel,
    directory: Path,
    compile_c: Callable[[list[Path], Path], None],
    runner: Sequence[str],
    repeats: int,
    min_ns: float,
) -> float:
    """Median µs per step that the bench_host.c.j2 harness reports for the rows-layout C.

    ``compile_c(sources, exe)`` builds it (for the host or another machine) and
    ``runner`` prefixes the command that runs it (an emulator, or nothing).
    """
    render(qm, PREFIX, "rows").write(directory)
    (directory / f"{PREFIX}_bench.c").write_text(render_bench(PREFIX, "bench_host.c.j2"))
    exe = directory / "bench"
    compile_c([directory / f"{PREFIX}.c", directory / f"{PREFIX}_bench.c"], exe)
    command = [*runner, str(exe), str(repeats), f"{min_ns:.0f}"]
    out = run_tool(command, "run the C benchmark")
    times = [float(v) for v in re.findall(r"^ns_per_step (\S+)$", out, re.M)]
    if len(times) != repeats:
        raise EdgeGruError(f"the C benchmark reported {len(times)} timings, expected {repeats}")
    return statistics.median(times) / 1e3


def time_torch(model: Model, x: np.ndarray, repeats: int, min_time: float) -> float:
    """µs per step of torch.nn.GRU (float32, batch 1, one call per step, one thread)."""
    try:
        import torch
    except ImportError:
        raise EdgeGruError("torch is not installed: pip install 'edgegru[train]'") from None
    layer = model.layers[0]
    hidden = layer.hidden_size
    gru = torch.nn.GRU(model.input_size, hidden, batch_first=True)
    with torch.no_grad():  # same gate order (r, z, n) and layout as PyTorch
        gru.weight_ih_l0.copy_(torch.from_numpy(layer.w_x.reshape(3 * hidden, -1)))
        gru.weight_hh_l0.copy_(torch.from_numpy(layer.w_h.reshape(3 * hidden, hidden)))
        gru.bias_ih_l0.copy_(torch.from_numpy(layer.b_x.reshape(-1)))
        gru.bias_hh_l0.copy_(torch.from_numpy(layer.b_h.reshape(-1)))
    gru.eval()
    steps = [torch.from_numpy(row).reshape(1, 1, -1) for row in x]
    state = [torch.zeros(1, 1, hidden)]

    def step(t: int) -> None:
        _, state[0] = gru(steps[t % INPUT_STEPS], state[0])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            return median_per_step(step, repeats, min_time) * 1e6
    finally:
        torch.set_num_threads(threads)


def time_litert(
    model: Model, x: np.ndarray, directory: Path, repeats: int, min_time: float, xnnpack: bool
) -> float:
    """µs per step of LiteRT on the float32 step model: set x and h0, invoke, get h0_next and y."""
    from edgegru.tflite.exporter import export_tflite
    from edgegru.tflite.stream import load_interpreter

    interpreter_class = load_interpreter()
    resolvers = importlib.import_module(interpreter_class.__module__).OpResolverType
    path = export_tflite(model, directory / "step.tflite", quiet=True).path
    resolver = resolvers.AUTO if xnnpack else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = interpreter_class(model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    inputs = {d["name"]: d["index"] for d in interp.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interp.get_output_details()}
    steps = [row.reshape(1, -1) for row in x]
    state: list[Any] = [np.zeros((1, model.hidden_sizes[0]), np.float32)]

    def step(t: int) -> None:
        interp.set_tensor(inputs["x"], steps[t % INPUT_STEPS])
        interp.set_tensor(inputs["h0"], state[0])
        interp.invoke()
        state[0] = interp.get_tensor(outputs["h0_next"])
        interp.get_tensor(outputs["y"])

    return median_per_step(step, repeats, min_time) * 1e6


def bench_host(
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    *,
    repeats: int = 7,
    min_time: float = 0.05,
    cc: str = "gcc",
    cflags: Sequence[str] = DEFAULT_CFLAGS,
    xnnpack: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Time every shape (D, H) three ways; see the module docstring for the method."""
    if repeats < 1:
        raise EdgeGruError(f"repeats {repeats}: expected at least 1")
    if min_time <= 0:
        raise EdgeGruError(f"min_time {min_time}: expected a positive number of seconds")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-") as tmp:
        for d, h in shapes:
            if progress is not None:
                progress(f"timing {d} -> {h}")
            model = bench_model(d, h)
            x = bench_inputs(model)
            directory = Path(tmp) / f"{d}x{h}"
            directory.mkdir()
            c_us = time_c(quantise_for_bench(model, x), directory, repeats, min_time, cc, cflags)
            torch_us = time_torch(model, x, repeats, min_time)
            litert_us = time_litert(model, x, directory, repeats, min_time, xnnpack)
            rows.append(Row(d, h, c_us, torch_us, litert_us))
    return rows


COLUMNS = ("D -> H", "C µs/step", "torch µs/step", "LiteRT µs/step", "torch / C", "LiteRT / C")


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, one line per shape (also readable as plain text)."""
    lines = [
        [
            f"{r.input_size} -> {r.hidden_size}",
            f"{r.c_us:.3f}",
            f"{r.torch_us:.2f}",
            f"{r.litert_us:.2f}",
            f"{r.torch_ratio:.0f}x",
            f"{r.litert_ratio:.1f}x",
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]

    def fmt(cells: Sequence[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
    return "\n".join([fmt(COLUMNS), rule, *(fmt(line) for line in lines)])
