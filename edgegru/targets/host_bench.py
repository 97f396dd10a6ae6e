"""How fast the generated C runs on this machine, next to a float C++ peer, torch and LiteRT.

What ``edgegru bench`` (``--target host``) measures: for each shape D -> H one random
single-layer ``reset_after`` model without a head (or the user's model) is stepped at
batch 1 with the state carried from step to step, the way a device streams, by

* **C**: the generated C (``rows`` layout, int16 state) built with the host compiler and
  :data:`DEFAULT_CFLAGS` (plus the strict C99 warning flags), stepped by a generated harness
  (``templates/bench_host.c.j2``); the very build (same compiler, same flags) is first
  checked bit for bit against the integer reference;
* **Eigen**: the same model's float32 GRU step in C++ on Eigen, compiled with the same flags
  and linked into the same binary (:mod:`edgegru.targets.host_bench_peer`), first checked
  against the float reference; left out, with one line, where Eigen is not installed;
* **torch**: ``torch.nn.GRU`` in float32, one call per step, one thread;
* **LiteRT f32** and **LiteRT int8**: the interpreter on the float32 and the int8 step
  models, one thread, with XNNPACK unless told not to.

They are timed in interleaved rounds in thread CPU time, wall time beside it
(:mod:`edgegru.targets.host_bench_rounds`); each is summarised by its median and its fastest
and slowest round, and each ratio to the C is the median of the ratios within a round.
Beside them, the vpmaddwd floor (:mod:`edgegru.targets.host_machine`): the step's
multiply-adds at 16 per cycle of the measured clock. Method and results: docs/performance.md.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.nn.model import Model
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel, same_architecture
from edgegru.targets.cortex_m.instructions import step_macs
from edgegru.targets.host import verify_host
from edgegru.targets.host_bench_binary import (
    PREFIX,
    BenchProcess,
    build_bench,
    build_bench_with_peer,
    run_c_benchmark,
)
from edgegru.targets.host_bench_peer import EIGEN_MISSING, find_eigen, normalised
from edgegru.targets.host_bench_python import litert_contender, torch_contender
from edgegru.targets.host_bench_rounds import Contender, Timing, interleave
from edgegru.targets.host_machine import Clock, Machine, floor_ns, read_clock, read_machine
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
CONTENDERS = ("C", "Eigen", "torch", "LiteRT f32", "LiteRT int8")
INPUT_STEPS = 64  # distinct input steps, replayed cyclically (as the C harness does)
VERIFY_SEQUENCES, VERIFY_STEPS = 6, 64
TORCH_RESET_BEFORE = (
    "torch: not timed, nn.GRU computes reset_after only (a Python step loop would time Python)"
)


@dataclass(frozen=True)
class BenchOptions:
    """How to build and time: the CLI's host options."""

    repeats: int = 7  # rounds
    min_time: float = 0.05  # seconds of thread CPU time per run, at least
    cc: str = "gcc"
    cxx: str = "g++"
    cflags: Sequence[str] = DEFAULT_CFLAGS
    xnnpack: bool = True
    eigen: Path | None = field(default_factory=find_eigen)  # Eigen's include directory; None: no peer


@dataclass(frozen=True)
class Row:
    """One model's timings by contender (those timed) and the vpmaddwd floor of its step."""

    model: str  # "D -> H" for a random shape, the model's description for a user's model
    macs: int
    timings: dict[str, Timing]
    floor_ns: float | None


@dataclass
class BenchResult:
    """The rows, the machine they were measured on, and what was left out and why."""

    rows: list[Row]
    machine: Machine
    clock: Clock | None
    notes: list[str] = field(default_factory=list)


def bench_model(input_size: int, hidden_size: int, seed: int = 0) -> Model:
    """The benchmarked model: one ``reset_after`` layer, no head, random weights."""
    return random_model(input_size, [hidden_size], "reset_after", seed=seed)


def bench_inputs(model: Model, seed: int = 0) -> np.ndarray:
    """INPUT_STEPS float32 steps (T, D) for the float contenders: standard normal after the
    model's normalisation, so raw inputs when it has one."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((INPUT_STEPS, model.input_size))
    if model.normalisation is not None:
        x = x * model.normalisation.std + model.normalisation.mean
    return x.astype(np.float32)


def quantise_for_bench(model: Model, x: np.ndarray) -> QuantizedModel:
    """int16-state quantisation calibrated on the benchmark's own inputs."""
    return quantize(model, calibrate(model, x[None].astype(np.float64)), state_bits=16)


def require_bit_exact(qm: QuantizedModel, directory: Path, cc: str, cflags: Sequence[str]) -> None:
    """Build the C with ``cc`` and ``cflags`` and compare it with the integer reference;
    EdgeGruError unless every value agrees (the bench times only correct code)."""
    stimulus = random_stimulus(qm, VERIFY_SEQUENCES, VERIFY_STEPS)
    report = verify_host(qm, stimulus, prefix=PREFIX, cc=cc, cflags=cflags, workdir=directory / "verify")
    if not report.ok:
        flags = " ".join([*STRICT_FLAGS, *cflags])
        raise EdgeGruError(f"the C built with {flags} is not bit-exact, so it is not timed: {report.first}")


def compile_host(cc: str, cflags: Sequence[str]) -> Callable[[list[Path], Path], None]:
    """``compile_c(sources, exe)`` for this machine: ``cc`` with the strict flags and ``cflags``."""

    def compile_c(sources: list[Path], exe: Path) -> None:
        run_tool([cc, *STRICT_FLAGS, *cflags, *map(str, sources), "-o", str(exe)], "compile the C benchmark")

    return compile_c


def time_c(
    qm: QuantizedModel, directory: Path, repeats: int, min_time: float, cc: str, cflags: Sequence[str]
) -> float:
    """Median µs per step (wall time) of the generated C alone, checked bit for bit first:
    the host figure beside another machine's in ``edgegru pi bench``."""
    require_bit_exact(qm, directory, cc, cflags)
    return run_c_benchmark(qm, directory, compile_host(cc, cflags), [], repeats, min_time * 1e9)


class _Session:
    """One bench run: its options, where it builds, the machine, and the notes it collects."""

    def __init__(self, options: BenchOptions, directory: Path) -> None:
        if options.repeats < 1:
            raise EdgeGruError(f"--repeats {options.repeats}: expected at least 1")
        if not options.min_time > 0:
            raise EdgeGruError(f"--min-time {options.min_time}: expected a positive number of seconds")
        self.options = options
        self.directory = directory
        self.machine = read_machine(options.cc, options.cflags)
        self.clock: Clock | None = None
        self.models = 0
        self.notes: list[str] = []

    def time(self, name: str, qm: QuantizedModel, model: Model | None) -> Row:
        """Every contender that applies to ``qm`` (and the float ``model``), in rounds."""
        o = self.options
        self.models += 1
        directory = self.directory / f"model{self.models}"
        directory.mkdir()
        require_bit_exact(qm, directory, o.cc, o.cflags)
        if model is not None and o.eigen is not None:
            command = build_bench_with_peer(
                qm,
                model,
                directory,
                cc=o.cc,
                cxx=o.cxx,
                cflags=o.cflags,
                eigen=o.eigen,
                check_inputs=bench_inputs(model),
            )
        else:
            command = [str(build_bench(qm, directory, compile_host(o.cc, o.cflags)))]
        with BenchProcess(command) as bench:
            if self.models == 1:  # once per bench, in its first binary
                self.clock = read_clock(lambda n: bench.run("clock", n), o.min_time, self.machine)
            contenders = [bench.contender("C", "c")]
            if model is not None:
                contenders += self._float_contenders(bench, model, directory, peer=o.eigen is not None)
            timings = interleave(contenders, o.repeats, o.min_time)
        macs = step_macs(qm)
        floor = None if self.clock is None else floor_ns(macs, self.clock.hz)
        return Row(name, macs, {t.name: t for t in timings}, floor)

    def _float_contenders(
        self, bench: BenchProcess, model: Model, directory: Path, peer: bool
    ) -> list[Contender]:
        """The peer (if linked in), torch, and LiteRT on the float32 and int8 step models."""
        from edgegru.tflite.exporter import export_tflite

        x = bench_inputs(model)
        contenders = [bench.contender("Eigen", "peer")] if peer else []
        self._note(None if peer else EIGEN_MISSING)
        torch = torch_contender(model, x)
        contenders += [torch] if torch is not None else []
        self._note(TORCH_RESET_BEFORE if torch is None else None)
        f32 = export_tflite(model, directory / "step-f32.tflite", quiet=True).path
        int8 = export_tflite(
            model, directory / "step-int8.tflite", dtype="int8", calibration=x[None], quiet=True
        )
        return [
            *contenders,
            litert_contender(f32, x, self.options.xnnpack, "LiteRT f32"),
            litert_contender(int8.path, normalised(model, x), self.options.xnnpack, "LiteRT int8"),
        ]

    def _note(self, note: str | None) -> None:
        if note is not None and note not in self.notes:
            self.notes.append(note)

    def result(self, rows: list[Row]) -> BenchResult:
        return BenchResult(rows, self.machine, self.clock, self.notes)


def bench_host(
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    options: BenchOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time every shape (D, H) every way (``options`` default: ``BenchOptions()``); see the
    module docstring for the method."""
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-") as tmp:
        session = _Session(options or BenchOptions(), Path(tmp))
        rows = []
        for d, h in shapes:
            if progress is not None:
                progress(f"timing {d} -> {h}")
            model = bench_model(d, h)
            rows.append(session.time(f"{d} -> {h}", quantise_for_bench(model, bench_inputs(model)), model))
        return session.result(rows)


def bench_user_model(
    qm: QuantizedModel | None, model: Model | None, options: BenchOptions | None = None
) -> BenchResult:
    """A user's model timed as :func:`bench_host` times a shape: the C of ``qm`` (checked bit
    for bit first), and the float contenders on the float ``model``. Either may be None:
    without ``model`` only the C is timed; without ``qm`` the C is that of ``model``
    quantised here (int16 state, calibrated on the benchmark's inputs), which runs the same
    code as any int16-state quantisation of it (the integers differ, the work does not)."""
    if qm is None:
        if model is None:
            raise EdgeGruError("no model to time: give a quantised model, a float model, or both")
        qm = quantise_for_bench(model, bench_inputs(model))
    elif model is not None and not same_architecture(qm, model):
        raise EdgeGruError(
            f"the float model ({model.describe()}) and the quantised one ({qm.describe()}) differ in shape"
        )
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-") as tmp:
        session = _Session(options or BenchOptions(), Path(tmp))
        return session.result([session.time(qm.describe(), qm, model)])
