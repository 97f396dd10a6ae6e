"""The ``edgegru`` command: a thin layer over the Python API.

Each subcommand parses its flags, calls the API, and prints a short summary.
Every user-input problem surfaces as one ``edgegru: error: ...`` line and exit
code 2; nothing is left half-written because every writer in the API is atomic.
Heavy imports (torch, onnx, LiteRT) happen inside the subcommands that need them,
so ``edgegru run`` on a Raspberry Pi never loads torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.cli.options import refuse_options_of_other_targets
from edgegru.core.atomic import check_output_path
from edgegru.core.errors import EdgeGruError, run_reporting
from edgegru.core.version import __version__

if TYPE_CHECKING:  # imported lazily at run time: `edgegru run` must not load torch
    from edgegru.data import Dataset
    from edgegru.nn.model import Model
    from edgegru.quant.qmodel import QuantizedModel


def seed_value(text: str) -> int:
    """argparse type of every --seed: the generators take 0 <= seed < 2^32."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer") from None
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"{seed}: expected 0 <= seed < 2^32")
    return seed


def _parser(
    subparsers: argparse._SubParsersAction, name: str, help: str, examples: str
) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# ---- data arguments shared by train, quantize, export and verify ---------------


def add_data_args(p: argparse.ArgumentParser, role: str, required: bool = True) -> None:
    from edgegru.data import BUILTIN_TASKS

    g = p.add_argument_group(f"{role} data (one of)")
    g.add_argument("data", nargs="?", help="a .ts, .csv or .npz file (formats: docs/data.md)")
    g.add_argument("--builtin", choices=sorted(BUILTIN_TASKS), help="a built-in task, no files needed")
    g.add_argument(
        "--series",
        metavar="FILE",
        help="a 1-D series (CSV column or monthly table) to forecast one step ahead",
    )
    p.add_argument(
        "--window",
        type=int,
        default=24,
        help="steps of history per forecast (--series; default 24)",
    )
    p.add_argument(
        "--samples", type=int, default=1000, help="sequences generated for --builtin (default 1000)"
    )
    p.add_argument("--test", metavar="FILE", help="a held-out test file in the same format as the data")
    p.set_defaults(data_required=required)


def load_data(
    args: argparse.Namespace, class_names: list[str] | None = None
) -> tuple[Dataset | None, Dataset | None]:
    """(train, test) datasets from the data arguments; test may be None. ``class_names``
    (a trained model's) number a data file's labels as the model numbers its classes."""
    from edgegru.data import builtin_dataset, forecast_windows, load_dataset, load_series

    chosen = [x for x in (args.data, args.builtin, args.series) if x]
    if len(chosen) > 1:
        raise EdgeGruError("give one of DATA, --builtin or --series, not several")
    if not chosen:
        if args.data_required:
            raise EdgeGruError("no data: give a file, --builtin TASK or --series FILE")
        return None, None
    seed = getattr(args, "seed", 0)
    if args.builtin:
        train = builtin_dataset(args.builtin, args.samples, seed)
        return train, builtin_dataset(args.builtin, max(args.samples // 4, 1), seed + 1000)
    if args.series:
        series = load_series(args.series)
        windows = forecast_windows(series, args.window, source=Path(args.series).name)
        n_test = round(0.2 * len(series))
        if n_test < 1 or windows.n - n_test < 2:
            raise EdgeGruError(f"{args.series}: series too short for --window {args.window}")
        idx = list(range(windows.n))
        return windows.subset(idx[:-n_test]), windows.subset(idx[-n_test:])
    train = load_dataset(args.data, class_names=class_names)
    test = load_dataset(args.test, class_names=train.class_names) if args.test else None
    return train, test


def load_any_model(path: str) -> Model | QuantizedModel:
    """Read a float or a quantised model file, whichever it holds."""
    from edgegru.core.container import container_kind
    from edgegru.nn.model import Model
    from edgegru.quant.qmodel import QMODEL_KIND, QuantizedModel

    return QuantizedModel.load(path) if container_kind(path) == QMODEL_KIND else Model.load(path)


def _require_quantised(path: str, what: str) -> QuantizedModel:
    from edgegru.quant.qmodel import QuantizedModel

    model = load_any_model(path)
    if not isinstance(model, QuantizedModel):
        raise EdgeGruError(f"{path}: a float model; {what} needs a quantised one (edgegru quantize)")
    return model


def _require_float(path: str, what: str) -> Model:
    from edgegru.nn.model import Model

    model = load_any_model(path)
    if not isinstance(model, Model):
        raise EdgeGruError(f"{path}: a quantised model; {what} needs the float model it came from")
    return model


# ---- train -------------------------------------------------------------------


def add_train(sub: argparse._SubParsersAction) -> None:
    p = _parser(
        sub,
        "train",
        "train a GRU on sequence data and save the float model",
        "  edgegru train --builtin gestures -o gestures.egru\n"
        "  edgegru train BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts --hidden 32 -o bm.egru\n"
        "  edgegru train --series sunspots_monthly.dat --window 24 --variant reset_before -o sun.egru",
    )
    add_data_args(p, "training")
    p.add_argument("-o", "--output", default="model.egru", help="model file to write (default model.egru)")
    p.add_argument("--hidden", type=int, default=32, help="hidden units per layer (default 32)")
    p.add_argument("--layers", type=int, default=1, help="stacked GRU layers (default 1)")
    p.add_argument("--variant", default="reset_after", choices=["reset_after", "reset_before"],
                   help="GRU formulation (default reset_after, as PyTorch)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (default 100)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per batch (default 16)")
    p.add_argument(
        "--seed", type=seed_value, default=0, help="random seed: same seed, same model (default 0)"
    )
    p.add_argument("--clip", type=float, default=1.0, help="max gradient norm, 0 to disable (default 1)")
    p.add_argument("--patience", type=int, default=30, help="early-stopping patience in epochs (default 30)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share held out for validation (default 0.2)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name
    from edgegru.nn.train import TrainConfig, train

    check_output_path(Path(args.output))  # before minutes of training, not after
    if args.test and not args.data:
        raise EdgeGruError(
            "--test FILE goes with a data file; --builtin and --series make their own test split"
        )
    train_ds, test_ds = load_data(args)
    config = TrainConfig(
        hidden=args.hidden, layers=args.layers, variant=args.variant, epochs=args.epochs,
        lr=args.lr, batch_size=args.batch_size, seed=args.seed, clip=args.clip,
        patience=args.patience, val_fraction=args.val_fraction,
    )  # fmt: skip
    result = train(train_ds, config, progress=not args.quiet)
    name = metric_name(train_ds)
    parts = [f"{k} {format_metric(name, v) if k.endswith(name) else f'{v:.4g}'}"
             for k, v in result.metrics.items()]  # fmt: skip
    if test_ds is not None:
        test = evaluate(result.model, test_ds)
        result.model.metadata["test_metric"] = {name: test}
        parts.append(f"test_{name} {format_metric(name, test)}")
    result.model.save(args.output)
    print(f"{result.model.describe()}: " + ", ".join(parts))
    print(f"wrote {args.output}")
    return 0


# ---- quantize ------------------------------------------------------------------


def add_quantize(sub: argparse._SubParsersAction) -> None:
    p = _parser(
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
    p.set_defaults(handler=run_quantize)


def run_quantize(args: argparse.Namespace) -> int:
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name
    from edgegru.quant import calibrate, quantize

    model = _require_float(args.model, "quantize")
    check_output_path(Path(args.output))
    calib, test = load_data(args, model.head.class_names if model.head is not None else None)
    ranges = calibrate(model, calib.x, calib.lengths, args.method, args.percentile)
    qm = quantize(model, ranges, args.state_bits)
    qm.save(args.output)
    print(f"{qm.describe()}: {qm.weight_bytes()} bytes of int8 weights")
    if model.head is not None:
        ds, label = (test, "test") if test is not None else (calib, "calibration")
        name = metric_name(ds)
        f, q = evaluate(model, ds), evaluate(qm, ds)
        print(f"{label} {name}: float {format_metric(name, f)}, int8 {format_metric(name, q)}")
    print(f"wrote {args.output}")
    return 0


# ---- export --------------------------------------------------------------------


# Options of `export` and the targets they apply to; naming one for another target is an error
# rather than silently ignored.
EXPORT_OPTIONS = {
    "prefix": ("c99", "cortex-m"),
    "cpu": ("cortex-m",),
    "kind": ("tflite",),
    "steps": ("tflite",),
    "dtype": ("tflite",),
    "data": ("tflite",),
    "builtin": ("tflite",),
    "series": ("tflite",),
    "flash_budget": ("cortex-m",),
    "ram_budget": ("cortex-m",),
}
EXPORT_DEFAULTS = {"prefix": "model", "cpu": "cortex-m4", "kind": "step", "dtype": "float32"}


def add_export(sub: argparse._SubParsersAction) -> None:
    p = _parser(
        sub,
        "export",
        "generate C for a microcontroller, or write a TFLite or ONNX model",
        "  edgegru export bm-int8.egru --target cortex-m --cpu cortex-m4 -o bm_c/\n"
        "  edgegru export bm-int8.egru --target c99 --prefix motion -o motion_c/\n"
        "  edgegru export bm.egru --target tflite -o bm.tflite\n"
        "  edgegru export bm.egru --target tflite --dtype int8 BasicMotions_TRAIN.ts -o bm-int8.tflite\n"
        "  edgegru export bm.egru --target onnx -o bm.onnx",
    )
    p.add_argument("model", help="quantised model (c99, cortex-m) or float model (tflite, onnx)")
    p.add_argument("--target", required=True, choices=["c99", "cortex-m", "tflite", "onnx"])
    p.add_argument("-o", "--output", required=True, help="directory (C) or file (tflite, onnx)")
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
        type=int,
        metavar="BYTES",
        help="cortex-m: refuse a model needing more flash",
    )
    p.add_argument(
        "--ram-budget", type=int, metavar="BYTES", help="cortex-m: refuse a model needing more RAM"
    )
    add_data_args(p, "TFLite int8 calibration", required=False)
    p.add_argument("--seed", type=seed_value, default=0, help=argparse.SUPPRESS)
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    refuse_options_of_other_targets(args, EXPORT_OPTIONS, EXPORT_DEFAULTS)
    if args.target in ("c99", "cortex-m"):
        return _export_c(args)
    model = _require_float(args.model, f"--target {args.target}")
    if args.target == "onnx":
        from edgegru.onnx.exporter import export_onnx

        export_onnx(model, args.output)
        print(f"wrote {args.output} ({Path(args.output).stat().st_size} bytes, ONNX GRU op)")
        return 0
    from edgegru.tflite.exporter import export_tflite

    calibration = None
    if args.dtype == "int8":
        calib, _ = load_data(args)
        if calib is None:
            raise EdgeGruError("--dtype int8 needs calibration data: give a file, --builtin or --series")
        calibration = calib.x
    export_tflite(
        model, args.output, kind=args.kind, dtype=args.dtype, steps=args.steps, calibration=calibration
    )
    return 0


def _export_c(args: argparse.Namespace) -> int:
    import shutil

    from edgegru.codegen.export import export_c, layout_for

    qm = _require_quantised(args.model, f"--target {args.target}")
    report: dict = {"target": args.target}
    measure = None
    if args.target == "cortex-m":
        from edgegru.targets.cortex_m.cores import get_target
        from edgegru.targets.cortex_m.measure import check_budget, measure_footprint

        get_target(args.cpu)  # a bad --cpu fails before anything is written
        report["cpu"] = args.cpu
        budgets = args.flash_budget is not None or args.ram_budget is not None
        if shutil.which("arm-none-eabi-gcc"):

            def measure(_directory: Path) -> dict:
                fp = measure_footprint(qm, args.cpu, args.prefix)
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
        f"int8 weights, {result.const_bytes} bytes of biases, multipliers and tables ({layout} layout)"
    )
    return 0


# ---- verify --------------------------------------------------------------------


VERIFY_CPU, VERIFY_SEQUENCES, VERIFY_STEPS = "cortex-m4", 64, 100  # the random input's defaults


def add_verify(sub: argparse._SubParsersAction) -> None:
    p = _parser(
        sub,
        "verify",
        "compile the generated C and compare every hidden state with the integer reference",
        "  edgegru verify bm-int8.egru --target host\n"
        "  edgegru verify bm-int8.egru --target host BasicMotions_TEST.ts --sanitize\n"
        "  edgegru verify bm-int8.egru --target cortex-m --cpu cortex-m4 --emulate\n"
        "  edgegru verify bm-int8.egru --target cortex-m --cpu cortex-m55 --emulate --cc clang",
    )
    p.add_argument("model", help="quantised model file")
    p.add_argument("--target", default="host", choices=["host", "cortex-m"])
    p.add_argument("--cpu", default=VERIFY_CPU, help="Cortex-M core (default cortex-m4)")
    p.add_argument("--emulate", action="store_true", help="run the Cortex-M build under qemu-system-arm")
    p.add_argument(
        "--cc",
        default="gcc",
        choices=["gcc", "clang"],
        help="compiler of the model's C (default gcc; on cortex-m, arm-none-eabi-gcc links the firmware)",
    )
    p.add_argument(
        "--sequences",
        type=int,
        default=VERIFY_SEQUENCES,
        help="random sequences when no data is given (default 64)",
    )
    p.add_argument("--steps", type=int, default=VERIFY_STEPS, help="steps per random sequence (default 100)")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the random sequences (default 0)")
    p.add_argument("--sanitize", action="store_true", help="host: build with ASan and UBSan")
    add_data_args(p, "input", required=False)
    p.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    import numpy as np

    from edgegru.targets.verify import random_stimulus, verify_host

    qm = _require_quantised(args.model, "verify")
    if args.target == "host" and (args.emulate or args.cpu != VERIFY_CPU):
        raise EdgeGruError("--emulate and --cpu apply to --target cortex-m, not host")
    if args.target == "cortex-m" and args.sanitize:
        raise EdgeGruError("--sanitize applies to --target host (ASan and UBSan run on the host)")
    data, _ = load_data(args)
    if data is not None and (args.sequences, args.steps) != (VERIFY_SEQUENCES, VERIFY_STEPS):
        raise EdgeGruError("--sequences and --steps shape the random input; with data they do not apply")
    if data is None:
        if args.sequences < 1 or args.steps < 1:
            raise EdgeGruError("--sequences and --steps must be >= 1")
        x = random_stimulus(qm, args.sequences, args.steps, args.seed)
    else:
        if data.input_size != qm.input_size:
            raise EdgeGruError(
                f"input data has {data.input_size} channels, the model expects {qm.input_size}"
            )
        x = data.x.astype(np.float32)  # float inputs exercise the on-device quantisation too
    if args.target == "host":
        report = verify_host(qm, x, sanitize=args.sanitize, cc=args.cc)
    else:
        if not args.emulate:
            raise EdgeGruError("--target cortex-m needs --emulate (there is no board attached)")
        from edgegru.targets.cortex_m.measure import verify_cortex_m

        report = verify_cortex_m(qm, x, args.cpu, cc=args.cc)
    print(report.summary())
    return 0 if report.ok else 1


# ---- import, info, demo ---------------------------------------------------------


def add_import(sub: argparse._SubParsersAction) -> None:
    p = _parser(
        sub,
        "import",
        "read an ONNX GRU model into an edgegru float model",
        "  edgegru import gru.onnx -o gru.egru\n"
        "  edgegru import gru.onnx --head-kind classification -o gru.egru",
    )
    p.add_argument("onnx", help="an .onnx file with a GRU op")
    p.add_argument("-o", "--output", default="model.egru", help="model file to write (default model.egru)")
    p.add_argument(
        "--head-kind",
        choices=["classification", "regression"],
        help="how to read a Gemm/MatMul head",
    )
    p.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from edgegru.onnx.importer import import_onnx

    model = import_onnx(args.onnx, head_kind=args.head_kind)
    model.save(args.output)
    print(f"{model.describe()}\nwrote {args.output}")
    return 0


def add_info(sub: argparse._SubParsersAction) -> None:
    p = _parser(sub, "info", "describe a model file", "  edgegru info bm.egru\n  edgegru info bm-int8.egru")
    p.add_argument("model")
    p.set_defaults(handler=run_info)


def run_info(args: argparse.Namespace) -> int:
    model = load_any_model(args.model)
    print(model.describe())
    for key, value in model.metadata.items():
        print(f"  {key}: {value}")
    return 0


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = _parser(
        sub,
        "demo",
        "run the whole chain on a built-in task: train, quantise, export C, verify",
        "  edgegru demo\n  edgegru demo --builtin adding --out demo-adding",
    )
    p.add_argument("--builtin", default="gestures", help="built-in task (default gestures)")
    p.add_argument("--out", default="edgegru-demo", help="output directory (default edgegru-demo)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--cpu", default="cortex-m4", help="Cortex-M core of the C export (default cortex-m4)")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from edgegru.cli.demo import run_demo as demo

    return demo(args.builtin, Path(args.out), args.epochs, args.cpu)


# ---- entry point -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgegru",
        description="Train a GRU, quantise it bit-exactly, and run it on Cortex-M, Raspberry Pi and ONNX.",
    )
    parser.add_argument("--version", action="version", version=f"edgegru {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.set_defaults(commands=sub.choices)
    add_demo(sub)
    add_train(sub)
    add_quantize(sub)
    add_export(sub)
    add_verify(sub)
    from edgegru.tflite.stream import add_run_parser, run_run

    add_run_parser(sub).set_defaults(handler=run_run)
    add_import(sub)
    add_info(sub)
    from edgegru.targets.pi.main import add_pi_parser, run_pi

    add_pi_parser(sub).set_defaults(handler=run_pi)
    try:
        from edgegru.targets.host_bench import add_bench_parser, run_bench

        add_bench_parser(sub).set_defaults(handler=run_bench)
    except ImportError:  # pragma: no cover - bench lands separately
        pass
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
        return command.parse_args(rest)  # a command with its own subcommands (pi)
    return command.parse_intermixed_args(rest)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_reporting(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
