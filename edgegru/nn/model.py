"""The float model description that every stage reads.

Training writes it, quantisation reads it, and the ONNX, TFLite and PyTorch
bridges translate to and from it. It is deliberately plain: NumPy arrays in a
fixed layout, plus a few names.

Weight layout (one :class:`GRULayer`, hidden size H, input size D):

* gate order is **r, z, n** (reset, update, candidate), as in PyTorch;
* ``w_x[g]`` has shape (H, D) and ``w_h[g]`` shape (H, H): rows are output units,
  so a gate's pre-activation is ``w_x[g] @ x + b_x[g] + w_h[g] @ h + b_h[g]``;
* both biases are kept separately because the two variants use them differently
  (``reset_after`` multiplies ``w_h[n] @ h + b_h[n]`` by r).

The variant is ``reset_after`` (PyTorch, cuDNN, ONNX ``linear_before_reset=1``,
Keras ``reset_after=True``) or ``reset_before`` (the original formulation, ONNX
``linear_before_reset=0``, Keras ``reset_after=False``). It is a required field,
never inferred, because the two give different answers for the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgegru.core.container import load_container, save_container
from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_FRAME, MAX_LAYERS, MAX_NAME_BYTES, MAX_OUTPUTS, MAX_SIZE
from edgegru.core.version import __version__

Variant = Literal["reset_after", "reset_before"]
VARIANTS: tuple[str, ...] = ("reset_after", "reset_before")
HeadKind = Literal["classification", "regression"]
HEAD_KINDS: tuple[str, ...] = ("classification", "regression")
GATES = ("r", "z", "n")


MODEL_KIND = "float-model"
MODEL_FORMAT_VERSION = 2  # 2: frames (``frame``); version 1 files hold frames of one sample


def shown(value: object) -> str:
    """A value from a file, fit for one line of a message: a string quoted and escaped,
    anything else as its (shortened) repr, so a huge list never floods the message."""
    return quote(value) if isinstance(value, str) else quote(repr(value))[1:-1]


def check_choice(name: str, value: object, choices: tuple[Any, ...]) -> None:
    """Refuse a value that is not one of ``choices``, of the same type: JSON's ``16.0``,
    ``"16"`` and ``true`` are not the integer 16, and a list is not a variant."""
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        raise EdgeGruError(f"{name} {shown(value)}: expected one of {', '.join(map(str, choices))}")


def check_integer(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]. Floats (even 3.0), booleans and strings are refused
    rather than converted: a hand-edited 3.5 must not be truncated to 3 silently."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise EdgeGruError(f"{name} {shown(value)}: expected an integer in [{lo}, {hi}]")
    return int(value)


def check_model_frame(frame: object, input_size: int) -> int:
    """A model's samples per step: 1..MAX_FRAME, dividing its input size into whole samples."""
    value = check_integer("frame", frame, 1, MAX_FRAME)
    if input_size % value:
        raise EdgeGruError(f"frame {value}: does not divide input_size {input_size} into whole samples")
    return value


def check_scale(name: str, value: object) -> float:
    """A scale > 0 that stays finite and non-zero in float32: the C writes it as a float
    literal, and one float32 cannot hold (1e300) becomes ``inf`` there."""
    number = None
    if not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = None
    if number is None or not 0 < _as_float32(np.array(number)) < np.inf:
        raise EdgeGruError(f"{name} {shown(value)}: expected a number > 0 that float32 holds")
    return number


def _as_float32(values: np.ndarray) -> np.ndarray:
    """``values`` in float32, out-of-range ones as inf (without a warning)."""
    with np.errstate(over="ignore", under="ignore"):
        return values.astype(np.float32)


def check_floats(name: str, values: object, shape: tuple[int, ...]) -> None:
    """Refuse an array of the wrong shape or type, or holding a value float32 (the file's
    type) cannot hold: NaN, Inf, or beyond float32's range."""
    if not isinstance(values, np.ndarray):
        raise EdgeGruError(f"{name}: {type(values).__name__}, expected an array")
    if values.shape != shape:
        raise EdgeGruError(f"{name}: shape {values.shape}, expected {shape}")
    if values.dtype.kind != "f":
        raise EdgeGruError(f"{name}: {values.dtype} values, expected floating-point numbers")
    if not np.isfinite(_as_float32(values)).all():
        raise EdgeGruError(f"{name}: holds NaN or Inf, or a value beyond float32's range")


def check_dimension(name: str, values: object, pattern: str, axis: int, limit: int) -> int:
    """The size of ``values`` along ``axis``, shaped like ``pattern`` (e.g. ``"(3, H, D)"``) with
    that size in 1..limit: checked from the shape alone, before any stage sizes work by it."""
    shape = np.shape(values)
    letters = pattern.strip("()").split(", ")
    if len(shape) != len(letters) or not 1 <= shape[axis] <= limit:
        raise EdgeGruError(f"{name}: shape {shape}, expected {pattern} with {letters[axis]} in 1..{limit}")
    return int(shape[axis])


def check_hidden(name: str, w_h: object) -> int:
    """The hidden size H of recurrent weights shaped (3, H, H)."""
    return check_dimension(name, w_h, "(3, H, H)", 1, MAX_SIZE)


def check_input_size(name: str, w_x: object) -> int:
    """The input size D of input weights shaped (3, H, D)."""
    return check_dimension(name, w_x, "(3, H, D)", 2, MAX_SIZE)


def check_outputs(name: str, weight: object) -> int:
    """The output count C of head weights shaped (C, H)."""
    return check_dimension(name, weight, "(C, H)", 0, MAX_OUTPUTS)


def check_head_kind(kind: object, outputs: int) -> None:
    """A known head kind that fits its output count: a classifier picks one of at least two
    classes (one output is a score or a regression, and its argmax would always be 0)."""
    check_choice("head.kind", kind, HEAD_KINDS)
    if kind == "classification" and outputs < 2:
        raise EdgeGruError(
            f"head.kind 'classification' with {outputs} output: a classifier needs at least 2 "
            "outputs, one per class; read a single output as 'regression'"
        )


def check_class_names(names: object, outputs: int) -> None:
    """None, or one name per output: each a non-empty string of at most MAX_NAME_BYTES of
    UTF-8 without NUL (a NUL would cut the C string; a short list would leave NULL pointers
    in the C's array of names)."""
    if names is None:
        return
    if not isinstance(names, list) or len(names) != outputs:
        count = f"{len(names)} names" if isinstance(names, list) else type(names).__name__
        raise EdgeGruError(f"head.class_names: {count}, expected a list of {outputs} names, one per output")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not 0 < _utf8_length(name) <= MAX_NAME_BYTES or "\0" in name:
            raise EdgeGruError(
                f"head.class_names[{i}] {shown(name)}: expected a non-empty string of at most "
                f"{MAX_NAME_BYTES} UTF-8 bytes, without NUL"
            )


def _utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8; -1 for text no UTF-8 holds (a lone surrogate from JSON)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return -1


def check_metadata(metadata: object) -> dict[str, Any]:
    """Free-form metadata must be a JSON object (its size is bounded by the container)."""
    return json_object("metadata", metadata)


def architecture_line(input_size: int, hidden_sizes: list[int], head: Any, frame: int = 1) -> str:
    """``6 -> GRU(32) -> classification(4)``: the shape both model types describe themselves by,
    ``4 (frames of 4 x 1) -> ...`` when a step takes several samples.

    ``head`` is any object with ``kind`` and ``output_size`` (a float or a quantised head).
    """
    first = str(input_size) if frame == 1 else f"{input_size} (frames of {frame} x {input_size // frame})"
    parts = [first] + [f"GRU({h})" for h in hidden_sizes]
    if head:
        parts.append(f"{head.kind}({head.output_size})")
    return " -> ".join(parts)


def json_object(name: str, value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object (a dict); a file's list or null there is refused."""
    if not isinstance(value, dict):
        raise EdgeGruError(f"{name}: {type(value).__name__}, expected a JSON object")
    return value


@dataclass
class GRULayer:
    """Weights of one GRU layer in (r, z, n) order; see the module docstring."""

    w_x: np.ndarray
    w_h: np.ndarray
    b_x: np.ndarray
    b_h: np.ndarray

    @property
    def input_size(self) -> int:
        return int(self.w_x.shape[2])

    @property
    def hidden_size(self) -> int:
        return int(self.w_h.shape[1])

    def check(self, where: str, input_size: int) -> None:
        """Raise if shapes or types disagree, a size is beyond the generator's, or a value is
        not finite."""
        h = check_hidden(f"{where}.w_h", self.w_h)
        expected = {"w_x": (3, h, input_size), "w_h": (3, h, h), "b_x": (3, h), "b_h": (3, h)}
        for name, shape in expected.items():
            check_floats(f"{where}.{name}", getattr(self, name), shape)


@dataclass
class Head:
    """A linear read-out of the last layer's hidden state."""

    kind: HeadKind
    weight: np.ndarray  # (C, H)
    bias: np.ndarray  # (C,)
    class_names: list[str] | None = None

    @property
    def output_size(self) -> int:
        return int(self.weight.shape[0])

    def check(self, hidden_size: int) -> None:
        """Raise unless this head reads ``hidden_size`` units into at most MAX_OUTPUTS outputs."""
        outputs = check_outputs("head.weight", self.weight)
        check_head_kind(self.kind, outputs)
        check_floats("head.weight", self.weight, (outputs, hidden_size))
        check_floats("head.bias", self.bias, (outputs,))
        check_class_names(self.class_names, outputs)


@dataclass
class Normalisation:
    """Per-channel ``(x - mean) / std``, applied in float before anything else."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def check(self, input_size: int) -> None:
        """Raise unless there is one finite mean and one positive std per input channel."""
        check_floats("normalisation.mean", self.mean, (input_size,))
        check_floats("normalisation.std", self.std, (input_size,))
        if np.any(self.std <= 0):
            raise EdgeGruError("normalisation.std: every entry must be > 0")


@dataclass
class Model:
    """A float GRU stack with an optional head and input normalisation."""

    input_size: int
    variant: Variant
    layers: list[GRULayer]
    head: Head | None = None
    normalisation: Normalisation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    frame: int = 1  # samples per step: input_size = frame x channels (edgegru/data/frames.py)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.hidden_size for layer in self.layers]

    @property
    def output_size(self) -> int | None:
        return self.head.output_size if self.head else None

    def validate(self) -> None:
        """Check every field against what the later stages take; raise :class:`EdgeGruError`
        naming the field. The one check of a float model: on construction, load and save."""
        check_choice("variant", self.variant, VARIANTS)
        check_integer("number of layers", len(self.layers), 1, MAX_LAYERS)
        size = check_integer("input_size", self.input_size, 1, MAX_SIZE)
        for i, layer in enumerate(self.layers):
            layer.check(f"layers[{i}]", size)
            size = layer.hidden_size
        if self.head is not None:
            self.head.check(size)
        if self.normalisation is not None:
            self.normalisation.check(self.input_size)
        check_model_frame(self.frame, self.input_size)
        check_metadata(self.metadata)

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Per-sequence output through the float reference (see its ``predict``)."""
        from edgegru.nn.float_reference import predict  # it reads this module's classes

        return predict(self, x, lengths)

    def describe(self) -> str:
        """One line such as ``6 -> GRU(32) -> classification(4), reset_after``."""
        shape = architecture_line(self.input_size, self.hidden_sizes, self.head, self.frame)
        return f"{shape}, {self.variant}"

    def save(self, path: str | Path) -> None:
        """Write the model as one versioned file (atomically), after the checks loading makes,
        so that no file is written that could not be read back."""
        self.validate()
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for name in ("w_x", "w_h", "b_x", "b_h"):
                arrays[f"layer{i}.{name}"] = np.asarray(getattr(layer, name), dtype=np.float32)
        meta: dict[str, Any] = {
            "input_size": int(self.input_size),  # the check takes NumPy integers; JSON does not
            "variant": self.variant,
            "num_layers": len(self.layers),
            "frame": int(self.frame),
            "metadata": {**self.metadata, "edgegru_version": __version__},
        }
        if self.head is not None:
            arrays["head.weight"] = self.head.weight.astype(np.float32)
            arrays["head.bias"] = self.head.bias.astype(np.float32)
            meta["head"] = {"kind": self.head.kind, "class_names": self.head.class_names}
        if self.normalisation is not None:
            arrays["norm.mean"] = self.normalisation.mean.astype(np.float32)
            arrays["norm.std"] = self.normalisation.std.astype(np.float32)
        save_container(path, MODEL_KIND, MODEL_FORMAT_VERSION, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a model written by :meth:`save`; bad files raise :class:`EdgeGruError`."""
        meta, arrays = load_container(path, MODEL_KIND, MODEL_FORMAT_VERSION)
        try:
            count = check_integer("num_layers", meta["num_layers"], 1, MAX_LAYERS)
            layers = [
                GRULayer(*(arrays[f"layer{i}.{n}"] for n in ("w_x", "w_h", "b_x", "b_h")))
                for i in range(count)
            ]
            head = None
            if "head" in meta:
                fields = json_object("head", meta["head"])
                head = Head(
                    kind=fields["kind"],
                    weight=arrays["head.weight"],
                    bias=arrays["head.bias"],
                    class_names=fields.get("class_names"),
                )
            norm = None
            if "norm.mean" in arrays:
                norm = Normalisation(arrays["norm.mean"], arrays["norm.std"])
            return cls(
                input_size=meta["input_size"],
                variant=meta["variant"],
                layers=layers,
                head=head,
                normalisation=norm,
                metadata=dict(check_metadata(meta.get("metadata", {}))),
                frame=meta.get("frame", 1),
            )
        except KeyError as exc:
            raise EdgeGruError(f"{path}: model file is missing field {exc}") from None
        except EdgeGruError as exc:
            raise EdgeGruError(f"{path}: {exc}") from None
