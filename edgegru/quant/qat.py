"""Quantisation-aware training: fine-tune a float model through the integer contract.

Post-training quantisation rounds a model that never saw rounding; a small GRU carries
the error of its int8 weights, its int8 inputs and its rounded state through every step.
:func:`qat` fine-tunes the float model through the integer arithmetic itself: the forward
pass of :class:`~edgegru.quant.fake_quant.FakeQuantGRU` computes the integer reference's
logits bit for bit (per-row int8 weights, the calibrated int8 input, the table sigmoid and
tanh, the int16 or int8 state) and its backward pass is the float GRU's at the quantised
values (straight-through gradients). The result is quantised with
:func:`~edgegru.quant.quantize.quantize`, the normal path, so the file is bit-exact against
the C like any other; QAT only moves the float weights to where rounding costs least.

The input range is calibrated once, on the model as given, and used unchanged in
fine-tuning and in the final ``quantize``: the normalisation is not trained, so the int8
inputs seen in training are exactly those the device computes. Each epoch is scored with
the integer reference on the fine-tuning data, and the epoch with the lowest loss there is
kept (epoch 0 is the model as given, so QAT never returns a model that does worse on it).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset
from edgegru.data.frames import model_input
from edgegru.nn import float_reference as fref
from edgegru.nn.float_reference import last_valid
from edgegru.nn.model import Model
from edgegru.quant import integer_reference as iref
from edgegru.quant.calibrate import Ranges
from edgegru.quant.qmodel import QuantizedModel
from edgegru.quant.quantize import quantize, quantize_input

if TYPE_CHECKING:
    import torch


@dataclass
class QatConfig:
    """Fine-tuning settings; the CLI's ``--qat``, ``--qat-lr``, ``--qat-state-weight`` and
    ``--seed`` map onto them."""

    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    clip: float = 1.0  # max gradient norm, as in float training
    # Weight of the states' mean squared distance from the float model's: a typical mean error
    # of 0.01 squares to 1e-4, which at 1000 weighs 0.1, the order of a trained model's task
    # loss. Both pull, and the int8 model follows the float model's trajectory, not only its answers.
    state_weight: float = 1000.0

    def check(self) -> None:
        if self.epochs < 1:
            raise EdgeGruError(f"--qat {self.epochs}: expected a number of epochs >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise EdgeGruError(f"--qat-lr {self.lr}: expected a finite number > 0")
        if not (math.isfinite(self.state_weight) and self.state_weight >= 0):
            raise EdgeGruError(f"--qat-state-weight {self.state_weight}: expected a finite number >= 0")
        if self.batch_size < 1:
            raise EdgeGruError(f"batch size {self.batch_size}: expected >= 1")
        if not 0 <= self.seed < 2**32:
            raise EdgeGruError(f"--seed {self.seed}: expected 0 <= seed < 2^32")


@dataclass
class QatResult:
    """The fine-tuned float model, its quantised form, and the objective of the integer
    reference on the fine-tuning data after each epoch (``history[0]`` is the model as given).
    ``plain`` is the model as given, quantised (epoch 0): what ``quantize`` without QAT
    writes, so that a caller compares the two without quantising again."""

    model: Model
    quantized: QuantizedModel
    best_epoch: int
    plain: QuantizedModel
    history: list[float] = field(default_factory=list)


class Objective:
    """What fine-tuning minimises: the task loss of the integer model's outputs (cross-entropy
    of the real logits, or the mean squared error in units of the targets' spread) plus
    ``state_weight`` times the mean squared distance of its states (every layer, valid steps)
    from those of the float model as given, which the model is drawn back towards.

    The same function scores the training batches (torch, with gradients) and each epoch's
    quantised model (through the integer reference), so the kept epoch is the best by the
    measure that was trained.
    """

    def __init__(self, model: Model, ds: Dataset, state_weight: float) -> None:
        import torch

        self.classification = model.head.kind == "classification"
        if self.classification:
            self.y = torch.as_tensor(ds.y, dtype=torch.long)
        else:
            std = ds.y.astype(np.float64).std(axis=0)
            self.target_std = torch.as_tensor(np.where(std > 1e-8, std, 1.0))
            self.y = torch.as_tensor(ds.y, dtype=torch.float64) / self.target_std
        self.float_states = [torch.as_tensor(h) for h in fref.forward(model, ds.x).hidden]
        self.lengths = torch.as_tensor(ds.lengths)
        self.state_weight = state_weight

    def __call__(self, logits: torch.Tensor, states: list[torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        if self.classification:
            loss = F.cross_entropy(logits, self.y[idx])
        else:
            loss = F.mse_loss(logits / self.target_std, self.y[idx])
        if self.state_weight > 0:
            steps = states[0].shape[1]
            valid = (torch.arange(steps)[None, :] < self.lengths[idx, None])[..., None]
            for mine, target in zip(states, self.float_states, strict=True):
                diff = torch.where(valid, mine - target[idx, :steps], 0.0)
                loss = loss + self.state_weight * (diff**2).sum() / (valid.sum() * mine.shape[2])
        return loss

    def integer(self, qm: QuantizedModel, ds: Dataset) -> float:
        """The objective of ``qm`` on all of ``ds``, computed by the integer reference."""
        import torch

        trace = iref.run(qm, iref.quantize_input(qm.input, ds.x))
        logits = torch.as_tensor(last_valid(trace.logits, ds.lengths) * qm.head.logit_scale)
        full = 2.0 ** (qm.state_bits - 1)
        states = [torch.as_tensor(h / full) for h in trace.states]
        return float(self(logits, states, torch.arange(ds.n)))


def check_data(model: Model, ds: Dataset) -> None:
    """Refuse data the model cannot be fine-tuned on, naming what differs."""
    if model.head is None:
        raise EdgeGruError("--qat: the model has no head, so there is no loss to fine-tune on")
    if ds.task != model.head.kind:
        raise EdgeGruError(f"data is a {ds.task} task, the model's head does {model.head.kind}")
    if ds.output_size != model.head.weight.shape[0]:
        raise EdgeGruError(
            f"data has {ds.output_size} outputs, the model's head {model.head.weight.shape[0]}"
        )


def qat(
    model: Model,
    ds: Dataset,
    ranges: Ranges,
    state_bits: int = 16,
    config: QatConfig | None = None,
    progress: bool = False,
) -> QatResult:
    """Fine-tune ``model`` on ``ds`` (its samples, or already the model's frames) through the
    integer contract and quantise it.

    ``ranges`` is the calibration of the model as given (:func:`~edgegru.quant.calibrate`);
    it fixes the int8 input during fine-tuning and in the final ``quantize``.
    """
    import torch

    from edgegru.nn.train import Batches, seed_everything, train_epoch
    from edgegru.quant.fake_quant import FakeQuantGRU

    config = config or QatConfig()
    config.check()
    model.validate()
    check_data(model, ds)
    ds = model_input(ds, model.frame, model.input_size)
    seed_everything(config.seed)
    inq = quantize_input(model, ranges.input_lo, ranges.input_hi)
    xq = torch.as_tensor(iref.quantize_input(inq, ds.x))  # the int8 inputs the device computes
    lengths = torch.as_tensor(ds.lengths)
    objective = Objective(model, ds, config.state_weight)
    net = FakeQuantGRU(model, state_bits, inq)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best = plain = quantize(model, ranges, state_bits)
    best_model, best_epoch = model, 0
    history = [objective.integer(best, ds)]
    log_every = -(-config.epochs // 10)
    for epoch in range(1, config.epochs + 1):
        train_epoch(
            net,
            optimiser,
            Batches(ds.n, config.batch_size, generator),
            config.clip,
            lambda idx: objective(*net(xq[idx], lengths[idx]), idx),
        )
        tuned = net.to_model(model)
        qm = quantize(tuned, ranges, state_bits)
        history.append(objective.integer(qm, ds))
        if history[-1] < history[best_epoch]:
            best, best_model, best_epoch = qm, tuned, epoch
        if progress and (epoch % log_every == 0 or epoch == config.epochs):
            print(
                f"qat: epoch {epoch}/{config.epochs} int8 objective {history[-1]:.4g} "
                f"(start {history[0]:.4g}, best {history[best_epoch]:.4g} at epoch {best_epoch})",
                file=sys.stderr,
                flush=True,
            )
    record = {
        "epochs": config.epochs,
        "lr": config.lr,
        "state_weight": config.state_weight,
        "seed": config.seed,
        "kept_epoch": best_epoch,
    }
    best_model = dataclasses.replace(best_model, metadata={**best_model.metadata, "qat": record})
    # a new metadata dict: when epoch 0 is kept, best is plain, which must not say it was tuned
    best = dataclasses.replace(best, metadata={**best.metadata, "source_model": best_model.metadata})
    return QatResult(best_model, best, best_epoch, plain, history)
