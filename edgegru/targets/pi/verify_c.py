"""The generated C on the emulated Pi: cross-compiled for the board's core, compared bit for bit.

The C needs no root: it is cross-compiled statically with aarch64-linux-gnu-gcc and
run by qemu-aarch64-static on the board's core, reading and writing host files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgegru.codegen.export import layout_for
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.pi.boards import Board, get_board
from edgegru.targets.pi.tools import CROSS_CC, QEMU, qemu_command, require_tools
from edgegru.targets.verify import VerifyReport, verify_with, write_sources

C_LAYOUT = layout_for("c99")  # the host layout: the Pi is an application processor, not a Cortex-M


def cross_compile(sources: Sequence[Path], exe: Path, board: Board, opt: str = "-O2") -> None:
    """A static aarch64 executable for the board's core, with the strict warning flags."""
    cmd = [CROSS_CC, *STRICT_FLAGS, opt, f"-mcpu={board.cpu}", "-static", *map(str, sources)]
    run_tool([*cmd, "-o", str(exe)], "cross-compile the generated C for aarch64")


def verify_pi_c(
    qm: QuantizedModel,
    x: np.ndarray,
    *,
    board: str = "pi4",
    prefix: str = "model",
    opt: str = "-O2",
    workdir: Path | None = None,
) -> VerifyReport:
    """Cross-compile the generated C + harness, run it on the board's core, compare every value."""
    target = get_board(board)
    require_tools(CROSS_CC, QEMU)

    def build_and_run(directory: Path, input_path: Path) -> None:
        sources = write_sources(qm, directory, prefix, C_LAYOUT)
        exe = directory / "harness"
        cross_compile(sources, exe, target, opt)
        out = directory / "output.bin"
        run_tool(
            [*qemu_command(target), str(exe), str(input_path), str(out)],
            f"run the harness under {QEMU}",
        )

    return verify_with(qm, x, f"aarch64 {target.name} ({target.cpu}, {QEMU})", build_and_run, workdir)
