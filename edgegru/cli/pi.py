"""``edgegru pi setup|run|verify|bench|count``: the emulated Raspberry Pi (:mod:`edgegru.targets.pi`).

``run`` and ``verify`` take the user's models: a step ``.tflite`` streamed by the runtime on
the Pi's own Python and LiteRT, a quantised ``.egru`` whose C is cross-compiled for the Pi's
core. ``bench`` times either kind, and ``count`` counts their instructions per step, of a
random model when none is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli import run as run_command
from edgegru.cli.common import add_stimulus_args, load_any_model, require_quantised, stimulus
from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import BOARDS

if TYPE_CHECKING:
    from edgegru.quant.qmodel import QuantizedModel

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
        "  edgegru pi bench bm.tflite bm-int8.egru\n  edgegru pi bench\n"
        "  edgegru pi count bm-int8.tflite bm.tflite bm-int8.egru\n"
        "  edgegru pi count --input-size 12 --hidden 64",
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
    _add_models(bench)
    bench.add_argument("--steps", type=int, default=2000, help="steps LiteRT is timed over (default 2000)")

    count = commands.add_parser(
        "count",
        help="aarch64 instructions per step of LiteRT's invoke and of the C engine's step, traced",
        description="Instructions per call on the emulated Pi, counted from qemu's execution trace "
        "(docs/raspberry-pi.md): LiteRT's Interpreter.invoke of each step .tflite given, the C "
        "engine's step (the Pi's library through edgegru's ctypes engine) of each quantised .egru "
        "given, beside unicorn's count of the same step; without MODEL, of a random model "
        "(int8 and float32 LiteRT, and its C). Counted: every library below Python (the engine's, "
        "its binding, libc, libm, libstdc++, libgcc, ld.so); not counted: the Python interpreter "
        "and NumPy.",
    )
    _add_models(count)
    count.add_argument("--calls", type=int, default=100, help="calls one count is taken over (default 100)")
    count.add_argument("--rounds", type=int, default=3, help="counts taken, for their spread (default 3)")
    count.add_argument(
        "--singlestep", action="store_true", help="trace one instruction per block: slow, the cross-check"
    )
    return parser


def _add_board(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=sorted(BOARDS), default="pi4", help="default pi4")


def _add_models(p: argparse.ArgumentParser) -> None:
    """MODEL files, or the random model's shape, and the board: what bench and count take."""
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="edgegru step .tflite files and quantised .egru models (default: a random model)",
    )
    _add_board(p)
    p.add_argument("--input-size", type=int, help="D of the random model (default 6)")
    p.add_argument("--hidden", help="the random model's hidden sizes, comma-separated (default 32)")


def run(args: argparse.Namespace) -> int:
    commands = {"setup": _setup, "run": _run, "verify": _verify, "bench": _bench, "count": _count}
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


def _random_shape(args: argparse.Namespace) -> tuple[int, list[int]] | None:
    """The random model's (D, hidden sizes) of ``bench`` and ``count``; None when MODEL is given
    (then --input-size and --hidden are refused)."""
    if args.models:
        for flag, value in (("--input-size", args.input_size), ("--hidden", args.hidden)):
            if value is not None:
                raise EdgeGruError(f"{flag} shapes the random model; MODEL was given")
        return None
    hidden_text = args.hidden or "32"
    try:
        hidden = [int(h) for h in hidden_text.split(",")]
    except ValueError:
        raise EdgeGruError(f"--hidden {hidden_text!r}: expected comma-separated integers") from None
    return (6 if args.input_size is None else args.input_size), hidden


def _bench(args: argparse.Namespace) -> int:
    shape = _random_shape(args)
    if shape is None:
        return _bench_models(args)
    input_size, hidden = shape
    from edgegru.targets.pi.bench import format_bench, pi_bench  # LiteRT's exporter: the tflite extra

    rows = pi_bench(board=args.board, input_size=input_size, hidden_sizes=hidden, steps=args.steps)
    print(f"model: D={input_size}, hidden {hidden}, reset_after, 3-class head; one thread")
    _print_method()
    print(format_bench(rows, args.board))
    return 0


def _bench_models(args: argparse.Namespace) -> int:
    """The user's files: a .tflite is timed under LiteRT, a quantised .egru by its C."""
    from edgegru.targets.pi.bench import format_bench, pi_bench_models

    tflites, qmodels = _split_models(args.models, "pi bench")
    rows = pi_bench_models(tflites, qmodels, board=args.board, steps=args.steps)
    for name in args.models:
        print(f"model: {name}")
    print("one thread; LiteRT on random rows (normal after the model's normalisation)")
    _print_method()
    print(format_bench(rows, args.board))
    return 0


def _count(args: argparse.Namespace) -> int:
    """Trace counts of the user's files, or of a random model's two .tflite and C."""
    import tempfile

    from edgegru.engine.icount import count_step_instructions
    from edgegru.targets.pi.icount_trace import TraceLoops, count_engine_step, count_invoke, format_counts

    if args.calls < 1 or args.rounds < 1:
        raise EdgeGruError(f"--calls {args.calls}, --rounds {args.rounds}: expected at least 1 each")
    loops = TraceLoops(short=10, long=10 + args.calls, rounds=args.rounds, singlestep=args.singlestep)
    shape = _random_shape(args)
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-count-") as tmp:
        if shape is None:
            tflites, qmodels = _split_models(args.models, "pi count")
            header = "\n".join(f"model: {name}" for name in args.models)
        else:
            tflites, qmodels = _random_files(*shape, Path(tmp))
            header = f"model: random, D={shape[0]}, hidden {shape[1]}, reset_after, 3-class head, int16 state"
        counts = [count_invoke(p, board=args.board, loops=loops) for p in tflites]
        counts += [count_engine_step(qm, board=args.board, loops=loops) for _, qm in qmodels]
    print(header)
    print(
        f"aarch64 instructions per call on the emulated {args.board}, each the median over "
        f"{args.rounds} round(s) of (count of {loops.long} calls - count of {loops.short}) / {args.calls}\n"
    )
    print(format_counts(counts))
    for name, qm in qmodels:
        step = count_step_instructions(qm, args.board, 20)[0]
        print(f"unicorn's count of the C step of {name} (edgegru engine --count): {step.mean:,.1f}")
    return 0


def _split_models(names: list[str], what: str) -> tuple[list[Path], list[tuple[str, QuantizedModel]]]:
    """The step .tflite files and the quantised models among the user's files."""
    from edgegru.quant.qmodel import QuantizedModel

    tflites, qmodels = [], []
    for name in names:
        if Path(name).suffix.lower() == ".tflite":
            tflites.append(Path(name))
            continue
        model = load_any_model(name)
        if not isinstance(model, QuantizedModel):
            raise EdgeGruError(
                f"{name}: a float model; {what} takes a step .tflite (edgegru export --target tflite) "
                "or a quantised .egru (edgegru quantize)"
            )
        qmodels.append((name, model))
    return tflites, qmodels


def _random_files(
    input_size: int, hidden: list[int], directory: Path
) -> tuple[list[Path], list[tuple[str, QuantizedModel]]]:
    """The random model of docs/raspberry-pi.md's tables (``random_qmodel(D, hidden, 'reset_after',
    'classification', 16, seed=0)``) and its int8 and float32 step .tflite, exported from the
    same float model with the same calibration inputs."""
    import numpy as np

    from edgegru.nn.synthetic import random_model
    from edgegru.quant.synthetic import random_qmodel
    from edgegru.tflite.exporter import export_tflite  # the tflite extra

    model = random_model(input_size, hidden, "reset_after", "classification", seed=0)
    calibration = np.random.default_rng(0).normal(size=(16, 40, input_size))  # random_qmodel's
    paths = []
    for dtype in ("int8", "float32"):
        paths.append(directory / f"random-{dtype}.tflite")
        export_tflite(model, paths[-1], dtype=dtype, calibration=calibration, quiet=True)
    return paths, [
        ("the random model", random_qmodel(input_size, hidden, "reset_after", "classification", 16))
    ]


def _print_method() -> None:
    print(
        "wall-clock medians; emulated figures are only indicative of a real Pi (QEMU slows "
        "SIMD-heavy LiteRT more than scalar C)\n"
    )
