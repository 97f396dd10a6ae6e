"""Instructions per call counted from qemu's execution trace on the emulated Pi
(edgegru.targets.pi.icount_trace): the C engine's step, traced in the Pi's library loaded by the
Pi's python through the ctypes engine, must count exactly what unicorn counts for the same
step; the trace reader on logs it must refuse.

The qemu test runs the real trace (a few calls of a tiny model); a missing tool fails it.
"""

from __future__ import annotations

import pytest

from edgegru.cli.main import main
from edgegru.core.errors import EdgeGruError
from edgegru.engine.icount import count_step_instructions
from edgegru.targets.pi.icount_trace import Mapping, TraceLoops, count_engine_step, count_trace
from tests.helpers import make_qmodel

LIBRARY = Mapping(0x1000, 0x2000, "/lib/libx.so")
MARKER = 0x1800


@pytest.mark.slow
def test_the_traced_c_step_counts_what_unicorn_counts(pi_root):
    qm = make_qmodel(6, [8], "reset_after", "classification", 16, seed=3)
    loops = TraceLoops(short=1, long=3, rounds=2, warmup=1)
    traced = count_engine_step(qm, board="pi4", root=pi_root, loops=loops)
    unicorn = count_step_instructions(qm, "pi4", steps=6)[0]
    assert unicorn.min == unicorn.max  # the int8 step does not depend on its input
    assert traced.engine == ("libedgegru_engine.so",)
    for per_call in traced.rounds:
        assert per_call["libedgegru_engine.so"] == unicorn.min
        # the binding (ctypes, libffi) and libc run too; the interpreter and NumPy are not traced
        ran = {name.split(".")[0] for name, n in per_call.items() if n > 0}
        assert {"_ctypes", "libffi", "libc"} <= ran
        assert not ran & {"python3", "_multiarray_umath"}
    assert traced.engine_total() == unicorn.min


def _block(pc: int, size: int) -> list[str]:
    """qemu's in_asm lines of a translated block of ``size`` instructions at ``pc``."""
    return ["----------------", "IN: f"] + [f"{pc + 4 * i:#x}:  d503201f  nop" for i in range(size)] + [""]


def _run(host: str, pc: int, cpu: int = 0) -> str:
    return f"Trace {cpu}: {host} [0000000000001001/{pc:016x}/00000001/00080200] f"


def test_count_trace_credits_each_execution_with_its_translation():
    log = [
        *_block(0x1000, 3), _run("0xa0", 0x1000),  # start-up: 3
        *_block(MARKER, 2), _run("0xb0", MARKER),  # marker: a new segment
        _run("0xa0", 0x1000), _run("0xa0", 0x1000),
        *_block(0x1000, 5), _run("0xc0", 0x1000),  # retranslated, 5 instructions now
        "Stopped execution of TB chain before 0xc0 [0000000000001000] f",  # not run: taken back
        _run("0xc0", 0x1000),
        _run("0xb0", MARKER),
    ]  # fmt: skip
    counts = count_trace(log, MARKER, [LIBRARY])
    assert [c["libx.so"] for c in counts] == [3, 2 + 3 + 3 + 5 - 5 + 5, 2]


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ([*_block(0x1000, 1), _run("0xa0", 0x1000, cpu=1)], "a second guest thread ran"),
        ([_run("0xa0", 0x1000)], "block 0x1000 executed before it was translated"),
    ],
)
def test_count_trace_refuses_what_it_cannot_count(log, message):
    with pytest.raises(EdgeGruError, match=message):
        count_trace(log, MARKER, [LIBRARY])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--calls", "0"], "--calls 0, --rounds 3: expected at least 1 each"),
        (["m.egru", "--hidden", "4"], "--hidden shapes the random model; MODEL was given"),
    ],
)
def test_pi_count_refuses_bad_options_in_one_line(capsys, args, message):
    assert main(["pi", "count", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
