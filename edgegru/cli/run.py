"""``edgegru run`` and ``python -m edgegru.runtime``: stream CSV rows through a step .tflite model.

Both run on a Raspberry Pi where only NumPy and a TFLite interpreter may be installed
(``python -m edgegru.runtime`` even without Jinja2), so this module imports nothing of
edgegru but :mod:`edgegru.tflite.stream` and the error reporting: no torch, no exporter.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from edgegru.core.errors import EdgeGruError, run_reporting
from edgegru.tflite.stream import StreamingModel, stream_lines

RUNTIME_PROG = "python -m edgegru.runtime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.tflite", help="an edgegru step model")
    parser.add_argument(
        "--input",
        default="-",
        metavar="FILE.csv",
        help="one time step per line, D comma-separated numbers; '-' (default) reads stdin",
    )
    parser.add_argument(
        "--on-bad-line",
        choices=("skip", "stop"),
        default="skip",
        help="a malformed line is reported and skipped (default) or stops the run",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="report the step latency at the end: count, median, p90, p99 (within 1%%), min, mean, max",
    )
    parser.add_argument("--reset-on-blank", action="store_true", help="a blank line resets the hidden state")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "run",
        help="stream CSV rows through an edgegru step .tflite model",
        description="Stream CSV rows (one time step per line) through an edgegru step "
        ".tflite model and print each step's output as soon as its line arrives. "
        "Output lines are 'LINE,CLASS,SCORES...' for classifiers, 'LINE,VALUES...' otherwise.",
        epilog="examples:\n"
        "  edgegru run bm.tflite --input steps.csv --latency\n"
        "  sensor_reader | edgegru run bm-int8.tflite --on-bad-line stop\n"
        f"  {RUNTIME_PROG} bm.tflite --input steps.csv   # on a Pi without torch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """0 when the stream ended, 1 when a bad line stopped it, 130 on Ctrl-C."""
    model = StreamingModel(args.model)
    source = _open_input(args.input)
    try:
        status = print_outputs(model, source, args.on_bad_line == "stop", args.reset_on_blank)
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit-time
        # flush of stdout from failing on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    finally:
        if source is not sys.stdin:
            source.close()
    if args.latency:
        print(model.latency.report(), file=sys.stderr)
    return status


def print_outputs(model: StreamingModel, source: TextIO, stop: bool, reset_on_blank: bool) -> int:
    """Print each line's answer as it arrives (flushed, for a live pipe): ``LINE,OUTPUT`` on
    stdout, a bad line's error on stderr; 1 if a bad line stopped the stream, else 0."""
    bad = 0
    for result in stream_lines(model, source, reset_on_blank):
        if result.output is None:
            print(f"line {result.line}: {result.error}", file=sys.stderr, flush=True)
            if stop:
                return 1
            bad += 1
            continue
        print(f"{result.line},{model.format_output(result.output)}", flush=True)
    if bad:
        print(f"{bad} bad line(s) skipped", file=sys.stderr)
    return 0


def _open_input(name: str) -> TextIO:
    if name == "-":
        if hasattr(sys.stdin, "reconfigure"):
            sys.stdin.reconfigure(errors="replace")
        return sys.stdin
    try:
        return open(name, encoding="utf-8", errors="replace")  # closed by run
    except FileNotFoundError:
        raise EdgeGruError(f"{name}: no such file") from None
    except OSError as exc:
        raise EdgeGruError(f"{name}: cannot read ({exc.strerror})") from None


def runtime_main(argv: list[str] | None = None) -> int:
    """``python -m edgegru.runtime``: the ``run`` command without the rest of the CLI."""
    parser = argparse.ArgumentParser(
        prog=RUNTIME_PROG,
        description="Stream CSV rows through an edgegru step .tflite model.",
    )
    add_arguments(parser)
    return run_reporting(run, parser.parse_args(argv), RUNTIME_PROG)
