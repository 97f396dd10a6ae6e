"""Reader for edgegru's long CSV layout: one row per time step.

A long layout (rather than one row per sequence) makes variable-length sequences
and any number of channels natural, and is what a logging script or a spreadsheet
export produces. The columns are found by name, in any order:

* ``sequence``: an identifier; the rows of one sequence are consecutive;
* ``step``: 0, 1, 2, ... within each sequence, which catches dropped or shuffled rows;
* ``label`` (classification) or one or more ``target...`` columns (regression),
  given on a sequence's first row and on later rows either repeated exactly or empty;
* every other column is an input channel, in header order.

See docs/data.md for an example.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import EdgeGruError
from .dataset import Dataset, encode_classes, pad_sequences, parse_floats, resolve_task


def load_csv(path: Path, task: str | None, class_names: list[str] | None) -> Dataset:
    """Read a long-layout CSV file into a :class:`Dataset` (see the module docstring)."""
    name = path.name
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        seq_col, step_col, label_cols, channel_cols = _columns(header, name)
        found = "classification" if header[label_cols[0]] == "label" else "regression"
        task = resolve_task(found, task, name)

        sequences: list[list[np.ndarray]] = []
        labels: list[list[str]] = []
        places: list[str] = []
        ids: list[str] = []
        seen: set[str] = set()
        for row in reader:
            if not row:
                continue
            where = f"{name} line {reader.line_num}"
            if len(row) != len(header):
                raise EdgeGruError(f"{where}: {len(row)} fields, the header has {len(header)}")
            seq_id, step = row[seq_col].strip(), row[step_col].strip()
            label = [row[c].strip() for c in label_cols]
            if not ids or seq_id != ids[-1]:
                if seq_id in seen:
                    raise EdgeGruError(f"{where}: rows of sequence {seq_id!r} are not consecutive")
                if not all(label):
                    raise EdgeGruError(f"{where}: first row of sequence {seq_id!r} has no label")
                ids.append(seq_id)
                seen.add(seq_id)
                sequences.append([])
                labels.append(label)
                places.append(f"{where} (sequence {seq_id!r})")
            elif any(label) and label != labels[-1]:
                raise EdgeGruError(
                    f"{where}: label {label} of sequence {seq_id!r} differs from its first row's"
                )
            if step != str(len(sequences[-1])):
                raise EdgeGruError(
                    f"{where}: step {step!r} of sequence {seq_id!r}, expected {len(sequences[-1])}"
                )
            sequences[-1].append(parse_floats([row[c] for c in channel_cols], where))

    x, lengths = pad_sequences([np.stack(rows) for rows in sequences], name)
    if task == "regression":
        y = np.stack([parse_floats(label, f"{p} target") for label, p in zip(labels, places, strict=True)])
        names = None
    else:
        y, names = encode_classes([lab[0] for lab in labels], places, None, class_names)
    return Dataset(x=x, lengths=lengths, y=y, task=task, class_names=names, source=name)


def _columns(header: list[str], name: str) -> tuple[int, int, list[int], list[int]]:
    """Indices of the sequence, step, label/target and channel columns."""
    if not header:
        raise EdgeGruError(f"{name}: empty file, expected a header 'sequence,step,...'")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise EdgeGruError(f"{name}: duplicate column(s) {duplicates} in the header")
    for required in ("sequence", "step"):
        if required not in header:
            raise EdgeGruError(f"{name}: the header has no {required!r} column")
    labels = [i for i, h in enumerate(header) if h == "label"]
    targets = [i for i, h in enumerate(header) if h.startswith("target")]
    if (labels and targets) or not (labels or targets):
        raise EdgeGruError(f"{name}: the header needs either a 'label' column or 'target...' columns")
    special = {header.index("sequence"), header.index("step"), *labels, *targets}
    channels = [i for i in range(len(header)) if i not in special]
    if not channels:
        raise EdgeGruError(f"{name}: the header has no channel columns")
    return header.index("sequence"), header.index("step"), labels or targets, channels
