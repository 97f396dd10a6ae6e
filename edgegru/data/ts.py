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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EdgeGruError
from .dataset import Dataset, encode_classes, pad_sequences, parse_float, parse_floats, resolve_task

_FLAGS = ("timestamps", "missing", "univariate", "equallength")
_IGNORED = ("problemname",)


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
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header, start = _read_header(lines, path.name)
    found = "regression" if header.regression else "classification"
    task = resolve_task(found, task, path.name)

    sequences: list[np.ndarray] = []
    labels: list[str] = []
    places: list[str] = []
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name} line {number}"
        seq, label = _read_case(line, where, header, sequences)
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


def _read_header(lines: list[str], name: str) -> tuple[_Header, int]:
    """Parse the lines before ``@data``; return the header and the ``@data`` line index."""
    header = _Header(flags={})
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name} line {index + 1}"
        if not line.startswith("@"):
            raise EdgeGruError(f"{where}: data before the '@data' line")
        tag, *values = line[1:].split()
        tag = tag.lower()
        if tag == "data":
            _check_header(header, name)
            return header, index + 1
        if tag in _FLAGS:
            header.flags[tag] = _flag(values, where, tag)
        elif tag in ("dimension", "dimensions"):
            header.dimensions = _positive_int(values, where, tag)
        elif tag == "serieslength":
            header.series_length = _positive_int(values, where, tag)
        elif tag == "classlabel":
            if _flag(values[:1], where, tag):
                if len(values) < 2:
                    raise EdgeGruError(f"{where}: '@classLabel true' lists no labels")
                header.classes = values[1:]
        elif tag == "targetlabel":
            header.regression = _flag(values[:1], where, tag)
        elif tag not in _IGNORED:
            raise EdgeGruError(f"{where}: unknown header '@{tag}'")
    raise EdgeGruError(f"{name}: no '@data' line")


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
    """One data line -> ((T, D) values, label text), checked against the header."""
    *channels, label = line.split(":")
    if not channels:
        raise EdgeGruError(f"{where}: expected channels and a label separated by ':'")
    expected_dims = header.dimensions or (previous[0].shape[1] if previous else None)
    if expected_dims is not None and len(channels) != expected_dims:
        raise EdgeGruError(f"{where}: {len(channels)} channels, expected {expected_dims}")
    columns = [parse_floats(text.split(","), f"{where} channel {c + 1}") for c, text in enumerate(channels)]
    length = len(columns[0])
    for c, values in enumerate(columns):
        if len(values) != length:
            raise EdgeGruError(f"{where}: channel {c + 1} has {len(values)} values, channel 1 has {length}")
    if header.series_length is not None and length != header.series_length:
        raise EdgeGruError(f"{where}: {length} values, '@seriesLength' is {header.series_length}")
    label = label.strip()
    if not label:
        raise EdgeGruError(f"{where}: the label after the last ':' is empty")
    return np.stack(columns, axis=1), label


def _flag(values: list[str], where: str, tag: str) -> bool:
    if len(values) == 1 and values[0].lower() in ("true", "false"):
        return values[0].lower() == "true"
    raise EdgeGruError(f"{where}: '@{tag}' expects true or false, got {' '.join(values)!r}")


def _positive_int(values: list[str], where: str, tag: str) -> int:
    if len(values) == 1 and values[0].isdigit() and int(values[0]) > 0:
        return int(values[0])
    raise EdgeGruError(f"{where}: '@{tag}' expects a positive integer, got {' '.join(values)!r}")
