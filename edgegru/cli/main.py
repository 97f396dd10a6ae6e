"""The ``edgegru`` command: a thin layer over the Python API, one module per subcommand.

Each command module has ``add_parser(subparsers)``, which adds its parser, and
``run(args) -> int``, which calls the API and prints a short summary. Every user-input
problem surfaces as one ``edgegru: error: ...`` line and exit code 2; nothing is left
half-written because every writer in the API is atomic.

Building the parsers imports no optional dependency, so ``--help`` and ``--version``
work on a base install; the heavy imports (torch, onnx, LiteRT) happen inside the
commands that need them, and a missing one is reported as the extra that installs it.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from edgegru.cli import (
    bench,
    demo,
    engine,
    example,
    export,
    import_model,
    info,
    pi,
    quantize,
    report,
    run,
    search,
    train,
    verify,
)
from edgegru.core.errors import EdgeGruError, run_reporting
from edgegru.core.version import __version__

# In the order `edgegru --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    demo,
    train,
    search,
    quantize,
    export,
    verify,
    report,
    run,
    engine,
    import_model,
    info,
    pi,
    bench,
    example,
)

# The top-level modules of each optional dependency group in pyproject.toml.
EXTRAS = {
    "torch": "train",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert": "tflite",
    "flatbuffers": "tflite",
    "unicorn": "bench",
    "matplotlib": "report",
    "optuna": "search",
    "ray": "ray",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgegru",
        description="Train a GRU, quantise it bit-exactly, and run it on Cortex-M, Raspberry Pi and ONNX.",
    )
    parser.add_argument("--version", action="version", version=f"edgegru {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.set_defaults(commands=sub.choices)
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(handler=command.run)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse, letting positionals and options mix in any order.

    ``edgegru verify MODEL --target host DATA`` must find DATA: plain argparse binds an
    optional positional too early, so the chosen command re-parses its own arguments
    with ``parse_intermixed_args``.
    """
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)  # finds the command; --help/--version exit here
    command = parser.get_default("commands")[args.command]
    rest = argv[argv.index(args.command) + 1 :]
    if any(isinstance(action, argparse._SubParsersAction) for action in command._actions):
        parsed = command.parse_args(rest)  # a command with its own subcommands (pi)
    else:
        parsed = command.parse_intermixed_args(rest)
    parsed.command = args.command
    return parsed


def run_command(args: argparse.Namespace) -> int:
    """Run the chosen command; an optional dependency it needs but cannot import becomes one
    line naming the extra that installs it, rather than a traceback."""
    try:
        return args.handler(args)
    except ModuleNotFoundError as exc:
        module = (exc.name or "").partition(".")[0]
        if module not in EXTRAS:
            raise
        raise EdgeGruError(
            f"edgegru {args.command} needs {module}, which is not installed: "
            f"pip install 'edgegru[{EXTRAS[module]}]'"
        ) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_reporting(run_command, args)


if __name__ == "__main__":
    sys.exit(main())
