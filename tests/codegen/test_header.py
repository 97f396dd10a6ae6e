"""What <prefix>.h carries for a firmware: scales as macros, the probability helper, the
training window and channel order, the model hash and version."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgegru.codegen.render import render
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.core.version import __version__
from edgegru.data import load_dataset
from edgegru.quant import calibrate, quantize
from tests.helpers import make_qmodel

PROGRAM = r"""
#include <stdio.h>
#include "gest.h"

int main(void)
{
    printf("%.9e %d %.9e %s %s\n", (double)GEST_INPUT_SCALE, GEST_INPUT_ZERO_POINT,
           (double)GEST_OUTPUT_SCALE, GEST_MODEL_HASH, GEST_EDGEGRU_VERSION);
    int32_t logits[GEST_NUM_CLASSES];
    float p[GEST_NUM_CLASSES];
    long v;
    for (;;) {
        for (int c = 0; c < GEST_NUM_CLASSES; ++c) {
            if (scanf("%ld", &v) != 1) {
                return 0;
            }
            logits[c] = (int32_t)v;
        }
        gest_probabilities(logits, p);
        for (int c = 0; c < GEST_NUM_CLASSES; ++c) {
            printf("%.9e ", (double)p[c]);
        }
        printf("\n");
    }
}
"""


def build(qm, directory: Path, layout: str = "rows") -> Path:
    """The model's C and PROGRAM, built with the strict flags; the executable."""
    render(qm, "gest", layout).write(directory)
    (directory / "main.c").write_text(PROGRAM)
    exe = directory / "main"
    sources = [str(path) for path in sorted(directory.glob("*.c"))]
    run_tool(["gcc", *STRICT_FLAGS, "-O2", f"-I{directory}", *sources, "-o", str(exe)], "build the program")
    return exe


def header(qm) -> str:
    return render(qm, "gest", "rows").files["gest.h"]


@pytest.mark.parametrize("layout", ["rows", "interleaved"])
def test_macros_hold_the_scales_hash_and_version_and_the_softmax_is_stable(layout, tmp_path):
    qm = make_qmodel(5, [9], "reset_after", "classification", 16, seed=3, output_size=6)
    exe = build(qm, tmp_path, layout)
    rng = np.random.default_rng(0)
    # logits near the int32 extremes and a peak far above the rest: the stable softmax must
    # neither overflow nor return NaN
    logits = np.concatenate(
        [
            rng.integers(-(2**31), 2**31, size=(200, 6)),
            rng.integers(-(10**6), 10**6, size=(200, 6)),
            np.array([[2**31 - 1, -(2**31), 0, 0, 0, 0], [5, 5, 5, 5, 5, 5]]),
        ]
    )
    stdin = "\n".join(" ".join(map(str, row)) for row in logits)
    result = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True, timeout=60)
    lines = result.stdout.splitlines()
    scale_in, zero, scale_out, digest, version = lines[0].split()
    assert float(scale_in) == pytest.approx(float(np.float32(qm.input.scale)), rel=1e-7)
    assert int(zero) == qm.input.zero_point
    assert float(scale_out) == pytest.approx(float(np.float32(qm.head.logit_scale)), rel=1e-7)
    assert digest == qm.fingerprint() and re.fullmatch(r"[0-9a-f]{16}", digest)
    assert version == __version__
    got = np.array([[float(v) for v in line.split()] for line in lines[1:]])
    real = logits.astype(np.float64) * np.float64(np.float32(qm.head.logit_scale))
    e = np.exp(real - real.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 2e-6
    assert np.allclose(got.sum(axis=1), 1.0, atol=2e-6)


def test_the_hash_changes_with_any_integer_or_scale():
    qm = make_qmodel(4, [6], "reset_before", "classification", 8, seed=1)
    first = qm.fingerprint()
    assert make_qmodel(4, [6], "reset_before", "classification", 8, seed=1).fingerprint() == first
    qm.layers[0].wh[2, 5, 5] ^= 1
    assert qm.fingerprint() != first
    qm.layers[0].wh[2, 5, 5] ^= 1
    qm.head.weight_scale *= 1.0000001
    assert qm.fingerprint() != first


def test_training_records_the_window_and_channel_names(tmp_path):
    """A model trained on a long CSV: its header names the channels in the CSV's order and
    the longest and shortest training sequences, and compiles."""
    from edgegru.nn.train import TrainConfig, train

    rng = np.random.default_rng(1)
    rows = ["sequence,step,gyro_z,accel_x,label"]
    for s in range(12):
        for t in range(8 + s % 5):
            rows.append(f"s{s},{t},{rng.normal():.3f},{rng.normal():.3f},{'up' if s % 2 else 'down'}")
    path = tmp_path / "moves.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(path)
    assert ds.channel_names == ["gyro_z", "accel_x"]
    model = train(ds, TrainConfig(hidden=4, epochs=1, val_fraction=0.0), progress=False).model
    qm = quantize(model, calibrate(model, ds.x, ds.lengths, "minmax", 99.9))
    text = header(qm)
    assert "#define GEST_SEQUENCE_LENGTH 12 " in text
    assert "#define GEST_MIN_SEQUENCE_LENGTH 8 " in text
    assert "#define GEST_READ_AT_WINDOW_END 1 " in text
    assert re.search(r"0: gyro_z\n \*   1: accel_x\n", text), text
    build(qm, tmp_path)


def test_without_metadata_the_header_says_it_is_not_recorded():
    files = render(make_qmodel(3, [4], "reset_after", "regression", 16, seed=2), "gest", "rows").files
    assert "SEQUENCE_LENGTH" not in files["gest.h"] and "Not recorded" in files["gest.h"]
    assert "gest_probabilities" not in files["gest.h"]  # a regression head has no classes
    assert sorted(files) == ["gest.c", "gest.h", "gest_weights.h"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"sequence": {"readout": "window", "min_length": 0, "max_length": 5}}, "sequence min_length '0'"),
        ({"sequence": {"readout": "window", "min_length": 9, "max_length": 5}}, "exceeds max_length"),
        ({"sequence": {"readout": "sometimes", "min_length": 1, "max_length": 5}}, "readout 'sometimes'"),
        ({"sequence": [1, 2]}, "expected a JSON object"),
        ({"channel_names": ["a", "b"]}, "channel_names: expected a list of 3 strings"),
        ({"channel_names": ["a", "b", 3]}, "channel_names: expected a list of 3 strings"),
    ],
)
def test_bad_training_metadata_is_refused_naming_the_field(metadata, message):
    qm = make_qmodel(3, [4], "reset_after", "classification", 16, seed=2)
    qm.metadata = {"source_model": metadata}
    with pytest.raises(EdgeGruError, match=message):
        render(qm, "gest", "rows")


def test_hostile_channel_names_stay_inside_the_comment(tmp_path):
    qm = make_qmodel(3, [4], "reset_after", "classification", 16, seed=2)
    names = ["x */ int pwn; /*", "??/\nint pwn2;", "é\\"]
    qm.metadata = {"source_model": {"channel_names": names}}
    text = header(qm)
    assert "int pwn" in text  # still there, as comment text
    build(qm, tmp_path)
    symbols = run_tool(["nm", str(tmp_path / "main")], "list symbols").split()
    assert "pwn" not in symbols and "pwn2" not in symbols
