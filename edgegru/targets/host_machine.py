"""What the host bench states about the machine: the CPU, its vector extensions, the clock,
what the compiler targets, and the vpmaddwd floor computed from them.

The clock is measured, not read from a label: the bench binary runs a chain of dependent
additions (one cycle each on any out-of-order x86 or Arm core) and its thread CPU time gives
cycles per second as the core actually runs. ``/proc/cpuinfo``'s "cpu MHz" is printed beside
it: under a hypervisor it is the nominal figure the hypervisor reports, not the clock.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgegru.core.toolchain import run_tool
from edgegru.targets.host_bench_rounds import RunSteps, run_length

CPUINFO = Path("/proc/cpuinfo")
CHAIN = 64  # dependent additions per iteration of the harness's clock loop
# int8 x int16 multiply-adds per cycle of the vpmaddwd floor: one 256-bit vpmaddwd
# (16 pairs of int16 products summed into 8 int32) per cycle.
FLOOR_MACS_PER_CYCLE = 16
# The extensions the kernels choose from: /proc/cpuinfo's flag and the compiler's macro.
EXTENSIONS = (
    ("AVX2", "avx2", "__AVX2__"),
    ("AVX-512 BW", "avx512bw", "__AVX512BW__"),
    ("AVX-512 VNNI", "avx512_vnni", "__AVX512VNNI__"),
    ("AVX-VNNI", "avx_vnni", "__AVXVNNI__"),
)


@dataclass(frozen=True)
class Machine:
    """The CPU as /proc/cpuinfo names it and the extensions it and the compiled C have."""

    model: str
    cpu_flags: frozenset[str]
    nominal_mhz: float | None
    compiled_macros: frozenset[str]

    def extensions_line(self) -> str:
        """ "AVX2 yes, AVX-512 BW no, ..." for the CPU, and what the C was compiled for."""
        cpu = ", ".join(f"{name} {'yes' if flag in self.cpu_flags else 'no'}" for name, flag, _ in EXTENSIONS)
        built = [name for name, _, macro in EXTENSIONS if macro in self.compiled_macros]
        return f"CPU flags: {cpu}; the C is compiled for: {', '.join(built) or 'none of these'}"


def read_machine(cc: str, cflags: Sequence[str]) -> Machine:
    """This machine's CPU from /proc/cpuinfo (empty where it has none) and the target macros
    ``cc`` defines with ``cflags``."""
    text = CPUINFO.read_text() if CPUINFO.is_file() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)$", text, re.M)
    macros = run_tool([cc, *cflags, "-dM", "-E", "-x", "c", "/dev/null"], "list the compiler's target macros")
    return Machine(
        model[1].strip() if model else platform.processor() or platform.machine(),
        frozenset(flags[1].split()) if flags else frozenset(),
        float(mhz[1]) if mhz else None,
        frozenset(re.findall(r"^#define (\w+)", macros, re.M)),
    )


def versions_line(cc: str, cxx: str, eigen: Path | None) -> str:
    """The compilers', Eigen's, torch's and LiteRT's versions, "not installed" where absent."""
    import importlib.metadata

    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    def compiler(name: str) -> str:
        return run_tool([name, "--version"], f"ask {name} its version").splitlines()[0].strip()

    parts = [compiler(cc)]
    if eigen is not None:
        macros = (eigen / "Eigen" / "src" / "Core" / "util" / "Macros.h").read_text(errors="replace")
        found = dict(re.findall(r"#define EIGEN_(WORLD|MAJOR|MINOR)_VERSION (\d+)", macros))
        version = ".".join(found.get(k, "?") for k in ("WORLD", "MAJOR", "MINOR"))
        parts += [compiler(cxx), f"Eigen {version}"]
    parts += [f"torch {package('torch')}", f"ai-edge-litert {package('ai-edge-litert')}"]
    return "versions: " + ", ".join(parts)


@dataclass(frozen=True)
class Clock:
    """The clock the floor is computed at: measured, or else /proc/cpuinfo's nominal figure."""

    hz: float
    measured: bool


def read_clock(run: RunSteps, min_time: float, machine: Machine) -> Clock | None:
    """Cycles per second of thread CPU time by the harness's add chain (``run`` is its
    ``clock`` command), the fastest of three runs; on a machine without the chain (neither
    x86-64 nor AArch64) the nominal clock of /proc/cpuinfo; None without either."""
    if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64"):
        steps = run_length(run, min_time * 1e9)
        return Clock(max(steps * CHAIN / run(steps)[0] for _ in range(3)) * 1e9, measured=True)
    return None if machine.nominal_mhz is None else Clock(machine.nominal_mhz * 1e6, measured=False)


def floor_ns(macs: int, clock_hz: float) -> float:
    """The vpmaddwd floor of one step: its MACs at FLOOR_MACS_PER_CYCLE, in ns at ``clock_hz``."""
    return macs / FLOOR_MACS_PER_CYCLE / clock_hz * 1e9
