"""Executed instructions of one generated ``<prefix>_step`` on a Cortex-M core.

The bench firmware runs under unicorn (:mod:`edgegru.targets.cortex_m.icount`) for K and
2K steps; the difference is one step's work, attributed to the functions it ran in
through the DWARF line tables (``arm-none-eabi-addr2line``), so the dot-product kernels
can be told apart from the gate work even when they are inlined.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.codegen.render import render, render_bench
from edgegru.core.toolchain import run_tool
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.icount import count_instructions
from edgegru.targets.cortex_m.kernels import LAYOUT, kernel_flags, kernels_used
from edgegru.targets.cortex_m.qemu import build_firmware


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
    core = get_core(cpu)
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
        elf = build_firmware(core, sources, [d], d / "build", flags, opt=opt, bench=True)
        runs = []
        for k in (steps, 2 * steps):
            executed: dict[int, int] = {}
            total = count_instructions(
                core, elf, patches={"bench_steps": k.to_bytes(4, "little")}, executed=executed
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
        core.cpu,
        kernels_used(core, portable),
        opt,
        (runs[1][0] - runs[0][0]) / steps,
        in_kernels / steps,
        step_macs(qm),
        sum(qm.hidden_sizes),
        {name: count for name, count in by_function.items() if count > 0},
        sum(by_function.get(name, 0.0) for name in (f"{prefix}_step", "memcpy", "main")),
    )
