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

:func:`bench_user_model` times a user's model the same three ways: the C of its
quantised model, and torch and LiteRT on its float model (every layer and the head),
whichever of the two models is given. Method and results: docs/performance.md.
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
    """Microseconds per step of one model, three ways; None where a way was not timed."""

    model: str  # "D -> H" for a random shape, the model's description for a user's model
    c_us: float | None
    torch_us: float | None
    litert_us: float | None

    @property
    def torch_ratio(self) -> float | None:
        return _ratio(self.torch_us, self.c_us)

    @property
    def litert_ratio(self) -> float | None:
        return _ratio(self.litert_us, self.c_us)


def _ratio(us: float | None, c_us: float | None) -> float | None:
    return None if us is None or c_us is None else us / c_us


def bench_model(input_size: int, hidden_size: int, seed: int = 0) -> Model:
    """The benchmarked model: one ``reset_after`` layer, no head, random weights."""
    return random_model(input_size, [hidden_size], "reset_after", seed=seed)


def bench_inputs(model: Model, seed: int = 0) -> np.ndarray:
    """INPUT_STEPS float32 steps (T, D) for torch and LiteRT: standard normal after the
    model's normalisation, so raw inputs when it has one."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((INPUT_STEPS, model.input_size))
    if model.normalisation is not None:
        x = x * model.normalisation.std + model.normalisation.mean
    return x.astype(np.float32)


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


def time_torch(model: Model, x: np.ndarray, repeats: int, min_time: float) -> float | None:
    """µs per step of torch.nn.GRU (float32, batch 1, one call per step, one thread): one
    nn.GRU per layer, then the head's nn.Linear. None for ``reset_before``, which nn.GRU
    does not compute (a Python step loop in its place would time Python, not torch)."""
    if model.variant != "reset_after":
        return None
    try:
        import torch
    except ImportError:
        raise EdgeGruError("torch is not installed: pip install 'edgegru[train]'") from None
    grus = []
    for layer in model.layers:
        hidden = layer.hidden_size
        gru = torch.nn.GRU(layer.w_x.size // (3 * hidden), hidden, batch_first=True)
        with torch.no_grad():  # same gate order (r, z, n) and layout as PyTorch
            gru.weight_ih_l0.copy_(torch.from_numpy(layer.w_x.reshape(3 * hidden, -1)))
            gru.weight_hh_l0.copy_(torch.from_numpy(layer.w_h.reshape(3 * hidden, hidden)))
            gru.bias_ih_l0.copy_(torch.from_numpy(layer.b_x.reshape(-1)))
            gru.bias_hh_l0.copy_(torch.from_numpy(layer.b_h.reshape(-1)))
        grus.append(gru.eval())
    head = None
    if model.head is not None:
        head = torch.nn.Linear(model.head.weight.shape[1], model.head.weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(model.head.weight))
            head.bias.copy_(torch.from_numpy(model.head.bias))
    steps = [torch.from_numpy(row).reshape(1, 1, -1) for row in x]
    state = [torch.zeros(1, 1, h) for h in model.hidden_sizes]

    def step(t: int) -> None:
        y = steps[t % INPUT_STEPS]
        for k, gru in enumerate(grus):
            y, state[k] = gru(y, state[k])
        if head is not None:
            head(y)

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
    """µs per step of LiteRT on the float32 step model: set x and each layer's state h<k>,
    invoke, get each h<k>_next and y."""
    from edgegru.tflite.exporter import export_tflite
    from edgegru.tflite.stream import create_interpreter, load_interpreter

    resolvers = importlib.import_module(load_interpreter().__module__).OpResolverType
    path = export_tflite(model, directory / "step.tflite", quiet=True).path
    resolver = resolvers.AUTO if xnnpack else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = create_interpreter(path, 1, experimental_op_resolver_type=resolver)
    inputs = {d["name"]: d["index"] for d in interp.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interp.get_output_details()}
    steps = [row.reshape(1, -1) for row in x]
    state: list[Any] = [np.zeros((1, h), np.float32) for h in model.hidden_sizes]
    layers = range(len(state))

    def step(t: int) -> None:
        interp.set_tensor(inputs["x"], steps[t % INPUT_STEPS])
        for k in layers:
            interp.set_tensor(inputs[f"h{k}"], state[k])
        interp.invoke()
        for k in layers:
            state[k] = interp.get_tensor(outputs[f"h{k}_next"])
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
            rows.append(Row(f"{d} -> {h}", c_us, torch_us, litert_us))
    return rows


def same_architecture(qm: QuantizedModel, model: Model) -> bool:
    """Whether a quantised and a float model have the same shape: sizes, variant, head."""

    def shape(m: QuantizedModel | Model) -> tuple[object, ...]:
        head = None if m.head is None else (m.head.kind, m.head.output_size)
        return m.variant, m.input_size, m.hidden_sizes, head

    return shape(qm) == shape(model)


def bench_user_model(
    qm: QuantizedModel | None,
    model: Model | None,
    *,
    repeats: int = 7,
    min_time: float = 0.05,
    cc: str = "gcc",
    cflags: Sequence[str] = DEFAULT_CFLAGS,
    xnnpack: bool = True,
) -> Row:
    """A user's model timed as :func:`bench_host` times a shape: the C of ``qm`` (checked bit
    for bit first), torch and LiteRT on the float ``model``. Either may be None: without
    ``model`` only the C is timed; without ``qm`` the C is that of ``model`` quantised here
    (int16 state, calibrated on the benchmark's inputs), which runs the same code as any
    int16-state quantisation of it (the integers differ, the work does not)."""
    if qm is None:
        if model is None:
            raise EdgeGruError("no model to time: give a quantised model, a float model, or both")
        qm = quantise_for_bench(model, bench_inputs(model))
    elif model is not None and not same_architecture(qm, model):
        raise EdgeGruError(
            f"the float model ({model.describe()}) and the quantised one ({qm.describe()}) differ in shape"
        )
    torch_us = litert_us = None
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-") as tmp:
        directory = Path(tmp)
        c_us = time_c(qm, directory, repeats, min_time, cc, cflags)
        if model is not None:
            x = bench_inputs(model)
            torch_us = time_torch(model, x, repeats, min_time)
            litert_us = time_litert(model, x, directory, repeats, min_time, xnnpack)
    return Row(qm.describe(), c_us, torch_us, litert_us)


COLUMNS = ("model", "C µs/step", "torch µs/step", "LiteRT µs/step", "torch / C", "LiteRT / C")


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, one line per shape (also readable as plain text)."""
    lines = [
        [
            r.model,
            _shown(r.c_us, ".3f"),
            _shown(r.torch_us, ".2f"),
            _shown(r.litert_us, ".2f"),
            _shown(r.torch_ratio, ".0f", "x"),
            _shown(r.litert_ratio, ".1f", "x"),
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


def _shown(value: float | None, spec: str, unit: str = "") -> str:
    """A table cell: the value formatted, or "n/a" where it was not measured."""
    return "n/a" if value is None else f"{value:{spec}}{unit}"
