"""The Cortex-M firmware harness, end to end: real gcc, real QEMU, real unicorn.

Every target in the table builds the fixtures in tests/fixtures/firmware and runs them
on its QEMU board; a missing tool fails these tests with the package to install.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgegru.codegen.export import export_c
from edgegru.core.errors import EdgeGruError
from edgegru.quant import integer_reference as iref
from edgegru.targets.cortex_m import icount
from edgegru.targets.cortex_m import qemu as emulate
from edgegru.targets.cortex_m.cores import CORES, DEFAULT_CORE, Core, get_core
from tests.helpers import FIXTURES, ROOT, make_qmodel

FIXTURES = FIXTURES / "firmware"
ALL_TARGETS = list(CORES)
COUNTED_TARGETS = ["cortex-m0plus", "cortex-m4", "cortex-m7"]


def _build(tmp_path_factory: pytest.TempPathFactory, cpu: str, fixture: str, **kw) -> Path:
    out = tmp_path_factory.mktemp(f"{cpu}-{fixture}")
    return emulate.build_firmware(cpu, [FIXTURES / f"{fixture}.c"], [], out, name=fixture, **kw)


@pytest.fixture(scope="module", params=ALL_TARGETS)
def target(request: pytest.FixtureRequest) -> Core:
    return get_core(request.param)


# --- the target table -----------------------------------------------------------------


def test_tools_are_installed() -> None:
    missing = [
        f"{tool} (Debian package {package})"
        for tool, package in [
            (emulate.GCC, "gcc-arm-none-eabi"),
            (emulate.QEMU, "qemu-system-arm"),
        ]
        if shutil.which(tool) is None
    ]
    assert not missing, f"firmware tests need: {', '.join(missing)}"


def test_get_target_rejects_unknown_name_and_lists_valid_ones() -> None:
    with pytest.raises(EdgeGruError, match="cortex-m99") as error:
        get_core("cortex-m99")
    for cpu in CORES:
        assert cpu in str(error.value)
    assert get_core(DEFAULT_CORE).qemu_machine == "mps2-an386"


def test_target_table_is_consistent(target: Core) -> None:
    flags = " ".join(target.gcc_flags)
    assert f"-mcpu={target.cpu}" in flags and "-mthumb" in flags
    assert ("-mfloat-abi=hard" in flags) == target.has_fpu
    assert ("-mfpu=" in flags) == target.has_fpu
    assert not (target.flash.origin < target.ram.end and target.ram.origin < target.flash.end)
    ld = target.memory_ld()
    assert f"ORIGIN = {target.flash.origin:#010x}" in ld
    assert f"LENGTH = {target.ram.length:#x}" in ld


def test_firmware_files_are_packaged() -> None:
    """pyproject ships edgegru.firmware as *.c/*.h/*.ld/*.md/*.j2 files and examples/*/*:
    every file here matches one of those patterns."""
    directory = emulate.firmware_dir()
    shipped = re.compile(r".*\.(c|h|ld|md|j2)$|__init__\.py$")
    for path in directory.iterdir():
        if path.name in ("__pycache__", "examples"):
            continue
        assert path.is_file() and shipped.match(path.name), f"{path} would not be shipped"
    for example in (directory / "examples").iterdir():
        assert all(path.is_file() for path in example.iterdir()), f"{example} has subfolders"
    assert (directory / "README.md").is_file()


def test_fault_exit_codes_come_from_the_header() -> None:
    codes = emulate.fault_exit_codes()
    assert codes[241] == "HardFault" and codes[244] == "UsageFault"
    assert len(set(codes.values())) == len(codes) == 7


# --- building and running under QEMU ----------------------------------------------------


def test_semihosted_file_io_on_every_target(target: Core, tmp_path_factory: pytest.TempPathFactory) -> None:
    elf = _build(tmp_path_factory, target.cpu, "sum_int16")
    work = tmp_path_factory.mktemp(f"{target.cpu}-run")
    values = np.random.default_rng(7).integers(-32768, 32768, size=1000).astype("<i2")
    (work / "values.bin").write_bytes(values.tobytes())

    result = emulate.run_qemu(target, elf, cwd=work, timeout=60, args=["values.bin", "stats.bin"])

    assert result.crash is None and result.returncode == 0, result.describe()
    assert "sum_int16: 1000 values" in result.stdout
    count, total, squares, digest, mean = struct.unpack("<IqqQf", (work / "stats.bin").read_bytes())
    v = values.astype(np.int64)
    expected_hash = 14695981039346656037
    for x in values.view("<u2").tolist():
        expected_hash = (expected_hash * 1099511628211 + x) % 2**64
    assert (count, total, squares, digest) == (1000, v.sum(), (v * v).sum(), expected_hash)
    assert mean == np.float32(np.float32(v.sum()) / np.float32(1000))


def test_simd_extensions_match_the_table(target: Core, tmp_path_factory: pytest.TempPathFactory) -> None:
    """gcc's flags enable MVE/DSP exactly where the table says, and they run on the board."""
    elf = _build(tmp_path_factory, target.cpu, "simd_dot")
    result = emulate.run_qemu(target, elf, cwd=elf.parent)
    assert result.crash is None and result.returncode == 0, result.describe() + result.stdout
    expected = "mve" if target.has_mve else "dsp" if target.has_dsp else "scalar"
    assert result.stdout.split()[0] == expected


def test_memory_map_is_usable(target: Core, tmp_path_factory: pytest.TempPathFactory) -> None:
    """All free RAM keeps values and the last word of FLASH is readable on the board."""
    elf = _build(tmp_path_factory, target.cpu, "memory_probe")
    last_flash_word = f"{target.flash.end - 4:x}"
    result = emulate.run_qemu(target, elf, cwd=elf.parent, args=[last_flash_word])
    assert result.crash is None and result.returncode == 0, result.describe()


@pytest.fixture(scope="module")
def crash_elf(target: Core, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, target.cpu, "crash")


@pytest.mark.parametrize("mode", ["undefined", "arm-jump"])
def test_fault_ends_the_run_with_its_exit_code(target: Core, crash_elf: Path, mode: str) -> None:
    result = emulate.run_qemu(target, crash_elf, cwd=crash_elf.parent, timeout=30, args=[mode])
    # ARMv6-M has only HardFault; the others report the UsageFault itself.
    fault = "HardFault" if target.cpu == "cortex-m0plus" else "UsageFault"
    assert result.crash == fault
    assert result.returncode == emulate.harness_constants()[f"EXIT_{fault.upper()}"]
    assert result.describe().startswith(f"firmware crashed ({fault}): edgegru firmware: {fault}")
    with pytest.raises(EdgeGruError, match=rf"firmware crashed \({fault}\)"):
        result.check()


@pytest.fixture(scope="module")
def default_crash_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, DEFAULT_CORE, "crash")


def test_exit_code_reaches_the_host(default_crash_elf: Path) -> None:
    elf = default_crash_elf
    result = emulate.run_qemu(DEFAULT_CORE, elf, cwd=elf.parent, args=["exit"])
    assert (result.returncode, result.crash) == (5, None)
    assert result.describe() == "firmware exited with code 5"
    with pytest.raises(EdgeGruError, match="exited with code 5"):
        result.check()


def test_hang_is_stopped_by_the_timeout(default_crash_elf: Path) -> None:
    elf = default_crash_elf
    result = emulate.run_qemu(DEFAULT_CORE, elf, cwd=elf.parent, timeout=1, args=["hang"])
    assert result.crash == "timeout"
    with pytest.raises(EdgeGruError, match="did not finish"):
        result.check()


def test_compile_error_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undeclared; }\n")
    with pytest.raises(emulate.FirmwareBuildError, match="undeclared") as error:
        emulate.build_firmware("cortex-m4", [bad], [], tmp_path / "out")
    assert "bad.c" in error.value.log
    assert not (tmp_path / "out" / "firmware.elf").exists()


def test_missing_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EdgeGruError, match=r"nothere\.c does not exist"):
        emulate.build_firmware("cortex-m4", [tmp_path / "nothere.c"], [], tmp_path)


def test_bad_firmware_argument_is_rejected(default_crash_elf: Path) -> None:
    elf = default_crash_elf
    with pytest.raises(EdgeGruError, match="white space"):
        emulate.run_qemu(DEFAULT_CORE, elf, cwd=elf.parent, args=["a b"])
    with pytest.raises(EdgeGruError, match="longer than 255 characters"):
        emulate.run_qemu(DEFAULT_CORE, elf, cwd=elf.parent, args=["x" * 300])
    with pytest.raises(EdgeGruError, match=r"missing\.elf does not exist"):
        emulate.run_qemu(DEFAULT_CORE, elf.parent / "missing.elf", cwd=elf.parent)


# --- instruction counting -------------------------------------------------------------


def _steps(n: int) -> dict[str, bytes]:
    return {"bench_steps": n.to_bytes(4, "little")}


@pytest.mark.parametrize("cpu", COUNTED_TARGETS)
def test_instruction_count_is_exact_and_linear(cpu: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    elf = _build(tmp_path_factory, cpu, "icount_loop", bench=True)
    k = 1000
    c0, ck, c2k = (icount.count_instructions(cpu, elf, patches=_steps(n)) for n in (0, k, 2 * k))
    assert icount.count_instructions(cpu, elf, patches=_steps(k)) == ck
    assert c2k - ck == ck - c0 > 0
    assert (ck - c0) % k == 0

    # Cross-check with unicorn's own instruction limit: after exactly count - 1
    # instructions the program stands on its exit (semihosting BKPT 0xAB).
    from unicorn.arm_const import UC_ARM_REG_PC

    uc, entry = icount.boot(cpu, elf, _steps(k))
    uc.emu_start(entry, 0xFFFF_FFFF, count=ck - 1)
    pc = uc.reg_read(UC_ARM_REG_PC)
    assert bytes(uc.mem_read(pc, 2)) == b"\xab\xbe"

    # The same bench image also runs on the QEMU board.
    assert emulate.run_qemu(cpu, elf, cwd=elf.parent).check().returncode == 0


def test_instruction_count_limits_and_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    elf = _build(tmp_path_factory, "cortex-m4", "icount_loop", bench=True)
    with pytest.raises(EdgeGruError, match="did not exit within 500 instructions"):
        icount.count_instructions("cortex-m4", elf, max_instructions=500, patches=_steps(10**6))
    with pytest.raises(EdgeGruError, match="exited with code 3"):
        icount.count_instructions("cortex-m4", elf, patches={"bench_exit_code": (3).to_bytes(4, "little")})
    with pytest.raises(EdgeGruError, match="zero-initialised"):
        icount.count_instructions("cortex-m4", elf, patches={"bench_sink": b"\1"})
    with pytest.raises(EdgeGruError, match="no symbol 'nope'"):
        icount.count_instructions("cortex-m4", elf, patches={"nope": b"\0"})
    with pytest.raises(EdgeGruError, match="memory map of cortex-m33"):
        icount.count_instructions("cortex-m33", elf)
    with pytest.raises(EdgeGruError, match="unicorn has no model"):
        icount.count_instructions("cortex-m55", elf)
    not_elf = elf.parent / "not.elf"
    not_elf.write_text("hello")
    with pytest.raises(EdgeGruError, match="not a 32-bit little-endian ELF"):
        icount.count_instructions("cortex-m4", not_elf)


def test_instruction_count_reports_semihosting_and_crashes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A normal (non-bench) build talks to the host before main: not countable.
    elf = _build(tmp_path_factory, "cortex-m4", "icount_loop")
    with pytest.raises(EdgeGruError, match="must not use semihosting"):
        icount.count_instructions("cortex-m4", elf)
    # Without arguments the crash fixture executes an undefined instruction.
    elf = _build(tmp_path_factory, "cortex-m4", "crash", bench=True)
    with pytest.raises(EdgeGruError, match=r"crashed under unicorn at pc=0x[0-9a-f]+: Invalid instruction"):
        icount.count_instructions("cortex-m4", elf)


# --- the board example ---------------------------------------------------------------------

EXAMPLE = ROOT / "firmware" / "examples" / "stm32f4"


def xorshift_inputs(steps: int, size: int) -> np.ndarray:
    """The example's int8 inputs: the top byte of xorshift32 from state 1, as main.c draws them."""
    state, values = 1, []
    for _ in range(steps * size):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        values.append((state >> 24) - 256 * (state >> 31))
    return np.array(values, dtype=np.int64).reshape(1, steps, size)


def build_and_run_example(tool: str, model_dir: Path, build: Path) -> str:
    """Build the STM32F4 example with its Makefile or its CMakeLists.txt, run it on QEMU's
    netduinoplus2 and return what it printed."""
    assert shutil.which(tool), f"the board example needs {tool} (Debian package {tool})"
    if tool == "make":
        command = ["make", "-C", str(EXAMPLE), f"MODEL_DIR={model_dir}", f"BUILD={build}", "all", "qemu"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-2000:]
        assert (build / "demo.bin").stat().st_size > 0  # the image for a real board
        return result.stdout
    toolchain = EXAMPLE / "arm-none-eabi.cmake"
    configure = ["cmake", "-S", str(EXAMPLE), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"]
    for command in (
        [*configure, f"-DMODEL_DIR={model_dir}", "-DEDGEGRU_QEMU=ON"],
        ["cmake", "--build", str(build)],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-2000:]
    assert (build / "demo.bin").stat().st_size > 0
    # as the Makefile's qemu target runs it: USART2 is the board's second serial port
    qemu = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "null"]
    qemu += ["-serial", "stdio", "-no-reboot", "-kernel", str(build / "demo.elf")]
    result = subprocess.run(qemu, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(("tool", "bits"), [("make", 16), ("make", 8), ("cmake", 16)])
def test_stm32f4_example_runs_on_qemus_stm32f405(tool: str, bits: int, tmp_path: Path) -> None:
    """The board example (no semihosting: USART2 and the DWT cycle counter) builds with its
    Makefile or CMakeLists.txt, and on QEMU's netduinoplus2 prints the integer reference's
    outputs and layer-0 state after its 100 steps."""
    qm = make_qmodel(6, [20, 7], "reset_before", "classification", bits, seed=2)
    export_c(qm, tmp_path / "model_c", layout="interleaved")
    printed = build_and_run_example(tool, tmp_path / "model_c", tmp_path / "build")
    lines = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
    trace = iref.run(qm, xorshift_inputs(100, qm.input_size))
    assert [int(v) for v in lines["output"].split()] == trace.logits[0, -1].tolist()
    assert [int(v) for v in lines["layer 0 state"].split()] == trace.states[0][0, -1].tolist()
    assert "no cycle counter here" in lines["cycles per step"]  # QEMU has no DWT
    assert "done" in [line.strip() for line in printed.splitlines()], printed[-500:]
