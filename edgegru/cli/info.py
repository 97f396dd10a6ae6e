"""``edgegru info``: describe a model file."""

from __future__ import annotations

import argparse

from edgegru.cli.common import command_parser, load_any_model


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub, "info", "describe a model file", "  edgegru info bm.egru\n  edgegru info bm-int8.egru"
    )
    p.add_argument("model")
    return p


def run(args: argparse.Namespace) -> int:
    model = load_any_model(args.model)
    print(model.describe())
    for key, value in model.metadata.items():
        print(f"  {key}: {value}")
    return 0
