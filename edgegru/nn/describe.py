"""What a model file holds, as one record every format fills: ``edgegru info`` prints it.

Each backend describes its own files (float ``.egru`` here, quantised ones in
:mod:`edgegru.quant.describe`, ``.tflite`` in :mod:`edgegru.tflite.describe`, ``.onnx`` in
:mod:`edgegru.onnx.describe`) into a :class:`Description`, so that the CLI only chooses
the reader and prints. :meth:`Description.as_dict` is the ``edgegru info --json`` object;
its keys are stable, and a field a format cannot say is ``null`` (never left out):

``file``, ``format`` (``egru``, ``tflite`` or ``onnx``), ``file_bytes``, ``edgegru_model``
(whether edgegru's own metadata was found), ``precision`` (``float32`` or ``int8``),
``architecture`` (one line, ``6 -> GRU(32) -> classification(4)``), ``input_size``,
``hidden_sizes``, ``head`` (``classification``, ``regression`` or null), ``outputs``,
``variant``, ``state_bits``, ``class_names``, ``normalisation`` (``{"mean": [...], "std":
[...]}``, ``{"in_graph": true}`` when a float ``.tflite`` folded it into its weights, or
null), ``weight_bytes`` (bytes of weights as stored: float32 or int8; in a .tflite, all
its constant tensors), ``recorded`` (metrics the file records, such as
``{"test accuracy": 0.975}``), ``quantisation`` (named scales and zero points),
``tensors`` (``{"inputs": [...], "outputs": [...]}``, each ``{name, shape, dtype, scale,
zero_point}``), ``operators`` (operator name to count), ``details`` (format-specific facts
such as an ONNX file's opset) and ``metadata`` (the file's free-form metadata).

Strings in a description come from the file; :meth:`Description.lines` shows every one
through :func:`~edgegru.core.errors.quote`, so no terminal escape reaches the screen.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from edgegru.core.errors import quote
from edgegru.nn.model import Model, Normalisation, architecture_line


@dataclass
class Tensor:
    """A model input or output; scale and zero_point are None for float tensors."""

    name: str
    shape: list[int | str]  # a str: a symbolic dimension (ONNX), such as "batch"
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass
class Description:
    """Everything ``edgegru info`` says of one file; see the module docstring for each key."""

    file: str
    format: str
    file_bytes: int
    edgegru_model: bool
    precision: str | None = None
    input_size: int | None = None
    frame: int = 1
    hidden_sizes: list[int] | None = None
    head: str | None = None
    outputs: int | None = None
    variant: str | None = None
    state_bits: int | None = None
    class_names: list[str] | None = None
    normalisation: dict[str, Any] | None = None
    weight_bytes: int | None = None
    recorded: dict[str, float] = field(default_factory=dict)
    quantisation: dict[str, dict[str, float | int]] = field(default_factory=dict)
    tensors: dict[str, list[Tensor]] = field(default_factory=dict)
    operators: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str | None:
        if self.input_size is None or not self.hidden_sizes:
            return None
        head = SimpleNamespace(kind=self.head, output_size=self.outputs) if self.head is not None else None
        return architecture_line(self.input_size, self.hidden_sizes, head, self.frame)

    def as_dict(self) -> dict[str, Any]:
        return {"architecture": self.architecture, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=True, default=_json_default)

    def lines(self) -> list[str]:
        """The readable summary, one fact a line; strings from the file are quoted."""
        owner = "edgegru" if self.edgegru_model else "not edgegru's"
        out = [f"{self.file}: {self.format} ({owner}), {self.file_bytes} bytes"]
        if self.architecture is not None:
            extra = [x for x in (self.variant, self.precision) if x is not None]
            if self.state_bits is not None:
                extra.append(f"int{self.state_bits} state")
            out.append(f"  model: {self.architecture}" + (f", {', '.join(extra)}" if extra else ""))
        elif self.precision is not None:
            out.append(f"  precision: {self.precision}")
        if self.class_names is not None:
            out.append(f"  classes: {', '.join(quote(n) for n in self.class_names)}")
        if self.architecture is not None:  # else the file does not say (a stranger's graph)
            out.extend(_normalisation_lines(self.normalisation))
        if self.weight_bytes is not None:
            out.append(f"  weights: {self.weight_bytes} bytes")
        for name, value in self.recorded.items():
            out.append(f"  recorded {name}: {_metric(name, value)}")
        for name, params in self.quantisation.items():
            out.append(
                f"  {name}: " + ", ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in params.items())
            )
        for side, tensors in self.tensors.items():
            out.extend(f"  {side[:-1]} {_tensor(t)}" for t in tensors)
        if self.operators:
            total = sum(self.operators.values())
            counts = ", ".join(f"{quote(k)[1:-1]} {v}" for k, v in self.operators.items())
            out.append(f"  operators: {total} ({counts})")
        for key, value in self.details.items():
            out.append(f"  {key}: {_shown(value)}")
        for key, value in self.metadata.items():
            out.append(f"  metadata {quote(key)}: {_shown(value)}")
        return out


def describe_model(model: Model, path: str | Path) -> Description:
    """A float model (as read from ``path``) described."""
    d = Description(str(path), "egru", Path(path).stat().st_size, True)
    fill_float_model(d, model)
    d.recorded = recorded_metrics(model.metadata, "test")
    d.metadata = {k: v for k, v in model.metadata.items() if k != "test_metric"}
    return d


def fill_float_model(d: Description, model: Model) -> None:
    """The fields a float model states: precision, shape, variant, normalisation, weight bytes."""
    d.precision = "float32"
    fill_shape(d, model.input_size, model.hidden_sizes, model.head, model.frame)
    d.variant = model.variant
    d.normalisation = normalisation_dict(model.normalisation)
    weights = sum(layer.w_x.size + layer.w_h.size for layer in model.layers)
    d.weight_bytes = 4 * (weights + (model.head.weight.size if model.head else 0))


def fill_shape(d: Description, input_size: int, hidden_sizes: list[int], head: Any, frame: int) -> None:
    """The architecture fields from a model's sizes, head (float or quantised) and frame."""
    d.input_size, d.frame = input_size, frame
    d.hidden_sizes = list(hidden_sizes)
    if head is not None:
        d.head, d.outputs, d.class_names = head.kind, head.output_size, head.class_names


def normalisation_dict(norm: Normalisation | None) -> dict[str, Any] | None:
    if norm is None:
        return None
    return {"mean": [float(v) for v in norm.mean], "std": [float(v) for v in norm.std]}


def recorded_metrics(metadata: dict[str, Any], label: str) -> dict[str, float]:
    """The ``test_metric`` a model records (``edgegru train --test`` writes it), named
    ``"<label> <metric>"``; a malformed entry is not a metric and is left to ``metadata``."""
    metric = metadata.get("test_metric")
    if not isinstance(metric, dict):
        return {}
    return {
        f"{label} {name}": float(value)
        for name, value in metric.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _normalisation_lines(norm: dict[str, Any] | None) -> list[str]:
    if norm is None:
        return ["  normalisation: none"]
    if norm.get("in_graph"):
        return ["  normalisation: done inside the model (folded into its first operation)"]
    pairs = zip(norm["mean"], norm["std"], strict=True)
    channels = ", ".join(f"{_number(m)}/{_number(s)}" for m, s in pairs)
    return [f"  normalisation (mean/std per channel): {channels}"]


def _metric(name: str, value: float) -> str:
    return f"{100 * value:.1f}%" if name.endswith("accuracy") else f"{value:.4g}"


def _number(value: float | int) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _tensor(t: Tensor) -> str:
    shape = "x".join(str(d) if isinstance(d, int) else quote(d) for d in t.shape) or "scalar"
    quant = "" if t.scale is None else f", scale {_number(t.scale)}, zero point {t.zero_point}"
    return f"{quote(t.name)} {t.dtype} [{shape}]{quant}"


# Characters of one metadata or detail value shown: room for an importer's reason, one line.
SHOWN_LIMIT = 300


def _shown(value: object) -> str:
    """A metadata value on one line: a string quoted, anything else as compact JSON, quoted
    too (it may hold the file's strings) and cut short."""
    if isinstance(value, str):
        return quote(value, SHOWN_LIMIT)
    return quote(json.dumps(value, default=_json_default, separators=(",", ":")), SHOWN_LIMIT)[1:-1]


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
