"""The search's outputs: the chosen model rebuilt, its files, the front and how to rebuild it alone.

The chosen trial's deployed model (its candidate trained on all the training data) is
trained again from its recorded candidate; its folds are not (they gave the trial's score,
which is recorded). Training is seeded and single-threaded, so this gives the very model the
trial measured: its int8 fingerprint is compared with the trial's. Its C export for the
core is measured again from the exported files and checked against the budgets. Everything
lands in one directory, all or nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegru.core.atomic import atomic_directory, check_output_directory
from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import Budgets, Figures
from edgegru.search.pareto import front_table, pareto_front, plot_front, trial_row
from edgegru.search.space import Candidate
from edgegru.search.trial import Measurement, TrialModels, deploy

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from edgegru.data import Dataset

FLOAT_NAME = "model.egru"
INT8_NAME = "model-int8.egru"
C_NAME = "model_c"
TABLE_NAME = "pareto.md"
PLOT_NAME = "pareto.png"
TRIALS_NAME = "trials.csv"
REPORT_NAME = "report.html"
OUTPUT_NAMES = {FLOAT_NAME, INT8_NAME, C_NAME, TABLE_NAME, PLOT_NAME, TRIALS_NAME, REPORT_NAME}


@dataclass
class SearchResult:
    """What was written, and what the caller should tell the user."""

    directory: Path
    chosen: FrozenTrial
    rebuilt: TrialModels
    measurement: Measurement  # the trial's cross-validated scores, the rebuilt model's figures
    commands: list[str]
    table: str
    export_footprint: dict[str, Any]
    plot: bool
    notes: list[str] = field(default_factory=list)


def _trials_csv(trials: list[FrozenTrial]) -> str:
    rows = [trial_row(t) for t in trials]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_result(
    out_dir: Path,
    chosen: FrozenTrial,
    trials: list[FrozenTrial],
    train_ds: Dataset,
    test_ds: Dataset | None,
    budgets: Budgets,
    data_args: list[str],
) -> SearchResult:
    """Rebuild ``chosen``, and write its models, its C export, the front and the trials to ``out_dir``."""
    from edgegru.codegen.export import export_c, layout_for
    from edgegru.codegen.render import Rendered
    from edgegru.targets.cortex_m.footprint import measure_sources

    check_output_directory(out_dir, OUTPUT_NAMES)
    candidate = Candidate.from_dict(chosen.user_attrs["candidate"])
    rebuilt = deploy(train_ds, test_ds, candidate, budgets)
    measurement = replace(Measurement.from_attrs(chosen.user_attrs), **asdict(rebuilt.deployed))
    notes = []
    if rebuilt.deployed.model_hash != chosen.user_attrs["model_hash"]:
        notes.append(
            f"the rebuilt model differs from trial {chosen.number}'s (another machine or torch version "
            "trained it?); the figures below are the rebuilt model's own"
        )
    commands = candidate.commands(data_args, train_ds.task, FLOAT_NAME, INT8_NAME)
    front = pareto_front(trials)
    table = front_table(front, chosen)
    export_footprint: dict[str, Any] = {}
    plot = _can_plot()

    def measure(directory: Path, rendered: Rendered) -> dict[str, Any]:
        fp = measure_sources(directory, rendered, budgets.cpu)
        exported = Figures(fp.flash, fp.ram, None, None)
        over = [
            name
            for figures in (rebuilt.deployed.figures, exported)
            for name, value in budgets.excess(figures).items()
            if value > 0
        ]
        if over:
            name = over[0]
            raise EdgeGruError(f"the rebuilt model of trial {chosen.number} is over {budgets.describe(name)}")
        export_footprint.update(fp.as_dict())
        return fp.as_dict()

    def fill(tmp: Path) -> None:
        rebuilt.model.save(tmp / FLOAT_NAME)
        rebuilt.qmodel.save(tmp / INT8_NAME)
        report = {"target": "cortex-m", "cpu": budgets.cpu, "search_trial": chosen.number}
        export_c(rebuilt.qmodel, tmp / C_NAME, "model", layout_for("cortex-m"), report, measure)
        text = f"{table}\n\nrebuild trial {chosen.number} alone:\n\n" + "\n".join(
            f"    {c}" for c in commands
        )
        (tmp / TABLE_NAME).write_text(text + "\n")
        (tmp / TRIALS_NAME).write_text(_trials_csv(trials))
        if plot:
            plot_front(trials, chosen, budgets, tmp / PLOT_NAME)
            _write_report(tmp, rebuilt, test_ds or train_ds, budgets.cpu, text)

    atomic_directory(out_dir, fill)
    if not plot:
        notes.append(
            f"{PLOT_NAME} and {REPORT_NAME} not written: matplotlib is not installed "
            "(pip install 'edgegru[report]')"
        )
    return SearchResult(out_dir, chosen, rebuilt, measurement, commands, table, export_footprint, plot, notes)


def _write_report(tmp: Path, rebuilt: TrialModels, data: Dataset, cpu: str, front_text: str) -> None:
    """The chosen model's evaluation page (edgegru report) on the test data (the training data
    without a test file), on the search's core, with the front, its plot and the rebuild
    commands as a last section."""
    from edgegru.report import Appendix, write_report

    plot = (tmp / PLOT_NAME).read_bytes()
    front = Appendix("Search: the Pareto front", tuple(front_text.splitlines()), plot)
    write_report(
        tmp / REPORT_NAME,
        rebuilt.qmodel,
        data,
        rebuilt.model,
        [cpu],
        model_name=INT8_NAME,
        float_name=FLOAT_NAME,
        appendices=[front],
    )


def _can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True
