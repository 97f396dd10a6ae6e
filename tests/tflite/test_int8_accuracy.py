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


@pytest.mark.parametrize("kind", ["step", "sequence"])
def test_export_int8_prints_float_and_int8_scores_on_the_test_set(tmp_path, capsys, kind):
    """The CLI's line carries the scores the API computes for the file it wrote."""
    from edgegru.cli.main import main
    from edgegru.data import builtin_dataset

    test = builtin_dataset("gestures", 15, 1000)  # what --builtin --samples 60 tests on
    classes = len(test.class_names)
    model = random_model(test.input_size, [8], "reset_after", "classification", output_size=classes, seed=4)
    model.save(tmp_path / "m.egru")
    out = tmp_path / "m.tflite"
    args = ["export", str(tmp_path / "m.egru"), "--target", "tflite", "--dtype", "int8", "--kind", kind]
    steps = ["--steps", str(test.x.shape[1])] if kind == "sequence" else []
    assert main([*args, *steps, "--builtin", "gestures", "--samples", "60", "-o", str(out)]) == 0
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("test accuracy")]
    calib = builtin_dataset("gestures", 60, 0).x
    int8 = evaluate_tflite(out, test) if kind == "step" else evaluate_export(model, test, "int8", calib)
    assert line == [f"test accuracy: float {100 * evaluate(model, test):.1f}%, int8 {100 * int8:.1f}%"]
