"""``edgegru train``: train a GRU on sequence data and save the float model (needs torch).

Every field of :class:`~edgegru.nn.train_config.TrainConfig` is a flag of the same name
with its default taken from there, so the command and the Python API train the same model.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from edgegru.cli.common import (
    add_data_args,
    add_report_arg,
    check_report_arg,
    command_parser,
    load_data,
    seed_value,
    write_command_report,
)
from edgegru.core.atomic import check_output_path
from edgegru.core.errors import EdgeGruError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from edgegru.nn.model import VARIANTS
    from edgegru.nn.schedule import SCHEDULES
    from edgegru.nn.train_config import TrainConfig

    p = command_parser(
        sub,
        "train",
        "train a GRU on sequence data and save the float model",
        "  edgegru train BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts -o bm.egru\n"
        "  edgegru train --builtin gestures -o gestures.egru\n"
        "  edgegru train --series sunspots_monthly.dat --window 24 -o sun.egru\n"
        "  edgegru train GunPoint_TRAIN.ts --no-refit --schedule constant --time-warp 0",
    )
    add_data_args(p, "training")
    p.add_argument("-o", "--output", default="model.egru", help="model file to write (default model.egru)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_report_arg(p, "the model quantised as `edgegru quantize` does by default, on the training data")
    defaults = TrainConfig()

    def option(group: argparse._ArgumentGroup, name: str, help: str, **kwargs: object) -> None:
        """The flag of TrainConfig field ``name``, with that field's default."""
        default = getattr(defaults, name)
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif "choices" not in kwargs and "type" not in kwargs:
            kwargs["type"] = seed_value if name == "seed" else type(default)
        flag = "--" + name.replace("_", "-")
        shown = "automatic" if default is None else default
        group.add_argument(flag, default=default, help=f"{help} (default {shown})", **kwargs)  # type: ignore[arg-type]

    m = p.add_argument_group("model")
    option(m, "hidden", "hidden units per layer")
    option(m, "layers", "stacked GRU layers")
    option(m, "variant", "GRU formulation (reset_after as PyTorch)", choices=VARIANTS)
    option(m, "frame", "samples per GRU step; 0: the fewest (1, 2, 4, 8) making sequences at most 64 steps")
    o = p.add_argument_group("optimisation")
    option(o, "epochs", "maximum epochs")
    option(
        o,
        "lr",
        "peak AdamW learning rate; automatic: 1e-2 for classification, 3e-3 for regression",
        type=float,
    )
    option(o, "batch_size", "sequences per batch")
    option(o, "seed", "random seed: same seed, same model")
    option(o, "clip", "max gradient norm, 0 to disable")
    option(o, "schedule", "learning rate after the warm-up", choices=SCHEDULES)
    option(o, "warmup", "epochs of rising learning rate")
    option(o, "weight_decay", "AdamW weight decay")
    option(o, "label_smoothing", "classification only")
    option(o, "dropout", "share of the head's inputs zeroed in training (the model on a device has none)")
    option(o, "chrono", "start the update gates with memories up to the longest sequence")
    s = p.add_argument_group("stopping")
    option(s, "patience", "epochs without a better loss on the validation (or, without one, training) cases")
    option(
        s,
        "val_fraction",
        "share of the training cases held out for validation; automatic: 0 for classification "
        "(all epochs on every case), 0.2 for regression",
        type=float,
    )
    option(s, "refit", "train again on all cases for the epoch count validation chose")
    a = p.add_argument_group(
        "augmentation: of classification data (strengths in units of each channel's std), and of "
        "--series forecasts (one gain); 0 turns one off"
    )
    option(a, "jitter", "std of added noise")
    option(a, "scale", "std of a random gain per sequence and channel")
    option(a, "magnitude_warp", "std of a gain drifting along the sequence")
    option(a, "time_warp", "std of the local speed of a smooth resampling of time")
    option(a, "crop", "largest share of a sequence cut off its ends, the rest stretched to its length")
    option(a, "forecast_gain", "--series only: std of the log of one gain on a window and its target")
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.data.frames import model_input
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name
    from edgegru.nn.train import TrainConfig, train

    check_output_path(Path(args.output))  # before minutes of training, not after
    check_report_arg(args)
    if args.test and not args.data:
        raise EdgeGruError(
            "--test FILE goes with a data file; --builtin and --series make their own test split"
        )
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    config.check()  # a bad flag is named before the data are read
    train_ds, test_ds = load_data(args)
    result = train(train_ds, config, progress=not args.quiet)
    frame, size = result.model.frame, result.model.input_size
    train_ds = model_input(train_ds, frame, size)
    test_ds = None if test_ds is None else model_input(test_ds, frame, size)
    name = metric_name(train_ds)
    parts = [f"{k} {format_metric(name, v) if k.endswith(name) else f'{v:.4g}'}"
             for k, v in result.metrics.items()]  # fmt: skip
    if test_ds is not None:
        test = evaluate(result.model, test_ds)
        result.model.metadata["test_metric"] = {name: test}
        parts.append(f"test_{name} {format_metric(name, test)}")
    result.model.save(args.output)
    print(f"{result.model.describe()}: " + ", ".join(parts))
    print(f"training: {result.summary()}")
    print(f"wrote {args.output}")
    if args.report is not None:
        from edgegru.quant import calibrate, quantize
        from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE

        model = result.model
        qm = quantize(model, calibrate(model, train_ds.x, train_ds.lengths, CLI_METHOD, CLI_PERCENTILE))
        data = test_ds if test_ds is not None else train_ds
        write_command_report(args, qm, data, model, (f"{args.output}, quantised", args.output))
    return 0
