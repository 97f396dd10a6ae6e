"""``edgegru bench``: time the generated C against an Eigen float peer, torch and LiteRT on this
machine, or count its instructions per step on Cortex-M cores, for random shapes or for the
user's own model.

The measuring is in :mod:`edgegru.targets.host_bench` and :mod:`edgegru.targets.cortex_m`;
this module parses the options and prints the method next to each table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli.common import load_any_model, refuse_options_of_other_targets, require_float
from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_SIZE
from edgegru.core.toolchain import STRICT_FLAGS
from edgegru.targets.host_bench import DEFAULT_CFLAGS, DEFAULT_SHAPES, BenchOptions, BenchResult, bench_host
from edgegru.targets.host_bench_peer import PEER_FLAGS, find_eigen
from edgegru.targets.host_bench_tables import format_result
from edgegru.targets.host_machine import versions_line

if TYPE_CHECKING:
    from edgegru.targets.cortex_m.instructions import InstructionCount

# The options each --target reads (--shapes serves both), and their defaults.
BENCH_OPTIONS = {
    "repeats": ("host",),
    "min_time": ("host",),
    "cc": ("host",),
    "cxx": ("host",),
    "eigen": ("host",),
    "cflags": ("host",),
    "no_xnnpack": ("host",),
    "float": ("host",),
    "cpu": ("cortex-m",),
    "variant": ("cortex-m",),
    "clock": ("cortex-m",),
}
BENCH_DEFAULTS = {
    "shapes": ",".join(f"{d}x{h}" for d, h in DEFAULT_SHAPES),
    "repeats": 7,
    "min_time": 0.05,
    "cc": "gcc",
    "cxx": "g++",
    "cflags": " ".join(DEFAULT_CFLAGS),
    "no_xnnpack": False,
    "cpu": "cortex-m4,cortex-m0plus,cortex-m7",
    "variant": "reset_after",
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "bench",
        help="time the generated C against an Eigen float peer, torch and LiteRT, or count Cortex-M "
        "instructions",
        description="Time one step (batch 1, state carried) of your model, or of random "
        "single-layer GRUs: the generated C, a float C++ GRU on Eigen in the same binary, "
        "torch.nn.GRU and the LiteRT interpreter on the float32 and int8 models, interleaved in "
        "rounds, in thread CPU time; or count the C's instructions per step on Cortex-M cores. A "
        "quantised MODEL times its C; a float MODEL (or --float) adds the float contenders. "
        "Method: docs/performance.md.",
        epilog="examples:\n  edgegru bench\n  edgegru bench bm-int8.egru --float bm.egru\n"
        "  edgegru bench --shapes 6x32,128x128 --repeats 11\n"
        "  edgegru bench --cflags=-O2 --no-xnnpack\n"
        "  edgegru bench --target cortex-m --cpu cortex-m4,cortex-m0plus,cortex-m7\n"
        "  edgegru bench bm-int8.egru --target cortex-m --cpu cortex-m4 --clock 84",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model",
        nargs="?",
        metavar="MODEL.egru",
        help="your model, quantised or float (default: random models of --shapes)",
    )
    parser.add_argument(
        "--target", choices=sorted(RUNNERS), default="host", help="where to measure (default host)"
    )
    parser.add_argument(
        "--shapes",
        default=BENCH_DEFAULTS["shapes"],
        help="comma-separated DxH (input x hidden) shapes of random models, when no MODEL is given "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=BENCH_DEFAULTS["repeats"],
        help="rounds, each timing every contender once; the median is kept (default %(default)s)",
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
        help="GRU variant of the random models (default %(default)s)",
    )
    cortex.add_argument(
        "--clock",
        type=float,
        metavar="MHZ",
        help="with MODEL: the core clock for the µs estimate (default: each core's example part, printed)",
    )
    host = parser.add_argument_group("host target")
    host.add_argument(
        "--min-time",
        type=float,
        default=BENCH_DEFAULTS["min_time"],
        help="seconds of thread CPU time each timed run lasts at least (default %(default)s)",
    )
    host.add_argument("--cc", default=BENCH_DEFAULTS["cc"], help="host C compiler (default %(default)s)")
    host.add_argument(
        "--cxx", default=BENCH_DEFAULTS["cxx"], help="C++ compiler of the Eigen peer (default %(default)s)"
    )
    host.add_argument(
        "--eigen",
        metavar="DIR",
        help="Eigen 3's include directory, holding Eigen/Core (default: /usr/include/eigen3 or "
        "/usr/local/include/eigen3; without one the peer is not timed)",
    )
    host.add_argument(
        "--cflags",
        default=BENCH_DEFAULTS["cflags"],
        help="optimisation flags for the C and the Eigen peer, added to the strict C99 warning flags "
        "(default '%(default)s'; write a single flag as --cflags=-O2)",
    )
    host.add_argument("--no-xnnpack", action="store_true", help="run LiteRT without its XNNPACK delegate")
    host.add_argument(
        "--float",
        metavar="FLOAT.egru",
        help="with a quantised MODEL: the float model it came from, for torch and LiteRT",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    refuse_options_of_other_targets(args, BENCH_OPTIONS, BENCH_DEFAULTS)
    if args.model is not None:
        for flag, given in (
            ("--shapes", args.shapes != BENCH_DEFAULTS["shapes"]),
            ("--variant", args.variant != BENCH_DEFAULTS["variant"]),
        ):
            if given:
                raise EdgeGruError(f"{flag} shapes the random models; MODEL {args.model} was given")
    else:
        for flag, value in (("--float", args.float), ("--clock", args.clock)):
            if value is not None:
                raise EdgeGruError(f"{flag} applies with a MODEL, and none was given")
    if args.clock is not None and not args.clock > 0:
        raise EdgeGruError(f"--clock {args.clock:g}: expected a positive number of MHz")
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


def _host_options(args: argparse.Namespace) -> BenchOptions:
    """The host options, with Eigen's directory found (or checked where --eigen names it)."""
    if args.eigen is None:
        eigen = find_eigen()
    else:
        eigen = find_eigen((Path(args.eigen),))
        if eigen is None:
            raise EdgeGruError(
                f"--eigen {args.eigen}: no Eigen/Core there; expected Eigen 3's include directory"
            )
    return BenchOptions(
        repeats=args.repeats,
        min_time=args.min_time,
        cc=args.cc,
        cxx=args.cxx,
        cflags=tuple(args.cflags.split()),
        xnnpack=not args.no_xnnpack,
        eigen=eigen,
    )


def _run_host(args: argparse.Namespace) -> int:
    if args.model is not None:
        return _run_host_model(args)
    shapes = parse_shapes(args.shapes)
    options = _host_options(args)
    result = bench_host(shapes, options, progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(f"C: {args.cc} {' '.join([*STRICT_FLAGS, *options.cflags])}; rows layout, int16 state, no head")
    _print_method(options, result)
    return 0


def _run_host_model(args: argparse.Namespace) -> int:
    """The user's model: its C, and the float contenders when a float model is at hand."""
    from edgegru.nn.model import Model
    from edgegru.targets.host_bench import bench_user_model

    given = load_any_model(args.model)
    model = given if isinstance(given, Model) else None
    qm = None if isinstance(given, Model) else given
    if args.float is not None:
        if model is not None:
            raise EdgeGruError(f"--float: MODEL {args.model} is already a float model")
        model = require_float(args.float, "--float")
    options = _host_options(args)
    result = bench_user_model(qm, model, options)
    if qm is None:
        where = f"{args.model} quantised here (int16 state, calibrated on the bench's random inputs)"
    else:
        where = args.model
    print(f"C: {args.cc} {' '.join([*STRICT_FLAGS, *options.cflags])}; rows layout, of {where}")
    if model is None:
        print("Eigen, torch, LiteRT: not timed, they run the float model: give it with --float FLOAT.egru")
    else:
        print(f"float model: {args.float or args.model} ({model.describe()})")
    _print_method(options, result)
    return 0


def _print_method(options: BenchOptions, result: BenchResult) -> None:
    """How each contender is run and timed, then the machine and the tables."""
    litert = "with XNNPACK (default resolver)" if options.xnnpack else "without XNNPACK"
    if options.eigen is not None:
        print(f"Eigen: float32 GRU step in C++ on Eigen ({options.eigen}), linked into the C's binary")
        print(f"       and checked against the float reference; {options.cxx} {' '.join(PEER_FLAGS)}")
        print(f"       {' '.join(options.cflags)}")
    print("torch: nn.GRU float32 per layer (reset_after only) + nn.Linear head, set_num_threads(1),")
    print("       inference_mode, one call per step")
    print(f"LiteRT: float32 and int8 step models, num_threads=1, {litert};")
    print("        per step set_tensor x and h<k>, invoke, get_tensor h<k>_next and y")
    print(f"timing: {options.repeats} rounds, contenders in rotating order, each run >= {options.min_time} s")
    print("        of thread CPU time (CLOCK_THREAD_CPUTIME_ID in C/C++, time.thread_time_ns in Python)")
    print(versions_line(options.cc, options.cxx, options.eigen))
    print(format_result(result))


def _run_cortex_m(args: argparse.Namespace) -> int:
    from edgegru.targets.cortex_m.icount import require_countable
    from edgegru.targets.cortex_m.tables import footprint_rows, instruction_table

    cpus = [require_countable(c.strip()).cpu for c in args.cpu.split(",")]  # before any output
    if args.model is not None:
        return _run_cortex_m_model(args, cpus)
    shapes = tuple(parse_shapes(args.shapes))
    print("instructions per step of <prefix>_step, counted under unicorn (K and 2K steps, same ELF);")
    print(f"1 layer, {args.variant}, int16 state, no head; arm-none-eabi-gcc -O2; MACs = 3·H·(D+H);")
    print("other: outside the mat-vecs; gates: the same less the per-step copies (<prefix>_step's own")
    print("instructions and memcpy): the gates, activations, state update and unit loop")
    counts: list[tuple[str, InstructionCount]] = []
    print(instruction_table(cpus, shapes, args.variant, counts))
    _print_function_table(counts)
    print(f"footprint in bytes at -Os, 1 layer with a 4-class head, {args.variant}; targets: flash <=")
    print("int8 weights + other constants + 2 KB less the activation table; RAM <= state + 6·H + 512")
    print(footprint_rows(cpus, shapes, args.variant))
    return 0


def _print_function_table(counts: list[tuple[str, InstructionCount]]) -> None:
    """The per-function split of the counts, between blank lines (both Cortex-M tables show it)."""
    from edgegru.targets.cortex_m.tables import function_table

    print()
    print("instructions per unit outside the kernels, by innermost (inlined) function; the largest first")
    print(function_table(counts))
    print()


def _run_cortex_m_model(args: argparse.Namespace, cpus: list[str]) -> int:
    """The user's quantised model on each core: instructions, a cycle estimate, footprint."""
    from edgegru.cli.common import require_quantised
    from edgegru.targets.cortex_m.tables import model_footprint_rows, model_instruction_table

    qm = require_quantised(args.model, "bench --target cortex-m")
    print(f"{args.model}: {qm.describe()}")
    print("instructions per step of <prefix>_step, counted under unicorn (K and 2K steps, same ELF);")
    print("arm-none-eabi-gcc -O2; MACs = 3·H·(D+H) per layer + the head's")
    print("cycles/step >= : an ESTIMATE, a lower bound: instructions / the most a core retires per")
    print("cycle (1; 2 for the dual-issue Cortex-M7), zero wait states; flash wait states, loads and")
    print("taken branches add cycles. µs at --clock, or at the example part's maximum clock shown")
    counts: list[tuple[str, InstructionCount]] = []
    print(model_instruction_table(qm, cpus, args.clock, counts))
    _print_function_table(counts)
    print("footprint in bytes at -Os; targets: flash <= int8 weights + other constants + 2 KB less the")
    print("activation table; RAM <= state + 6·H + 512")
    print(model_footprint_rows(qm, cpus))
    return 0


# One runner per --target.
RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "host": _run_host,
    "cortex-m": _run_cortex_m,
}
