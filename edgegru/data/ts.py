"""Reader for the UEA/UCR ``.ts`` text format used by sktime and aeon.

Many public time-series classification and regression archives ship in this
format, so reading it directly saves users a conversion step. Layout: ``#``
comment lines, ``@`` header lines, ``@data``, then one case per line with channels
separated by ``:``, values by ``,`` and the label last.

The header is checked against the data (declared dimensions, equal length,
univariate) because a file that contradicts its own header is usually truncated or
mis-exported, and training on it would silently give a wrong model. Time-stamped
series and missing values are refused: a GRU on an MCU sees evenly sampled,
complete windows, and imputing on the user's behalf would hide a data problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS
from edgegru.data.dataset import (
    Dataset,
    encode_classes,
    pad_sequences,
    parse_float,
    parse_floats,
    resolve_task,
)
from edgegru.data.limits import (
    MAX_CASE_LINE_BYTES,
    MAX_CHANNELS,
    MAX_STEPS,
    check_cap,
    check_label,
    check_padded,
    numbered_lines,
)

_FLAGS = ("timestamps", "missing", "univariate", "equallength")
_IGNORED = ("problemname",)
# Characters of a channel's text parsed at once: a long case then costs a few bytes per
# character instead of one Python string (about 50 bytes) per value.
_CHUNK_CHARS = 2**16


@dataclass
class _Header:
    """What the ``@`` lines declare; ``None`` where the file is silent."""

    flags: dict[str, bool]
    dimensions: int | None = None
    series_length: int | None = None
    classes: list[str] | None = None
    regression: bool = False


def load_ts(path: Path, task: str | None, class_names: list[str] | None) -> Dataset:
    """Read a ``.ts`` file into a :class:`Dataset` (see the module docstring)."""
    lines = numbered_lines(path, MAX_CASE_LINE_BYTES)
    header = _read_header(lines, path.name)
    found = "regression" if header.regression else "classification"
    task = resolve_task(found, task, path.name)

    sequences: list[np.ndarray] = []
    labels: list[str] = []
    places: list[str] = []
    t_max = 0
    for number, text in lines:
        line = text.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name} line {number}"
        seq, label = _read_case(line, where, header, sequences)
        t_max = max(t_max, len(seq))
        check_padded(len(sequences) + 1, t_max, seq.shape[1], where)
        sequences.append(seq)
        labels.append(label)
        places.append(where)

    x, lengths = pad_sequences(sequences, path.name)
    if task == "regression":
        y = np.array([[parse_float(t, f"{p} target")] for t, p in zip(labels, places, strict=True)])
        names = None
    else:
        y, names = encode_classes(labels, places, header.classes, class_names)
    return Dataset(x=x, lengths=lengths, y=y, task=task, class_names=names, source=path.name)


def _read_header(lines: Iterator[tuple[int, str]], name: str) -> _Header:
    """Parse the lines up to ``@data``, leaving ``lines`` at the first data line."""
    header = _Header(flags={})
    for number, text in lines:
        line = text.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name} line {number}"
        if not line.startswith("@"):
            raise EdgeGruError(f"{where}: data before the '@data' line")
        # at most the tag, 'true' and one more label than allowed: never millions of strings
        tag, *values = line[1:].split(maxsplit=MAX_OUTPUTS + 2) or [""]
        tag = tag.lower()
        if tag == "data":
            _check_header(header, name)
            return header
        _apply(header, tag, values, where)
    raise EdgeGruError(f"{name}: no '@data' line")


def _apply(header: _Header, tag: str, values: list[str], where: str) -> None:
    """Record one ``@tag values`` line in ``header``."""
    if tag in _FLAGS:
        header.flags[tag] = _flag(values, where, tag)
    elif tag in ("dimension", "dimensions"):
        header.dimensions = _count(values, where, tag, MAX_CHANNELS, "channels")
    elif tag == "serieslength":
        header.series_length = _count(values, where, tag, MAX_STEPS, "steps")
    elif tag == "classlabel":
        header.classes = _class_labels(values, where)
    elif tag == "targetlabel":
        header.regression = _flag(values[:1], where, tag)
    elif tag not in _IGNORED:
        raise EdgeGruError(f"{where}: unknown header {quote('@' + tag)}")


def _class_labels(values: list[str], where: str) -> list[str] | None:
    """The labels of ``@classLabel true a b c`` (``None`` for false): distinct, usable labels."""
    if not _flag(values[:1], where, "classLabel"):
        return None
    labels = values[1:]
    if not labels:
        raise EdgeGruError(f"{where}: '@classLabel true' lists no labels")
    if len(labels) > MAX_OUTPUTS:
        raise EdgeGruError(f"{where}: '@classLabel' lists more than the cap of {MAX_OUTPUTS:,} classes")
    seen: set[str] = set()
    for label in labels:
        check_label(label, where, "class label")
        if label in seen:
            raise EdgeGruError(f"{where}: class label {quote(label)} is listed twice in '@classLabel'")
        seen.add(label)
    return labels


def _check_header(header: _Header, name: str) -> None:
    """Refuse what edgegru cannot use; settle the dimensions and length to enforce."""
    if header.flags.get("timestamps", False):
        raise EdgeGruError(
            f"{name}: '@timeStamps true' is not supported; edgegru needs evenly sampled series"
        )
    if header.classes is not None and header.regression:
        raise EdgeGruError(f"{name}: declares both '@classLabel true' and '@targetLabel true'")
    if header.classes is None and not header.regression:
        raise EdgeGruError(f"{name}: has no labels ('@classLabel true ...' or '@targetLabel true' expected)")
    if header.flags.get("univariate") and header.dimensions not in (None, 1):
        raise EdgeGruError(f"{name}: '@univariate true' contradicts '@dimensions'")
    if header.flags.get("univariate"):
        header.dimensions = 1
    if not header.flags.get("equallength", False):
        header.series_length = None


def _read_case(line: str, where: str, header: _Header, previous: list[np.ndarray]) -> tuple[np.ndarray, str]:
    """One data line -> ((T, D) float32 values, label text), checked against the header."""
    check_cap(line.count(":"), MAX_CHANNELS, where, "the number of channels", "channels")
    *channels, label = line.split(":")
    if not channels:
        raise EdgeGruError(f"{where}: expected channels and a label separated by ':'")
    expected_dims = header.dimensions or (previous[0].shape[1] if previous else None)
    if expected_dims is not None and len(channels) != expected_dims:
        raise EdgeGruError(f"{where}: {len(channels)} channels, expected {expected_dims}")
    columns = [_channel_values(text, f"{where} channel {c + 1}") for c, text in enumerate(channels)]
    length = len(columns[0])
    for c, values in enumerate(columns):
        if len(values) != length:
            raise EdgeGruError(f"{where}: channel {c + 1} has {len(values)} values, channel 1 has {length}")
    if header.series_length is not None and length != header.series_length:
        raise EdgeGruError(f"{where}: {length} values, '@seriesLength' is {header.series_length}")
    label = label.strip()
    if not label:
        raise EdgeGruError(f"{where}: the label after the last ':' is empty")
    return np.stack(columns, axis=1).astype(np.float32), label


def _channel_values(text: str, where: str) -> np.ndarray:
    """The comma-separated values of one channel, parsed ``_CHUNK_CHARS`` at a time."""
    parts: list[np.ndarray] = []
    start = count = 0
    while True:
        end = text.find(",", start + _CHUNK_CHARS)
        tokens = (text[start:] if end < 0 else text[start:end]).split(",")
        parts.append(parse_floats(tokens, where, first=count + 1))
        count += len(tokens)
        if end < 0:
            return np.concatenate(parts)
        start = end + 1


def _flag(values: list[str], where: str, tag: str) -> bool:
    if len(values) == 1 and values[0].lower() in ("true", "false"):
        return values[0].lower() == "true"
    raise EdgeGruError(f"{where}: '@{tag}' expects true or false, got {quote(' '.join(values))}")


def _count(values: list[str], where: str, tag: str, cap: int, unit: str) -> int:
    """A positive count from a header line, at most ``cap``."""
    text = " ".join(values)
    if len(values) != 1 or not (text.isascii() and text.isdigit()) or not text.strip("0"):
        raise EdgeGruError(f"{where}: '@{tag}' expects a positive integer, got {quote(text)}")
    if len(text.lstrip("0")) > 18:  # Python refuses to convert 4,300 digits or more
        raise EdgeGruError(f"{where}: '@{tag}' is {quote(text)}, more than the cap of {cap:,} {unit}")
    return check_cap(int(text), cap, where, f"'@{tag}'", unit)
