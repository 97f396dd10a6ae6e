"""Generated C on the host: strict compile, bit-exact against the integer reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.codegen.export import export_c
from edgegru.codegen.render import render
from edgegru.core.errors import EdgeGruError
from edgegru.targets.host import verify_host
from edgegru.targets.verify import random_stimulus, verify_with, write_sources
from tests.helpers import make_qmodel

# (input, hidden sizes, variant, head, state bits): inputs 1..64, hidden 1..128 with odd
# sizes, 1..3 layers, both variants, int16 and int8 state, with and without a head.
MATRIX = [
    (1, [1], "reset_after", None, 16),
    (1, [1], "reset_before", "classification", 8),
    (2, [3], "reset_before", None, 16),
    (6, [32], "reset_after", "classification", 16),
    (6, [32], "reset_before", "classification", 16),
    (7, [13, 5], "reset_after", "regression", 8),
    (12, [64], "reset_before", None, 8),
    (33, [96], "reset_after", "regression", 16),
    (33, [97, 31], "reset_before", "classification", 16),
    (64, [128], "reset_after", None, 16),
    (64, [127], "reset_before", "regression", 8),
    (5, [17, 9, 3], "reset_after", "classification", 16),
    (9, [8, 8, 8], "reset_before", "regression", 16),
    (3, [11, 7, 19], "reset_before", None, 8),
    (40, [128, 64], "reset_after", "classification", 8),
    (16, [1, 2, 1], "reset_after", "regression", 16),
]


@pytest.mark.parametrize(("d", "hidden", "variant", "head", "bits"), MATRIX)
def test_matrix_bit_exact(d, hidden, variant, head, bits):
    qm = make_qmodel(d, hidden, variant, head, bits, seed=d + len(hidden))
    steps = 60
    sequences = max(8, 80_000 // (steps * sum(hidden)))  # >= 10^6 values over the matrix
    report = verify_host(qm, random_stimulus(qm, sequences, steps, seed=d))
    assert report.ok, report.summary()
    assert report.states_compared == sequences * steps * sum(hidden)


def test_matrix_compares_a_million_values():
    total = sum(max(8, 80_000 // (60 * sum(h))) * 60 * sum(h) for _, h, *_ in MATRIX)
    assert total >= 1_000_000


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("bits", [16, 8])
def test_sanitizers_and_float_entry(variant, bits):
    """ASan + UBSan report nothing; float inputs go through the on-device quantiser."""
    qm = make_qmodel(5, [9, 4], variant, "classification", bits, seed=3)
    rng = np.random.default_rng(0)
    x = rng.normal(scale=3.0, size=(12, 40, 5)).astype(np.float32)
    x[0, :5] = 1e6  # saturating
    x[1, :5] = -1e6
    x[2, 3, 1] = np.nan
    report = verify_host(qm, x, sanitize=True)
    assert report.ok, report.summary()


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_clang_on_the_host(variant):
    """clang (-O3: its own vectoriser) builds the host C with the same bits, sanitizers on."""
    qm = make_qmodel(37, [33, 5], variant, "classification", 16, seed=4)
    x = np.random.default_rng(1).normal(size=(6, 30, 37)).astype(np.float32)
    report = verify_host(qm, x, cc="clang", cflags=("-O3",), sanitize=True)
    assert report.ok, report.summary()
    assert report.target == "host (clang, ASan+UBSan)"


def test_a_wrong_constant_is_caught(tmp_path):
    """The comparison can fail: a harness built from a tampered model is named exactly."""
    qm = make_qmodel(4, [6], "reset_after", "classification", 16, seed=1)
    tampered = make_qmodel(4, [6], "reset_after", "classification", 16, seed=1)
    tampered.layers[0].mult_h[2, 3] += 1000

    def run(directory, input_path):
        import subprocess

        sources = write_sources(tampered, directory, "m", "rows")
        subprocess.run(["gcc", "-std=c99", "-O2", *map(str, sources), "-o", str(directory / "h")], check=True)
        subprocess.run([str(directory / "h"), str(input_path), str(directory / "output.bin")], check=True)

    report = verify_with(qm, random_stimulus(qm, 4, 50), "tampered", run)
    assert not report.ok
    assert report.first is not None and report.first.where.startswith("layer 0, unit 3")
    assert "first mismatch: sequence 0" in report.summary()


def test_generated_code_is_readable_and_documented():
    qm = make_qmodel(6, [32], "reset_before", "classification", 16)
    files = render(qm, "motion", "rows").files
    header, source, weights = files["motion.h"], files["motion.c"], files["motion_weights.h"]
    assert "reset_before (original GRU; ONNX linear_before_reset=0)" in header
    assert 'extern "C"' in header and "motion_step(motion_state_t *state" in header
    assert "bytes of int8 weights" in source
    assert "malloc" not in source and "float" not in source.split("motion_quantize_input")[0]
    assert "static const int8_t l0_w_input" in weights


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
@pytest.mark.parametrize("layout", ["rows", "interleaved"])
@pytest.mark.parametrize("bits", [16, 8])
def test_generated_lines_fit_120_columns(variant, layout, bits):
    """Every generated file, for both layouts and variants, reads without side-scrolling."""
    qm = make_qmodel(6, [32, 16], variant, "classification", bits)
    for name, text in render(qm, "motion", layout).files.items():
        widest = max(text.splitlines(), key=len)
        assert len(widest) <= 120, f"{name}: {len(widest)} columns: {widest.strip()[:60]}"


def test_two_models_link_into_one_program(tmp_path):
    """Every symbol carries the prefix: two models and two states in one binary."""
    import subprocess

    a = make_qmodel(3, [4], "reset_after", "classification", 16, seed=1)
    b = make_qmodel(2, [5], "reset_before", None, 8, seed=2)
    for qm, prefix in ((a, "alpha"), (b, "beta")):
        for name, text in render(qm, prefix, "rows").files.items():
            (tmp_path / name).write_text(text)
    (tmp_path / "main.c").write_text(
        '#include "alpha.h"\n#include "beta.h"\nint main(void) {\n'
        "    alpha_state_t a1, a2; beta_state_t b1;\n"
        "    const int8_t xa[3] = {1, 2, 3}; const int8_t xb[2] = {-4, 5};\n"
        "    alpha_reset(&a1); alpha_reset(&a2); beta_reset(&b1);\n"
        "    alpha_step(&a1, xa, NULL); beta_step(&b1, xb, NULL);\n"
        "    return alpha_hidden(&a2, 0)[0] == 0 && alpha_predict(&a1) >= 0 ? 0 : 1;\n}\n"
    )
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion"]
    sources = [str(tmp_path / n) for n in ("main.c", "alpha.c", "beta.c")]
    subprocess.run(["gcc", *flags, *sources, "-o", str(tmp_path / "both")], check=True)
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Werror", "-x", "c++", "-fsyntax-only",
                    str(tmp_path / "main.c")], check=True)  # fmt: skip
    assert subprocess.run([str(tmp_path / "both")]).returncode == 0


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        *((p, "expected a C identifier") for p in ("1model", "my-model", "int", "", "x" * 65)),
        ("stdint", "stdint.h would hide the C library's header"),
        ("arm_acle", "arm_acle.h would hide"),
    ],
)
def test_bad_prefix(prefix, message):
    qm = make_qmodel(2, [3], "reset_after")
    with pytest.raises(EdgeGruError, match=message):
        render(qm, prefix, "rows")


def test_export_refuses_a_directory_with_other_files(tmp_path):
    qm = make_qmodel(2, [3], "reset_after")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EdgeGruError, match="holds other files"):
        export_c(qm, out, "m")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_export_is_atomic_and_repeatable(tmp_path):
    qm = make_qmodel(2, [3], "reset_after")
    out = tmp_path / "out"
    export_c(qm, out, "m")
    export_c(qm, out, "m")  # replacing a previous export of the same files is fine

    def failing_measure(_directory, _rendered):
        raise EdgeGruError("budget exceeded")

    with pytest.raises(EdgeGruError, match="budget"):
        export_c(qm, tmp_path / "new", "m", measure=failing_measure)
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_generator_limits():
    qm = make_qmodel(2, [3], "reset_after")
    qm.layers[0].wh = np.zeros((3, 600, 600), np.int8)
    with pytest.raises(EdgeGruError, match="layer 0 hidden size 600"):
        render(qm, "m", "rows")
