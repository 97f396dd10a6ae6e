"""``edgegru info``: describe a model file (.egru, .tflite or .onnx), for people or, with
``--json``, for machines (the keys: :mod:`edgegru.nn.describe`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli.common import command_parser
from edgegru.core.errors import EdgeGruError

if TYPE_CHECKING:
    from edgegru.nn.describe import Description


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "info",
        "describe a model file: .egru, .tflite or .onnx",
        "  edgegru info bm.egru\n  edgegru info bm-int8.tflite\n  edgegru info model.onnx --json",
    )
    p.add_argument("model", help="a .egru, .tflite or .onnx file (edgegru's or another tool's)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object for machines (stable keys, listed in docs/tflite.md#edgegru-info)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    description = describe_file(Path(args.model))
    print(description.to_json() if args.json else "\n".join(description.lines()))
    return 0


def describe_file(path: Path) -> Description:
    """The file's description, by what its first bytes say it is (a zip is an .egru, TFL3
    at byte 4 a .tflite), else by its suffix (.onnx: protobuf has no magic number)."""
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(b"PK"):
        from edgegru.cli.common import load_any_model
        from edgegru.nn.describe import describe_model
        from edgegru.nn.model import Model
        from edgegru.quant.describe import describe_qmodel

        model = load_any_model(str(path))
        return describe_model(model, path) if isinstance(model, Model) else describe_qmodel(model, path)
    if head[4:8] == b"TFL3":
        from edgegru.tflite.describe import describe_tflite

        return describe_tflite(path)
    if path.suffix.lower() == ".onnx":
        from edgegru.onnx.describe import describe_onnx

        return describe_onnx(path)
    raise EdgeGruError(f"{path}: not a model edgegru reads: expected a .egru, .tflite or .onnx file")
