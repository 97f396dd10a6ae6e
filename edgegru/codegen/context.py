"""The templates' context: every number and decision of the generated C, in typed records.

:func:`model_context` reads a :class:`QuantizedModel` and returns a :class:`RowsContext`
or an :class:`InterleavedContext`; the templates (``templates/model_<layout>.c.j2`` and
``weights_<layout>.h.j2``, extending ``model.c.j2`` and ``weights.h.j2``) print its
fields and choose between whole pieces of C on its flags, nothing more.

Sizes reach the C as the model's macros (``<P>_INPUT_SIZE``, ``<P>_HIDDEN_SIZE_<k>``), so
fields that hold sizes, offsets or lengths are C text; the rows layout's layer functions
name their own sizes K and H (an enum), which the product calls use, and its padded
tiles (whole multiples of LANE_TILE rows) have plain numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import get_args

import numpy as np

from edgegru.codegen.carray import CArray, format_floats, format_structs, format_values
from edgegru.codegen.ctext import MAX_C_STRING, FileText
from edgegru.codegen.layout import (
    LANE_TILE,
    interleave,
    lane_tiles,
    low_byte_sums,
    padded_rows,
    quad_tiles,
    sigmoid_pairs,
    sigmoid_words,
    unit_pairs,
)
from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS, MAX_SIZE
from edgegru.core.version import __version__
from edgegru.nn.model import HeadKind
from edgegru.quant.activations import SIGMOID_TABLE
from edgegru.quant.qmodel import QuantizedHead, QuantizedLayer, QuantizedModel

GATES = ("r", "z", "n")
VARIANT_DOC = {
    "reset_after": "reset_after (PyTorch/cuDNN; ONNX linear_before_reset=1): "
    "n = tanh(Wx x + bx + r * (Wh h + bh))",
    "reset_before": "reset_before (original GRU; ONNX linear_before_reset=0): "
    "n = tanh(Wx x + bx + Wh (r * h) + bh)",
}
KERNEL_DOC = {
    "interleaved": "interleaved rows: SXTB16 + SMLAD/SMLALD with the Arm DSP extension, portable C elsewhere;"
    " with GCC the block loops are inline assembly (EDGEGRU_NO_ASM: C loops, same integers)",
    "rows": "tiles of 32 rows, a vector lane per row: AVX-512, AVX2, NEON SDOT (the dot-product"
    " extension) or NEON intrinsics by target macros, else portable C",
}


@dataclass(frozen=True)
class StateFormat:
    """The stored hidden state: int16 Q0.15 or int8 Q0.7."""

    bits: int
    ctype: str
    format: str
    one: int  # the stored value of 1.0

    @classmethod
    def of(cls, bits: int) -> StateFormat:
        return cls(16, "int16_t", "Q0.15", 32768) if bits == 16 else cls(8, "int8_t", "Q0.7", 128)


@dataclass(frozen=True)
class UnitField:
    """One of a unit's int32 constants (docs/quantization.md, "One step of one layer")."""

    name: str
    doc: str


@dataclass(frozen=True)
class UnitValues:
    """Rows layout: one field's values over the units of a layer."""

    name: str
    body: str


@dataclass(frozen=True)
class Head:
    """The output layer: int8 weights with one scale, int32 logits."""

    kind: str
    input: int  # the last layer's hidden size
    input_macro: str
    weights: str  # initialisers
    bias: str
    logit_scale_text: str
    class_names: list[FileText] | list[str]  # classification only


@dataclass(frozen=True)
class RowsProduct:
    """acc[0..32·tiles) = whole tiles of a rows-layout matrix . act: the arguments of dot_lanes.

    Accumulators past the matrix's last row (the zero rows of its last tile) hold zeros.
    ``low_sums`` names the SDOT kernels' :func:`low_byte_sums` of these rows, or is None
    where every activation is a multiple of 256, whose low bytes are zero (one SDOT per
    quad of columns instead of two).
    """

    weights: str  # C text: the first weight of these tiles
    act: str
    columns: str  # C text: the columns (K or H)
    tiles: int
    acc: str
    low_sums: str | None


@dataclass(frozen=True)
class RowsLayer:
    """A layer of the rows layout: its arrays and the products of its step function."""

    index: int
    input: int
    hidden: int
    input_macro: str
    hidden_macro: str
    state_offset: str  # where its state starts in state->h
    arrays: list[CArray]
    quad_bodies: list[str]  # each array's initialiser in quad_tiles order (the SDOT kernels' builds)
    padding_bytes: int  # zeros that complete the weights' tiles
    units: str  # the name of its unit constants
    unit_values: list[UnitValues]
    low_sums: list[CArray]  # the SDOT kernels' low_byte_sums, in <prefix>.c (its dot-product builds only)
    input_product: RowsProduct
    recurrent_products: list[RowsProduct]  # all rows; or r, z on h15 then n on reset_h (reset_before)
    acc_x_size: int  # accumulators: the products' rows, padded to whole tiles
    acc_h_size: int
    n_offset: str  # C text: where the candidate's recurrent accumulators start in acc_h


@dataclass(frozen=True)
class InterleavedMatrix:
    """A matrix as layer_t points at it: its words and its tail (or a stand-in)."""

    name: str  # the layer_t fields are w_<name> and t_<name>
    words: str
    tail: str


@dataclass(frozen=True)
class InterleavedLayer:
    """A layer of the interleaved layout: its arrays and its entry in the table of layers."""

    index: int
    input: int
    hidden: int
    input_macro: str
    hidden_macro: str
    state_offset: str
    arrays: list[CArray]
    units: str
    unit_values: str  # one unit_t initialiser per line
    matrices: list[InterleavedMatrix]


@dataclass(frozen=True)
class MatrixField:
    """A matrix's pointers in layer_t, with what they point at."""

    name: str
    doc: str


@dataclass(frozen=True)
class StandIns:
    """Interleaved layout: whether some matrix has no words (< 4 columns) or no tail."""

    words: bool
    tail: bool


@dataclass(frozen=True)
class Window:
    """How the model was trained to be read: from a reset state, the output after the last
    step of a sequence of ``min_length``..``max_length`` steps (``<P>_SEQUENCE_LENGTH`` is the
    longest), or (``stream``) after every step without resets."""

    readout: str
    min_length: int
    max_length: int


@dataclass(frozen=True)
class ModelContext:
    """What every template reads."""

    p: str
    P: str
    version: str
    description: FileText
    source: FileText
    variant: str
    variant_doc: str
    layout: str
    input_size: int
    frame: int  # samples per step: x holds frame samples of input_size / frame channels
    hidden_sizes: list[int]
    state: StateFormat
    state_size: str  # the values of the state: C text
    head: Head | None
    output_size: int
    output_doc: str
    float_output_doc: str
    output_scale_c: str
    input_zero_point: int
    input_scale_text: str
    input_scale_c: str
    model_hash: str
    window: Window | None  # None: the model's metadata does not say
    channel_names: list[FileText]  # empty: the data had none
    sigmoid_table: str
    input_scale_mul: str
    input_offset: str
    unit_fields: list[UnitField]
    act_size: str  # the step's int16 copy of a layer's input
    max_width: int | None  # <P>_MAX_WIDTH, when act_size is it
    dot_row: bool
    weight_bytes: int
    const_bytes: int
    kernel_doc: str


@dataclass(frozen=True)
class RowsContext(ModelContext):
    layers: list[RowsLayer]
    lane_tile: int  # rows per tile of the rows layout (LANE_TILE)
    quad_words: int  # the SDOT kernels' words of activation bytes: 4 columns each, whole 16-byte vectors
    sigmoid_words: str  # the AVX-512 kernels' int16 table: entries 0..255 (entry 256 equals 255)


@dataclass(frozen=True)
class InterleavedContext(ModelContext):
    layers: list[InterleavedLayer]
    kernel: str  # the dot kernel's template: dot3 (r, z, n of a unit) or dot2 (pairs of rows)
    matrix_fields: list[MatrixField]
    stand_ins: StandIns
    max_hidden: int


def check_limits(qm: QuantizedModel) -> None:
    """Refuse models beyond what the generator handles, naming the layer."""
    size = qm.input_size
    if size > MAX_SIZE:
        raise EdgeGruError(f"input size {size}: the C generator supports at most {MAX_SIZE}")
    for k, h in enumerate(qm.hidden_sizes):
        if h > MAX_SIZE:
            raise EdgeGruError(f"layer {k} hidden size {h}: the C generator supports at most {MAX_SIZE}")
    if qm.head is not None and qm.head.output_size > MAX_OUTPUTS:
        raise EdgeGruError(f"head outputs {qm.head.output_size}: at most {MAX_OUTPUTS} supported")


def output_size(qm: QuantizedModel) -> int:
    """Values per step that ``<prefix>_step`` writes: logits, or the last layer's state."""
    return qm.head.output_size if qm.head else qm.hidden_sizes[-1]


def hidden_macros(P: str, n_layers: int) -> list[str]:
    """``<P>_HIDDEN_SIZE_<k>`` of every layer, as model.h defines them."""
    return [f"{P}_HIDDEN_SIZE_{k}" for k in range(n_layers)]


def state_size(P: str, n_layers: int) -> str:
    """The values of the state (the layers' states one after another) as C text."""
    return " + ".join(hidden_macros(P, n_layers))


def _layer_sizes(P: str, index: int) -> tuple[str, str, str]:
    """(input, hidden, state offset) of layer ``index`` as C text."""
    before = hidden_macros(P, index)
    input_macro = before[-1] if before else f"{P}_INPUT_SIZE"
    return input_macro, f"{P}_HIDDEN_SIZE_{index}", " + ".join(before) or "0"


def unit_fields(variant: str) -> list[UnitField]:
    """A unit's constants in their order in memory: bias and multipliers of r, z, n (and n's
    recurrent bias for reset_after)."""
    fields = []
    for gate in GATES:
        fields += [
            UnitField(f"bias_{gate}", f"bias of {gate}'s pre-activation (12 fractional bits)"),
            UnitField(f"mult_x_{gate}", f"multiplier of {gate}'s input accumulator"),
            UnitField(f"mult_h_{gate}", f"multiplier of {gate}'s recurrent accumulator"),
        ]
    if variant == "reset_after":
        fields[-1] = UnitField("mult_h_n", "multiplier of n's recurrent accumulator (to 13 fractional bits)")
        fields.append(UnitField("bias_hn", "bias of n's recurrent part (13 fractional bits)"))
    return fields


def _unit_table(layer: QuantizedLayer, variant: str) -> np.ndarray:
    """(H, fields) int32 constants, columns in the order of :func:`unit_fields`."""
    columns = []
    for g in range(len(GATES)):
        columns += [layer.bias[g], layer.mult_x[g], layer.mult_h[g]]
    if variant == "reset_after":
        columns.append(layer.bias_hn)
    return np.stack(columns, axis=-1)


def _rows_layer(qm: QuantizedModel, index: int, layer: QuantizedLayer, P: str) -> RowsLayer:
    """Layer ``index`` in the rows layout: each matrix's rows in tiles (:func:`lane_tiles`).

    reset_before multiplies r and z by h15 but n by reset_h, after r: its recurrent matrix
    holds the tiles of rows r, z and then those of rows n, each product whole tiles.

    The SDOT kernels need a product's :func:`low_byte_sums` only where its activations have
    low bytes: layer 0's input is 256·q and an int8 state reaches the products as 256·h
    (state_to_q15), while an int16 state and r·h (reset_before's reset_h) take any int16.
    """
    input_macro, hidden_macro, offset = _layer_sizes(P, index)
    hidden, n_inputs = layer.hidden_size, layer.input_size
    int16_state = qm.state_bits == 16
    low_sums: list[CArray] = []

    def product(weights: str, act: str, columns: str, rows: np.ndarray, acc: str, low: bool) -> RowsProduct:
        """The dot_lanes call of ``rows`` (their low_byte_sums kept when ``low``: act has low bytes)."""
        sums = None
        if low:
            sums = f"l{index}_low_sums_{len(low_sums)}"
            doc = f"128 * the weight sum of each row multiplied by {act} (SDOT kernels)"
            low_sums.append(CArray.of(sums, "int32_t", low_byte_sums(rows), 8, doc))
        return RowsProduct(weights, act, columns, padded_rows(rows.shape[0]) // LANE_TILE, acc, sums)

    wx = layer.wx.reshape(3 * hidden, n_inputs)
    x = product(f"l{index}_w_input", "in", "K", wx, "acc_x", index > 0 and int16_state)
    if qm.variant == "reset_after":
        recurrent = [layer.wh.reshape(3 * hidden, hidden)]
        h = [product(f"l{index}_w_recurrent", "h15", "H", recurrent[0], "acc_h", int16_state)]
        n_offset = "2 * H"
    else:
        recurrent = [layer.wh[:2].reshape(2 * hidden, hidden), layer.wh[2]]
        rz_rows = padded_rows(2 * hidden)
        n_weights = rz_rows * (hidden + hidden % 2)
        h = [
            product(f"l{index}_w_recurrent", "h15", "H", recurrent[0], "acc_h", int16_state),
            product(
                f"&l{index}_w_recurrent[{n_weights}]",
                "reset_h",
                "H",
                recurrent[1],
                f"&acc_h[{rz_rows}]",
                True,
            ),
        ]
        n_offset = str(rz_rows)
    order = f"tiles of {LANE_TILE} rows; in a tile, column pair, row, column"
    arrays, quad_bodies, padding = [], [], 0
    for part, matrices in (("input", [wx]), ("recurrent", recurrent)):
        flat = np.concatenate([lane_tiles(m) for m in matrices])
        gates = "r, z; then n" if len(matrices) > 1 else "r, z, n"
        doc = f"{part} weights of {gates}: {order}"
        arrays.append(CArray.of(f"l{index}_w_{part}", "int8_t", flat, 16, doc, weights=True))
        quad_bodies.append(format_values(np.concatenate([quad_tiles(m) for m in matrices]), 16))
        padding += flat.size - sum(m.size for m in matrices)
    table = _unit_table(layer, qm.variant)
    fields = unit_fields(qm.variant)
    values = [UnitValues(f.name, format_values(table[:, i], 8, indent=8)) for i, f in enumerate(fields)]
    return RowsLayer(
        index=index,
        input=n_inputs,
        hidden=hidden,
        input_macro=input_macro,
        hidden_macro=hidden_macro,
        state_offset=offset,
        arrays=arrays,
        quad_bodies=quad_bodies,
        padding_bytes=padding,
        units=f"l{index}_units",
        unit_values=values,
        low_sums=low_sums,
        input_product=x,
        recurrent_products=h,
        acc_x_size=x.tiles * LANE_TILE,
        acc_h_size=sum(p.tiles for p in h) * LANE_TILE,
        n_offset=n_offset,
    )


MATRIX_DOCS = {
    "input": "input weights of r, z, n",
    "recurrent": "recurrent weights of r, z, n",
    "input_rz": "input weights of r, z",
    "input_n": "input weights of n, units in pairs",
    "recurrent_rz": "recurrent weights of r, z",
    "recurrent_n": "recurrent weights of n, units in pairs",
}


def _interleaved_matrices(variant: str, layer: QuantizedLayer) -> dict[str, np.ndarray]:
    """Each matrix's rows (G, H', K) by name: the rows each dot kernel call reads together.

    reset_after reads a unit's r, z and n at once (dot3); reset_before reads r and z (dot2)
    before n, whose rows it pairs unit by unit (dot2 again).
    """
    if variant == "reset_after":
        return {"input": layer.wx, "recurrent": layer.wh}
    return {
        "input_rz": layer.wx[:2],
        "input_n": unit_pairs(layer.wx[2]),
        "recurrent_rz": layer.wh[:2],
        "recurrent_n": unit_pairs(layer.wh[2]),
    }


def _interleaved_layer(qm: QuantizedModel, index: int, layer: QuantizedLayer, P: str) -> InterleavedLayer:
    input_macro, hidden_macro, offset = _layer_sizes(P, index)
    arrays, matrices = [], []
    for name, rows in _interleaved_matrices(qm.variant, layer).items():
        words_name = f"l{index}_w_{name}"
        doc = MATRIX_DOCS[name]
        il = interleave(rows, f"layer {index} {doc}")
        if il.portable.size:
            dsp = None if np.array_equal(il.dsp, il.portable) else il.dsp  # r, z paired for SMLALD
            arrays.append(
                CArray.of(
                    words_name,
                    "int32_t",
                    il.portable,
                    8,
                    f"{doc}: unit, block, row",
                    weights=True,
                    dsp_values=dsp,
                )
            )
        if il.tail.size:
            tail_doc = f"{doc}, last {rows.shape[2] % 4} columns: unit, row, column"
            arrays.append(CArray.of(f"{words_name}_tail", "int8_t", il.tail, 16, tail_doc, weights=True))
        matrices.append(
            InterleavedMatrix(
                name,
                words_name if il.portable.size else "no_words",
                f"{words_name}_tail" if il.tail.size else "no_tail",
            )
        )
    return InterleavedLayer(
        index=index,
        input=layer.input_size,
        hidden=layer.hidden_size,
        input_macro=input_macro,
        hidden_macro=hidden_macro,
        state_offset=offset,
        arrays=arrays,
        units=f"l{index}_units",
        unit_values=format_structs(_unit_table(layer, qm.variant)),
        matrices=matrices,
    )


def _enumerated(field: str, value: object, choices: Collection[str]) -> str:
    """The generator's own spelling of an enumerated field's value (never the file's string)."""
    for choice in choices:
        if value == choice:
            return choice
    raise EdgeGruError(f"{field} {quote(value)}: expected one of {', '.join(choices)}")


def _training_metadata(qm: QuantizedModel) -> dict:
    """The float model's metadata as quantize kept it (``source_model``), or {}."""
    origin = qm.metadata.get("source_model") if isinstance(qm.metadata, dict) else None
    return origin if isinstance(origin, dict) else {}


def _source(qm: QuantizedModel) -> FileText:
    """The float model's ``source`` metadata as its file has it, or "unknown"."""
    source = _training_metadata(qm).get("source")
    return FileText("unknown" if source is None else str(source))


def _class_names(head: QuantizedHead) -> list[FileText] | list[str]:
    """The names for ``<prefix>_class_names``: the file's, or ``class_0``, ``class_1``, ...

    The C array must hold one string literal per class (an empty initialiser is not C99).
    """
    names = head.class_names
    if names is None:
        return [f"class_{c}" for c in range(head.output_size)]
    if (
        not isinstance(names, list)
        or len(names) != head.output_size
        or not all(isinstance(n, str) for n in names)
    ):
        raise EdgeGruError(f"head class_names: expected a list of {head.output_size} strings")
    for c, name in enumerate(names):
        size = len(name.encode("utf-8", "replace"))
        if size > MAX_C_STRING:
            raise EdgeGruError(
                f"class name {c}: {size} bytes of UTF-8, a C string literal holds {MAX_C_STRING}"
            )
    return [FileText(name) for name in names]


def _head(qm: QuantizedModel, P: str) -> Head | None:
    head = qm.head
    if head is None:
        return None
    kind = _enumerated("head kind", head.kind, get_args(HeadKind))
    return Head(
        kind,
        qm.hidden_sizes[-1],
        f"{P}_HIDDEN_SIZE_{len(qm.layers) - 1}",
        format_values(head.weight, 16),
        format_values(head.bias, 8),
        f"{head.logit_scale:.9g}",
        _class_names(head) if kind == "classification" else [],
    )


READOUTS = ("window", "stream")
MAX_WINDOW = 2**31 - 1  # a length the header prints as a C int constant


def _length(value: object, field: str) -> int:
    """A recorded sequence length, which the header prints as a C constant."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW:
        raise EdgeGruError(f"model metadata {field} {quote(value)}: expected an integer in 1..{MAX_WINDOW}")
    return value


def training_window(qm: QuantizedModel) -> Window | None:
    """The sequence lengths and readout recorded at training (``sequence`` in the float
    model's metadata), checked, since they come from a file."""
    sequence = _training_metadata(qm).get("sequence")
    if sequence is None:
        return None
    if not isinstance(sequence, dict):
        raise EdgeGruError(f"model metadata sequence {quote(sequence)}: expected a JSON object")
    readout = _enumerated("model metadata sequence readout", sequence.get("readout"), READOUTS)
    low = _length(sequence.get("min_length"), "sequence min_length")
    high = _length(sequence.get("max_length"), "sequence max_length")
    if low > high:
        raise EdgeGruError(f"model metadata sequence: min_length {low} exceeds max_length {high}")
    return Window(readout, low, high)


def _channel_names(qm: QuantizedModel) -> list[FileText]:
    """A sample's channels' names in order, as the training data had them, or []."""
    names = _training_metadata(qm).get("channel_names")
    if names is None:
        return []
    channels = qm.input_size // qm.frame
    if not isinstance(names, list) or len(names) != channels or not all(isinstance(n, str) for n in names):
        raise EdgeGruError(f"model metadata channel_names: expected a list of {channels} strings")
    return [FileText(name) for name in names]


FLOAT_OUTPUT_DOC = {
    "classification": "real logits",
    "regression": "the regression values",
    None: "the last layer's state",
}


def model_context(qm: QuantizedModel, prefix: str, layout: str) -> RowsContext | InterleavedContext:
    """Everything the templates of ``layout`` need to write this model's C (prefix checked)."""
    check_limits(qm)
    variant = _enumerated("variant", qm.variant, VARIANT_DOC)
    P = prefix.upper()
    head = _head(qm, P)
    if layout == "interleaved":
        layers: list = [_interleaved_layer(qm, i, layer, P) for i, layer in enumerate(qm.layers)]
        table = SIGMOID_TABLE
        table_bytes = table.size * 2
        padding = 0
    else:
        layers = [_rows_layer(qm, i, layer, P) for i, layer in enumerate(qm.layers)]
        table = sigmoid_pairs()
        table_bytes = table.size * 4
        padding = sum(L.padding_bytes for L in layers)
    # Everything constant besides the int8 weights: the layers' arrays and unit constants
    # (and the rows layout's zeros completing its tiles), the activation table, the input
    # constants and the head's biases.
    unit_bytes = sum(4 * h * len(unit_fields(variant)) for h in qm.hidden_sizes)
    const_bytes = sum(a.nbytes for L in layers for a in L.arrays if not a.weights) + unit_bytes + padding
    const_bytes += table_bytes + qm.input_size * 8 + (qm.head.output_size * 4 if qm.head else 0)
    widest = max([qm.input_size, *qm.hidden_sizes])
    common = dict(
        p=prefix,
        P=P,
        version=__version__,
        description=FileText(qm.describe()),
        source=_source(qm),
        variant=variant,
        variant_doc=VARIANT_DOC[variant],
        layout=layout,
        input_size=qm.input_size,
        frame=qm.frame,
        hidden_sizes=qm.hidden_sizes,
        state=StateFormat.of(qm.state_bits),
        state_size=state_size(P, len(qm.layers)),
        head=head,
        output_size=output_size(qm),
        output_doc=f"{head.kind} logits (int32)" if head else "last layer's state, Q0.15",
        float_output_doc=FLOAT_OUTPUT_DOC[head.kind if head else None],
        output_scale_c=f"{float(np.float32(qm.head.logit_scale if qm.head else 2.0**-15))!r}f",
        input_zero_point=qm.input.zero_point,
        input_scale_text=f"{qm.input.scale:.9g}",
        input_scale_c=f"{float(np.float32(qm.input.scale))!r}f",
        model_hash=qm.fingerprint(),
        window=training_window(qm),
        channel_names=_channel_names(qm),
        sigmoid_table=format_values(table, 12 if layout == "interleaved" else 8),
        input_scale_mul=format_floats(qm.input.scale_mul),
        input_offset=format_floats(qm.input.offset),
        unit_fields=unit_fields(variant),
        # int16 state: later layers read the state below in place, so act holds the input only
        act_size=f"{P}_INPUT_SIZE" if qm.state_bits == 16 else f"{P}_MAX_WIDTH",
        max_width=None if qm.state_bits == 16 else widest,
        weight_bytes=qm.weight_bytes(),
        const_bytes=const_bytes,
        kernel_doc=KERNEL_DOC[layout],
    )
    if layout == "interleaved":
        names = [m.name for m in layers[0].matrices]
        stand_ins = {name for L in layers for m in L.matrices for name in (m.words, m.tail)}
        return InterleavedContext(
            **common,
            dot_row=head is not None,
            layers=layers,
            kernel="dot3.c.j2" if variant == "reset_after" else "dot2.c.j2",
            matrix_fields=[MatrixField(name, MATRIX_DOCS[name]) for name in names],
            stand_ins=StandIns("no_words" in stand_ins, "no_tail" in stand_ins),
            max_hidden=max(qm.hidden_sizes),
        )
    return RowsContext(
        **common,
        dot_row=head is not None,
        layers=layers,
        lane_tile=LANE_TILE,
        quad_words=-(-widest // 16) * 4,
        sigmoid_words=format_values(sigmoid_words(), 16),
    )
