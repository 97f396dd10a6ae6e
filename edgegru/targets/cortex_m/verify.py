"""Verify generated C bit-exactly on a Cortex-M core under QEMU.

The same generated harness as the host check is built with arm-none-eabi-gcc and the
firmware start-up in ``firmware/``, and run on the QEMU board of the chosen core; input
and output travel through semihosted files, and every value is compared with the
integer reference by :func:`edgegru.targets.verify.verify_with`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.cortex_m.clang import clang_object
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.kernels import LAYOUT, kernel_flags, kernels_used
from edgegru.targets.cortex_m.qemu import build_firmware, run_qemu
from edgegru.targets.verify import VerifyReport, verify_with, write_sources

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
    core = get_core(cpu)
    flags = kernel_flags(portable) + tuple(f"-D{d}" for d in defines)

    def build_and_run(directory: Path, input_path: Path) -> None:
        model_c, harness_c = write_sources(qm, directory, prefix, LAYOUT)
        model = clang_object(core, model_c, opt, flags) if cc == "clang" else model_c
        elf = build_firmware(core, [model, harness_c], [directory], directory / "build", flags, opt=opt)
        args = [input_path.name, "output.bin"]
        run_qemu(core, elf, cwd=directory, timeout=timeout, args=args).check()

    kernels = kernels_used(core, portable)
    built = " ".join((*(("clang",) if cc == "clang" else ()), opt, *(f"-D{d}" for d in defines)))
    name = f"{core.cpu} on qemu {core.qemu_machine} ({kernels} kernels, {built})"
    return verify_with(qm, x, name, build_and_run, workdir)
