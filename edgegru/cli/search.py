"""``edgegru search``: the best model that fits a Cortex-M budget, by Optuna over measured trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgegru.cli.common import add_data_args, command_parser, load_data, seed_value
from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import parse_bytes, parse_clock_mhz, parse_count, parse_duration_us
from edgegru.search.space import SearchSpace, parse_list, parse_range, parse_state_bits

DEFAULTS = SearchSpace()


def _range_text(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g}:{bounds[1]:g}"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = command_parser(
        sub,
        "search",
        "search for the most accurate model that fits a Cortex-M flash, RAM and time budget",
        "  edgegru search BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts --cpu cortex-m4 --flash 8K\n"
        "  edgegru search train.ts --cpu cortex-m0plus --flash 16K --ram 2K --latency 2ms --clock 48MHz\n"
        "  edgegru search train.ts --flash 16K --trials 40 --ray auto -o found/",
    )
    add_data_args(p, "training")
    p.add_argument(
        "-o",
        "--output",
        default="search-out",
        help="directory for the chosen model and the front (default search-out)",
    )
    budget = p.add_argument_group("budgets (measured on each trial's own C for --cpu)")
    budget.add_argument("--cpu", default="cortex-m4", help="Cortex-M core (default cortex-m4)")
    budget.add_argument(
        "--flash",
        type=parse_bytes,
        metavar="SIZE",
        help="flash for the model: code + constants, e.g. 16K (K = 1024 bytes)",
    )
    budget.add_argument(
        "--ram", type=parse_bytes, metavar="SIZE", help="RAM: state + worst-case step stack, e.g. 2K"
    )
    budget.add_argument(
        "--instructions", type=parse_count, metavar="N", help="instructions per step, e.g. 50k"
    )
    budget.add_argument(
        "--latency",
        type=parse_duration_us,
        metavar="TIME",
        help="time per step at --clock, e.g. 2ms: an ESTIMATE from the counted instructions",
    )
    budget.add_argument(
        "--clock", type=parse_clock_mhz, metavar="FREQ", help="core clock for --latency, e.g. 80MHz"
    )
    space = p.add_argument_group("search space")
    space.add_argument(
        "--hidden",
        type=parse_range,
        default=DEFAULTS.hidden,
        metavar="LO:HI",
        help=f"units per layer (default {_range_text(DEFAULTS.hidden)})",
    )
    space.add_argument(
        "--layers",
        type=parse_range,
        default=DEFAULTS.layers,
        metavar="LO:HI",
        help=f"stacked layers (default {_range_text(DEFAULTS.layers)})",
    )
    space.add_argument(
        "--variants",
        type=parse_list,
        default=DEFAULTS.variants,
        metavar="LIST",
        help="GRU variants to try (default reset_after,reset_before)",
    )
    space.add_argument(
        "--state-bits",
        type=parse_state_bits,
        default=DEFAULTS.state_bits,
        metavar="LIST",
        help="state widths to try (default 16,8)",
    )
    space.add_argument(
        "--epochs",
        type=parse_range,
        default=DEFAULTS.epochs,
        metavar="LO:HI",
        help=f"maximum epochs (default {_range_text(DEFAULTS.epochs)}; early stopping as train)",
    )
    space.add_argument(
        "--folds",
        type=int,
        default=DEFAULTS.folds,
        metavar="K",
        help=f"score each trial by K-fold cross-validation of the training data (default {DEFAULTS.folds})",
    )
    run_group = p.add_argument_group("running")
    run_group.add_argument(
        "--trials",
        type=int,
        default=20,
        help="trials the study should hold, earlier runs' included (default 20)",
    )
    run_group.add_argument("--timeout", type=float, metavar="SECONDS", help="start no trial after this long")
    run_group.add_argument(
        "--storage",
        default="search.db",
        help="the study's SQLite file; the same command continues it (default search.db)",
    )
    run_group.add_argument(
        "--seed", type=seed_value, default=0, help="seed of the search and of training (default 0)"
    )
    run_group.add_argument(
        "--ray",
        metavar="auto|HOST:PORT",
        help="run trials as tasks on a Ray cluster (auto: the one started on this machine)",
    )
    run_group.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    return p


def _data_args(args: argparse.Namespace) -> list[str]:
    """The data arguments as given, for the commands that rebuild the chosen model alone."""
    if args.builtin:
        return ["--builtin", args.builtin, "--samples", str(args.samples)]
    if args.series:
        return ["--series", args.series, "--window", str(args.window)]
    return [args.data]


def run(args: argparse.Namespace) -> int:
    from edgegru.core.atomic import check_output_directory
    from edgegru.nn.evaluate import format_metric
    from edgegru.search.budgets import Budgets
    from edgegru.search.driver import Limits, LocalRunner, Runner, finished_trials, run_search, summary
    from edgegru.search.pareto import choose, unmet_budgets
    from edgegru.search.preflight import check_budgets_reachable, check_searchable
    from edgegru.search.result import OUTPUT_NAMES, write_result
    from edgegru.search.storage import open_study, study_identity
    from edgegru.search.trial import Measurement, measure_candidate
    from edgegru.targets.cortex_m.icount import require_countable

    if args.trials < 1:
        raise EdgeGruError(f"--trials {args.trials}: expected >= 1")
    if args.timeout is not None and not args.timeout > 0:
        raise EdgeGruError(f"--timeout {args.timeout:g}: expected a number of seconds > 0")
    core = require_countable(args.cpu)
    budgets = Budgets(
        core.cpu, args.flash, args.ram, args.instructions, args.latency, args.clock, core.issue_width
    )
    budgets.check()
    space = SearchSpace(
        hidden=args.hidden,
        layers=args.layers,
        variants=args.variants,
        state_bits=args.state_bits,
        epochs=args.epochs,
        folds=args.folds,
    )
    space.check()
    out_dir = Path(args.output)
    check_output_directory(out_dir, OUTPUT_NAMES)  # before the search, not after it
    if args.test and not args.data:
        raise EdgeGruError(
            "--test FILE goes with a data file; --builtin and --series make their own test split"
        )
    train_ds, test_ds = load_data(args)
    check_searchable(train_ds, space)
    smallest = check_budgets_reachable(train_ds, space, budgets)
    if not args.quiet:
        print(
            f"smallest model of the space on {core.cpu}: {smallest.flash} B flash, {smallest.ram} B RAM, "
            f"{smallest.instructions:.0f} instructions/step"
        )
    if args.ray:  # connected before the study file is touched: an unreachable cluster writes nothing
        from edgegru.search.ray_runner import RayRunner

        runner: Runner = RayRunner(args.ray, train_ds, test_ds, budgets)
    else:
        runner = LocalRunner(lambda candidate: measure_candidate(train_ds, test_ds, candidate, budgets))
    identity = study_identity(train_ds, test_ds, budgets.as_dict(), space.as_dict())
    try:
        study = open_study(Path(args.storage), identity, args.seed, space.recipe_params(train_ds.task))
    except BaseException:
        runner.close()
        raise
    ran = run_search(
        study, space, budgets, args.seed, runner, Limits(args.trials, args.timeout), not args.quiet
    )
    trials = finished_trials(study)
    chosen = choose(trials)
    print(
        f"{args.storage}: {len(trials)} finished trials ({ran} in this run): "
        f"{sum(1 for t in trials if t.state.name == 'PRUNED')} not trained (their shape is over a budget), "
        f"{sum(1 for t in trials if t.state.name == 'FAIL')} failed"
    )
    if chosen is None:
        raise EdgeGruError(f"no trial met the budgets: {unmet_budgets(trials, budgets)}")
    result = write_result(out_dir, chosen, trials, train_ds, test_ds, budgets, _data_args(args))
    print(result.table)
    m: Measurement = result.measurement
    test = "" if m.test_score is None else f", test {m.metric} {format_metric(m.metric, m.test_score)} (int8)"
    print(f"chosen: trial {chosen.number}, {result.rebuilt.qmodel.describe()}: {summary(m)}{test}")
    fp = result.export_footprint
    print(
        f"export {out_dir / 'model_c'} measured again: flash {fp['flash_bytes']} B, RAM {fp['ram_bytes']} B "
        f"on {core.cpu} {fp['opt']}"
    )
    for note in result.notes:
        print(f"note: {note}")
    print("rebuild it alone:")
    for command in result.commands:
        print(f"  {command}")
    print(
        f"wrote {out_dir}: model.egru, model-int8.egru, model_c/, pareto.md, trials.csv"
        + (", pareto.png, report.html" if result.plot else "")
    )
    return 0
