"""What several commands share: their parser's shape, the data arguments, reading models,
seeds, and refusing options that the chosen target does not read.

Only argparse and edgegru's lowest layer are imported here: ``edgegru --help`` builds
every command's parser, and must work on a base install (no torch, ONNX or LiteRT).
The data and model modules are imported inside the functions that read them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edgegru.core.errors import EdgeGruError

if TYPE_CHECKING:
    import numpy as np

    from edgegru.data import Dataset
    from edgegru.nn.model import Model
    from edgegru.quant.qmodel import QuantizedModel


def command_parser(
    subparsers: argparse._SubParsersAction, name: str, help: str, examples: str
) -> argparse.ArgumentParser:
    """A subcommand whose description is its one-line help and whose epilog shows examples."""
    return subparsers.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def seed_value(text: str) -> int:
    """argparse type of every --seed: the generators take 0 <= seed < 2^32."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer") from None
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"{seed}: expected 0 <= seed < 2^32")
    return seed


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
    args: argparse.Namespace,
    class_names: list[str] | None = None,
    model: Model | QuantizedModel | None = None,
) -> tuple[Dataset | None, Dataset | None]:
    """(train, test) datasets from the data arguments; test may be None. ``class_names``
    (a trained model's) number a data file's labels as the model numbers its classes;
    with ``model`` the samples are grouped into its frames (edgegru/data/frames.py)."""
    from edgegru.data.frames import model_input

    train, test = _load_data(args, class_names)
    if model is None or train is None:
        return train, test
    framed = [None if d is None else model_input(d, model.frame, model.input_size) for d in (train, test)]
    return framed[0], framed[1]


def _load_data(
    args: argparse.Namespace, class_names: list[str] | None
) -> tuple[Dataset | None, Dataset | None]:
    """load_data without the framing."""
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


def add_stimulus_args(p: argparse.ArgumentParser, sequences: int, steps: int) -> None:
    """The inputs of a bit-exactness check: a data file (the data arguments) or random
    sequences shaped by --sequences, --steps and --seed."""
    p.add_argument(
        "--sequences",
        type=int,
        default=sequences,
        help=f"random sequences when no data is given (default {sequences})",
    )
    p.add_argument("--steps", type=int, default=steps, help=f"steps per random sequence (default {steps})")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the random sequences (default 0)")
    add_data_args(p, "input", required=False)


def stimulus(args: argparse.Namespace, qm: QuantizedModel, sequences: int, steps: int) -> np.ndarray:
    """The inputs (N, T, D) that :func:`add_stimulus_args` asked for: the data file's sequences
    as floats (which exercise the on-device quantisation too), or random int8 ones.
    ``sequences`` and ``steps`` are the defaults given to add_stimulus_args."""
    import numpy as np

    from edgegru.targets.verify import random_stimulus

    data, _ = load_data(args, model=qm)
    if data is None:
        if args.sequences < 1 or args.steps < 1:
            raise EdgeGruError("--sequences and --steps must be >= 1")
        return random_stimulus(qm, args.sequences, args.steps, args.seed)
    if (args.sequences, args.steps) != (sequences, steps):
        raise EdgeGruError("--sequences and --steps shape the random input; with data they do not apply")
    return data.x.astype(np.float32)


def print_float_vs_int8(
    model: Model, calib: Dataset, test: Dataset | None, int8_score: Callable[[Dataset], float]
) -> None:
    """One line scoring the float model and its int8 version (``int8_score``) on the test
    set, or on the calibration set without one: quantize and export --dtype int8 say it alike."""
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name

    ds, label = (test, "test") if test is not None else (calib, "calibration")
    name = metric_name(ds)
    f, q = evaluate(model, ds), int8_score(ds)
    print(f"{label} {name}: float {format_metric(name, f)}, int8 {format_metric(name, q)}")


# ---- the evaluation report -----------------------------------------------------------


def add_report_arg(p: argparse.ArgumentParser, what: str) -> None:
    """``--report FILE``: the HTML evaluation page (edgegru report) of ``what``."""
    p.add_argument(
        "--report",
        metavar="FILE.html",
        help=f"also write the evaluation report (edgegru report) of {what}, on the test data when given",
    )


def check_report_arg(args: argparse.Namespace) -> None:
    """Refuse an unusable --report path, or a missing matplotlib, before any work."""
    if args.report is None:
        return
    from edgegru.core.atomic import check_output_path

    check_output_path(Path(args.report))
    import matplotlib  # noqa: F401  (the report extra; cli.main names it when missing)


def write_command_report(
    args: argparse.Namespace, qm: QuantizedModel, data: Dataset, float_model: Model, names: tuple[str, str]
) -> None:
    """The --report page of ``qm`` (named ``names[0]``, its float model ``names[1]``) on
    ``data``, without Cortex-M figures (edgegru report --cpu adds them), and where it is."""
    from edgegru.report import write_report

    write_report(args.report, qm, data, float_model, model_name=names[0], float_name=names[1])
    print(f"report: {args.report}")


# ---- model files ------------------------------------------------------------------


def load_any_model(path: str) -> Model | QuantizedModel:
    """Read a float or a quantised model file, whichever it holds."""
    from edgegru.core.container import container_kind
    from edgegru.nn.model import Model
    from edgegru.quant.qmodel import QMODEL_KIND, QuantizedModel

    return QuantizedModel.load(path) if container_kind(path) == QMODEL_KIND else Model.load(path)


def require_quantised(path: str, what: str) -> QuantizedModel:
    """The quantised model in ``path``; a float model is refused, naming ``what`` needed it."""
    from edgegru.quant.qmodel import QuantizedModel

    model = load_any_model(path)
    if not isinstance(model, QuantizedModel):
        raise EdgeGruError(f"{path}: a float model; {what} needs a quantised one (edgegru quantize)")
    return model


def require_float(path: str, what: str) -> Model:
    """The float model in ``path``; a quantised model is refused, naming ``what`` needed it."""
    from edgegru.nn.model import Model

    model = load_any_model(path)
    if not isinstance(model, Model):
        raise EdgeGruError(f"{path}: a quantised model; {what} needs the float model it came from")
    return model


# ---- options that apply to some targets only -----------------------------------------


def refuse_options_of_other_targets(
    args: argparse.Namespace, applies_to: Mapping[str, tuple[str, ...]], defaults: Mapping[str, object]
) -> None:
    """Refuse an option given (with a value other than its default) for a ``--target`` that
    does not read it: silently ignoring it would let a user believe, say, that ``--cpu``
    shaped a c99 export.

    ``applies_to`` maps an option's dest to the targets that read it; ``defaults`` holds
    the parser defaults of those that have one (the others default to None).
    """
    for name, targets in applies_to.items():
        value = getattr(args, name, None)
        if args.target not in targets and value is not None and value != defaults.get(name):
            shown = "DATA" if name == "data" else f"--{name.replace('_', '-')}"
            raise EdgeGruError(f"{shown} applies to --target {' or '.join(targets)}, not {args.target}")
