"""``edgegru run`` and ``python -m edgegru.runtime``: stream inputs through a step .tflite model
under LiteRT, or through a quantised model's generated C (``--engine c``, :mod:`edgegru.engine`).

The input is either bare step rows (one time step per CSV line, as a sensor sends them) or
a file in a training format (``.ts``, long ``.csv``, ``.npz``: docs/data.md), whose
sequences are streamed one after another with the state reset between them, so that the
files a model was trained and tested on can be run as they are.

Both run on a Raspberry Pi where only NumPy and a TFLite interpreter may be installed
(``python -m edgegru.runtime`` even without Jinja2), so this module imports nothing of
edgegru but :mod:`edgegru.tflite.stream`, :mod:`edgegru.tflite.lines` and the error
reporting: no torch, no exporter.
The data readers (NumPy only) are imported when a training format is given, the C engine
when it is chosen (NumPy and ctypes, and no LiteRT; a compiler and Jinja2 only to build
its library when no prebuilt one is given with ``--library``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeAlias

from edgegru.core.errors import EdgeGruError, quote, run_reporting, silence_stdout
from edgegru.tflite.lines import MAX_LINE_CHARS, stream_lines
from edgegru.tflite.stream import StreamingModel

if TYPE_CHECKING:
    from edgegru.data import Dataset
    from edgegru.engine.stream import CStreamingModel

RUNTIME_PROG = "python -m edgegru.runtime"
# What --engine names: the model each streams, for the one-line error of a bad value.
ENGINES = {"litert": "a step .tflite under LiteRT", "c": "a quantised .egru through its generated C"}
Stream: TypeAlias = "StreamingModel | CStreamingModel"  # the same attributes and methods


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="MODEL", help="an edgegru step .tflite, or with --engine c a quantised .egru"
    )
    parser.add_argument(
        "--engine",
        default="litert",
        metavar="ENGINE",
        help="litert (default): stream a step .tflite with LiteRT; c: stream a quantised .egru "
        "through its generated C (int8, the integer reference's outputs bit for bit)",
    )
    parser.add_argument(
        "--library",
        metavar="FILE.so",
        help="--engine c: a prebuilt engine library of the model (edgegru engine), used without a "
        "compiler; default: one built with this machine's C compiler, cached per user",
    )
    parser.add_argument(
        "--input",
        default="-",
        metavar="FILE",
        help="step rows (one time step per line, D comma-separated numbers; '-', the default, "
        "reads stdin), or a .ts, long .csv (sequence,step,...) or .npz file of sequences",
    )
    parser.add_argument(
        "--sequence",
        type=int,
        metavar="N",
        help="with a file of sequences: run only its sequence N (from 0); default all of them, "
        "the state reset before each",
    )
    parser.add_argument(
        "--on-bad-line",
        choices=("skip", "stop"),
        help="step rows: a malformed line is reported and skipped (default) or stops the run",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="report the step latency at the end: count, median, p90, p99 (within 1%%), min, mean, max",
    )
    parser.add_argument(
        "--reset-on-blank", action="store_true", help="step rows: a blank line resets the hidden state"
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "run",
        help="stream CSV rows or a data file's sequences through a step .tflite or a quantised model's C",
        description="Stream CSV rows (one time step per line) through an edgegru step "
        ".tflite model and print each step's output as soon as its line arrives. A model "
        "with frames of K samples takes a frame a line, or a sample a line (answered on "
        "every K-th). "
        "Output lines are 'LINE,CLASS,SCORES...' for classifiers, 'LINE,VALUES...' otherwise. "
        "A .ts, long .csv or .npz --input is run sequence by sequence, the state reset before "
        "each; its lines are 'SEQUENCE,STEP,CLASS,SCORES...' (or 'SEQUENCE,STEP,VALUES...'), "
        "and a classifier's last-step classes are scored against the file's labels on stderr. "
        "--engine c streams a quantised .egru through its generated C instead, with the same output.",
        epilog="examples:\n"
        "  edgegru run bm.tflite --input steps.csv --latency\n"
        "  edgegru run bm-int8.egru --engine c --input BasicMotions_TEST.ts\n"
        "  edgegru run bm.tflite --input BasicMotions_TEST.ts --sequence 0\n"
        "  sensor_reader | edgegru run bm-int8.tflite --on-bad-line stop\n"
        f"  {RUNTIME_PROG} bm.tflite --input steps.csv   # on a Pi without torch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """0 when the stream ended, 1 when a bad line stopped it, 130 on Ctrl-C."""
    model = open_stream(args.model, args.engine, args.library)
    source: TextIO | None = None
    emit: Callable[[], int]
    if args.input != "-" and holds_sequences(args.input):
        for flag, given in (("--on-bad-line", args.on_bad_line), ("--reset-on-blank", args.reset_on_blank)):
            if given:
                raise EdgeGruError(
                    f"{flag} applies to step rows; --input {args.input} holds sequences, "
                    "checked whole and reset between"
                )
        dataset, indices = _chosen_sequences(args.input, args.sequence, model.input_size, model.frame)
        emit = functools.partial(print_sequences, model, dataset, indices)
    else:
        if args.sequence is not None:
            raise EdgeGruError(
                f"--sequence applies to a .ts, .npz or long .csv (sequence,step,...) --input, "
                f"not to step rows ({'stdin' if args.input == '-' else args.input})"
            )
        source = _open_input(args.input)
        stop = args.on_bad_line == "stop"
        emit = functools.partial(print_outputs, model, source, stop, args.reset_on_blank)
    try:
        status = emit()
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        silence_stdout()
        status = 0
    finally:
        if source is not None and source is not sys.stdin:
            source.close()
    if args.latency:
        print(model.latency.report(), file=sys.stderr)
    return status


def open_stream(model: str, engine: str, library: str | None) -> Stream:
    """The model streamed by the chosen engine; one line for an engine that cannot take it."""
    if engine not in ENGINES:
        choices = "; ".join(f"{name} ({what})" for name, what in ENGINES.items())
        raise EdgeGruError(f"--engine {quote(engine)}: expected {choices}")
    suffix = Path(model).suffix.lower()
    if engine == "c":
        if suffix == ".tflite":
            raise EdgeGruError(f"--engine c runs a quantised .egru (edgegru quantize), not {model}")
        from edgegru.cli.common import require_quantised
        from edgegru.engine.stream import CStreamingModel

        return CStreamingModel(require_quantised(model, "--engine c"), library)
    if library is not None:
        raise EdgeGruError(f"--library applies to --engine c, not --engine {engine}")
    if suffix == ".egru":
        raise EdgeGruError(
            f"{model}: --engine litert streams a step .tflite; run a quantised .egru with --engine c"
        )
    return StreamingModel(model)


def print_outputs(model: Stream, source: TextIO, stop: bool, reset_on_blank: bool) -> int:
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


def print_sequences(model: Stream, dataset: Dataset, indices: range) -> int:
    """Print ``SEQUENCE,STEP,OUTPUT`` for every valid step of each chosen sequence, the state
    reset before each; then, for a classifier and a file with class labels, how many
    sequences end (at their last valid step, where training reads them) on their label."""
    scored = model.class_names is not None and dataset.class_names is not None
    hits = 0
    for i in indices:
        model.reset()
        y = None
        for t in range(int(dataset.lengths[i])):
            y = model.step(dataset.x[i, t])
            print(f"{i},{t},{model.format_output(y)}", flush=True)
        if scored and y is not None:
            hits += model.class_names[int(y.argmax())] == dataset.class_names[int(dataset.y[i])]
    if scored:
        print(
            f"{hits} of {len(indices)} sequence(s) end on their label ({hits / len(indices):.1%})",
            file=sys.stderr,
        )
    return 0


def holds_sequences(name: str) -> bool:
    """Whether ``--input`` names a training-format file rather than step rows: a .ts or .npz
    file, or a .csv whose header has the long layout's ``sequence`` and ``step`` columns."""
    suffix = Path(name).suffix.lower()
    if suffix in (".ts", ".npz"):
        return True
    if suffix != ".csv":
        return False
    try:
        with open(name, encoding="utf-8", errors="replace") as file:
            header = {field.strip().lower() for field in file.readline(MAX_LINE_CHARS).split(",")}
    except FileNotFoundError:
        raise EdgeGruError(f"{name}: no such file") from None  # before any option is judged
    except OSError:
        return False  # reported by _open_input, as for any step-row file
    return {"sequence", "step"} <= header


def _chosen_sequences(name: str, sequence: int | None, input_size: int, frame: int) -> tuple[Dataset, range]:
    """The file's sequences, in the model's frames, and the indices --sequence picks."""
    from edgegru.data import load_dataset
    from edgegru.data.frames import model_input

    dataset = load_dataset(name)
    if dataset.input_size not in (input_size, input_size // frame):
        framing = f" ({frame} samples a step)" if frame > 1 else ""
        raise EdgeGruError(
            f"--input {name}: {dataset.input_size} channel(s) per step, the model takes {input_size}{framing}"
        )
    dataset = model_input(dataset, frame, input_size)
    if sequence is None:
        return dataset, range(dataset.n)
    if not 0 <= sequence < dataset.n:
        raise EdgeGruError(
            f"--sequence {sequence}: --input {name} has {dataset.n} sequences, numbered 0 to {dataset.n - 1}"
        )
    return dataset, range(sequence, sequence + 1)


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
        description="Stream CSV rows, or a data file's sequences, through an edgegru step .tflite model "
        "(LiteRT) or a quantised .egru's generated C (--engine c).",
    )
    add_arguments(parser)
    return run_reporting(run, parser.parse_args(argv), RUNTIME_PROG)
