"""Training: reproducible, never trained on padding, refit on every case, says what it did,
and the figures on real data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.data import builtin_dataset, forecast_windows, load_series
from edgegru.data.dataset import Dataset
from edgegru.data.frames import frame_dataset
from edgegru.nn.evaluate import evaluate
from edgegru.nn.train import STOP_MAX_EPOCHS, STOP_PATIENCE, TrainConfig, channel_stats, train
from edgegru.quant import calibrate, quantize
from tests.helpers import assert_same_model, train_uea


def _small(variant: str) -> TrainConfig:
    return TrainConfig(hidden=6, epochs=3, batch_size=16, variant=variant, seed=3)


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_same_seed_same_model(variant):
    ds = builtin_dataset("gestures", 64, seed=0)
    a = train(ds, _small(variant), progress=False).model
    b = train(ds, _small(variant), progress=False).model
    assert_same_model(a, b)


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_padding_is_never_seen(variant):
    """More padding changes nothing: padded steps (non-zero once normalised) are masked out."""
    ds = builtin_dataset("gestures", 48, seed=1)
    longer = np.concatenate([ds.x, np.zeros((ds.n, 30, ds.input_size), ds.x.dtype)], axis=1)
    padded = Dataset(longer, ds.lengths, ds.y, ds.task, ds.class_names, ds.source)
    a = train(ds, _small(variant), progress=False).model
    b = train(padded, _small(variant), progress=False).model
    if variant == "reset_after":  # packed sequences: padding is never computed
        np.testing.assert_array_equal(a.layers[0].w_x, b.layers[0].w_x)
    else:
        # reset_before projects all T steps with one matrix product, whose float32 blocking
        # (hence its last bit) depends on T: 3e-8 was seen. Padding reaching the loss would
        # move the weights by orders of magnitude more than 1e-6.
        np.testing.assert_allclose(a.layers[0].w_x, b.layers[0].w_x, rtol=0, atol=1e-6)


def test_refit_trains_on_every_case():
    """After the split chose the epoch count, the model is trained again on all the cases: its
    normalisation is the whole training set's, not the 80% the first pass saw."""
    ds = builtin_dataset("gestures", 40, seed=2)
    refit = train(ds, TrainConfig(hidden=4, epochs=4, seed=0, val_fraction=0.2), progress=False)
    split = train(ds, TrainConfig(hidden=4, epochs=4, seed=0, val_fraction=0.2, refit=False), progress=False)
    assert refit.model.frame == 2  # up to 79 samples: frames of 2 make them at most 64 steps
    mean = channel_stats(frame_dataset(ds, 2))[0].astype(np.float32)
    np.testing.assert_array_equal(refit.model.normalisation.mean, mean)
    assert not np.array_equal(split.model.normalisation.mean, mean)
    assert (refit.refit_cases, split.refit_cases) == (40, 0)
    assert refit.model.metadata["training"]["refit_cases"] == 40
    assert refit.best_epoch == split.best_epoch  # the same first pass chose the count
    # a validation set passed in is not training data held back: nothing to refit on
    given = train(ds, TrainConfig(hidden=4, epochs=2, seed=0), validation=ds, progress=False)
    assert given.refit_cases == 0


@pytest.mark.parametrize(("epochs", "patience", "reason"), [(3, 20, STOP_MAX_EPOCHS), (60, 2, STOP_PATIENCE)])
def test_training_says_what_it_did(epochs, patience, reason):
    """The restored epoch is the one with the lowest validation loss, the stop reason matches
    the history, and the model's metadata keeps the same record."""
    ds = builtin_dataset("gestures", 48, seed=0)
    # a high rate makes the validation loss wander, so that patience can run out
    config = TrainConfig(
        hidden=4, epochs=epochs, patience=patience, seed=0, refit=False, lr=0.1, val_fraction=0.2
    )
    result = train(ds, config, progress=False)
    losses = [row["val_loss"] for row in result.history]
    assert result.stop_reason == reason
    assert result.best_epoch == 1 + int(np.argmin(losses))
    ran = epochs if reason == STOP_MAX_EPOCHS else result.best_epoch + patience
    assert len(losses) == ran == result.metrics["epochs_run"]
    assert result.seconds > 0
    done = result.model.metadata["training"]
    recorded = (done["restored_epoch"], done["epochs_run"], done["stop_reason"])
    assert recorded == (result.best_epoch, ran, reason)
    assert f"restored epoch {result.best_epoch} of {ran} (stopped: {reason})" in result.summary()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"jitter": -0.1}, "--jitter -0.1: expected a finite number >= 0"),
        ({"time_warp": float("nan")}, "--time-warp nan: expected a finite number >= 0"),
        ({"crop": 1.0}, "--crop 1.0: expected 0 <= c < 1 (a share of the sequence)"),
        ({"crop": -0.1}, "--crop -0.1: expected a finite number >= 0"),
        ({"weight_decay": float("inf")}, "--weight-decay inf: expected a finite number >= 0"),
        ({"label_smoothing": 1.0}, "--label-smoothing 1.0: expected 0 <= s < 1"),
        ({"lr": -0.1}, "--lr -0.1: expected a finite number > 0"),
        ({"dropout": 1.0}, "--dropout 1.0: expected 0 <= d < 1 (a share of the units)"),
        ({"dropout": float("nan")}, "--dropout nan: expected 0 <= d < 1 (a share of the units)"),
        ({"schedule": "step"}, "--schedule step: expected one of cosine, constant"),
        ({"warmup": -1}, "--warmup -1: expected >= 0"),
    ],
)
def test_bad_settings_are_named_as_flags(change, message):
    with pytest.raises(EdgeGruError, match="^" + re.escape(message)):
        TrainConfig(**change).check()


@pytest.mark.parametrize(("task", "rate"), [("gestures", 1e-2), ("adding", 3e-3), ("gestures", 0.02)])
def test_automatic_rate_depends_on_the_task_and_the_model_records_it(task, rate):
    """Without --lr, classification trains at 1e-2 and regression at 3e-3 (docs/accuracy.md
    measured both); a rate given is used as it is. The model records the rate it was
    trained at, not 'automatic', so its metadata says how to train it again."""
    ds = builtin_dataset(task, 32, seed=0)
    config = TrainConfig(hidden=4, epochs=1, batch_size=16, lr=0.02 if rate == 0.02 else None)
    recorded = train(ds, config, progress=False).model.metadata["train_config"]
    assert recorded["lr"] == rate
    assert config.learning_rate(ds.task) == rate


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_dropout_acts_in_training_only(variant):
    """In training mode the head sees a random share of its inputs zeroed (two passes
    differ); in evaluation mode the network is exactly the same one without dropout, so the
    exported model, and what a device computes, carry no trace of it."""
    import torch

    from edgegru.nn.torch_bridge import TorchGRU

    torch.manual_seed(0)
    args = (3, [8], variant, 2, np.zeros(3), np.ones(3))
    net, plain = TorchGRU(*args, dropout=0.5), TorchGRU(*args)
    plain.load_state_dict(net.state_dict())
    x, lengths = torch.randn(6, 5, 3), torch.tensor([5, 4, 5, 2, 3, 5])
    net.train()
    assert not torch.equal(net(x, lengths), net(x, lengths))
    net.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.equal(net(x, lengths), plain(x, lengths))
    assert_same_model(
        net.to_model("classification", ["a", "b"]), plain.to_model("classification", ["a", "b"])
    )


def test_regression_beats_the_mean_on_the_adding_problem():
    ds = builtin_dataset("adding", 600, seed=0)
    test = builtin_dataset("adding", 200, seed=1)
    config = TrainConfig(hidden=16, epochs=25, lr=1e-2, batch_size=32, seed=0)
    model = train(ds, config, progress=False).model
    baseline = float(np.sqrt(np.mean((test.y - ds.y.mean()) ** 2)))
    assert evaluate(model, test) < 0.5 * baseline


@pytest.mark.shared_data
@pytest.mark.slow
def test_basic_motions(basic_motions):
    """A 1-layer GRU with 32 units: >= 95% test accuracy, int8 within 1 point of float."""
    tr, te, model = basic_motions
    float_acc = evaluate(model, te)
    assert float_acc >= 0.95
    for bits in (16, 8):
        qm = quantize(model, calibrate(model, tr.x, tr.lengths, "percentile", 99.9), bits)
        assert evaluate(qm, te) >= float_acc - 0.01


@pytest.mark.shared_data
@pytest.mark.slow
def test_pickup_gesture_reports_accuracy(shared):
    """No bar yet: the run must work on variable lengths 29..361 and beat chance (10%)."""
    _, te, model = train_uea(shared, "PickupGestureWiimoteZ")
    acc = evaluate(model, te)
    print(f"PickupGestureWiimoteZ test accuracy {acc:.3f}")
    assert acc > 0.2


@pytest.mark.shared_data
@pytest.mark.slow
def test_sunspots_beat_persistence(shared):
    series = load_series(shared / "sunspots_monthly.dat")
    windows = forecast_windows(series, 24)
    n_test = round(0.2 * len(series))
    idx = np.arange(windows.n)
    tr, te = windows.subset(idx[:-n_test]), windows.subset(idx[-n_test:])
    persistence = float(np.sqrt(np.mean((te.x[:, -1, 0] - te.y[:, 0]) ** 2)))
    config = TrainConfig(hidden=32, epochs=60, lr=5e-3, batch_size=64, seed=0)
    model = train(tr, config, progress=False).model
    rmse = evaluate(model, te)
    print(f"sunspots RMSE {rmse:.3f} vs persistence {persistence:.3f}")
    assert rmse < persistence
    qm = quantize(model, calibrate(model, tr.x, tr.lengths, "percentile", 99.9))
    assert evaluate(qm, te) < persistence


def test_forecast_gain_augments_forecast_windows_only():
    """One gain on a window and its target is a true pair only for a forecast (the target is
    the series' next sample): it changes training there, and nothing elsewhere."""
    import dataclasses

    series = 60 + 50 * np.sin(np.arange(300) / 7.0)
    ds = forecast_windows(series, 12)
    assert ds.forecast and ds.subset([0, 1]).forecast
    settings = {"hidden": 4, "epochs": 3, "seed": 0}
    without = train(ds, TrainConfig(**settings, forecast_gain=0.0), progress=False).model
    augmented = train(ds, TrainConfig(**settings), progress=False).model
    assert not np.array_equal(without.layers[0].w_x, augmented.layers[0].w_x)
    unmarked = dataclasses.replace(ds, forecast=False)  # the same windows, not said to be a forecast
    plain = train(unmarked, TrainConfig(**settings), progress=False).model
    np.testing.assert_array_equal(plain.layers[0].w_x, without.layers[0].w_x)


def test_augmentation_distorts_samples_before_framing():
    """A gain is a property of the signal: with frames of 3, a sequence's 3 copies of its
    channel in every frame get the one gain its samples got, not 3 different ones."""
    from edgegru.nn.augment import Augmentation
    from edgegru.nn.train import _Cases, _epoch_data, _Task

    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 2.0, (6, 12, 1)).astype(np.float32)
    ds = Dataset(x, np.full(6, 12), np.arange(6) % 2, "classification", ["a", "b"], "test")
    cases = _Cases.of(ds, 3)
    mean, std = channel_stats(ds)
    x_aug, _ = _epoch_data(cases, _Task(cases.framed, 0.0), Augmentation(scale=0.5), 0.0, (mean, std), rng)
    assert x_aug.shape == (6, 4, 3)
    gains = (x_aug.numpy().astype(np.float64) - mean[0]) / (cases.framed.x - mean[0])
    per_case = gains.reshape(6, -1)
    np.testing.assert_allclose(per_case, per_case[:, :1].repeat(12, axis=1), rtol=1e-4)
    assert np.ptp(per_case[:, 0]) > 0.05  # and the cases do get different gains
