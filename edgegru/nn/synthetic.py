"""Random float models: the one factory that tests, benchmarks and targets share.

A model drawn here is a valid :class:`Model` with weights in PyTorch's initial range
(scaled by ``scale``), so anything that accepts a trained model accepts it too. The same
arguments give the same model on every machine.
"""

from __future__ import annotations

import numpy as np

from edgegru.nn.model import GRULayer, Head, HeadKind, Model, Normalisation, Variant


def random_model(
    input_size: int,
    hidden_sizes: list[int],
    variant: Variant,
    head: HeadKind | None = None,
    *,
    output_size: int = 3,
    seed: int = 0,
    scale: float = 1.0,
    normalisation: Normalisation | None = None,
) -> Model:
    """A model with uniform random weights in ±scale/sqrt(H), PyTorch's init range for scale 1.

    A classification head names its classes ``class0``, ``class1``, ... so that every
    backend that writes names has some to write.
    """
    rng = np.random.default_rng(seed)

    def uniform(bound: float, *shape: int) -> np.ndarray:
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    layers = []
    size = input_size
    for h in hidden_sizes:
        bound = scale / np.sqrt(h)
        layers.append(
            GRULayer(
                uniform(bound, 3, h, size),
                uniform(bound, 3, h, h),
                uniform(bound, 3, h),
                uniform(bound, 3, h),
            )
        )
        size = h
    head_obj = None
    if head is not None:
        bound = 1 / np.sqrt(size)
        names = [f"class{i}" for i in range(output_size)] if head == "classification" else None
        head_obj = Head(head, uniform(bound, output_size, size), uniform(bound, output_size), names)
    return Model(
        input_size,
        variant,
        layers,
        head_obj,
        normalisation=normalisation,
        metadata={"source": f"random(seed={seed})"},
    )
