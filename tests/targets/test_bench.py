"""edgegru bench: the real compiler, torch and LiteRT on one tiny shape or a user's model, and
the Cortex-M instruction counts (unicorn) of random shapes and of a user's model.

Timings are never asserted (they depend on the machine and its load); the tests check that
every figure is measured and that the table carries every column.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
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
    table = out[out.index("| model") :].splitlines()
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
    table = format_table(
        [Row("6 -> 32", 0.25, 30.0, 2.5), Row("128 -> 128", 2.0, 44.0, 7.0), Row("m", 0.5, None, 1.0)]
    )
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert rows[2] == ["6 -> 32", "0.250", "30.00", "2.50", "120x", "10.0x"]
    assert rows[3] == ["128 -> 128", "2.000", "44.00", "7.00", "22x", "3.5x"]
    assert rows[4] == ["m", "0.500", "n/a", "1.00", "n/a", "2.0x"]  # torch not timed
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


# The user's own model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_models(tmp_path_factory) -> dict[str, str]:
    """A float 2-layer classifier with normalisation, its quantised model, and a reset_before one."""
    from edgegru.nn.model import Normalisation
    from edgegru.nn.synthetic import random_model
    from edgegru.quant import calibrate, quantize

    root = tmp_path_factory.mktemp("user")
    model = random_model(3, [6, 5], "reset_after", head="classification", output_size=4, seed=2)
    model.normalisation = Normalisation(np.array([1.0, -5.0, 20.0], np.float32), np.full(3, 2.0, np.float32))
    x = np.random.default_rng(1).standard_normal((6, 20, 3)) * 2.0 + [1.0, -5.0, 20.0]
    model.save(root / "f.egru")
    quantize(model, calibrate(model, x), state_bits=8).save(root / "q.egru")
    random_model(3, [6, 5], "reset_before", head="classification", output_size=4, seed=3).save(
        root / "rb.egru"
    )
    return {name: str(root / f"{name}.egru") for name in ("f", "q", "rb")}


def table_row(out: str) -> list[str]:
    """The one row of a host bench table."""
    lines = out[out.index("| model") :].splitlines()
    assert len(lines) == 3, lines
    return [cell.strip() for cell in lines[2].strip("|").split("|")]


def test_bench_of_a_quantised_model_and_its_float_model_times_all_three(user_models, capsys):
    fast = ["--repeats", "2", "--min-time", "0.001"]
    assert run(parse(["bench", user_models["q"], "--float", user_models["f"], *fast])) == 0
    out = capsys.readouterr().out
    cells = table_row(out)
    assert cells[0] == "3 -> GRU(6) -> GRU(5) -> classification(4), reset_after, int8 state"
    assert min(float(v) for v in cells[1:4]) > 0
    assert f"rows layout, of {user_models['q']}" in out

    assert run(parse(["bench", user_models["q"], *fast])) == 0  # no float model: its C alone
    out = capsys.readouterr().out
    cells = table_row(out)
    assert float(cells[1]) > 0 and cells[2:] == ["n/a"] * 4
    assert "give it with --float FLOAT.egru" in out


def test_bench_of_a_float_model_quantises_it_for_the_c(user_models, capsys):
    """A float model alone: its C from an int16-state quantisation made here; nn.GRU has no
    reset_before, so torch is not timed for that variant (and says so with n/a)."""
    fast = ["--repeats", "2", "--min-time", "0.001"]
    assert run(parse(["bench", user_models["f"], *fast])) == 0
    out = capsys.readouterr().out
    assert table_row(out)[0].endswith("reset_after, int16 state") and "quantised here" in out
    assert min(float(v) for v in table_row(out)[1:4]) > 0
    assert run(parse(["bench", user_models["rb"], *fast])) == 0
    cells = table_row(capsys.readouterr().out)
    assert cells[2] == "n/a" and float(cells[1]) > 0 and float(cells[3]) > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{q}", "--shapes", "4x4"], "--shapes shapes the random models; MODEL {q} was given"),
        (["{q}", "--target", "cortex-m", "--variant", "reset_before"], "--variant shapes the random models"),
        (["--float", "{f}"], "--float applies with a MODEL, and none was given"),
        (["--target", "cortex-m", "--clock", "80"], "--clock applies with a MODEL"),
        (["{q}", "--target", "cortex-m", "--clock", "0"], "--clock 0: expected a positive number of MHz"),
        (["{f}", "--float", "{f}"], "--float: MODEL {f} is already a float model"),
        (["{q}", "--float", "{q}"], "{q}: a quantised model; --float needs the float model it came from"),
        (["{q}", "--float", "{rb}"], "differ in shape"),
        (
            ["{f}", "--target", "cortex-m"],
            "{f}: a float model; bench --target cortex-m needs a quantised one",
        ),
        (["{q}", "--clock", "80"], "--clock applies to --target cortex-m, not host"),
    ],
)
def test_bench_of_a_model_refuses_what_does_not_apply(user_models, argv, message, capsys):
    with pytest.raises(EdgeGruError, match=re.escape(message.format(**user_models))):
        run(parse(["bench", *(a.format(**user_models) for a in argv)]))
    assert capsys.readouterr().out == ""


def test_cortex_m_bench_of_a_model_counts_it_and_estimates_cycles(user_models, capsys):
    """The counts are the model's own (the same as counting it directly), and the cycle lower
    bound is instructions / issue width, in µs at --clock or at the example part's clock."""
    from edgegru.quant.qmodel import QuantizedModel
    from edgegru.targets.cortex_m.cores import get_core
    from edgegru.targets.cortex_m.instructions import count_step_instructions, step_macs

    qm = QuantizedModel.load(user_models["q"])
    argv = ["bench", user_models["q"], "--target", "cortex-m", "--cpu", "cortex-m4,cortex-m7"]
    assert run(parse(argv)) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE, a lower bound" in out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if re.match(r"cortex-m\d+ +(dsp|portable) ", line)
    }
    assert set(rows) == {"cortex-m4", "cortex-m7"}
    for cpu, row in rows.items():
        core = get_core(cpu)
        per_step = count_step_instructions(qm, cpu).per_step
        _, _, macs, instructions, _, cycles, mhz, us, *source = row
        assert int(macs) == step_macs(qm) and float(instructions) == pytest.approx(per_step, abs=0.5)
        assert float(cycles) == pytest.approx(per_step / core.issue_width, abs=0.5)
        assert float(mhz) == core.example_mhz and " ".join(source) == f"{core.example_part} (example)"
        assert float(us) == pytest.approx(per_step / core.issue_width / core.example_mhz, abs=0.006)
    footprint = [line for line in out.splitlines() if line.startswith("| cortex-m")]
    assert [line.split("|")[2].strip() for line in footprint] == ["3->6->5"] * 2
    assert run(parse([*argv[:-1], "cortex-m4", "--clock", "50"])) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("cortex-m4 "))
    assert row[6:] == ["50", f"{float(row[5]) / 50:.2f}", "--clock"]
