"""The model description: one versioned file, validated on load."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgegru.core.atomic import atomic_open, atomic_write_bytes
from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import GRULayer, Model
from edgegru.nn.synthetic import random_model
from edgegru.quant.qmodel import QuantizedModel
from tests.helpers import assert_same_model, make_qmodel, rewrite_meta, save_unchecked


def test_save_load_round_trip(tmp_path):
    m = random_model(5, [7, 3], "reset_before", "classification", output_size=4, seed=3)
    m.metadata["source"] = "unit test"
    path = tmp_path / "m.egru"
    m.save(path)
    back = Model.load(path)
    assert_same_model(m, back)
    assert back.metadata["source"] == "unit test"
    assert back.metadata["edgegru_version"]


def test_quantized_round_trip(tmp_path):
    qm = make_qmodel(4, [5], "reset_after", "regression", state_bits=8)
    qm.save(tmp_path / "q.egru")
    back = QuantizedModel.load(tmp_path / "q.egru")
    assert back.state_bits == 8 and back.describe() == qm.describe()
    np.testing.assert_array_equal(back.layers[0].mult_h, qm.layers[0].mult_h)


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.egru"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(EdgeGruError, match="not a readable edgegru file"):
        Model.load(path)


def test_file_of_another_kind(tmp_path):
    np.savez(tmp_path / "data.npz", X=np.zeros((2, 3, 1)))
    with pytest.raises(EdgeGruError, match="not an edgegru file"):
        Model.load(tmp_path / "data.npz")
    make_qmodel(2, [3], "reset_after").save(tmp_path / "q.egru")
    with pytest.raises(EdgeGruError, match="holds a 'quantized-model', expected a 'float-model'"):
        Model.load(tmp_path / "q.egru")


def test_newer_format_version(tmp_path):
    path = tmp_path / "m.npz"
    random_model(2, [3], "reset_after").save(path)
    rewrite_meta(path, format_version=99)
    with pytest.raises(EdgeGruError, match=r"newer edgegru .*version 99"):
        Model.load(path)


def test_quantized_model_of_the_old_arithmetic_is_refused(tmp_path):
    """Format 1 held 64-bit requantisation constants that no target runs any more."""
    path = tmp_path / "q.npz"
    make_qmodel(2, [3], "reset_after").save(path)
    rewrite_meta(path, format_version=1)
    with pytest.raises(EdgeGruError, match=r"older edgegru .*version 1.*run edgegru quantize"):
        QuantizedModel.load(path)


@pytest.mark.parametrize("bad", [-5, 2**31, 0.5])
def test_quantized_model_with_bad_multipliers_is_refused(tmp_path, bad):
    """A multiplier outside 0 <= M < 2^31 (or not an integer) would break the C's high product:
    such a model is neither saved nor, in a file written anyway, loaded."""
    qm = make_qmodel(2, [3], "reset_after")
    mult = qm.layers[0].mult_h.astype(type(bad))
    mult[1, 2] = bad
    qm.layers[0].mult_h = mult
    message = r"layer 0 mult_h: expected integers in \[0, 2147483647\]"
    with pytest.raises(EdgeGruError, match=message):
        qm.save(tmp_path / "q.egru")
    save_unchecked(qm, tmp_path / "q.egru")
    with pytest.raises(EdgeGruError, match=message):
        QuantizedModel.load(tmp_path / "q.egru")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("wh", np.zeros((3, 3, 4), np.int8), r"layer 0 wh: shape \(3, 3, 4\), expected \(3, 3, 3\)"),
        ("wx", np.full((3, 3, 2), 0.5), r"layer 0 wx: expected integers in \[-127, 127\]"),
        ("bias", np.full((3, 3), 2**40), r"layer 0 bias: expected integers"),
        ("variant", "xx", r"variant 'xx': expected one of reset_after, reset_before"),
        ("scale", 0.0, r"input.scale 0.0: expected a number > 0"),
        ("zero_point", 1000, r"input.zero_point 1000: expected an integer in \[-128, 127\]"),
    ],
)
def test_damaged_quantized_model_is_refused_by_name(tmp_path, field, value, message):
    """Loading checks every array's shape and range and the scalars, so no damaged file
    reaches the generator (which would write C from it); saving checks the same."""
    qm = make_qmodel(2, [3], "reset_after", "classification")
    if field == "variant":
        qm.variant = value
    elif field in ("scale", "zero_point"):
        setattr(qm.input, field, value)
    else:
        setattr(qm.layers[0], field, value)
    with pytest.raises(EdgeGruError, match=message):
        qm.save(tmp_path / "q.egru")
    save_unchecked(qm, tmp_path / "q.egru")
    with pytest.raises(EdgeGruError, match=message):
        QuantizedModel.load(tmp_path / "q.egru")


def test_missing_file(tmp_path):
    with pytest.raises(EdgeGruError, match="no such file"):
        Model.load(tmp_path / "nope.egru")


def test_save_is_atomic(tmp_path):
    m = random_model(2, [3], "reset_after")
    m.save(tmp_path / "m.egru")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.egru"]
    assert zipfile.is_zipfile(tmp_path / "m.egru")
    # a write that fails half-way leaves the old file as it was, and no temporary file
    old = (tmp_path / "m.egru").read_bytes()
    with pytest.raises(RuntimeError, match="disk full"), atomic_open(tmp_path / "m.egru") as fh:
        fh.write(b"half a model")
        raise RuntimeError("disk full")
    assert (tmp_path / "m.egru").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.egru"]


def test_validation_names_the_field():
    layer = GRULayer(np.zeros((3, 4, 2)), np.zeros((3, 4, 4)), np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(EdgeGruError, match=r"layers\[0\].w_x: shape"):
        Model(3, "reset_after", [layer])
    layer.w_h[0, 0, 0] = np.nan
    with pytest.raises(EdgeGruError, match=r"w_h: holds NaN"):
        Model(2, "reset_after", [layer])
    with pytest.raises(EdgeGruError, match="variant 'lstm'"):
        Model(2, "lstm", [layer])


def test_output_paths_that_are_not_a_file_to_replace_are_refused(tmp_path):
    """A device or FIFO (think /dev/null, as root) must never be replaced by the atomic
    rename; nor a directory, nor a path without a name."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "d").mkdir()
    for path, message in (
        (fifo, "is not a regular file"),
        (tmp_path / "d", "is a directory"),
        (Path("."), "expected a file name"),
        (tmp_path / "nodir" / "m.egru", "does not exist"),
    ):
        with pytest.raises(EdgeGruError, match=message):
            atomic_write_bytes(path, b"x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_written_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644
