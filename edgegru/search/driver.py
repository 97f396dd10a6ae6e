"""The search loop: Optuna asks for a candidate, a runner measures it, Optuna is told.

Optuna's ask-and-tell interface drives any runner: :class:`LocalRunner` measures one
candidate at a time in this process, :class:`~edgegru.search.ray_runner.RayRunner` keeps one
Ray task per CPU of a cluster busy. Either way every trial, feasible or not, is told to the
one study with its measured figures (user attributes) and how far each is over its budget
(constraints); a trial whose pipeline failed is recorded as failed with the reason.

``trials`` is the size the study should reach, counting finished trials of earlier runs
and of other processes: re-running an interrupted command finishes the same search, and a
finished one is not run again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import optuna
from optuna.trial import TrialState

from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import Budgets
from edgegru.search.space import Candidate, SearchSpace
from edgegru.search.trial import Measurement, OverBudget

Outcome = Measurement | OverBudget | str  # a measurement, a shape over budget, or why it failed


class Runner(Protocol):
    """Where candidates are measured: up to ``slots`` at a time."""

    slots: int

    def submit(self, number: int, candidate: Candidate) -> None: ...

    def wait(self) -> list[tuple[int, Outcome]]:
        """Block until at least one submitted trial is done; its number and outcome."""
        ...

    def close(self) -> None: ...


class LocalRunner:
    """Measures each candidate in this process, when :meth:`wait` is called."""

    slots = 1

    def __init__(self, measure: Callable[[Candidate], Measurement | OverBudget]) -> None:
        self._measure = measure
        self._pending: list[tuple[int, Candidate]] = []

    def submit(self, number: int, candidate: Candidate) -> None:
        self._pending.append((number, candidate))

    def wait(self) -> list[tuple[int, Outcome]]:
        number, candidate = self._pending.pop(0)
        try:
            return [(number, self._measure(candidate))]
        except EdgeGruError as exc:
            return [(number, str(exc))]

    def close(self) -> None:
        self._pending.clear()


@dataclass(frozen=True)
class Limits:
    """When a run stops asking for trials."""

    trials: int  # the study's size to reach, in finished trials
    timeout_s: float | None = None  # no new trial after this many seconds of this run


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """A complete trial whose every measured figure is within its budget."""
    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.constraints.values())


def run_search(
    study: optuna.Study,
    space: SearchSpace,
    budgets: Budgets,
    seed: int,
    runner: Runner,
    limits: Limits,
    progress: bool = True,
) -> int:
    """Add trials to ``study`` until it holds ``limits.trials`` finished ones or time is up;
    the number of trials this run finished."""
    from tqdm import tqdm

    start = time.monotonic()
    done_before = len(finished_trials(study))
    interactive = progress and sys.stderr.isatty()
    bar = tqdm(
        total=limits.trials,
        initial=min(done_before, limits.trials),
        desc="search",
        unit="trial",
        disable=not interactive,
    )
    running: dict[int, optuna.trial.Trial] = {}
    finished = 0
    try:
        while True:
            timed_out = limits.timeout_s is not None and time.monotonic() - start >= limits.timeout_s
            while not timed_out and len(running) < runner.slots:
                if len(finished_trials(study)) + len(running) >= limits.trials:
                    break
                trial = study.ask()
                candidate = space.suggest(trial, seed)
                trial.set_user_attr("candidate", candidate.as_dict())
                runner.submit(trial.number, candidate)
                running[trial.number] = trial
            if not running:
                break
            for number, outcome in runner.wait():
                trial = running.pop(number)
                line = _tell(study, trial, outcome, budgets)
                finished += 1
                bar.update(1)
                bar.set_postfix_str(best_feasible_text(study), refresh=True)
                if progress:
                    elapsed = time.monotonic() - start
                    message = f"search: trial {number}: {line} [{elapsed:.0f} s]"
                    if interactive:
                        bar.write(message, file=sys.stderr)
                    else:
                        print(message, file=sys.stderr, flush=True)
    except BaseException:
        for trial in running.values():  # an interrupted run leaves no trial marked running
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
        raise
    finally:
        runner.close()
        bar.close()
    return finished


def _tell(study: optuna.Study, trial: optuna.trial.Trial, outcome: Outcome, budgets: Budgets) -> str:
    """Record one trial's outcome in the study; a one-line summary of it."""
    candidate = Candidate.from_dict(trial.user_attrs["candidate"])
    if isinstance(outcome, str):
        trial.set_user_attr("error", outcome)
        study.tell(trial, state=TrialState.FAIL)
        return f"{candidate.describe()}: failed: {outcome}"
    for key, value in outcome.as_dict().items():
        trial.set_user_attr(key, value)
    excess = budgets.excess(outcome.figures)
    for name, value in excess.items():
        trial.set_constraint(name, value)
    over = [f"over {budgets.describe(name)} by {value:g}" for name, value in excess.items() if value > 0]
    verdict = "; ".join(over) if over else "fits"
    if isinstance(outcome, OverBudget):  # recorded as pruned: Optuna learns the shape does not fit
        study.tell(trial, state=TrialState.PRUNED)
        measured = f"flash {outcome.flash} B, RAM {outcome.ram} B"
        return f"{candidate.describe()}: not trained, its C measures {measured}: {verdict}"
    study.tell(trial, [outcome.val_score, outcome.flash, outcome.instructions])
    return f"{candidate.describe()}: {summary(outcome)}: {verdict}"


def summary(m: Measurement) -> str:
    """The figures of one measurement, as the progress lines and tables show them."""
    from edgegru.nn.evaluate import format_metric

    latency = f", ~{m.latency_us:.0f} us (estimate)" if m.latency_us is not None else ""
    return (
        f"{len(m.fold_scores)}-fold {m.metric} {format_metric(m.metric, m.val_score)}, flash {m.flash} B, "
        f"RAM {m.ram} B, {m.instructions:.0f} instructions/step{latency}"
    )


def best_feasible_text(study: optuna.Study) -> str:
    """The progress bar's note: the best feasible trial so far, by its cross-validated score."""
    from edgegru.nn.evaluate import format_metric
    from edgegru.search.pareto import choose

    best = choose(finished_trials(study))
    if best is None:
        return "no feasible trial yet"
    m = best.user_attrs
    return f"best feasible: #{best.number} {format_metric(m['metric'], m['val_score'])}, {m['flash']} B flash"
