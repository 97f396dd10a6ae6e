"""Caps on what a data file may make edgegru read or allocate, and the checks that enforce them.

Data files come from strangers. A header can declare any length, an ``.npz`` member any
shape, a line can run for gigabytes and a label can hold terminal escapes. Every reader
checks each such size against a cap here *before* it allocates for it, and refuses
beyond it with one line naming the file, the field and the cap: a tool that tries to
allocate what a hostile file declares can be made to swap, crash or be killed, which
is worse than a clear refusal. The caps sit far above what edgegru can use (the C
generator, a microcontroller's memory), so no useful data set meets them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_SIZE

# Input channels of one case: the C generator takes an input size of at most MAX_SIZE.
MAX_CHANNELS = MAX_SIZE
# Steps of one sequence (and values of one forecasting series): an hour of 250 Hz samples
# is 900,000; a GRU on a microcontroller sees far shorter windows.
MAX_STEPS = 1_000_000
# Cases of one data set: far more than the public classification archives hold (tens of
# thousands at most), and each case costs bookkeeping (an array, a label, a place) of
# about half a kilobyte, so this keeps that below 0.5 GB.
MAX_CASES = 1_000_000
# Values of the padded (cases x steps x channels) array: 2**28 float32 values are 1 GiB,
# as much as training on a workstation should be asked to hold.
MAX_VALUES = 2**28
# Bytes of one ``.npz`` array: X at MAX_VALUES stored as float64.
MAX_ARRAY_BYTES = 8 * MAX_VALUES
# Characters of a class label: labels become C string literals and appear in messages,
# and 64 characters name any class descriptively.
MAX_LABEL_CHARS = 64
# Bytes of one line of a ``.ts`` file (one whole case): 64 channels x 3,000 steps written
# with 14 characters a value take 2.7 MB; the shared UEA files' longest line is 6 KB.
# Parsed a chunk at a time, a line costs under ten times its size (measured: 75 MB).
MAX_CASE_LINE_BYTES = 8 * 2**20
# Bytes of one CSV row or series line (one time step): 512 channels and 10,000 targets
# written with 20 characters each fit in 210 KB. Parsing a line builds one Python
# string per field, up to about 30 times the line's size.
MAX_ROW_BYTES = 2**20


def check_cap(value: int, cap: int, where: str, what: str, unit: str) -> int:
    """``value`` if it is at most ``cap``, else one line naming the field and the cap."""
    if value > cap:
        shown = f"{value:,}" if value < 10**24 else "over 10^24"  # a header can declare 10^9999
        raise EdgeGruError(f"{where}: {what} is {shown}, more than the cap of {cap:,} {unit}")
    return value


def check_padded(cases: int, steps: int, channels: int, where: str) -> None:
    """Refuse a data set whose zero-padded (cases, steps, channels) array passes a cap.

    Readers call this before keeping each case (or row), so the memory they hold stays
    below the padded array's, and that below MAX_VALUES float32 values.
    """
    check_cap(cases, MAX_CASES, where, "the number of cases", "cases")
    check_cap(steps, MAX_STEPS, where, "the sequence length", "steps")
    check_cap(
        channels, MAX_CHANNELS, where, "the number of channels", "channels (the C generator's input size)"
    )
    total = cases * steps * channels
    check_cap(total, MAX_VALUES, where, f"the padded size {cases} x {steps} x {channels}", "values")


def check_label(text: str, where: str, what: str = "label") -> str:
    """``text`` if it is a usable class label: 1..MAX_LABEL_CHARS printable characters.

    Printable means :meth:`str.isprintable` (letters, marks, numbers, punctuation,
    symbols and the ASCII space, in any script): a label with a line break or an escape
    would make messages, generated headers and reports unreadable or misleading.
    """
    if not text:
        raise EdgeGruError(f"{where}: the {what} is empty")
    if len(text) > MAX_LABEL_CHARS:
        raise EdgeGruError(
            f"{where}: {what} {quote(text)} has {len(text):,} characters, at most {MAX_LABEL_CHARS}"
        )
    bad = next((ch for ch in text if not ch.isprintable()), None)
    if bad is not None:
        raise EdgeGruError(
            f"{where}: {what} {quote(text)} holds the non-printable character U+{ord(bad):04X}, "
            "expected printable text"
        )
    return text


def numbered_lines(path: Path, limit: int) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a UTF-8 file, without its line ending.

    A line is read with at most ``limit + 1`` bytes, so a file that is one huge line is
    refused after ``limit`` bytes instead of being read whole; bytes that are not UTF-8
    are refused naming the line (a byte-order mark opening the file is dropped).
    """
    with path.open("rb") as fh:
        for number in itertools.count(1):
            raw = fh.readline(limit + 1)
            if not raw:
                return
            if len(raw) > limit and not raw.endswith(b"\n"):
                raise EdgeGruError(
                    f"{path.name} line {number}: longer than the cap of {limit:,} bytes for one line"
                )
            yield number, _decode(raw, number == 1, f"{path.name} line {number}").rstrip("\r\n")


def _decode(raw: bytes, first: bool, where: str) -> str:
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise EdgeGruError(
            f"{where}: byte {raw[exc.start]:#04x} at byte {exc.start + 1} is not UTF-8 text"
        ) from None
