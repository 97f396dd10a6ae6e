"""Instructions per step of the C engine on aarch64, counted exactly with unicorn.

Emulated time says little about a real Pi (QEMU slows NEON code more than scalar code), and
the qemu-user here has no TCG plugins to count instructions. So the step is counted the way
:mod:`edgegru.targets.cortex_m.icount` counts Cortex-M firmware: the engine's sources (the
generated C and the shim, exactly as the Pi's library is built, with the board's ``-mcpu``)
are cross-compiled into a static image without a C library, loaded into unicorn's AArch64
CPU, and ``edgegru_engine_step`` (or ``edgegru_engine_step_float``) is called directly,
once per time step with the state carried. A block hook adds each executed block's size /
4 (AArch64 instructions are all 4 bytes), so the count is exact. The image's only library
functions, memcpy and memset (where GCC calls rather than inlines them), are plain byte
loops here where the Pi's library calls glibc's, so their instructions are left out and
their calls counted instead: the count is the engine's own code, as a trace of the Pi's
library under qemu-user (``-singlestep -d nochain,exec -dfilter`` its address range) counts
it; the two agree (docs/raspberry-pi.md).

What this is not: a cycle count. Unicorn has no pipeline, cache or issue-width model, and
its Cortex-A72 stands in for the Pi 5's A76 too (unicorn 2.1 has no A76; ``max`` is used
when the code needs the A76's dot-product instructions).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.codegen.context import output_size
from edgegru.core.elf import MACHINE_AARCH64, ElfImage
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS
from edgegru.engine.build import SHARED_FLAGS, compile_sources, engine_sources, toolchain_for
from edgegru.quant import integer_reference as iref
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.verify import expected, random_stimulus

# memcpy and memset for an image without a C library: byte loops, GCC's calls land here (and
# GCC must not turn the loops back into calls to themselves).
SUPPORT_C = """\
#include <stddef.h>
#define PLAIN_LOOP __attribute__((optimize("no-tree-loop-distribute-patterns")))
PLAIN_LOOP void *memcpy(void *dst, const void *src, size_t n);
PLAIN_LOOP void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) {
        *d++ = *s++;
    }
    return dst;
}
void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--) {
        *d++ = (unsigned char)c;
    }
    return dst;
}
"""
FUNCTIONS = ("edgegru_engine_step", "edgegru_engine_step_float", "edgegru_engine_reset")
LIBRARY_FUNCTIONS = ("memcpy", "memset")  # SUPPORT_C's: their calls are counted, not their loops
_DATA, _STACK, _STOP = 0x7000_0000, 0x7100_0000, 0x7200_0000  # outside the image (linked near 0x400000)
_PAGE = 0x1000
_STACK_BYTES = 1 << 16  # the step's locals (its int16 copies of layer inputs), with room to spare
_MAX_INSTRUCTIONS = 10_000_000  # per call: far above any model's step


@dataclass(frozen=True)
class StepCount:
    """Instructions of one step over ``steps`` steps of random inputs, state carried, in the
    engine's own code."""

    entry: str
    steps: int
    mean: float
    min: int
    max: int
    library_calls: int  # the most calls to memcpy/memset in one step (their work is not counted)


def count_step_instructions(
    qm: QuantizedModel, board: str = "pi4", steps: int = 200, by_block: bool = True
) -> list[StepCount]:
    """The int8 step and the raw-float step (normalise, quantise, step) of the model's engine,
    built for ``board``'s core, counted over ``steps`` random steps each.

    The counted code must compute the integer reference's outputs at every step (else
    EdgeGruError): what is counted is the engine, not a miscompiled image. ``by_block=False``
    counts with a hook per instruction instead (slow; the check of the block count)."""
    from unicorn import UC_ARCH_ARM64, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_MODE_ARM, Uc, UcError
    from unicorn import arm64_const as arm64

    toolchain = toolchain_for(board)
    with tempfile.TemporaryDirectory(prefix="edgegru-engine-icount-") as tmp:
        image = _build_image(qm, Path(tmp), toolchain.cc, toolchain.machine_flags)
        segments, symbols, sizes = _read_elf(image)
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(arm64.UC_CPU_ARM64_A72 if board == "pi4" else arm64.UC_CPU_ARM64_MAX)
    uc.reg_write(arm64.UC_ARM64_REG_CPACR_EL1, 3 << 20)  # FP and Advanced SIMD on at EL0/EL1
    low = min(vaddr for vaddr, _ in segments) & ~(_PAGE - 1)
    high = max(vaddr + len(data) for vaddr, data in segments)
    uc.mem_map(low, (high - low + _PAGE - 1) & ~(_PAGE - 1))
    for vaddr, data in segments:
        uc.mem_write(vaddr, data)
    for base, size in ((_DATA, 16 * _PAGE), (_STACK, _STACK_BYTES), (_STOP, _PAGE)):
        uc.mem_map(base, size)
    uc.mem_write(_STOP, b"\x1f\x20\x03\xd5")  # a NOP where each call returns to, and stops
    executed = [0]

    calls = [0]
    library = [(symbols[name], symbols[name] + sizes[name]) for name in LIBRARY_FUNCTIONS if name in symbols]

    def on_block(_uc: object, address: int, size: int, _data: object) -> None:
        inside = next(((lo, hi) for lo, hi in library if lo <= address < hi), None)
        if inside is None:
            executed[0] += size // 4
        elif address == inside[0]:
            calls[0] += 1

    uc.hook_add(UC_HOOK_BLOCK if by_block else UC_HOOK_CODE, on_block, begin=low, end=high)
    state, x, out = _DATA, _DATA + 8 * _PAGE, _DATA + 12 * _PAGE

    def call(name: str, x_bytes: bytes = b"") -> tuple[int, int]:
        uc.mem_write(x, x_bytes)
        for reg, value in ((arm64.UC_ARM64_REG_X0, state), (arm64.UC_ARM64_REG_X1, x),
                           (arm64.UC_ARM64_REG_X2, out), (arm64.UC_ARM64_REG_X30, _STOP),
                           (arm64.UC_ARM64_REG_SP, _STACK + _STACK_BYTES)):  # fmt: skip
            uc.reg_write(reg, value)
        executed[0] = calls[0] = 0
        try:
            uc.emu_start(symbols[name], _STOP, count=_MAX_INSTRUCTIONS)
        except UcError as exc:
            raise EdgeGruError(f"{name} stopped under unicorn ({board}): {exc}") from None
        if uc.reg_read(arm64.UC_ARM64_REG_PC) != _STOP:
            raise EdgeGruError(f"{name} did not return within {_MAX_INSTRUCTIONS} instructions under unicorn")
        return executed[0], calls[0]

    stimulus = random_stimulus(qm, 3, -(-steps // 3), seed=0).reshape(-1, qm.input_size)[:steps]
    raw = np.random.default_rng(0).normal(size=(steps, qm.input_size)).astype(np.float32)
    n_out = output_size(qm)
    counts = []
    for entry, inputs, xq in (
        ("edgegru_engine_step", stimulus, stimulus),
        ("edgegru_engine_step_float", raw, iref.quantize_input(qm.input, raw)),
    ):
        call("edgegru_engine_reset")
        per_step, library_calls, outputs = [], [], []
        for row in inputs:
            instructions, called = call(entry, row.tobytes())
            per_step.append(instructions)
            library_calls.append(called)
            outputs.append(np.frombuffer(uc.mem_read(out, 4 * n_out), "<i4"))
        want = expected(qm, xq[None].astype(np.int8))[1]
        if not np.array_equal(np.array(outputs), want[0]):
            raise EdgeGruError(
                f"{entry} under unicorn ({board}) does not compute the integer reference's outputs"
            )
        counts.append(
            StepCount(
                entry, steps, float(np.mean(per_step)), min(per_step), max(per_step), max(library_calls)
            )
        )
    return counts


def _build_image(qm: QuantizedModel, directory: Path, cc: str, machine_flags: tuple[str, ...]) -> Path:
    """The engine's sources and SUPPORT_C as a static aarch64 image without a C library,
    compiled as the Pi's library is (SHARED_FLAGS but -shared, the board's -mcpu, strict warnings)."""
    sources = {**engine_sources(qm), "support.c": SUPPORT_C}
    flags = [f for f in SHARED_FLAGS if f != "-shared"]
    cmd = [cc, *STRICT_FLAGS, *flags, *machine_flags, "-static", "-nostdlib", "-Wl,--entry=0"]
    return compile_sources(sources, directory, cmd, "engine.elf", "cross-compile the engine for counting")


def _read_elf(path: Path) -> tuple[list[tuple[int, bytes]], dict[str, int], dict[str, int]]:
    """The loadable segments (address, bytes with .bss zeros), and the addresses and sizes of
    FUNCTIONS and LIBRARY_FUNCTIONS, of the engine's 64-bit image."""
    image = ElfImage.read(path, 64, MACHINE_AARCH64, "the engine image")
    segments = [(seg.run_address, seg.in_memory()) for seg in image.segments]
    found = {name: image.symbols[name] for name in FUNCTIONS + LIBRARY_FUNCTIONS if name in image.symbols}
    missing = [name for name in FUNCTIONS if name not in found]
    if missing:
        raise EdgeGruError(f"{path}: the engine image lacks {', '.join(missing)}")
    return segments, {n: s.address for n, s in found.items()}, {n: s.size for n, s in found.items()}
