"""Flash, RAM and instructions per step of the model on the Cortex-M cores asked for.

Measured, not estimated, with the machinery of ``edgegru bench --target cortex-m``: the
footprint by compiling the model's C with arm-none-eabi-gcc, the instructions by running
the bench firmware under unicorn. A report must still come out on a machine without those
tools, so a missing one skips its figures with the reason stated on the page.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field

from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.footprint import Footprint, measure_footprint
from edgegru.targets.cortex_m.instructions import InstructionCount, count_step_instructions

ARM_GCC = "arm-none-eabi-gcc"


@dataclass
class CoreFigures:
    """One core's measurements; a figure not measured is None, with its reason in ``skipped``."""

    cpu: str
    footprint: Footprint | None = None
    instructions: InstructionCount | None = None
    skipped: list[str] = field(default_factory=list)


def missing_tools(cpu: str) -> tuple[str | None, str | None]:
    """Why the footprint and the instruction count cannot be measured for ``cpu`` here
    (None for each that can)."""
    core = get_core(cpu)
    if shutil.which(ARM_GCC) is None:
        reason = f"{ARM_GCC} not found (Debian: gcc-arm-none-eabi)"
        return reason, reason
    if importlib.util.find_spec("unicorn") is None:
        return None, "unicorn is not installed (pip install 'edgegru[bench]')"
    if core.unicorn_cpu is None:
        return None, f"unicorn has no model of the {cpu}"
    return None, None


def measure_cores(qm: QuantizedModel, cpus: list[str]) -> list[CoreFigures]:
    """The footprint and the instructions per step of ``qm`` on each core in ``cpus``."""
    figures = []
    for cpu in cpus:
        no_footprint, no_count = missing_tools(cpu)
        found = CoreFigures(cpu)
        if no_footprint is None:
            found.footprint = measure_footprint(qm, cpu)
        else:
            found.skipped.append(f"footprint not measured: {no_footprint}")
        if no_count is None:
            found.instructions = count_step_instructions(qm, cpu)
        else:
            found.skipped.append(f"instructions not counted: {no_count}")
        figures.append(found)
    return figures
