"""``edgegru pi setup|bench``: the emulated Raspberry Pi (:mod:`edgegru.targets.pi`)."""

from __future__ import annotations

import argparse
import time

from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import BOARDS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "pi",
        help="the emulated Raspberry Pi (arm64 under qemu-user)",
        description="Build the emulated Raspberry Pi root, or benchmark LiteRT and the C on it.",
        epilog="examples:\n  edgegru pi setup\n  edgegru pi bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="pi_command", required=True)
    commands.add_parser("setup", help="build (or find) the cached emulated Pi root and print its path")
    bench = commands.add_parser(
        "bench",
        help="per-step cost of LiteRT (float32, int8) and the generated C on the emulated Pi",
        description="Emulated timings are only indicative of a real Pi: QEMU slows "
        "SIMD-heavy LiteRT more than the scalar C, so the emulated ratios overstate LiteRT's "
        "cost. The native x86 figures are printed alongside.",
    )
    bench.add_argument("--board", choices=sorted(BOARDS), default="pi4", help="default pi4")
    bench.add_argument("--input-size", type=int, default=6, help="D (default 6)")
    bench.add_argument(
        "--hidden", default="32", help="comma-separated hidden sizes, one per layer (default 32)"
    )
    bench.add_argument("--steps", type=int, default=2000, help="steps LiteRT is timed over (default 2000)")
    return parser


def run(args: argparse.Namespace) -> int:
    return _setup() if args.pi_command == "setup" else _bench(args)


def _setup() -> int:
    from edgegru.targets.pi.root import ensure_root

    start = time.perf_counter()
    pi = ensure_root()
    print(f"{pi.path} ({time.perf_counter() - start:.1f} s)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    try:
        hidden = [int(h) for h in args.hidden.split(",")]
    except ValueError:
        raise EdgeGruError(f"--hidden {args.hidden!r}: expected comma-separated integers") from None
    from edgegru.targets.pi.bench import format_bench, pi_bench  # LiteRT's exporter: the tflite extra

    rows = pi_bench(board=args.board, input_size=args.input_size, hidden_sizes=hidden, steps=args.steps)
    print(f"model: D={args.input_size}, hidden {hidden}, reset_after, 3-class head; one thread")
    print(
        "wall-clock medians; emulated figures are only indicative of a real Pi (QEMU slows "
        "SIMD-heavy LiteRT more than scalar C)\n"
    )
    print(format_bench(rows, args.board))
    return 0
