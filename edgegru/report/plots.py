"""The report's figures as PNG bytes, drawn with matplotlib (the ``report`` extra).

Figures are made with :class:`matplotlib.figure.Figure` directly, not pyplot, so no global
state or GUI backend is touched and a report can be written from any thread or server.
Names from files (classes, channels) reach a plot only through :func:`label`: matplotlib
would otherwise read ``$...$`` in them as mathematics, and a malformed formula would stop
the report.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from edgegru.core.errors import one_line
from edgegru.report.calibration import ChannelRange
from edgegru.report.state_error import StateError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LABEL_CHARS = 20  # of a class or channel name on an axis; the tables show names in full
ANNOTATE_UP_TO = 20  # up to this many classes the confusion matrix names them and writes its counts
CHANNELS_DRAWN = 12  # calibration histograms drawn; the table lists every channel
DPI = 96


def label(name: str) -> str:
    """A file's name fit for a plot: one line, shortened. Callers also pass
    ``parse_math=False`` wherever it is drawn."""
    text = one_line(name)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def confusion_png(matrix: np.ndarray, names: list[str]) -> bytes:
    """Rows are the true classes, columns the predicted ones; each row is shaded by the share
    of its cases, so a rare class's errors show as plainly as a common one's."""
    k = matrix.shape[0]
    side = min(4.0 + 0.35 * k, 9.0)
    fig = _figure(side + 1.0, side)
    ax = fig.subplots()
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    if k <= ANNOTATE_UP_TO:
        ticks = np.arange(k)
        shown = [label(n) for n in names]
        ax.set_xticks(ticks, shown, rotation=45, ha="right", parse_math=False)
        ax.set_yticks(ticks, shown, parse_math=False)
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=9)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return _png(fig)


def predicted_vs_actual_png(actual: np.ndarray, predicted: dict[str, np.ndarray]) -> bytes:
    """Each implementation's predictions against the targets (all outputs pooled), with the
    line a perfect model would lie on."""
    fig = _figure(6.0, 5.0)
    ax = fig.subplots()
    truth = np.asarray(actual, np.float64).ravel()
    markers = iter(("o", "x", "+"))
    for name, values in predicted.items():
        ax.scatter(truth, np.ravel(values), s=14, marker=next(markers), label=name, alpha=0.7)
    lo, hi = float(truth.min()), float(truth.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="predicted = actual")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.legend()
    return _png(fig)


def state_error_png(error: StateError, state_bits: int) -> bytes:
    """Mean and maximum absolute state error at each step, against one step of the state's
    integer grid (2^-15 or 2^-7) for scale; logarithmic, as the three lie decades apart."""
    fig = _figure(8.0, 3.6)
    ax = fig.subplots()
    steps = np.arange(1, error.mean.size + 1)
    ax.plot(steps, error.max, label="max over units and sequences", color="tab:red")
    ax.plot(steps, error.mean, label="mean over units and sequences", color="tab:blue")
    ax.axhline(2.0 ** -(state_bits - 1), color="grey", linestyle=":", label=f"one int{state_bits} step")
    ax.set_xlabel("step")
    ax.set_ylabel("|integer state − float state|")
    ax.set_yscale("log")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, fontsize=8, frameon=False)
    return _png(fig)


def calibration_png(channels: list[ChannelRange]) -> bytes:
    """One histogram per channel (the first CHANNELS_DRAWN), the range int8 holds shaded and
    its ends marked: values beyond the red lines saturate."""
    drawn = channels[:CHANNELS_DRAWN]
    cols = min(len(drawn), 3)
    rows = -(-len(drawn) // cols)
    fig = _figure(3.4 * cols, 2.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, channel in zip(axes, drawn, strict=False):
        ax.hist(channel.values, bins=50, color="tab:blue")
        ends = [v for v in (channel.int8_lo, channel.int8_hi) if np.isfinite(v)]
        if len(ends) == 2:
            ax.axvspan(*ends, color="tab:green", alpha=0.12)
        for end in ends:
            ax.axvline(end, color="tab:red", linewidth=1)
        title = f"{label(channel.name)}: {100 * channel.clipped:.2g}% clipped"
        ax.set_title(title, fontsize=9, parse_math=False)
        ax.tick_params(labelsize=7)
    for ax in axes[len(drawn) :]:
        ax.set_axis_off()
    return _png(fig)
