"""Budget flags (16K, 2ms, 80MHz), the excess that becomes a trial's constraint, the latency estimate."""

from __future__ import annotations

import argparse

import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import (
    Budgets,
    Figures,
    parse_bytes,
    parse_clock_mhz,
    parse_count,
    parse_duration_us,
)
from edgegru.search.space import parse_range, parse_state_bits
from edgegru.targets.cortex_m.cores import get_core


@pytest.mark.parametrize(
    ("text", "expected"),
    [("16384", 16384), ("16K", 16384), ("16 KB", 16384), ("2KiB", 2048), ("1.5k", 1536), ("1M", 1048576)],
)
def test_sizes_count_kilobytes_as_1024(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_duration_us, "2ms", 2000.0),
        (parse_duration_us, "500us", 500.0),
        (parse_duration_us, "0.5 s", 500000.0),
        (parse_clock_mhz, "80MHz", 80.0),
        (parse_clock_mhz, "80", 80.0),
        (parse_clock_mhz, "1.2GHz", 1200.0),
        (parse_clock_mhz, "32768Hz", 0.032768),
        (parse_count, "50k", 50000),
        (parse_count, "1.5M", 1500000),
    ],
)
def test_times_clocks_and_counts(parse, text: str, expected: float) -> None:  # type: ignore[no-untyped-def]
    assert parse(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_bytes, "16Q"),
        (parse_bytes, "0K"),
        (parse_bytes, "-4K"),
        (parse_duration_us, "2"),  # a time needs its unit
        (parse_clock_mhz, "fast"),
        (parse_count, "0"),
        (parse_range, "8:4"),
        (parse_range, "a:b"),
        (parse_state_bits, "16,4"),
    ],
)
def test_bad_values_name_the_value(parse, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        parse(text)


def test_excess_is_measured_minus_budget_for_each_budget_set() -> None:
    budgets = Budgets("cortex-m4", flash=8192, instructions=5000)
    excess = budgets.excess(Figures(flash=9000, ram=300, instructions=4000.0, latency_us=None))
    assert excess == {"flash": 808.0, "instructions": -1000.0}


def test_latency_is_instructions_over_issue_width_at_the_clock() -> None:
    """The estimate bench --target cortex-m prints: cycles >= instructions / issue width."""
    for cpu, expected_us in (("cortex-m4", 200.0), ("cortex-m7", 100.0)):  # single- and dual-issue
        budgets = Budgets(cpu, latency_us=100.0, clock_mhz=80.0, issue_width=get_core(cpu).issue_width)
        estimate = budgets.latency_estimate_us(16000.0)
        assert estimate == pytest.approx(expected_us)
        over = budgets.excess(Figures(1, 1, 16000.0, estimate))["latency"]
        assert over == pytest.approx(expected_us - 100.0)


def test_latency_needs_a_clock() -> None:
    with pytest.raises(EdgeGruError, match="--latency and --clock go together"):
        Budgets("cortex-m4", latency_us=2000.0, issue_width=1).check()
    with pytest.raises(EdgeGruError, match="--latency and --clock go together"):
        Budgets("cortex-m4", clock_mhz=80.0, issue_width=1).check()
