"""Read a Keras GRU model (.keras or .h5) into a float :class:`Model`, in this process.

The layers must form what an edgegru model computes, in this order: optional
``Normalization`` and ``Masking`` (either order), one or more ``GRU`` layers, and
optionally one head, ``Dense`` or ``TimeDistributed(Dense)`` with a linear or softmax
activation (or a linear Dense then ``Activation("softmax")``). ``InputLayer`` and the
layers that do nothing at inference (``Dropout`` and its kin) may stand anywhere. Any
other layer is refused naming its class and name; ``docs/keras.md`` says why each
option is read as it is.

``Masking`` is read as marking padding at the end of sequences: edgegru reads each
sequence at its last valid step (pass the lengths), which is where Keras's GRU stops.
Masked steps in the middle of a sequence, which Keras skips, are not what edgegru computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_LAYERS
from edgegru.keras.archive import KerasFile, Layer, open_keras
from edgegru.keras.config import model_layers
from edgegru.keras.layers import dense_head, gru_layer, head_activation, normalisation
from edgegru.nn.model import GRULayer, Head, HeadKind, Model, Variant, shown

INFERENCE_NO_OPS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
HEADS = ("Dense", "TimeDistributed")
SUPPORTED = (
    "InputLayer, Normalization, Masking, GRU, Dense, TimeDistributed(Dense), Activation, "
    + ", ".join(INFERENCE_NO_OPS)
)


@dataclass
class _Plan:
    """The model's layers sorted into their roles, checked for order before any weight is read."""

    normalisation: Layer | None = None
    mask: Layer | None = None
    grus: list[Layer] = field(default_factory=list)
    head: Layer | None = None
    activation: Layer | None = None


def _plan(keras: KerasFile, layers: list[Layer]) -> _Plan:
    plan = _Plan()
    for layer in layers:
        kind = layer.class_name
        before_gru = not plan.grus
        if kind == "InputLayer" or kind in INFERENCE_NO_OPS:
            continue
        if kind in ("Normalization", "Masking"):
            role = "normalisation" if kind == "Normalization" else "mask"
            if not before_gru or getattr(plan, role) is not None:
                keras.fail(f"{layer}: edgegru reads one {kind} layer, before the first GRU")
            setattr(plan, role, layer)
        elif kind == "GRU":
            if plan.head is not None:
                keras.fail(f"{layer} comes after the head {plan.head}")
            if plan.grus and plan.grus[-1].config.get("return_sequences") is not True:
                keras.fail(f"{layer} follows {plan.grus[-1]}, which returns only its last step")
            if len(plan.grus) == MAX_LAYERS:
                keras.fail(f"{layer} would be GRU {MAX_LAYERS + 1} of at most {MAX_LAYERS}")
            plan.grus.append(layer)
        elif kind in HEADS and not before_gru and plan.head is None:
            plan.head = layer
        elif kind == "Activation" and plan.head is not None and plan.activation is None:
            plan.activation = layer
        elif kind in (*HEADS, "Activation"):
            keras.fail(f"{layer}: edgegru reads one Dense head after the GRUs, then at most one Activation")
        else:
            keras.fail(f"{layer} is not supported; edgegru imports {SUPPORTED}")
    if not plan.grus:
        keras.fail("no GRU layer in the model")
    return plan


def _layers(keras: KerasFile, plan: _Plan) -> tuple[list[GRULayer], Variant]:
    layers: list[GRULayer] = []
    variants: set[Variant] = set()
    for layer in plan.grus:
        gru, variant = gru_layer(keras, layer, layers[-1].hidden_size if layers else None)
        if variants and variant not in variants:
            keras.fail(f"{layer} is {variant} but the GRUs before it are {variants.pop()}")
        variants.add(variant)
        layers.append(gru)
    return layers, variants.pop()


def _head(keras: KerasFile, plan: _Plan, hidden: int, kind: HeadKind | None) -> Head | None:
    """The head; its kind from the caller, else classification if softmax follows, else regression."""
    if plan.head is None:
        if kind is not None:
            keras.fail(f"head_kind={kind!r} given but no Dense head follows the last GRU")
        return None
    weight, bias, activation = dense_head(keras, plan.head, hidden)
    if plan.activation is not None:
        second = head_activation(keras, plan.activation)
        if second == "softmax" and activation == "softmax":
            keras.fail(f"{plan.activation} applies softmax a second time")
        activation = "softmax" if "softmax" in (activation, second) else activation
    return Head(kind or ("classification" if activation == "softmax" else "regression"), weight, bias)


def _metadata(keras: KerasFile, plan: _Plan, path: Path) -> dict[str, object]:
    """Where the model came from and what Keras returned: the last step or every step."""
    every_step = plan.grus[-1].config.get("return_sequences") is True
    metadata: dict[str, object] = {
        "source": f"keras:{path.name}",
        "keras_outputs": "every step" if every_step else "last step",
    }
    if keras.version:
        metadata["keras_version"] = keras.version
    if plan.mask is not None:
        value = plan.mask.config.get("mask_value", 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            keras.fail(f"{plan.mask} mask_value {shown(value)}: expected a finite number")
        metadata["keras_mask_value"] = float(value)
    return metadata


def read_keras(path: Path, head_kind: HeadKind | None) -> Model:
    """The GRU model in a Keras file, read in this process (see edgegru.keras.importer for
    why callers read it in a child process)."""
    with open_keras(path) as keras:
        plan = _plan(keras, model_layers(keras))
        layers, variant = _layers(keras, plan)
        size = layers[0].input_size
        norm = normalisation(keras, plan.normalisation, size) if plan.normalisation else None
        head = _head(keras, plan, layers[-1].hidden_size, head_kind)
        metadata = _metadata(keras, plan, path)
        try:
            with np.errstate(all="ignore"):
                return Model(size, variant, layers, head, norm, metadata)
        except EdgeGruError as exc:
            keras.fail(str(exc))
