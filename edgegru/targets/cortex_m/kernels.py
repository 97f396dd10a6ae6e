"""Which layout and which dot-product kernels the generated C uses on a Cortex-M core.

The exported C picks its kernels with the preprocessor: the DSP kernels on a core with
the DSP extension, the portable ones elsewhere or when ``EDGEGRU_PORTABLE_KERNELS`` is
defined. Verification, instruction counts and the reports all need to agree on that
choice, so it is written down once here.
"""

from __future__ import annotations

from edgegru.codegen.export import layout_for
from edgegru.targets.cortex_m.cores import Core

LAYOUT = layout_for("cortex-m")
PORTABLE_FLAG = "-DEDGEGRU_PORTABLE_KERNELS"


def kernel_flags(portable: bool) -> tuple[str, ...]:
    """Compiler flags that pick the portable kernels even on a DSP core."""
    return (PORTABLE_FLAG,) if portable else ()


def kernels_used(core: Core, portable: bool) -> str:
    """Which kernels the preprocessor picks in the generated C for this core."""
    return "dsp" if core.has_dsp and not portable else "portable"
