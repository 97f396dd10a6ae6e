"""The host bench's tables: times with their spread, wall times, same-run ratios and the
vpmaddwd floor, each a Markdown table that also reads as plain text."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from edgegru.targets.host_bench import CONTENDERS, BenchResult, Row
from edgegru.targets.host_bench_rounds import Timing
from edgegru.targets.host_machine import CHAIN, FLOOR_MACS_PER_CYCLE

FLOOR_COLUMNS = ("MACs", "floor ns", "C / floor")


def markdown_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """Aligned columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def sig3(value: float) -> str:
    """Three significant figures, or more for large values (0.405, 4.20, 31.6, 146, 1230)."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:#.3g}"


def us(ns: float) -> str:
    """ns as µs, three significant figures."""
    return sig3(ns / 1e3)


def time_table(rows: Sequence[Row]) -> str:
    """Thread CPU µs per step: median (fastest-slowest round), per contender."""

    def cell(t: Timing) -> str:
        return f"{us(t.median)} ({us(t.spread[0])}-{us(t.spread[1])})"

    lines = [[r.model, *(_shown(r.timings.get(n), cell) for n in CONTENDERS)] for r in rows]
    return markdown_table(["model", *CONTENDERS], lines)


def wall_table(rows: Sequence[Row]) -> str:
    """Wall-clock µs per step, median over the rounds, per contender."""
    lines = [
        [r.model, *(_shown(r.timings.get(n), lambda t: us(t.wall_median)) for n in CONTENDERS)] for r in rows
    ]
    return markdown_table(["model", *CONTENDERS], lines)


def ratio_table(rows: Sequence[Row]) -> str:
    """Each contender over the C within a round (median over rounds), and the C against
    the vpmaddwd floor."""
    lines = []
    for r in rows:
        c = r.timings["C"]
        cells = [r.model, *(_shown(r.timings.get(n), functools.partial(_ratio, c)) for n in CONTENDERS[1:])]
        cells.append(str(r.macs))
        if r.floor_ns is None:
            cells += ["n/a", "n/a"]
        else:
            cells += [f"{r.floor_ns:.0f}", sig3(c.median / r.floor_ns)]
        lines.append(cells)
    return markdown_table(["model", *(f"{n} / C" for n in CONTENDERS[1:]), *FLOOR_COLUMNS], lines)


def floor_lines(result: BenchResult) -> list[str]:
    """How the floor was computed, with the clock and where it came from."""
    mhz = result.machine.nominal_mhz
    nominal = "no cpu MHz in /proc/cpuinfo" if mhz is None else f"/proc/cpuinfo says {mhz:.0f} MHz (nominal)"
    if result.clock is None:
        return [f"floor: not computed, no clock measured on this machine ({nominal})"]
    ghz = result.clock.hz / 1e9
    if result.clock.measured:
        source = [
            f"clock {ghz:.2f} GHz, measured: a chain of dependent adds (one per cycle, {CHAIN} per loop),",
            f"the fastest of 3 runs in thread CPU time; {nominal}",
        ]
    else:
        source = [f"clock {ghz:.2f} GHz: NOMINAL, /proc/cpuinfo's cpu MHz (no add chain for this machine)"]
    first = result.rows[0]
    return [
        f"floor = MACs / {FLOOR_MACS_PER_CYCLE} int8 x int16 MACs per cycle (one 256-bit vpmaddwd) / clock;",
        *source,
        f"e.g. {first.model}: {first.macs} / {FLOOR_MACS_PER_CYCLE} / {ghz:.2f} GHz = "
        f"{first.floor_ns:.0f} ns; C / floor is the C's median over it",
    ]


def format_result(result: BenchResult) -> str:
    """Everything the bench prints after its method: the machine, the tables, the floor."""
    parts = [
        f"CPU: {result.machine.model}",
        result.machine.extensions_line(),
        *result.notes,
        "",
        "thread CPU time, µs per step: median (fastest-slowest round)",
        time_table(result.rows),
        "",
        "same-run ratios (median over rounds of each round's ratio) and the vpmaddwd floor",
        ratio_table(result.rows),
        *floor_lines(result),
        "",
        "wall time, µs per step: median",
        wall_table(result.rows),
    ]
    return "\n".join(parts)


def _ratio(c: Timing, t: Timing) -> str:
    return sig3(t.ratio_to(c))


def _shown(timing: Timing | None, fmt: Callable[[Timing], str]) -> str:
    """A cell: ``fmt(timing)``, or "n/a" where the contender was not timed."""
    return "n/a" if timing is None else fmt(timing)
