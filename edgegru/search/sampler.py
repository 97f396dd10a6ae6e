"""Optuna's TPE sampler, seeded by the trial's number so that a search is reproducible.

A sampler seeded once per process repeats itself when a study is continued (the restarted
random generator draws the first trials' parameters again) and two processes adding to one
study file draw the same parameters. The trial number is unique in the study across
processes, so each trial gets a TPE sampler seeded with (seed, number): the same command on
a new file draws the same trials, a continued study draws new ones, and two processes draw
different ones. TPE's choices after its random start depend on the finished trials too,
which are the same in an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial, TrialState

STARTUP_TRIALS = 8  # random trials before TPE models the results: a quarter to a half of a small search


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Multi-objective TPE (constraint-aware, constant liar for parallel trials) whose random
    generator is seeded from the study seed and the trial number."""

    def __init__(self, seed: int, startup_trials: int = STARTUP_TRIALS) -> None:
        self._seed = seed
        self._startup_trials = startup_trials
        self._current = self._tpe(0)

    def _tpe(self, number: int) -> optuna.samplers.TPESampler:
        seed = int(np.random.SeedSequence([self._seed, number]).generate_state(1)[0])
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=self._startup_trials, multivariate=True, constant_liar=True
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._current = self._tpe(trial.number)
        self._current.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._current.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._current.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial's generator is seeded afresh in :meth:`before_trial`."""
