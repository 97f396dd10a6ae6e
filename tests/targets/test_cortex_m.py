"""Generated C on six Cortex-M cores under qemu-system-arm: zero differing bits."""

from __future__ import annotations

import re
import subprocess

import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.targets.cortex_m.cores import CORES, get_core
from edgegru.targets.cortex_m.footprint import check_budget, footprint_limits, measure_footprint
from edgegru.targets.cortex_m.verify import verify_cortex_m
from edgegru.targets.verify import random_stimulus
from tests.helpers import make_qmodel

CPUS = sorted(CORES)


def chosen_paths(workdir, cpu: str, opt: str, flags=()) -> dict[str, int]:
    """The code paths the generated model.c selects for these flags: its MODEL_* macros."""
    command = [
        "arm-none-eabi-gcc",
        *get_core(cpu).gcc_flags,
        opt,
        *flags,
        "-dM",
        "-E",
        str(workdir / "model.c"),
    ]
    macros = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {m[1]: int(m[2]) for m in re.finditer(r"^#define MODEL_(\w+) (\d+)$", macros, re.M)}


def built_instructions(workdir) -> str:
    """The disassembly of the firmware verify_cortex_m built and ran."""
    command = ["arm-none-eabi-objdump", "-d", str(workdir / "build" / "firmware.elf")]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("bits", [16, 8])
def test_every_core_is_bit_exact(cpu, variant, bits):
    qm = make_qmodel(7, [13, 6], variant, "classification", bits, seed=len(cpu))
    report = verify_cortex_m(qm, random_stimulus(qm, 12, 50, seed=1), cpu)
    assert report.ok, report.summary()
    assert report.states_compared == 12 * 50 * 19 and report.outputs_compared == 12 * 50 * 3


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33"])
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_dsp_and_portable_kernels_give_the_same_bits(cpu, variant, tmp_path):
    """Both kernels run on the same DSP core and both match the reference exactly; the
    firmware that ran holds the DSP instructions exactly when the DSP kernels were asked for."""
    qm = make_qmodel(33, [21], variant, "regression", 16, seed=4)
    x = random_stimulus(qm, 8, 40, seed=2)
    for portable in (False, True):
        workdir = tmp_path / ("portable" if portable else "dsp")
        report = verify_cortex_m(qm, x, cpu, portable=portable, workdir=workdir)
        assert report.ok, report.summary()
        assert ("(portable kernels" if portable else "(dsp kernels") in report.target
        code = built_instructions(workdir)
        for instruction in ("smlald", "smlad", "smmlar", "sxtb16"):
            assert (re.search(rf"\s{instruction}\s", code) is None) == portable, instruction


@pytest.mark.parametrize(
    ("cpu", "opt", "defines", "paths"),
    [
        ("cortex-m4", "-O2", (), {"DSP_KERNELS": 1, "DSP_ASM": 1}),  # the default: inline assembly
        ("cortex-m4", "-O2", ("EDGEGRU_NO_ASM",), {"DSP_KERNELS": 1, "DSP_ASM": 0}),  # C/ACLE loops
        ("cortex-m4", "-Os", (), {"DSP_KERNELS": 1, "DSP_ASM": 1}),  # kernels not forced inline
        ("cortex-m4", "-O0", (), {"DSP_KERNELS": 1, "DSP_ASM": 0}),  # no assembly unoptimised
        ("cortex-m0plus", "-O2", (), {"DSP_KERNELS": 0, "THUMB1_ASM": 1}),
        ("cortex-m0plus", "-O2", ("EDGEGRU_NO_ASM",), {"DSP_KERNELS": 0, "THUMB1_ASM": 0}),
        ("cortex-m0plus", "-Os", (), {"DSP_KERNELS": 0, "THUMB1_ASM": 0}),  # r8-r12 unused at -Os
    ],
)
def test_kernel_variants_give_the_same_bits(cpu, opt, defines, paths, tmp_path):
    """The inline-assembly kernels and the C loops that replace them compute the same integers,
    and each build really selects the path named (the model's MODEL_* macros under its flags)."""
    qm = make_qmodel(33, [21, 6], "reset_after", "classification", 16, seed=6)
    x = random_stimulus(qm, 6, 30, seed=3)
    report = verify_cortex_m(qm, x, cpu, opt=opt, defines=defines, workdir=tmp_path)
    assert report.ok, report.summary()
    assert f"{opt}{''.join(f' -D{d}' for d in defines)})" in report.target
    selected = chosen_paths(tmp_path, cpu, opt, [f"-D{d}" for d in defines])
    assert {name: selected[name] for name in paths} == paths


@pytest.mark.parametrize(
    ("cpu", "variant", "hidden", "state_bits"),
    [
        ("cortex-m4", "reset_after", [32], 16),
        # the largest code: Thumb-1, reset_before's two unit loops, three layers, int8 state
        ("cortex-m0plus", "reset_before", [32, 32, 32], 8),
        ("cortex-m0plus", "reset_before", [32, 32, 32], 16),
        ("cortex-m0plus", "reset_after", [32, 32, 32], 8),
    ],
)
def test_footprint_within_targets(cpu, variant, hidden, state_bits):
    qm = make_qmodel(33 if len(hidden) > 1 else 6, hidden, variant, "classification", state_bits)
    fp = measure_footprint(qm, cpu)
    flash_limit, ram_limit = footprint_limits(qm, fp)
    assert fp.code > 0 and fp.constants >= fp.weight_bytes
    assert fp.flash <= flash_limit, fp.table()
    assert fp.ram <= ram_limit, fp.table()


def test_budget_refusal_says_by_how_much():
    qm = make_qmodel(6, [32], "reset_after", "classification", 16)
    fp = measure_footprint(qm, "cortex-m0plus")
    with pytest.raises(EdgeGruError, match=r"over the --flash-budget of 1000 on cortex-m0plus: shrink"):
        check_budget(fp, 1000, None, qm)
    with pytest.raises(EdgeGruError, match=r"bytes of RAM .* over the --ram-budget of 100 .*int8 state"):
        check_budget(fp, None, 100, qm)
    check_budget(fp, fp.flash, fp.ram, qm)  # exactly fitting is fine


HELPER_CHECK = r"""
#include "model.c"

#include <stdio.h>

static uint32_t rng = 0x12345678u;

static uint32_t next(void) /* xorshift32 */
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static long bad = 0;

/* mul_high_add and mul_r_add as docs/quantization.md defines them, in int64 */
static void check(int32_t b, int32_t a, int32_t m)
{
    const int32_t high = (int32_t)(((int64_t)a * m + INT64_C(0x80000000)) >> 32);
    bad += mul_high_add(b, a, m) != b + high;
    const int32_t r = m >> 16; /* 0 <= r < 2^15 */
    bad += mul_r_add(b, a, r) != b + (int32_t)(((int64_t)a * r) >> 16);
}

int main(void)
{
    static const int32_t edge_a[] = {INT32_MIN, INT32_MIN + 1, -65537, -65536, -65535, -32768, -1,
                                     0, 1, 32767, 65535, 65536, 65537, INT32_MAX - 1, INT32_MAX};
    static const int32_t edge_m[] = {0, 1, 32767, 32768, 65535, 65536, 65537, INT32_MAX - 1, INT32_MAX};
    for (unsigned i = 0; i < sizeof edge_a / sizeof edge_a[0]; ++i) {
        for (unsigned j = 0; j < sizeof edge_m / sizeof edge_m[0]; ++j) {
            check(-7, edge_a[i], edge_m[j]);
        }
    }
    for (long k = 0; k < 100000; ++k) {
        const int32_t a = (int32_t)next() >> (next() & 15); /* accumulators of every size */
        const int32_t m = (int32_t)(next() >> 1) >> (next() & 15);
        check((int32_t)(next() & 0xFFFFF) - 0x80000, a, m);
    }
    printf("%ld mismatches\n", bad);
    return bad != 0;
}
"""


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m3", "cortex-m4"])
@pytest.mark.parametrize("opt", ["-O2", "-O0"])
def test_rounded_products_match_int64(cpu, opt, tmp_path):
    """The rounded high product and SMLAWB's product of the generated C (inline assembly on
    ARMv6-M and the DSP cores when optimised, C otherwise) against int64, on edge values and
    100,000 random operands, on the core itself."""
    from edgegru.codegen.render import render
    from edgegru.targets.cortex_m.qemu import build_firmware, run_qemu

    qm = make_qmodel(4, [4], "reset_after", None, 16)
    render(qm, "model", "interleaved").write(tmp_path)
    (tmp_path / "check.c").write_text(HELPER_CHECK)
    elf = build_firmware(cpu, [tmp_path / "check.c"], [tmp_path], tmp_path / "build", opt=opt)
    result = run_qemu(cpu, elf, tmp_path)
    assert result.crash is None and result.returncode == 0, result.stdout + result.describe()
    assert result.stdout.strip() == "0 mismatches"


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("bits", [16, 8])
def test_generated_c_builds_with_any_optimisation_and_frame_pointer(cpu, variant, bits, tmp_path):
    """Users build with their own flags: every -O level, a frame pointer (which takes r7 from
    the inline assembly on Thumb-1) and r9 reserved, with strict warnings as errors."""
    from edgegru.codegen.render import render

    render(make_qmodel(7, [13, 6], variant, "classification", bits), "model", "interleaved").write(tmp_path)
    strict = [
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-Wconversion",
        "-c",
        str(tmp_path / "model.c"),
    ]
    levels = (["-O0"], ["-Og"], ["-O1"], ["-O2"], ["-O3"], ["-Os"], ["-Oz"])
    for flags in (*levels, *(["-O2", extra] for extra in ("-fno-omit-frame-pointer", "-ffixed-r9"))):
        command = [
            "arm-none-eabi-gcc",
            *get_core(cpu).gcc_flags,
            *flags,
            *strict,
            "-o",
            str(tmp_path / "m.o"),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, f"{flags}: {result.stderr}"


@pytest.mark.parametrize(
    ("cpu", "portable", "opt"),
    [
        ("cortex-m0plus", False, "-O2"),  # Thumb-1, C loops
        ("cortex-m4", False, "-O2"),  # ACLE intrinsics, C loops
        ("cortex-m55", True, "-O3"),  # clang vectorises the portable loops with MVE
    ],
)
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_clang_builds_give_the_same_bits(cpu, portable, opt, variant, tmp_path):
    """The model's C compiled by clang (as Arm Compiler 6 and LLVM toolchains do), linked
    into the gcc-built firmware, matches the reference exactly on the core."""
    qm = make_qmodel(33, [21, 6], variant, "classification", 16, seed=5)
    report = verify_cortex_m(
        qm, random_stimulus(qm, 6, 30, seed=2), cpu, portable=portable, opt=opt, cc="clang", workdir=tmp_path
    )
    assert report.ok, report.summary()
    assert f"clang {opt})" in report.target
    comment = subprocess.run(
        ["arm-none-eabi-readelf", "-p", ".comment", str(tmp_path / "model.o")], capture_output=True, text=True
    ).stdout
    assert "clang version" in comment  # the object that ran was clang's
    if cpu == "cortex-m55":
        code = subprocess.run(
            ["llvm-objdump", "-d", "--mcpu=cortex-m55", str(tmp_path / "model.o")],
            capture_output=True,
            text=True,
        ).stdout
        assert "vmlava" in code  # MVE dot products
