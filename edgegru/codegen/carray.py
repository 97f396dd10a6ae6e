"""Constant arrays as C initialisers: the numbers of ``<prefix>_weights.h`` as text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C_SIZES = {"int8_t": 1, "int32_t": 4}


def format_values(values: np.ndarray, per_line: int, indent: int = 4) -> str:
    """Integers as the lines of an initialiser, ``per_line`` to a line."""
    items = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join(" " * indent + line for line in lines)


def format_floats(values: np.ndarray) -> str:
    """float32 values as C float literals that read back exactly, four to a line."""
    items = [f"{float(np.float32(v))!r}f" for v in values]
    return ",\n".join("    " + ", ".join(items[i : i + 4]) for i in range(0, len(items), 4))


def format_structs(table: np.ndarray) -> str:
    """A 2-D table of integers as one brace-enclosed struct initialiser per row."""
    return "\n".join("    { " + ", ".join(str(int(v)) for v in row) + " }," for row in table)


@dataclass(frozen=True)
class CArray:
    """A 1-D ``static const`` array of ``<prefix>_weights.h``.

    ``length`` is C text: the model's size macros where the length is one of its sizes,
    so that the declaration says what it holds; the initialiser must fill it exactly.
    ``dsp_body`` is the DSP kernels' initialiser of an interleaved matrix whose r and z
    rows are paired (it differs from ``body`` then).
    """

    name: str
    ctype: str
    length: str
    body: str
    doc: str
    nbytes: int
    weights: bool = False  # int8 GRU weights, counted apart from the other constants
    dsp_body: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        ctype: str,
        values: np.ndarray,
        per_line: int,
        doc: str,
        *,
        length: str | None = None,
        weights: bool = False,
        dsp_values: np.ndarray | None = None,
    ) -> CArray:
        """The array of ``values``; its length as C text, or the number of values."""
        values = np.asarray(values).ravel()
        return cls(
            name,
            ctype,
            length or str(values.size),
            format_values(values, per_line),
            doc,
            values.size * C_SIZES[ctype],
            weights,
            None if dsp_values is None else format_values(dsp_values, per_line),
        )
