"""Reader for edgegru's long CSV layout: one row per time step.

A long layout (rather than one row per sequence) makes variable-length sequences
and any number of channels natural, and is what a logging script or a spreadsheet
export produces. The columns are found by name, in any order:

* ``sequence``: an identifier; the rows of one sequence are consecutive;
* ``step``: 0, 1, 2, ... within each sequence, which catches dropped or shuffled rows;
* ``label`` (classification) or one or more ``target...`` columns (regression),
  given on a sequence's first row and on later rows either repeated exactly or empty;
* every other column is an input channel, in header order, named by its header
  (the names travel with a trained model into the generated C header).

A record is one line: a quoted field cannot span lines, so that every row, and every
message about it, has one line number. See docs/data.md for an example.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS
from edgegru.data.dataset import Dataset, encode_classes, pad_sequences, parse_floats, resolve_task, shown
from edgegru.data.limits import (
    MAX_CHANNELS,
    MAX_ROW_BYTES,
    check_cap,
    check_label,
    check_padded,
    numbered_lines,
)


@dataclass
class _Columns:
    """Where the sequence, step, label/target and channel columns are in a row."""

    width: int
    sequence: int
    step: int
    labels: list[int]
    channels: list[int]


@dataclass
class _Cases:
    """Rows gathered into cases as they stream past.

    Each case's rows become one float32 array when the next case starts, so what is held
    stays close to the padded result, which :func:`check_padded` bounds row by row.
    """

    columns: _Columns
    classification: bool
    sequences: list[np.ndarray] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    current: str | None = None
    t_max: int = 0

    def add(self, row: list[str], where: str) -> None:
        """One data row: start a case or continue the current one, checking the layout."""
        cols = self.columns
        if len(row) != cols.width:
            raise EdgeGruError(f"{where}: {len(row)} fields, the header has {cols.width}")
        seq_id, step = row[cols.sequence].strip(), row[cols.step].strip()
        label = [row[c].strip() for c in cols.labels]
        if seq_id != self.current:
            self._start(seq_id, label, where)
        elif any(label) and label != self.labels[-1]:
            raise EdgeGruError(
                f"{where}: label {quote(','.join(label))} of sequence {quote(seq_id)} "
                "differs from its first row's"
            )
        if step != str(len(self.rows)):
            raise EdgeGruError(
                f"{where}: step {quote(step)} of sequence {quote(seq_id)}, expected {len(self.rows)}"
            )
        self.t_max = max(self.t_max, len(self.rows) + 1)
        check_padded(len(self.labels), self.t_max, len(cols.channels), where)
        self.rows.append(parse_floats([row[c] for c in cols.channels], where))

    def _start(self, seq_id: str, label: list[str], where: str) -> None:
        if seq_id in self.seen:
            raise EdgeGruError(f"{where}: rows of sequence {quote(seq_id)} are not consecutive")
        if not all(label):
            raise EdgeGruError(f"{where}: first row of sequence {quote(seq_id)} has no label")
        if self.classification:
            check_label(label[0], where)
        self._pack()
        self.current = seq_id
        self.seen.add(seq_id)
        self.labels.append(label)
        self.places.append(f"{where} (sequence {quote(seq_id)})")

    def _pack(self) -> None:
        """Turn the current case's rows into one (T, D) float32 array."""
        if self.rows:
            self.sequences.append(np.stack(self.rows).astype(np.float32))
            self.rows = []

    def finish(self) -> list[np.ndarray]:
        """Every case's values, the last one packed too."""
        self._pack()
        return self.sequences


def load_csv(path: Path, task: str | None, class_names: list[str] | None) -> Dataset:
    """Read a long-layout CSV file into a :class:`Dataset` (see the module docstring)."""
    name = path.name
    lines = numbered_lines(path, MAX_ROW_BYTES)
    first = next(lines, None)
    header = [h.strip() for h in _fields(first[1], f"{name} line 1")] if first else []
    columns = _columns(header, name)
    found = "classification" if header[columns.labels[0]] == "label" else "regression"
    task = resolve_task(found, task, name)

    cases = _Cases(columns, task == "classification")
    for number, line in lines:
        if line:
            where = f"{name} line {number}"
            cases.add(_fields(line, where), where)

    x, lengths = pad_sequences(cases.finish(), name)
    labels, places = cases.labels, cases.places
    if task == "regression":
        y = np.stack([parse_floats(label, f"{p} target") for label, p in zip(labels, places, strict=True)])
        names = None
    else:
        y, names = encode_classes([lab[0] for lab in labels], places, None, class_names)
    channels = [header[c] for c in columns.channels]
    return Dataset(x, lengths, y, task, names, name, channel_names=channels)


def _fields(line: str, where: str) -> list[str]:
    """The fields of one line; quotes must close on it (``strict``: no stray quotes)."""
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        raise EdgeGruError(f"{where}: malformed CSV ({exc})") from None


def _columns(header: list[str], name: str) -> _Columns:
    """Indices of the sequence, step, label/target and channel columns."""
    if not header:
        raise EdgeGruError(f"{name}: empty file, expected a header 'sequence,step,...'")
    check_cap(len(header), 2 + MAX_CHANNELS + MAX_OUTPUTS, name, "the number of columns", "columns")
    duplicates = sorted(h for h, count in Counter(header).items() if count > 1)
    if duplicates:
        raise EdgeGruError(f"{name}: duplicate column(s) {shown(duplicates)} in the header")
    for required in ("sequence", "step"):
        if required not in header:
            raise EdgeGruError(f"{name}: the header has no {required!r} column")
    labels = [i for i, h in enumerate(header) if h == "label"]
    targets = [i for i, h in enumerate(header) if h.startswith("target")]
    if (labels and targets) or not (labels or targets):
        raise EdgeGruError(f"{name}: the header needs either a 'label' column or 'target...' columns")
    check_cap(len(targets), MAX_OUTPUTS, name, "the number of target columns", "targets")
    special = {header.index("sequence"), header.index("step"), *labels, *targets}
    channels = [i for i in range(len(header)) if i not in special]
    if not channels:
        raise EdgeGruError(f"{name}: the header has no channel columns")
    check_cap(len(channels), MAX_CHANNELS, name, "the number of channel columns", "channels")
    return _Columns(len(header), header.index("sequence"), header.index("step"), labels or targets, channels)
