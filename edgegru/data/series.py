"""Single time series for forecasting, and the windows a GRU learns from.

A forecasting model on a device sees the last ``window`` samples and predicts the
next one, so training data is every such window of one long series. Two inputs are
read: a one-column CSV (optionally with a header line), and the fixed-width yearly
tables many climate and astronomy records come in (text header lines, then rows
``YEAR v1 .. v12``), flattened month by month.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeGruError
from .dataset import Dataset, existing_file, parse_float, parse_floats


def load_series(path: str | Path) -> np.ndarray:
    """A 1-D float64 series from a one-column ``.csv`` or a yearly table (any other name)."""
    path = existing_file(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    series = _read_column(lines, path.name) if path.suffix == ".csv" else _read_table(lines, path)
    if len(series) == 0:
        raise EdgeGruError(f"{path.name}: holds no values")
    return series


def _read_column(lines: list[str], name: str) -> np.ndarray:
    """One value per line; a non-numeric first line is a header."""
    numbered = [(i + 1, line.strip()) for i, line in enumerate(lines) if line.strip()]
    for number, text in numbered:
        if "," in text:
            raise EdgeGruError(f"{name} line {number}: several columns, expected one")
    if numbered and not _is_number(numbered[0][1]):
        numbered = numbered[1:]
    return np.array([parse_float(text, f"{name} line {number}") for number, text in numbered])


def _read_table(lines: list[str], path: Path) -> np.ndarray:
    """Rows starting with a year, 12 monthly values each; other lines are text.

    Years must follow each other and only the last row may be short (a record that
    ends mid-year), so a dropped or partial row cannot shift the months silently.
    """
    rows: list[np.ndarray] = []
    last_year = None
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if len(tokens) < 2 or not tokens[0].isdigit():
            continue
        where = f"{path.name} line {number}"
        year = int(tokens[0])
        if last_year is not None and year != last_year + 1:
            raise EdgeGruError(f"{where}: year {year} follows {last_year}, expected {last_year + 1}")
        if rows and len(rows[-1]) != 12:
            raise EdgeGruError(f"{where}: the row for {last_year} has {len(rows[-1])} values, expected 12")
        if len(tokens) > 13:
            raise EdgeGruError(f"{where}: {len(tokens) - 1} values, expected at most 12")
        rows.append(parse_floats(tokens[1:], where))
        last_year = year
    if not rows:
        raise EdgeGruError(f"{path.name}: no rows 'YEAR v1 .. v12' found")
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
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], window)[:, :, None]
    return Dataset(
        x=x,
        lengths=np.full(len(x), window),
        y=series[window:, None],
        task="regression",
        class_names=None,
        source=f"{source} window={window}",
    )
