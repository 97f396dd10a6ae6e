"""Streaming a framed model (edgegru/data/frames.py) a sample a line or a frame a line: the
same steps, answered on the line that completes each frame, through LiteRT and the C engine."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from edgegru.engine.stream import CStreamingModel
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.lines import stream_lines
from edgegru.tflite.stream import StreamingModel

FRAME, CHANNELS = 3, 2


def rows(values: np.ndarray) -> str:
    return "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in values)


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("frames")
    model = dataclasses.replace(
        random_model(FRAME * CHANNELS, [7], "reset_after", "classification", seed=3), frame=FRAME
    )
    export_tflite(model, tmp / "m.tflite", kind="step")
    samples = np.random.default_rng(0).normal(size=(4, 9, CHANNELS))
    qm = quantize(model, calibrate(model, samples))
    return {"litert": StreamingModel(tmp / "m.tflite"), "c": CStreamingModel(qm)}


@pytest.mark.parametrize("engine", ["litert", "c"])
def test_sample_lines_make_the_frames_of_frame_lines(streams, engine):
    model = streams[engine]
    samples = np.random.default_rng(1).normal(size=(12, CHANNELS)).astype(np.float32)
    frames = samples.reshape(-1, FRAME * CHANNELS)
    model.reset()
    by_frame = list(stream_lines(model, io.StringIO(rows(frames))))
    model.reset()
    by_sample = list(stream_lines(model, io.StringIO(rows(samples))))
    assert [r.line for r in by_frame] == [1, 2, 3, 4]
    assert [r.line for r in by_sample] == [3, 6, 9, 12]  # answered on each frame's last sample
    for a, b in zip(by_frame, by_sample, strict=True):
        assert a.error is None and b.error is None
        np.testing.assert_array_equal(a.output, b.output)


def test_a_reset_drops_a_partial_frame_and_mixing_inside_a_frame_is_refused(streams):
    model = streams["c"]
    samples = np.random.default_rng(2).normal(size=(6, CHANNELS))
    frame = samples[:FRAME].reshape(1, -1)
    model.reset()
    fresh = list(stream_lines(model, io.StringIO(rows(frame))))
    model.reset()
    # two samples, a blank line (reset), then the whole frame: the same answer as a fresh start
    text = rows(samples[3:5]) + "\n" + rows(frame)
    after_reset = list(stream_lines(model, io.StringIO(text), reset_on_blank=True))
    np.testing.assert_array_equal(after_reset[-1].output, fresh[0].output)
    model.reset()
    mixed = list(stream_lines(model, io.StringIO(rows(samples[:1]) + rows(frame) + "1,2,3\n")))
    assert "a whole frame (6 values) while 1 of the 3 samples of a frame wait" in str(mixed[0].error)
    assert "expected 6 comma-separated values (a frame of 3 samples) or 2 (one sample), got 3" in str(
        mixed[1].error
    )
