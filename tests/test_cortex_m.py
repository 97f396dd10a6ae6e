"""Generated C on six Cortex-M cores under qemu-system-arm: zero differing bits."""

from __future__ import annotations

import pytest

from edgegru.cortex_m import check_budget, footprint_limits, measure_footprint, verify_cortex_m
from edgegru.errors import EdgeGruError
from edgegru.targets import TARGETS
from edgegru.verify import random_stimulus
from tests.conftest import make_qmodel

CPUS = sorted(TARGETS)


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("bits", [16, 8])
def test_every_core_is_bit_exact(cpu, variant, bits):
    qm = make_qmodel(7, [13, 6], variant, "classification", bits, seed=len(cpu))
    report = verify_cortex_m(qm, random_stimulus(qm, 12, 50, seed=1), cpu)
    assert report.ok, report.summary()
    assert report.values_compared == 12 * 50 * 19


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33"])
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_dsp_and_portable_kernels_give_the_same_bits(cpu, variant):
    """Both kernels run on the same DSP core and both match the reference exactly."""
    qm = make_qmodel(33, [21], variant, "regression", 16, seed=4)
    x = random_stimulus(qm, 8, 40, seed=2)
    for portable in (False, True):
        report = verify_cortex_m(qm, x, cpu, portable=portable)
        assert report.ok, report.summary()
        assert ("(portable kernels" if portable else "(dsp kernels") in report.target


@pytest.mark.parametrize(
    ("cpu", "opt", "defines"),
    [
        ("cortex-m4", "-O2", ("EDGEGRU_NO_ASM",)),  # the C/ACLE DSP loops other compilers get
        ("cortex-m4", "-Os", ()),  # not forced inline
        ("cortex-m4", "-O0", ()),  # no inline assembly without optimisation
        ("cortex-m0plus", "-O2", ("EDGEGRU_NO_ASM",)),
        ("cortex-m0plus", "-Os", ()),  # GCC keeps r8-r12 out of Thumb-1 code at -Os: C loops
    ],
)
def test_kernel_variants_give_the_same_bits(cpu, opt, defines):
    """The inline-assembly kernels and the C loops that replace them compute the same integers."""
    qm = make_qmodel(33, [21, 6], "reset_after", "classification", 16, seed=6)
    report = verify_cortex_m(qm, random_stimulus(qm, 6, 30, seed=3), cpu, opt=opt, defines=defines)
    assert report.ok, report.summary()
    assert f"{opt}{''.join(f' -D{d}' for d in defines)})" in report.target


def test_footprint_within_targets():
    qm = make_qmodel(6, [32], "reset_after", "classification", 16)
    fp = measure_footprint(qm, "cortex-m4")
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
