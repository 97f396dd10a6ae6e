"""edgegru: a GRU from training to a microcontroller, bit-exactly.

The pipeline runs one way: ``data`` -> ``nn`` (training, or ``onnx``/``keras`` import)
-> float :class:`Model` -> ``quant`` (:class:`QuantizedModel` and its integer reference)
-> a backend per target (``codegen`` for C, ``tflite``, ``onnx``) -> ``targets`` (verify
and bench). Each stage reads the previous stage's object; docs/architecture.md maps it.
"""

from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.model import GRULayer, Head, Model, Normalisation
from edgegru.nn.synthetic import random_model

__all__ = [
    "EdgeGruError",
    "GRULayer",
    "Head",
    "Model",
    "Normalisation",
    "__version__",
    "random_model",
]
