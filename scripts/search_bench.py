"""Issue 13's benchmark of ``edgegru search`` (docs/search.md records its figures).

    nice -n 5 .venv/bin/python scripts/search_bench.py basic-motions
    nice -n 5 .venv/bin/python scripts/search_bench.py pickup

basic-motions: BasicMotions, --cpu cortex-m4 --flash 8K, 20 trials (each cross-validated,
``--folds`` of edgegru search) by two processes on one study file (the machine's two cores);
the wall time, the chosen model's int8 test accuracy, and its footprint measured again from
the C it exported.

pickup: PickupGestureWiimoteZ, --flash 16K, the same, against the default ``edgegru train``
and ``edgegru quantize`` on the same data (run beside the search), whose footprint is
measured on the same core.

Every figure printed is measured by this run.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
EDGEGRU = [sys.executable, "-m", "edgegru.cli.main"]
CPU = "cortex-m4"
CASES = {
    "basic-motions": ("BasicMotions", "8K"),
    "pickup": ("PickupGestureWiimoteZ", "16K"),
}


def _search(name: str, flash: str, work: Path, args: argparse.Namespace) -> tuple[float, Path]:
    """Two processes adding to one study; (wall seconds, the output of the one that ended last)."""
    data = [str(SHARED / f"{name}_TRAIN.ts"), "--test", str(SHARED / f"{name}_TEST.ts")]
    command = [
        *EDGEGRU, "search", *data, "--cpu", CPU, "--flash", flash, "--trials", str(args.trials),
        "--storage", str(work / f"{name}.db"), "--seed", str(args.seed),
    ]  # fmt: skip
    if args.timeout is not None:
        command += ["--timeout", str(args.timeout)]
    if args.epochs is not None:
        command += ["--epochs", args.epochs]
    if args.folds is not None:
        command += ["--folds", str(args.folds)]
    start = time.monotonic()
    procs = []
    for k in (1, 2):
        log = (work / f"{name}-{k}.log").open("w")
        out = work / f"{name}-out{k}"
        procs.append(
            (subprocess.Popen([*command, "-o", str(out)], stdout=log, stderr=subprocess.STDOUT), out)
        )
    for proc, _ in procs:  # the second wait returns when both have ended
        if proc.wait() != 0:
            sys.exit(f"search process failed: see {work / f'{name}-*.log'}")
    ends = sorted(procs, key=lambda p: (p[1] / "pareto.md").stat().st_mtime)
    return time.monotonic() - start, ends[-1][1]


def _default_train(name: str, work: Path) -> subprocess.Popen[bytes]:
    """``edgegru train`` then ``edgegru quantize``, every option at its default, started now (it
    runs beside the search): the int8 model lands in ``work/default-int8.egru``."""
    train, test = SHARED / f"{name}_TRAIN.ts", SHARED / f"{name}_TEST.ts"
    steps = [
        [*EDGEGRU, "train", str(train), "--test", str(test), "--quiet", "-o", str(work / "default.egru")],
        [*EDGEGRU, "quantize", str(work / "default.egru"), str(train), "--test", str(test),
         "-o", str(work / "default-int8.egru")],
    ]  # fmt: skip
    log = (work / f"{name}-default.log").open("w")
    script = " && ".join(shlex.join(step) for step in steps)
    return subprocess.Popen(["sh", "-c", script], stdout=log, stderr=subprocess.STDOUT)


def _measure(qm_path: Path, export: Path | None, train_path: Path, test_path: Path) -> dict[str, object]:
    """Int8 test accuracy, and the footprint of ``export`` (else of the model's C) on the core."""
    from edgegru.codegen.render import render
    from edgegru.data import load_dataset
    from edgegru.nn.evaluate import evaluate
    from edgegru.quant.qmodel import QuantizedModel
    from edgegru.targets.cortex_m.footprint import measure_footprint, measure_sources
    from edgegru.targets.cortex_m.kernels import LAYOUT

    qm = QuantizedModel.load(qm_path)
    test = load_dataset(test_path, class_names=load_dataset(train_path).class_names)
    if export is not None:  # compile the exported files themselves
        fp = measure_sources(export, render(qm, "model", LAYOUT), CPU)
    else:
        fp = measure_footprint(qm, CPU)
    return {"model": qm.describe(), "test_accuracy": evaluate(qm, test), "flash": fp.flash, "ram": fp.ram}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--work", type=Path, default=Path("search-bench"), help="scratch directory")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout", type=float, help="passed to edgegru search: no new trial after it")
    parser.add_argument("--epochs", help="passed to edgegru search as --epochs LO:HI")
    parser.add_argument("--folds", type=int, help="passed to edgegru search as --folds K")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    name, flash = CASES[args.case]
    work = args.work / args.case
    work.mkdir(parents=True, exist_ok=True)
    train_path, test_path = SHARED / f"{name}_TRAIN.ts", SHARED / f"{name}_TEST.ts"
    print(
        f"{name}: edgegru search --cpu {CPU} --flash {flash} --trials {args.trials}, two processes, one study"
    )
    baseline = _default_train(name, work) if args.case == "pickup" else None
    wall, out = _search(name, flash, work, args)
    import optuna

    from edgegru.search.storage import STUDY_NAME

    storage = f"sqlite:///{work / f'{name}.db'}"
    trials = optuna.load_study(study_name=STUDY_NAME, storage=storage).get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    chosen = _measure(out / "model-int8.egru", out / "model_c", train_path, test_path)
    print(f"  {len(done)} trials complete ({len(trials)} in the study) in {wall:.0f} s wall")
    print(f"  chosen ({out}): {chosen['model']}; int8 test accuracy {100 * chosen['test_accuracy']:.1f}%")
    print(
        f"  its export model_c/ compiled again for {CPU} -Os: flash {chosen['flash']} B, "
        f"RAM {chosen['ram']} B"
    )
    if baseline is not None:
        if baseline.wait() != 0:
            sys.exit(f"default training failed: see {work / f'{name}-default.log'}")
        base = _measure(work / "default-int8.egru", None, train_path, test_path)
        print(
            f"  default train + quantize (run beside the search): {base['model']}; int8 test accuracy "
            f"{100 * base['test_accuracy']:.1f}%; flash {base['flash']} B, RAM {base['ram']} B on {CPU}"
        )


if __name__ == "__main__":
    main()
