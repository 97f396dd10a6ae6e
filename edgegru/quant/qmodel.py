"""The quantised model: every integer the targets need, and nothing else.

A :class:`QuantizedModel` is what the C generator, the integer reference and the
verifier read. Its fields are the constants of ``docs/quantization.md``; the only
float scales kept are the input's and the head's, which convert data in and
results out, never on the integer path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.container import load_container, save_container
from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_LAYERS
from edgegru.nn.model import (
    VARIANTS,
    HeadKind,
    Model,
    Variant,
    architecture_line,
    check_choice,
    check_class_names,
    check_floats,
    check_head_kind,
    check_hidden,
    check_input_size,
    check_integer,
    check_metadata,
    check_model_frame,
    check_outputs,
    check_scale,
    json_object,
)
from edgegru.quant.fixedpoint import INT8_MAX, INT8_MIN, INT32_MAX, INT32_MIN

QMODEL_KIND = "quantized-model"
QMODEL_FORMAT_VERSION = 3  # 2: int32 pre-activations with SMMULR-style multipliers; 3: frames
QMODEL_MIN_VERSION = 2  # version 2 files hold frames of one sample
STATE_BITS = (16, 8)
ACT_PEAK = 32768  # |activation| bound: Q0.15 states, and layer 0's int8 inputs times 256


@dataclass
class QuantizedLayer:
    """Integer constants of one GRU layer (gate order r, z, n).

    ``wx``/``wh`` are int8 (3, H, K); ``mult_x``/``mult_h`` are the per-row int32
    multipliers and ``bias`` the per-row int32 biases of the pre-activation
    ``gate_pre(bias, acc_x, mult_x, acc_h, mult_h)`` (12 fractional
    bits). For ``reset_after`` the candidate keeps its recurrent part apart:
    ``mul_high_add(bias_hn, acc_h, mult_h[2])`` with 13 fractional bits.
    """

    wx: np.ndarray
    wh: np.ndarray
    mult_x: np.ndarray
    mult_h: np.ndarray
    bias: np.ndarray
    bias_hn: np.ndarray

    @property
    def input_size(self) -> int:
        return int(self.wx.shape[2])

    @property
    def hidden_size(self) -> int:
        return int(self.wh.shape[1])

    ARRAYS = ("wx", "wh", "mult_x", "mult_h", "bias", "bias_hn")


@dataclass
class QuantizedHead:
    """int8 weights with one scale for the whole matrix, so int32 logits share a scale."""

    kind: HeadKind
    weight: np.ndarray  # int8 (C, H)
    bias: np.ndarray  # int32 (C,) at weight_scale * 2^-15
    weight_scale: float
    class_names: list[str] | None = None

    @property
    def output_size(self) -> int:
        return int(self.weight.shape[0])

    @property
    def logit_scale(self) -> float:
        """Real value of one logit LSB."""
        return self.weight_scale * 2.0**-15


@dataclass
class InputQuantisation:
    """Float input -> int8: q = clamp(round(x * scale_mul + offset)), per channel.

    ``scale_mul``/``offset`` fold the model's normalisation, the int8 scale and the
    zero point, and are float32 because the on-device float entry point computes
    them in float32; the reference mirrors that arithmetic exactly.
    """

    scale: float  # real value of one int8 step, after normalisation
    zero_point: int
    scale_mul: np.ndarray  # float32 (D,)
    offset: np.ndarray  # float32 (D,)


@dataclass
class QuantizedModel:
    """A quantised GRU stack: see docs/quantization.md for every field's meaning."""

    variant: Variant
    state_bits: int
    input: InputQuantisation
    layers: list[QuantizedLayer]
    head: QuantizedHead | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    frame: int = 1  # samples per step, as the float model's (edgegru/data/frames.py)

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.hidden_size for layer in self.layers]

    def weight_bytes(self) -> int:
        """Bytes of int8 weights (GRU and head)."""
        total = sum(layer.wx.size + layer.wh.size for layer in self.layers)
        return total + (self.head.weight.size if self.head else 0)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Per-sequence output through the integer reference (see its ``predict``)."""
        from edgegru.quant.integer_reference import predict  # it reads this module's classes

        return predict(self, x, lengths)

    def describe(self) -> str:
        """One line such as ``6 -> GRU(32) -> classification(4), reset_after, int16 state``."""
        shape = architecture_line(self.input_size, self.hidden_sizes, self.head, self.frame)
        return f"{shape}, {self.variant}, int{self.state_bits} state"

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array the targets compute with, by the name its file stores it under."""
        arrays: dict[str, np.ndarray] = {
            "input.scale_mul": self.input.scale_mul,
            "input.offset": self.input.offset,
        }
        for i, layer in enumerate(self.layers):
            for name in QuantizedLayer.ARRAYS:
                arrays[f"layer{i}.{name}"] = getattr(layer, name)
        if self.head is not None:
            arrays["head.weight"] = self.head.weight
            arrays["head.bias"] = self.head.bias
        return arrays

    def fingerprint(self) -> str:
        """The first 16 hex digits of the SHA-256 of everything the C computes with: the
        variant, the state width, the input's and the head's scales, and every array (its
        name, type, shape and little-endian bytes), so a firmware can log which model it runs."""
        digest = hashlib.sha256()
        scalars = [self.variant, self.state_bits, repr(float(self.input.scale)), self.input.zero_point]
        if self.head is not None:
            scalars += [self.head.kind, repr(float(self.head.weight_scale))]
        digest.update(repr(scalars).encode())
        for name, array in self.arrays().items():
            values = np.ascontiguousarray(array, dtype=np.asarray(array).dtype.newbyteorder("<"))
            digest.update(f"{name} {values.dtype.str} {values.shape}".encode())
            digest.update(values.tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        """Write the model as one versioned file (atomically), after the checks loading makes,
        so that no file is written that could not be read back."""
        check_quantized(self)
        arrays = self.arrays()
        meta: dict[str, Any] = {
            "variant": self.variant,
            "state_bits": self.state_bits,
            "num_layers": len(self.layers),
            "frame": int(self.frame),
            "input": {"scale": float(self.input.scale), "zero_point": int(self.input.zero_point)},
            "metadata": self.metadata,
        }
        if self.head is not None:
            meta["head"] = {
                "kind": self.head.kind,
                "weight_scale": float(self.head.weight_scale),
                "class_names": self.head.class_names,
            }
        save_container(path, QMODEL_KIND, QMODEL_FORMAT_VERSION, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> QuantizedModel:
        """Read a model written by :meth:`save`, checked by :func:`check_quantized`; bad files
        raise :class:`EdgeGruError` naming the field."""
        meta, arrays = load_container(
            path,
            QMODEL_KIND,
            QMODEL_FORMAT_VERSION,
            min_version=QMODEL_MIN_VERSION,
            redo="run edgegru quantize on the float model again",
        )
        try:
            count = check_integer("num_layers", meta["num_layers"], 1, MAX_LAYERS)
            layers = [
                QuantizedLayer(**{n: arrays[f"layer{i}.{n}"] for n in QuantizedLayer.ARRAYS})
                for i in range(count)
            ]
            head = None
            if "head" in meta:
                fields = json_object("head", meta["head"])
                head = QuantizedHead(
                    kind=fields["kind"],
                    weight=arrays["head.weight"],
                    bias=arrays["head.bias"],
                    weight_scale=fields["weight_scale"],
                    class_names=fields.get("class_names"),
                )
            fields = json_object("input", meta["input"])
            inp = InputQuantisation(
                scale=fields["scale"],
                zero_point=fields["zero_point"],
                scale_mul=arrays["input.scale_mul"],
                offset=arrays["input.offset"],
            )
            qm = cls(
                meta["variant"], meta["state_bits"], inp, layers, head, meta["metadata"], meta.get("frame", 1)
            )
            check_quantized(qm)
            return qm
        except KeyError as exc:
            raise EdgeGruError(f"{path}: quantised model file is missing field {exc}") from None
        except EdgeGruError as exc:
            raise EdgeGruError(f"{path}: {exc}") from None


INT32 = (INT32_MIN, INT32_MAX)


def same_architecture(qm: QuantizedModel, model: Model) -> bool:
    """Whether ``qm`` has the shape of the float ``model``: sizes, variant and head, which is
    what a float model and the quantised model made from it always share."""

    def shape(m: QuantizedModel | Model) -> tuple[object, ...]:
        head = None if m.head is None else (m.head.kind, m.head.output_size)
        return m.variant, m.input_size, m.frame, m.hidden_sizes, head

    return shape(qm) == shape(model)


def _check_integers(name: str, values: np.ndarray, shape: tuple[int, ...], lo: int, hi: int) -> None:
    """Refuse ``values`` unless they are integers of ``shape`` in [lo, hi]."""
    if not isinstance(values, np.ndarray):
        raise EdgeGruError(f"{name}: {type(values).__name__}, expected an array")
    if values.shape != shape:
        raise EdgeGruError(f"{name}: shape {values.shape}, expected {shape}")
    if values.dtype.kind not in "iu" or (values.size and (values.min() < lo or values.max() > hi)):
        raise EdgeGruError(f"{name}: expected integers in [{lo}, {hi}]")


def check_layer_bounds(
    index: int,
    wx: np.ndarray,
    wh: np.ndarray,
    mult_x: np.ndarray,
    mult_h: np.ndarray,
    bias: np.ndarray,
    bias_hn: np.ndarray | None,
) -> None:
    """Refuse a layer whose worst case could overflow an int32 accumulator or sum.

    Bounds are taken from the actual integer weights: |acc| <= sum|w| * ACT_PEAK, and
    each requantised part is at most (|acc| * M + 2^31) / 2^32 in magnitude.
    ``bias_hn`` is reset_after's bias of n's recurrent part: that part, scaled by
    r <= 1, adds at most |B_hn| + its product to pre_n. The quantiser proves this for
    the layers it makes, and loading proves it again for a file's, whose C would
    otherwise have undefined behaviour (signed overflow). With int32 values and sizes at
    most MAX_SIZE, every product here is exact in int64.
    """
    acc_x = np.abs(wx.astype(np.int64)).sum(axis=2) * ACT_PEAK
    acc_h = np.abs(wh.astype(np.int64)).sum(axis=2) * ACT_PEAK
    mult_x, mult_h = mult_x.astype(np.int64), mult_h.astype(np.int64)
    bias = bias.astype(np.int64)
    bias_hn = None if bias_hn is None else bias_hn.astype(np.int64)
    for gate in range(3):
        where = f"layer {index} gate {'rzn'[gate]}"
        if acc_x[gate].max() > INT32_MAX or acc_h[gate].max() > INT32_MAX:
            raise EdgeGruError(f"{where}: a dot product could overflow its int32 accumulator")
        part_x = (acc_x[gate] * mult_x[gate] >> 32) + 1
        part_h = (acc_h[gate] * mult_h[gate] >> 32) + 1
        worst = np.abs(bias[gate]) + part_x + part_h
        if bias_hn is not None and gate == 2:
            worst = worst + np.abs(bias_hn)
        if worst.max() > INT32_MAX:
            raise EdgeGruError(f"{where} unit {int(worst.argmax())}: pre-activation could overflow int32")


def check_head_bounds(weight: np.ndarray, bias: np.ndarray) -> None:
    """Refuse a head whose int32 logit (bias plus a dot product with Q0.15 states) could
    overflow."""
    worst = np.abs(bias.astype(np.int64)) + np.abs(weight.astype(np.int64)).sum(axis=1) * ACT_PEAK
    if worst.max() > INT32_MAX:
        raise EdgeGruError("head: a logit could overflow int32 (bias too large for the weights' scale)")


def check_quantized(qm: QuantizedModel) -> None:
    """Refuse a quantised model the targets could not run exactly: wrong types or shapes,
    sizes beyond the generator's, values out of their formats' ranges, int32 arithmetic
    that could overflow (docs/quantization.md), scales the C cannot write as float32, or an
    enumerated field no target knows. The one check of a quantised model: the quantiser's
    result, every file on load and every model before save go through it, so a file the
    generator would refuse (or turn into C with undefined behaviour) is never written or read.
    """
    check_choice("variant", qm.variant, VARIANTS)
    check_choice("state_bits", qm.state_bits, STATE_BITS)
    check_integer("number of layers", len(qm.layers), 1, MAX_LAYERS)
    check_metadata(qm.metadata)
    size = _check_input(qm.input, check_input_size("layer 0 wx", qm.layers[0].wx))
    check_model_frame(qm.frame, size)
    for i, layer in enumerate(qm.layers):
        size = _check_layer(i, layer, size, split_n=qm.variant == "reset_after")
    if qm.head is not None:
        _check_head(qm.head, size)


def _check_input(inp: InputQuantisation, size: int) -> int:
    """Check the int8 input quantisation of ``size`` channels; return ``size``."""
    check_scale("input.scale", inp.scale)
    check_integer("input.zero_point", inp.zero_point, INT8_MIN, INT8_MAX)
    for name in ("scale_mul", "offset"):
        values = getattr(inp, name)
        # float32 is the arithmetic of the C float entry point and of the reference
        if not isinstance(values, np.ndarray) or values.dtype != np.float32:
            raise EdgeGruError(f"input.{name}: expected float32 values")
        check_floats(f"input.{name}", values, (size,))
    return size


def _check_layer(index: int, layer: QuantizedLayer, size: int, split_n: bool) -> int:
    """Check one layer reading ``size`` inputs; return its hidden size."""
    where = f"layer {index}"
    h = check_hidden(f"{where} wh", layer.wh)
    _check_integers(f"{where} wx", layer.wx, (3, h, size), -127, 127)
    _check_integers(f"{where} wh", layer.wh, (3, h, h), -127, 127)
    # the generated C (ARMv6-M's high product above all) relies on this range
    _check_integers(f"{where} mult_x", layer.mult_x, (3, h), 0, INT32_MAX)
    _check_integers(f"{where} mult_h", layer.mult_h, (3, h), 0, INT32_MAX)
    _check_integers(f"{where} bias", layer.bias, (3, h), *INT32)
    _check_integers(f"{where} bias_hn", layer.bias_hn, (h,), *INT32)
    bias_hn = layer.bias_hn if split_n else None
    check_layer_bounds(index, layer.wx, layer.wh, layer.mult_x, layer.mult_h, layer.bias, bias_hn)
    return h


def _check_head(head: QuantizedHead, size: int) -> None:
    """Check a head reading ``size`` units."""
    outputs = check_outputs("head weight", head.weight)
    check_head_kind(head.kind, outputs)
    _check_integers("head weight", head.weight, (outputs, size), -127, 127)
    _check_integers("head bias", head.bias, (outputs,), *INT32)
    check_scale("head.weight_scale", head.weight_scale)
    check_scale("head.weight_scale * 2^-15 (the logit scale)", head.logit_scale)
    check_class_names(head.class_names, outputs)
    check_head_bounds(head.weight, head.bias)
