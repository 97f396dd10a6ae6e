"""The learning-rate schedule: a rising warm-up, then constant or a cosine decay to near zero."""

from __future__ import annotations

from itertools import pairwise

import pytest

from edgegru.nn.schedule import SCHEDULES, lr_factor


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_warm_up_rises_to_the_full_rate(schedule):
    rates = [lr_factor(schedule, e, 100, 5) for e in range(6)]
    assert all(0 < a < b for a, b in pairwise(rates[:5]))
    assert rates[4] < 1.0 and rates[5] == 1.0


def test_cosine_decays_to_near_zero_and_constant_stays():
    cosine = [lr_factor("cosine", e, 100, 5) for e in range(5, 100)]
    assert all(b < a for a, b in pairwise(cosine))
    assert cosine[-1] < 0.01
    assert {lr_factor("constant", e, 100, 5) for e in range(5, 100)} == {1.0}


def test_no_warm_up_starts_at_the_full_rate():
    assert lr_factor("cosine", 0, 10, 0) == 1.0
    assert lr_factor("cosine", 0, 3, 5) < 1.0  # warm-up longer than training: still a ramp
