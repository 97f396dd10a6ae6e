"""The bench's timing method: contenders interleaved in rounds, timed in thread CPU time.

A shared machine slows whatever runs while something else does; timing the contenders one
after another lets that land on one of them. Here each contender first finds its run
length (steps doubling until a run lasts ``min_time`` of thread CPU time; these runs double
as warm-up), then round r runs every contender once, in an order rotated by r, so no
contender always follows the same one. Each run reports the CPU time of the thread that
stepped (what other processes do not add to) and the wall time beside it. The ratio of a
contender to the reference is taken within each round, then its median over the rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# A contender's run: steps -> (thread CPU ns, wall ns) for that many steps, state carried.
RunSteps = Callable[[int], tuple[int, int]]

FIRST_STEPS = 64
MAX_STEPS = 1 << 30


@dataclass(frozen=True)
class Contender:
    """One way of stepping the model, named as its column is."""

    name: str
    run: RunSteps


@dataclass(frozen=True)
class Timing:
    """One contender's ns per step in every round (thread CPU and wall time)."""

    name: str
    steps: int  # steps per run
    cpu_ns: tuple[float, ...]
    wall_ns: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.cpu_ns)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall_ns)

    @property
    def spread(self) -> tuple[float, float]:
        """The fastest and slowest round (thread CPU time)."""
        return min(self.cpu_ns), max(self.cpu_ns)

    def ratio_to(self, reference: Timing) -> float:
        """Median over rounds of this contender's time over the reference's in that round."""
        return float(np.median(np.divide(self.cpu_ns, reference.cpu_ns)))


def run_length(run: RunSteps, min_ns: float) -> int:
    """Steps per run: doubled from FIRST_STEPS until one run lasts ``min_ns`` of CPU time."""
    steps = FIRST_STEPS
    while run(steps)[0] < min_ns and steps < MAX_STEPS:
        steps *= 2
    return steps


def interleave(contenders: Sequence[Contender], rounds: int, min_time: float) -> list[Timing]:
    """Time every contender over ``rounds`` (>= 1) rounds in rotating order, each run lasting
    at least ``min_time`` (> 0) seconds of CPU time (see the module doc)."""
    steps = [run_length(c.run, min_time * 1e9) for c in contenders]
    cpu: list[list[float]] = [[] for _ in contenders]
    wall: list[list[float]] = [[] for _ in contenders]
    for r in range(rounds):
        for k in range(len(contenders)):
            i = (k + r) % len(contenders)
            cpu_ns, wall_ns = contenders[i].run(steps[i])
            cpu[i].append(cpu_ns / steps[i])
            wall[i].append(wall_ns / steps[i])
    return [
        Timing(c.name, n, tuple(t), tuple(w)) for c, n, t, w in zip(contenders, steps, cpu, wall, strict=True)
    ]
