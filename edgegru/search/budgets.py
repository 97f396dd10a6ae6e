"""The budgets a searched model must fit, read from flags such as ``16K``, ``2ms`` and ``80MHz``.

A budget is checked on the trial's own measured figures only (:class:`Figures`): flash and
RAM from its compiled C, instructions per step from the unicorn counter. A latency budget
is the one estimate: the measured instructions turned into time at the given clock with
the core's documented instructions per cycle (its issue width, see
:mod:`edgegru.targets.cortex_m.cores`): a lower bound, as ``edgegru bench --target cortex-m``
reports it, so a model within the latency budget may still miss it on hardware with flash
wait states.

Only the standard library is imported: the parser uses these functions as argparse types.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict, dataclass

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(k|m)?", re.IGNORECASE)
_TIME = re.compile(r"(\d+(?:\.\d+)?)\s*(us|µs|ms|s)", re.IGNORECASE)
_TIME_US = {"us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}
_CLOCK = re.compile(r"(\d+(?:\.\d+)?)\s*(hz|khz|mhz|ghz)?", re.IGNORECASE)
_CLOCK_MHZ = {"hz": 1e-6, "khz": 1e-3, "mhz": 1.0, "ghz": 1e3, "": 1.0}


def _positive(value: float, text: str, expected: str) -> float:
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected} greater than zero")
    return value


def parse_bytes(text: str) -> int:
    """``"16K"`` -> 16384: bytes, with K/KB/KiB = 1024 and M/MB/MiB = 1024², as part sheets count."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 16384, 16K or 1M")
    value = float(match[1]) * _SIZE_UNITS[(match[2] or "").lower()]
    return int(_positive(round(value), text, "a size"))


def parse_count(text: str) -> int:
    """``"50000"``, ``"50k"`` or ``"1.5M"``: a count, with k = 1000 and M = 1000000."""
    match = _COUNT.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count such as 50000 or 50k")
    value = float(match[1]) * {"": 1, "k": 1e3, "m": 1e6}[(match[2] or "").lower()]
    return int(_positive(round(value), text, "a count"))


def parse_duration_us(text: str) -> float:
    """``"2ms"`` -> 2000.0: a time in µs; the unit (us, ms, s) is required."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a time with its unit, such as 2ms or 500us")
    return _positive(float(match[1]) * _TIME_US[match[2].lower()], text, "a time")


def parse_clock_mhz(text: str) -> float:
    """``"80MHz"`` -> 80.0: a clock in MHz; a bare number is MHz, as ``bench --clock`` reads it."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a clock such as 80MHz or 80")
    return _positive(float(match[1]) * _CLOCK_MHZ[(match[2] or "").lower()], text, "a clock")


@dataclass(frozen=True)
class Figures:
    """What one trial's model measured on the core."""

    flash: int  # bytes: code + constants of its C, arm-none-eabi-gcc -Os
    ram: int  # bytes: its state + the worst-case stack of one step
    instructions: float | None  # per step, counted under unicorn (-O2); None if not counted
    latency_us: float | None  # the ESTIMATE at the budget's clock; None without --latency


@dataclass(frozen=True)
class Budgets:
    """The limits a model must fit on one core; None where no limit is set."""

    cpu: str
    flash: int | None = None
    ram: int | None = None
    instructions: int | None = None
    latency_us: float | None = None
    clock_mhz: float | None = None
    issue_width: int | None = None  # the core's most instructions per cycle, for the latency estimate

    def check(self) -> None:
        """Refuse a latency without a clock (and the reverse), or a core with no issue width."""
        from edgegru.core.errors import EdgeGruError

        if (self.latency_us is None) != (self.clock_mhz is None):
            raise EdgeGruError(
                "--latency and --clock go together: the time is turned into cycles at the clock"
            )
        if self.latency_us is not None and self.issue_width is None:
            raise EdgeGruError(f"--latency: no instructions-per-cycle figure is documented for {self.cpu}")

    def latency_estimate_us(self, instructions: float) -> float | None:
        """µs per step at the clock, at most issue-width instructions per cycle: a lower bound."""
        if self.clock_mhz is None or self.issue_width is None:
            return None
        return instructions / self.issue_width / self.clock_mhz

    def excess(self, figures: Figures) -> dict[str, float]:
        """How far each measured figure is over its budget (<= 0: within), one entry per budget set.

        These are the trial's Optuna constraints: a trial is feasible when every value is <= 0.
        """
        pairs = {
            "flash": (figures.flash, self.flash),
            "ram": (figures.ram, self.ram),
            "instructions": (figures.instructions, self.instructions),
            "latency": (figures.latency_us, self.latency_us),
        }
        return {
            name: float(measured - limit)
            for name, (measured, limit) in pairs.items()
            if limit is not None and measured is not None
        }

    def describe(self, name: str) -> str:
        """A budget as its flag reads, e.g. ``--flash 8192 bytes``."""
        if name == "latency":
            return f"--latency {self.latency_us:g} us at --clock {self.clock_mhz:g} MHz (estimate)"
        unit = "" if name == "instructions" else " bytes"
        return f"--{name} {getattr(self, name)}{unit}"

    @staticmethod
    def figure(name: str, value: float) -> str:
        """A measured figure with its unit, e.g. ``9210 bytes`` or ``2310.5 us (estimate)``."""
        if name == "latency":
            return f"{value:.1f} us (estimate)"
        return f"{value:.0f}" + ("" if name == "instructions" else " bytes")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
