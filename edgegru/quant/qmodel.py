"""The quantised model: every integer the targets need, and nothing else.

A :class:`QuantizedModel` is what the C generator, the integer reference and the
verifier read. Its fields are the constants of ``docs/quantization.md``; the only
float scales kept are the input's and the head's, which convert data in and
results out, never on the integer path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..container import load_container, save_container
from ..errors import EdgeGruError
from ..model import VARIANTS, HeadKind, Variant

QMODEL_KIND = "quantized-model"
QMODEL_FORMAT_VERSION = 2  # 2: int32 pre-activations with SMMULR-style multipliers
STATE_BITS = (16, 8)


@dataclass
class QuantizedLayer:
    """Integer constants of one GRU layer (gate order r, z, n).

    ``wx``/``wh`` are int8 (3, H, K); ``mult_x``/``mult_h`` are the per-row int32
    multipliers and ``bias`` the per-row int32 biases of the pre-activation
    ``bias + mul_high(acc_x, mult_x) + mul_high(acc_h, mult_h)`` (12 fractional
    bits). For ``reset_after`` the candidate keeps its recurrent part apart:
    ``bias_hn + mul_high(acc_h, mult_h[2])`` with 13 fractional bits.
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

    def describe(self) -> str:
        parts = [str(self.input_size)] + [f"GRU({h})" for h in self.hidden_sizes]
        if self.head:
            parts.append(f"{self.head.kind}({self.head.output_size})")
        return " -> ".join(parts) + f", {self.variant}, int{self.state_bits} state"

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "input.scale_mul": self.input.scale_mul,
            "input.offset": self.input.offset,
        }
        for i, layer in enumerate(self.layers):
            for name in QuantizedLayer.ARRAYS:
                arrays[f"layer{i}.{name}"] = getattr(layer, name)
        meta: dict[str, Any] = {
            "variant": self.variant,
            "state_bits": self.state_bits,
            "num_layers": len(self.layers),
            "input": {"scale": self.input.scale, "zero_point": self.input.zero_point},
            "metadata": self.metadata,
        }
        if self.head is not None:
            arrays["head.weight"] = self.head.weight
            arrays["head.bias"] = self.head.bias
            meta["head"] = {
                "kind": self.head.kind,
                "weight_scale": self.head.weight_scale,
                "class_names": self.head.class_names,
            }
        save_container(path, QMODEL_KIND, QMODEL_FORMAT_VERSION, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> QuantizedModel:
        meta, arrays = load_container(
            path,
            QMODEL_KIND,
            QMODEL_FORMAT_VERSION,
            min_version=QMODEL_FORMAT_VERSION,
            redo="run edgegru quantize on the float model again",
        )
        try:
            layers = [
                QuantizedLayer(
                    **{n: arrays[f"layer{i}.{n}"] for n in QuantizedLayer.ARRAYS},
                )
                for i in range(int(meta["num_layers"]))
            ]
            head = None
            if "head" in meta:
                head = QuantizedHead(
                    kind=meta["head"]["kind"],
                    weight=arrays["head.weight"],
                    bias=arrays["head.bias"],
                    weight_scale=float(meta["head"]["weight_scale"]),
                    class_names=meta["head"].get("class_names"),
                )
            inp = InputQuantisation(
                scale=float(meta["input"]["scale"]),
                zero_point=int(meta["input"]["zero_point"]),
                scale_mul=arrays["input.scale_mul"],
                offset=arrays["input.offset"],
            )
            if meta["state_bits"] not in STATE_BITS:
                raise EdgeGruError(f"state_bits {meta['state_bits']}: expected 16 or 8")
            qm = cls(meta["variant"], int(meta["state_bits"]), inp, layers, head, meta["metadata"])
            check_quantized(qm)
            return qm
        except KeyError as exc:
            raise EdgeGruError(f"{path}: quantised model file is missing field {exc}") from None
        except EdgeGruError as exc:
            raise EdgeGruError(f"{path}: {exc}") from None
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise EdgeGruError(
                f"{path}: damaged quantised model file ({type(exc).__name__}: {exc})"
            ) from None


def _check_integers(name: str, values: np.ndarray, shape: tuple[int, ...], lo: int, hi: int) -> None:
    if values.shape != shape:
        raise EdgeGruError(f"{name}: shape {values.shape}, expected {shape}")
    if values.dtype.kind not in "iu" or (values.size and (values.min() < lo or values.max() > hi)):
        raise EdgeGruError(f"{name}: expected integers in [{lo}, {hi}]")


def check_quantized(qm: QuantizedModel) -> None:
    """Refuse a quantised model the targets could not run exactly: wrong shapes, values out
    of their formats' ranges (docs/quantization.md), or a variant no target knows. Files are
    checked on load, so a damaged one never reaches the generator."""
    if qm.variant not in VARIANTS:
        raise EdgeGruError(f"variant {qm.variant!r}: expected one of {', '.join(VARIANTS)}")
    if not qm.layers:
        raise EdgeGruError("no layers")
    inp = qm.input
    size = qm.layers[0].input_size
    if not (np.isfinite(inp.scale) and inp.scale > 0) or not -128 <= inp.zero_point <= 127:
        raise EdgeGruError(
            f"input scale {inp.scale} / zero point {inp.zero_point}: expected > 0 / in [-128, 127]"
        )
    for name in ("scale_mul", "offset"):
        values = getattr(inp, name)
        if values.shape != (size,) or not np.isfinite(values).all():
            raise EdgeGruError(f"input {name}: expected {size} finite values")
    int32 = (-(2**31), 2**31 - 1)
    for i, layer in enumerate(qm.layers):
        h = layer.hidden_size
        where = f"layer {i}"
        _check_integers(f"{where} wx", layer.wx, (3, h, size), -127, 127)
        _check_integers(f"{where} wh", layer.wh, (3, h, h), -127, 127)
        # the generated C (ARMv6-M's high product above all) relies on this range
        _check_integers(f"{where} mult_x", layer.mult_x, (3, h), 0, 2**31 - 1)
        _check_integers(f"{where} mult_h", layer.mult_h, (3, h), 0, 2**31 - 1)
        _check_integers(f"{where} bias", layer.bias, (3, h), *int32)
        _check_integers(f"{where} bias_hn", layer.bias_hn, (h,), *int32)
        size = h
    if qm.head is not None:
        head = qm.head
        outputs = head.weight.shape[0] if head.weight.ndim == 2 else 0
        _check_integers("head weight", head.weight, (outputs, size), -127, 127)
        _check_integers("head bias", head.bias, (outputs,), *int32)
        if not (np.isfinite(head.weight_scale) and head.weight_scale > 0):
            raise EdgeGruError(f"head weight_scale {head.weight_scale}: expected a finite number > 0")
