"""``edgegru import``: a GRU model made elsewhere (ONNX, or Keras .keras/.h5) into an edgegru float model."""

from __future__ import annotations

import argparse

from edgegru.cli.common import command_parser


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "import",
        "read an ONNX or Keras GRU model into an edgegru float model",
        "  edgegru import gru.onnx -o gru.egru            # torch.onnx or tf2onnx, with a GRU op\n"
        "  edgegru import gesture.keras -o gesture.egru   # Keras 3, read without TensorFlow\n"
        "  edgegru import legacy.h5 --head-kind regression -o legacy.egru   # Keras 2\n"
        "\n"
        "The format is told from the file's content, not its name. Layers and nodes edgegru\n"
        "cannot compute exactly are refused by name; see docs/onnx.md and docs/keras.md.",
    )
    p.add_argument("model", help="an .onnx file with a GRU op, a .keras archive or a Keras .h5 file")
    p.add_argument("-o", "--output", default="model.egru", help="model file to write (default model.egru)")
    p.add_argument(
        "--head-kind",
        choices=["classification", "regression"],
        help="how to read the dense head (default: softmax means classification, linear regression)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.keras.importer import import_keras, is_keras_file

    if is_keras_file(args.model):
        model = import_keras(args.model, head_kind=args.head_kind)
    else:
        from edgegru.onnx.importer import import_onnx

        model = import_onnx(args.model, head_kind=args.head_kind)
    model.save(args.output)
    print(f"{model.describe()}\nwrote {args.output}")
    return 0
