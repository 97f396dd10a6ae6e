"""The bench binary: the generated C and its timing harness, with the Eigen peer linked in.

:func:`build_bench` writes and compiles ``templates/bench_host.c.j2`` with the generated C
(the ``rows`` layout) and, given a float model and Eigen, the peer of
:mod:`edgegru.targets.host_bench_peer`; :class:`BenchProcess` runs the binary and asks it
for timed runs over its stdin (the protocol is in the template's header comment), so that
the Python contenders can run between its runs.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from edgegru.codegen.render import render, render_bench
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.nn.model import Model
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host_bench_peer import PEER_FLAGS, check_peer, peer_weights, render_peer
from edgegru.targets.host_bench_rounds import Contender, run_length
from edgegru.targets.host_machine import CHAIN

PREFIX = "bm"
_REPLY = re.compile(r"(\w+) (\d+) (\d+) (\d+)")


class BenchProcess:
    """The running bench binary; ``run(command, steps)`` -> (thread CPU ns, wall ns)."""

    def __init__(self, command: Sequence[str]) -> None:
        self._proc = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def run(self, command: str, steps: int) -> tuple[int, int]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(f"{command} {steps}\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the binary has ended: its reply is missing, reported below
        reply = self._proc.stdout.readline()
        match = _REPLY.fullmatch(reply.strip())
        if match is None or match[1] != command or int(match[2]) != steps:
            self._proc.kill()
            detail = (self._proc.communicate()[1].strip().splitlines() or [repr(reply)])[0]
            raise EdgeGruError(f"the C benchmark gave no timing for `{command} {steps}`: {detail}")
        return int(match[3]), int(match[4])

    def contender(self, name: str, command: str) -> Contender:
        return Contender(name, lambda steps: self.run(command, steps))

    def close(self) -> None:
        """Ask the binary to end (it prints its checksum) and wait for it."""
        if self._proc.poll() is None:
            self._proc.communicate("quit\n", timeout=60)

    def __enter__(self) -> BenchProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._proc.kill()
            self._proc.communicate()


def build_bench(
    qm: QuantizedModel,
    directory: Path,
    compile_c: Callable[[list[Path], Path], None],
) -> Path:
    """Write the rows-layout C and the harness into ``directory`` and build them with
    ``compile_c(sources, exe)`` (for this machine or another); the executable's path."""
    render(qm, PREFIX, "rows").write(directory)
    (directory / f"{PREFIX}_bench.c").write_text(render_bench(PREFIX, "bench_host.c.j2", chain=CHAIN))
    exe = directory / "bench"
    compile_c([directory / f"{PREFIX}.c", directory / f"{PREFIX}_bench.c"], exe)
    return exe


def build_bench_with_peer(
    qm: QuantizedModel,
    model: Model,
    directory: Path,
    *,
    cc: str,
    cxx: str,
    cflags: Sequence[str],
    eigen: Path,
    check_inputs: np.ndarray,
) -> list[str]:
    """The host bench binary with the Eigen peer of ``model`` linked in, the peer checked
    against the float reference on ``check_inputs`` (T, D); the command that runs it."""
    (directory / "peer.cpp").write_text(render_peer(model))
    weights = directory / "peer.bin"
    weights.write_bytes(peer_weights(model))

    def compile_with_peer(sources: list[Path], exe: Path) -> None:
        objects = [directory / f"{source.name}.o" for source in sources]
        flags = [*STRICT_FLAGS, *cflags, "-DBENCH_PEER=1"]  # read by the harness alone
        for source, obj in zip(sources, objects, strict=True):
            run_tool([cc, *flags, "-c", str(source), "-o", str(obj)], "compile the C benchmark")
        objects.append(directory / "peer.o")
        peer = [
            *PEER_FLAGS,
            *cflags,
            "-isystem",
            str(eigen),
            "-c",
            str(directory / "peer.cpp"),
            "-o",
            str(objects[-1]),
        ]
        run_tool([cxx, *peer], "compile the Eigen peer")
        run_tool([cxx, *cflags, *map(str, objects), "-o", str(exe)], "link the C benchmark")

    exe = build_bench(qm, directory, compile_with_peer)
    check_peer(exe, weights, model, check_inputs, directory)
    return [str(exe), str(weights)]


def run_c_benchmark(
    qm: QuantizedModel,
    directory: Path,
    compile_c: Callable[[list[Path], Path], None],
    runner: Sequence[str],
    repeats: int,
    min_ns: float,
) -> float:
    """Median µs per step of the rows-layout C alone, ``repeats`` runs of at least ``min_ns``
    of thread CPU time: for a table that is not the host bench's (``edgegru pi bench``), in
    wall time as that table's other rows are.

    ``compile_c(sources, exe)`` builds it and ``runner`` prefixes the command that runs it
    (an emulator, or nothing).
    """
    exe = build_bench(qm, directory, compile_c)
    with BenchProcess([*runner, str(exe)]) as bench:
        steps = run_length(lambda n: bench.run("c", n), min_ns)
        return statistics.median(bench.run("c", steps)[1] / steps for _ in range(repeats)) / 1e3
