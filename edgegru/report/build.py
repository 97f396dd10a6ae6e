"""The report's figures gathered in one record, and the report written as one HTML file.

:func:`build_report` computes (it runs the model three ways and measures it on the cores);
:func:`write_report` renders that record with :mod:`~edgegru.report.page` and writes it
all or nothing. Scripts call either; ``edgegru report`` calls :func:`write_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.atomic import atomic_write_bytes, check_output_path
from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset
from edgegru.data.frames import model_input
from edgegru.nn.evaluate import score
from edgegru.nn.model import Model
from edgegru.quant.qmodel import QuantizedModel, same_architecture
from edgegru.report.agreement import HOST_CC, Runs, run_all
from edgegru.report.calibration import ChannelRange, channel_ranges
from edgegru.report.cortex_m import CoreFigures, measure_cores
from edgegru.report.scores import ClassScore, class_scores, confusion_matrix
from edgegru.report.state_error import StateError, state_error
from edgegru.targets.cortex_m.cores import get_core


@dataclass(frozen=True)
class Appendix:
    """A section a caller adds after the report's own (the search adds its Pareto front):
    a heading, lines of text and an optional PNG, escaped and embedded like the rest."""

    title: str
    lines: tuple[str, ...] = ()
    png: bytes | None = None


@dataclass
class Report:
    """Everything the page shows. ``scores`` maps each implementation that ran to its
    accuracy (classification) or RMSE (regression); it is empty for a model without a head,
    whose output is a state with nothing in the data to score it against."""

    qmodel: QuantizedModel
    data: Dataset
    model_name: str
    float_name: str | None
    runs: Runs
    scores: dict[str, float]
    confusion: np.ndarray | None
    classes: list[ClassScore] | None
    state: StateError | None
    channels: list[ChannelRange]
    cores: list[CoreFigures]
    appendices: tuple[Appendix, ...] = ()

    @property
    def classification(self) -> bool:
        return self.qmodel.head is not None and self.qmodel.head.kind == "classification"


def check_inputs(qm: QuantizedModel, data: Dataset, float_model: Model | None, float_name: str) -> None:
    """Refuse data (already in the model's frames) or a float model that do not fit the
    quantised model, naming which."""
    head = qm.head
    if head is not None:
        task = "classification" if head.kind == "classification" else "regression"
        if data.task != task:
            raise EdgeGruError(f"{data.source}: {data.task} data, the model's head is {head.kind}")
        if data.output_size != head.output_size:
            what = "classes" if task == "classification" else "targets"
            raise EdgeGruError(
                f"{data.source}: {data.output_size} {what}, the model has {head.output_size} outputs"
            )
        if head.class_names is not None and data.class_names not in (None, head.class_names):
            raise EdgeGruError(f"{data.source}: its class names differ from the model's (in name or order)")
    if float_model is not None and not same_architecture(qm, float_model):
        raise EdgeGruError(
            f"{float_name}: {float_model.describe()} is not the model quantised as {qm.describe()}"
        )


def build_report(
    qm: QuantizedModel,
    data: Dataset,
    float_model: Model | None = None,
    cpus: Sequence[str] = (),
    *,
    model_name: str = "model",
    float_name: str = "float model",
    cc: str = HOST_CC,
    appendices: Sequence[Appendix] = (),
) -> Report:
    """Run ``qm`` (and its ``float_model``, if given) over ``data`` and measure it on ``cpus``.

    ``model_name`` and ``float_name`` are how the page and the errors name the two models
    (their file paths, say). Every check is made before any run.
    """
    data = model_input(data, qm.frame, qm.input_size)
    check_inputs(qm, data, float_model, float_name)
    for cpu in cpus:
        get_core(cpu)
    runs = run_all(qm, data, float_model, cc)
    scores: dict[str, float] = {}
    confusion = classes = None
    if qm.head is not None:
        scores = {name: score(p, data) for name, p in runs.by_implementation().items() if p is not None}
        if qm.head.kind == "classification":
            confusion = confusion_matrix(data.y, runs.reference, qm.head.output_size)
            classes = class_scores(confusion, qm.head.class_names or data.class_names or [])
    state = None
    if runs.float_states is not None:
        state = state_error(runs.reference_states, runs.float_states, qm.state_bits, data.lengths)
    return Report(
        qm,
        data,
        model_name,
        float_name if float_model is not None else None,
        runs,
        scores,
        confusion,
        classes,
        state,
        channel_ranges(qm.input, data),
        measure_cores(qm, list(cpus)),
        tuple(appendices),
    )


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Report:
    """Build the report (:func:`build_report`, which takes the remaining arguments) and write it
    to ``path`` as one self-contained HTML page; nothing is written if any step fails. Needs
    matplotlib (the ``report`` extra)."""
    from edgegru.report.page import render_page

    path = Path(path)
    check_output_path(path)
    import matplotlib  # noqa: F401  (fail before the runs, not after them, when it is missing)

    report = build_report(*args, **kwargs)
    atomic_write_bytes(path, render_page(report).encode("utf-8"))
    return report
