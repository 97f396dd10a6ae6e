"""Scoring a .tflite model on a dataset with LiteRT (edgegru.tflite.evaluate)."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.nn.evaluate import evaluate
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.tflite.evaluate import TflitePredictor, evaluate_export, evaluate_tflite
from edgegru.tflite.exporter import export_tflite


def test_predictor_reads_each_sequence_at_its_last_step_from_a_zero_state(tmp_path):
    """A float32 step model through LiteRT gives the float reference's per-sequence output,
    for sequences of different lengths (so a state carried over, or a step read past the
    end, would show)."""
    norm = Normalisation(np.array([0.5, -1, 2], np.float32), np.array([2, 0.5, 3], np.float32))
    model = random_model(3, [7, 5], "reset_before", "regression", output_size=2, seed=3, normalisation=norm)
    path = tmp_path / "m.tflite"
    export_tflite(model, path, quiet=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9, 3))
    lengths = np.array([9, 1, 4, 9, 2, 7])
    got = TflitePredictor(path).predict(x, lengths)
    np.testing.assert_allclose(got, model.predict(x, lengths), atol=1e-4)
    assert not np.allclose(got, model.predict(x), atol=1e-4)  # the lengths mattered


def test_int8_tflite_accuracy_on_basic_motions(basic_motions, tmp_path):
    train, test, model = basic_motions
    float_score = evaluate(model, test)
    f32, i8 = tmp_path / "f32.tflite", tmp_path / "i8.tflite"
    export_tflite(model, f32, quiet=True)
    export_tflite(model, i8, dtype="int8", calibration=train.x, quiet=True)
    assert evaluate_tflite(f32, test) == float_score
    int8_score = evaluate_tflite(i8, test)
    assert int8_score >= float_score - 0.05
    # The sequence kind is scored through its step twin, calibrated the same way.
    assert evaluate_export(model, test, "int8", train.x) == int8_score


def test_a_model_without_head_is_refused(tmp_path):
    path = tmp_path / "h.tflite"
    export_tflite(random_model(2, [4], "reset_after"), path, quiet=True)
    with pytest.raises(EdgeGruError, match="has no head"):
        TflitePredictor(path)
