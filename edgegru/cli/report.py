"""``edgegru report``: a quantised model evaluated on data, written as one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgegru.cli.common import (
    add_data_args,
    command_parser,
    load_data,
    require_float,
    require_quantised,
    seed_value,
)

REPORT_CPUS = "cortex-m0plus,cortex-m4"  # a core without and one with the DSP kernels


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "report",
        "write an HTML evaluation report of a quantised model on a dataset",
        "  edgegru report bm-int8.egru BasicMotions_TEST.ts -o bm-report.html --float bm.egru\n"
        "  edgegru report bm-int8.egru BasicMotions_TEST.ts --cpu cortex-m33\n"
        "  edgegru report sun-int8.egru --series sunspots_monthly.dat --cpu ''   # no Cortex-M figures",
    )
    p.add_argument("model", help="quantised model file")
    add_data_args(p, "evaluation")
    p.add_argument("--seed", type=seed_value, default=0, help="seed for --builtin data (default 0)")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument(
        "--float",
        metavar="FILE",
        help="the float model it was quantised from: adds float scores and the state error over time",
    )
    p.add_argument(
        "--cpu",
        default=REPORT_CPUS,
        help=f"Cortex-M cores to measure, comma-separated, '' for none (default {REPORT_CPUS})",
    )
    p.epilog = (
        "The report evaluates held-out data: the --test file when given, the last 20% of a\n"
        "--series, fresh --builtin samples; otherwise DATA itself.\n\n" + (p.epilog or "")
    )
    return p


def run(args: argparse.Namespace) -> int:
    from edgegru.core.atomic import check_output_path
    from edgegru.nn.evaluate import format_metric, metric_name
    from edgegru.report import write_report
    from edgegru.targets.cortex_m.cores import get_core

    cpus = [get_core(c.strip()).cpu for c in args.cpu.split(",") if c.strip()]
    check_output_path(Path(args.output))
    qm = require_quantised(args.model, "report")
    float_model = require_float(args.float, "report --float") if args.float else None
    names = qm.head.class_names if qm.head is not None and qm.head.kind == "classification" else None
    data, held_out = load_data(args, names, qm)
    evaluated = held_out if held_out is not None else data
    assert evaluated is not None  # the data arguments are required
    report = write_report(
        args.output,
        qm,
        evaluated,
        float_model,
        cpus,
        model_name=args.model,
        float_name=args.float or "float model",
    )
    metric = metric_name(evaluated)
    for name, value in report.scores.items():
        print(f"{name}: {metric} {format_metric(metric, value)}")
    if report.runs.verify is not None:
        print(report.runs.verify.summary())
    print(f"wrote {args.output}")
    return 0
