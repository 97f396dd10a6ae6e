"""Check the default training recipe against the accuracy targets of issue 12.

For each dataset and seed this trains exactly what ``edgegru train DATA_TRAIN --test
DATA_TEST --seed S`` trains (``TrainConfig(seed=S)``, every other field at its default),
scores the float model on the test file, then quantises it as ``edgegru quantize`` does by
default (percentile 99.9 on the training set, int8 weights) with an int16 and an int8 state,
and scores the integer reference. Sunspots is trained as ``edgegru train --series`` does
(window 24, the last 20% of the series held out) and compared with persistence and a
least-squares AR(24) fitted on the same training windows, and an AR(24) fitted on the test
windows themselves shows how far any linear model of the window can go there. Prints
Markdown tables.

    nice -n 5 .venv/bin/python scripts/accuracy.py                      # everything, seeds 0 1 2
    nice -n 5 .venv/bin/python scripts/accuracy.py --datasets GunPoint --seeds 0 --no-series
    nice -n 5 .venv/bin/python scripts/accuracy.py --set frame=1 --set refit=false   # an ablation

``--set FIELD=VALUE`` changes one TrainConfig field from its default (the flag of the same
name), so that each part of the recipe is measured by a command anyone can run again.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from edgegru.cli.common import load_data
from edgegru.data import Dataset, load_dataset
from edgegru.nn.evaluate import evaluate
from edgegru.nn.model import Model
from edgegru.nn.train import TrainConfig, train
from edgegru.quant import calibrate, quantize
from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
# dataset: (published accuracy as issue 12 quotes it (ROCKET / InceptionTime), target)
TARGETS = {
    "BasicMotions": ("100% (InceptionTime)", 1.00),
    "GunPoint": ("100 / 100%", 0.97),
    "PickupGestureWiimoteZ": ("83 / 76%", 0.75),
    "ArrowHead": ("81 / 85%", 0.78),
    "OSULeaf": ("94 / 93%", 0.70),
}
WINDOW = 24  # edgegru train --series's default --window
SERIES_GAIN = 0.05  # sunspots must beat each baseline's RMSE by this fraction


def int8_scores(model: Model, calib: Dataset, test: Dataset) -> tuple[float, float]:
    """Test scores of the integer reference with an int16 and an int8 state."""
    ranges = calibrate(model, calib.x, calib.lengths, CLI_METHOD, CLI_PERCENTILE)
    return evaluate(quantize(model, ranges, 16), test), evaluate(quantize(model, ranges, 8), test)


def spread(values: list[float], percent: bool) -> str:
    """``median (min-max)`` of the seeds' values."""
    f = (lambda v: f"{100 * v:.1f}") if percent else (lambda v: f"{v:.2f}")
    med = statistics.median(values)
    return f"{f(med)} ({f(min(values))}-{f(max(values))})" if len(values) > 1 else f(med)


def overrides(pairs: list[str]) -> dict[str, object]:
    """``FIELD=VALUE`` pairs -> TrainConfig fields, each VALUE read as its field's type."""
    defaults = TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    changes: dict[str, object] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in known or not text:
            fields = ", ".join(sorted(known))
            raise SystemExit(f"--set {pair}: expected FIELD=VALUE with FIELD one of {fields}")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            changes[name] = text.lower() in ("1", "true", "yes")
        else:
            changes[name] = (
                float(text) if default is None else type(default)(text)
            )  # None: automatic (lr, val_fraction)
    return changes


def config(seed: int, changes: dict[str, object]) -> TrainConfig:
    """The default recipe with ``changes``, for ``seed``."""
    return TrainConfig(**{**changes, "seed": seed})  # type: ignore[arg-type]


def classification_table(datasets: list[str], seeds: list[int], changes: dict[str, object]) -> bool:
    """Train, score and print one row per dataset; True when every target is met."""
    print("| dataset | float test accuracy per seed | median | published | target | pass "
          "| int8, int16 state | int8, int8 state | s per run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    every = True
    for name in datasets:
        tr = load_dataset(SHARED / f"{name}_TRAIN.ts")
        te = load_dataset(SHARED / f"{name}_TEST.ts", class_names=tr.class_names)
        floats, q16, q8, seconds = [], [], [], []
        for seed in seeds:
            started = time.perf_counter()
            model = train(tr, config(seed, changes), progress=False).model
            seconds.append(time.perf_counter() - started)
            floats.append(evaluate(model, te))
            a, b = int8_scores(model, tr, te)
            q16.append(a)
            q8.append(b)
        published, target = TARGETS[name]
        ok = statistics.median(floats) >= target - 1e-9
        every &= ok
        per_seed = " ".join(f"{100 * v:.1f}" for v in floats)
        print(f"| {name} | {per_seed} | {100 * statistics.median(floats):.1f}% | {published} "
              f"| >= {100 * target:.0f}% | {'pass' if ok else 'FAIL'} | {spread(q16, True)} "
              f"| {spread(q8, True)} | {spread(seconds, False)} |", flush=True)  # fmt: skip
    return every


def ar_design(ds: Dataset) -> np.ndarray:
    """The windows beside a column of ones: the regressors of an AR model with an intercept."""
    return np.concatenate([ds.x[:, :, 0], np.ones((ds.n, 1))], axis=1).astype(np.float64)


def ar_fit(ds: Dataset) -> np.ndarray:
    """Least-squares AR coefficients (the intercept last) that predict ``ds``'s targets."""
    coef, *_ = np.linalg.lstsq(ar_design(ds), ds.y[:, 0].astype(np.float64), rcond=None)
    return coef


def rmse(prediction: np.ndarray, ds: Dataset) -> float:
    """Root mean square error of a prediction of ``ds``'s targets."""
    return float(np.sqrt(np.mean((prediction - ds.y[:, 0]) ** 2)))


def sunspots_table(seeds: list[int], changes: dict[str, object]) -> bool:
    """The GRU's test RMSE against persistence and AR(24); True when it beats both by 5%."""
    series = SHARED / "sunspots_monthly.dat"
    # the windows and split of `edgegru train --series`, by its own code
    args = argparse.Namespace(data=None, builtin=None, series=str(series), window=WINDOW, data_required=True)
    tr, te = load_data(args)
    assert tr is not None and te is not None
    persistence = rmse(te.x[:, -1, 0], te)
    ar_rmse = rmse(ar_design(te) @ ar_fit(tr), te)
    # fitted on the test windows themselves: no linear model of the window does better there
    ar_oracle = rmse(ar_design(te) @ ar_fit(te), te)
    rmses, q16, seconds = [], [], []
    for seed in seeds:
        started = time.perf_counter()
        model = train(tr, config(seed, changes), progress=False).model
        seconds.append(time.perf_counter() - started)
        rmses.append(evaluate(model, te))
        q16.append(int8_scores(model, tr, te)[0])
    best_baseline = min(persistence, ar_rmse)
    gru = statistics.median(rmses)
    target = (1 - SERIES_GAIN) * best_baseline
    ok = gru <= target
    print()
    print(f"| sunspots (window {WINDOW}) | test RMSE per seed | median | vs persistence | vs AR({WINDOW}) "
          "| target | pass | int8, int16 state | s per run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    per_seed = " ".join(f"{v:.2f}" for v in rmses)
    print(f"| GRU | {per_seed} | {gru:.2f} | {persistence:.2f} ({100 * (1 - gru / persistence):+.1f}%) "
          f"| {ar_rmse:.2f} ({100 * (1 - gru / ar_rmse):+.1f}%) | {100 * SERIES_GAIN:.0f}% below each "
          f"| {'pass' if ok else 'FAIL'} | {spread(q16, False)} | {spread(seconds, False)} |")  # fmt: skip
    print(f"\nAR({WINDOW}) fitted on the test windows themselves: RMSE {ar_oracle:.2f}, the least any "
          f"linear model of the window can reach there (target {target:.2f})")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--no-series", action="store_true", help="skip sunspots")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a TrainConfig field changed"
    )
    args = parser.parse_args()
    changes = overrides(args.set)
    if changes:
        print("recipe: defaults with " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    ok = classification_table(args.datasets, args.seeds, changes) if args.datasets else True
    if not args.no_series:
        ok &= sunspots_table(args.seeds, changes)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
