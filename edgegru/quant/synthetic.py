"""Random quantised models: a random float model quantised on random normal inputs."""

from __future__ import annotations

import numpy as np

from edgegru.nn.model import HeadKind, Normalisation, Variant
from edgegru.nn.synthetic import random_model
from edgegru.quant.calibrate import calibrate
from edgegru.quant.qmodel import QuantizedModel
from edgegru.quant.quantize import quantize


def random_qmodel(
    input_size: int,
    hidden_sizes: list[int],
    variant: Variant,
    head: HeadKind | None = None,
    state_bits: int = 16,
    *,
    output_size: int = 3,
    seed: int = 0,
    scale: float = 1.0,
    normalisation: Normalisation | None = None,
    calibration: tuple[int, int] = (16, 40),
) -> QuantizedModel:
    """``random_model(...)`` quantised to ``state_bits``, calibrated on standard normal inputs.

    ``calibration`` is (sequences, steps) of the calibration batch, drawn with ``seed``;
    benchmarks pin it so that their tables measure the same integers from run to run.
    """
    model = random_model(
        input_size,
        hidden_sizes,
        variant,
        head,
        output_size=output_size,
        seed=seed,
        scale=scale,
        normalisation=normalisation,
    )
    x = np.random.default_rng(seed).normal(size=(*calibration, input_size))
    if normalisation is not None:
        x = x * normalisation.std + normalisation.mean
    return quantize(model, calibrate(model, x), state_bits)
