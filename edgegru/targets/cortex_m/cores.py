"""The Cortex-M cores edgegru builds for, and where each one runs under QEMU.

One table holds, per core, everything the toolchain and the emulators need: the gcc
flags (instruction set and floating-point ABI), whether the DSP extension is there,
the QEMU board that emulates it, and that board's memory map, from which the linker
script's memory regions are written. Keeping it in one place is what lets a test
loop over "every core" and a user switch cores with one name.

Memory maps are those of QEMU 7.2's boards (hw/arm/mps2.c, mps2-tz.c, nrf51_soc.c),
checked by running the test firmware on each:

- microbit (nRF51822, a Cortex-M0): flash 0x00000000 256 KiB, RAM 0x20000000 16 KiB.
- mps2-an385/an386/an500: ZBT SSRAM1 0x00000000 4 MiB (code), SSRAM2&3
  0x20000000 4 MiB.
- mps2-an505 (SSE-200 "IoTKit", TrustZone): the core resets in Secure state with its
  vector table at 0x10000000, the Secure alias of SSRAM1 (4 MiB); data goes to the
  Secure alias 0x38000000 of SSRAM2&3 (4 MiB).
- mps3-an547 (SSE-300): the core resets at 0x00000000, its 512 KiB ITCM; data goes
  to the 512 KiB DTCM at 0x20000000.

Cycle estimates (``edgegru bench MODEL --target cortex-m``) are instructions divided by
the most instructions a core can retire per cycle, so they are lower bounds, labelled as
such: no emulator here models a pipeline, wait states or a bus. The figure per core is its
issue width from Arm's Technical Reference Manuals: the Cortex-M0+, M3, M4 and M33 are
single-issue (at most one instruction per cycle; loads, taken branches and flash wait
states only add cycles), the Cortex-M7 dual-issues (at most two). Each core's example
clock is the maximum of a common part built on it, named beside it, and only scales the
estimate into microseconds; ``--clock`` gives the part's real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgegru.core.errors import EdgeGruError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class MemoryRegion:
    """A contiguous address range: where code (FLASH) or data (RAM) is linked."""

    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Core:
    """One Cortex-M core: how to compile for it and where it runs."""

    cpu: str
    gcc_flags: tuple[str, ...]
    has_fpu: bool
    has_dsp: bool
    has_mve: bool
    qemu_machine: str
    flash: MemoryRegion
    ram: MemoryRegion
    unicorn_cpu: str | None
    """Name of the unicorn CPU model (``UC_CPU_ARM_<name>``); None if unicorn has none."""
    issue_width: int | None
    """The most instructions retired per cycle (Arm's TRM), for the cycle lower bound;
    None where no figure is given."""
    example_mhz: int | None
    """The maximum clock of a common part with this core (``example_part``)."""
    example_part: str | None

    def memory_ld(self) -> str:
        """The MEMORY block included by the harness linker script (edgegru_memory.ld)."""
        return (
            f"/* Memory map for {self.cpu} on QEMU's {self.qemu_machine} board. */\n"
            "MEMORY\n{\n"
            f"    FLASH (rx)  : ORIGIN = {self.flash.origin:#010x}, "
            f"LENGTH = {self.flash.length:#x}\n"
            f"    RAM   (rwx) : ORIGIN = {self.ram.origin:#010x}, "
            f"LENGTH = {self.ram.length:#x}\n"
            "}\n"
        )


def _thumb(cpu: str, *fpu: str) -> tuple[str, ...]:
    float_abi = ("-mfloat-abi=hard", *fpu) if fpu else ("-mfloat-abi=soft",)
    return (f"-mcpu={cpu}", "-mthumb", *float_abi)


_MPS2_CODE = MemoryRegion(0x0000_0000, 4 * MIB)
_MPS2_DATA = MemoryRegion(0x2000_0000, 4 * MIB)

CORES: dict[str, Core] = {
    t.cpu: t
    for t in (
        # The micro:bit's core is a Cortex-M0; -mcpu=cortex-m0plus emits the same
        # ARMv6-M instruction set (and schedules for the M0+ pipeline).
        Core(
            cpu="cortex-m0plus",
            gcc_flags=_thumb("cortex-m0plus"),
            has_fpu=False,
            has_dsp=False,
            has_mve=False,
            qemu_machine="microbit",
            flash=MemoryRegion(0x0000_0000, 256 * KIB),
            ram=MemoryRegion(0x2000_0000, 16 * KIB),
            unicorn_cpu="CORTEX_M0",
            issue_width=1,
            example_mhz=48,
            example_part="Microchip SAM D21",
        ),
        Core(
            cpu="cortex-m3",
            gcc_flags=_thumb("cortex-m3"),
            has_fpu=False,
            has_dsp=False,
            has_mve=False,
            qemu_machine="mps2-an385",
            flash=_MPS2_CODE,
            ram=_MPS2_DATA,
            unicorn_cpu="CORTEX_M3",
            issue_width=1,
            example_mhz=72,
            example_part="STM32F103",
        ),
        Core(
            cpu="cortex-m4",
            gcc_flags=_thumb("cortex-m4", "-mfpu=fpv4-sp-d16"),
            has_fpu=True,
            has_dsp=True,
            has_mve=False,
            qemu_machine="mps2-an386",
            flash=_MPS2_CODE,
            ram=_MPS2_DATA,
            unicorn_cpu="CORTEX_M4",
            issue_width=1,
            example_mhz=168,
            example_part="STM32F407",
        ),
        # QEMU's Cortex-M7 has the double-precision FPU, hence fpv5-d16.
        Core(
            cpu="cortex-m7",
            gcc_flags=_thumb("cortex-m7", "-mfpu=fpv5-d16"),
            has_fpu=True,
            has_dsp=True,
            has_mve=False,
            qemu_machine="mps2-an500",
            flash=_MPS2_CODE,
            ram=_MPS2_DATA,
            unicorn_cpu="CORTEX_M7",
            issue_width=2,
            example_mhz=216,
            example_part="STM32F746",
        ),
        Core(
            cpu="cortex-m33",
            gcc_flags=_thumb("cortex-m33", "-mfpu=fpv5-sp-d16"),
            has_fpu=True,
            has_dsp=True,
            has_mve=False,
            qemu_machine="mps2-an505",
            flash=MemoryRegion(0x1000_0000, 4 * MIB),
            ram=MemoryRegion(0x3800_0000, 4 * MIB),
            unicorn_cpu="CORTEX_M33",
            issue_width=1,
            example_mhz=110,
            example_part="STM32L552",
        ),
        # gcc 12's cortex-m55 includes MVE (integer and float) and the FPU;
        # -mfpu=auto takes them from -mcpu. unicorn 2.1 has no Cortex-M55 model.
        Core(
            cpu="cortex-m55",
            gcc_flags=_thumb("cortex-m55", "-mfpu=auto"),
            has_fpu=True,
            has_dsp=True,
            has_mve=True,
            qemu_machine="mps3-an547",
            flash=MemoryRegion(0x0000_0000, 512 * KIB),
            ram=MemoryRegion(0x2000_0000, 512 * KIB),
            unicorn_cpu=None,
            issue_width=None,  # no instruction count to bound, and no figure checked here
            example_mhz=None,
            example_part=None,
        ),
    )
}

DEFAULT_CORE = "cortex-m4"


def as_core(core: Core | str) -> Core:
    """Accept a Core or a core name, so callers can pass either."""
    return core if isinstance(core, Core) else get_core(core)


def get_core(cpu: str) -> Core:
    """Look up a core by name, e.g. ``"cortex-m4"``."""
    try:
        return CORES[cpu]
    except KeyError:
        raise EdgeGruError(f"unknown target {cpu!r}: expected one of {', '.join(CORES)}") from None
