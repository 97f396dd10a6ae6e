"""Count the instructions a bench firmware executes, exactly and repeatably.

Method: the ELF (built with ``build_firmware(..., bench=True)``) is loaded into the
unicorn CPU emulator with the core's memory map, started from its vector table like
a reset, and run until it stops through the harness's semihosting exit (BKPT 0xAB).
Instructions are counted per translated basic block: each block's instructions are
decoded once (Thumb-2 instruction lengths) and cached, so the count is exact without
a Python call per instruction. Everything from reset to the exit is counted; to time
one part of a program, run it with two workloads (say K and 2K steps, via a patched
variable, see ``patches``) and take the difference, which cancels start-up and exit.

Why unicorn rather than QEMU: QEMU's ``-icount`` makes the virtual clock advance per
instruction, but the only clock a guest can read, SysTick, ticks at the board's 25 MHz
(one tick per 40 instructions with ``shift=0``) and repeated identical runs gave
different tick counts. unicorn counts every instruction and needs no firmware timer.
Its limits: there is no Cortex-M55 (MVE) model in unicorn 2.1, and it counts
instructions, not cycles (no pipeline, cache or wait-state model).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgegru.core.elf import MACHINE_ARM, ElfImage
from edgegru.core.errors import EdgeGruError
from edgegru.targets.cortex_m.cores import Core, as_core

DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000

# Private Peripheral Bus page with the System Control Block. The harness writes CPACR
# and SHCSR there at reset; unicorn has no SCB, so plain memory absorbs the writes.
_SCS_PAGE = (0xE000_E000, 0x1000)

# QEMU exception numbers that reach unicorn's interrupt hook (target/arm/cpu.h). Faults
# such as undefined instructions or bad addresses stop emu_start with a UcError instead.
_EXCP_BKPT = 7
_EXCEPTION_NAMES = {2: "SVC", _EXCP_BKPT: "BKPT"}

# Semihosting operations that end a program (edgegru_semihost.c uses the first).
_SYS_EXIT_EXTENDED = 0x20
_SYS_EXIT = 0x18
_ADP_STOPPED_APPLICATION_EXIT = 0x20026
_SEMIHOSTING_BKPT = 0xBEAB


def _thumb_instruction_offsets(code: bytes) -> list[int]:
    """Offsets of the instructions in a run of Thumb code: halfwords 0b11101/0b11110/0b11111...
    start a 32-bit instruction, every other halfword is a 16-bit one."""
    offsets = []
    pos = 0
    while pos < len(code):
        offsets.append(pos)
        pos += 4 if code[pos + 1] >> 3 in (0b11101, 0b11110, 0b11111) else 2
    return offsets


def count_instructions(
    core: Core | str,
    elf: Path,
    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
    patches: Mapping[str, bytes] | None = None,
    executed: dict[int, int] | None = None,
) -> int:
    """Instructions executed by a bench firmware from reset to its exit.

    ``patches`` overwrite the initial value of global variables by symbol name before
    the run (e.g. ``{"bench_steps": (1000).to_bytes(4, "little")}``), so one ELF can
    run several workloads. The program must exit with code 0; a non-zero code, a
    crash, or more than ``max_instructions`` instructions raise EdgeGruError.
    ``executed``, when given, receives how often each instruction ran, keyed by its
    address (for attributing counts to source lines, instruction by instruction: after
    inlining one basic block may hold the code of several functions).
    """
    uc_module, arm = _import_unicorn()
    uc, entry = boot(core, elf, patches)
    run = _Run(arm, max_instructions)
    uc.hook_add(uc_module.UC_HOOK_BLOCK, run.on_block)
    uc.hook_add(uc_module.UC_HOOK_INTR, run.on_exception)
    try:
        uc.emu_start(entry, 0xFFFF_FFFF)
    except uc_module.UcError as error:
        pc = uc.reg_read(arm.UC_ARM_REG_PC)
        raise EdgeGruError(
            f"firmware {Path(elf).name} crashed under unicorn at pc={pc:#x}: {error}"
        ) from None
    if executed is not None:
        for key, times in run.block_runs.items():
            for offset in run.block_offsets[key]:
                executed[key[0] + offset] = executed.get(key[0] + offset, 0) + times
    return run.result(Path(elf).name)


def require_countable(core: Core | str) -> Core:
    """The core, if unicorn can count its instructions; else a one-line EdgeGruError."""
    core = as_core(core)
    if core.unicorn_cpu is None:
        raise EdgeGruError(
            f"instruction counting is not available for {core.cpu}: unicorn has no "
            f"model of it; count on a core it has (e.g. cortex-m33) instead"
        )
    return core


def boot(core: Core | str, elf: Path, patches: Mapping[str, bytes] | None = None) -> tuple[Any, int]:
    """A unicorn CPU with ``elf`` loaded as if flashed, at reset: (emulator, entry).

    The stack pointer is set from the vector table; start it with
    ``uc.emu_start(entry, ...)`` (entry has the Thumb bit set).
    """
    core = require_countable(core)
    uc_module, arm = _import_unicorn()
    image = ElfImage.read(elf, 32, MACHINE_ARM, "the firmware")
    uc = uc_module.Uc(uc_module.UC_ARCH_ARM, uc_module.UC_MODE_THUMB | uc_module.UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(getattr(arm, f"UC_CPU_ARM_{core.unicorn_cpu}"))
    regions = [(core.flash.origin, core.flash.length), (core.ram.origin, core.ram.length)]
    for origin, length in [*regions, _SCS_PAGE]:
        uc.mem_map(origin, length)
    for seg in image.segments:
        if not any(o <= seg.load_address and seg.load_address + len(seg.data) <= o + n for o, n in regions):
            raise EdgeGruError(
                f"{elf}: segment at {seg.load_address:#x} lies outside the memory map of "
                f"{core.cpu}; was it built for another target?"
            )
        uc.mem_write(seg.load_address, seg.data)
    _apply_patches(uc, image, elf, patches or {})
    initial_sp, reset = struct.unpack("<II", uc.mem_read(core.flash.origin, 8))
    uc.reg_write(arm.UC_ARM_REG_SP, initial_sp)
    return uc, reset | 1


class _Run:
    """State of one emulation: the instruction count and how it stopped."""

    def __init__(self, arm: Any, max_instructions: int) -> None:
        self.arm = arm
        self.max_instructions = max_instructions
        self.count = 0
        self.block_offsets: dict[tuple[int, int], list[int]] = {}  # instruction offsets per block
        self.block_runs: dict[tuple[int, int], int] = {}  # executions per block
        self.stop: str | None = None
        self.exit_code: int | None = None

    def on_block(self, uc: Any, address: int, size: int, _user: object) -> None:
        key = (address, size)
        offsets = self.block_offsets.get(key)
        if offsets is None:
            offsets = self.block_offsets[key] = _thumb_instruction_offsets(bytes(uc.mem_read(address, size)))
        self.count += len(offsets)
        self.block_runs[key] = self.block_runs.get(key, 0) + 1
        if self.count > self.max_instructions:
            self.stop = f"did not exit within {self.max_instructions} instructions under unicorn"
            uc.emu_stop()

    def on_exception(self, uc: Any, number: int, _user: object) -> None:
        pc = uc.reg_read(self.arm.UC_ARM_REG_PC)
        uc.emu_stop()
        is_semihosting = (
            number == _EXCP_BKPT and int.from_bytes(uc.mem_read(pc & ~1, 2), "little") == _SEMIHOSTING_BKPT
        )
        if not is_semihosting:
            name = _EXCEPTION_NAMES.get(number, f"exception {number}")
            self.stop = f"crashed under unicorn at pc={pc:#x}: {name}"
            return
        operation, argument = (
            uc.reg_read(self.arm.UC_ARM_REG_R0),
            uc.reg_read(self.arm.UC_ARM_REG_R1),
        )
        if operation == _SYS_EXIT_EXTENDED:
            reason, code = struct.unpack("<II", uc.mem_read(argument, 8))
            self.exit_code = code if reason == _ADP_STOPPED_APPLICATION_EXIT else 1
        elif operation == _SYS_EXIT:
            self.exit_code = 0 if argument == _ADP_STOPPED_APPLICATION_EXIT else 1
        else:
            self.stop = (
                f"made semihosting call {operation:#x} under unicorn: bench firmware must "
                "not use semihosting I/O (build it with bench=True)"
            )

    def result(self, name: str) -> int:
        if self.stop is None and self.exit_code is None:
            self.stop = "stopped under unicorn without exiting"
        if self.stop is not None:
            raise EdgeGruError(f"firmware {name} {self.stop}")
        if self.exit_code != 0:
            raise EdgeGruError(f"firmware {name} exited with code {self.exit_code}")
        return self.count


def _apply_patches(uc: Any, image: ElfImage, elf: Path, patches: Mapping[str, bytes]) -> None:
    for name, value in patches.items():
        symbol = image.symbols.get(name)
        if symbol is None:
            raise EdgeGruError(f"{elf}: no symbol {name!r} to patch")
        if len(value) > symbol.size:
            raise EdgeGruError(f"{elf}: patch for {name!r} is {len(value)} bytes, the variable {symbol.size}")
        uc.mem_write(image.load_address_of(symbol.address), bytes(value))


def _import_unicorn() -> tuple[Any, Any]:
    try:
        import unicorn
        from unicorn import arm_const
    except ImportError:
        raise EdgeGruError(
            "instruction counting needs the unicorn package: pip install 'edgegru[bench]'"
        ) from None
    return unicorn, arm_const
