"""Render a :class:`QuantizedModel` into C99 sources with the Jinja2 templates.

Two weight layouts exist, chosen per target at generation time, because the
arrays themselves differ:

* ``rows`` (``--target c99``): for hosts. Each matrix holds its
  3H rows gate-major; the first multiple of 32 columns are stored row by row, so that a
  host compiler vectorises every row's dot product (pmaddwd and the like), and the
  remaining columns, all of them in a narrow matrix, column by column, so that they are
  multiplied into all rows at once. The generated code computes all products of a layer
  first and then the gates of all units in one loop, which vectorises too. Its
  accumulators take 24·H bytes of stack per layer, fine on a host;
* ``interleaved`` (``--target cortex-m``): for microcontrollers. Unit by unit, the
  rows of the gates computed together are interleaved in blocks of 4 columns and
  each 4-byte word is stored as (w0, w2, w1, w3), so that on cores with the DSP
  extension SXTB16 + SMLAD consume it directly and one activation load serves
  several rows; other cores read the same arrays with portable C (chosen by the
  preprocessor from ``__ARM_FEATURE_DSP``). Only one unit's accumulators are live.

Both layouts hold the same integers and give the same bits (integer sums are
exact), which the verification proves on every target. The one compile-time
choice is within the rows kernels: with 8-bit dot-product instructions (x86 VNNI)
they multiply bytes instead of int16 values (see model.c.j2), again the same integers.
"""

from __future__ import annotations

import importlib.resources
import re
import textwrap
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, get_args

import jinja2
import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.version import __version__
from edgegru.nn.model import MAX_OUTPUTS, MAX_SIZE, HeadKind
from edgegru.quant.activations import SIGMOID_TABLE
from edgegru.quant.qmodel import QuantizedHead, QuantizedLayer, QuantizedModel

LAYOUTS = ("rows", "interleaved")
ROW_BLOCK = 32  # rows layout: row-major columns come in multiples of this (one AVX-512 vector)
BYTE_Q15_MIN = 64  # rows layout: fewest row-major columns for byte products of int16 activations
BYTE_KERNELS = frozenset({"dot_rows_int8", "dot_rows_q15"})
C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # with fullmatch: $ would let a final newline in
C_KEYWORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "_Complex", "_Imaginary",
))  # fmt: skip
VARIANT_DOC = {
    "reset_after": "reset_after (PyTorch/cuDNN; ONNX linear_before_reset=1): "
    "n = tanh(Wx x + bx + r * (Wh h + bh))",
    "reset_before": "reset_before (original GRU; ONNX linear_before_reset=0): "
    "n = tanh(Wx x + bx + Wh (r * h) + bh)",
}


@dataclass
class Rendered:
    """The generated files (name -> text) and the byte counts they were built from."""

    files: dict[str, str]
    weight_bytes: int
    const_bytes: int

    def write(self, directory: Path) -> None:
        """Write every file into ``directory`` (which must exist)."""
        for name, text in self.files.items():
            (directory / name).write_text(text)


# <prefix>.h must not hide a header the generated code includes (with -I. it would)
C_HEADERS = frozenset((
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits", "locale",
    "math", "setjmp", "signal", "stdarg", "stdbool", "stddef", "stdint", "stdio", "stdlib", "string",
    "tgmath", "time", "wchar", "wctype", "arm_acle",
))  # fmt: skip
MAX_PREFIX = 64  # a file name with room for suffixes, and within any linker's symbol limit


def check_prefix(prefix: str) -> None:
    if not C_IDENTIFIER.fullmatch(prefix) or prefix in C_KEYWORDS or len(prefix) > MAX_PREFIX:
        raise EdgeGruError(
            f"prefix {prefix!r}: expected a C identifier of at most {MAX_PREFIX} characters "
            "(letters, digits, _; not starting with a digit; not a C keyword)"
        )
    if prefix in C_HEADERS:
        raise EdgeGruError(f"prefix {prefix!r}: {prefix}.h would hide the C library's header; choose another")


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


def row_block(n_columns: int) -> int:
    """Columns of a matrix that the rows layout stores row by row: a multiple of ROW_BLOCK.

    A host vectorises a row's dot product over whole vectors; the remaining columns (all of
    them in a narrow matrix) are stored column by column and multiplied into all rows at once.
    """
    return n_columns - n_columns % ROW_BLOCK


def row_kernel(index: int, part: str, m: int) -> str:
    """The rows-layout kernel for a matrix's m row-major columns (see model.c.j2).

    Layer 0's input holds int8 values, one unsigned byte each with 8-bit dot products; int16
    activations take two, which pays off only from BYTE_Q15_MIN columns on.
    """
    if m == 0:
        return ""
    if index == 0 and part == "input":
        return "dot_rows_int8"
    return "dot_rows_q15" if m >= BYTE_Q15_MIN else "dot_rows"


def sigmoid_pairs() -> np.ndarray:
    """The rows layout's table: entry k = T[k] | T[k + 1] << 16 for k = 0..255.

    One 32-bit load then yields both ends of an interpolation, which lets a host vectorise
    the lookup with one 32-bit gather (there is no 16-bit gather). T is 0..32767, so both
    halves are non-negative.
    """
    table = SIGMOID_TABLE.astype(np.int64)
    return table[:-1] | (table[1:] << 16)


def split_rows(rows: np.ndarray, m: int) -> tuple[np.ndarray, str]:
    """(G, H, K) rows -> rows layout: columns :m row by row, then the rest column by column."""
    n_rows, n_columns = rows.shape[0] * rows.shape[1], rows.shape[2]
    head = rows[..., :m].reshape(n_rows, m)
    tail = rows[..., m:].reshape(n_rows, n_columns - m)
    parts = [f"gate, unit, column for columns 0..{m - 1}"] if m else []
    if tail.shape[1]:
        parts.append("then " * bool(m) + f"column, gate, unit for columns {m}..{n_columns - 1}")
    return np.concatenate([head.ravel(), tail.T.ravel()]), "; ".join(parts)


@dataclass
class Interleaved:
    """One matrix in the interleaved layout (see :func:`interleave`)."""

    dsp: np.ndarray  # int32 words of the DSP kernels
    portable: np.ndarray  # int32 words of the portable kernels
    tail: np.ndarray  # int8: the last K % 4 columns, read by both


def interleave(rows: np.ndarray, what: str = "weights") -> Interleaved:
    """(G, H, K) int8 rows -> the interleaved layout, unit by unit (kernels.c.j2 reads it).

    A unit's G·(K//4) words hold its blocks of 4 columns, the G rows of a block side by
    side, one word per row; its G·(K%4) tail bytes the last columns of each row in turn,
    in an int8 array of their own so that no unit needs padding. The words are int32: the
    arrays are then aligned for word loads (LDM; ARMv6-M has no unaligned ones), and, being
    values rather than bytes, mean the same on either byte order.

    * portable: a row's columns 0, 2, 1, 3 in bits 0-7, 8-15, 16-23, 24-31, which is also
      what SXTB16 and SXTB16 ROR #8 need to give the pairs (w0, w1) and (w2, w3);
    * dsp: the same, except that rows 0 and 1 (r and z) share their two words, as the int16
      halves 256·z[c] + r[c] of columns (0, 1) and (2, 3). SXTB16 gives the r pairs, SMLALD
      sums 256·z·a + r·a, and z·a follows exactly. z = -128 with r < 0 does not fit a half:
      such weights (never made by edgegru's quantiser, which stays within -127..127) are
      refused.
    """
    gates, hidden, k = rows.shape
    full = k // 4 * 4
    columns = rows[:, :, :full].astype(np.int64).reshape(gates, hidden, -1, 4)  # gate, unit, block, column
    portable = _pack_bytes(columns[..., [0, 2, 1, 3]])  # gate, unit, block
    dsp = portable.copy()
    if gates >= 2 and full:
        halves = 256 * columns[1] + columns[0]  # 256·z + r: unit, block, column
        if (halves < -32768).any():
            raise EdgeGruError(
                f"{what}: an int8 weight of -128 in the second row of a pair (gate z, or the odd unit's n); "
                "the Cortex-M layout needs weights in -127..127"
            )
        halves &= 0xFFFF
        dsp[0] = halves[..., 0] | halves[..., 1] << 16
        dsp[1] = halves[..., 2] | halves[..., 3] << 16
    tail = rows[:, :, full:].transpose(1, 0, 2).ravel().astype(np.int8)
    return Interleaved(_int32_words(dsp), _int32_words(portable), tail)


def _pack_bytes(values: np.ndarray) -> np.ndarray:
    """int8 values along the last axis (4) -> the 32-bit pattern with them in bits 0-7, ..., 24-31."""
    u = values & 0xFF
    return u[..., 0] | u[..., 1] << 8 | u[..., 2] << 16 | u[..., 3] << 24


def _int32_words(words: np.ndarray) -> np.ndarray:
    """(gate, unit, block) 32-bit patterns -> the int32 values, in the order unit, block, gate."""
    return np.ascontiguousarray(words.transpose(1, 2, 0)).astype(np.uint32).view(np.int32).ravel()


def format_values(values: np.ndarray, per_line: int) -> str:
    items = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + line for line in lines)


def format_floats(values: np.ndarray) -> str:
    items = [f"{float(np.float32(v))!r}f" for v in values]
    return ",\n".join("    " + ", ".join(items[i : i + 4]) for i in range(0, len(items), 4))


def format_rows(values: np.ndarray, per_line: int) -> str:
    """A 2-D table (gate, unit) as nested braces, one gate per block."""
    return ",\n".join(
        "    {\n" + textwrap.indent(format_values(row, per_line), "    ") + "\n    }" for row in values
    )


# Text from model and data files (class names, metadata) is chosen by whoever wrote the
# file. It reaches the C only as the two contexts below, each with its one escaping
# function; identifiers never come from files (the prefix is checked by check_prefix).


def _string_byte(byte: int) -> str:
    """One byte of a C string literal: printable ASCII as itself, \\ " ? escaped, else octal."""
    char = chr(byte)
    if char in '\\"?':
        return "\\" + char  # \? so that no trigraph (??/ is a backslash under -std=c99) forms
    return char if 32 <= byte < 127 else f"\\{byte:03o}"


STRING_BYTES = tuple(_string_byte(b) for b in range(256))


def c_string(text: str) -> str:
    """A C string literal holding the UTF-8 bytes of ``text``; any str has one.

    Every byte outside printable ASCII is a 3-digit octal escape, which ends after its
    third digit, so a digit that follows stays a digit (a hex escape would swallow it).
    A lone surrogate, which has no UTF-8, becomes ``?``.
    """
    return '"' + "".join(STRING_BYTES[b] for b in text.encode("utf-8", "replace")) + '"'


MAX_COMMENT = 200  # characters of file text in a comment: enough to recognise it
COMMENT_PAIRS = re.compile(r"(?<=\*)(?=/)|(?<=/)(?=\*)|(?<=\?)(?=\?)")  # between */, /* and ??
COMMENT_ENDS = re.compile(r"^(?=[*/?])|(?<=[*/?])\Z")  # before or after a * / ? at either end


def c_comment(text: str) -> str:
    """``text`` made safe on one line of a ``/* ... */`` comment, whatever surrounds it.

    Printable ASCII stays, except the backslash; every other character (line breaks,
    controls, non-ASCII) and the backslash, which at a line's end would join the next
    line, become the text ``<U+XXXX>``. A space goes between ``*`` and ``/`` and between
    two ``?``, so no ``*/``, ``/*`` or trigraph forms, and beside a ``*``, ``/`` or ``?``
    at either end, so that none forms with the text around it. Beyond MAX_COMMENT
    characters the text is cut and ends in ``...``.
    """
    kept = "".join(c if " " <= c <= "~" and c != "\\" else f"<U+{ord(c):04X}>" for c in text[:MAX_COMMENT])
    kept = COMMENT_ENDS.sub(" ", COMMENT_PAIRS.sub(" ", kept))
    if len(text) > MAX_COMMENT or len(kept) > MAX_COMMENT:
        kept = kept[: MAX_COMMENT - 3] + "..."
    return kept


class FileText:
    """A string from a model or data file on its way into a template.

    Only the ``c_string`` and ``c_comment`` filters turn it into text: ``str()``,
    formatting and comparison raise, so a template that prints it unescaped (or tests it
    against a value) fails to render instead of emitting the file's text as C.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError("text from a file reaches the C only through the c_string or c_comment filter")

    __str__ = __format__ = __eq__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    @staticmethod
    def filter(escape: Callable[[str], str]) -> Callable[[FileText | str], str]:
        """``escape`` as a Jinja filter: of a FileText's text, or of a string built in Python."""
        return lambda value: escape(value._text if isinstance(value, FileText) else value)


def environment() -> jinja2.Environment:
    """The Jinja2 environment over the packaged templates (works from a wheel too)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(importlib.resources.files("edgegru.templates"))),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["c_string"] = FileText.filter(c_string)
    env.filters["c_comment"] = FileText.filter(c_comment)
    return env


def output_size(qm: QuantizedModel) -> int:
    """Values per step that ``<prefix>_step`` writes: logits, or the last layer's state."""
    return qm.head.output_size if qm.head else qm.hidden_sizes[-1]


def render_harness(qm: QuantizedModel, prefix: str) -> str:
    """The verification harness (host and semihosted firmware) for this model."""
    check_prefix(prefix)
    return (
        environment()
        .get_template("harness.c.j2")
        .render(
            p=prefix,
            P=prefix.upper(),
            version=__version__,
            input_size=qm.input_size,
            hidden_sizes=qm.hidden_sizes,
            total_hidden=sum(qm.hidden_sizes),
            output_size=output_size(qm),
            state_ctype="int16_t" if qm.state_bits == 16 else "int8_t",
        )
    )


def render_bench(prefix: str, template: str, **extra: Any) -> str:
    """A benchmark harness (``bench_host.c.j2``, ``bench_cortex_m.c.j2``) for the model ``prefix``."""
    check_prefix(prefix)
    return (
        environment().get_template(template).render(p=prefix, P=prefix.upper(), version=__version__, **extra)
    )


C_SIZES = {"int8_t": 1, "int32_t": 4}


def c_array(name: str, ctype: str, values: np.ndarray, per_line: int, doc: str) -> dict[str, Any]:
    """A constant array for weights.h.j2: 1-D or (rows, columns), with its size in bytes."""
    values = np.asarray(values)
    body = format_rows(values, per_line) if values.ndim == 2 else format_values(values, per_line)
    return {
        "name": name,
        "ctype": ctype,
        "dims": "".join(f"[{n}]" for n in values.shape),
        "body": body,
        "doc": doc,
        "nbytes": values.size * C_SIZES[ctype],
    }


def unit_pairs(rows: np.ndarray) -> np.ndarray:
    """(H, K) rows of one gate -> (2, ceil(H/2), K): units 2i and 2i+1 side by side as two rows.

    The kernels then treat a pair of units like the r and z rows of one (the SMLALD
    pairing); a zero row completes an odd H, and its products are never used.
    """
    if rows.shape[0] % 2:
        rows = np.concatenate([rows, np.zeros((1, rows.shape[1]), rows.dtype)])
    return rows.reshape(-1, 2, rows.shape[1]).transpose(1, 0, 2)


def _layer_context(qm: QuantizedModel, index: int, layer: QuantizedLayer, layout: str) -> dict:
    hidden, k = layer.hidden_size, layer.input_size
    interleaved = layout == "interleaved"
    arrays: list[dict[str, Any]] = []

    split = {"input": row_block(k), "recurrent": row_block(hidden)}
    # interleaved: each matrix's word and tail arrays for the layer table; a matrix with
    # fewer than 4 columns has no words, one with a multiple of 4 no tail (stand-ins then)
    matrices: dict[str, tuple[str, str]] = {}

    def weights(part: str, group: str, rows: np.ndarray, doc: str) -> None:
        name = f"l{index}_w_{part}{group}"
        if interleaved:
            il = interleave(rows, f"layer {index} {doc}")
            found = []
            if il.portable.size:
                found.append(c_array(name, "int32_t", il.portable, 8, f"{doc}: unit, block, row"))
                if not np.array_equal(il.dsp, il.portable):
                    found[-1]["dsp_body"] = format_values(il.dsp, 8)  # r, z paired for SMLALD
            if il.tail.size:
                tail_doc = f"{doc}, last {rows.shape[2] % 4} columns: unit, row, column"
                found.append(c_array(f"{name}_tail", "int8_t", il.tail, 16, tail_doc))
            matrices[part + group] = (
                name if il.portable.size else "no_words",
                f"{name}_tail" if il.tail.size else "no_tail",
            )
        else:
            flat, order = split_rows(rows, split[part])
            found = [c_array(name, "int8_t", flat, 16, f"{doc}: {order}")]
        for array in found:
            array["weights"] = True  # not counted among the other constants
        arrays.extend(found)

    if qm.variant == "reset_before" and interleaved:
        weights("input", "_rz", layer.wx[:2], "input weights of r, z")
        weights("input", "_n", unit_pairs(layer.wx[2]), "input weights of n, units in pairs")
        weights("recurrent", "_rz", layer.wh[:2], "recurrent weights of r, z")
        weights("recurrent", "_n", unit_pairs(layer.wh[2]), "recurrent weights of n, units in pairs")
    else:
        weights("input", "", layer.wx, "input weights of r, z, n")
        weights("recurrent", "", layer.wh, "recurrent weights of r, z, n")
    kernel = {part: "" if interleaved else row_kernel(index, part, m) for part, m in split.items()}
    for part, rows in (("input", layer.wx), ("recurrent", layer.wh)):
        if kernel[part] in BYTE_KERNELS:
            sums = rows[..., : split[part]].astype(np.int64).sum(axis=-1).ravel()
            doc = f"weight sum of each {part} row over columns 0..{split[part] - 1}"
            arrays.append(c_array(f"l{index}_{part}_sums", "int32_t", sums, 8, doc))
    if interleaved:
        # Unit by unit, each gate's bias and multipliers side by side: the unit loop reads
        # one short run of words instead of nine or ten separate arrays.
        per_gate = np.stack([layer.bias, layer.mult_x, layer.mult_h], axis=-1)  # (3, H, 3)
        columns = [per_gate.transpose(1, 0, 2).reshape(hidden, 9)]
        names = "bias, input multiplier, recurrent multiplier of r, z, n"
        if qm.variant == "reset_after":
            columns.append(layer.bias_hn[:, None])
            names += ", then the bias of n's recurrent part (13 fractional bits)"
        table = np.hstack(columns)
        arrays.append(c_array(f"l{index}_gates", "int32_t", table, table.shape[1], f"per unit: {names}"))
    else:
        doc = "biases of the pre-activations (12 fractional bits), per gate and unit"
        arrays.append(c_array(f"l{index}_bias", "int32_t", layer.bias, 8, doc))
        if qm.variant == "reset_after":
            doc = "bias of the candidate's recurrent part (scaled by r; 13 fractional bits)"
            arrays.append(c_array(f"l{index}_bias_hn", "int32_t", layer.bias_hn, 8, doc))
        for part, mult in (("input", layer.mult_x), ("recurrent", layer.mult_h)):
            doc = f"multipliers of the {part} accumulators, per gate and unit"
            arrays.append(c_array(f"l{index}_mult_{part}", "int32_t", mult, 8, doc))
    return {
        "index": index,
        "state_offset": sum(qm.hidden_sizes[:index]),  # where its state starts in state->h
        "input": k,
        "hidden": hidden,
        "arrays": arrays,
        "matrices": matrices,
        "split": split,
        "kernel": kernel,
    }


def _row_kernels(layers: list[dict]) -> dict[str, Any]:
    """Which rows-layout product kernels the layers call (only those are generated)."""
    used = {ctx["kernel"][part] for ctx in layers for part in ("input", "recurrent")}
    tails = [ctx["input"] > ctx["split"]["input"] or ctx["hidden"] > ctx["split"]["recurrent"]
             for ctx in layers]  # fmt: skip
    return {
        "rows": bool(used - {""}),  # the byte kernels fall back on dot_rows
        "bytes": bool(used & BYTE_KERNELS),
        "rows_int8": "dot_rows_int8" in used,
        "rows_q15": "dot_rows_q15" in used,
        "columns": any(tails),
        "max_columns": max(m for ctx in layers for m in ctx["split"].values()),
    }


MAX_C_STRING = 4095  # bytes of a string literal that every C99 compiler accepts (gcc -pedantic: no more)


def _enumerated(field: str, value: object, choices: Collection[str]) -> str:
    """The generator's own spelling of an enumerated field's value (never the file's string)."""
    for choice in choices:
        if value == choice:
            return choice
    raise EdgeGruError(f"{field} {quote(value)}: expected one of {', '.join(choices)}")


def _source(qm: QuantizedModel) -> FileText:
    """The float model's ``source`` metadata as its file has it, or "unknown"."""
    origin = qm.metadata.get("source_model") if isinstance(qm.metadata, dict) else None
    source = origin.get("source") if isinstance(origin, dict) else None
    return FileText("unknown" if source is None else str(source))


def _class_names(head: QuantizedHead) -> list[FileText] | list[str]:
    """The names for ``<prefix>_class_names``: the file's, or the class indices if it has none.

    The C array must hold one string literal per class (an empty initialiser is not C99).
    """
    names = head.class_names
    if names is None:
        return [str(c) for c in range(head.output_size)]
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


def render(qm: QuantizedModel, prefix: str, layout: str) -> Rendered:
    """Render ``<prefix>.h``, ``<prefix>.c`` and ``<prefix>_weights.h``."""
    check_prefix(prefix)
    check_limits(qm)
    if layout not in LAYOUTS:
        raise EdgeGruError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    variant = _enumerated("variant", qm.variant, VARIANT_DOC)
    head = qm.head
    head_kind = _enumerated("head kind", head.kind, get_args(HeadKind)) if head else None
    env = environment()
    layers = [_layer_context(qm, i, layer, layout) for i, layer in enumerate(qm.layers)]
    weight_bytes = qm.weight_bytes()
    # Everything constant besides the int8 weights: the layers' arrays as emitted, the
    # activation table (int16, or int32 pairs in the rows layout), the input constants
    # and the head's biases.
    table_bytes = SIGMOID_TABLE.size * 2 if layout == "interleaved" else (SIGMOID_TABLE.size - 1) * 4
    const_bytes = sum(a["nbytes"] for ctx in layers for a in ctx["arrays"] if not a.get("weights"))
    const_bytes += table_bytes + qm.input_size * 8 + (head.output_size * 4 if head else 0)
    kernel_doc = (
        "interleaved rows: SXTB16 + SMLAD/SMLALD with the Arm DSP extension, portable C elsewhere;"
        " with GCC the block loops are inline assembly (EDGEGRU_NO_ASM: C loops, same integers)"
        if layout == "interleaved"
        else "portable C, products of all rows first (vectorised by host compilers), then the gates"
    )
    context = {
        "p": prefix,
        "P": prefix.upper(),
        "version": __version__,
        "description": FileText(qm.describe()),
        "source": _source(qm),
        "variant": variant,
        "variant_doc": VARIANT_DOC[variant],
        "input_size": qm.input_size,
        "hidden_sizes": qm.hidden_sizes,
        "layers": layers,
        "layout": layout,
        "rows_per_unit": 3 if qm.variant == "reset_after" else 2,
        "state_bits": qm.state_bits,
        "state_ctype": "int16_t" if qm.state_bits == 16 else "int8_t",
        "state_format": "Q0.15" if qm.state_bits == 16 else "Q0.7",
        "state_one": 32768 if qm.state_bits == 16 else 128,
        "head": head is not None,
        "head_kind": head_kind,
        "output_size": output_size(qm),
        "output_doc": f"{head_kind} logits (int32)" if head else "last layer's state, Q0.15",
        "output_scale_c": f"{float(np.float32(head.logit_scale if head else 2.0**-15))!r}f",
        "class_names": _class_names(head) if head and head_kind == "classification" else [],
        "input_zero_point": qm.input.zero_point,
        "input_scale_text": f"{qm.input.scale:.9g}",
        "logit_scale_text": f"{head.logit_scale:.9g}" if head else "",
        # int16 state: later layers read the state below in place, so act holds the input only
        "act_len": qm.input_size if qm.state_bits == 16 else max([qm.input_size, *qm.hidden_sizes]),
        "max_hidden": max(qm.hidden_sizes),
        "total_hidden": sum(qm.hidden_sizes),
        "stand_ins": {name for ctx in layers for pair in ctx["matrices"].values() for name in pair},
        "sigmoid_table": format_values(SIGMOID_TABLE, 12) if layout == "interleaved" else "",
        "sigmoid_pairs": format_values(sigmoid_pairs(), 8) if layout == "rows" else "",
        "input_scale_mul": format_floats(qm.input.scale_mul),
        "input_offset": format_floats(qm.input.offset),
        "head_weights": format_values(head.weight, 16) if head else "",
        "head_bias": format_values(head.bias, 8) if head else "",
        "weight_bytes": weight_bytes,
        "const_bytes": const_bytes,
        "kernel_doc": kernel_doc,
        "kernels": _row_kernels(layers) if layout == "rows" else {},
    }
    files = {}
    for template, name in (
        ("model.h.j2", f"{prefix}.h"),
        ("model.c.j2", f"{prefix}.c"),
        ("weights.h.j2", f"{prefix}_weights.h"),
    ):
        files[name] = env.get_template(template).render(**context, filename=name)
    return Rendered(files, weight_bytes, const_bytes)
