"""A model's generated C as a shared library, loaded with ctypes and checked against the model.

The library is what :mod:`edgegru.engine.build` compiles from the generated C and the
engine shim (``templates/engine_shim.c.j2``): it exports ``edgegru_engine_*`` functions
with one ABI for every model, and the model's hash. Loading needs NumPy and ctypes only (no
compiler, no Jinja2), so a library built elsewhere runs on a Raspberry Pi as it is.

A library is code: loading one runs it, so only load libraries you built or trust. The
checks here catch a library of another model, another edgegru ABI or another
architecture, and a damaged file (wrong hash, shapes or ELF), each as one line, before
the first step; they cannot make a hostile file safe.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

import numpy as np

from edgegru.codegen.context import output_size
from edgegru.core.errors import EdgeGruError, quote
from edgegru.quant.qmodel import QuantizedModel

# Bumped whenever a shim function's signature or edgegru_engine_describe's layout changes.
ABI_VERSION = 1
HASH_SYMBOL = "edgegru_engine_model_hash"
HASH_CHARS = 16  # QuantizedModel.fingerprint: 16 hex digits
# edgegru_engine_describe: ABI, input size, output size, state bits, state bytes, layers,
# then one hidden size per layer (the shim's SHAPE_* enum).
DESCRIBE_FIXED = 6
MAX_DESCRIBE = DESCRIBE_FIXED + 64
# A state holds at most a few layers of MAX_SIZE units and the outputs: a library that
# asks for more than this is not one of ours, and nothing that large is allocated for it.
MAX_STATE_BYTES = 1 << 20

# (ELF class, e_machine) of the machines edgegru runs on, for naming a foreign library's.
_ELF_MACHINES = {(2, 62): "x86-64", (2, 183): "aarch64", (1, 40): "32-bit Arm", (1, 3): "32-bit x86"}
_POINTER = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "edgegru_engine_describe": (ctypes.c_int32, [_POINTER, ctypes.c_int32]),
    "edgegru_engine_reset": (None, [_POINTER]),
    "edgegru_engine_step": (None, [_POINTER, _POINTER, _POINTER]),
    "edgegru_engine_step_float": (None, [_POINTER, _POINTER, _POINTER]),
    "edgegru_engine_hidden": (None, [_POINTER, _POINTER]),
}


class EngineLibrary:
    """One model's C engine: a loaded library checked to be that model's, with one state.

    ``step_int8`` and ``step_float`` advance the state and return the step's int32
    outputs (logits, or the last layer's Q0.15 state), the integers the integer
    reference computes; ``hidden`` is every layer's state, widened to int16.
    """

    def __init__(self, path: str | Path, qm: QuantizedModel) -> None:
        self.path = Path(path)
        self._lib = _load(self.path)
        self._state = ctypes.create_string_buffer(self._check(qm))
        self._out = np.zeros(output_size(qm), np.int32)
        self._hidden = np.zeros(sum(qm.hidden_sizes), np.int16)
        self._x_int8 = np.zeros(qm.input_size, np.int8)
        self._x_float = np.zeros(qm.input_size, np.float32)
        self.reset()

    def _check(self, qm: QuantizedModel) -> int:
        """The bytes of the library's state, once it is checked to be ``qm``'s: the hash
        first (another model's library is the likely mistake), then the ABI and shapes."""
        try:
            raw = ctypes.string_at(
                ctypes.addressof(ctypes.c_char.in_dll(self._lib, HASH_SYMBOL)), HASH_CHARS + 1
            )
        except ValueError:
            raise EdgeGruError(f"{self.path}: not an edgegru engine library (no {HASH_SYMBOL})") from None
        found = raw.split(b"\0")[0].decode("ascii", errors="replace")
        if found != qm.fingerprint():
            raise EdgeGruError(
                f"{self.path}: built for model {quote(found)}, not this model ({qm.fingerprint()}); "
                "rebuild it from this model"
            )
        values = np.zeros(MAX_DESCRIBE, np.int32)
        count = self._lib.edgegru_engine_describe(values.ctypes.data, MAX_DESCRIBE)
        fixed = values[:DESCRIBE_FIXED].tolist()
        if fixed[0] != ABI_VERSION:
            raise EdgeGruError(
                f"{self.path}: engine ABI {fixed[0]}, this edgegru loads ABI {ABI_VERSION}; rebuild it"
            )
        want = [ABI_VERSION, qm.input_size, output_size(qm), qm.state_bits]
        got = [*fixed[:4], *values[DESCRIBE_FIXED : min(count, MAX_DESCRIBE)].tolist()]
        if count != DESCRIBE_FIXED + len(qm.layers) or got != [*want, *qm.hidden_sizes]:
            raise EdgeGruError(
                f"{self.path}: its shapes (input, output, state bits, hidden sizes) {got[1:]} are not "
                f"the model's {[*want[1:], *qm.hidden_sizes]}"
            )
        if not 0 < fixed[4] <= MAX_STATE_BYTES:
            raise EdgeGruError(f"{self.path}: a state of {fixed[4]} bytes, expected 1 to {MAX_STATE_BYTES}")
        return fixed[4]

    def reset(self) -> None:
        """Every hidden state back to zero (the start of a sequence)."""
        self._lib.edgegru_engine_reset(self._state)

    def step_int8(self, x: np.ndarray) -> np.ndarray:
        """One step on int8 inputs (D,); the int32 outputs (a copy)."""
        self._x_int8[:] = x
        self._lib.edgegru_engine_step(self._state, self._x_int8.ctypes.data, self._out.ctypes.data)
        return self._out.copy()

    def step_float(self, x: np.ndarray) -> np.ndarray:
        """One step on raw floats (D,), normalised and quantised by the C in float32; the
        int32 outputs (a copy)."""
        self._x_float[:] = x
        self._lib.edgegru_engine_step_float(self._state, self._x_float.ctypes.data, self._out.ctypes.data)
        return self._out.copy()

    def hidden(self) -> np.ndarray:
        """Every layer's state one after another, as int16 (int8 states widened)."""
        self._lib.edgegru_engine_hidden(self._state, self._hidden.ctypes.data)
        return self._hidden.copy()

    def records(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sequences x (N, T, D), int8 or float32, each from a reset state: the states
        (N, T, sum H) and outputs (N, T, C) after every step, as the verification harness
        writes them (see :func:`edgegru.targets.verify.compare`)."""
        step = self.step_int8 if x.dtype == np.int8 else self.step_float
        n, t = x.shape[:2]
        states = np.zeros((n, t, self._hidden.size), np.int64)
        outputs = np.zeros((n, t, self._out.size), np.int64)
        for s in range(n):
            self.reset()
            for k in range(t):
                outputs[s, k] = step(x[s, k])
                states[s, k] = self.hidden()
        return states, outputs


def _elf_machine(path: Path) -> tuple[int, int] | None:
    """(ELF class, e_machine) of a file, None if it is not ELF."""
    with open(path, "rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return header[4], int.from_bytes(header[18:20], "big" if header[5] == 2 else "little")


def _check_machine(path: Path) -> None:
    """A library for another architecture is refused by name: glibc's dlopen says "No such
    file or directory" for a Pi's library on x86. This Python's own executable tells what
    this machine runs."""
    found = _elf_machine(path)
    if found is None:
        raise EdgeGruError(f"{path}: not a shared library (no ELF header)")
    here = _elf_machine(Path(sys.executable))
    if here is not None and found != here:
        raise EdgeGruError(
            f"{path}: a library for {_ELF_MACHINES.get(found, 'another machine')}, this machine is "
            f"{_ELF_MACHINES.get(here, platform.machine())}; build one for it (edgegru engine)"
        )


def _load(path: Path) -> ctypes.CDLL:
    """dlopen the file and bind the shim's functions; one line for a missing, foreign
    (another architecture), damaged or non-engine file."""
    if not path.is_file():
        raise EdgeGruError(f"{path}: no such file")
    _check_machine(path)
    try:
        lib = ctypes.CDLL(os.path.abspath(path))  # a bare name would search the library path
    except OSError as exc:
        detail = str(exc).split(": ")[-1] or "cannot be loaded"
        raise EdgeGruError(f"{path}: cannot load the engine library ({detail})") from None
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise EdgeGruError(f"{path}: not an edgegru engine library (no {name})") from None
        function.restype = restype
        function.argtypes = argtypes
    return lib
