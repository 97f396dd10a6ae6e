"""``edgegru export``: C for a microcontroller (c99, cortex-m), or a TFLite or ONNX model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli.common import (
    add_data_args,
    command_parser,
    load_data,
    print_float_vs_int8,
    refuse_options_of_other_targets,
    require_float,
    require_quantised,
    seed_value,
)
from edgegru.core.errors import EdgeGruError, quote
from edgegru.search.budgets import parse_bytes

if TYPE_CHECKING:
    from edgegru.codegen.arduino import Recording
    from edgegru.data import Dataset
    from edgegru.quant.qmodel import QuantizedModel

# Options of `export` and the targets they apply to; naming one for another target is an error
# rather than silently ignored.
EXPORT_OPTIONS = {
    "prefix": ("c99", "cortex-m", "arduino"),
    "cpu": ("cortex-m",),
    "kind": ("tflite",),
    "steps": ("tflite",),
    "dtype": ("tflite",),
    "data": ("tflite", "arduino"),
    "builtin": ("tflite",),
    "series": ("tflite",),
    "flash_budget": ("cortex-m",),
    "ram_budget": ("cortex-m",),
}
EXPORT_DEFAULTS = {"prefix": "model", "cpu": "cortex-m4", "kind": "step", "dtype": "float32"}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "export",
        "generate C for a microcontroller, or write a TFLite or ONNX model",
        "  edgegru export bm-int8.egru --target cortex-m --cpu cortex-m4 -o bm_c/\n"
        "  edgegru export bm-int8.egru --target c99 --prefix motion -o motion_c/\n"
        "  edgegru export bm-int8.egru --target arduino --test BasicMotions_TEST.ts -o bm_arduino/\n"
        "  edgegru export bm.egru --target tflite -o bm.tflite\n"
        "  edgegru export bm.egru --target tflite --dtype int8 BasicMotions_TRAIN.ts -o bm-int8.tflite\n"
        "  edgegru export bm.egru --target onnx -o bm.onnx",
    )
    p.add_argument("model", help="quantised model (c99, cortex-m, arduino) or float model (tflite, onnx)")
    p.add_argument("--target", required=True, choices=["c99", "cortex-m", "arduino", "tflite", "onnx"])
    p.add_argument("-o", "--output", required=True, help="directory (C, arduino) or file (tflite, onnx)")
    p.add_argument(
        "--prefix", default=EXPORT_DEFAULTS["prefix"], help="C symbol and file prefix (default model)"
    )
    p.add_argument(
        "--cpu",
        default=EXPORT_DEFAULTS["cpu"],
        help="Cortex-M core for --target cortex-m (default cortex-m4)",
    )
    p.add_argument(
        "--kind",
        default=EXPORT_DEFAULTS["kind"],
        choices=["step", "sequence"],
        help="TFLite: streaming step model or fixed-T sequence model",
    )
    p.add_argument("--steps", type=int, help="TFLite sequence model length T")
    p.add_argument(
        "--dtype",
        default=EXPORT_DEFAULTS["dtype"],
        choices=["float32", "int8"],
        help="TFLite: float32 or full-integer int8",
    )
    p.add_argument(
        "--flash-budget",
        type=parse_bytes,
        metavar="SIZE",
        help="cortex-m: refuse a model needing more flash (bytes, or e.g. 16K as edgegru search takes)",
    )
    p.add_argument(
        "--ram-budget",
        type=parse_bytes,
        metavar="SIZE",
        help="cortex-m: refuse a model needing more RAM, e.g. 2K",
    )
    add_data_args(p, "TFLite int8 calibration, or the arduino example's recorded sequence", required=False)
    p.add_argument("--seed", type=seed_value, default=0, help=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace) -> int:
    refuse_options_of_other_targets(args, EXPORT_OPTIONS, EXPORT_DEFAULTS)
    if args.target in ("c99", "cortex-m"):
        return _export_c(args)
    if args.target == "arduino":
        return _export_arduino(args)
    model = require_float(args.model, f"--target {args.target}")
    if args.target == "onnx":
        from edgegru.onnx.exporter import export_onnx

        export_onnx(model, args.output)
        print(f"wrote {args.output} ({Path(args.output).stat().st_size} bytes, ONNX GRU op)")
        return 0
    from edgegru.tflite.exporter import export_tflite

    calib = test = None
    if args.dtype == "int8":
        calib, test = load_data(args, model.head.class_names if model.head is not None else None, model)
        if calib is None:
            raise EdgeGruError("--dtype int8 needs calibration data: give a file, --builtin or --series")
    calibration = None if calib is None else calib.x
    export_tflite(
        model, args.output, kind=args.kind, dtype=args.dtype, steps=args.steps, calibration=calibration
    )
    if calib is not None and model.head is not None:
        # The int8 .tflite is calibrated apart from quantize and computes otherwise
        # (docs/tflite.md), so its score is measured; a sequence model through its step model.
        from edgegru.tflite.evaluate import evaluate_export, evaluate_tflite

        def int8_score(ds: Dataset) -> float:
            if args.kind == "step":
                return evaluate_tflite(args.output, ds)
            return evaluate_export(model, ds, "int8", calibration)

        print_float_vs_int8(model, calib, test, int8_score)
    return 0


def _export_c(args: argparse.Namespace) -> int:
    import shutil

    from edgegru.codegen.export import export_c, layout_for
    from edgegru.codegen.render import Rendered

    qm = require_quantised(args.model, f"--target {args.target}")
    report: dict = {"target": args.target}
    measure = None
    if args.target == "cortex-m":
        from edgegru.targets.cortex_m.cores import get_core
        from edgegru.targets.cortex_m.footprint import check_budget, measure_sources

        get_core(args.cpu)  # a bad --cpu fails before anything is written
        report["cpu"] = args.cpu
        budgets = args.flash_budget is not None or args.ram_budget is not None
        if shutil.which("arm-none-eabi-gcc"):

            def measure(directory: Path, rendered: Rendered) -> dict:
                fp = measure_sources(directory, rendered, args.cpu, args.prefix)
                check_budget(fp, args.flash_budget, args.ram_budget, qm)
                print(f"footprint: {fp.table()}")
                return fp.as_dict()

        elif budgets:
            raise EdgeGruError("--flash-budget/--ram-budget need arm-none-eabi-gcc to measure the code")
        else:
            print("footprint: not measured (arm-none-eabi-gcc not installed)")
    layout = layout_for(args.target)
    result = export_c(qm, args.output, args.prefix, layout, report, measure)
    print(
        f"wrote {', '.join(result.files)} to {result.directory}: {result.weight_bytes} bytes of "
        f"int8 weights, {result.const_bytes} bytes of biases, multipliers, tables and padding "
        f"({layout} layout)"
    )
    return 0


def _export_arduino(args: argparse.Namespace) -> int:
    from edgegru.codegen.arduino import export_arduino, sketch_name

    qm = require_quantised(args.model, "--target arduino")
    recording = _recording(args.test or args.data, qm)
    result = export_arduino(qm, args.output, args.prefix, recording, {"target": "arduino"})
    sketch = sketch_name(args.prefix)
    played = f"replays {quote(recording.origin)}" if recording else "feeds a placeholder (no data given)"
    print(
        f"wrote an Arduino library to {result.directory}: library.properties, library.json, "
        f"src/{args.prefix}.c/.h, examples/{sketch}/{sketch}.ino, which {played}"
    )
    return 0


def _recording(path: str | None, qm: QuantizedModel) -> Recording | None:
    """The first sequence of the data file at ``path`` for the Arduino example, or None."""
    from edgegru.codegen.arduino import Recording
    from edgegru.data import load_dataset
    from edgegru.data.frames import model_input

    if path is None:
        return None
    names = qm.head.class_names if qm.head is not None else None
    ds = model_input(load_dataset(path, class_names=names), qm.frame, qm.input_size)
    origin = f"{Path(path).name}, sequence 0 of {ds.n}"
    if ds.class_names is not None:
        origin += f", labelled {ds.class_names[int(ds.y[0])]}"
    return Recording(ds.x[0, : int(ds.lengths[0])], origin)
