"""Compile the model's C with clang for a Cortex-M core, for arm-none-eabi-gcc to link.

clang is the compiler of Arm Compiler 6 and the LLVM toolchains; building the model with
it checks the C loops those users get (GCC gets inline assembly). clang brings no C
library, so the object is compiled against the newlib headers of the arm-none-eabi-gcc
that links the firmware around it.
"""

from __future__ import annotations

from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import run_tool
from edgegru.targets.cortex_m.cores import Core
from edgegru.targets.cortex_m.qemu import C_FLAGS, GCC


def clang_object(core: Core, source: Path, opt: str, flags: tuple[str, ...]) -> Path:
    """Compile ``source`` with clang for ``core`` (strict C99 warnings as errors), against
    the newlib headers arm-none-eabi-gcc uses, so that gcc can link the object."""
    # clang takes the FPU from -mcpu and has no -mfpu=auto; arm-none-eabi-gcc's ABI has
    # variable-size enums, clang's default int-size ones
    core_flags = [f for f in core.gcc_flags if f != "-mfpu=auto"] + ["-fshort-enums"]
    obj = source.with_suffix(".o")
    run_tool(
        [
            "clang",
            "--target=arm-none-eabi",
            *core_flags,
            opt,
            *C_FLAGS,
            *flags,
            *(f"-isystem{d}" for d in _newlib_includes(core)),
            f"-I{source.parent}",
            "-c",
            str(source),
            "-o",
            str(obj),
        ],
        f"compile {source.name} with clang for {core.cpu}",
    )
    return obj


def _newlib_includes(core: Core) -> list[str]:
    """newlib's header directory, beside the libc.a arm-none-eabi-gcc links for ``core``
    (clang brings its own compiler headers but no C library)."""
    libc = Path(run_tool([GCC, *core.gcc_flags, "-print-file-name=libc.a"], "find newlib").strip())
    for directory in libc.resolve().parents:
        if (directory / "include" / "string.h").is_file():
            return [str(directory / "include")]
    raise EdgeGruError(f"no newlib headers beside {libc}: install libnewlib-arm-none-eabi")
