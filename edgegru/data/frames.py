"""Frames: K consecutive samples of a sequence given to the GRU as one step of K·D inputs.

A GRU of a few dozen units loses what it saw a few hundred steps ago, and the UCR-style
series (a gun drawn over 150 samples, a leaf outline of 427) are that long. Stacking K
samples per step shortens the recurrence K times, which trains faster and, measured on
the public datasets (docs/accuracy.md), more accurately; it is also what a device wants:
one GRU step per K samples instead of one per sample. The network stays a plain GRU with
K·D inputs, so every target runs it unchanged; only the caller groups samples.

A frame holds samples t·K .. t·K+K-1, sample-major (sample 0's D channels, then sample
1's, ...), which is the order a device's sample buffer has. A sequence whose length is
not a multiple of K completes its last frame by repeating its last sample, the value a
device holds when the stream stops.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_FRAME, MAX_SIZE
from edgegru.data.dataset import Dataset

AUTO_STEPS = 64  # the automatic choice keeps sequences at most this many frames long ...
AUTO_MAX_FRAME = 8  # ... with frames of at most this many samples


def auto_frame(max_length: int, channels: int) -> int:
    """The frame ``edgegru train`` picks by default: the smallest power of two up to
    :data:`AUTO_MAX_FRAME` that makes the longest sequence at most :data:`AUTO_STEPS`
    frames, and whose frame still fits the generator's input size."""
    frame = 1
    while (
        frame < AUTO_MAX_FRAME and -(-max_length // frame) > AUTO_STEPS and 2 * frame * channels <= MAX_SIZE
    ):
        frame *= 2
    return frame


def check_frame(frame: int, channels: int, what: str = "--frame") -> int:
    """``frame`` as an int, or one line saying why it cannot be a frame of ``channels``."""
    if not 1 <= frame <= MAX_FRAME:
        raise EdgeGruError(f"{what} {frame}: expected 1..{MAX_FRAME} samples per frame")
    if frame * channels > MAX_SIZE:
        raise EdgeGruError(
            f"{what} {frame}: frames of {frame} samples x {channels} channels are {frame * channels} "
            f"inputs, the C generator takes at most {MAX_SIZE}"
        )
    return int(frame)


def frame_arrays(x: np.ndarray, lengths: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded samples (N, T, D) and their lengths -> frames (N, ceil(T/K), K·D) and theirs."""
    n, t_max, d = x.shape
    steps = -(-t_max // frame)
    framed = np.zeros((n, steps * frame, d), x.dtype)
    framed[:, :t_max] = x
    framed_lengths = -(-lengths // frame)
    for i in np.flatnonzero(lengths % frame):  # complete the last frame with the last sample
        framed[i, lengths[i] : framed_lengths[i] * frame] = x[i, lengths[i] - 1]
    return framed.reshape(n, steps, frame * d), framed_lengths


def frame_dataset(ds: Dataset, frame: int) -> Dataset:
    """``ds`` with every K samples as one step of K·D values (the module docstring)."""
    check_frame(frame, ds.input_size)
    if frame == 1:
        return ds
    x, lengths = frame_arrays(ds.x, ds.lengths, frame)
    names = None
    if ds.channel_names is not None:
        names = [f"{name}[{k}]" for k in range(frame) for name in ds.channel_names]
    return dataclasses.replace(ds, x=x, lengths=lengths, channel_names=names)


def model_input(ds: Dataset, frame: int, input_size: int) -> Dataset:
    """``ds`` as a model with ``frame`` samples per step and ``input_size`` inputs takes it:
    framed when it holds samples, as it is when it already holds frames."""
    if ds.input_size == input_size:
        return ds
    if ds.input_size * frame == input_size:
        return frame_dataset(ds, frame)
    framing = f" (frames of {frame} samples x {input_size // frame})" if frame > 1 else ""
    raise EdgeGruError(
        f"{ds.source}: {ds.input_size} channels, the model takes {input_size} inputs per step{framing}"
    )
