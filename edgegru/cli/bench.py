"""``edgegru bench``: time the generated C against torch and LiteRT on this machine, or count
its instructions per step on Cortex-M cores.

The measuring is in :mod:`edgegru.targets.host_bench` and :mod:`edgegru.targets.cortex_m`;
this module parses the options and prints the method next to each table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from edgegru.cli.common import refuse_options_of_other_targets
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS
from edgegru.nn.model import MAX_SIZE
from edgegru.targets.host_bench import DEFAULT_CFLAGS, DEFAULT_SHAPES, bench_host, format_table

# The options each --target reads (--shapes serves both), and their defaults.
BENCH_OPTIONS = {
    "repeats": ("host",),
    "min_time": ("host",),
    "cc": ("host",),
    "cflags": ("host",),
    "no_xnnpack": ("host",),
    "cpu": ("cortex-m",),
    "variant": ("cortex-m",),
}
BENCH_DEFAULTS = {
    "repeats": 7,
    "min_time": 0.05,
    "cc": "gcc",
    "cflags": " ".join(DEFAULT_CFLAGS),
    "no_xnnpack": False,
    "cpu": "cortex-m4,cortex-m0plus,cortex-m7",
    "variant": "reset_after",
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "bench",
        help="time the generated C against torch and LiteRT, or count Cortex-M instructions",
        description="Time one step (batch 1, state carried) of random single-layer GRUs: "
        "the generated C, torch.nn.GRU and the LiteRT interpreter. Method: docs/performance.md.",
        epilog="examples:\n  edgegru bench\n  edgegru bench --shapes 6x32,128x128 --repeats 11\n"
        "  edgegru bench --cflags=-O2 --no-xnnpack\n"
        "  edgegru bench --target cortex-m --cpu cortex-m4,cortex-m0plus,cortex-m7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target", choices=sorted(RUNNERS), default="host", help="where to measure (default host)"
    )
    parser.add_argument(
        "--shapes",
        default=",".join(f"{d}x{h}" for d, h in DEFAULT_SHAPES),
        help="comma-separated DxH (input x hidden) shapes (default %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=BENCH_DEFAULTS["repeats"],
        help="timed runs per figure; the median is kept (default 7)",
    )
    cortex = parser.add_argument_group("cortex-m target")
    cortex.add_argument(
        "--cpu",
        default=BENCH_DEFAULTS["cpu"],
        help="comma-separated cores (default %(default)s)",
    )
    cortex.add_argument(
        "--variant",
        choices=["reset_after", "reset_before"],
        default=BENCH_DEFAULTS["variant"],
        help="GRU variant of the measured models (default %(default)s)",
    )
    host = parser.add_argument_group("host target")
    host.add_argument(
        "--min-time",
        type=float,
        default=BENCH_DEFAULTS["min_time"],
        help="seconds each timed run lasts at least (default 0.05)",
    )
    host.add_argument("--cc", default=BENCH_DEFAULTS["cc"], help="host C compiler (default gcc)")
    host.add_argument(
        "--cflags",
        default=BENCH_DEFAULTS["cflags"],
        help="optimisation flags for the C, added to the strict C99 warning flags "
        "(default '%(default)s'; write a single flag as --cflags=-O2)",
    )
    host.add_argument("--no-xnnpack", action="store_true", help="run LiteRT without its XNNPACK delegate")
    return parser


def run(args: argparse.Namespace) -> int:
    refuse_options_of_other_targets(args, BENCH_OPTIONS, BENCH_DEFAULTS)
    return RUNNERS[args.target](args)


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """``"6x32,12x64"`` -> [(6, 32), (12, 64)]; EdgeGruError naming the bad item."""
    shapes = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if match is None:
            raise EdgeGruError(f"--shapes item {item.strip()!r}: expected DxH, e.g. 12x64")
        d, h = int(match[1]), int(match[2])
        if not (1 <= d <= MAX_SIZE and 1 <= h <= MAX_SIZE):
            raise EdgeGruError(f"--shapes item {item.strip()!r}: sizes must be 1..{MAX_SIZE}")
        if (d, h) in shapes:
            raise EdgeGruError(f"--shapes item {item.strip()!r}: given twice")
        shapes.append((d, h))
    return shapes


def _run_host(args: argparse.Namespace) -> int:
    shapes = parse_shapes(args.shapes)
    cflags = args.cflags.split()
    rows = bench_host(
        shapes,
        repeats=args.repeats,
        min_time=args.min_time,
        cc=args.cc,
        cflags=cflags,
        xnnpack=not args.no_xnnpack,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    litert = "with XNNPACK (default resolver)" if not args.no_xnnpack else "without XNNPACK"
    print(f"C: {args.cc} {' '.join([*STRICT_FLAGS, *cflags])}; rows layout, int16 state, no head")
    print("torch: nn.GRU float32, set_num_threads(1), inference_mode, one call per step")
    print(f"LiteRT: float32 step model, num_threads=1, {litert}; set_tensor x, h0 + invoke")
    print("        + get_tensor h0_next, y per step")
    print(f"median of {args.repeats} runs of >= {args.min_time} s each\n")
    print(format_table(rows))
    return 0


def _run_cortex_m(args: argparse.Namespace) -> int:
    from edgegru.targets.cortex_m.icount import require_countable
    from edgegru.targets.cortex_m.instructions import InstructionCount
    from edgegru.targets.cortex_m.tables import footprint_rows, function_table, instruction_table

    cpus = [require_countable(c.strip()).cpu for c in args.cpu.split(",")]  # before any output
    shapes = tuple(parse_shapes(args.shapes))
    print("instructions per step of <prefix>_step, counted under unicorn (K and 2K steps, same ELF);")
    print(f"1 layer, {args.variant}, int16 state, no head; arm-none-eabi-gcc -O2; MACs = 3·H·(D+H);")
    print("other: outside the mat-vecs; gates: the same less the per-step copies (<prefix>_step's own")
    print("instructions and memcpy): the gates, activations, state update and unit loop")
    counts: list[tuple[str, InstructionCount]] = []
    print(instruction_table(cpus, shapes, args.variant, counts))
    print()
    print("instructions per unit outside the kernels, by innermost (inlined) function; the largest first")
    print(function_table(counts))
    print()
    print(f"footprint in bytes at -Os, 1 layer with a 4-class head, {args.variant}; targets: flash <=")
    print("int8 weights + other constants + 2 KB less the activation table; RAM <= state + 6·H + 512")
    print(footprint_rows(cpus, shapes, args.variant))
    return 0


# One runner per --target.
RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "host": _run_host,
    "cortex-m": _run_cortex_m,
}
