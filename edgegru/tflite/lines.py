"""Text rows into a streaming model, one time step (or one sample of a frame) per line.

:func:`stream_lines` answers each line as soon as it arrives; ``edgegru run`` and ``python
-m edgegru.runtime`` (:mod:`edgegru.cli.run`) print those answers. An input line comes from
a stranger and a stream may never end: a line is read up to MAX_LINE_CHARS, never whole,
and a bad line is answered with its error while the stream goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

import numpy as np

from edgegru.core.errors import EdgeGruError, quote

if TYPE_CHECKING:
    from edgegru.tflite.stream import StreamingModel

# The longest input line read. A row of MAX_SIZE (512) channels, each written as the
# longest float repr (24 characters, "-1.2345678901234567e-308") and a comma, is under
# 13 KB; 64 Ki characters leave room for spaces and padding while one line can hold no
# more than that in memory (a longer one is read past in pieces of this size).
MAX_LINE_CHARS = 64 * 1024


def parse_row(text: str, size: int) -> np.ndarray:
    """One CSV line of ``size`` finite numbers; EdgeGruError naming what is wrong."""
    count = text.count(",") + 1  # before splitting: a line of commas is not made a list
    if count != size:
        raise EdgeGruError(f"expected {size} comma-separated values, got {count}")
    fields = text.split(",")
    values = np.empty(size)
    for i, field in enumerate(fields):
        try:
            if "_" in field:  # Python's float() takes 1_000; a CSV number does not
                raise ValueError
            values[i] = float(field)
        except ValueError:
            raise EdgeGruError(f"value {i + 1} {quote(field.strip())} is not a number") from None
        # the models take float32: a value beyond its range would become inf there
        if not abs(values[i]) <= np.finfo(np.float32).max:  # also false for NaN and inf
            raise EdgeGruError(f"value {i + 1} {quote(field.strip())} is not a finite float32")
    return values


@dataclass(frozen=True)
class LineResult:
    """What one data line of a stream gave: the step's output, or why the line was refused
    (then ``output`` is None and the state is as before the line)."""

    line: int  # 1-based, counting every line read, so that skipped lines do not shift it
    output: np.ndarray | None
    error: EdgeGruError | None


def stream_lines(model: StreamingModel, source: TextIO, reset_on_blank: bool = False) -> Iterator[LineResult]:
    """Feed ``model`` one CSV row per line of ``source``, answering each line as it arrives.

    Lines are read with readline, not a read-ahead iterator, so that a live sensor pipe
    gets each answer before it sends the next line. Blank lines and lines starting with
    ``#`` are not data (a blank line resets the state with ``reset_on_blank``). A bad
    line (not ``model.input_size`` finite numbers, or longer than MAX_LINE_CHARS) yields
    its error and the stream goes on: the caller decides whether to stop. A framed model
    (edgegru/data/frames.py) also takes one sample a line (:class:`SampleFrames`): only the
    line that completes a frame steps the model and is answered.
    """
    frames = SampleFrames(model.frame, model.input_size)
    for lineno, line in enumerate(_lines(source), start=1):
        text = None if line is None else line.strip()
        if text is not None and (not text or text.startswith("#")):
            if not text and reset_on_blank:
                model.reset()
                frames.clear()
            continue
        try:
            x = frames.step_input(_parse_line(text, frames))
            if x is None:
                continue
            y = model.step(x)
        except EdgeGruError as exc:
            yield LineResult(lineno, None, exc)
            continue
        yield LineResult(lineno, y, None)


class SampleFrames:
    """A framed model's step inputs from lines of whole frames or of single samples.

    A device streams samples; the model steps once per frame of ``frame`` of them. A line
    of ``input_size`` values is a whole frame; with frames of several samples, a line of
    ``input_size / frame`` values is one sample, kept until its frame is complete. Mixing
    the two inside one frame is refused, so that no step sees half a frame.
    """

    def __init__(self, frame: int, input_size: int) -> None:
        self.frame, self.input_size = frame, input_size
        self.channels = input_size // frame
        self._pending: list[np.ndarray] = []

    def sizes(self) -> tuple[int, ...]:
        """The values a line may hold: a frame's, or also a sample's."""
        return (self.input_size,) if self.frame == 1 else (self.input_size, self.channels)

    def step_input(self, row: np.ndarray) -> np.ndarray | None:
        """The model's input once ``row`` completes a frame (a whole frame at once), else None."""
        if row.size == self.input_size:
            if self._pending:
                raise EdgeGruError(
                    f"a whole frame ({self.input_size} values) while {len(self._pending)} of the "
                    f"{self.frame} samples of a frame wait: send the frame's other samples"
                )
            return row
        self._pending.append(row)
        if len(self._pending) < self.frame:
            return None
        x = np.concatenate(self._pending)
        self._pending.clear()
        return x

    def clear(self) -> None:
        """Drop a partial frame (the stream was reset)."""
        self._pending.clear()


def _lines(source: TextIO) -> Iterator[str | None]:
    """Each line as it arrives; None for a line longer than MAX_LINE_CHARS, which is read
    past in pieces of that size and so never held whole."""
    while line := source.readline(MAX_LINE_CHARS + 1):
        if len(line) <= MAX_LINE_CHARS or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = source.readline(MAX_LINE_CHARS + 1)
        yield None


def _parse_line(text: str | None, frames: SampleFrames) -> np.ndarray:
    """The row of a stripped line (None: an overlong one): a frame's values, or a sample's
    for a framed model; EdgeGruError for a bad line."""
    if text is None:
        raise EdgeGruError(f"longer than {MAX_LINE_CHARS} characters, the most a line may have")
    count = text.count(",") + 1
    sizes = frames.sizes()
    if count not in sizes and len(sizes) > 1:
        raise EdgeGruError(
            f"expected {frames.input_size} comma-separated values (a frame of {frames.frame} samples) "
            f"or {frames.channels} (one sample), got {count}"
        )
    return parse_row(text, count if count in sizes else frames.input_size)
