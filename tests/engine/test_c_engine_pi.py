"""The C engine on the emulated Raspberry Pi: a library cross-built here with `edgegru engine`,
loaded by the Pi's own python3.11 (no compiler, no LiteRT used) under qemu-aarch64 on the
Pi 4 and Pi 5 cores, bit for bit against the integer reference, and refused on x86.

Nothing is mocked (see tests/targets/test_pi.py for the emulated Pi); a missing tool fails
these tests, it never skips them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgegru.cli.main import main
from edgegru.core.errors import EdgeGruError
from edgegru.engine.library import EngineLibrary
from edgegru.targets.pi.runner import run_python
from edgegru.targets.verify import compare, random_stimulus
from tests.helpers import make_qmodel

pytestmark = pytest.mark.slow

# Run on the Pi: the engine's records of int8 and raw float sequences, saved for comparison here.
RECORDS_SCRIPT = """\
import sys
import numpy as np
from edgegru.engine.library import EngineLibrary
from edgegru.quant.qmodel import QuantizedModel

model, library, inputs, out = sys.argv[1:]
engine = EngineLibrary(library, QuantizedModel.load(model))
x = np.load(inputs)
results = {}
for kind in ("int8", "float"):
    results[f"{kind}_h"], results[f"{kind}_y"] = engine.records(x[kind])
np.savez(out, **results)
"""


@pytest.mark.parametrize(
    ("board", "variant", "state_bits", "hidden"),
    [("pi4", "reset_after", 16, [16, 12]), ("pi5", "reset_before", 8, [20])],
)
def test_cross_built_engine_is_bit_exact_on_the_pi(
    pi_root, tmp_path, capsys, board, variant, state_bits, hidden
):
    qm = make_qmodel(6, hidden, variant, "classification", state_bits, seed=len(hidden))
    model, library = tmp_path / "m.egru", tmp_path / "libm.so"
    qm.save(model)
    assert main(["engine", str(model), "--target", board, "-o", str(library)]) == 0
    assert f"model {qm.fingerprint()}" in capsys.readouterr().out
    x_int8 = random_stimulus(qm, 6, 40, seed=3)
    x_float = (np.random.default_rng(4).normal(size=(3, 40, 6)) * 3).astype(np.float32)
    np.savez(tmp_path / "x.npz", int8=x_int8, float=x_float)
    (tmp_path / "records.py").write_text(RECORDS_SCRIPT)
    args = [str(tmp_path / p) for p in ("records.py", "m.egru", "libm.so", "x.npz", "out.npz")]
    proc = run_python(args, board=board, root=pi_root)
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "out.npz")
    for kind, x in (("int8", x_int8), ("float", x_float)):
        report = compare(qm, x, got[f"{kind}_h"], got[f"{kind}_y"], f"C engine on the emulated {board}")
        assert report.outputs_compared == x.shape[0] * x.shape[1] * 3
        assert report.ok, report.summary()
    # Here, the Pi's library is refused by name before anything runs.
    with pytest.raises(EdgeGruError, match="a library for aarch64, this machine is x86-64"):
        EngineLibrary(library, qm)


def test_pi_run_engine_c_prints_what_run_prints_here(pi_root, tmp_path):
    """`edgegru pi run --engine c` (the model's C cross-built for the Pi 4, streamed by the
    Pi's python) and `edgegru run --engine c` here (this machine's build): the same bytes on
    stdout and stderr, on a file of sequences."""
    qm = make_qmodel(6, [12], "reset_after", "classification", 16, seed=9)
    model = tmp_path / "m.egru"
    qm.save(model)
    x = np.random.default_rng(5).normal(size=(3, 15, 6)) * 2
    lines = ["sequence,step," + ",".join(f"c{k}" for k in range(6)) + ",label"]
    lines += [
        f"{s},{t}," + ",".join(repr(float(v)) for v in row) + f",class{s}"
        for s, seq in enumerate(x)
        for t, row in enumerate(seq)
    ]
    data = tmp_path / "seqs.csv"
    data.write_text("\n".join(lines) + "\n")
    cli = [sys.executable, "-m", "edgegru.cli"]
    pi = subprocess.run(
        [*cli, "pi", "run", str(model), "--engine", "c", "--input", str(data)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pi.returncode == 0, pi.stderr
    here = subprocess.run(
        [*cli, "run", str(model), "--engine", "c", "--input", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},  # built here, on first use
    )
    assert here.returncode == 0, here.stderr
    assert pi.stdout == here.stdout and len(pi.stdout.splitlines()) == 45
    assert pi.stderr == here.stderr and "of 3 sequence(s) end on their label" in pi.stderr
