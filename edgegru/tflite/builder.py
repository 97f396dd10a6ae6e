"""A small graph builder over the TFLite flatbuffer schema's object API.

edgegru writes .tflite files itself instead of going through TensorFlow's
converter: the converter needs TensorFlow (gigabytes, and no wheel for every
platform) and would re-derive quantisation parameters that edgegru must choose
itself to respect the int8 kernels' constraints. The schema module that ships
inside ``ai_edge_litert`` is all that is needed to serialise a model.

The builder knows nothing about GRUs: it holds tensors, constant buffers,
operators, one subgraph, one signature and named metadata, and packs them.
Constant tensors made from the same array share one tensor (and so one buffer),
which is what keeps an unrolled sequence model from repeating its weights.

The records around the weights are kept small because on tiny models they
outweigh the weights: only graph inputs and outputs are named; every distinct
string, vector, quantisation, options table and unnamed tensor record is written
once and referenced from everywhere it recurs (see _SharingBuilder); constant
data is placed so that its alignment costs no padding (see ``finish``); the model
has no description string unless asked for (the ``edgegru`` metadata says which
edgegru wrote it); operator codes below 127 use the 8-bit field only (_opcode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError

try:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise EdgeGruError(
        f"TFLite export needs ai-edge-litert and flatbuffers ({exc}); "
        "install them with: pip install 'edgegru[tflite]'"
    ) from None

TFLITE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
# Constant data is aligned so that kernels may read it in place with vector loads.
BUFFER_ALIGNMENT = 16

_TENSOR_TYPES = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.int32): schema.TensorType.INT32,
}

Op = schema.BuiltinOperator
Options = schema.BuiltinOptions


@dataclass(frozen=True)
class QuantParams:
    """Affine quantisation: ``real = scale * (q - zero_point)``, per tensor or per axis."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> QuantParams:
        return cls((float(scale),), (int(zero_point),))

    def to_schema(self) -> Any:
        q = schema.QuantizationParametersT()
        q.scale = np.array(self.scale, dtype=np.float32)
        q.zeroPoint = np.array(self.zero_point, dtype=np.int64)
        q.quantizedDimension = self.axis
        return _Shared(q, self)


class _SharingBuilder(flatbuffers.Builder):
    """A flatbuffers Builder that writes each distinct string, vector and table once.

    A flatbuffer may reference one object from many places, and in a GRU graph
    most objects repeat: shapes such as (1, H), one-element zero-point vectors,
    the quantisation of every tensor a LOGISTIC, TANH or SPLIT produces, whole
    tensor records of unnamed tensors. The schema's object API would write each
    of them again (a fifth of a 3-layer H=16 int8 model). The object API writes
    numpy fields with CreateNumpyVector, so every vector kept as an array is
    shared; tables are shared by wrapping them in :class:`_Shared`.
    """

    def __init__(self, initial_size: int) -> None:
        super().__init__(initial_size)
        self._written: dict[Any, int] = {}

    def shared(self, key: Any, write: Callable[[], int]) -> int:
        """The offset of the object ``key``, written by ``write()`` the first time."""
        if key not in self._written:
            self._written[key] = write()
        return self._written[key]

    def CreateString(self, s: str | bytes, encoding: str = "utf-8", errors: str = "strict") -> int:
        data = s.encode(encoding, errors) if isinstance(s, str) else bytes(s)
        return self.shared(("string", data), lambda: super(_SharingBuilder, self).CreateString(data))

    def CreateNumpyVector(self, x: np.ndarray) -> int:
        key = ("vector", x.dtype.str, x.tobytes())
        return self.shared(key, lambda: super(_SharingBuilder, self).CreateNumpyVector(x))


class _Shared:
    """An object-API table that a _SharingBuilder writes once per distinct ``key``."""

    def __init__(self, table: Any, key: Any) -> None:
        self.table = table
        self.key = (type(table).__name__, key)

    def Pack(self, builder: _SharingBuilder) -> int:
        return builder.shared(self.key, lambda: self.table.Pack(builder))


class _AlignedBuffer(schema.BufferT):
    """A buffer whose data starts on a BUFFER_ALIGNMENT boundary in the file.

    The schema declares ``Buffer.data`` with ``force_align: 16``, so that readers
    can use the data in place; the Python flatbuffers package ignores that
    attribute, so the padding is made here.
    """

    def Pack(self, builder: Any) -> Any:
        if self.data is not None:
            # Pad so that the data vector that Pack writes next starts aligned.
            builder.Prep(BUFFER_ALIGNMENT, len(self.data))
        return super().Pack(builder)


class GraphBuilder:
    """Collects one subgraph and serialises it as a complete .tflite model."""

    def __init__(self) -> None:
        # Only graph inputs and outputs get names (the signature and the runtime look
        # them up); the others' names would cost ~16 bytes a tensor.
        self._tensors: list[Any] = []
        self._names: list[str] = []
        self._operators: list[Any] = []
        # Buffer 0 is the conventional empty buffer of every non-constant tensor.
        self._buffers: list[Any] = [schema.BufferT()]
        self._opcodes: dict[int, int] = {}  # builtin code -> highest version used
        self._constants: dict[tuple[Any, ...], int] = {}
        self.constant_bytes = 0

    def tensor(self, name: str, shape: tuple[int, ...], dtype: Any, quant: QuantParams | None = None) -> int:
        """Add a non-constant tensor and return its index."""
        return self._add_tensor(name, shape, np.dtype(dtype), 0, quant)

    def constant(self, name: str, array: np.ndarray, quant: QuantParams | None = None) -> int:
        """Add a constant tensor, reusing an identical earlier one; return its index."""
        array = np.ascontiguousarray(array)
        key = (array.dtype.str, array.shape, array.tobytes(), quant)
        if key not in self._constants:
            data = np.frombuffer(array.tobytes(), dtype=np.uint8)
            self._buffers.append(_AlignedBuffer())
            self._buffers[-1].data = data
            self.constant_bytes += data.size
            buffer_index = len(self._buffers) - 1
            self._constants[key] = self._add_tensor(name, array.shape, array.dtype, buffer_index, quant)
        return self._constants[key]

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options: tuple[int, Any] | None = None,
        version: int = 1,
    ) -> None:
        """Append an operator; ``options`` is (BuiltinOptions member, options object)."""
        self._opcodes[code] = max(version, self._opcodes.get(code, 1))
        operator = schema.OperatorT()
        operator.opcodeIndex = list(self._opcodes).index(code)
        operator.inputs = np.array(inputs, dtype=np.int32)
        operator.outputs = np.array(outputs, dtype=np.int32)
        if options is not None:
            operator.builtinOptionsType, table = options
            # Equal options (every SPLIT in two, say) share one table.
            operator.builtinOptions = _Shared(table, repr(sorted(vars(table).items())))
        self._operators.append(operator)

    def shape_of(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self._tensors[index].shape)

    def rename(self, index: int, name: str) -> None:
        """Give a tensor its public name (a graph output named like its signature key)."""
        self._names[index] = name

    def finish(
        self,
        inputs: dict[str, int],
        outputs: dict[str, int],
        signature_key: str,
        metadata: dict[str, bytes],
        description: str | None = None,
    ) -> bytes:
        """Pack the model: one subgraph with named inputs/outputs, one signature.

        The subgraph itself is unnamed: the signature's key names it for every reader.
        ``description`` is the model's free-text description, none by default.
        """
        public = set(inputs.values()) | set(outputs.values())
        tensors = []
        for index, t in enumerate(self._tensors):
            t.name = self._names[index] if index in public else None
            # Unnamed activations alike in shape, type and quantisation (SPLIT's
            # outputs, say) share one record: a tensor is its index, not its record.
            quant_key = None if t.quantization is None else t.quantization.key
            tensors.append(_Shared(t, (t.name, t.shape.tobytes(), t.type, t.buffer, quant_key)))
        subgraph = schema.SubGraphT()
        subgraph.tensors = tensors
        subgraph.inputs = list(inputs.values())
        subgraph.outputs = list(outputs.values())
        subgraph.operators = self._operators

        signature = schema.SignatureDefT()
        signature.signatureKey = signature_key
        signature.subgraphIndex = 0
        signature.inputs = [_tensor_map(name, index) for name, index in inputs.items()]
        signature.outputs = [_tensor_map(name, index) for name, index in outputs.items()]

        model = schema.ModelT()
        model.version = SCHEMA_VERSION
        model.description = description
        model.operatorCodes = [_opcode(code, v) for code, v in self._opcodes.items()]
        model.subgraphs = [subgraph]
        model.signatureDefs = [signature]
        buffers = list(self._buffers)
        model.metadata = []
        for name, blob in metadata.items():
            buffers.append(_AlignedBuffer())
            buffers[-1].data = np.frombuffer(blob, dtype=np.uint8)
            entry = schema.MetadataT()
            entry.name = name
            entry.buffer = len(buffers) - 1
            model.metadata.append(entry)
        model.buffers = [_Shared(buffer, index) for index, buffer in enumerate(buffers)]

        fbb = _SharingBuilder(1024 + self.constant_bytes)
        # Each constant's quantisation is written just before its data, in the gap
        # the data's 16-byte alignment would otherwise pad: the 8-byte scale vector
        # and 12-byte table, with the previous buffer's length and 8-byte table,
        # fill 32 bytes, so data whose size is a multiple of 16 follows unpadded.
        # Everything written here is shared with what model.Pack writes next.
        for t in self._tensors:
            if t.buffer:
                if t.quantization is not None:
                    t.quantization.Pack(fbb)
                model.buffers[t.buffer].Pack(fbb)
        fbb.Finish(model.Pack(fbb), file_identifier=TFLITE_IDENTIFIER)
        return bytes(fbb.Output())

    def _add_tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        buffer_index: int,
        quant: QuantParams | None,
    ) -> int:
        if dtype not in _TENSOR_TYPES:
            raise ValueError(f"tensor {name}: dtype {dtype} is not supported by the builder")
        t = schema.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = _TENSOR_TYPES[dtype]
        t.buffer = buffer_index
        t.quantization = quant.to_schema() if quant is not None else None
        self._tensors.append(t)
        self._names.append(name)
        return len(self._tensors) - 1


def _tensor_map(name: str, index: int) -> Any:
    m = schema.TensorMapT()
    m.name = name
    m.tensorIndex = index
    return m


def _opcode(code: int, version: int) -> Any:
    """An operator code, its number in the 8-bit field when it fits there.

    Readers take the larger of the 8-bit ``deprecated_builtin_code`` and the
    32-bit ``builtin_code`` (TFLite's GetBuiltinCode), and readers that predate
    the 32-bit field see only the 8-bit one, so a code below 127 is complete in
    the 8-bit field alone, as in files from before the wider field existed;
    only larger codes need the 32-bit field (4 bytes per operator code saved).
    """
    c = schema.OperatorCodeT()
    c.deprecatedBuiltinCode = min(code, Op.PLACEHOLDER_FOR_GREATER_OP_CODES)
    if code >= Op.PLACEHOLDER_FOR_GREATER_OP_CODES:
        c.builtinCode = code
    c.version = version
    return c
