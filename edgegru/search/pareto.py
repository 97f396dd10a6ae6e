"""The search's result: the Pareto front of its feasible trials, the chosen trial, a table and a plot.

The front is over the three objectives (cross-validated score, flash, instructions per step)
among the trials that met every budget. The chosen trial is the feasible one with the best
cross-validated score; ties go to the lower pooled validation loss of its fold models, then
to less flash and fewer instructions. The test score is shown beside it, never used to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegru.search.budgets import Budgets
from edgegru.search.space import Candidate

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def _measured(trial: FrozenTrial) -> bool:
    from edgegru.search.driver import feasible

    return feasible(trial) and "val_score" in trial.user_attrs


def _objectives(trial: FrozenTrial) -> tuple[float, float, float]:
    """The three objectives, each lower-is-better: the score (accuracy negated), flash, instructions."""
    m = trial.user_attrs
    score = -m["val_score"] if m["metric"] == "accuracy" else m["val_score"]
    return (score, m["flash"], m["instructions"])


def _better_first(trial: FrozenTrial) -> tuple[float, float, float, float, int]:
    score, flash, instructions = _objectives(trial)
    return (score, trial.user_attrs["val_loss"], flash, instructions, trial.number)


def choose(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The chosen trial among ``trials`` (see the module docstring); None if none is feasible."""
    candidates = [t for t in trials if _measured(t)]
    return min(candidates, key=_better_first) if candidates else None


def _dominates(a: FrozenTrial, b: FrozenTrial) -> bool:
    """a is at least as good as b in every objective and better in one."""
    sa, sb = _objectives(a), _objectives(b)
    return all(x <= y for x, y in zip(sa, sb, strict=True)) and sa != sb


def pareto_front(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The feasible trials no other feasible trial dominates, best score first."""
    fits = [t for t in trials if _measured(t)]
    front = [t for t in fits if not any(_dominates(o, t) for o in fits)]
    return sorted(front, key=_better_first)


def front_table(front: Sequence[FrozenTrial], chosen: FrozenTrial | None) -> str:
    """A Markdown table of the front and the chosen trial, marked. The chosen trial may lie off
    the front: a trial with its score but less flash beats it there, and lost on validation loss.
    The scores shown are cross-validated (pooled over the folds), the figures the deployed model's."""
    from edgegru.nn.evaluate import format_metric

    lines = [
        "| trial | model | CV score | test score | flash B | RAM B | instructions/step "
        "| latency (estimate) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    shown = list(front)
    if chosen is not None and all(t.number != chosen.number for t in front):
        shown.insert(0, chosen)
    for t in shown:
        m = t.user_attrs
        candidate = Candidate.from_dict(m["candidate"])
        test = "-" if m["test_score"] is None else format_metric(m["metric"], m["test_score"])
        latency = "-" if m["latency_us"] is None else f"{m['latency_us']:.1f} us"
        mark = ""
        if chosen is not None and t.number == chosen.number:
            on_front = any(f.number == t.number for f in front)
            mark = " (chosen)" if on_front else " (chosen, off the front)"
        val = format_metric(m["metric"], m["val_score"])
        lines.append(
            f"| {t.number}{mark} | {candidate.describe()} | {val} | {test} "
            f"| {m['flash']} | {m['ram']} | {m['instructions']:.0f} | {latency} |"
        )
    return "\n".join(lines)


def unmet_budgets(trials: Sequence[FrozenTrial], budgets: Budgets) -> str:
    """Why no trial is feasible: each budget no trial met, with the smallest figure measured."""
    measured = [t for t in trials if "flash" in t.user_attrs]
    if not measured:
        return "no trial finished: see the failed trials' errors above"
    reasons = []
    for name, key in (
        ("flash", "flash"),
        ("ram", "ram"),
        ("instructions", "instructions"),
        ("latency", "latency_us"),
    ):
        counted = [t for t in measured if t.user_attrs.get(key) is not None]
        if getattr(budgets, key) is None or not counted:
            continue
        smallest = min(counted, key=lambda t: t.user_attrs[key])
        if smallest.constraints.get(name, 0.0) > 0:
            shown = budgets.figure(name, smallest.user_attrs[key])
            reasons.append(
                f"{budgets.describe(name)}: the smallest measured was {shown} (trial {smallest.number})"
            )
    if not reasons:
        return "no trial met all budgets at once, though each was met by some trial"
    return "; ".join(reasons)


def plot_front(
    trials: Sequence[FrozenTrial], chosen: FrozenTrial | None, budgets: Budgets, path: Path
) -> None:
    """Score against flash and against instructions: every measured trial, the front joined,
    the chosen one ringed, the budgets drawn as lines. Needs matplotlib (extra ``report``),
    used through a Figure of its own, as the report's plots are: no pyplot, so no global
    figure state and no backend to choose in a library."""
    from matplotlib.figure import Figure

    measured = [t for t in trials if "val_score" in t.user_attrs]
    front = pareto_front(trials)
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, label, limit in (
        (axes[0], "flash", "flash (bytes, arm-none-eabi-gcc -Os)", budgets.flash),
        (axes[1], "instructions", "instructions per step (unicorn)", budgets.instructions),
    ):
        for group, style in (
            (False, {"marker": "x", "color": "tab:red", "label": "over a budget"}),
            (True, {"marker": "o", "color": "tab:blue", "label": "fits"}),
        ):
            points = [t for t in measured if _measured(t) == group]
            ax.scatter(
                [t.user_attrs[key] for t in points], [t.user_attrs["val_score"] for t in points], **style
            )
        ordered = sorted(front, key=lambda t: t.user_attrs[key])
        ax.step(
            [t.user_attrs[key] for t in ordered],
            [t.user_attrs["val_score"] for t in ordered],
            where="post",
            color="tab:blue",
            alpha=0.5,
            label="Pareto front",
        )
        if chosen is not None:
            ax.scatter(
                [chosen.user_attrs[key]],
                [chosen.user_attrs["val_score"]],
                s=160,
                facecolors="none",
                edgecolors="black",
                label=f"chosen (trial {chosen.number})",
            )
        if limit is not None:
            ax.axvline(limit, color="gray", linestyle="--", label="budget")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    metric = measured[0].user_attrs["metric"] if measured else "score"
    axes[0].set_ylabel(f"cross-validated {metric} (int8)")
    axes[1].legend(fontsize="small")
    fig.suptitle(f"edgegru search on {budgets.cpu}: {len(measured)} measured trials")
    fig.savefig(path, dpi=100)


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's candidate and measurement as one flat record (the trials CSV): one column per
    fold's score (``val_score_fold1``...), so that a spreadsheet reads them as numbers."""
    row: dict[str, Any] = {"trial": trial.number, "status": trial.state.name}
    row.update(trial.user_attrs.get("candidate", {}))
    row.update({k: v for k, v in trial.user_attrs.items() if k not in ("candidate", "fold_scores")})
    row.update({f"val_score_fold{i}": v for i, v in enumerate(trial.user_attrs.get("fold_scores", []), 1)})
    row.update({f"over_{k}": v for k, v in trial.constraints.items()})
    return row
