"""Checks before the first trial: the core can be counted and the budgets can be met at all.

The smallest model the space holds (one layer of its fewest units) is measured on the core
in each variant and state width, with random weights (:func:`~edgegru.search.trial.shape_model`):
its flash and RAM depend on its shape, not on what training puts in the weights, and so, but
for a few data-dependent branches, do its instructions per step. A budget that even
this model misses is refused at once, with the figure measured, rather than after a search
of trials that cannot fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import Budgets, Figures
from edgegru.search.folds import check_folds
from edgegru.search.space import SearchSpace
from edgegru.search.trial import shape_model

if TYPE_CHECKING:
    from edgegru.data import Dataset


def check_searchable(train_ds: Dataset, space: SearchSpace) -> None:
    """Refuse ``--folds`` the training data cannot fill, before any trial (or the study file)."""
    check_folds(train_ds, space.folds)


def smallest_figures(train_ds: Dataset, space: SearchSpace, budgets: Budgets) -> Figures:
    """The least flash, RAM and instructions any model of the space can measure on the core."""
    from edgegru.targets.cortex_m.footprint import measure_footprint
    from edgegru.targets.cortex_m.icount import require_countable
    from edgegru.targets.cortex_m.instructions import count_step_instructions

    require_countable(budgets.cpu)
    measured: list[Figures] = []
    for variant in space.variants:
        for bits in space.state_bits:
            qm = shape_model(train_ds, [space.hidden[0]], variant, bits)
            fp = measure_footprint(qm, budgets.cpu)
            count = count_step_instructions(qm, budgets.cpu).per_step
            measured.append(Figures(fp.flash, fp.ram, count, budgets.latency_estimate_us(count)))
    latencies = [f.latency_us for f in measured if f.latency_us is not None]
    return Figures(
        min(f.flash for f in measured),
        min(f.ram for f in measured),
        min(f.instructions for f in measured if f.instructions is not None),
        min(latencies) if latencies else None,
    )


def check_budgets_reachable(train_ds: Dataset, space: SearchSpace, budgets: Budgets) -> Figures:
    """The smallest model's figures; EdgeGruError naming the first budget it misses."""
    smallest = smallest_figures(train_ds, space, budgets)
    for name, over in budgets.excess(smallest).items():
        if over > 0:
            value = smallest.latency_us if name == "latency" else getattr(smallest, name)
            raise EdgeGruError(
                f"{budgets.describe(name)}: no model of the search space can meet it: the smallest (1 layer "
                f"of {space.hidden[0]} units) measures {budgets.figure(name, value)} on {budgets.cpu}"
            )
    return smallest
