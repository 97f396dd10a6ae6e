"""The Raspberry Pi models the emulation stands in for, and the OS they run.

A board is its core (what QEMU emulates and gcc's ``-mcpu`` tunes for) and the
``/proc/cpuinfo`` its Raspberry Pi OS kernel prints: LiteRT parses that file when it
creates an Interpreter, so each emulated board shows its own (see :mod:`.root`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgegru.core.errors import EdgeGruError

SUITE = "bookworm"  # the Debian base of Raspberry Pi OS (64-bit) bookworm
GUEST_PYTHON = (3, 11)  # bookworm's python3


@dataclass(frozen=True)
class Board:
    """A Raspberry Pi model: the QEMU (and gcc -mcpu) core and what its /proc/cpuinfo says."""

    name: str
    title: str
    cpu: str
    cpu_variant: int
    cpu_part: int
    cpu_revision: int
    features: str
    revision: str

    def cpuinfo(self) -> str:
        """/proc/cpuinfo as the board's Raspberry Pi OS kernel prints it (4 cores)."""
        core = (
            "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\n"
            "CPU architecture: 8\nCPU variant\t: {v:#x}\nCPU part\t: {p:#05x}\n"
            "CPU revision\t: {r}\n\n"
        )
        cores = "".join(
            core.format(i=i, f=self.features, v=self.cpu_variant, p=self.cpu_part, r=self.cpu_revision)
            for i in range(4)
        )
        return f"{cores}Revision\t: {self.revision}\nModel\t\t: {self.title}\n"


BOARDS = {
    "pi4": Board(
        "pi4", "Raspberry Pi 4 Model B Rev 1.4", "cortex-a72", 0x0, 0xD08, 3,
        "fp asimd evtstrm crc32 cpuid", "c03114",
    ),
    "pi5": Board(
        "pi5", "Raspberry Pi 5 Model B Rev 1.0", "cortex-a76", 0x4, 0xD0B, 1,
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
        "dcpop asimddp", "d04170",
    ),
}  # fmt: skip


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise EdgeGruError(f"board {name!r}: expected one of {', '.join(BOARDS)}")
    return BOARDS[name]
