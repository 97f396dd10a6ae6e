"""Fuzzing the ``.egru`` container: whatever bytes a file holds, loading gives a model or one
EdgeGruError, never another exception, and quickly.

The profile in tests/conftest.py bounds the examples for CI; a longer session:
    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/core/test_container_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgegru.core.container import META_KEY
from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Model, Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.quant.qmodel import QuantizedModel
from tests.helpers import make_qmodel

LOAD_SECONDS = 5  # a file of a few kilobytes loads (or is refused) in milliseconds


def _float_model() -> Model:
    model = random_model(3, [4, 2], "reset_before", "classification", output_size=3)
    model.normalisation = Normalisation(np.zeros(3, np.float32), np.ones(3, np.float32))
    return model


def _deflated(blob: bytes) -> bytes:
    """The same archive with its members deflated (as numpy's savez_compressed writes them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            dest.writestr(info.filename, source.read(info))
    return out.getvalue()


LOADERS: dict[str, Callable[[Path], object]] = {"float": Model.load, "quant": QuantizedModel.load}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def files(workdir: Path) -> dict[tuple[str, bool], bytes]:
    """Valid files of each kind, stored (as saved) and deflated."""
    _float_model().save(workdir / "float.egru")
    make_qmodel(3, [4, 2], "reset_after", "classification").save(workdir / "quant.egru")
    stored = {kind: (workdir / f"{kind}.egru").read_bytes() for kind in LOADERS}
    return {
        (kind, packed): _deflated(blob) if packed else blob
        for kind, blob in stored.items()
        for packed in (False, True)
    }


def load_or_refuse(kind: str, blob: bytes, path: Path) -> object | None:
    """The loaded model, or None if refused with one EdgeGruError line naming the file; any
    other exception fails the test. Loading must take under LOAD_SECONDS."""
    path.write_bytes(blob)
    start = time.perf_counter()
    try:
        model = LOADERS[kind](path)
    except EdgeGruError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        model = None
    assert time.perf_counter() - start < LOAD_SECONDS
    return model


KINDS = st.sampled_from([("float", False), ("float", True), ("quant", False), ("quant", True)])


@settings(deadline=None)
@given(
    which=KINDS,
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(min_value=0),
)
def test_mutated_bytes_load_or_are_refused(files, workdir, which, edits, cut):
    blob = bytearray(files[which])
    for at, value in edits:
        blob[at % len(blob)] = value
    if cut is not None:
        blob = blob[: cut % len(blob)]
    load_or_refuse(which[0], bytes(blob), workdir / "m.egru")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# The header's fields, and a few a file may add: any may get any JSON value.
FIELDS = [
    ("format",),
    ("kind",),
    ("format_version",),
    ("num_layers",),
    ("variant",),
    ("input_size",),
    ("state_bits",),
    ("metadata",),
    ("head",),
    ("head", "kind"),
    ("head", "class_names"),
    ("head", "weight_scale"),
    ("input",),
    ("input", "scale"),
    ("input", "zero_point"),
    ("extra",),
]


def _header(blob: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive, archive.open(f"{META_KEY}.npy") as member:
        return json.loads(np.lib.format.read_array(member).tobytes())


def _with_members(blob: bytes, replace: dict[str, np.ndarray]) -> bytes:
    """``blob``'s archive with some members replaced or added."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        arrays = {info.filename.removesuffix(".npy"): archive.read(info) for info in archive.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dest:
        for name, data in arrays.items():
            if name not in replace:
                dest.writestr(f"{name}.npy", data)
        for name, values in replace.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, values, allow_pickle=False)
            dest.writestr(f"{name}.npy", member.getvalue())
    return out.getvalue()


def _set(header: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    for key in parents:
        child = header.get(key)
        if not isinstance(child, dict):
            return  # an earlier edit made the section something else: keep that
        header = child
    header[last] = value


@settings(deadline=None)
@given(
    which=KINDS,
    edits=st.lists(st.tuples(st.sampled_from(FIELDS), JSON), min_size=1, max_size=4),
    whole=st.none() | JSON,
)
def test_any_json_header_loads_or_is_refused(files, workdir, which, edits, whole):
    """Valid arrays under a header with fields set to arbitrary JSON (NaN and Infinity among
    the floats), or under an arbitrary JSON value instead of a header."""
    blob = files[which]
    header: Any = _header(blob)
    for path, value in edits:
        _set(header, path, value)
    text = json.dumps(header if whole is None else whole).encode()
    blob = _with_members(blob, {META_KEY: np.frombuffer(text, np.uint8)})
    model = load_or_refuse(which[0], blob, workdir / "m.egru")
    if model is not None:  # whatever loads is a model its own checks accept
        model.save(workdir / "again.egru")


# Members of either kind (a float file ignores a quantised one's names, and the reverse).
MEMBERS = [
    *("layer0.w_x", "layer0.w_h", "layer1.b_h", "head.weight", "head.bias", "norm.std"),
    *("layer0.wx", "layer1.mult_h", "layer0.bias", "layer1.bias_hn", "input.scale_mul", "input.offset"),
    META_KEY,
]
ARRAYS = hnp.arrays(
    dtype=st.sampled_from(["<f4", ">f4", "<f8", "<f2", "<i1", "<i8", "<u8", "?", "<U3", "<c8"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
)


@settings(deadline=None)
@given(
    which=KINDS,
    member=st.sampled_from(MEMBERS),
    values=ARRAYS,
)
def test_any_array_in_a_member_loads_or_is_refused(files, workdir, which, member, values):
    """Valid headers over one member replaced by an array of any shape and type."""
    blob = _with_members(files[which], {member: values})
    model = load_or_refuse(which[0], blob, workdir / "m.egru")
    if model is not None:
        model.save(workdir / "again.egru")
