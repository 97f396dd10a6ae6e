"""edgegru bench: the real compilers (gcc, g++ with Eigen), torch and LiteRT on one tiny shape or a
user's model, and the Cortex-M instruction counts (unicorn) of random shapes and of a user's model.

Timings are never asserted (they depend on the machine and its load); the tests check that
every contender is measured and printed, that the C is refused unless bit-exact and the Eigen
peer unless it agrees with the float reference, and that the rounds interleave.
"""

from __future__ import annotations

import argparse
import re
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from edgegru.cli.bench import add_parser, parse_shapes, run
from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.targets import host_bench_peer
from edgegru.targets.host_bench import (
    CONTENDERS,
    BenchResult,
    Row,
    bench_inputs,
    compile_host,
    quantise_for_bench,
    time_c,
)
from edgegru.targets.host_bench_binary import BenchProcess, build_bench, build_bench_with_peer
from edgegru.targets.host_bench_peer import EIGEN_MISSING, check_peer, find_eigen, peer_weights
from edgegru.targets.host_bench_rounds import Contender, Timing, interleave
from edgegru.targets.host_bench_tables import floor_lines, ratio_table, time_table
from edgegru.targets.host_machine import Clock, Machine, floor_ns

FAST = ["--repeats", "2", "--min-time", "0.001"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgegru")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def tables(out: str) -> dict[str, list[list[str]]]:
    """Each Markdown table of the output by the line above it: its rows of cells, header first."""
    found: dict[str, list[list[str]]] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and not lines[i - 1].startswith("|"):
            block = []
            for row_line in lines[i:]:
                if not row_line.startswith("|"):
                    break
                block.append(row_line)
            rows = [[c.strip() for c in row.strip("|").split("|")] for row in block]
            found[lines[i - 1]] = [rows[0], *rows[2:]]  # without the rule
    return found


def table_starting(out: str, title: str) -> list[list[str]]:
    return next(rows for key, rows in tables(out).items() if key.startswith(title))


def median_and_spread(cell: str) -> tuple[float, float, float]:
    match = re.fullmatch(r"([\d.]+) \(([\d.]+)-([\d.]+)\)", cell)
    assert match is not None, cell
    return float(match[1]), float(match[2]), float(match[3])


def test_bench_prints_every_contender_for_one_tiny_shape(capsys):
    args = parse(["bench", "--shapes", "3x5", *FAST])
    assert args.target == "host"
    assert run(args) == 0
    out = capsys.readouterr().out
    times = table_starting(out, "thread CPU time")
    assert times[0] == ["model", *CONTENDERS] and len(times) == 2
    assert times[1][0] == "3 -> 5"
    for cell in times[1][1:]:
        median, fastest, slowest = median_and_spread(cell)
        assert 0 < fastest <= median <= slowest
    ratios = table_starting(out, "same-run ratios")
    assert ratios[0] == ["model", *(f"{n} / C" for n in CONTENDERS[1:]), "MACs", "floor ns", "C / floor"]
    *ratio_cells, macs, floor, c_over_floor = ratios[1][1:]
    assert all(float(v) > 0 for v in ratio_cells) and int(macs) == 3 * 5 * (3 + 5)
    assert float(floor) > 0 and float(c_over_floor) > 0
    wall = table_starting(out, "wall time")
    assert wall[0] == ["model", *CONTENDERS] and all(float(v) > 0 for v in wall[1][1:])
    assert re.search(r"^CPU: .+$", out, re.M) and re.search(
        r"^CPU flags: AVX2 (yes|no), AVX-512 BW", out, re.M
    )
    clock = re.search(r"^clock ([\d.]+) GHz, measured", out, re.M)
    assert clock is not None and 0.1 < float(clock[1]) < 10
    assert f"{int(macs)} / 16 / {clock[1]} GHz" in out
    assert "-O3" in out and "set_num_threads(1)" in out and "XNNPACK" in out and "rotating order" in out


def test_bench_without_eigen_says_so_and_times_the_rest(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(host_bench_peer, "EIGEN_DIRS", (tmp_path,))
    assert run(parse(["bench", "--shapes", "3x5", *FAST])) == 0
    out = capsys.readouterr().out
    assert out.count(EIGEN_MISSING) == 1
    cells = dict(zip(*table_starting(out, "thread CPU time"), strict=True))
    assert cells["Eigen"] == "n/a"
    assert all(median_and_spread(cells[n])[0] > 0 for n in CONTENDERS if n != "Eigen")


def test_bench_refuses_an_eigen_directory_without_eigen(tmp_path, capsys):
    with pytest.raises(EdgeGruError, match=re.escape(f"--eigen {tmp_path}: no Eigen/Core there")):
        run(parse(["bench", "--shapes", "3x5", "--eigen", str(tmp_path)]))
    assert capsys.readouterr().out == ""


@pytest.fixture(scope="module")
def eigen() -> Path:
    found = find_eigen()
    assert found is not None, "the bench's tests need Eigen 3's headers: apt install libeigen3-dev"
    return found


@pytest.mark.parametrize(
    ("variant", "hidden", "head", "normalise"),
    [("reset_after", [7], None, False), ("reset_before", [6, 5], "classification", True)],
)
def test_eigen_peer_agrees_with_the_float_reference(eigen, tmp_path, variant, hidden, head, normalise):
    """The peer is built and checked (every step's output within float32 tolerance of the
    float64 reference) for both variants, stacked layers, a head and a normalisation; the
    same binary refuses the weights of another model."""
    norm = Normalisation(np.array([1.0, -5.0, 20.0], np.float32), np.full(3, 2.0, np.float32))
    model = random_model(3, hidden, variant, head, normalisation=norm if normalise else None, seed=4)
    x = bench_inputs(model)
    command = build_bench_with_peer(
        quantise_for_bench(model, x),
        model,
        tmp_path,
        cc="gcc",
        cxx="g++",
        cflags=("-O2",),
        eigen=eigen,
        check_inputs=x,
    )
    with BenchProcess(command) as bench:  # and it times both
        assert bench.run("peer", 64)[0] > 0 and bench.run("c", 64)[0] > 0
    other = random_model(3, hidden, variant, head, normalisation=model.normalisation, seed=5)
    wrong = tmp_path / "other.bin"
    wrong.write_bytes(peer_weights(other))
    with pytest.raises(EdgeGruError, match="the Eigen peer disagrees with the float reference at step 0"):
        check_peer(Path(command[0]), wrong, model, x, tmp_path)


def test_the_bench_refuses_a_c_build_that_is_not_bit_exact(tmp_path):
    """A compiler that builds the C with every int8 weight one higher: real gcc, wrong integers."""
    wrapper = tmp_path / "gcc-off-by-one"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, re, subprocess, sys\n"
        "for arg in sys.argv[1:]:\n"
        "    for header in pathlib.Path(arg).parent.glob('*_weights.h') if arg.endswith('.c') else []:\n"
        "        text = header.read_text()\n"
        "        def bump(m):\n"
        "            body = re.sub(r'-?\\d+', lambda v: str(int(v[0]) + (int(v[0]) < 127)), m[2])\n"
        "            return m[1] + body\n"
        "        new = re.sub(r'(int8_t \\w+\\[[^]]*\\] = \\{)([^}]*)', bump, text)\n"
        "        assert new != text, 'no int8 weights found'\n"
        "        header.write_text(new)\n"
        "sys.exit(subprocess.call(['gcc', *sys.argv[1:]]))\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    model = random_model(3, [5], "reset_after", seed=1)
    qm = quantise_for_bench(model, bench_inputs(model))
    (tmp_path / "good").mkdir()
    assert time_c(qm, tmp_path / "good", 1, 0.001, "gcc", ("-O2",)) > 0  # the same C, built by gcc
    (tmp_path / "bad").mkdir()
    with pytest.raises(EdgeGruError, match=r"the C built with .* -O2 is not bit-exact, so it is not timed"):
        time_c(qm, tmp_path / "bad", 1, 0.001, str(wrapper), ("-O2",))


def test_rounds_rotate_the_contenders_and_time_each_run():
    """Round r starts with contender r (mod n); every run is timed with its own step count."""
    calls: list[tuple[str, int]] = []

    def contender(name: str, ns_per_step: int) -> Contender:
        def run(steps: int) -> tuple[int, int]:
            calls.append((name, steps))
            return ns_per_step * steps, 2 * ns_per_step * steps

        return Contender(name, run)

    timings = interleave([contender("a", 1000), contender("b", 10), contender("c", 100)], 4, 1e-3)
    timed = calls[-12:]
    assert [name for name, _ in timed] == list("abcbcacababc")
    steps = {t.name: t.steps for t in timings}
    assert steps == {"a": 1024, "b": 131072, "c": 16384}  # doubled from 64 until >= 1 ms
    assert all(n == steps[name] for name, n in timed)
    a, b = timings[0], timings[1]
    assert a.cpu_ns == (1000.0,) * 4 and a.wall_median == 2000.0 and b.ratio_to(a) == 0.01


def test_tables_show_spread_ratios_and_what_was_not_timed():
    c = Timing("C", 64, (400.0, 410.0, 500.0), (900.0, 950.0, 990.0))
    eigen = Timing("Eigen", 64, (800.0, 1230.0, 1000.0), (1.0, 1.0, 1.0))

    rows = [Row("6 -> 32", 4224, {"C": c, "Eigen": eigen}, 73.3), Row("m", 10, {"C": c}, None)]
    times = [[cell.strip() for cell in line.strip("|").split("|")] for line in time_table(rows).splitlines()]
    assert times[2] == ["6 -> 32", "0.410 (0.400-0.500)", "1.00 (0.800-1.23)", "n/a", "n/a", "n/a"]
    ratios = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in ratio_table(rows).splitlines()
    ]
    # per-round ratios 2.0, 3.0, 2.0: median 2
    assert ratios[2] == ["6 -> 32", "2.00", "n/a", "n/a", "n/a", "4224", "73", "5.59"]
    assert ratios[3][-3:] == ["10", "n/a", "n/a"]
    assert len({len(line) for line in time_table(rows).splitlines()}) == 1  # aligned columns


def test_the_floor_says_where_its_clock_came_from():
    """Measured, nominal (a machine without the add chain) or none: each says so in words."""
    machine = Machine("Some CPU", frozenset({"avx2", "avx512bw"}), 2596.0, frozenset({"__AVX2__"}))
    assert machine.extensions_line() == (
        "CPU flags: AVX2 yes, AVX-512 BW yes, AVX-512 VNNI no, AVX-VNNI no; the C is compiled for: AVX2"
    )
    c = Timing("C", 64, (100.0,), (100.0,))
    rows = [Row("6 -> 32", 3648, {"C": c}, floor_ns(3648, 3.6e9))]
    measured = "\n".join(floor_lines(BenchResult(rows, machine, Clock(3.6e9, measured=True))))
    assert "clock 3.60 GHz, measured" in measured and "3648 / 16 / 3.60 GHz = 63 ns" in measured
    assert "/proc/cpuinfo says 2596 MHz (nominal)" in measured
    nominal = "\n".join(floor_lines(BenchResult(rows, machine, Clock(2.596e9, measured=False))))
    assert "clock 2.60 GHz: NOMINAL" in nominal and "measured" not in nominal
    assert floor_lines(BenchResult(rows, machine, None)) == [
        "floor: not computed, no clock measured on this machine (/proc/cpuinfo says 2596 MHz (nominal))"
    ]


def test_the_c_alone_runs_under_the_harness_protocol(tmp_path):
    """The binary other targets use (no peer): it times the C and refuses an unknown command."""
    model = random_model(3, [5], "reset_after", seed=1)
    exe = build_bench(quantise_for_bench(model, bench_inputs(model)), tmp_path, compile_host("gcc", ("-O2",)))
    with BenchProcess([str(exe)]) as bench:
        cpu_ns, wall_ns = bench.run("c", 1000)
        assert cpu_ns > 0 and wall_ns > 0
        with pytest.raises(EdgeGruError, match="gave no timing for `peer 10`: bm_bench: unknown command"):
            bench.run("peer", 10)


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


def timed(out: str) -> dict[str, float | None]:
    """The one row of the time table: each contender's median, None where not timed."""
    header, row = table_starting(out, "thread CPU time")
    return {
        name: None if cell == "n/a" else median_and_spread(cell)[0]
        for name, cell in zip(header[1:], row[1:], strict=True)
    }


def test_bench_of_a_quantised_model_and_its_float_model_times_every_contender(user_models, capsys):
    assert run(parse(["bench", user_models["q"], "--float", user_models["f"], *FAST])) == 0
    out = capsys.readouterr().out
    assert table_starting(out, "thread CPU time")[1][0] == (
        "3 -> GRU(6) -> GRU(5) -> classification(4), reset_after, int8 state"
    )
    medians = timed(out)
    assert all(medians[name] > 0 for name in CONTENDERS)  # the peer too: two layers and the head
    assert f"rows layout, of {user_models['q']}" in out

    assert run(parse(["bench", user_models["q"], *FAST])) == 0  # no float model: its C alone
    out = capsys.readouterr().out
    medians = timed(out)
    assert medians["C"] > 0 and [medians[name] for name in CONTENDERS[1:]] == [None] * 4
    assert "give it with --float FLOAT.egru" in out


def test_bench_of_a_float_model_quantises_it_for_the_c(user_models, capsys):
    """A float model alone: its C from an int16-state quantisation made here; nn.GRU has no
    reset_before, so torch is not timed for that variant (n/a, and a line says why)."""
    assert run(parse(["bench", user_models["f"], *FAST])) == 0
    out = capsys.readouterr().out
    assert table_starting(out, "thread CPU time")[1][0].endswith("reset_after, int16 state")
    assert "quantised here" in out and all(timed(out)[name] > 0 for name in CONTENDERS)
    assert run(parse(["bench", user_models["rb"], *FAST])) == 0
    out = capsys.readouterr().out
    medians = timed(out)
    assert medians["torch"] is None and "torch: not timed, nn.GRU computes reset_after only" in out
    assert all(medians[name] > 0 for name in CONTENDERS if name != "torch")


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
