"""Bit-exact verification of generated C against the integer reference, on any target.

The generated model and a generated harness are compiled for a target and fed
many sequences in one run; the harness writes every layer's hidden state and the
outputs after every step, and each value is compared with
:mod:`edgegru.quant.integer_reference`. Zero differing values is the only pass; the first
difference is reported by sequence, step, layer and unit.

This module holds what every target shares: the stimulus, the harness's input and
output files and the comparison. A target supplies only how to build and run the
harness (:func:`verify_with`); see :mod:`edgegru.targets.host`,
:mod:`edgegru.targets.cortex_m.verify` and :mod:`edgegru.targets.pi.verify_c`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.codegen.context import output_size
from edgegru.codegen.render import render, render_harness
from edgegru.core.errors import EdgeGruError
from edgegru.quant import integer_reference as iref
from edgegru.quant.qmodel import QuantizedModel

INPUT_MAGIC = 0x4E494745


@dataclass
class Mismatch:
    sequence: int
    step: int
    where: str
    expected: int
    got: int

    def __str__(self) -> str:
        return (
            f"first mismatch: sequence {self.sequence}, step {self.step}, {self.where}: "
            f"expected {self.expected}, got {self.got}"
        )


@dataclass
class VerifyReport:
    """Counts of one verification run."""

    target: str
    sequences: int
    steps: int
    states_compared: int  # hidden-state values, every unit of every layer at every step
    outputs_compared: int  # outputs (logits, or the last layer's state) at every step
    mismatches: int
    first: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def summary(self) -> str:
        line = (
            f"{self.target}: {self.sequences} sequences, {self.sequences * self.steps} steps, "
            f"{self.states_compared} state values and {self.outputs_compared} outputs compared, "
            f"{self.mismatches} mismatches"
        )
        return line if self.first is None else f"{line}\n{self.first}"


def random_stimulus(qm: QuantizedModel, sequences: int, steps: int, seed: int = 0) -> np.ndarray:
    """int8 inputs (N, T, D) mixing uniform noise with saturating extremes.

    A third of the sequences are uniform over [-128, 127]; a third hold only the
    extremes -128 and 127, which drive every pre-activation to its saturation
    point; the rest switch between long runs of one extreme and noise, so that
    the state saturates and then has to recover.
    """
    rng = np.random.default_rng(seed)
    d = qm.input_size
    x = rng.integers(-128, 128, (sequences, steps, d))
    third = sequences // 3
    x[third : 2 * third] = rng.choice([-128, 127], (third, steps, d))
    for s in range(2 * third, sequences):
        for start in range(0, steps, 16):
            if rng.random() < 0.5:
                x[s, start : start + 16] = rng.choice([-128, 127], d)
    return x.astype(np.int8)


def write_input(path: Path, x: np.ndarray) -> None:
    """Write the harness input file; int8 arrays feed _step, float32 arrays _step_float."""
    kind = 0 if x.dtype == np.int8 else 1
    header = np.array([INPUT_MAGIC, kind, x.shape[0], x.shape[1]], dtype="<i4")
    payload = x.astype(np.int8 if kind == 0 else "<f4")
    path.write_bytes(header.tobytes() + payload.tobytes())


def expected(qm: QuantizedModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference records (N, T, sum H) of states and (N, T, C) of outputs for inputs x."""
    xq = x.astype(np.int64) if x.dtype == np.int8 else iref.quantize_input(qm.input, x)
    trace = iref.run(qm, xq)
    states = np.concatenate(trace.states, axis=-1)
    last_q15 = iref.state_to_q15(trace.states[-1], qm.state_bits)
    return states, (trace.logits if trace.logits is not None else last_q15)


def read_output(path: Path, qm: QuantizedModel, sequences: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    total = sum(qm.hidden_sizes)
    record = np.dtype([("h", "<i2", (total,)), ("out", "<i4", (output_size(qm),))])
    data = path.read_bytes() if path.exists() else b""
    if len(data) != record.itemsize * sequences * steps:
        raise EdgeGruError(
            f"{path}: the harness wrote {len(data)} bytes, expected {record.itemsize * sequences * steps}"
        )
    rec = np.frombuffer(data, dtype=record).reshape(sequences, steps)
    return rec["h"].astype(np.int64), rec["out"].astype(np.int64)


def compare(
    qm: QuantizedModel, x: np.ndarray, got_states: np.ndarray, got_outputs: np.ndarray, target: str
) -> VerifyReport:
    """Compare harness records with the reference, value by value."""
    want_states, want_outputs = expected(qm, x)
    diff_states = want_states != got_states
    diff_outputs = want_outputs != got_outputs
    first = None
    if diff_states.any() or diff_outputs.any():
        # The first step at which anything differs, states before outputs.
        step_bad = diff_states.any(axis=-1) | diff_outputs.any(axis=-1)
        s, t = map(int, np.argwhere(step_bad)[0])
        if diff_states[s, t].any():
            flat = int(np.argmax(diff_states[s, t]))
            layer = int(np.searchsorted(np.cumsum(qm.hidden_sizes), flat, side="right"))
            unit = flat - int(sum(qm.hidden_sizes[:layer]))
            where = f"layer {layer}, unit {unit}"
            first = Mismatch(s, t, where, int(want_states[s, t, flat]), int(got_states[s, t, flat]))
        else:
            c = int(np.argmax(diff_outputs[s, t]))
            first = Mismatch(s, t, f"output {c}", int(want_outputs[s, t, c]), int(got_outputs[s, t, c]))
    return VerifyReport(
        target=target,
        sequences=x.shape[0],
        steps=x.shape[1],
        states_compared=int(diff_states.size),
        outputs_compared=int(diff_outputs.size),
        mismatches=int(diff_states.sum() + diff_outputs.sum()),
        first=first,
    )


def write_sources(qm: QuantizedModel, directory: Path, prefix: str, layout: str) -> list[Path]:
    """Render the model and its harness into ``directory``; return the .c files."""
    render(qm, prefix, layout).write(directory)
    (directory / f"{prefix}_harness.c").write_text(render_harness(qm, prefix))
    return [directory / f"{prefix}.c", directory / f"{prefix}_harness.c"]


def verify_with(
    qm: QuantizedModel,
    x: np.ndarray,
    target: str,
    run_harness: Callable[[Path, Path], None],
    workdir: Path | None = None,
) -> VerifyReport:
    """Feed x through a harness that ``run_harness(directory, input_path)`` builds and runs.

    The harness must leave ``output.bin`` in the directory.
    """
    with tempfile.TemporaryDirectory(prefix="edgegru-verify-") as tmp:
        directory = Path(workdir or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        input_path = directory / "input.bin"
        write_input(input_path, x)
        run_harness(directory, input_path)
        got_states, got_outputs = read_output(directory / "output.bin", qm, x.shape[0], x.shape[1])
    return compare(qm, x, got_states, got_outputs, target)
