"""Keras layers as the parts of an edgegru model, each option checked against the equations.

Keras stores a GRU's kernel as (input, 3H) and its recurrent kernel as (H, 3H) with the
gate blocks in the order **z, r, h** (update, reset, candidate) along the columns;
edgegru keeps (3, H, input) in the order **r, z, n**, so each weight is transposed and
its first two blocks swapped. The bias is (3H,) with ``reset_after=False`` (the input
bias only: the recurrent bias is zero) and (2, 3H) with ``reset_after=True`` (row 0 the
input bias, row 1 the recurrent bias, which the reset gate scales). The variant is read
from ``reset_after`` and the bias shape must agree with it: reading one variant as the
other gives a model that runs and is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS, MAX_SIZE
from edgegru.keras.archive import KerasFile, Layer
from edgegru.nn.model import GATES, GRULayer, Normalisation, Variant, check_integer, shown

KERAS_GATES = ("z", "r", "n")  # the order of Keras's gate blocks (it calls the candidate h)
TO_EDGEGRU = [KERAS_GATES.index(gate) for gate in GATES]  # [1, 0, 2]
EPSILON = 1e-7  # keras.config.epsilon(): Normalization divides by max(sqrt(variance), EPSILON)
FLOAT_POLICIES = (None, "float32", "float64")  # dtype policies that compute what edgegru's float model does
HEAD_ACTIVATIONS = ("linear", "softmax")


def option(
    keras: KerasFile, layer: Layer, key: str, allowed: tuple, default: object, config: dict | None = None
) -> Any:
    """``config[key]`` (the layer's config by default), which must be one of ``allowed``:
    JSON's ``1`` is not ``True`` and ``"True"`` is not either."""
    value = (layer.config if config is None else config).get(key, default)
    if not any(type(value) is type(choice) and value == choice for choice in allowed):
        keras.fail(f"{layer} {key} {shown(value)}: expected {' or '.join(map(repr, allowed))}")
    return value


def integer(keras: KerasFile, layer: Layer, key: str, hi: int, config: dict | None = None) -> int:
    try:
        return check_integer(f"{layer} {key}", (layer.config if config is None else config).get(key), 1, hi)
    except EdgeGruError as exc:
        keras.fail(str(exc))


def check_float_policy(keras: KerasFile, layer: Layer, config: dict | None = None) -> None:
    """Refuse layers that compute in float16/bfloat16: their outputs are not the float model's."""
    name = (layer.config if config is None else config).get("dtype")
    if isinstance(name, dict):  # Keras 3: {"class_name": "DTypePolicy", "config": {"name": ...}}
        policy = name.get("config")
        name = policy.get("name") if isinstance(policy, dict) else "?"
    if name not in FLOAT_POLICIES:
        keras.fail(f"{layer} computes in {quote(name)}; edgegru imports float32 models")


def _gates(matrix: np.ndarray, hidden: int) -> np.ndarray:
    """Keras (rows, 3H) in z, r, h column blocks -> edgegru (3, H, rows) in r, z, n."""
    return np.ascontiguousarray(matrix.T.reshape(3, hidden, -1)[TO_EDGEGRU])


def _gate_vector(vector: np.ndarray, hidden: int) -> np.ndarray:
    """Keras (3H,) in z, r, h blocks -> edgegru (3, H) in r, z, n."""
    return np.ascontiguousarray(vector.reshape(3, hidden)[TO_EDGEGRU])


def gru_layer(keras: KerasFile, layer: Layer, input_size: int | None) -> tuple[GRULayer, Variant]:
    """A Keras GRU as a layer (``input_size`` None: the kernel says it) and its variant."""
    check_float_policy(keras, layer)
    hidden = integer(keras, layer, "units", MAX_SIZE)
    option(keras, layer, "activation", ("tanh",), "tanh")
    option(keras, layer, "recurrent_activation", ("sigmoid",), "sigmoid")
    for key in ("go_backwards", "return_state", "time_major"):
        option(keras, layer, key, (False,), False)
    use_bias = option(keras, layer, "use_bias", (True, False), True)
    if "reset_after" not in layer.config:
        keras.fail(f"{layer} has no reset_after in its config; it decides the GRU variant")
    reset_after = option(keras, layer, "reset_after", (True, False), None)
    roles = ("kernel", "recurrent_kernel", "bias")[: 3 if use_bias else 2]
    shapes: dict[str, tuple] = {"kernel": (input_size, 3 * hidden), "recurrent_kernel": (hidden, 3 * hidden)}
    if use_bias:
        shapes["bias"] = (2, 3 * hidden) if reset_after else (3 * hidden,)
    weights = keras.read(layer, "cell", roles, shapes)
    # rows: the input bias, then (reset_after only) the recurrent bias; no bias is zeros
    bias = weights.get("bias", np.zeros(3 * hidden, np.float32)).reshape(-1, 3 * hidden)
    b_x = _gate_vector(bias[0], hidden)
    b_h = _gate_vector(bias[1], hidden) if len(bias) == 2 else np.zeros((3, hidden), np.float32)
    gru = GRULayer(_gates(weights["kernel"], hidden), _gates(weights["recurrent_kernel"], hidden), b_x, b_h)
    return gru, "reset_after" if reset_after else "reset_before"


def dense_head(keras: KerasFile, layer: Layer, hidden: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(weight (C, H), bias (C,), activation) of a Dense layer or a TimeDistributed(Dense)."""
    config, part = layer.config, ""
    if layer.class_name == "TimeDistributed":
        inner = layer.config.get("layer")
        inner_class = inner.get("class_name") if isinstance(inner, dict) else None
        if inner_class != "Dense" or not isinstance(inner.get("config"), dict):
            keras.fail(f"{layer} wraps {quote(inner_class)}; edgegru reads TimeDistributed(Dense)")
        config, part = inner["config"], "layer"
    check_float_policy(keras, layer, config)
    outputs = integer(keras, layer, "units", MAX_OUTPUTS, config)
    activation = config.get("activation") or "linear"
    if activation not in HEAD_ACTIVATIONS:
        keras.fail(
            f"{layer} activation {shown(activation)}: edgegru heads are linear (regression) or "
            "softmax (classification)"
        )
    use_bias = option(keras, layer, "use_bias", (True, False), True, config)
    roles = ("kernel", "bias")[: 2 if use_bias else 1]
    shapes: dict[str, tuple] = {"kernel": (hidden, outputs)} | ({"bias": (outputs,)} if use_bias else {})
    weights = keras.read(layer, part, roles, shapes)
    bias = weights.get("bias", np.zeros(outputs, np.float32))
    return np.ascontiguousarray(weights["kernel"].T), bias, activation


def head_activation(keras: KerasFile, layer: Layer) -> str:
    """An Activation layer after the head: softmax marks a classifier, linear changes nothing."""
    return option(keras, layer, "activation", HEAD_ACTIVATIONS, None)


def normalisation(keras: KerasFile, layer: Layer, size: int) -> Normalisation:
    """A Normalization layer over the features: ``(x - mean) / max(sqrt(variance), 1e-7)``."""
    axis = layer.config.get("axis", -1)
    if axis not in (-1, 2, [-1], [2]):
        keras.fail(f"{layer} axis {shown(axis)}: edgegru normalises each feature (axis -1)")
    option(keras, layer, "invert", (False,), False)
    given = [layer.config.get(key) for key in ("mean", "variance")]
    if all(value is not None for value in given):
        mean, variance = (
            _given_values(keras, layer, key, value, size)
            for key, value in zip(("mean", "variance"), given, strict=True)
        )
    else:
        stored = keras.read(layer, "", ("mean", "variance", "count"), {"mean": (size,), "variance": (size,)})
        mean, variance = stored["mean"], stored["variance"]
    if not np.all(variance >= 0):
        keras.fail(f"{layer} variance has a negative or NaN entry")
    std = np.maximum(np.sqrt(variance.astype(np.float64)), EPSILON)
    return Normalisation(mean.astype(np.float32), std.astype(np.float32))


def _given_values(keras: KerasFile, layer: Layer, key: str, value: object, size: int) -> np.ndarray:
    """Normalization's mean or variance given in the config: a number or one per feature."""
    values = value if isinstance(value, list) else [value]
    numbers = len(values) in (1, size) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )
    if not numbers:
        keras.fail(f"{layer} {key} {shown(value)}: expected a number or {size} numbers")
    return np.broadcast_to(np.asarray(values, np.float64), (size,))
