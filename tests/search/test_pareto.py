"""The front, the chosen trial and the "no trial met" line, on Optuna trials with known figures."""

from __future__ import annotations

import optuna

from edgegru.search.budgets import Budgets, Figures
from edgegru.search.pareto import choose, front_table, pareto_front, unmet_budgets
from edgegru.search.space import Candidate

BUDGETS = Budgets("cortex-m4", flash=8000, instructions=6000)
CANDIDATE = Candidate(8, 1, "reset_after", 16, 10, 0.01, 16, 1e-3, 2, 0)


def _trial(number: int, score: float, flash: int, instructions: float, val_loss: float = 0.5):  # type: ignore[no-untyped-def]
    """A finished trial as the driver records it: measured figures and their excess over BUDGETS."""
    attrs = {
        "candidate": CANDIDATE.as_dict(),
        "metric": "accuracy",
        "val_score": score,
        "val_loss": val_loss,
        "test_score": None,
        "flash": flash,
        "ram": 300,
        "instructions": instructions,
        "latency_us": None,
    }
    excess = BUDGETS.excess(Figures(flash, 300, instructions, None))
    return optuna.trial.FrozenTrial(
        number=number,
        state=optuna.trial.TrialState.COMPLETE,
        value=None,
        values=[score, flash, instructions],
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=attrs,
        system_attrs={f"constraints:{k}": v for k, v in excess.items()},
        intermediate_values={},
        trial_id=number,
    )


def test_front_holds_the_feasible_trials_nothing_beats() -> None:
    trials = [
        _trial(0, 0.90, 5000, 3000),
        _trial(1, 0.95, 7000, 5000),
        _trial(2, 0.85, 6000, 4000),  # dominated by trial 0
        _trial(3, 0.99, 9000, 5000),  # best score but over --flash
        _trial(4, 0.95, 7000, 5000, val_loss=0.2),
    ]
    assert [t.number for t in pareto_front(trials)] == [4, 1, 0]
    assert trials[3].constraints == {"flash": 1000.0, "instructions": -1000.0}
    chosen = choose(trials)
    assert chosen is not None and chosen.number == 4  # equal score: the lower validation loss
    table = front_table(pareto_front(trials), chosen)
    rows = [line.split(" |")[0] for line in table.splitlines()[2:]]
    assert rows == ["| 4 (chosen)", "| 1", "| 0"]


def test_no_feasible_trial_names_the_budget_and_the_smallest_figure() -> None:
    trials = [_trial(0, 0.9, 9500, 3000), _trial(1, 0.8, 8800, 4000)]
    assert choose(trials) is None
    message = unmet_budgets(trials, BUDGETS)
    assert message == "--flash 8000 bytes: the smallest measured was 8800 bytes (trial 1)"


def test_budgets_met_apart_but_never_together() -> None:
    trials = [_trial(0, 0.9, 9500, 3000), _trial(1, 0.8, 7000, 7000)]
    assert choose(trials) is None
    assert "no trial met all budgets at once" in unmet_budgets(trials, BUDGETS)
