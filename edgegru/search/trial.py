"""One trial: cross-validate the candidate, then train, quantise and measure its deployed model.

The score is pooled over K folds of the training data (:mod:`edgegru.search.folds`): for
each fold, the candidate is trained with the recipe of ``edgegru train`` on the other folds,
quantised as ``edgegru quantize`` does, and its int8 model predicts the held-out fold; the
objective is the accuracy (RMSE) over all those out-of-fold predictions, so every training
case counts once and the test set never chooses a model (its score is recorded beside).

The trial's model is then the same configuration trained on all the training data (what
``edgegru train`` would deploy) and quantised. Every figure a budget is checked against is
measured on it: flash and RAM by compiling its generated C with arm-none-eabi-gcc for the
core (:func:`~edgegru.targets.cortex_m.footprint.measure_footprint`), instructions per step
by running its firmware under unicorn
(:func:`~edgegru.targets.cortex_m.instructions.count_step_instructions`). Nothing is
estimated from a formula, except the latency the budgets derive from the count.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE
from edgegru.search.budgets import Budgets, Figures
from edgegru.search.folds import fold_indices
from edgegru.search.space import Candidate
from edgegru.targets.cortex_m.footprint import Sizes

if TYPE_CHECKING:
    from edgegru.data import Dataset
    from edgegru.nn.model import Model
    from edgegru.nn.train import TrainConfig, TrainResult
    from edgegru.quant.qmodel import QuantizedModel
    from edgegru.targets.cortex_m.footprint import Footprint


@dataclass(frozen=True)
class TrialSizes(Sizes):
    """A trial's footprint sizes, the base of both outcomes, which record them alike."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (Optuna user attributes), flash and RAM spelled out for the tables."""
        return {**asdict(self), "flash": self.flash, "ram": self.ram}


@dataclass(frozen=True)
class Deployed(TrialSizes):
    """What the deployed model (the candidate trained on all the training data) measures."""

    test_score: float | None  # int8 model on the test set, shown but never used to choose
    instructions: float
    latency_us: float | None  # an ESTIMATE: see edgegru.search.budgets
    epochs_run: int
    model_hash: str  # the int8 model's fingerprint: a rerun of the candidate must give it again

    @property
    def figures(self) -> Figures:
        return Figures(self.flash, self.ram, self.instructions, self.latency_us)


@dataclass(frozen=True)
class Measurement(Deployed):
    """What a trial measured: its cross-validated scores and its deployed model's figures.
    JSON-ready (Optuna user attributes) and small enough to come back from a Ray task."""

    metric: str  # "accuracy" or "rmse"
    val_score: float  # pooled over every out-of-fold int8 prediction: the objective
    val_loss: float  # the fold models' float loss, pooled likewise: breaks ties between equal scores
    fold_scores: list[float]  # each fold's int8 score, in fold order
    seconds: float
    worker: str  # host:pid that trained and measured it (a Ray worker, or this process)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Measurement:
        """The measurement a trial recorded (its user attributes, which hold more)."""
        return cls(**{f.name: attrs[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class OverBudget(TrialSizes):
    """A candidate whose shape alone is over the flash or RAM budget, so it was not trained.

    Flash and RAM are those of the C generated for its exact shape, variant and state width
    (compiled as for any trial): the sizes of code, arrays, state and stack do not depend on
    the weights' values, so training could not change them (a test checks this on trained
    trials). Instructions are not counted for it.
    """

    worker: str

    @property
    def figures(self) -> Figures:
        return Figures(self.flash, self.ram, None, None)


@dataclass
class TrialModels:
    """A trial's deployed models beside what they measure: what the outputs are written from."""

    model: Model
    qmodel: QuantizedModel
    footprint: Footprint
    deployed: Deployed


@dataclass(frozen=True)
class CrossValidation:
    """The candidate's scores over its K folds, each case predicted by a model that did not train on it."""

    score: float  # int8, pooled over all out-of-fold predictions
    loss: float  # float, mean over all held-out cases
    fold_scores: list[float]


def _train_quantised(ds: Dataset, config: TrainConfig, state_bits: int) -> tuple[TrainResult, QuantizedModel]:
    """``edgegru train`` then ``edgegru quantize`` (calibrated on the same cases) on ``ds``."""
    from edgegru.nn.train import train
    from edgegru.quant import calibrate, quantize

    result = train(ds, config, validation=None, progress=False)
    ranges = calibrate(result.model, ds.x, ds.lengths, CLI_METHOD, CLI_PERCENTILE)
    return result, quantize(result.model, ranges, state_bits)


def deployed_frame(train_ds: Dataset) -> int:
    """The samples per step of a model trained on ``train_ds`` (TrainConfig's frame=0)."""
    from edgegru.data.frames import auto_frame

    return auto_frame(int(train_ds.lengths.max()), train_ds.input_size)


def case_losses(model: Model, ds: Dataset) -> np.ndarray:
    """The float model's loss on each case of ``ds`` (in the model's frames): the cross-entropy
    of its class scores, or its squared error (mean over the outputs); pooled over the folds,
    it breaks ties of scores."""
    from edgegru.nn.float_reference import forward, last_valid

    outputs = forward(model, ds.x).outputs
    assert outputs is not None  # a searched model always has a head
    out = last_valid(outputs, ds.lengths)
    if ds.task != "classification":
        return np.mean((out - ds.y) ** 2, axis=1)
    shifted = out - out.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(ds.n), ds.y]


def cross_validate(train_ds: Dataset, candidate: Candidate) -> CrossValidation:
    """Train and quantise the candidate on all folds but one, score the held-out one, K times.

    Every fold model takes the frame the deployed model will have (that of all the data),
    so that the folds score the deployed shape even when a fold's longest case is shorter.
    """
    from edgegru.data.frames import model_input
    from edgegru.nn.evaluate import score

    config = replace(candidate.train_config(train_ds.task), frame=deployed_frame(train_ds))
    folds = fold_indices(train_ds, candidate.folds, candidate.seed)
    predictions, losses, fold_scores = [], [], []
    for held in folds:
        result, qm = _train_quantised(
            train_ds.subset(np.setdiff1d(np.arange(train_ds.n), held)), config, candidate.state_bits
        )
        framed = model_input(train_ds.subset(held), qm.frame, qm.input_size)
        predictions.append(qm.predict(framed.x, framed.lengths))
        losses.append(case_losses(result.model, framed))
        fold_scores.append(score(predictions[-1], framed))
    pooled = train_ds.subset(np.concatenate(folds))
    return CrossValidation(
        score(np.concatenate(predictions), pooled), float(np.mean(np.concatenate(losses))), fold_scores
    )


def deploy(train_ds: Dataset, test_ds: Dataset | None, candidate: Candidate, budgets: Budgets) -> TrialModels:
    """The candidate trained on all the training data (the recipe's refit included) and
    quantised, its C measured on ``budgets.cpu``: the trial's model, which its rebuild
    commands give again."""
    from edgegru.nn.evaluate import evaluate
    from edgegru.targets.cortex_m.footprint import measure_footprint
    from edgegru.targets.cortex_m.instructions import count_step_instructions

    result, qm = _train_quantised(train_ds, candidate.train_config(train_ds.task), candidate.state_bits)
    footprint = measure_footprint(qm, budgets.cpu)
    count = count_step_instructions(qm, budgets.cpu)
    deployed = Deployed(
        **footprint.sizes(),
        test_score=None if test_ds is None else evaluate(qm, test_ds),
        instructions=count.per_step,
        latency_us=budgets.latency_estimate_us(count.per_step),
        epochs_run=int(result.metrics["epochs_run"]),
        model_hash=qm.fingerprint(),
    )
    return TrialModels(result.model, qm, footprint, deployed)


def measure_trial(
    train_ds: Dataset, test_ds: Dataset | None, candidate: Candidate, budgets: Budgets
) -> Measurement:
    """Cross-validate the candidate, then deploy it and measure the deployed model on the core."""
    from edgegru.nn.evaluate import metric_name

    start = time.monotonic()
    scores = cross_validate(train_ds, candidate)
    deployed = deploy(train_ds, test_ds, candidate, budgets).deployed
    return Measurement(
        **asdict(deployed),
        metric=metric_name(train_ds),
        val_score=scores.score,
        val_loss=scores.loss,
        fold_scores=scores.fold_scores,
        seconds=time.monotonic() - start,
        worker=_worker(),
    )


def shape_model(train_ds: Dataset, hidden_sizes: list[int], variant: str, state_bits: int) -> QuantizedModel:
    """A quantised model of this shape for ``train_ds``, with random weights but what else of a
    trained model reaches its C (a normalisation, the head and its class names, the frames
    training chooses): its C has the trained model's sizes."""
    from edgegru.nn.model import Normalisation
    from edgegru.quant.synthetic import random_qmodel

    head = "classification" if train_ds.task == "classification" else "regression"
    frame = deployed_frame(train_ds)
    ones = np.ones(train_ds.input_size * frame)
    qm = random_qmodel(
        train_ds.input_size * frame,
        hidden_sizes,
        variant,
        head,
        state_bits,  # type: ignore[arg-type]
        output_size=train_ds.output_size,
        normalisation=Normalisation(0 * ones, ones),
    )
    if qm.head is not None:
        qm.head.class_names = train_ds.class_names
    qm.frame = frame
    return qm


def shape_footprint(train_ds: Dataset, candidate: Candidate, cpu: str) -> Footprint:
    """The footprint on ``cpu`` of the C of a model of the candidate's shape (random weights)."""
    from edgegru.targets.cortex_m.footprint import measure_footprint

    hidden = [candidate.hidden] * candidate.layers
    return measure_footprint(shape_model(train_ds, hidden, candidate.variant, candidate.state_bits), cpu)


def measure_candidate(
    train_ds: Dataset, test_ds: Dataset | None, candidate: Candidate, budgets: Budgets
) -> Measurement | OverBudget:
    """What a worker sends back: the trial's measurement, or, when the candidate's shape alone
    is over the flash or RAM budget, those figures without training it."""
    fp = shape_footprint(train_ds, candidate, budgets.cpu)
    if any(over > 0 for over in budgets.excess(Figures(fp.flash, fp.ram, None, None)).values()):
        return OverBudget(**fp.sizes(), worker=_worker())
    return measure_trial(train_ds, test_ds, candidate, budgets)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
