"""The rows layout's kernels: each path is chosen where its flags say and gives the same bits.

The generated C picks its product kernel from the compiler's target macros; every path must
compute the integers of the reference. Each x86 flag set is compiled with the strict flags
and run on this machine against the integer reference; the paths this CPU cannot execute are
skipped with the reason (their selection is still checked by the preprocessor test). The
aarch64 paths, SMLAL on the Pi 4's Cortex-A72 and SDOT on the Pi 5's Cortex-A76, are
cross-compiled for those cores and run under QEMU (a missing cross compiler or QEMU fails
those tests).
"""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgegru.codegen.layout import LANE_TILE, lane_tiles, low_byte_sums, padded_rows, quad_tiles
from edgegru.codegen.render import render
from edgegru.core.toolchain import STRICT_FLAGS
from edgegru.quant.synthetic import random_qmodel
from edgegru.targets.host import verify_host
from edgegru.targets.pi.boards import get_board
from edgegru.targets.pi.tools import CROSS_CC, QEMU, require_tools
from edgegru.targets.pi.verify_c import verify_pi_c
from edgegru.targets.verify import expected, random_stimulus
from tests.helpers import make_qmodel

X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_x86 = pytest.mark.skipif(not X86, reason="the x86 kernels need an x86-64 host")


@pytest.fixture
def aarch64_tools() -> None:
    """The NEON kernels are checked with CROSS_CC and QEMU (scripts/setup.sh installs both):
    a missing one fails the test, it does not skip it."""
    require_tools(CROSS_CC, QEMU)


# (flags, the kernel they select, the CPU features /proc/cpuinfo must list to run them)
PATHS = [
    (("-mno-avx2",), "portable", ()),
    (("-mavx2",), "avx2", ("avx2",)),
    (("-mavx2", "-mavxvnni"), "avxvnni", ("avx2", "avx_vnni")),
    (("-mavx2", "-mavx512vl", "-mavx512vnni"), "avxvnni", ("avx2", "avx512vl", "avx512_vnni")),
    (("-mavx512bw",), "avx512bw", ("avx512bw",)),
    (("-mavx512bw", "-mavx512vnni"), "avx512vnni", ("avx512bw", "avx512_vnni")),
    (("-march=native", "-DEDGEGRU_PORTABLE_KERNELS"), "portable", ()),
]
PATH_IDS = [p[1] + ("" if i < len(PATHS) - 1 else "-forced") for i, p in enumerate(PATHS)]
PATH_IDS[3] = "avxvnni-evex"

# (input, hidden sizes, variant, head, state bits): odd and even column counts, hidden sizes
# that leave part of a tile empty and that fill several, both variants, both state widths.
MODELS = [
    (1, [1], "reset_after", None, 16),
    (6, [32], "reset_after", "classification", 16),
    (7, [13, 5], "reset_before", "regression", 8),
    (33, [97, 31], "reset_before", "classification", 16),
    (12, [64], "reset_after", None, 8),
    (64, [128], "reset_after", "regression", 16),
]


def cpu_features() -> set[str]:
    """The feature flags of this CPU as Linux lists them (empty where it does not)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", text, re.M)
    return set(match.group(1).split()) if match else set()


def selected_kernel(source: Path, cc: str, flags: tuple[str, ...]) -> str:
    """The <P>_KERNEL string the preprocessor defines for ``flags`` (P: the file's stem)."""
    out = subprocess.run(
        [cc, "-std=c99", *flags, "-dM", "-E", str(source)], capture_output=True, text=True, check=True
    ).stdout
    macro = f"{source.stem.upper()}_KERNEL"
    match = re.search(rf'^#define {macro} "([\w-]+)"$', out, re.M)
    assert match, f"no {macro} macro"
    return match.group(1)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("kernels")
    render(make_qmodel(9, [20], "reset_after", None, 16, seed=2), "kt", "rows").write(directory)
    return directory / "kt.c"


@needs_x86
@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize(("flags", "kernel", "features"), PATHS, ids=PATH_IDS)
def test_each_flag_set_selects_its_kernel_and_compiles_strictly(source, cc, flags, kernel, features):
    assert selected_kernel(source, cc, flags) == kernel
    subprocess.run(
        [cc, *STRICT_FLAGS, "-O2", *flags, "-c", str(source), "-o", str(source.with_suffix(f".{cc}.o"))],
        check=True,
        capture_output=True,
    )


@needs_x86
@pytest.mark.parametrize(("flags", "kernel", "features"), PATHS, ids=PATH_IDS)
@pytest.mark.parametrize(("d", "hidden", "variant", "head", "bits"), MODELS)
def test_every_kernel_path_is_bit_exact(tmp_path, flags, kernel, features, d, hidden, variant, head, bits):
    missing = set(features) - cpu_features()
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(sorted(missing))}: the {kernel} path cannot run here")
    qm = make_qmodel(d, hidden, variant, head, bits, seed=d + len(hidden))
    report = verify_host(qm, random_stimulus(qm, 8, 50, seed=d), cflags=("-O2", *flags), workdir=tmp_path)
    assert report.ok, report.summary()
    assert selected_kernel(tmp_path / "model.c", "gcc", flags) == kernel


@needs_x86
@pytest.mark.parametrize("flags", [("-mavx2",), ("-mavx512bw", "-mavx512vnni")], ids=["avx2", "avx512vnni"])
def test_clang_kernels_bit_exact_under_sanitizers(tmp_path, flags):
    missing = {"avx2", *(("avx512bw", "avx512_vnni") if len(flags) > 1 else ())} - cpu_features()
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(sorted(missing))}")
    qm = make_qmodel(37, [33, 5], "reset_before", "classification", 16, seed=4)
    x = np.random.default_rng(1).normal(size=(6, 30, 37)).astype(np.float32)
    report = verify_host(qm, x, cc="clang", cflags=("-O3", *flags), sanitize=True, workdir=tmp_path)
    assert report.ok, report.summary()


# The kernel each board's core selects: the A76 has the dot-product extension (SDOT), the A72 not.
BOARD_KERNELS = {"pi4": "neon", "pi5": "neon-dotprod"}


@pytest.mark.usefixtures("aarch64_tools")
@pytest.mark.parametrize("cc", [(CROSS_CC,), ("clang", "--target=aarch64-linux-gnu")], ids=["gcc", "clang"])
@pytest.mark.parametrize("opt", ["-O0", "-O3"])
@pytest.mark.parametrize(
    ("flags", "kernel"),
    [
        (("-mcpu=cortex-a72",), "neon"),
        (("-mcpu=cortex-a76",), "neon-dotprod"),
        (("-march=armv8.2-a+dotprod",), "neon-dotprod"),
        (("-march=armv8.2-a",), "neon"),
        (("-mcpu=cortex-a76", "-DEDGEGRU_PORTABLE_KERNELS"), "portable"),
    ],
)
def test_aarch64_flags_select_their_kernel_and_compile_strictly(source, cc, opt, flags, kernel):
    assert selected_kernel(source, cc[0], (*cc[1:], *flags)) == kernel
    obj = source.with_suffix(f".aarch64.{cc[0].rsplit('-', 1)[-1]}{opt}.o")
    subprocess.run([*cc, *STRICT_FLAGS, opt, *flags, "-c", str(source), "-o", str(obj)], check=True)


@pytest.mark.usefixtures("aarch64_tools")
@pytest.mark.parametrize("board", ["pi4", "pi5"])
@pytest.mark.parametrize(("d", "hidden", "variant", "head", "bits"), MODELS[1:5])
def test_neon_kernel_is_bit_exact_under_qemu(tmp_path, board, d, hidden, variant, head, bits):
    """Cross-compiled for the board's core (Cortex-A72: SMLAL, A76: SDOT) and run on it by QEMU."""
    qm = make_qmodel(d, hidden, variant, head, bits, seed=d + len(hidden))
    report = verify_pi_c(qm, random_stimulus(qm, 6, 40, seed=d), board=board, workdir=tmp_path)
    assert report.ok, report.summary()
    cpu = get_board(board).cpu
    assert selected_kernel(tmp_path / "model.c", CROSS_CC, (f"-mcpu={cpu}",)) == BOARD_KERNELS[board]


@pytest.mark.usefixtures("aarch64_tools")
@pytest.mark.parametrize(
    ("d", "hidden", "variant", "head", "bits"),
    [
        (6, [32, 13], "reset_after", "classification", 16),
        (33, [97], "reset_before", None, 16),
        (7, [13, 5], "reset_before", "regression", 8),
    ],
)
def test_dotprod_kernel_is_bit_exact_at_extreme_activations(tmp_path, d, hidden, variant, head, bits):
    """The byte split of the SDOT kernel at its ends: inputs -128 and 127, and states at the
    limits of their format (high bytes -128 and 127), where large weights drive them; the
    reference confirms that they get there, so the test keeps its point."""
    qm = random_qmodel(d, hidden, variant, head, bits, seed=d, scale=8.0)
    x = random_stimulus(qm, 6, 40, seed=d)
    states, _ = expected(qm, x)
    assert x.min() == -128 and x.max() == 127
    limit = 32700 if bits == 16 else 127
    assert states.max() >= limit and states.min() <= -limit
    report = verify_pi_c(qm, x, board="pi5", workdir=tmp_path)
    assert report.ok, report.summary()
    assert selected_kernel(tmp_path / "model.c", CROSS_CC, ("-mcpu=cortex-a76",)) == "neon-dotprod"


@pytest.mark.parametrize(("n_rows", "k"), [(1, 1), (31, 7), (32, 32), (33, 6), (96, 13), (290, 64)])
def test_lane_tiles_hold_each_row_in_its_lane(n_rows, k):
    """Weight (i, c) sits where the kernels read it: tile i // 32, pair c // 2, lane i % 32."""
    rng = np.random.default_rng(n_rows + k)
    rows = rng.integers(-128, 128, (n_rows, k)).astype(np.int8)
    flat = lane_tiles(rows)
    pairs = (k + 1) // 2
    assert flat.size == padded_rows(n_rows) * 2 * pairs
    assert padded_rows(n_rows) % LANE_TILE == 0 and padded_rows(n_rows) - n_rows < LANE_TILE
    i, c = np.meshgrid(np.arange(n_rows), np.arange(k), indexing="ij")
    at = (i // LANE_TILE) * (2 * LANE_TILE * pairs) + (c // 2) * 2 * LANE_TILE + (i % LANE_TILE) * 2 + c % 2
    assert np.array_equal(flat[at], rows.astype(np.int64))
    padding = np.ones(flat.size, bool)
    padding[at.ravel()] = False
    assert not flat[padding].any()
    # the kernels' arithmetic: one lane per row, pairs of columns multiplied into all rows
    a = rng.integers(-32768, 32768, k)
    a_pairs = np.append(a, 0)[: 2 * pairs].reshape(pairs, 2)
    tiles = flat.reshape(-1, pairs, LANE_TILE, 2)
    acc = np.einsum("tplc,pc->tl", tiles, a_pairs).ravel()
    assert np.array_equal(acc[:n_rows], rows.astype(np.int64) @ a)


@pytest.mark.parametrize(("n_rows", "k"), [(1, 1), (31, 7), (32, 32), (33, 6), (96, 13), (290, 64)])
def test_quad_tiles_hold_each_row_in_its_lane(n_rows, k):
    """Weight (i, c) sits where the SDOT kernel reads it: tile i // 32, then quad c // 4 (16
    bytes per 4 rows, each row's four weights side by side), or, for the last pair of an odd
    number of pairs, after the quads as lane_tiles holds a pair; the same bytes as lane_tiles."""
    rng = np.random.default_rng(n_rows + k)
    rows = rng.integers(-128, 128, (n_rows, k)).astype(np.int8)
    flat = quad_tiles(rows)
    pairs = (k + 1) // 2
    whole = 4 * (pairs // 2)  # columns in whole quads
    assert flat.size == lane_tiles(rows).size
    assert np.array_equal(np.sort(flat), np.sort(lane_tiles(rows)))
    i, c = np.meshgrid(np.arange(n_rows), np.arange(k), indexing="ij")
    tile = (i // LANE_TILE) * (2 * LANE_TILE * pairs)
    in_quad = (c // 4) * 4 * LANE_TILE + (i % LANE_TILE) * 4 + c % 4
    in_pair = whole * LANE_TILE + (i % LANE_TILE) * 2 + c % 2
    at = tile + np.where(c < whole, in_quad, in_pair)
    assert np.array_equal(flat[at], rows.astype(np.int64))
    padding = np.ones(flat.size, bool)
    padding[at.ravel()] = False
    assert not flat[padding].any()


@pytest.mark.parametrize(("n_rows", "k"), [(1, 1), (31, 7), (33, 6), (96, 13), (290, 64)])
def test_sdot_byte_split_gives_each_rows_sum(n_rows, k):
    """The SDOT kernels' arithmetic on quad_tiles: whole quads loaded as they are, the last pair
    of an odd number of pairs widened to a quad with zeros, high and low bytes of the
    activations, int8 by int8, and low_byte_sums, give the exact sums, at the int16 extremes
    too."""
    rng = np.random.default_rng(n_rows + k)
    rows = rng.integers(-128, 128, (n_rows, k)).astype(np.int8)
    pairs = (k + 1) // 2
    tiles = quad_tiles(rows).reshape(-1, 2 * pairs * LANE_TILE)
    quads = tiles[:, : pairs // 2 * 4 * LANE_TILE].reshape(
        tiles.shape[0], -1, LANE_TILE, 4
    )  # tile, quad, row, 4
    last = tiles[:, pairs // 2 * 4 * LANE_TILE :].reshape(
        tiles.shape[0], -1, LANE_TILE, 2
    )  # the odd pair, if any
    quads = np.concatenate([quads, np.concatenate([last, np.zeros_like(last)], axis=3)], axis=1)
    a = np.concatenate([[-32768, 32767, -1, 0, 255, -256], rng.integers(-32768, 32768, k)])[:k]
    a_quads = np.zeros(4 * quads.shape[1], np.int64)
    a_quads[:k] = a
    high, low = a_quads >> 8, (a_quads & 0xFF) - 128
    assert high.min() >= -128 and high.max() <= 127 and low.min() >= -128 and low.max() <= 127

    def sdot(b: np.ndarray) -> np.ndarray:
        """Every tile's rows . the activation bytes b, four columns (one SDOT lane) at a time."""
        return np.einsum("tqlc,qc->tl", quads, b.reshape(-1, 4)).ravel()

    acc = 256 * sdot(high) + sdot(low) + low_byte_sums(rows)
    assert np.array_equal(acc[:n_rows], rows.astype(np.int64) @ a)
    assert not acc[n_rows:].any()  # the zero rows completing the last tile
