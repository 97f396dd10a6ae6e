"""``edgegru train``: train a GRU on sequence data and save the float model (needs torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgegru.cli.common import add_data_args, command_parser, load_data, seed_value
from edgegru.core.atomic import check_output_path
from edgegru.core.errors import EdgeGruError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
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
    return p


def run(args: argparse.Namespace) -> int:
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
