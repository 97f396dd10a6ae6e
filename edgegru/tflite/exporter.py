"""Export an edgegru :class:`Model` as a .tflite file, float32 or full int8, no TensorFlow.

Two shapes of model, both built from builtin operators only:

``kind="step"`` (signature ``step``): one time step. Inputs ``x`` (1, D) and one
state tensor per layer ``h0``, ``h1`` ... (1, H_k); outputs ``y`` (1, C) (the
head's output, or the last layer's state without a head) and the new states
``h0_next``, ``h1_next`` ... A caller feeds each ``h<k>_next`` back as ``h<k>``
(zeros at the start). This is the model to stream with on a device.

``kind="sequence"`` (signature ``serving_default``): T steps unrolled for a fixed
``steps=T``, states starting at zero. Input ``x`` (1, T, D); outputs ``y``
(1, T, C), the output after *every* step, and the final states ``h<k>_next``.
All steps share the same weight tensors.

Normalisation: float32 models fold the model's input normalisation into the
first layer's weights, so ``x`` is the raw input. int8 models keep it outside:
``x`` is the *normalised* input, quantised by the caller with ``x``'s scale and
zero point (the runtime does both), because one int8 scale for raw channels of
different units would waste most of the 8 bits on the widest channel.

Every file carries a metadata entry named ``edgegru`` (JSON: kind, dtype, variant,
input size, output kind and class names, tensor names, normalisation) by which
``edgegru.tflite.step_metadata`` recognises it. What the graph itself states (hidden sizes,
number of steps, output size, the quantisation of inputs and outputs) is not
repeated there: the interpreter reports it with each tensor.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.atomic import atomic_write_bytes
from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.model import Model, shown
from edgegru.tflite.builder import GraphBuilder, QuantParams
from edgegru.tflite.emit import TfliteEmitter, Value
from edgegru.tflite.graph import X_ROLE, StepWeights, emit_step, prepare_weights, state_role
from edgegru.tflite.read import METADATA_FORMAT, METADATA_NAME, METADATA_VERSION, is_csv_name

SIGNATURES = {"step": "step", "sequence": "serving_default"}
DTYPES = ("float32", "int8")


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output; scale and zero_point are None for float32 tensors."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class ExportInfo:
    """What :func:`export_tflite` wrote."""

    path: Path
    kind: str
    dtype: str
    size: int
    weight_bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


def export_tflite(
    model: Model,
    path: str | Path,
    *,
    kind: str = "step",
    dtype: str = "float32",
    steps: int | None = None,
    calibration: np.ndarray | None = None,
    quiet: bool = False,
) -> ExportInfo:
    """Write ``model`` as a .tflite file (atomically) and describe what was written.

    ``calibration`` (N, T, D) of raw inputs is required for ``dtype="int8"`` and
    unused for float32. ``steps`` is required for (and only for) the sequence kind.
    Prints a one-line size summary unless ``quiet``.
    """
    path = Path(path)
    _check_args(model, path, kind, dtype, steps)
    plan = None
    if dtype == "int8":
        plan = _calibration_plan(model, calibration)
    weights = prepare_weights(model, fold_normalisation=dtype == "float32")
    builder = GraphBuilder()
    emitter = TfliteEmitter(builder, plan)
    if kind == "step":
        inputs, outputs = _build_step(emitter, weights, model.input_size)
    else:
        assert steps is not None
        inputs, outputs = _build_sequence(emitter, weights, model.input_size, steps)
    in_info = [_tensor_info(builder, name, v, dtype) for name, v in inputs.items()]
    out_info = [_tensor_info(builder, name, v, dtype) for name, v in outputs.items()]
    meta = _metadata(model, kind, dtype, in_info, out_info)
    blob = builder.finish(
        {n: v.index for n, v in inputs.items()},
        {n: v.index for n, v in outputs.items()},
        SIGNATURES[kind],
        {METADATA_NAME: json.dumps(meta, separators=(",", ":")).encode()},
    )
    atomic_write_bytes(path, blob)
    info = ExportInfo(path, kind, dtype, len(blob), builder.constant_bytes, in_info, out_info)
    if not quiet:
        print(
            f"{path}: {kind} model, {dtype}, {info.size} bytes "
            f"({info.weight_bytes} bytes of weights, "
            f"{info.size / max(info.weight_bytes, 1):.2f}x)",
            file=sys.stderr,
        )
    return info


def _check_args(model: Model, path: Path, kind: str, dtype: str, steps: int | None) -> None:
    """Refuse bad arguments in words for both callers: the CLI's flag first, then the
    Python argument in parentheses (``--steps N (steps=N)``)."""
    if kind not in SIGNATURES:
        raise EdgeGruError(f"model kind {shown(kind)}: expected --kind step or --kind sequence (kind=...)")
    if dtype not in DTYPES:
        raise EdgeGruError(f"dtype {shown(dtype)}: expected --dtype float32 or --dtype int8 (dtype=...)")
    if kind == "sequence" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        given = "none was given" if steps is None else f"got {shown(steps)}"
        raise EdgeGruError(f"a sequence model needs a fixed length: --steps N (steps=N) with N >= 1; {given}")
    if kind == "step" and steps is not None:
        raise EdgeGruError(
            f"--steps {shown(steps)} (steps=): a step model runs any number of steps; a fixed length "
            "is for a sequence model (--kind sequence, kind='sequence')"
        )
    if not path.parent.is_dir():
        raise EdgeGruError(f"{path}: directory {path.parent} does not exist")
    model.validate()
    names = model.head.class_names if model.head is not None else None
    for i, name in enumerate(names or []):
        if not is_csv_name(name):
            raise EdgeGruError(
                f"class name {i} {shown(name)}: edgegru run prints class names as CSV fields, so a "
                ".tflite's must be printable and without commas; rename the class"
            )


def _calibration_plan(model: Model, calibration: np.ndarray | None) -> dict[str, QuantParams]:
    from edgegru.tflite.int8 import make_plan

    if calibration is None:
        raise EdgeGruError(
            "int8 export needs calibration data: a data file, --builtin or --series "
            "(calibration=, an array (N, T, D) of typical inputs)"
        )
    x = np.asarray(calibration, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != model.input_size or x.shape[0] * x.shape[1] == 0:
        raise EdgeGruError(
            f"calibration data: shape {x.shape}, expected (N, T, {model.input_size}) with N, T >= 1: "
            f"sequences of steps of this model's {model.input_size} input channels"
        )
    if not np.all(np.isfinite(x)):
        raise EdgeGruError("calibration data: holds NaN or Inf")
    if model.normalisation is not None:
        x = model.normalisation.apply(x)
    return make_plan(prepare_weights(model, fold_normalisation=False), x)


def _build_step(
    em: TfliteEmitter, weights: StepWeights, input_size: int
) -> tuple[dict[str, Value], dict[str, Value]]:
    x = em.input("x", (1, input_size), X_ROLE)
    states = [em.input(f"h{k}", (1, h), state_role(k)) for k, h in enumerate(weights.hidden_sizes)]
    y, new_states = emit_step(em, weights, x, states)
    if y is None:
        y = em.copy(new_states[-1], "y")
    else:
        em.builder.rename(y.index, "y")
    inputs = {"x": x} | {f"h{k}": s for k, s in enumerate(states)}
    return inputs, {"y": y} | _named_states(em, new_states)


def _build_sequence(
    em: TfliteEmitter, weights: StepWeights, input_size: int, steps: int
) -> tuple[dict[str, Value], dict[str, Value]]:
    x = em.input("x", (1, steps, input_size), X_ROLE)
    xs = em.unpack(x, X_ROLE)
    states = [em.zeros(h, state_role(k)) for k, h in enumerate(weights.hidden_sizes)]
    ys = []
    for t in range(steps):
        em.prefix = f"t{t}/"
        y, states = emit_step(em, weights, xs[t], states)
        ys.append(states[-1] if y is None else y)
    em.prefix = ""
    y_all = em.pack(ys, "y")
    return {"x": x}, {"y": y_all} | _named_states(em, states)


def _named_states(em: TfliteEmitter, states: list[Value]) -> dict[str, Value]:
    named = {}
    for k, s in enumerate(states):
        em.builder.rename(s.index, f"h{k}_next")
        named[f"h{k}_next"] = s
    return named


def _tensor_info(builder: GraphBuilder, name: str, value: Value, dtype: str) -> TensorInfo:
    shape = builder.shape_of(value.index)
    if value.quant is None:
        return TensorInfo(name, shape, dtype)
    return TensorInfo(name, shape, dtype, value.quant.scale[0], value.quant.zero_point[0])


def _metadata(
    model: Model, kind: str, dtype: str, inputs: list[TensorInfo], outputs: list[TensorInfo]
) -> dict[str, Any]:
    """The JSON stored as the ``edgegru`` metadata entry.

    It holds what the graph cannot say. What the graph states is not repeated (it
    counts in the file size, and the interpreter reports it with each tensor):
    the hidden sizes are the shapes of ``h<k>``, the number of steps of a sequence
    model is the second dimension of ``x``, the output size the last of ``y``, and
    the quantisation of every input and output is in its tensor.
    """
    head = model.head
    norm = model.normalisation
    normalisation: dict[str, Any] | None = None
    if norm is not None:
        normalisation = {"in_graph": dtype == "float32"}
        if dtype != "float32":
            normalisation["mean"] = [_short(v) for v in norm.mean]
            normalisation["std"] = [_short(v) for v in norm.std]
    return {
        "format": METADATA_FORMAT,
        "format_version": METADATA_VERSION,
        "edgegru_version": __version__,
        "kind": kind,
        "dtype": dtype,
        "variant": model.variant,
        "input_size": model.input_size,
        "frame": model.frame,
        "output": {
            "kind": head.kind if head else "hidden",
            "class_names": head.class_names if head else None,
        },
        "inputs": [t.name for t in inputs],
        "outputs": [t.name for t in outputs],
        "normalisation": normalisation,
    }


def _short(value: Any) -> float:
    """A float32 value as the shortest decimal that reads back to the same float32."""
    return float(str(np.float32(value)))
