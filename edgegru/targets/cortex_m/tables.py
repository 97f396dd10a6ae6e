"""The Cortex-M tables of ``edgegru bench --target cortex-m``: instructions and footprint.

Without a model, each table measures random one-layer models
(:func:`edgegru.quant.synthetic.random_qmodel`) of the given shapes on each core; with one
(``edgegru bench MODEL``), that model on each core, with a cycle estimate. One row per
measurement.
"""

from __future__ import annotations

from collections.abc import Sequence

from edgegru.quant.qmodel import QuantizedModel
from edgegru.quant.synthetic import random_qmodel
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.footprint import footprint_limits, measure_footprint
from edgegru.targets.cortex_m.instructions import KERNEL_FUNCTIONS, InstructionCount, count_step_instructions


def _bench_model(d: int, h: int, variant: str, state_bits: int = 16, head: bool = False) -> QuantizedModel:
    """The random one-layer model the Cortex-M tables measure (4-class head when asked)."""
    head_kind = "classification" if head else None
    return random_qmodel(d, [h], variant, head_kind, state_bits, output_size=4, calibration=(8, 20))


def footprint_rows(cpus: list[str], shapes: Sequence[tuple[int, int]], variant: str = "reset_after") -> str:
    """The footprint table of ``edgegru bench --target cortex-m``: both state widths, against the limits."""
    lines = _footprint_header("D->H")
    for d, h in shapes:
        for bits in (16, 8):
            qm = _bench_model(d, h, variant, bits, head=True)
            lines += (_footprint_line(qm, cpu, f"{d}->{h}") for cpu in cpus)
    return "\n".join(lines)


def model_footprint_rows(qm: QuantizedModel, cpus: list[str]) -> str:
    """The footprint of one model on each core, in the columns of :func:`footprint_rows`."""
    shape = "->".join(str(n) for n in (qm.input_size, *qm.hidden_sizes))
    return "\n".join([*_footprint_header("model"), *(_footprint_line(qm, cpu, shape) for cpu in cpus)])


def _footprint_header(shape_column: str) -> list[str]:
    return [
        f"| cpu | {shape_column} | state | int8 weights | other constants | flash: code + constants "
        "| flash target | RAM: state + stack | RAM target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]


def _footprint_line(qm: QuantizedModel, cpu: str, shape: str) -> str:
    fp = measure_footprint(qm, cpu)
    flash_limit, ram_limit = footprint_limits(qm, fp)
    flash_ok = "ok" if fp.flash <= flash_limit else "OVER"
    ram_ok = "ok" if fp.ram <= ram_limit else "OVER"
    return (
        f"| {cpu} | {shape} | int{qm.state_bits} | {fp.weight_bytes} | {fp.constants - fp.weight_bytes} "
        f"| {fp.flash} = {fp.code} + {fp.constants} | {flash_limit} {flash_ok} "
        f"| {fp.ram} = {fp.state} + {fp.stack} | {ram_limit} {ram_ok} |"
    )


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


def model_instruction_table(
    qm: QuantizedModel,
    cpus: list[str],
    clock_mhz: float | None = None,
    counts: list[tuple[str, InstructionCount]] | None = None,
) -> str:
    """Instructions per step of one model on each core, and the cycle estimate: a lower bound,
    instructions / the core's issue width (see :mod:`edgegru.targets.cortex_m.cores`), in µs
    at ``clock_mhz`` or else at the core's example clock. ``counts`` receives each count."""
    lines = [
        f"{'cpu':14s} {'kernels':8s} {'MACs':>7s} {'instr/step':>11s} {'instr/MAC':>10s} "
        f"{'cycles/step >=':>15s} {'clock MHz':>10s} {'us/step >=':>11s}  clock from"
    ]
    for cpu in cpus:
        c = count_step_instructions(qm, cpu)
        if counts is not None:
            counts.append(("model", c))
        core = get_core(cpu)
        mhz = clock_mhz if clock_mhz is not None else core.example_mhz
        if core.issue_width is None or mhz is None:
            estimate = f"{'n/a':>15s} {'n/a':>10s} {'n/a':>11s}  no issue width or clock stated for {cpu}"
        else:
            cycles = c.per_step / core.issue_width
            source = "--clock" if clock_mhz is not None else f"{core.example_part} (example)"
            estimate = f"{cycles:15.0f} {mhz:10g} {cycles / mhz:11.2f}  {source}"
        lines.append(
            f"{c.cpu:14s} {c.kernels:8s} {c.macs:7d} {c.per_step:11.0f} {c.per_mac:10.2f} {estimate}"
        )
    return "\n".join(lines)
