"""Frames (edgegru/data/frames.py): K samples per GRU step, recorded by every model format and
applied wherever data meet a model."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset
from edgegru.data.frames import auto_frame, frame_dataset, model_input
from edgegru.nn.evaluate import evaluate
from edgegru.nn.model import Model
from edgegru.nn.synthetic import random_model
from edgegru.onnx.exporter import export_onnx
from edgegru.onnx.importer import import_onnx
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.host import verify_host
from edgegru.tflite.stream import StreamingModel
from tests.helpers import rewrite_meta


def samples(lengths: list[int], channels: int = 2, t_max: int = 7) -> Dataset:
    """Sequences whose sample t of channel c holds 10 t + c + 1 (never 0), so that every
    value says where it came from."""
    x = np.zeros((len(lengths), t_max, channels), np.float32)
    for i, length in enumerate(lengths):
        t = np.arange(length)[:, None]
        x[i, :length] = 10 * t + np.arange(channels)[None, :] + 1
    return Dataset(
        x, np.array(lengths), np.arange(len(lengths)) % 2, "classification", ["a", "b"], "s.npz", ["u", "v"]
    )


def test_frames_are_sample_major_and_complete_the_last_frame_with_the_last_sample():
    framed = frame_dataset(samples([7, 4, 1]), 3)
    assert framed.x.shape == (3, 3, 6) and framed.lengths.tolist() == [3, 2, 1]
    # sequence 0: samples 0,1,2 | 3,4,5 | 6 then 6 twice more
    assert framed.x[0, 0].tolist() == [1, 2, 11, 12, 21, 22]
    assert framed.x[0, 2].tolist() == [61, 62, 61, 62, 61, 62]
    # sequence 1 (4 samples): its second frame is sample 3 three times; after it, zeros
    assert framed.x[1, 1].tolist() == [31, 32, 31, 32, 31, 32]
    assert not framed.x[1, 2].any() and not framed.x[2, 1:].any()
    assert framed.channel_names == ["u[0]", "v[0]", "u[1]", "v[1]", "u[2]", "v[2]"]
    one = samples([7])
    assert frame_dataset(one, 1) is one


@pytest.mark.parametrize(
    ("length", "channels", "frame"),
    [(24, 1, 1), (64, 1, 1), (65, 1, 2), (100, 6, 2), (150, 1, 4), (251, 1, 4), (427, 1, 8), (5000, 1, 8),
     (300, 200, 2), (300, 300, 1)],
)  # fmt: skip
def test_automatic_frame(length, channels, frame):
    """The fewest samples (a power of two up to 8) making sequences at most 64 steps, within the
    generator's 512 inputs."""
    assert auto_frame(length, channels) == frame


def test_model_input_frames_samples_and_refuses_other_channel_counts():
    ds = samples([7, 5])
    assert model_input(ds, 2, 4).x.shape == (2, 4, 4)
    assert model_input(model_input(ds, 2, 4), 2, 4).x.shape == (2, 4, 4)  # frames stay frames
    with pytest.raises(
        EdgeGruError, match=r"s.npz: 2 channels, the model takes 6 inputs per step \(frames of 2"
    ):
        model_input(ds, 2, 6)
    with pytest.raises(EdgeGruError, match=r"--frame 0: expected 1\.\.64"):
        frame_dataset(ds, 0)
    with pytest.raises(EdgeGruError, match="are 520 inputs, the C generator takes at most 512"):
        frame_dataset(dataclasses.replace(ds, x=np.zeros((2, 7, 10), np.float32), channel_names=None), 52)


def framed_model(seed: int = 0) -> Model:
    model = random_model(6, [5], "reset_before", "classification", output_size=2, seed=seed)
    return dataclasses.replace(model, frame=3)


def test_float_and_quantised_files_keep_the_frame(tmp_path):
    model = framed_model()
    model.save(tmp_path / "m.egru")
    assert Model.load(tmp_path / "m.egru").frame == 3
    assert "6 (frames of 3 x 2) -> GRU(5)" in model.describe()
    qm = quantize(model, calibrate(model, samples([7, 6]).x))
    assert qm.frame == 3
    qm.save(tmp_path / "q.egru")
    assert QuantizedModel.load(tmp_path / "q.egru").frame == 3


def test_files_from_before_frames_hold_frames_of_one_sample(tmp_path):
    model = random_model(2, [4], "reset_after", "classification", output_size=2)
    model.save(tmp_path / "m.egru")
    rewrite_meta(tmp_path / "m.egru", remove=("frame",), format_version=1)
    assert Model.load(tmp_path / "m.egru").frame == 1
    quantize(model, calibrate(model, samples([7]).x)).save(tmp_path / "q.egru")
    rewrite_meta(tmp_path / "q.egru", remove=("frame",), format_version=2)
    assert QuantizedModel.load(tmp_path / "q.egru").frame == 1


@pytest.mark.parametrize(("frame", "expected"), [(4, "frame 4: does not divide input_size 6"),
                                                 (0, r"frame 0: expected an integer in \[1, 64\]"),
                                                 ("3", "frame '3'"), (True, "frame True")])  # fmt: skip
def test_a_file_with_a_bad_frame_is_refused(tmp_path, frame, expected):
    model = framed_model()
    model.save(tmp_path / "m.egru")
    rewrite_meta(tmp_path / "m.egru", frame=frame)
    with pytest.raises(EdgeGruError, match=expected):
        Model.load(tmp_path / "m.egru")
    quantize(model, calibrate(model, samples([7]).x)).save(tmp_path / "q.egru")
    rewrite_meta(tmp_path / "q.egru", frame=frame)
    with pytest.raises(EdgeGruError, match=expected):
        QuantizedModel.load(tmp_path / "q.egru")


def test_scores_and_calibration_group_samples_into_frames():
    model = framed_model()
    raw = samples([7, 6, 5, 2])
    frames = frame_dataset(raw, 3)
    assert evaluate(model, raw) == evaluate(model, frames)
    assert calibrate(model, raw.x, raw.lengths) == calibrate(model, frames.x, frames.lengths)
    qm = quantize(model, calibrate(model, raw.x, raw.lengths))
    assert evaluate(qm, raw) == evaluate(qm, frames)
    report = verify_host(qm, frames.x.astype(np.float32))  # the C steps on frames
    assert report.ok, report.summary()


def test_tflite_and_onnx_keep_the_frame(tmp_path):
    from edgegru.tflite.exporter import export_tflite

    model = framed_model()
    export_tflite(model, tmp_path / "m.tflite", kind="step")
    assert StreamingModel(tmp_path / "m.tflite").frame == 3
    export_onnx(model, tmp_path / "m.onnx")
    assert import_onnx(tmp_path / "m.onnx").frame == 3
    proto = onnx.load(tmp_path / "m.onnx")
    for prop in proto.metadata_props:
        if prop.key == "edgegru.frame":
            prop.value = "3; system()"
    onnx.save(proto, tmp_path / "bad.onnx")
    with pytest.raises(EdgeGruError, match=r"metadata edgegru\.frame '3; system\(\)': expected a whole"):
        import_onnx(tmp_path / "bad.onnx")
