"""The report's figures, each checked against a computation of its own."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.nn.float_reference import forward
from edgegru.quant import integer_reference as iref
from edgegru.report.agreement import predictions, run_all
from edgegru.report.calibration import channel_ranges
from edgegru.report.scores import class_scores, confusion_matrix
from edgegru.report.state_error import state_error
from edgegru.targets.host import verify_host
from edgegru.targets.verify import expected


def test_confusion_matrix_and_class_scores_count_cases():
    rng = np.random.default_rng(3)
    truth, guess = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    guess[guess == 3] = 0  # class 3 is never predicted: its precision is undefined
    matrix = confusion_matrix(truth, guess, 4)
    for i in range(4):
        for j in range(4):
            assert matrix[i, j] == np.sum((truth == i) & (guess == j))
    scores = class_scores(matrix, list("abcd"))
    for i, s in enumerate(scores[:3]):
        hits = np.sum((truth == i) & (guess == i))
        assert s.precision == pytest.approx(hits / np.sum(guess == i))
        assert s.recall == pytest.approx(hits / np.sum(truth == i))
        assert s.f1 == pytest.approx(2 * s.precision * s.recall / (s.precision + s.recall))
    assert scores[3].precision is None and scores[3].recall == 0.0 and scores[3].f1 is None


@pytest.mark.parametrize("head", ["classification", "regression", None])
def test_predictions_from_harness_records_match_the_reference(make_case, head):
    qm, _, data = make_case(head, ["a", "b", "c"] if head == "classification" else None)
    _, outputs = expected(qm, data.x)
    assert np.array_equal(predictions(qm, outputs, data.lengths), qm.predict(data.x, data.lengths))


def test_runs_compare_the_c_with_the_reference(make_case):
    qm, model, data = make_case("classification", ["a", "b", "c"], state_bits=8)
    runs = run_all(qm, data, model)
    again = verify_host(qm, data.x)
    assert runs.verify is not None and runs.verify.ok
    assert (runs.verify.states_compared, runs.verify.outputs_compared) == (
        again.states_compared,
        again.outputs_compared,
    )
    assert np.array_equal(runs.c_predictions, qm.predict(data.x, data.lengths))
    assert np.array_equal(runs.float_predictions, model.predict(data.x, data.lengths))
    pairs = {(c.first, c.second): c.value for c in runs.comparisons(classification=True)}
    assert pairs[("int8 reference", "generated C")] == 1.0
    share = np.mean(runs.float_predictions == runs.reference)
    assert pairs[("float", "int8 reference")] == share


def test_state_error_per_step_over_valid_steps_only(make_case):
    qm, model, data = make_case("regression", state_bits=8)
    trace = iref.run(qm, iref.quantize_input(qm.input, data.x))
    floats = forward(model, data.x).hidden
    error = state_error(trace.states, floats, 8, data.lengths)
    for t in (0, 10, int(data.lengths.max()) - 1):
        alive = data.lengths > t
        diffs = np.concatenate(
            [
                np.abs(s[alive, t] / 128.0 - f[alive, t]).ravel()
                for s, f in zip(trace.states, floats, strict=True)
            ]
        )
        assert error.mean[t] == pytest.approx(diffs.mean())
        assert error.max[t] == pytest.approx(diffs.max())
    assert np.all(np.isnan(error.mean[data.lengths.max() :]))
    assert 0 < error.overall_mean < error.overall_max <= np.nanmax(error.max)


def test_clipped_values_are_those_int8_cannot_hold(make_case):
    """A value is clipped exactly when quantising it loses more than half an int8 step."""
    qm, _, data = make_case("classification", ["a", "b"])
    channels = channel_ranges(qm.input, data)
    valid = np.arange(data.x.shape[1])[None, :] < data.lengths[:, None]
    values = data.x[valid]
    q = iref.quantize_input(qm.input, values)
    back = (q - qm.input.offset.astype(np.float64)) / qm.input.scale_mul
    lost = np.abs(back - values) > 0.5001 / qm.input.scale_mul
    for d, channel in enumerate(channels):
        assert channel.clipped == pytest.approx(lost[:, d].mean())
        assert 0 < channel.clipped < 0.1  # the 99th-percentile calibration clips a little
        assert channel.int8_lo == pytest.approx(back[q[:, d] == -128, d].max(), rel=1e-5)
        assert (channel.data_lo, channel.data_hi) == (values[:, d].min(), values[:, d].max())
