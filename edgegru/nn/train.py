"""Training: a :class:`Dataset` in, a float :class:`Model` out.

A sequence's output is read at its **last valid step** (the head is applied to
the last layer's state there), which is also what a streaming device reports
after the final sample. Training uses Adam with gradient-norm clipping (on by
default: it is what keeps GRU training stable on long sequences), early stopping
on the validation loss, and fixed seeds so that the same command gives the same
model.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_SIZE
from edgegru.data import Dataset
from edgegru.data.dataset import valid_mask
from edgegru.data.limits import MAX_LABEL_CHARS
from edgegru.nn.model import VARIANTS, Model
from edgegru.nn.torch_bridge import TorchGRU


@dataclass
class TrainConfig:
    """Hyper-parameters; the CLI flags map one to one onto these fields."""

    hidden: int = 32
    layers: int = 1
    variant: str = "reset_after"
    epochs: int = 100
    lr: float = 1e-2
    batch_size: int = 32
    seed: int = 0
    clip: float = 1.0  # max gradient norm; 0 disables clipping
    patience: int = 20  # epochs without a better validation loss before stopping
    val_fraction: float = 0.2

    def check(self) -> None:
        if self.variant not in VARIANTS:
            raise EdgeGruError(f"--variant {self.variant}: expected one of {', '.join(VARIANTS)}")
        for name in ("hidden", "layers", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EdgeGruError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected >= 1")
        if self.hidden > MAX_SIZE:
            raise EdgeGruError(
                f"--hidden {self.hidden}: expected at most {MAX_SIZE} (the C generator's limit)"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise EdgeGruError(f"--lr {self.lr}: expected a finite number > 0")
        if not (math.isfinite(self.clip) and self.clip >= 0):
            raise EdgeGruError(f"--clip {self.clip}: expected a finite number >= 0 (0 disables clipping)")
        if self.patience < 0:
            raise EdgeGruError(f"--patience {self.patience}: expected >= 0")
        if not 0 <= self.seed < 2**32:
            raise EdgeGruError(f"--seed {self.seed}: expected 0 <= seed < 2^32")
        if not 0.0 <= self.val_fraction < 1.0:
            raise EdgeGruError(f"--val-fraction {self.val_fraction} (val_fraction): expected 0 <= f < 1")


@dataclass
class TrainResult:
    model: Model
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


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

    def __init__(self, ds: Dataset) -> None:
        self.classification = ds.task == "classification"
        if self.classification:
            self.loss = nn.CrossEntropyLoss()
            self.target_mean = self.target_std = None
        else:
            self.loss = nn.MSELoss()
            y = ds.y.astype(np.float64)
            self.target_mean = y.mean(axis=0)
            std = y.std(axis=0)
            self.target_std = np.where(std > 1e-8, std, 1.0)

    def targets(self, ds: Dataset) -> torch.Tensor:
        if self.classification:
            return torch.as_tensor(ds.y, dtype=torch.long)
        return torch.as_tensor((ds.y - self.target_mean) / self.target_std, dtype=torch.float32)

    def metric_name(self) -> str:
        return "accuracy" if self.classification else "rmse"

    def metric(self, out: torch.Tensor, ds: Dataset) -> float:
        if self.classification:
            return float((out.argmax(dim=1).numpy() == ds.y).mean())
        pred = out.numpy() * self.target_std + self.target_mean
        return float(np.sqrt(np.mean((pred - ds.y) ** 2)))


def _evaluate(net: TorchGRU, task: _Task, ds: Dataset) -> tuple[float, float]:
    net.eval()
    with torch.no_grad():
        out = net(torch.as_tensor(ds.x), torch.as_tensor(ds.lengths))
        loss = float(task.loss(out, task.targets(ds)))
    return loss, task.metric(out, ds)


def train(
    ds: Dataset,
    config: TrainConfig,
    validation: Dataset | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train on ``ds``; validate on ``validation`` or on a split of ``ds``."""
    config.check()
    seed_everything(config.seed)
    if validation is None and config.val_fraction > 0 and ds.n >= 4:
        ds, validation = ds.split(config.val_fraction, config.seed)
    if validation is not None and validation.input_size != ds.input_size:
        raise EdgeGruError(
            f"validation data has {validation.input_size} channels, training data {ds.input_size}"
        )
    task = _Task(ds)
    mean, std = channel_stats(ds)
    net = TorchGRU(ds.input_size, [config.hidden] * config.layers, config.variant, ds.output_size, mean, std)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    x_all, len_all, y_all = torch.as_tensor(ds.x), torch.as_tensor(ds.lengths), task.targets(ds)
    generator = torch.Generator().manual_seed(config.seed)
    best_loss, best_state, stale = float("inf"), None, 0
    history: list[dict[str, float]] = []
    # A bar on a terminal; in a log (CI, a pipe) its redraws would be one endless line, so
    # there about ten plain lines instead.
    interactive = sys.stderr.isatty()
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not (progress and interactive))
    log_every = -(-config.epochs // 10)  # ceil: at most ten lines, and the last epoch
    for epoch in bar:
        net.train()
        order = torch.randperm(ds.n, generator=generator)
        total = 0.0
        for start in range(0, ds.n, config.batch_size):
            idx = order[start : start + config.batch_size]
            optimiser.zero_grad()
            loss = task.loss(net(x_all[idx], len_all[idx]), y_all[idx])
            loss.backward()
            if config.clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), config.clip)
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch + 1, "loss": total / ds.n}
        watched = validation if validation is not None else ds
        row["val_loss"], row[f"val_{task.metric_name()}"] = _evaluate(net, task, watched)
        history.append(row)
        shown = {k: f"{v:.4g}" for k, v in row.items() if k != "epoch"}
        bar.set_postfix(shown)
        if row["val_loss"] < best_loss - 1e-7:
            best_loss, stale = row["val_loss"], 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        stopping = stale > 0 and stale >= config.patience
        last = epoch + 1 == config.epochs
        if progress and not interactive and ((epoch + 1) % log_every == 0 or last or stopping):
            values = " ".join(f"{k}={v}" for k, v in shown.items())
            note = f" (no better val_loss for {stale} epochs: stop)" if stopping else ""
            print(f"train: epoch {epoch + 1}/{config.epochs} {values}{note}", file=sys.stderr, flush=True)
        if stopping:
            break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    metrics: dict[str, float] = {"epochs_run": float(len(history))}
    metrics["train_loss"], metrics[f"train_{task.metric_name()}"] = _evaluate(net, task, ds)
    if validation is not None:
        metrics["val_loss"], metrics[f"val_{task.metric_name()}"] = _evaluate(net, task, validation)
    meta: dict[str, Any] = {
        "source": ds.source,
        "task": ds.task,
        "train_config": asdict(config),
        "train_metrics": metrics,
        # how the output was read in training: from a reset state, after a sequence's last step
        "sequence": {
            "readout": "window",
            "min_length": int(ds.lengths.min()),
            "max_length": int(ds.lengths.max()),
        },
    }
    if ds.channel_names is not None:
        # cut as class labels are capped, so that 512 names stay far inside the file's metadata cap
        meta["channel_names"] = [name[:MAX_LABEL_CHARS] for name in ds.channel_names]
    model = net.to_model(
        "classification" if task.classification else "regression",
        ds.class_names,
        task.target_mean,
        task.target_std,
        meta,
    )
    return TrainResult(model, metrics, history)
