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

from . import __version__
from .container import load_container, save_container
from .errors import EdgeGruError

Variant = Literal["reset_after", "reset_before"]
VARIANTS: tuple[str, ...] = ("reset_after", "reset_before")
MAX_SIZE = 512  # input and hidden sizes the C generator takes: every accumulator provably fits int32
HeadKind = Literal["classification", "regression"]
GATES = ("r", "z", "n")

MODEL_KIND = "float-model"
MODEL_FORMAT_VERSION = 1


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
        """Raise if shapes disagree or a value is not finite."""
        h = self.hidden_size
        expected = {
            "w_x": (3, h, input_size),
            "w_h": (3, h, h),
            "b_x": (3, h),
            "b_h": (3, h),
        }
        for name, shape in expected.items():
            arr = getattr(self, name)
            if arr.shape != shape:
                raise EdgeGruError(f"{where}.{name}: shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise EdgeGruError(f"{where}.{name}: holds NaN or Inf")


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


@dataclass
class Normalisation:
    """Per-channel ``(x - mean) / std``, applied in float before anything else."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


@dataclass
class Model:
    """A float GRU stack with an optional head and input normalisation."""

    input_size: int
    variant: Variant
    layers: list[GRULayer]
    head: Head | None = None
    normalisation: Normalisation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.hidden_size for layer in self.layers]

    @property
    def output_size(self) -> int | None:
        return self.head.output_size if self.head else None

    def validate(self) -> None:
        """Check every shape and value; raise :class:`EdgeGruError` naming the field."""
        if self.variant not in VARIANTS:
            raise EdgeGruError(f"variant {self.variant!r}: expected one of {', '.join(VARIANTS)}")
        if not self.layers:
            raise EdgeGruError("model has no GRU layers")
        if self.input_size < 1:
            raise EdgeGruError(f"input_size {self.input_size}: expected >= 1")
        size = self.input_size
        for i, layer in enumerate(self.layers):
            layer.check(f"layers[{i}]", size)
            size = layer.hidden_size
        if self.head is not None:
            head = self.head
            if head.kind not in ("classification", "regression"):
                raise EdgeGruError(f"head.kind {head.kind!r}: expected classification or regression")
            if head.weight.ndim != 2 or head.weight.shape[1] != size:
                raise EdgeGruError(f"head.weight: shape {head.weight.shape}, expected (C, {size})")
            if head.bias.shape != (head.weight.shape[0],):
                raise EdgeGruError(f"head.bias: shape {head.bias.shape}, expected ({head.weight.shape[0]},)")
            for name in ("weight", "bias"):
                if not np.all(np.isfinite(getattr(head, name))):
                    raise EdgeGruError(f"head.{name}: holds NaN or Inf")
            if head.class_names is not None and len(head.class_names) != head.output_size:
                raise EdgeGruError(
                    f"head.class_names: {len(head.class_names)} names for {head.output_size} outputs"
                )
        if self.normalisation is not None:
            norm = self.normalisation
            for name in ("mean", "std"):
                arr = getattr(norm, name)
                if arr.shape != (self.input_size,):
                    raise EdgeGruError(
                        f"normalisation.{name}: shape {arr.shape}, expected ({self.input_size},)"
                    )
                if not np.all(np.isfinite(arr)):
                    raise EdgeGruError(f"normalisation.{name}: holds NaN or Inf")
            if np.any(norm.std <= 0):
                raise EdgeGruError("normalisation.std: every entry must be > 0")

    def describe(self) -> str:
        """One line such as ``6 -> GRU(32) -> classification(4), reset_after``."""
        parts = [str(self.input_size)] + [f"GRU({h})" for h in self.hidden_sizes]
        if self.head:
            parts.append(f"{self.head.kind}({self.head.output_size})")
        return " -> ".join(parts) + f", {self.variant}"

    def save(self, path: str | Path) -> None:
        """Write the model as one versioned file (atomically)."""
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for name in ("w_x", "w_h", "b_x", "b_h"):
                arrays[f"layer{i}.{name}"] = np.asarray(getattr(layer, name), dtype=np.float32)
        meta: dict[str, Any] = {
            "input_size": self.input_size,
            "variant": self.variant,
            "num_layers": len(self.layers),
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
            layers = [
                GRULayer(*(arrays[f"layer{i}.{n}"] for n in ("w_x", "w_h", "b_x", "b_h")))
                for i in range(int(meta["num_layers"]))
            ]
            head = None
            if "head" in meta:
                head = Head(
                    kind=meta["head"]["kind"],
                    weight=arrays["head.weight"],
                    bias=arrays["head.bias"],
                    class_names=meta["head"].get("class_names"),
                )
            norm = None
            if "norm.mean" in arrays:
                norm = Normalisation(arrays["norm.mean"], arrays["norm.std"])
            return cls(
                input_size=int(meta["input_size"]),
                variant=meta["variant"],
                layers=layers,
                head=head,
                normalisation=norm,
                metadata=dict(meta.get("metadata", {})),
            )
        except KeyError as exc:
            raise EdgeGruError(f"{path}: model file is missing field {exc}") from None
        except EdgeGruError as exc:
            raise EdgeGruError(f"{path}: {exc}") from None
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise EdgeGruError(f"{path}: damaged model file ({type(exc).__name__}: {exc})") from None


def random_model(
    input_size: int,
    hidden_sizes: list[int],
    variant: Variant,
    head: HeadKind | None = None,
    output_size: int = 3,
    seed: int = 0,
    scale: float = 1.0,
) -> Model:
    """A model with random weights (PyTorch's init range), for tests and benchmarks."""
    rng = np.random.default_rng(seed)
    layers = []
    size = input_size
    for h in hidden_sizes:
        bound = scale / np.sqrt(h)

        def u(*shape: int, bound: float = bound) -> np.ndarray:
            return rng.uniform(-bound, bound, shape).astype(np.float32)

        layers.append(GRULayer(u(3, h, size), u(3, h, h), u(3, h), u(3, h)))
        size = h
    head_obj = None
    if head is not None:
        bound = 1 / np.sqrt(size)
        names = [f"class{i}" for i in range(output_size)] if head == "classification" else None
        head_obj = Head(
            head,
            rng.uniform(-bound, bound, (output_size, size)).astype(np.float32),
            rng.uniform(-bound, bound, output_size).astype(np.float32),
            names,
        )
    return Model(input_size, variant, layers, head_obj, metadata={"source": f"random(seed={seed})"})
