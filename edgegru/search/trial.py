"""One trial: train, quantise, generate the C for the core, and measure that C.

Every figure a budget is checked against is measured on this trial's own model: flash and
RAM by compiling its generated C with arm-none-eabi-gcc for the core
(:func:`~edgegru.targets.cortex_m.footprint.measure_footprint`), instructions per step by
running its firmware under unicorn (:func:`~edgegru.targets.cortex_m.instructions.count_step_instructions`).
Nothing is estimated from a formula, except the latency the budgets derive from the count.

The score is the int8 model's, on the validation share that training held out of the
training data (the same split: :meth:`Dataset.split` with the trial's fraction and seed), so
the test set never chooses a model; the test score is recorded beside it for the table.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE
from edgegru.search.budgets import Budgets, Figures
from edgegru.search.space import Candidate
from edgegru.targets.cortex_m.footprint import Sizes

if TYPE_CHECKING:
    from edgegru.data import Dataset
    from edgegru.nn.model import Model
    from edgegru.quant.qmodel import QuantizedModel
    from edgegru.targets.cortex_m.footprint import Footprint


@dataclass(frozen=True)
class TrialSizes(Sizes):
    """A trial's footprint sizes, the base of both outcomes, which record them alike."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (Optuna user attributes), flash and RAM spelled out for the tables."""
        return {**asdict(self), "flash": self.flash, "ram": self.ram}


@dataclass(frozen=True)
class Measurement(TrialSizes):
    """What a trial measured: its scores and its figures on the core. JSON-ready (Optuna
    user attributes) and small enough to come back from a Ray task."""

    metric: str  # "accuracy" or "rmse"
    val_score: float  # int8 model on the validation split: the objective
    val_loss: float  # the float model's, from training: breaks ties between equal scores
    test_score: float | None  # int8 model on the test set, shown but never used to choose
    instructions: float
    latency_us: float | None  # an ESTIMATE: see edgegru.search.budgets
    epochs_run: int
    model_hash: str  # the int8 model's fingerprint: a rerun of the candidate must give it again
    seconds: float
    worker: str  # host:pid that trained and measured it (a Ray worker, or this process)

    @property
    def figures(self) -> Figures:
        return Figures(self.flash, self.ram, self.instructions, self.latency_us)


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
    """A trial's models beside its measurement: what the chosen trial's outputs are written from."""

    model: Model
    qmodel: QuantizedModel
    footprint: Footprint
    measurement: Measurement


def train_and_measure(
    train_ds: Dataset, test_ds: Dataset | None, candidate: Candidate, budgets: Budgets
) -> TrialModels:
    """Run one candidate through the whole pipeline and measure it on ``budgets.cpu``."""
    from edgegru.nn.evaluate import evaluate, metric_name
    from edgegru.nn.train import train
    from edgegru.quant import calibrate, quantize
    from edgegru.targets.cortex_m.footprint import measure_footprint
    from edgegru.targets.cortex_m.instructions import count_step_instructions

    start = time.monotonic()
    result = train(train_ds, candidate.train_config(), validation=None, progress=False)
    model = result.model
    _, validation = train_ds.split(candidate.val_fraction, candidate.seed)
    ranges = calibrate(model, train_ds.x, train_ds.lengths, CLI_METHOD, CLI_PERCENTILE)
    qm = quantize(model, ranges, candidate.state_bits)
    footprint = measure_footprint(qm, budgets.cpu)
    count = count_step_instructions(qm, budgets.cpu)
    measurement = Measurement(
        metric=metric_name(train_ds),
        val_score=evaluate(qm, validation),
        val_loss=float(result.metrics["val_loss"]),
        test_score=None if test_ds is None else evaluate(qm, test_ds),
        **footprint.sizes(),
        instructions=count.per_step,
        latency_us=budgets.latency_estimate_us(count.per_step),
        epochs_run=int(result.metrics["epochs_run"]),
        model_hash=qm.fingerprint(),
        seconds=time.monotonic() - start,
        worker=_worker(),
    )
    return TrialModels(model, qm, footprint, measurement)


def shape_model(train_ds: Dataset, hidden_sizes: list[int], variant: str, state_bits: int) -> QuantizedModel:
    """A quantised model of this shape for ``train_ds``, with random weights but what else of a
    trained model reaches its C (a normalisation, the head and its class names, the frames
    training chooses): its C has the trained model's sizes."""
    from edgegru.data.frames import auto_frame
    from edgegru.nn.model import Normalisation
    from edgegru.quant.synthetic import random_qmodel

    head = "classification" if train_ds.task == "classification" else "regression"
    frame = auto_frame(int(train_ds.lengths.max()), train_ds.input_size)  # TrainConfig's frame=0
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
    return train_and_measure(train_ds, test_ds, candidate, budgets).measurement


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
