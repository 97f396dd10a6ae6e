"""Single time series for forecasting, and the windows a GRU learns from.

A forecasting model on a device sees the last ``window`` samples and predicts the
next one, so training data is every such window of one long series. Two inputs are
read: a one-column CSV (optionally with a header line), and the fixed-width yearly
tables many climate and astronomy records come in (text header lines, then rows
``YEAR v1 .. v12``), flattened month by month.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.data.dataset import Dataset, existing_file, parse_float, parse_floats
from edgegru.data.limits import MAX_ROW_BYTES, MAX_STEPS, check_cap, check_padded, numbered_lines

_MAX_YEAR_DIGITS = 9  # a year is a few digits; a longer number is a damaged row, not a year


def load_series(path: str | Path) -> np.ndarray:
    """A 1-D float64 series from a one-column ``.csv`` or a yearly table (any other name).

    A series is one sequence, so it holds at most MAX_STEPS values.
    """
    path = existing_file(path)
    lines = numbered_lines(path, MAX_ROW_BYTES)
    series = _read_column(lines, path.name) if path.suffix == ".csv" else _read_table(lines, path.name)
    if len(series) == 0:
        raise EdgeGruError(f"{path.name}: holds no values")
    return series


def _read_column(lines: Iterator[tuple[int, str]], name: str) -> np.ndarray:
    """One value per line; a non-numeric first line is a header."""
    values: list[float] = []
    first = True
    for number, line in lines:
        text = line.strip()
        if not text:
            continue
        where = f"{name} line {number}"
        if "," in text:
            raise EdgeGruError(f"{where}: several columns, expected one")
        if first and not _is_number(text):
            first = False
            continue
        first = False
        check_cap(len(values) + 1, MAX_STEPS, where, "the series length", "values")
        values.append(parse_float(text, where))
    return np.array(values, dtype=np.float64)


def _read_table(lines: Iterator[tuple[int, str]], name: str) -> np.ndarray:
    """Rows starting with a year, 12 monthly values each; other lines are text.

    Years must follow each other and only the last row may be short (a record that
    ends mid-year), so a dropped or partial row cannot shift the months silently.
    """
    rows: list[np.ndarray] = []
    last_year = None
    count = 0
    for number, line in lines:
        tokens = line.split(maxsplit=13)  # a year and 12 values, or the sign of too many
        if len(tokens) < 2 or not (tokens[0].isascii() and tokens[0].isdigit()):
            continue
        where = f"{name} line {number}"
        if len(tokens[0]) > _MAX_YEAR_DIGITS:
            raise EdgeGruError(
                f"{where}: {quote(tokens[0])} is not a year (at most {_MAX_YEAR_DIGITS} digits)"
            )
        year = int(tokens[0])
        if last_year is not None and year != last_year + 1:
            raise EdgeGruError(f"{where}: year {year} follows {last_year}, expected {last_year + 1}")
        if rows and len(rows[-1]) != 12:
            raise EdgeGruError(f"{where}: the row for {last_year} has {len(rows[-1])} values, expected 12")
        if len(tokens) > 13:
            raise EdgeGruError(f"{where}: more than 12 values after the year")
        count = check_cap(count + len(tokens) - 1, MAX_STEPS, where, "the series length", "values")
        rows.append(parse_floats(tokens[1:], where))
        last_year = year
    if not rows:
        raise EdgeGruError(f"{name}: no rows 'YEAR v1 .. v12' found")
    return np.concatenate(rows)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def forecast_windows(series: np.ndarray, window: int, source: str = "series") -> Dataset:
    """One-step-ahead regression: ``x[i] = series[i:i+window]``, ``y[i] = series[i+window]``."""
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1 or not np.all(np.isfinite(series)):
        raise EdgeGruError(f"{source}: expected a 1-D series of finite values")
    if window < 1 or len(series) <= window:
        raise EdgeGruError(f"{source}: window {window} needs 1 <= window < series length {len(series)}")
    check_padded(len(series) - window, window, 1, f"{source} window={window}")
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], window)[:, :, None]
    return Dataset(
        x=x,
        lengths=np.full(len(x), window),
        y=series[window:, None],
        task="regression",
        class_names=None,
        source=f"{source} window={window}",
        forecast=True,
    )
