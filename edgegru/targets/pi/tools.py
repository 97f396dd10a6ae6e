"""The host tools the emulated Pi needs, and the one way qemu-user is started.

Missing tools are named together with the Debian package that provides each, so one
error says everything to install.
"""

from __future__ import annotations

import shutil

from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import Board

QEMU = "qemu-aarch64-static"
CROSS_CC = "aarch64-linux-gnu-gcc"
MMDEBSTRAP = "mmdebstrap"
INSTALL_HINTS = {
    QEMU: "apt-get install qemu-user-static",
    MMDEBSTRAP: "apt-get install mmdebstrap",
    CROSS_CC: "apt-get install gcc-aarch64-linux-gnu",
}


def require_tools(*tools: str) -> None:
    """EdgeGruError naming every missing tool and the package that provides it."""
    missing = [f"{t} ({INSTALL_HINTS[t]})" for t in tools if shutil.which(t) is None]
    if missing:
        raise EdgeGruError(f"the emulated Raspberry Pi needs tools not found on PATH: {', '.join(missing)}")


def qemu_command(board: Board) -> list[str]:
    """qemu-aarch64-static on the board's core, never QEMU's default ``max``.

    ``max`` reports SME; XNNPACK then takes SME code paths for int8 that give wrong
    results under QEMU 7.2 (up to 151 LSB off from the first step; exact again with
    ``max,sme=off``). No Pi has SME, so every run names the board's core.
    """
    return [QEMU, "-cpu", board.cpu]
