"""Instructions per call of LiteRT's ``Interpreter.invoke`` and of the C engine's step on the
emulated Pi, counted from qemu's execution trace.

Debian's qemu-aarch64-static 7.2 has no TCG plugins, so nothing counts instructions directly;
but it logs. With ``-d nochain,exec,in_asm -dfilter RANGES`` it writes, for code whose
address lies in RANGES, each translated block's instructions once (``in_asm``, when the block
is translated) and one line per execution of a block (``exec``; ``nochain`` makes every block
return to qemu's loop, so none is executed unlogged). The first execution line after a
translation names that block's host code address, so each later line is credited with that
block's instruction count. ``-singlestep`` (``singlestep=True``) makes every block one
instruction, the slow cross-check of the block sizes.

What is traced: one guest program (:data:`GUEST_PROGRAM`) on the Pi's python3.11 calls the
subject (``invoke`` with inputs set once, or :class:`edgegru.engine.library.EngineLibrary`'s
``step_int8``) in loops of ``short`` and ``long`` calls, after a warm-up, calling libc's
``getppid`` before each loop and after the last as a marker. The lines between markers are
the loops' alone (start-up, imports and Interpreter creation are outside), and the
difference of a long and a short loop divided by ``long - short`` is one call, without the
loop's entry and the marker's own instructions. RANGES are the executable mappings of every
library the guest has mapped (read from its ``/proc/self/maps`` in an untraced run first; the
traced run must map them at the same addresses), except the Python interpreter's executable
and NumPy's: CPython's bytecode loop and NumPy's array code around the call are not counted;
everything the call runs below Python is (the binding: pybind11 in LiteRT's libraries, or
ctypes and libffi; the subject's libraries; libc, libm, libstdc++, libgcc_s, ld.so).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any, TextIO

from edgegru.core.errors import EdgeGruError
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.pi.boards import get_board
from edgegru.targets.pi.root import PiRoot, ensure_root
from edgegru.targets.pi.runner import stage_guest
from edgegru.targets.pi.tools import QEMU, qemu_command, require_tools

# Run on the Pi: argv is the subject (litert PATH | c LIBRARY MODEL.egru), the warm-up calls
# and the loop lengths; the last stdout line is JSON with the marker's address and the maps.
GUEST_PROGRAM = """\
import ctypes, json, sys
import numpy as np

kind, warmup, lengths = sys.argv[1], int(sys.argv[-2]), [int(n) for n in sys.argv[-1].split(",")]
rng = np.random.default_rng(0)
if kind == "litert":
    from edgegru.tflite.interpreter import create_interpreter

    interpreter = create_interpreter(sys.argv[2], 1)
    for detail in interpreter.get_input_details():
        dtype, shape = detail["dtype"], detail["shape"]
        if np.issubdtype(dtype, np.integer):
            value = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape, endpoint=True)
        else:
            value = rng.normal(size=shape)
        interpreter.set_tensor(detail["index"], value.astype(dtype))
    call = interpreter.invoke
else:
    from edgegru.engine.library import EngineLibrary
    from edgegru.quant.qmodel import QuantizedModel

    qm = QuantizedModel.load(sys.argv[3])
    engine = EngineLibrary(sys.argv[2], qm)
    x = rng.integers(-128, 128, qm.input_size).astype(np.int8)

    def call():
        engine.step_int8(x)

marker = ctypes.CDLL(None).getppid
for _ in range(warmup):
    call()
for n in lengths:
    marker()
    for _ in range(n):
        call()
marker()
with open("/proc/self/maps") as maps:
    print(json.dumps({"marker": ctypes.cast(marker, ctypes.c_void_p).value, "maps": maps.read()}))
"""
NOT_TRACED = ("/usr/bin/python3", "/numpy/", "/numpy.libs/")  # the interpreter and NumPy
TRACE_LOG_FLAGS = "nochain,exec,in_asm"


@dataclass(frozen=True)
class Mapping:
    """An executable mapping of the guest: [start, end) and the file mapped."""

    start: int
    end: int
    path: str


@dataclass(frozen=True)
class TraceCount:
    """Instructions of one call, by library (the file's name), from each round of a short
    and a long loop; ``engine`` names the subject's own libraries."""

    subject: str
    engine: tuple[str, ...]
    rounds: tuple[dict[str, float], ...]

    def per_library(self) -> dict[str, float]:
        """The median over rounds of each library's instructions per call."""
        names = sorted({name for r in self.rounds for name in r})
        return {name: median(r.get(name, 0.0) for r in self.rounds) for name in names}

    def totals(self) -> list[float]:
        """Each round's instructions per call, every traced library together."""
        return [sum(r.values()) for r in self.rounds]

    def engine_total(self) -> float:
        """The median per call in the subject's own libraries."""
        return median(sum(v for k, v in r.items() if k in self.engine) for r in self.rounds)


@dataclass(frozen=True)
class TraceLoops:
    """How the subject is called: ``warmup`` calls, then ``rounds`` times a loop of ``short``
    and one of ``long`` calls; ``singlestep`` traces with one-instruction blocks (slow)."""

    short: int = 10
    long: int = 110
    rounds: int = 3
    warmup: int = 5
    singlestep: bool = False

    def check(self) -> None:
        if not 0 <= self.short < self.long or self.rounds < 1 or self.warmup < 0:
            raise EdgeGruError(
                f"loops of {self.short} and {self.long} calls, {self.rounds} rounds, {self.warmup} "
                "warm-up calls: expected 0 <= short < long, at least one round"
            )


def count_invoke(
    tflite: Path, *, board: str = "pi4", root: PiRoot | None = None, loops: TraceLoops = TraceLoops()
) -> TraceCount:
    """LiteRT's Interpreter.invoke of a step ``.tflite`` (one thread, default resolver), its
    inputs set once to random values."""
    path = Path(tflite).resolve()
    if not path.is_file():
        raise EdgeGruError(f"{tflite}: no such file")
    subject = f"LiteRT {path.name}: Interpreter.invoke"
    return _count(subject, ["litert", str(path)], "/ai_edge_litert/", board, root, loops)


def count_engine_step(
    qm: QuantizedModel,
    library: Path | None = None,
    *,
    board: str = "pi4",
    root: PiRoot | None = None,
    loops: TraceLoops = TraceLoops(),
) -> TraceCount:
    """The C engine's int8 step of ``qm``, from ``library`` (the Pi's, from ``edgegru engine
    --target``; built for ``board`` here when None) loaded by
    :class:`edgegru.engine.library.EngineLibrary`: ``step_int8`` on one random input."""
    from edgegru.engine.build import build_library, toolchain_for

    with tempfile.TemporaryDirectory(prefix="edgegru-pi-count-") as tmp:
        if library is None:
            library = build_library(qm, Path(tmp) / "libedgegru_engine.so", toolchain_for(board))
        path = Path(library).resolve()
        model = Path(tmp) / "model.egru"
        qm.save(model)
        subject = f"C engine {path.name}: step_int8"
        return _count(subject, ["c", str(path), str(model)], str(path), board, root, loops)


def _count(
    subject: str,
    guest_args: list[str],
    engine_path: str,
    board: str,
    root: PiRoot | None,
    loops: TraceLoops,
) -> TraceCount:
    """Run the guest program on ``guest_args`` untraced (for the addresses), then traced; the
    subject's own libraries are the mappings whose path contains ``engine_path``."""
    loops.check()
    pi = root or ensure_root()
    get_board(board)
    require_tools(QEMU)
    lengths = [loops.short, loops.long] * loops.rounds
    args = [*guest_args, str(loops.warmup), ",".join(map(str, lengths))]
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-trace-") as stage:
        probe = _guest(pi, board, Path(stage), args)
        traced = _mappings(probe["maps"])
        if not any(engine_path in m.path for m in traced):
            raise EdgeGruError(f"{subject}: the guest mapped none of the subject's libraries")
        ranges = ",".join(f"{m.start:#x}+{m.end - m.start:#x}" for m in traced)
        options = ["-d", TRACE_LOG_FLAGS, "-dfilter", ranges, *["-singlestep"] * loops.singlestep]
        counts: list[Counter[str]] = []

        def read_log(log: TextIO) -> None:
            counts.extend(count_trace(log, probe["marker"], traced))

        result = _guest(pi, board, Path(stage), args, options, read_log)
    if _mappings(result["maps"]) != traced:
        raise EdgeGruError(f"{subject}: the traced run mapped its libraries elsewhere than the untraced one")
    if len(counts) != len(lengths) + 2:
        raise EdgeGruError(
            f"{subject}: the trace holds {len(counts) - 2} loops between markers, expected {len(lengths)}"
        )
    between = counts[1:-1]  # before the first marker: start-up; after the last: the maps printed
    calls = loops.long - loops.short
    per_round = []
    for a, b in zip(between[::2], between[1::2], strict=True):
        per_round.append({name: (b[name] - a[name]) / calls for name in sorted(a | b)})
    engine = tuple(sorted({Path(m.path).name for m in traced if engine_path in m.path}))
    return TraceCount(subject, engine, tuple(per_round))


def _mappings(maps: str) -> list[Mapping]:
    """The guest's executable file mappings that are traced (all but :data:`NOT_TRACED`)."""
    found = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "x" not in fields[1] or not fields[5].startswith("/"):
            continue
        if any(part in fields[5] for part in NOT_TRACED):
            continue
        start, end = (int(v, 16) for v in fields[0].split("-"))
        found.append(Mapping(start, end, fields[5]))
    return sorted(found, key=lambda m: m.start)


def _guest(
    pi: PiRoot,
    board: str,
    stage: Path,
    args: list[str],
    qemu_options: Sequence[str] = (),
    read_log: Callable[[TextIO], None] | None = None,
    timeout: float = 1800,
) -> dict[str, Any]:
    """GUEST_PROGRAM's JSON line, run on the Pi as :func:`edgegru.targets.pi.runner.run_python`
    runs Python (:func:`~edgegru.targets.pi.runner.stage_guest`) but with ``qemu_options`` and
    a pipe for qemu's log, which run_python has no use for, and one BLAS thread.
    With ``read_log``, qemu's log goes through a pipe to it as it is written (gigabytes under
    ``-singlestep``, never on disk)."""
    target = get_board(board)
    (stage / "guest.py").write_text(GUEST_PROGRAM)
    env = {
        **stage_guest(pi, stage),
        "PYTHONHASHSEED": "0",
        "OPENBLAS_NUM_THREADS": "1",  # else NumPy's BLAS starts a thread per core at import
    }
    read_end, write_end = os.pipe() if read_log else (-1, -1)
    log = ["-D", f"/dev/fd/{write_end}"] if read_log else []
    cmd = [*qemu_command(target), *qemu_options, *log, "-L", str(pi.view(target)), str(pi.python)]
    timed_out = threading.Event()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [*cmd, "-S", "guest.py", *args], env=env, cwd=stage, stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, pass_fds=(write_end,) if read_log else (),
        )  # fmt: skip

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            if read_log:
                os.close(write_end)  # qemu holds the pipe's only write end: EOF when it exits
                with open(read_end, errors="replace") as stream:
                    read_log(stream)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if timed_out.is_set():
            raise EdgeGruError(
                f"emulated {target.name}: the counted program did not finish within {timeout:.0f} s"
            )
        out.seek(0)
        lines = out.read().splitlines()
        if returncode != 0 or not lines:
            err.seek(0)
            tail = err.read().strip().splitlines()[-1:] or ["no output"]
            raise EdgeGruError(
                f"emulated {target.name}: the counted program failed (exit {returncode}): {tail[0]}"
            )
    return json.loads(lines[-1])


def count_trace(log: Iterable[str], marker: int, mappings: Sequence[Mapping]) -> list[Counter[str]]:
    """Instructions executed by library (the file's name) between executions of ``marker``:
    element 0 before its first execution, element k after its k-th.

    ``log`` is qemu's ``-d nochain,exec,in_asm`` output of a one-thread guest: an ``IN:``
    block lists the instructions of a block just translated, one ``0x...:`` line each, and
    the next ``Trace 0: HOST [cs_base/PC/flags/cflags]`` line is that block's first
    execution, its translated code at HOST; later lines naming HOST are executions of the same
    block (until a new ``IN:`` block's first execution reuses HOST, after a flush of qemu's
    code buffer). ``Stopped execution of TB chain before HOST`` takes back a block logged but
    not run.
    """
    starts = [m.start for m in mappings]
    names = [Path(m.path).name for m in mappings]
    sizes: dict[str, int] = {}
    segments: list[Counter[str]] = [Counter()]
    block: list[int] | None = None  # the addresses of the instructions of the block being read
    pending: list[int] | None = None  # the block translated last, before its first execution
    for line in log:
        if line.startswith("Trace "):
            if not line.startswith("Trace 0: "):
                raise EdgeGruError(f"qemu trace: a second guest thread ran ({line[:8]}); expected one")
            end = line.index(" ", 9)
            host = line[9:end]
            pc = int(line[line.index("/", end) + 1 : line.index("/", end + 20)], 16)
            if pending is not None:
                if pending[0] != pc:
                    raise EdgeGruError(f"qemu trace: block {pending[0]:#x} translated, then {pc:#x} run")
                sizes[host], pending = len(pending), None
            elif host not in sizes:
                raise EdgeGruError(f"qemu trace: block {pc:#x} executed before it was translated")
            if pc == marker:
                segments.append(Counter())
            segments[-1][names[bisect_right(starts, pc) - 1]] += sizes[host]
        elif block is not None:
            if line.startswith("0x"):
                block.append(int(line[: line.index(":")], 16))
            elif not line.strip():
                pending, block = (block or None), None
        elif line.startswith("IN:"):
            block = []
        elif line.startswith("Stopped execution of TB chain before "):
            host, tb = line.split()[6:8]
            segments[-1][names[bisect_right(starts, int(tb.strip("[]"), 16)) - 1]] -= sizes[host]
    return segments


def format_counts(counts: Sequence[TraceCount], reference: dict[str, float] | None = None) -> str:
    """A Markdown table of the counts, then each subject's instructions per library."""
    lines = [
        "| subject | own libraries | other libraries | total per call | spread over rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    details = []
    for c in counts:
        totals = c.totals()
        total = median(totals)
        own = c.engine_total()
        lines.append(
            f"| {c.subject} | {own:,.1f} | {total - own:,.1f} | {total:,.1f} | "
            f"{min(totals):,.1f} to {max(totals):,.1f} |"
        )
        parts = ", ".join(f"{name} {v:,.1f}" for name, v in c.per_library().items() if v)
        details.append(f"{c.subject}: {parts}")
    return "\n".join([*lines, "", *details])
