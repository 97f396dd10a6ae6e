"""``edgegru demo``, the README's first command: train, quantise, export C and verify on a
built-in task, and summarise.

Every step is the public API a user would script; nothing here is demo-only logic
besides the printing. The API is imported when the demo runs (training needs torch),
so that ``edgegru --help`` works without it.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from edgegru.cli.common import command_parser
from edgegru.core.errors import EdgeGruError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "demo",
        "run the whole chain on a built-in task: train, quantise, export C, verify",
        "  edgegru demo\n  edgegru demo --builtin adding --out demo-adding",
    )
    p.add_argument("--builtin", default="gestures", help="built-in task (default gestures)")
    p.add_argument("--out", default="edgegru-demo", help="output directory (default edgegru-demo)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--cpu", default="cortex-m4", help="Cortex-M core of the C export (default cortex-m4)")
    return p


def _arm_tools_present() -> bool:
    return all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))


def run(args: argparse.Namespace) -> int:
    """The whole chain into ``--out``; a directory it creates is removed again if the run
    fails before writing anything into it."""
    out = Path(args.out)
    created = not out.exists()
    try:
        return _run_demo(args.builtin, out, args.epochs, args.cpu)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _run_demo(task: str, out: Path, epochs: int, cpu: str) -> int:
    from edgegru.codegen.export import export_c
    from edgegru.data import builtin_dataset
    from edgegru.data.frames import model_input
    from edgegru.nn.evaluate import evaluate, format_metric, metric_name
    from edgegru.nn.train import TrainConfig, train
    from edgegru.quant import calibrate, quantize
    from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE
    from edgegru.targets.cortex_m.cores import get_core
    from edgegru.targets.cortex_m.footprint import measure_footprint
    from edgegru.targets.cortex_m.kernels import LAYOUT, kernels_used
    from edgegru.targets.cortex_m.verify import verify_cortex_m
    from edgegru.targets.host import verify_host
    from edgegru.targets.verify import random_stimulus

    start = time.time()
    core = get_core(cpu)
    config = TrainConfig(hidden=24, epochs=epochs, lr=1e-2, batch_size=32)
    config.check()
    train_ds = builtin_dataset(task, 1000, seed=0)
    test_ds = builtin_dataset(task, 250, seed=1000)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/5] train a GRU on the built-in '{task}' task")
    result = train(train_ds, config)
    model = result.model
    model.save(out / "model.egru")

    print("[2/5] quantise: int8 weights and inputs, int16 state, calibrated on the training set")
    qm = quantize(model, calibrate(model, train_ds.x, train_ds.lengths, CLI_METHOD, CLI_PERCENTILE))
    qm.save(out / "model-int8.egru")
    name = metric_name(test_ds)
    float_score, int_score = evaluate(model, test_ds), evaluate(qm, test_ds)

    print(f"[3/5] export C for {cpu}")
    c_dir = out / f"c-{cpu}"
    footprint = measure_footprint(qm, cpu) if shutil.which("arm-none-eabi-gcc") else None
    report = {"target": "cortex-m", "cpu": cpu, **(footprint.as_dict() if footprint else {})}
    if c_dir.exists():
        shutil.rmtree(c_dir)
    exported = export_c(qm, c_dir, "gru", LAYOUT, report)

    print("[4/5] compile the generated C on the host and compare with the integer reference")
    # the model steps once per frame of samples (docs/data.md), as a device feeds it
    x_test = model_input(test_ds, qm.frame, qm.input_size).x.astype(np.float32)
    host = [verify_host(qm, x_test), verify_host(qm, random_stimulus(qm, 64, 100))]
    emulated = []
    if _arm_tools_present():
        kernels = kernels_used(core, portable=False)
        print(f"[5/5] build the exported C for {cpu} ({kernels} kernels) and run it under QEMU")
        emulated.append(verify_cortex_m(qm, x_test[:64], cpu))
    else:
        print("[5/5] skipped: arm-none-eabi-gcc or qemu-system-arm not installed (scripts/setup.sh)")
    reports = host + emulated

    print("\nsummary")
    print(f"  model        {model.describe()}")
    print(f"  test {name}: float {format_metric(name, float_score)}, "
          f"int8 {format_metric(name, int_score)} ({test_ds.n} sequences)")  # fmt: skip
    print(f"  weights      {exported.weight_bytes} bytes int8 + {exported.const_bytes} bytes of "
          "biases, multipliers and tables")  # fmt: skip
    if footprint:
        print(f"  footprint    {footprint.table()}")
    for r in reports:
        print(f"  verified     {r.summary()}")
    print(f"  files        {out}/model.egru, {out}/model-int8.egru, {c_dir}/")
    print(f"  time         {time.time() - start:.0f} s")
    if not all(r.ok for r in reports):
        raise EdgeGruError("the generated C does not match the integer reference (see above)")
    return 0
