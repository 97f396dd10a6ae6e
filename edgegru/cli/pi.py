"""``edgegru pi setup|run|verify|bench``: the emulated Raspberry Pi (:mod:`edgegru.targets.pi`).

``run`` and ``verify`` take the user's models: a step ``.tflite`` streamed by the runtime on
the Pi's own Python and LiteRT, a quantised ``.egru`` whose C is cross-compiled for the Pi's
core. ``bench`` times either kind, or a random model when none is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edgegru.cli import run as run_command
from edgegru.cli.common import add_stimulus_args, load_any_model, require_quantised, stimulus
from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import BOARDS

# The random input of `pi verify` when no data is given (fewer than the host's `verify`:
# every sequence runs under emulation).
PI_VERIFY_SEQUENCES, PI_VERIFY_STEPS = 16, 100


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "pi",
        help="the emulated Raspberry Pi (arm64 under qemu-user)",
        description="Build the emulated Raspberry Pi root; run your .tflite on it, verify your "
        "model's C on it, or benchmark LiteRT and the C on it.",
        epilog="examples:\n  edgegru pi setup\n"
        "  edgegru pi run bm.tflite --input BasicMotions_TEST.ts --sequence 0\n"
        "  edgegru pi run bm-int8.egru --engine c --input BasicMotions_TEST.ts\n"
        "  edgegru pi verify bm-int8.egru BasicMotions_TEST.ts\n"
        "  edgegru pi bench bm.tflite bm-int8.egru\n  edgegru pi bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="pi_command", required=True)
    commands.add_parser("setup", help="build (or find) the cached emulated Pi root and print its path")

    run = commands.add_parser(
        "run",
        help="`edgegru run` on the emulated Pi: LiteRT streams your .tflite, or --engine c your .egru's C",
        description="Run `python -m edgegru.runtime` (what `edgegru run` runs) on the emulated Pi, "
        "with the Pi's own aarch64 Python, NumPy and LiteRT; with --engine c, the model's C "
        "cross-built for the board (or --library, from `edgegru engine`). Its output is printed when the run "
        "ends (qemu-user runs it as one process whose output is collected).",
    )
    _add_board(run)
    run_command.add_arguments(run)

    verify = commands.add_parser(
        "verify",
        help="cross-compile a quantised model's C for the Pi and compare it bit for bit with the reference",
        description="Cross-compile the model's C (aarch64-linux-gnu-gcc, -O2, the board's core), run "
        "it under qemu-aarch64 and compare every hidden state and output with the integer reference.",
    )
    verify.add_argument("model", metavar="MODEL.egru", help="a quantised model (edgegru quantize)")
    _add_board(verify)
    add_stimulus_args(verify, PI_VERIFY_SEQUENCES, PI_VERIFY_STEPS)

    bench = commands.add_parser(
        "bench",
        help="per-step cost of LiteRT and the generated C on the emulated Pi",
        description="Per-step cost on the emulated Pi and natively here: LiteRT on each step "
        ".tflite given, the C of each quantised .egru given; without MODEL, of a random model "
        "(float32 and int8 LiteRT, and its C). Emulated timings are only indicative of a real "
        "Pi: QEMU slows SIMD-heavy LiteRT more than the scalar C, so the emulated ratios "
        "overstate LiteRT's cost. The native x86 figures are printed alongside.",
    )
    bench.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="edgegru step .tflite files and quantised .egru models (default: a random model)",
    )
    _add_board(bench)
    bench.add_argument("--input-size", type=int, help="D of the random model (default 6)")
    bench.add_argument("--hidden", help="the random model's hidden sizes, comma-separated (default 32)")
    bench.add_argument("--steps", type=int, default=2000, help="steps LiteRT is timed over (default 2000)")
    return parser


def _add_board(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=sorted(BOARDS), default="pi4", help="default pi4")


def run(args: argparse.Namespace) -> int:
    commands = {"setup": _setup, "run": _run, "verify": _verify, "bench": _bench}
    return commands[args.pi_command](args)


def _setup(_args: argparse.Namespace) -> int:
    from edgegru.targets.pi.root import ensure_root

    start = time.perf_counter()
    pi = ensure_root()
    print(f"{pi.path} ({time.perf_counter() - start:.1f} s)")
    return 0


def _run(args: argparse.Namespace) -> int:
    """The runtime on the Pi, with every option passed on and every path made absolute (the
    guest's working directory is its own)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgegru-pi-run-") as tmp:
        forwarded = [str(Path(args.model).resolve()), "--engine", args.engine]
        if args.engine == "c":
            forwarded += ["--library", str(_pi_library(args, Path(tmp)))]
        elif args.library is not None:
            forwarded += ["--library", args.library]  # the runtime refuses it in one line
        return _run_runtime(args, forwarded)


def _pi_library(args: argparse.Namespace, tmp: Path) -> Path:
    """The engine library the Pi loads: the user's ``--library``, else the model's C
    cross-built for the board into ``tmp``."""
    if args.library is not None:
        return Path(args.library).resolve()
    from edgegru.engine.build import build_library, toolchain_for

    qm = require_quantised(args.model, "pi run --engine c")
    return build_library(qm, tmp / "engine.so", toolchain_for(args.board))


def _run_runtime(args: argparse.Namespace, forwarded: list[str]) -> int:
    """``python -m edgegru.runtime`` on the Pi with the remaining options passed on."""
    from edgegru.targets.pi.runner import run_python

    if args.input != "-":
        forwarded += ["--input", str(Path(args.input).resolve())]
    for flag, value in (("--sequence", args.sequence), ("--on-bad-line", args.on_bad_line)):
        if value is not None:
            forwarded += [flag, str(value)]
    forwarded += [
        flag for flag, on in (("--latency", args.latency), ("--reset-on-blank", args.reset_on_blank)) if on
    ]
    stdin = sys.stdin.read() if args.input == "-" else None
    proc = run_python(["-m", "edgegru.runtime", *forwarded], board=args.board, stdin=stdin)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


def _verify(args: argparse.Namespace) -> int:
    from edgegru.targets.pi.verify_c import verify_pi_c

    qm = require_quantised(args.model, "pi verify")
    x = stimulus(args, qm, PI_VERIFY_SEQUENCES, PI_VERIFY_STEPS)
    report = verify_pi_c(qm, x, board=args.board)
    print(report.summary())
    return 0 if report.ok else 1


def _bench(args: argparse.Namespace) -> int:
    if args.models:
        for flag, value in (("--input-size", args.input_size), ("--hidden", args.hidden)):
            if value is not None:
                raise EdgeGruError(f"{flag} shapes the random model; MODEL was given")
        return _bench_models(args)
    input_size = 6 if args.input_size is None else args.input_size
    hidden_text = args.hidden or "32"
    try:
        hidden = [int(h) for h in hidden_text.split(",")]
    except ValueError:
        raise EdgeGruError(f"--hidden {hidden_text!r}: expected comma-separated integers") from None
    from edgegru.targets.pi.bench import format_bench, pi_bench  # LiteRT's exporter: the tflite extra

    rows = pi_bench(board=args.board, input_size=input_size, hidden_sizes=hidden, steps=args.steps)
    print(f"model: D={input_size}, hidden {hidden}, reset_after, 3-class head; one thread")
    _print_method()
    print(format_bench(rows, args.board))
    return 0


def _bench_models(args: argparse.Namespace) -> int:
    """The user's files: a .tflite is timed under LiteRT, a quantised .egru by its C."""
    from edgegru.quant.qmodel import QuantizedModel
    from edgegru.targets.pi.bench import format_bench, pi_bench_models

    tflites, qmodels = [], []
    for name in args.models:
        if Path(name).suffix.lower() == ".tflite":
            tflites.append(Path(name))
            continue
        model = load_any_model(name)
        if not isinstance(model, QuantizedModel):
            raise EdgeGruError(
                f"{name}: a float model; pi bench times a step .tflite (edgegru export --target tflite) "
                "or a quantised .egru's C (edgegru quantize)"
            )
        qmodels.append((name, model))
    rows = pi_bench_models(tflites, qmodels, board=args.board, steps=args.steps)
    for name in args.models:
        print(f"model: {name}")
    print("one thread; LiteRT on random rows (normal after the model's normalisation)")
    _print_method()
    print(format_bench(rows, args.board))
    return 0


def _print_method() -> None:
    print(
        "wall-clock medians; emulated figures are only indicative of a real Pi (QEMU slows "
        "SIMD-heavy LiteRT more than scalar C)\n"
    )
