"""edgegru bench (host): the real compiler, torch and LiteRT on one tiny shape.

Timings are never asserted (they depend on the machine and its load); the test checks that
every figure is measured and that the table carries every column.
"""

from __future__ import annotations

import argparse
import re

import pytest

from edgegru.cli.bench import add_parser, parse_shapes, run
from edgegru.core.errors import EdgeGruError
from edgegru.targets.host_bench import COLUMNS, Row, format_table


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgegru")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_bench_prints_a_full_table_for_one_tiny_shape(capsys):
    args = parse(["bench", "--shapes", "3x5", "--repeats", "2", "--min-time", "0.001"])
    assert args.target == "host"
    assert run(args) == 0
    out = capsys.readouterr().out
    table = out[out.index("| D -> H") :].splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == list(COLUMNS)
    assert len(table) == 3  # header, rule, one shape
    cells = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert cells[0] == "3 -> 5"
    c_us, torch_us, litert_us = (float(v) for v in cells[1:4])
    assert min(c_us, torch_us, litert_us) > 0
    assert re.fullmatch(r"\d+x", cells[4]) and re.fullmatch(r"\d+\.\dx", cells[5])
    assert "-O3" in out and "set_num_threads(1)" in out and "XNNPACK" in out


def test_format_table_ratios():
    table = format_table([Row(6, 32, 0.25, 30.0, 2.5), Row(128, 128, 2.0, 44.0, 7.0)])
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert rows[2] == ["6 -> 32", "0.250", "30.00", "2.50", "120x", "10.0x"]
    assert rows[3] == ["128 -> 128", "2.000", "44.00", "7.00", "22x", "3.5x"]
    assert len({len(line) for line in table.splitlines()}) == 1  # aligned columns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6x", "expected DxH"),
        ("6x32,abc", "'abc'"),
        ("0x8", "1..512"),
        ("8x513", "1..512"),
        ("4x4,4x4", "given twice"),
    ],
)
def test_bad_shapes_are_one_line_errors(text, message):
    with pytest.raises(EdgeGruError, match=re.escape(message)):
        parse_shapes(text)


def test_cortex_m_bench_refuses_an_uncountable_core_before_printing(capsys):
    args = parse(["bench", "--target", "cortex-m", "--shapes", "6x8", "--cpu", "cortex-m4,cortex-m55"])
    with pytest.raises(EdgeGruError, match="not available for cortex-m55: unicorn has no model"):
        run(args)
    assert capsys.readouterr().out == ""


def test_shapes_are_parsed():
    assert parse_shapes("6x32, 12x64") == [(6, 32), (12, 64)]


def test_cortex_m_bench_counts_and_attributes_instructions(capsys):
    """The Cortex-M tables: instruction counts split between the kernels and the rest, and
    the footprint against the targets; counts are exact, so they repeat run to run."""
    args = parse(["bench", "--target", "cortex-m", "--shapes", "6x8", "--cpu", "cortex-m4,cortex-m0plus"])
    assert run(args) == 0
    out = capsys.readouterr().out
    table = out[: out.index("by innermost")].splitlines()
    counts = {row[0]: row for row in (line.split() for line in table if line.startswith("cortex-m"))}
    assert set(counts) == {"cortex-m4", "cortex-m0plus"}
    for cpu, kernels in (("cortex-m4", "dsp"), ("cortex-m0plus", "portable")):
        _, used, shape, macs, per_step, per_mac, kernel_per_mac, other, gates = counts[cpu]
        assert used == kernels and shape == "6->8" and int(macs) == 3 * 8 * (6 + 8)
        assert float(per_mac) == pytest.approx(float(per_step) / int(macs), abs=0.006)
        assert 0 < float(kernel_per_mac) < float(per_mac) and 0 < float(gates) < float(other)
        # the kernels' share plus the rest make up the whole step
        total = float(kernel_per_mac) * int(macs) + float(other) * 8
        assert total == pytest.approx(float(per_step), rel=0.01)
    functions = out[out.index("by innermost") :].splitlines()[1:3]
    assert [line.split()[:2] for line in functions] == [["cortex-m4", "6->8"], ["cortex-m0plus", "6->8"]]
    assert all("mul_high_add" in line and "dot" not in line for line in functions)  # kernels excluded
    footprint = [line for line in out.splitlines() if line.startswith("| cortex-m")]
    assert len(footprint) == 4  # two cores, int16 and int8 state
    assert all(line.count(" ok ") == 2 for line in footprint), footprint
    args = parse(["bench", "--target", "cortex-m", "--shapes", "6x8", "--cpu", "cortex-m4"])
    assert run(args) == 0
    out = capsys.readouterr().out
    again = [
        line.split()
        for line in out[: out.index("by innermost")].splitlines()
        if line.startswith("cortex-m4 ")
    ]
    assert again == [counts["cortex-m4"]]


def test_instruction_count_by_function_adds_up():
    """Every counted instruction of a step belongs to exactly one innermost function."""
    from edgegru.targets.cortex_m.instructions import count_step_instructions
    from tests.helpers import make_qmodel

    count = count_step_instructions(make_qmodel(5, [7], "reset_before", None, 16), "cortex-m4")
    assert sum(count.by_function.values()) == pytest.approx(count.per_step)
    kernels = sum(n for f, n in count.by_function.items() if re.fullmatch(r"dot\d|dot_row", f))
    assert kernels == pytest.approx(count.in_kernels) and 0 < kernels < count.per_step
    assert 0 < count.gates_per_unit < count.other_per_unit


def test_per_step_copies_are_kept_apart_from_the_gate_work():
    """Eight times the inputs: more per-step input widening, the same gate work per unit."""
    from edgegru.targets.cortex_m.instructions import count_step_instructions
    from tests.helpers import make_qmodel

    narrow, wide = (count_step_instructions(make_qmodel(d, [8], "reset_after"), "cortex-m4") for d in (4, 32))
    assert wide.in_step > narrow.in_step + 28 * 2  # at least two instructions per extra input
    assert wide.gates_per_unit == pytest.approx(narrow.gates_per_unit, abs=3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "cortex-m", "--repeats", "3"], "--repeats applies to --target host, not cortex-m"),
        (["--target", "cortex-m", "--no-xnnpack"], "--no-xnnpack applies to --target host"),
        (["--cpu", "cortex-m0plus"], "--cpu applies to --target cortex-m, not host"),
    ],
)
def test_bench_refuses_options_of_the_other_target(argv, message, capsys):
    with pytest.raises(EdgeGruError, match=re.escape(message)):
        run(parse(["bench", "--shapes", "4x4", *argv]))
    assert capsys.readouterr().out == ""
