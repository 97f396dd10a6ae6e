"""``edgegru quantize``: a float model to int8, calibrated on data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli.common import (
    add_data_args,
    add_report_arg,
    check_report_arg,
    command_parser,
    load_data,
    print_float_vs_int8,
    require_float,
    seed_value,
    write_command_report,
)
from edgegru.core.atomic import check_output_path
from edgegru.core.errors import EdgeGruError

if TYPE_CHECKING:
    from edgegru.quant.qat import QatConfig


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE, METHODS
    from edgegru.quant.qat import QatConfig

    p = command_parser(
        sub,
        "quantize",
        "quantise a float model to int8 with data calibration",
        "  edgegru quantize bm.egru BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts -o bm-int8.egru\n"
        "  edgegru quantize gestures.egru --builtin gestures --state-bits 8 -o g8.egru\n"
        "  edgegru quantize bm.egru BasicMotions_TRAIN.ts --qat 20 -o bm-qat.egru\n"
        "  edgegru quantize bm.egru BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts --report bm.html",
    )
    p.add_argument("model", help="float model file (from train or import)")
    add_data_args(p, "calibration")
    p.add_argument(
        "-o",
        "--output",
        default="model-int8.egru",
        help="quantised model file (default model-int8.egru)",
    )
    p.add_argument("--method", default=CLI_METHOD, choices=METHODS,
                   help=f"how ranges are read from the data (default {CLI_METHOD})")  # fmt: skip
    p.add_argument(
        "--percentile",
        type=float,
        default=CLI_PERCENTILE,
        help=f"percentile for --method percentile (default {CLI_PERCENTILE:g})",
    )
    p.add_argument(
        "--state-bits",
        type=int,
        default=16,
        choices=[16, 8],
        help="hidden state int16 Q0.15 (default) or int8 Q0.7",
    )
    p.add_argument(
        "--qat",
        type=int,
        metavar="EPOCHS",
        help="fine-tune the float model for EPOCHS epochs through the integer arithmetic first "
        "(quantisation-aware training, on the calibration data; docs/quantization.md)",
    )
    p.add_argument(
        "--qat-lr", type=float, metavar="LR", help=f"learning rate of --qat (default {QatConfig.lr:g})"
    )
    p.add_argument(
        "--qat-state-weight",
        type=float,
        metavar="W",
        help="weight of the int8 states' distance from the float model's in --qat's loss "
        f"(default {QatConfig.state_weight:g}; 0 trains on the task loss alone)",
    )
    p.add_argument(
        "--seed", type=seed_value, default=0, help="seed for --builtin data and --qat's shuffling (default 0)"
    )
    add_report_arg(p, "the quantised model")
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name
    from edgegru.quant import calibrate, quantize

    qat_config = _qat_config(args)
    model = require_float(args.model, "quantize")
    check_output_path(Path(args.output))
    check_report_arg(args)
    calib, test = load_data(args, model.head.class_names if model.head is not None else None, model)
    ranges = calibrate(model, calib.x, calib.lengths, args.method, args.percentile)
    if qat_config is None:
        qm = quantize(model, ranges, args.state_bits)
    else:
        from edgegru.quant.qat import qat

        result = qat(model, calib, ranges, args.state_bits, qat_config, progress=True)
        qm, plain = result.quantized, result.plain
        print(f"qat: kept epoch {result.best_epoch} of {qat_config.epochs} (lowest int8 loss on the data)")
    qm.save(args.output)
    print(f"{qm.describe()}: {qm.weight_bytes()} bytes of int8 weights")
    if model.head is not None:
        print_float_vs_int8(model, calib, test, lambda ds: evaluate(qm, ds))
    if qat_config is not None:
        ds, label = (test, "test") if test is not None else (calib, "calibration")
        name = metric_name(ds)
        print(f"{label} {name} without --qat: int8 {format_metric(name, evaluate(plain, ds))}")
    print(f"wrote {args.output}")
    if args.report is not None:
        write_command_report(args, qm, test if test is not None else calib, model, (args.output, args.model))
    return 0


def _qat_config(args: argparse.Namespace) -> QatConfig | None:
    """The --qat settings, checked before any work; None without --qat."""
    from edgegru.quant.qat import QatConfig

    given = {"lr": args.qat_lr, "state_weight": args.qat_state_weight}
    given = {name: value for name, value in given.items() if value is not None}
    if args.qat is None:
        if given:
            raise EdgeGruError(f"--qat-{next(iter(given)).replace('_', '-')} applies with --qat EPOCHS")
        return None
    config = QatConfig(epochs=args.qat, seed=args.seed, **given)
    config.check()
    return config
