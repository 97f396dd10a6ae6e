"""``edgegru quantize``: a float model to int8, calibrated on data."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgegru.cli.common import (
    add_data_args,
    command_parser,
    load_data,
    print_float_vs_int8,
    require_float,
    seed_value,
)
from edgegru.core.atomic import check_output_path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "quantize",
        "quantise a float model to int8 with data calibration",
        "  edgegru quantize bm.egru BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts -o bm-int8.egru\n"
        "  edgegru quantize gestures.egru --builtin gestures --state-bits 8 -o g8.egru",
    )
    p.add_argument("model", help="float model file (from train or import)")
    add_data_args(p, "calibration")
    p.add_argument(
        "-o",
        "--output",
        default="model-int8.egru",
        help="quantised model file (default model-int8.egru)",
    )
    p.add_argument("--method", default="percentile", choices=["minmax", "percentile"],
                   help="how ranges are read from the data (default percentile)")  # fmt: skip
    p.add_argument(
        "--percentile",
        type=float,
        default=99.9,
        help="percentile for --method percentile (default 99.9)",
    )
    p.add_argument(
        "--state-bits",
        type=int,
        default=16,
        choices=[16, 8],
        help="hidden state int16 Q0.15 (default) or int8 Q0.7",
    )
    p.add_argument("--seed", type=seed_value, default=0, help="seed for --builtin data (default 0)")
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.nn.evaluate import evaluate
    from edgegru.quant import calibrate, quantize

    model = require_float(args.model, "quantize")
    check_output_path(Path(args.output))
    calib, test = load_data(args, model.head.class_names if model.head is not None else None)
    ranges = calibrate(model, calib.x, calib.lengths, args.method, args.percentile)
    qm = quantize(model, ranges, args.state_bits)
    qm.save(args.output)
    print(f"{qm.describe()}: {qm.weight_bytes()} bytes of int8 weights")
    if model.head is not None:
        print_float_vs_int8(model, calib, test, lambda ds: evaluate(qm, ds))
    print(f"wrote {args.output}")
    return 0
