"""Build bare-metal firmware for a Cortex-M core and run it under QEMU.

The firmware harness (vector table, reset and fault handlers, linker script) ships
inside the package as ``edgegru.firmware``; :func:`build_firmware` compiles it together
with the caller's sources using the core's flags, and :func:`run_qemu` runs the
result on the core's QEMU board with semihosting, so the program reads and writes
host files relative to a working directory and its exit code becomes QEMU's. A crash
ends the run with one of the harness's fault exit codes (see edgegru_semihost.h),
reported by name instead of hanging until the timeout.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from edgegru.core.errors import EdgeGruError
from edgegru.targets.cortex_m.cores import Core, as_core

GCC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"

HARNESS_SOURCES = ("edgegru_startup.c", "edgegru_semihost.c")
LINKER_SCRIPT = "edgegru_cortex_m.ld"
MEMORY_SCRIPT = "edgegru_memory.ld"
"""Written into the build directory from the core's memory map; the linker script
INCLUDEs it."""

C_FLAGS = (
    "-std=c99",
    "-pedantic",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-g",
    "-ffunction-sections",
    "-fdata-sections",
)
COMPILE_TIMEOUT_S = 300

# Display names of the harness's fault exit codes, keyed by their #define suffix.
_FAULT_NAMES = {
    "NMI": "NMI",
    "HARDFAULT": "HardFault",
    "MEMMANAGE": "MemManage",
    "BUSFAULT": "BusFault",
    "USAGEFAULT": "UsageFault",
    "SECUREFAULT": "SecureFault",
    "UNEXPECTED_EXCEPTION": "unexpected exception",
}


def firmware_dir() -> Path:
    """The directory of the packaged firmware harness (works from an installed wheel)."""
    path = Path(str(files("edgegru.firmware")))
    if not (path / LINKER_SCRIPT).is_file():
        raise EdgeGruError(
            f"firmware harness not found in {path}: reinstall edgegru (the package data "
            "edgegru.firmware is missing)"
        )
    return path


@functools.cache
def harness_constants() -> dict[str, int]:
    """The ``#define EDGEGRU_<NAME> <number>`` values of edgegru_semihost.h, by NAME.

    Reading them from the header keeps the C side the only place the exit codes and
    limits are written down.
    """
    header = (firmware_dir() / "edgegru_semihost.h").read_text(encoding="utf-8")
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^#define EDGEGRU_(\w+) (\d+)$", header, re.MULTILINE)
    }


@functools.cache
def fault_exit_codes() -> dict[int, str]:
    """Exit code -> fault name, e.g. ``{241: "HardFault", ...}``."""
    constants = harness_constants()
    return {constants[f"EXIT_{key}"]: name for key, name in _FAULT_NAMES.items()}


def _require_tool(name: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EdgeGruError(
            f"{name} not found on PATH: install the Debian package {debian_package} "
            f"(apt-get install {debian_package})"
        )
    return path


def _require_newlib(gcc: str, core: Core) -> None:
    """gcc without newlib compiles but fails to link; say so before compiling."""
    found = subprocess.run(
        [gcc, *core.gcc_flags, "-print-file-name=librdimon.a"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not Path(found).is_absolute():
        raise EdgeGruError(
            f"newlib for {core.cpu} not found by {GCC}: install the Debian package "
            "libnewlib-arm-none-eabi (apt-get install libnewlib-arm-none-eabi)"
        )


class FirmwareBuildError(EdgeGruError):
    """The cross-compiler rejected the sources; ``log`` holds its full output."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


def build_firmware(
    core: Core | str,
    sources: Sequence[Path],
    include_dirs: Iterable[Path],
    out_dir: Path,
    extra_flags: Sequence[str] = (),
    *,
    opt: str = "-O2",
    bench: bool = False,
    name: str = "firmware",
) -> Path:
    """Compile and link ``sources`` with the harness into ``out_dir/<name>.elf``.

    ``bench=True`` builds for :func:`edgegru.targets.cortex_m.icount.count_instructions`: no C library
    start-up and no semihosting until ``main`` returns or calls ``exit`` (its code
    ends the run), so the program can use only freestanding parts of libc (memcpy,
    memset, maths), no stdio. Use one ``out_dir`` per core: the memory map is
    written there.
    ``extra_flags`` come after edgegru's own flags, so they can override them.
    """
    core = as_core(core)
    gcc = _require_tool(GCC, "gcc-arm-none-eabi")
    _require_newlib(gcc, core)
    harness = firmware_dir()
    source_paths = [Path(s).resolve() for s in sources]
    for path in source_paths:
        if not path.is_file():
            raise EdgeGruError(f"firmware source {path} does not exist")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MEMORY_SCRIPT).write_text(core.memory_ld(), encoding="utf-8")
    elf = out_dir / f"{name}.elf"

    runtime = ("--specs=nosys.specs", "-nostartfiles") if bench else ("--specs=rdimon.specs",)
    command = [
        gcc,
        *core.gcc_flags,
        opt,
        *C_FLAGS,
        *(["-DEDGEGRU_BENCH"] if bench else []),
        *extra_flags,
        f"-I{harness}",
        *(f"-I{Path(d).resolve()}" for d in include_dirs),
        *(str(harness / s) for s in HARNESS_SOURCES),
        *(str(p) for p in source_paths),
        *runtime,
        "-Wl,--gc-sections",
        # The linker looks for the INCLUDEd memory map in its working directory
        # first, so it runs in out_dir: a stray edgegru_memory.ld elsewhere is ignored.
        f"-L{out_dir}",
        "-T",
        str(harness / LINKER_SCRIPT),
        "-o",
        str(elf),
    ]
    try:
        result = subprocess.run(
            command,
            cwd=out_dir,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EdgeGruError(f"{GCC} did not finish within {COMPILE_TIMEOUT_S} s building {elf}") from None
    if result.returncode != 0:
        elf.unlink(missing_ok=True)
        log = result.stderr + result.stdout
        first_error = next((line for line in log.splitlines() if "error:" in line), log.strip()[:200])
        raise FirmwareBuildError(f"{GCC} failed building {elf.name} for {core.cpu}: {first_error}", log)
    return elf


@dataclass(frozen=True)
class QemuResult:
    """How a firmware run under QEMU ended."""

    returncode: int
    stdout: str
    stderr: str
    crash: str | None
    """None for a normal exit; otherwise what went wrong: a fault name ("HardFault"),
    "lockup" or "timeout"."""

    def describe(self) -> str:
        """One line for a user: the exit code, or the crash and its report."""
        if self.crash is None:
            return f"firmware exited with code {self.returncode}"
        if self.crash == "timeout":
            return "firmware did not finish before the timeout (a hang or endless loop?)"
        # The harness's fault report and QEMU's own fatal error both go to stderr.
        report = [
            line
            for line in self.stderr.splitlines()
            if line.startswith(("edgegru firmware:", "qemu: fatal:"))
        ]
        detail = f": {report[0]}" if report else ""
        return f"firmware crashed ({self.crash}){detail}"

    def check(self) -> QemuResult:
        """Return self if the firmware exited with code 0, else raise EdgeGruError."""
        if self.crash is not None or self.returncode != 0:
            raise EdgeGruError(self.describe())
        return self


def _semihosting_config(program: str, args: Sequence[str]) -> str:
    limit = harness_constants()["COMMAND_LINE_SIZE"] - 1
    if len(args) > harness_constants()["MAX_ARGS"] - 1:
        raise EdgeGruError(
            f"too many firmware arguments ({len(args)}): the harness passes at most "
            f"{harness_constants()['MAX_ARGS'] - 1}"
        )
    for arg in args:
        if not arg or any(c.isspace() for c in arg):
            raise EdgeGruError(
                f"firmware argument {arg!r} is empty or contains white space, which the "
                "semihosting command line cannot carry"
            )
    if len(" ".join([program, *args])) > limit:
        raise EdgeGruError(f"firmware command line longer than {limit} characters")
    # QEMU option syntax: a literal comma inside a value is written twice.
    return ",".join(
        ["enable=on", "target=native", *(f"arg={a.replace(',', ',,')}" for a in [program, *args])]
    )


def run_qemu(
    core: Core | str,
    elf: Path,
    cwd: Path,
    timeout: float = 60,
    args: Sequence[str] = (),
) -> QemuResult:
    """Run ``elf`` on the core's QEMU board until it exits, crashes or times out.

    Semihosted file names resolve relative to ``cwd``; ``args`` reach ``main`` as
    ``argv[1:]`` (``argv[0]`` is the ELF's file name). Standard input is not
    connected: feed input through files.
    """
    core = as_core(core)
    qemu = _require_tool(QEMU, "qemu-system-arm")
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise EdgeGruError(f"firmware file {elf} does not exist")
    command = [
        qemu,
        "-M",
        core.qemu_machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        _semihosting_config(elf.name, args),
        "-kernel",
        str(elf),
    ]
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        return QemuResult(-1, _text(expired.stdout), _text(expired.stderr), "timeout")
    return QemuResult(
        result.returncode, result.stdout, result.stderr, _crash(result.returncode, result.stderr)
    )


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _crash(returncode: int, stderr: str) -> str | None:
    if returncode in fault_exit_codes():
        return fault_exit_codes()[returncode]
    # QEMU aborts when a fault handler itself faults (usually a blown stack).
    if "Lockup" in stderr:
        return "lockup"
    return None
