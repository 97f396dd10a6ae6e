"""Cortex-M: verify generated C under QEMU, measure its footprint, count its instructions.

Verification runs the same generated harness as the host check, built with
arm-none-eabi-gcc and the firmware start-up in ``firmware/``, on the QEMU board
of the chosen core; input and output travel through semihosted files.

The footprint is measured on the model's own object file (arm-none-eabi-size),
and the worst-case stack of ``<prefix>_step`` from gcc's call-graph and stack
usage output (``-fcallgraph-info=su``), so the numbers are what the linker will
place, not estimates.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.codegen.export import layout_for
from edgegru.codegen.render import render, render_bench
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import run_tool
from edgegru.quant.activations import SIGMOID_TABLE
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.cortex_m.cores import Target, get_target
from edgegru.targets.cortex_m.qemu import C_FLAGS, GCC, build_firmware, run_qemu
from edgegru.targets.verify import VerifyReport, verify_with, write_sources

FOOTPRINT_OPT = "-Os"  # what size-conscious firmware builds use; also reported
SLACK_FLASH = 2048
SLACK_STACK = 512


LAYOUT = layout_for("cortex-m")
PORTABLE_FLAG = "-DEDGEGRU_PORTABLE_KERNELS"


def kernel_flags(portable: bool) -> tuple[str, ...]:
    """Compiler flags that pick the portable kernels even on a DSP core."""
    return (PORTABLE_FLAG,) if portable else ()


def kernels_used(target: Target, portable: bool) -> str:
    """Which kernels the preprocessor picks in the generated C for this core."""
    return "dsp" if target.has_dsp and not portable else "portable"


COMPILERS = ("gcc", "clang")
"""Compilers of the model's C for verify_cortex_m; the firmware around it is always
built and linked by arm-none-eabi-gcc with newlib."""


def verify_cortex_m(
    qm: QuantizedModel,
    x: np.ndarray,
    cpu: str = "cortex-m4",
    *,
    portable: bool = False,
    prefix: str = "model",
    opt: str = "-O2",
    defines: tuple[str, ...] = (),
    cc: str = "gcc",
    timeout: float = 300,
    workdir: Path | None = None,
) -> VerifyReport:
    """Build for ``cpu``, run under QEMU and compare every value with the reference.

    ``portable`` builds the portable kernels even on a core with the DSP extension;
    ``defines`` are further -D flags (e.g. EDGEGRU_NO_ASM, for the C kernel loops);
    ``cc="clang"`` compiles the model's C with clang (the compiler of Arm Compiler 6 and
    LLVM toolchains), which gets the C loops rather than GCC's inline assembly.
    """
    if cc not in COMPILERS:
        raise EdgeGruError(f"compiler {cc!r}: expected one of {', '.join(COMPILERS)}")
    target = get_target(cpu)
    flags = kernel_flags(portable) + tuple(f"-D{d}" for d in defines)

    def build_and_run(directory: Path, input_path: Path) -> None:
        model_c, harness_c = write_sources(qm, directory, prefix, LAYOUT)
        model = clang_object(target, model_c, opt, flags) if cc == "clang" else model_c
        elf = build_firmware(target, [model, harness_c], [directory], directory / "build", flags, opt=opt)
        args = [input_path.name, "output.bin"]
        run_qemu(target, elf, cwd=directory, timeout=timeout, args=args).check()

    kernels = kernels_used(target, portable)
    built = " ".join((*(("clang",) if cc == "clang" else ()), opt, *(f"-D{d}" for d in defines)))
    name = f"{target.cpu} on qemu {target.qemu_machine} ({kernels} kernels, {built})"
    return verify_with(qm, x, name, build_and_run, workdir)


def clang_object(target: Target, source: Path, opt: str, flags: tuple[str, ...]) -> Path:
    """Compile ``source`` with clang for ``target`` (strict C99 warnings as errors), against
    the newlib headers arm-none-eabi-gcc uses, so that gcc can link the object."""
    # clang takes the FPU from -mcpu and has no -mfpu=auto; arm-none-eabi-gcc's ABI has
    # variable-size enums, clang's default int-size ones
    target_flags = [f for f in target.gcc_flags if f != "-mfpu=auto"] + ["-fshort-enums"]
    obj = source.with_suffix(".o")
    run_tool(
        [
            "clang",
            "--target=arm-none-eabi",
            *target_flags,
            opt,
            *C_FLAGS,
            *flags,
            *(f"-isystem{d}" for d in _newlib_includes(target)),
            f"-I{source.parent}",
            "-c",
            str(source),
            "-o",
            str(obj),
        ],
        f"compile {source.name} with clang for {target.cpu}",
    )
    return obj


def _newlib_includes(target: Target) -> list[str]:
    """newlib's header directory, beside the libc.a arm-none-eabi-gcc links for ``target``
    (clang brings its own compiler headers but no C library)."""
    libc = Path(run_tool([GCC, *target.gcc_flags, "-print-file-name=libc.a"], "find newlib").strip())
    for directory in libc.resolve().parents:
        if (directory / "include" / "string.h").is_file():
            return [str(directory / "include")]
    raise EdgeGruError(f"no newlib headers beside {libc}: install libnewlib-arm-none-eabi")


@dataclass
class Footprint:
    """Bytes of flash and RAM one model costs on a core."""

    cpu: str
    opt: str
    code: int  # machine code of the model's functions
    constants: int  # weights, biases, multipliers, tables (.rodata)
    state: int  # sizeof(<prefix>_state_t), owned by the caller
    stack: int  # worst-case stack of <prefix>_step, scratch buffers included
    weight_bytes: int
    const_bytes: int

    @property
    def flash(self) -> int:
        return self.code + self.constants

    @property
    def ram(self) -> int:
        return self.state + self.stack

    def as_dict(self) -> dict[str, int | str]:
        return {
            "cpu": self.cpu,
            "opt": self.opt,
            "flash_bytes": self.flash,
            "code_bytes": self.code,
            "constant_bytes": self.constants,
            "ram_bytes": self.ram,
            "state_bytes": self.state,
            "stack_bytes": self.stack,
        }

    def table(self) -> str:
        return (
            f"flash {self.flash} B (code {self.code}, constants {self.constants}); "
            f"RAM {self.ram} B (state {self.state}, step stack {self.stack}) on {self.cpu} {self.opt}"
        )


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_STACK = re.compile(r"(\d+) bytes \((static|dynamic|dynamic,bounded)\)")


def _worst_stack(ci_text: str, root: str) -> int:
    """Deepest stack from ``root`` through gcc's call graph (.ci file)."""
    frames: dict[str, int] = {}
    for title, label in _NODE.findall(ci_text):
        found = _STACK.search(label.replace("\\n", " "))
        frames[title] = int(found.group(1)) if found else 0
        if found and found.group(2) == "dynamic":
            raise EdgeGruError(f"{title} has an unbounded stack frame")
    calls: dict[str, list[str]] = {}
    for source, dest in _EDGE.findall(ci_text):
        calls.setdefault(source, []).append(dest)

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in seen:
            raise EdgeGruError(f"recursion through {name} in the generated C")
        return frames.get(name, 0) + max((depth(c, seen | {name}) for c in calls.get(name, [])), default=0)

    roots = [t for t in frames if t == root or t.endswith(":" + root)]
    if not roots:
        raise EdgeGruError(f"no {root} in the call graph")
    return depth(roots[0], frozenset())


def measure_footprint(
    qm: QuantizedModel,
    cpu: str,
    prefix: str = "model",
    opt: str = FOOTPRINT_OPT,
) -> Footprint:
    """Compile the model alone for ``cpu`` and read its sizes."""
    target = get_target(cpu)
    rendered = render(qm, prefix, LAYOUT)
    with tempfile.TemporaryDirectory(prefix="edgegru-size-") as tmp:
        d = Path(tmp)
        rendered.write(d)
        probe = d / "state_size.c"
        probe.write_text(
            f'#include "{prefix}.h"\nconst unsigned edgegru_state_size = sizeof({prefix}_state_t);\n'
        )
        obj = d / f"{prefix}.o"
        flags = [*target.gcc_flags, "-std=c99", opt, "-ffunction-sections", "-fdata-sections"]
        run_tool(
            [
                "arm-none-eabi-gcc",
                *flags,
                "-fcallgraph-info=su",
                "-c",
                str(d / f"{prefix}.c"),
                "-o",
                str(obj),
            ],
            f"compile the model for {cpu}",
        )
        state_obj = d / "state_size.o"
        run_tool(["arm-none-eabi-gcc", *flags, "-c", str(probe), "-o", str(state_obj)], "size the state")
        code, constants = _code_and_constants(obj)
        state = _read_const_u32(state_obj, "edgegru_state_size")
        stack = _worst_stack((d / f"{prefix}.ci").read_text(), f"{prefix}_step")
    return Footprint(cpu, opt, code, constants, state, stack, rendered.weight_bytes, rendered.const_bytes)


def _code_and_constants(obj: Path) -> tuple[int, int]:
    """(code, constants) bytes of an object file: .text* and .rodata* + .data* sections.

    Read from ``arm-none-eabi-size -A``; with -ffunction-sections and -fdata-sections
    every function and array has its own section.
    """
    out = run_tool(["arm-none-eabi-size", "-A", str(obj)], "measure the footprint")
    code = constants = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            name, size = parts[0], int(parts[1])
            if name.startswith(".text"):
                code += size
            elif name.startswith((".rodata", ".data")):
                constants += size
    return code, constants


def _read_const_u32(obj: Path, symbol: str) -> int:
    out = run_tool(["arm-none-eabi-objdump", "-s", "-j", f".rodata.{symbol}", str(obj)], f"read {symbol}")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{4}", parts[0]):
            return int.from_bytes(bytes.fromhex(parts[1]), "little")
    raise EdgeGruError(f"cannot read {symbol} from {obj}")


def footprint_limits(qm: QuantizedModel, fp: Footprint) -> tuple[int, int]:
    """The issue's targets: flash <= weights + consts + 2 KB; RAM <= state + 6H + 512."""
    table = SIGMOID_TABLE.size * 2  # the activation table counts against the 2 KB, like the code
    flash_limit = fp.weight_bytes + fp.const_bytes - table + SLACK_FLASH
    ram_limit = fp.state + 6 * max(qm.hidden_sizes) + SLACK_STACK
    return flash_limit, ram_limit


def check_budget(fp: Footprint, flash_budget: int | None, ram_budget: int | None, qm: QuantizedModel) -> None:
    """Refuse an export that does not fit, saying by how much and what to shrink."""
    hints = "shrink the hidden size or use fewer layers"
    if flash_budget is not None and fp.flash > flash_budget:
        raise EdgeGruError(
            f"model needs {fp.flash} bytes of flash, {fp.flash - flash_budget} over the "
            f"--flash-budget of {flash_budget} on {fp.cpu}: {hints}"
        )
    if qm.state_bits == 16:
        hints += ", or use int8 state (quantize --state-bits 8)"
    if ram_budget is not None and fp.ram > ram_budget:
        raise EdgeGruError(
            f"model needs {fp.ram} bytes of RAM (state {fp.state} + stack {fp.stack}), "
            f"{fp.ram - ram_budget} over the --ram-budget of {ram_budget} on {fp.cpu}: {hints}"
        )


@dataclass
class InstructionCount:
    """Executed instructions of one ``<prefix>_step`` on a core, counted under unicorn.

    ``in_kernels`` is the part spent in the dot-product kernels (the mat-vecs),
    attributed instruction by instruction through the DWARF line tables: an
    instruction counts as kernel work when a kernel is anywhere in its inline chain,
    so kernels inlined into the unit loop are still recognised. ``by_function``
    splits the step by the innermost (inlined) function of each instruction, which
    shows where the work outside the kernels goes; ``in_step`` is the part of it in
    ``<prefix>_step`` itself, in memcpy and in the bench loop: the per-step widening of
    the input and copies of the outputs and (memcpy) of the int16 state, rather than the
    units' gate work.
    """

    cpu: str
    kernels: str
    opt: str
    per_step: float
    in_kernels: float
    macs: int
    hidden_units: int
    by_function: dict[str, float]
    in_step: float

    @property
    def per_mac(self) -> float:
        return self.per_step / self.macs

    @property
    def kernel_per_mac(self) -> float:
        return self.in_kernels / self.macs

    @property
    def other_per_unit(self) -> float:
        """Instructions outside the mat-vecs per hidden unit, the per-step copies included."""
        return (self.per_step - self.in_kernels) / self.hidden_units

    @property
    def gates_per_unit(self) -> float:
        """The units' own work outside the mat-vecs (gates, activations, update, unit loop)."""
        return (self.per_step - self.in_kernels - self.in_step) / self.hidden_units


KERNEL_FUNCTIONS = re.compile(r"^(dot\d|dot_row)$")


def step_macs(qm: QuantizedModel) -> int:
    """Multiply-accumulates of one step: 3·H·(D+H) per layer, plus the head."""
    total, size = 0, qm.input_size
    for h in qm.hidden_sizes:
        total += 3 * h * (size + h)
        size = h
    return total + (qm.head.output_size * size if qm.head else 0)


def _inline_chains(elf: Path, addresses: list[int]) -> dict[int, list[str]]:
    """Address -> the functions it belongs to, innermost inlined one first (addr2line -i)."""
    cmd = ["arm-none-eabi-addr2line", "-f", "-i", "-a", "-e", str(elf), *(hex(a) for a in addresses)]
    out = run_tool(cmd, "attribute instructions to functions").splitlines()
    chains: dict[int, list[str]] = {}
    current: list[str] = []
    for line in out:
        if line.startswith("0x"):
            current = chains.setdefault(int(line, 16), [])
        elif ":" not in line:
            current.append(line.strip())
    return chains


def count_step_instructions(
    qm: QuantizedModel,
    cpu: str,
    *,
    portable: bool = False,
    opt: str = "-O2",
    steps: int = 8,
    prefix: str = "model",
) -> InstructionCount:
    """Instructions per step: run the bench firmware for K and 2K steps, divide the difference.

    The same ELF runs both (only ``bench_steps`` is patched), so start-up and
    set-up cancel out exactly; the count is deterministic.
    """
    from edgegru.targets.cortex_m.icount import count_instructions

    target = get_target(cpu)
    values = np.random.default_rng(0).integers(-64, 64, qm.input_size)
    with tempfile.TemporaryDirectory(prefix="edgegru-icount-") as tmp:
        d = Path(tmp)
        render(qm, prefix, LAYOUT).write(d)
        bench = d / f"{prefix}_bench.c"
        inputs = ", ".join(str(int(v)) for v in values)
        bench.write_text(render_bench(prefix, "bench_cortex_m.c.j2", input_values=inputs))
        # -g adds line tables only; the machine code is the same as without it
        sources = [d / f"{prefix}.c", bench]
        flags = ("-g", *kernel_flags(portable))
        elf = build_firmware(target, sources, [d], d / "build", flags, opt=opt, bench=True)
        runs = []
        for k in (steps, 2 * steps):
            executed: dict[int, int] = {}
            total = count_instructions(
                target, elf, patches={"bench_steps": k.to_bytes(4, "little")}, executed=executed
            )
            runs.append((total, executed))
        chains = _inline_chains(elf, sorted(runs[1][1]))
    diff = {a: n - runs[0][1].get(a, 0) for a, n in runs[1][1].items()}
    in_kernels = sum(n for a, n in diff.items() if any(KERNEL_FUNCTIONS.match(f) for f in chains.get(a, [])))
    by_function: dict[str, float] = {}
    for address, n in diff.items():
        name = chains.get(address, ["?"])[0]
        by_function[name] = by_function.get(name, 0.0) + n / steps
    return InstructionCount(
        target.cpu,
        kernels_used(target, portable),
        opt,
        (runs[1][0] - runs[0][0]) / steps,
        in_kernels / steps,
        step_macs(qm),
        sum(qm.hidden_sizes),
        {name: count for name, count in by_function.items() if count > 0},
        sum(by_function.get(name, 0.0) for name in (f"{prefix}_step", "memcpy", "main")),
    )


def _bench_model(d: int, h: int, variant: str, state_bits: int = 16, head: bool = False) -> QuantizedModel:
    """The random one-layer model the Cortex-M tables measure (4-class head when asked)."""
    from edgegru.quant.synthetic import random_qmodel

    head_kind = "classification" if head else None
    return random_qmodel(d, [h], variant, head_kind, state_bits, output_size=4, calibration=(8, 20))


def footprint_rows(cpus: list[str], shapes: Sequence[tuple[int, int]], variant: str = "reset_after") -> str:
    """The footprint table of ``edgegru bench --target cortex-m``: both state widths, against the targets."""
    lines = [
        "| cpu | D->H | state | int8 weights | other constants | flash: code + constants | flash target "
        "| RAM: state + stack | RAM target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d, h in shapes:
        for bits in (16, 8):
            qm = _bench_model(d, h, variant, bits, head=True)
            for cpu in cpus:
                fp = measure_footprint(qm, cpu)
                flash_limit, ram_limit = footprint_limits(qm, fp)
                flash_ok = "ok" if fp.flash <= flash_limit else "OVER"
                ram_ok = "ok" if fp.ram <= ram_limit else "OVER"
                lines.append(
                    f"| {cpu} | {d}->{h} | int{bits} | {fp.weight_bytes} | {fp.constants - fp.weight_bytes} "
                    f"| {fp.flash} = {fp.code} + {fp.constants} | {flash_limit} {flash_ok} "
                    f"| {fp.ram} = {fp.state} + {fp.stack} | {ram_limit} {ram_ok} |"
                )
    return "\n".join(lines)


def function_table(counts: list[tuple[str, InstructionCount]], top: int = 8) -> str:
    """Instructions per hidden unit by innermost function, the largest first (kernels excluded)."""
    lines = []
    for shape, c in counts:
        rest = sorted(
            ((n / c.hidden_units, f) for f, n in c.by_function.items() if not KERNEL_FUNCTIONS.match(f)),
            reverse=True,
        )
        shown = ", ".join(f"{f} {n:.1f}" for n, f in rest[:top])
        lines.append(f"{c.cpu:14s} {shape:>8s}  {shown}")
    return "\n".join(lines)


def instruction_table(
    cpus: list[str],
    shapes: Sequence[tuple[int, int]],
    variant: str = "reset_after",
    counts: list[tuple[str, InstructionCount]] | None = None,
) -> str:
    """The per-step instruction table of ``edgegru bench --target cortex-m``.

    ``counts``, when given, receives every (shape, count) measured, for
    :func:`function_table`.
    """
    lines = [
        f"{'cpu':14s} {'kernels':8s} {'D->H':>8s} {'MACs':>7s} {'instr/step':>11s} "
        f"{'instr/MAC':>10s} {'mat-vec instr/MAC':>18s} {'other instr/unit':>17s} {'gates/unit':>11s}"
    ]
    for d, h in shapes:
        qm = _bench_model(d, h, variant)
        for cpu in cpus:
            c = count_step_instructions(qm, cpu)
            if counts is not None:
                counts.append((f"{d}->{h}", c))
            lines.append(
                f"{c.cpu:14s} {c.kernels:8s} {f'{d}->{h}':>8s} {c.macs:7d} {c.per_step:11.0f} "
                f"{c.per_mac:10.2f} {c.kernel_per_mac:18.2f} {c.other_per_unit:17.1f} "
                f"{c.gates_per_unit:11.1f}"
            )
    return "\n".join(lines)
