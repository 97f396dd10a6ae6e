"""Measure quantisation-aware training against post-training quantisation.

For each dataset and seed: train a float model with the default recipe (``edgegru.nn.train``),
calibrate as ``edgegru quantize`` does by default (percentile 99.9 on the training set),
then for each state width quantise it directly (PTQ) and through ``qat`` (QAT), and score
all on the test set. The state error is the integer reference's state (every layer, every
valid step of the test set, in real units) against the float model it was quantised from:
for QAT that is the fine-tuned float model, and the last column compares it with the
original float model too. Prints a Markdown table (medians over the seeds, with the range
when there are several).

    nice -n 5 .venv/bin/python scripts/qat.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgegru.data import Dataset, load_dataset
from edgegru.data.frames import model_input
from edgegru.nn import float_reference as fref
from edgegru.nn.evaluate import evaluate
from edgegru.nn.model import Model
from edgegru.nn.train import TrainConfig, train
from edgegru.quant import QuantizedModel, calibrate, quantize
from edgegru.quant import integer_reference as iref
from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE
from edgegru.quant.qat import QatConfig, qat
from edgegru.report.state_error import state_error as report_state_error

DATASETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ", "ArrowHead", "OSULeaf")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def state_error(qm: QuantizedModel, model: Model, ds: Dataset) -> tuple[float, float]:
    """(max, mean) |integer state - float state| over every layer's units and valid steps."""
    ints = iref.run(qm, iref.quantize_input(qm.input, ds.x)).states
    error = report_state_error(ints, fref.forward(model, ds.x).hidden, qm.state_bits, ds.lengths)
    return error.overall_max, error.overall_mean


def measure(name: str, shared: Path, seed: int, bits: list[int], epochs: int) -> list[dict[str, float]]:
    """One row per state width for one dataset and seed."""
    tr = load_dataset(shared / f"{name}_TRAIN.ts")
    te = load_dataset(shared / f"{name}_TEST.ts", class_names=tr.class_names)
    start = time.perf_counter()
    model = train(tr, TrainConfig(seed=seed), progress=False).model
    train_s = time.perf_counter() - start
    te = model_input(te, model.frame, model.input_size)  # the state errors run on the model's steps
    ranges = calibrate(model, tr.x, tr.lengths, CLI_METHOD, CLI_PERCENTILE)
    rows = []
    for b in bits:
        ptq = quantize(model, ranges, b)
        start = time.perf_counter()
        result = qat(model, tr, ranges, b, QatConfig(epochs=epochs, seed=seed))
        qat_s = time.perf_counter() - start
        rows.append(
            {
                "bits": b,
                "float": evaluate(model, te),
                "ptq": evaluate(ptq, te),
                "qat": evaluate(result.quantized, te),
                "qat_float": evaluate(result.model, te),
                "ptq_err": state_error(ptq, model, te),
                "qat_err": state_error(result.quantized, result.model, te),
                "qat_err_orig": state_error(result.quantized, model, te),
                "kept": result.best_epoch,
                "train_s": train_s,
                "qat_s": qat_s,
            }
        )
    return rows


def spread(values: list[float], pct: bool = True, digits: int = 1) -> str:
    scale = 100.0 if pct else 1.0
    med = f"{scale * float(np.median(values)):.{digits}f}"
    if len(values) == 1:
        return med
    return f"{med} ({scale * min(values):.{digits}f}-{scale * max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--state-bits", nargs="+", type=int, default=[16, 8])
    parser.add_argument("--qat", type=int, default=20, help="QAT epochs (default 20)")
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    print(
        "| dataset | state | float % | int8 PTQ % | int8 QAT % | QAT float % | "
        "state err PTQ max / mean | state err QAT max / mean | QAT vs original float max / mean |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        runs = [measure(name, args.shared, seed, args.state_bits, args.qat) for seed in args.seeds]
        for i, b in enumerate(args.state_bits):
            rows = [run[i] for run in runs]

            def col(key: str, rows: list[dict] = rows) -> list[float]:
                return [r[key] for r in rows]

            def err(key: str, rows: list[dict] = rows) -> str:
                return " / ".join(spread([r[key][j] for r in rows], False, 4) for j in (0, 1))

            print(
                f"| {name} | int{b} | {spread(col('float'))} | {spread(col('ptq'))} | {spread(col('qat'))} | "
                f"{spread(col('qat_float'))} | {err('ptq_err')} | {err('qat_err')} | {err('qat_err_orig')} |",
                flush=True,
            )
        times = ", ".join(
            f"seed {s}: train {run[0]['train_s']:.0f} s, QAT {sum(r['qat_s'] for r in run):.0f} s, "
            f"kept epochs {[r['kept'] for r in run]}"
            for s, run in zip(args.seeds, runs, strict=True)
        )
        print(f"<!-- {name}: {times} -->", flush=True)


if __name__ == "__main__":
    main()
