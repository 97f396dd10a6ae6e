"""Stream raw inputs through a quantised model's generated C, one time step at a time.

:class:`CStreamingModel` is :class:`edgegru.tflite.stream.StreamingModel`'s counterpart for
the C engine: the same attributes and methods (``input_size``, ``class_names``, ``step``,
``reset``, ``state``, ``latency``, ``format_output``), so ``edgegru run --engine c`` prints
exactly the lines the LiteRT path prints, and the same integers as the integer reference.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError
from edgegru.engine.library import EngineLibrary
from edgegru.quant.qmodel import QuantizedModel
from edgegru.tflite.stream import LatencyStats, StreamingModel, checked_step_input

Q15 = 2.0**-15  # the real value of one LSB of a Q0.15 output (a model without a head)


class CStreamingModel:
    """A quantised model's C engine with its hidden state, fed one raw time step at a time.

    ``library`` is a prebuilt engine library (``edgegru engine``), checked against the model
    before the first step; without it, this machine's C compiler builds one into the user's
    cache on first use (:func:`edgegru.engine.build.cached_library`).
    """

    # The CSV of a step's output, shared with the LiteRT path: it reads only output_kind
    # and class_names.
    format_output = StreamingModel.format_output

    def __init__(self, qm: QuantizedModel, library: str | Path | None = None) -> None:
        if library is None:
            library = _build_here(qm)
        self.engine = EngineLibrary(library, qm)
        self.input_size = qm.input_size
        self.frame = qm.frame
        self.output_kind = qm.head.kind if qm.head is not None else "hidden"
        self.class_names = qm.head.class_names if qm.head is not None else None
        self._output_lsb = qm.head.logit_scale if qm.head is not None else Q15
        # int16 states are Q0.15; int8 states Q0.7
        self._state_one = 2.0**15 if qm.state_bits == 16 else 2.0**7
        self._splits = np.cumsum(qm.hidden_sizes)[:-1]
        self.latency = LatencyStats()

    def reset(self) -> None:
        """Start a new sequence: every hidden state back to zero."""
        self.engine.reset()

    @property
    def state(self) -> list[np.ndarray]:
        """The current hidden state of each layer, as floats (H_k,)."""
        return np.split(self.engine.hidden() / self._state_one, self._splits)

    def step(self, x: np.ndarray) -> np.ndarray:
        """Feed one time step x (D,) of raw inputs; return the output (C,) as floats.

        The C normalises and quantises x in float32, as on a device, and the outputs are
        its int32 integers times their scale."""
        start = time.perf_counter()
        x = checked_step_input(x, self.input_size)
        y = self.engine.step_float(x) * self._output_lsb
        self.latency.add(time.perf_counter() - start)
        return y


def _build_here(qm: QuantizedModel) -> Path:
    """The model's library from this machine's cache, built on first use: that takes the
    generator (Jinja2) and a C compiler, which a Pi running a shipped library may not have."""
    try:
        from edgegru.engine.build import cached_library
    except ModuleNotFoundError as exc:
        raise EdgeGruError(
            f"--engine c without --library builds the engine here, which needs {exc.name} (not installed): "
            "give --library FILE.so built elsewhere with edgegru engine"
        ) from None
    return cached_library(qm)
