"""One contract for float and quantised models: whatever a file holds, loading gives a model
the later stages accept or one EdgeGruError naming the field, and saving refuses what loading
would refuse (so ``edgegru quantize`` never writes a file ``edgegru export`` refuses)."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgegru.cli.main import main
from edgegru.core import container
from edgegru.core.container import META_KEY
from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_LAYERS, MAX_NAME_BYTES, MAX_OUTPUTS, MAX_SIZE
from edgegru.nn.model import GRULayer, Model
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, qmodel, quantize
from edgegru.quant.qmodel import QuantizedModel
from tests.helpers import ROOT, make_qmodel, save_unchecked

Loader = Callable[[Path], Any]


def edit_header(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change a saved file's JSON header in place (nested fields too)."""
    with np.load(path) as npz:
        header = json.loads(npz[META_KEY].tobytes())
    edit(header)
    replace_header(path, json.dumps(header).encode())


def replace_header(path: Path, blob: bytes) -> None:
    """Replace a saved file's header with raw bytes, JSON or not."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[META_KEY] = np.frombuffer(blob, np.uint8)
    with path.open("wb") as fh:  # a path not ending in .npz would get that suffix added
        np.savez(fh, **arrays)


@pytest.fixture
def float_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.egru"
    random_model(3, [4], "reset_after", "classification", output_size=3).save(path)
    return path


@pytest.fixture
def quant_file(tmp_path: Path) -> Path:
    path = tmp_path / "q.egru"
    make_qmodel(3, [4], "reset_after", "classification").save(path)
    return path


def refused(load: Loader, path: Path, match: str) -> str:
    """The one-line message with which ``load`` refuses ``path`` (it names the file)."""
    with pytest.raises(EdgeGruError, match=match) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


# ---- hand-edited metadata ---------------------------------------------------------------


@pytest.mark.parametrize("names", [[1, 2, 3], ["a", None, "c"], ["a", "", "c"], ["a", "b\0", "c"]])
@pytest.mark.parametrize("which", ["float", "quant"])
def test_class_names_that_are_not_names_are_refused(float_file, quant_file, which, names):
    path, load = (float_file, Model.load) if which == "float" else (quant_file, QuantizedModel.load)
    edit_header(path, lambda h: h["head"].update(class_names=names))
    refused(load, path, r"head.class_names\[\d\] .*: expected a non-empty string of at most 256 UTF-8 bytes")


def test_class_names_beyond_the_byte_limit_are_refused(float_file):
    long = "é" * (MAX_NAME_BYTES // 2 + 1)  # within the limit in characters, not in bytes
    edit_header(float_file, lambda h: h["head"].update(class_names=["a", long, "c"]))
    refused(Model.load, float_file, r"head.class_names\[1\]")


@pytest.mark.parametrize("which", ["float", "quant"])
def test_class_names_shorter_than_the_outputs_are_refused(float_file, quant_file, which):
    """A short list would leave NULL pointers in the C's array of names."""
    path, load = (float_file, Model.load) if which == "float" else (quant_file, QuantizedModel.load)
    edit_header(path, lambda h: h["head"].update(class_names=["a", "b"]))
    refused(load, path, r"head.class_names: 2 names, expected a list of 3 names, one per output")
    edit_header(path, lambda h: h["head"].update(class_names="abc"))
    refused(load, path, r"head.class_names: str, expected a list of 3 names")


@pytest.mark.parametrize("value", [["a"], "text", None, 3])
@pytest.mark.parametrize("which", ["float", "quant"])
def test_metadata_that_is_not_an_object_is_refused(float_file, quant_file, which, value):
    path, load = (float_file, Model.load) if which == "float" else (quant_file, QuantizedModel.load)
    edit_header(path, lambda h: h.update(metadata=value))
    refused(load, path, r"metadata: \w+, expected a JSON object")


@pytest.mark.parametrize("field", ["head", "input"])
def test_sections_that_are_not_objects_are_refused(quant_file, field):
    edit_header(quant_file, lambda h: h.update({field: ["kind"]}))
    refused(QuantizedModel.load, quant_file, rf"{field}: list, expected a JSON object")


def test_deeply_nested_json_is_refused(float_file, quant_file):
    """Python's json raises RecursionError near depth 1000; the file is refused either way."""
    deep: Any = 1
    for _ in range(40):
        deep = {"x": deep}
    edit_header(float_file, lambda h: h.update(metadata=deep))
    refused(Model.load, float_file, "metadata nested more than 32 deep")
    replace_header(quant_file, b"[" * 200_000 + b"]" * 200_000)
    refused(QuantizedModel.load, quant_file, "metadata nested more than 32 deep")


@pytest.mark.parametrize("blob", [b"NaN", b'{"format": 1e999}', b"\xff\xfe", b"{"])
def test_header_that_is_not_standard_json_is_refused(float_file, blob):
    replace_header(float_file, blob)
    refused(Model.load, float_file, "metadata is not JSON")


def test_header_beyond_its_size_limit_is_refused(float_file):
    edit_header(float_file, lambda h: h["metadata"].update(pad="x" * container.MAX_META_BYTES))
    refused(
        Model.load, float_file, r"array '__edgegru_meta__': shape \(\d+,\) is \d+ bytes, expected <= 1048576"
    )


def test_quantised_head_kind_is_checked_on_load(quant_file):
    """The kind reaches the generated C's banner: only the two known spellings may."""
    edit_header(quant_file, lambda h: h["head"].update(kind="*/ int evil; /*"))
    refused(QuantizedModel.load, quant_file, r"head.kind '\*/ int evil; /\*': expected one of classification")


@pytest.mark.parametrize("value", [3.5, 3.0, "3", True, None, 128, -129])
def test_zero_point_must_be_an_integer_in_int8(quant_file, value):
    """A fractional zero point used to be truncated silently; 3.0 is refused too (JSON from
    edgegru always writes an integer there)."""
    edit_header(quant_file, lambda h: h["input"].update(zero_point=value))
    refused(QuantizedModel.load, quant_file, r"input.zero_point .*: expected an integer in \[-128, 127\]")


@pytest.mark.parametrize("value", [16.0, "16", True, 12, None, [16]])
def test_state_bits_must_be_the_integer_16_or_8(quant_file, value):
    edit_header(quant_file, lambda h: h.update(state_bits=value))
    refused(QuantizedModel.load, quant_file, r"state_bits .*: expected one of 16, 8")


@pytest.mark.parametrize("value", [1e300, -1.0, 0, 1e-50, "1", True, 10**400])
@pytest.mark.parametrize("field", ["scale", "weight_scale"])
def test_scales_must_be_positive_and_finite_in_float32(quant_file, field, value):
    """An input scale of 1e300 used to reach the C as ``inff``, which does not compile."""
    section = "input" if field == "scale" else "head"
    edit_header(quant_file, lambda h: h[section].update({field: value}))
    refused(
        QuantizedModel.load, quant_file, rf"{section}.{field} .*: expected a number > 0 that float32 holds"
    )


@pytest.mark.parametrize("count", [10**12, 0, MAX_LAYERS + 1, 1.0, "1"])
@pytest.mark.parametrize("which", ["float", "quant"])
def test_number_of_layers_is_checked_before_any_is_read(float_file, quant_file, which, count):
    path, load = (float_file, Model.load) if which == "float" else (quant_file, QuantizedModel.load)
    edit_header(path, lambda h: h.update(num_layers=count))
    start = time.perf_counter()
    refused(load, path, rf"num_layers .*: expected an integer in \[1, {MAX_LAYERS}\]")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("value", [3.0, "3", True, MAX_SIZE + 1])
def test_float_input_size_must_be_an_integer_within_the_generator(float_file, value):
    edit_header(float_file, lambda h: h.update(input_size=value))
    refused(Model.load, float_file, rf"input_size .*: expected an integer in \[1, {MAX_SIZE}\]")


# ---- the integer bounds the quantiser proves ---------------------------------------------


@pytest.mark.parametrize("bias", [-(2**31), 2**31 - 1])
def test_quantised_biases_that_overflow_the_pre_activation_are_refused(tmp_path, bias):
    """Both are int32, but with any weights the pre-activation's sum leaves int32: signed
    overflow, undefined behaviour in the C."""
    qm = make_qmodel(3, [4], "reset_after", "classification")
    qm.layers[0].bias = qm.layers[0].bias.copy()
    qm.layers[0].bias[1, 2] = bias
    message = r"layer 0 gate z unit 2: pre-activation could overflow int32"
    with pytest.raises(EdgeGruError, match=message):
        qm.save(tmp_path / "q.egru")
    save_unchecked(qm, tmp_path / "q.egru")
    refused(QuantizedModel.load, tmp_path / "q.egru", message)


def test_quantised_multipliers_that_overflow_the_pre_activation_are_refused(tmp_path):
    """A bias that fits with the quantiser's multipliers overflows with the largest ones:
    the bound |B| + mulh(sum|Wx| * 32768, Mx) + 1 + mulh(sum|Wh| * 32768, Mh) + 1 is what counts."""
    qm = make_qmodel(64, [64], "reset_before", "classification")
    layer = qm.layers[0]
    layer.wx = np.full_like(layer.wx, 127)
    layer.wh = np.full_like(layer.wh, -127)
    layer.bias = np.full_like(layer.bias, 2**31 - 2**27)
    qmodel.check_quantized(qm)  # with the quantiser's small multipliers it fits
    layer.mult_x = np.full_like(layer.mult_x, 2**31 - 1)
    layer.mult_h = np.full_like(layer.mult_h, 2**31 - 1)
    save_unchecked(qm, tmp_path / "q.egru")
    refused(QuantizedModel.load, tmp_path / "q.egru", r"layer 0 gate r unit 0: pre-activation could overflow")


def test_quantised_head_whose_logits_overflow_is_refused(tmp_path):
    qm = make_qmodel(3, [4], "reset_after", "regression")
    qm.head.bias = np.full_like(qm.head.bias, 2**31 - 1)
    save_unchecked(qm, tmp_path / "q.egru")
    refused(QuantizedModel.load, tmp_path / "q.egru", r"head: a logit could overflow int32")


# ---- quantize never makes what export refuses --------------------------------------------


def _calibrated(model: Model) -> QuantizedModel:
    return quantize(model, calibrate(model, np.random.default_rng(0).normal(size=(4, 10, model.input_size))))


@pytest.mark.parametrize(
    ("part", "name", "message"),
    [
        ("layer", "w_h", r"layer 0: weights too large for the fixed-point format"),
        ("layer", "w_x", r"layer 0: weights too large for the fixed-point format"),
        ("layer", "b_h", r"layer 0 gate r unit 0: pre-activation could overflow int32"),
        ("head", "weight", None),
        ("head", "bias", r"head: a logit could overflow int32"),
    ],
)
def test_weights_near_float32s_limit_quantise_to_a_checked_model_or_an_error(part, name, message):
    """3e38 is a finite float32. Its multiplier (about 1e45) used to wrap in the int64 cast
    into a small number that passed; now every result passes the load-time check."""
    model = random_model(3, [4], "reset_after", "classification", output_size=3)
    values = getattr(model.head if part == "head" else model.layers[0], name)
    values[(0,) * values.ndim] = 3e38
    if message is None:  # one huge head weight only coarsens the head's scale
        qmodel.check_quantized(_calibrated(model))
        return
    with pytest.raises(EdgeGruError, match=message):
        _calibrated(model)


def test_quantize_command_writes_no_file_export_would_refuse(tmp_path, capsys):
    model = random_model(3, [4], "reset_after", "classification", output_size=2)
    model.layers[0].w_h[0, 0, 0] = 3e38
    model.save(tmp_path / "m.egru")
    rows = "".join(f"{s},{t},0.1,0.2,0.3,{'class1' if s else 'class0'}\n" for s in range(2) for t in range(5))
    (tmp_path / "d.csv").write_text("sequence,step,a,b,c,label\n" + rows)
    out = tmp_path / "q.egru"
    assert main(["quantize", str(tmp_path / "m.egru"), str(tmp_path / "d.csv"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegru: error: layer 0: weights too large") and "\n" not in err
    assert not out.exists()


def test_calibrated_range_beyond_floats_is_refused():
    model = random_model(1, [4], "reset_after")
    x = np.array([[[1e308], [-1e308]]])
    with pytest.raises(EdgeGruError, match=r"calibrated input range .*: expected a finite range"):
        quantize(model, calibrate(model, x))


# ---- the float model's checks ------------------------------------------------------------


def test_float_arrays_beyond_float32_are_refused():
    """Saved as float32, 1e300 would become inf; the model is refused when it is made."""
    layer = GRULayer(np.zeros((3, 2, 1)), np.zeros((3, 2, 2)), np.zeros((3, 2)), np.full((3, 2), 1e300))
    with pytest.raises(EdgeGruError, match=r"layers\[0\].b_h: holds NaN or Inf, or a value beyond float32"):
        Model(1, "reset_after", [layer])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: setattr(m, "input_size", MAX_SIZE + 1),
            r"input_size 513: expected an integer in \[1, 512\]",
        ),
        (lambda m: setattr(m, "layers", m.layers * (MAX_LAYERS + 1)), r"number of layers 9"),
        (lambda m: setattr(m.head, "kind", "softmax"), r"head.kind 'softmax': expected one of"),
        (lambda m: setattr(m.head, "class_names", ["a"]), r"head.class_names: 1 names, expected a list of 3"),
        (lambda m: setattr(m, "metadata", [1]), r"metadata: list, expected a JSON object"),
        (
            lambda m: setattr(m.layers[0], "w_x", m.layers[0].w_x.astype(np.int32)),
            r"int32 values, expected floating",
        ),
        (lambda m: m.metadata.update(x=np.float32(1)), r"metadata cannot be written as JSON \(TypeError"),
        (lambda m: m.metadata.update(x=float("nan")), r"metadata cannot be written as JSON \(ValueError"),
    ],
)
def test_float_model_save_refuses_what_load_would(tmp_path, change, message):
    model = random_model(3, [4], "reset_after", "classification", output_size=3)
    change(model)
    with pytest.raises(EdgeGruError, match=message):
        model.save(tmp_path / "m.egru")
    assert not (tmp_path / "m.egru").exists()


def test_head_outputs_beyond_the_generator_are_refused():
    with pytest.raises(
        EdgeGruError, match=rf"head.weight: shape \({MAX_OUTPUTS + 1}, 4\), expected \(C, H\)"
    ):
        random_model(3, [4], "reset_after", "regression", output_size=MAX_OUTPUTS + 1)


# ---- bounded reading ---------------------------------------------------------------------


def test_container_limits_cover_the_largest_model():
    """The reading limits follow from the model limits; a change of one must keep them in step."""
    largest_array = 3 * MAX_SIZE * MAX_SIZE * 4
    largest_model = MAX_LAYERS * 2 * largest_array + MAX_OUTPUTS * MAX_SIZE * 4 + container.MAX_META_BYTES
    assert largest_array * 2 <= container.MAX_ARRAY_BYTES
    assert largest_model <= container.MAX_TOTAL_BYTES
    assert MAX_LAYERS * 6 + 7 <= container.MAX_MEMBERS


def test_the_largest_model_saves_and_loads(tmp_path):
    model = random_model(MAX_SIZE, [MAX_SIZE], "reset_after", "classification", output_size=MAX_OUTPUTS)
    model.save(tmp_path / "m.egru")
    assert Model.load(tmp_path / "m.egru").describe() == model.describe()


def test_file_beyond_the_largest_model_is_refused_unread(tmp_path):
    path = tmp_path / "big.egru"
    with path.open("wb") as fh:  # sparse: no disk space used
        fh.truncate(container.MAX_FILE_BYTES + 1)
    refused(Model.load, path, rf"{container.MAX_FILE_BYTES + 1} bytes, more than the")


def test_zip_directory_beyond_a_models_arrays_is_refused_unparsed(float_file):
    """zipfile parses the whole directory on opening (hundreds of bytes per entry)."""
    with zipfile.ZipFile(float_file, "a") as archive:
        for i in range(container.MAX_MEMBERS):
            archive.writestr(f"pad{i}.npy", b"")
    refused(Model.load, float_file, r"a zip directory of \d+ entries in \d+ bytes; a model file has at most")


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    """Make the zip directory state ``size`` uncompressed bytes for ``member``, as a lying
    archive would (zipfile then stops reading the member there)."""
    blob = bytearray(path.read_bytes())
    at = blob.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", blob, at + 28)[0]
        if blob[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<L", blob, at + 24, size)
            path.write_bytes(bytes(blob))
            return
        at = blob.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{member} not in the directory of {path}")


BOMB_MEMBER = "layer0.w_h.npy"


def _npy_header(shape: tuple[int, ...]) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return out.getvalue()


def build_bomb(path: Path, shape: tuple[int, ...], inflated: int) -> None:
    """A valid float model file whose w_h member is an .npy header for ``shape`` and then
    ``inflated`` bytes of zeros, deflated; written in chunks, so it is never held whole."""
    random_model(3, [4], "reset_after", "classification", output_size=3).save(path)
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            if name != BOMB_MEMBER:
                archive.writestr(name, data)
        with archive.open(BOMB_MEMBER, "w") as stream:
            stream.write(_npy_header(shape))
            chunk = bytes(1 << 20)
            for _ in range(inflated >> 20):
                stream.write(chunk)


BOMB_SHAPE = (3, 10240, 10240)  # float32: 1.26 GB


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 1.2 MB on disk, 1.26 GB inflated (building it takes a few seconds)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.egru"
    build_bomb(path, BOMB_SHAPE, 4 * int(np.prod(BOMB_SHAPE)))
    assert path.stat().st_size < 2 << 20
    return path


PEAK_PROBE = """
import resource, sys
from edgegru.core.errors import EdgeGruError
from edgegru.nn.model import Model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    Model.load(sys.argv[1])
    print("loaded")
except EdgeGruError as exc:
    print(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
PEAK_LIMIT_KIB = 64 * 1024  # the bomb is 1.26 GB; refusing it costs a few megabytes


def _load_in_child(path: Path) -> tuple[str, int]:
    """(the loader's message, growth of its peak memory in KiB), in a fresh process."""
    run = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    message, growth = run.stdout.strip().rsplit("\n", 1)
    return message, int(growth)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (None, r"member 'layer0.w_h.npy': \d+ bytes, more than the 8388608 an array of a model may have"),
        (
            container.MAX_ARRAY_BYTES,
            r"array 'layer0.w_h': shape \(3, 10240, 10240\) is 1258291200 bytes, expected <= 8388608",
        ),
    ],
)
def test_deflate_bomb_is_refused_before_it_inflates(bomb, tmp_path, declared, message):
    """Honest sizes are refused from the zip directory; a directory that understates them,
    from the .npy header before any data is read. Peak memory stays small either way."""
    path = tmp_path / "bomb.egru"
    path.write_bytes(bomb.read_bytes())
    if declared is not None:
        _patch_declared_size(path, BOMB_MEMBER, declared)
    text, growth = _load_in_child(path)
    assert text.startswith(f"{path}: ") and re.search(message, text), text
    assert growth < PEAK_LIMIT_KIB, f"peak memory grew by {growth} KiB"


def test_data_past_a_small_header_is_not_inflated(tmp_path):
    """An .npy header and a directory that both state the model's own small w_h, followed by
    64 MB of zeros: only the stated bytes are read, and the CRC then fails."""
    path = tmp_path / "bomb.egru"
    build_bomb(path, (3, 4, 4), 64 << 20)
    _patch_declared_size(path, BOMB_MEMBER, len(_npy_header((3, 4, 4))) + 3 * 4 * 4 * 4)
    text, growth = _load_in_child(path)
    assert text == f"{path}: not a readable edgegru file (BadZipFile)"
    assert growth < PEAK_LIMIT_KIB, f"peak memory grew by {growth} KiB"


def test_a_one_output_classifier_is_refused_as_float_and_quantised(tmp_path):
    """argmax over one output is always class 0: such a head is a regression, and saying
    otherwise is refused wherever the model is checked."""
    message = r"head.kind 'classification' with 1 output: a classifier needs at least 2"
    with pytest.raises(EdgeGruError, match=message):
        random_model(3, [4], "reset_after", "classification", output_size=1)
    path = tmp_path / "q.egru"
    make_qmodel(3, [4], "reset_after", "regression", output_size=1).save(path)
    edit_header(path, lambda h: h["head"].update(kind="classification"))
    refused(QuantizedModel.load, path, message)
