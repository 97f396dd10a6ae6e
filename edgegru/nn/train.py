"""Training: a :class:`Dataset` in, a float :class:`Model` out.

A sequence's output is read at its **last valid step** (the head is applied to
the last layer's state there), which is also what a streaming device reports
after the final sample. Everything else here is a training-time device that leaves
the deployed network's equations alone:

* AdamW with gradient-norm clipping (it is what keeps GRU training stable on long
  sequences) and weight decay, a warm-up then a cosine decay of the rate (nn/schedule.py);
* chrono initialisation of the update gates (nn/chrono.py), so that units start with
  memories as long as the sequences;
* augmentation of every epoch (nn/augment.py) and label smoothing, because the public
  training sets hold tens of cases, which a GRU memorises long before it generalises;
* early stopping on a stratified validation split, then (``refit``) training again from
  the same start on *all* the training cases for the epoch count that split chose: with
  40 cases, the 20% held out is too much data to leave unused;
* fixed seeds, so that the same command gives the same model.

A :class:`TrainResult` says what happened: the epoch restored, why training stopped and
how long it took; the model's metadata keeps the same record.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset
from edgegru.data.dataset import valid_mask
from edgegru.data.frames import auto_frame, frame_arrays, frame_dataset
from edgegru.data.limits import MAX_LABEL_CHARS
from edgegru.nn.augment import Augmentation
from edgegru.nn.chrono import chrono_init
from edgegru.nn.model import Model
from edgegru.nn.schedule import lr_factor
from edgegru.nn.torch_bridge import TorchGRU
from edgegru.nn.train_config import TrainConfig

STOP_PATIENCE = "patience"  # no better validation loss for `patience` epochs
STOP_MAX_EPOCHS = "max epochs"  # ran all `epochs`


@dataclass
class TrainResult:
    """The model, its scores, the per-epoch history, and what training did.

    ``best_epoch`` is the epoch whose weights were kept (1-based; with a refit, the epoch
    count the refit ran), ``stop_reason`` is :data:`STOP_PATIENCE` or
    :data:`STOP_MAX_EPOCHS`, ``refit_cases`` the cases the refit trained on (0: no refit).
    """

    model: Model
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stop_reason: str = STOP_MAX_EPOCHS
    seconds: float = 0.0
    refit_cases: int = 0

    def summary(self) -> str:
        """``restored epoch 37 of 57 (stopped: patience), refit on all 40 cases, 12.3 s``."""
        ran = int(self.metrics["epochs_run"])
        text = f"restored epoch {self.best_epoch} of {ran} (stopped: {self.stop_reason})"
        if self.refit_cases:
            text += f", then refit on all {self.refit_cases} cases for {self.best_epoch} epochs"
        return f"{text}, {self.seconds:.1f} s"


def seed_everything(seed: int) -> None:
    """Same seed, same model: seeds every generator and pins torch to one thread.

    Multi-threaded reductions may sum in a different order from run to run, so
    training runs single-threaded; the models edgegru targets are small enough.
    """
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def channel_stats(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per channel over valid steps only (padding excluded)."""
    values = ds.x[valid_mask(ds.lengths, ds.x.shape[1])].astype(np.float64)
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 1e-8, std, 1.0)


class _Task:
    """Loss, metric and target scaling for classification or regression."""

    def __init__(self, ds: Dataset, label_smoothing: float) -> None:
        self.classification = ds.task == "classification"
        if self.classification:
            self.loss: nn.Module = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
            self.target_mean = self.target_std = None
        else:
            self.loss = nn.MSELoss()
            y = ds.y.astype(np.float64)
            self.target_mean = y.mean(axis=0)
            std = y.std(axis=0)
            self.target_std = np.where(std > 1e-8, std, 1.0)

    def targets(self, ds: Dataset, gain: np.ndarray | None = None) -> torch.Tensor:
        """The loss's targets; a regression's scaled by its training spread, each case's first
        multiplied by ``gain`` (a forecast's augmentation)."""
        if self.classification:
            return torch.as_tensor(ds.y, dtype=torch.long)
        y = ds.y if gain is None else ds.y * gain[:, None]
        return torch.as_tensor((y - self.target_mean) / self.target_std, dtype=torch.float32)

    def metric_name(self) -> str:
        return "accuracy" if self.classification else "rmse"

    def metric(self, out: torch.Tensor, ds: Dataset) -> float:
        if self.classification:
            return float((out.argmax(dim=1).numpy() == ds.y).mean())
        pred = out.numpy() * self.target_std + self.target_mean
        return float(np.sqrt(np.mean((pred - ds.y) ** 2)))


@dataclass(frozen=True)
class _Cases:
    """Training cases twice: as samples, which augmentation distorts (a gain or a slower
    stroke is a property of the signal, not of the K·D values of a frame, whose K copies of
    a channel would otherwise get K different gains), and as frames, which the network takes."""

    samples: Dataset
    framed: Dataset
    frame: int

    @classmethod
    def of(cls, samples: Dataset, frame: int) -> _Cases:
        return cls(samples, frame_dataset(samples, frame), frame)


@dataclass
class Batches:
    """How an epoch visits ``n`` cases: shuffled by ``generator``, ``size`` at a time."""

    n: int
    size: int
    generator: torch.Generator


def train_epoch(
    net: nn.Module,
    optimiser: torch.optim.Optimizer,
    batches: Batches,
    clip: float,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """One epoch of gradient steps, one per batch of case indices (``batch_loss`` gives the
    batch's loss), the gradient norm clipped at ``clip`` (0: not clipped); the sum over
    batches of loss times batch size. Training and quantisation-aware fine-tuning share it."""
    net.train()
    order = torch.randperm(batches.n, generator=batches.generator)
    total = 0.0
    for start in range(0, batches.n, batches.size):
        idx = order[start : start + batches.size]
        optimiser.zero_grad()
        loss = batch_loss(idx)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimiser.step()
        total += float(loss.detach()) * len(idx)
    return total


def _epoch_data(
    cases: _Cases,
    task: _Task,
    augmentation: Augmentation,
    forecast_gain: float,
    stats: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch's inputs and targets: a new version of every case.

    A class survives noise, a gain or a slower stroke, so classification gets the
    augmentation. A forecast's target is the next sample of the very series being
    distorted, so it only gets what keeps the pair true: one gain on the window and its
    target, log-normal with std ``forecast_gain``, which shows the network amplitudes the
    training years lack (a sunspot cycle higher than any before). Other regression data are
    left alone. ``stats`` are the samples' channel means and stds: the augmentation works on
    samples, which are then framed.
    """
    ds = cases.framed
    if task.classification and augmentation.active:
        samples = cases.samples
        x = augmentation.apply(samples.x, samples.lengths, *stats, rng)
        return torch.as_tensor(frame_arrays(x, samples.lengths, cases.frame)[0]), task.targets(ds)
    if ds.forecast and forecast_gain > 0:
        gain = np.exp(rng.normal(0.0, forecast_gain, ds.n))
        return torch.as_tensor((ds.x * gain[:, None, None]).astype(np.float32)), task.targets(ds, gain)
    return torch.as_tensor(ds.x), task.targets(ds)


def _evaluate(net: TorchGRU, task: _Task, ds: Dataset) -> tuple[float, float]:
    net.eval()
    with torch.no_grad():
        out = net(torch.as_tensor(ds.x), torch.as_tensor(ds.lengths))
        loss = float(task.loss(out, task.targets(ds)))
    return loss, task.metric(out, ds)


@dataclass
class _Run:
    """One pass of the training loop: the network (at its kept weights) and what happened."""

    net: TorchGRU
    task: _Task
    history: list[dict[str, float]]
    best_epoch: int
    stop_reason: str


def _fit(
    cases: _Cases,
    watched: Dataset | None,
    config: TrainConfig,
    epochs: int,
    label: str,
    progress: bool,
) -> _Run:
    """Train a fresh network on ``cases`` for up to ``epochs`` epochs.

    With ``watched`` (the framed validation set, or ``cases.framed`` itself without one) the loop stops
    after ``patience`` epochs without a better loss there and restores the best epoch;
    without it (a refit) it runs all ``epochs`` and keeps the last weights. The history
    names the watched set's figures ``val_*``, or ``fit_*`` when it is the training cases
    (without augmentation), so that no log calls the training data validation.
    """
    ds = cases.framed
    side = "fit" if watched is ds else "val"
    seed_everything(config.seed)
    task = _Task(ds, config.label_smoothing)
    mean, std = channel_stats(ds)
    hidden = [config.hidden] * config.layers
    net = TorchGRU(ds.input_size, hidden, config.variant, ds.output_size, mean, std, config.dropout)
    generator = torch.Generator().manual_seed(config.seed)
    if config.chrono:
        chrono_init(net, int(ds.lengths.max()), generator)
    rate = config.learning_rate(ds.task)
    optimiser = torch.optim.AdamW(net.parameters(), lr=rate, weight_decay=config.weight_decay)
    augmentation = Augmentation(
        config.jitter, config.scale, config.magnitude_warp, config.time_warp, config.crop
    )
    sample_stats = channel_stats(cases.samples)  # augmentation's units: a sample's channels
    rng = np.random.default_rng(config.seed)
    len_all = torch.as_tensor(ds.lengths)
    best_loss, best_state, best_epoch, stale = float("inf"), None, epochs, 0
    stop_reason = STOP_MAX_EPOCHS
    history: list[dict[str, float]] = []
    # A bar on a terminal; in a log (CI, a pipe) its redraws would be one endless line, so
    # there about ten plain lines instead.
    interactive = sys.stderr.isatty()
    bar = tqdm(range(epochs), desc=label, unit="epoch", disable=not (progress and interactive))
    log_every = -(-epochs // 10)  # ceil: at most ten lines, and the last epoch
    for epoch in bar:
        # the rate follows the schedule of config.epochs even in a refit of fewer epochs, so
        # that the refit retraces the run that chose its epoch count
        for group in optimiser.param_groups:
            group["lr"] = rate * lr_factor(config.schedule, epoch, config.epochs, config.warmup)
        x_all, y_all = _epoch_data(cases, task, augmentation, config.forecast_gain, sample_stats, rng)
        total = train_epoch(
            net,
            optimiser,
            Batches(ds.n, config.batch_size, generator),
            config.clip,
            lambda idx, x=x_all, y=y_all: task.loss(net(x[idx], len_all[idx]), y[idx]),  # bound now
        )
        row = {"epoch": epoch + 1, "loss": total / ds.n}
        stopping = False
        if watched is not None:
            row[f"{side}_loss"], row[f"{side}_{task.metric_name()}"] = _evaluate(net, task, watched)
            if row[f"{side}_loss"] < best_loss - 1e-7:
                best_loss, best_epoch, stale = row[f"{side}_loss"], epoch + 1, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
            stopping = stale > 0 and stale >= config.patience
        history.append(row)
        shown = {k: f"{v:.4g}" for k, v in row.items() if k != "epoch"}
        bar.set_postfix(shown)
        if progress and not interactive and ((epoch + 1) % log_every == 0 or epoch + 1 == epochs or stopping):
            values = " ".join(f"{k}={v}" for k, v in shown.items())
            note = f" (no better {side}_loss for {stale} epochs: stop)" if stopping else ""
            print(f"{label}: epoch {epoch + 1}/{epochs} {values}{note}", file=sys.stderr, flush=True)
        if stopping:
            stop_reason = STOP_PATIENCE
            break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    return _Run(net, task, history, best_epoch, stop_reason)


def train(
    ds: Dataset,
    config: TrainConfig,
    validation: Dataset | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train on ``ds``; validate on ``validation`` or on a split of ``ds``.

    The refit (``config.refit``) applies to a split of ``ds`` only: a ``validation`` set
    given here is someone else's data, not training cases held back.
    """
    config.check()
    started = time.perf_counter()
    if validation is not None and validation.input_size != ds.input_size:
        raise EdgeGruError(
            f"validation data has {validation.input_size} channels, training data {ds.input_size}"
        )
    frame = config.frame or auto_frame(int(ds.lengths.max()), ds.input_size)
    everything = _Cases.of(ds, frame)
    if validation is not None:
        validation = frame_dataset(validation, frame)
    fraction = config.val_share(ds.task)
    split = validation is None and fraction > 0 and ds.n >= 4
    cases = everything
    if split:
        kept, held = ds.split(fraction, config.seed)
        cases, validation = _Cases.of(kept, frame), frame_dataset(held, frame)
    watched = validation if validation is not None else cases.framed
    chosen = _fit(cases, watched, config, config.epochs, "train", progress)
    name = chosen.task.metric_name()
    metrics: dict[str, float] = {"epochs_run": float(len(chosen.history))}
    if validation is not None:
        metrics["val_loss"], metrics[f"val_{name}"] = _evaluate(chosen.net, chosen.task, validation)
    final, refit_cases = chosen, 0
    if split and config.refit:
        final = _fit(everything, None, config, chosen.best_epoch, "refit", progress)
        cases, refit_cases = everything, everything.samples.n
    ds = cases.framed
    metrics["train_loss"], metrics[f"train_{name}"] = _evaluate(final.net, final.task, ds)
    seconds = time.perf_counter() - started
    done = {
        "restored_epoch": chosen.best_epoch,
        "epochs_run": len(chosen.history),
        "stop_reason": chosen.stop_reason,
        "refit_cases": refit_cases,
        "seconds": round(seconds, 1),
    }
    meta: dict[str, Any] = {
        "source": ds.source,
        "task": ds.task,
        "train_config": asdict(replace(config, lr=config.learning_rate(ds.task))),  # the rate used
        "train_metrics": metrics,
        "training": done,
        # how the output was read in training: from a reset state, after a sequence's last
        # step (lengths in steps, that is frames)
        "sequence": {
            "readout": "window",
            "min_length": int(ds.lengths.min()),
            "max_length": int(ds.lengths.max()),
        },
    }
    if everything.samples.channel_names is not None:
        # a sample's channels (a frame repeats them); cut as class labels are capped, so that
        # 512 names stay far inside the file's metadata cap
        meta["channel_names"] = [c[:MAX_LABEL_CHARS] for c in everything.samples.channel_names]
    model = final.net.to_model(
        "classification" if final.task.classification else "regression",
        ds.class_names,
        final.task.target_mean,
        final.task.target_std,
        meta,
        frame,
    )
    return TrainResult(
        model, metrics, chosen.history, chosen.best_epoch, chosen.stop_reason, seconds, refit_cases
    )
