"""The learning rate along training: a short warm-up, then constant or a cosine decay.

Adam's first steps on a freshly initialised GRU are its least reliable (its moment
estimates are built from a handful of batches), so the rate ramps up over a few epochs.
A cosine decay then ends training at a small rate, where the weights settle instead of
rattling around a minimum, which matters most on the tiny training sets of the UCR archive.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "constant")


def lr_factor(schedule: str, epoch: int, total: int, warmup: int) -> float:
    """The multiple of the base rate for 0-based ``epoch`` of ``total``, after ``warmup`` epochs."""
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = (epoch - warmup) / (total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
