"""ONNX files from strangers: every bad file is one EdgeGruError line, soon, in bounded memory.

Each problem has a hand-built model (onnx.helper) that shows it; a fuzz test then mutates
valid exported models, byte by byte and field by field. The fuzz tests take the example
count from the hypothesis profile (tests/conftest.py); for a longer session run
``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/onnx/test_onnx_hostile.py -k fuzz``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import edgegru.onnx.importer as onnx_import
from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_LAYERS, MAX_SIZE
from edgegru.nn.model import Model, Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.onnx.exporter import build_onnx_model
from edgegru.onnx.graph import MAX_ELEMENTS, MAX_ENTRIES, MAX_READ_BYTES
from edgegru.onnx.importer import import_onnx
from tests.helpers import ROOT
from tests.onnx.torch_export import TorchNet, export_torchscript

SECONDS = 10  # far above any import here (milliseconds); a hang fails instead of blocking the suite
HIDDEN, SIZE = 3, 2  # the small GRU most hand-built files hold


# -- building files --------------------------------------------------------------------------


def _weights(hidden: int = HIDDEN, size: int = SIZE) -> list[TensorProto]:
    rng = np.random.default_rng(0)
    return [
        numpy_helper.from_array(rng.normal(size=(1, 3 * hidden, size)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(1, 3 * hidden, hidden)).astype(np.float32), "R"),
    ]


def _gru(x: str = "X", y: str = "Y", name: str = "gru1", **attrs: object) -> onnx.NodeProto:
    return helper.make_node("GRU", [x, "W", "R"], [y], name=name, **{"hidden_size": HIDDEN, **attrs})


def _proto(
    nodes: list[onnx.NodeProto],
    inits: list[TensorProto] | None = None,
    *,
    output: str = "Y",
    opset: int = 17,
) -> onnx.ModelProto:
    """A graph of ``nodes`` fed by X [time 4, batch 1, SIZE], weights W and R by default."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, SIZE])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        _weights() if inits is None else inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    """Serialise without onnx.save's checks: the files here are broken on purpose."""
    path.write_bytes(proto.SerializeToString())
    return path


def _classifier_proto() -> onnx.ModelProto:
    """An edgegru export of a 2-input GRU(3) classifier with 4 named classes."""
    return build_onnx_model(
        random_model(SIZE, [HIDDEN], "reset_after", "classification", output_size=4, seed=1)
    )


# -- what every refusal must look like -------------------------------------------------------


@contextlib.contextmanager
def _time_limit(seconds: int = SECONDS) -> Iterator[None]:
    """Fail (rather than hang the suite) if the body runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"import took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _assert_one_clean_line(message: str) -> None:
    assert message.isprintable(), repr(message)  # no newline, escape or line separator
    assert len(message) < 1000, message


def _refused(path: Path, *needles: str) -> str:
    """Import ``path``: one EdgeGruError, one printable line naming the file and ``needles``."""
    with _time_limit(), pytest.raises(EdgeGruError) as info:
        import_onnx(path)
    message = str(info.value)
    _assert_one_clean_line(message)
    assert message.startswith(f"{path}: "), message
    for needle in needles:
        assert needle in message, message
    return message


def _cli_import(path: Path, out: Path) -> tuple[subprocess.CompletedProcess, int]:
    """``edgegru import`` in a child process: (result, the child's peak memory in bytes).

    The peak is the child's own VmHWM: getrusage's ru_maxrss would also count this pytest
    process, whose memory a forked child inherits in that figure.
    """
    code = (
        "import re, sys\n"
        "from edgegru.cli.main import main\n"
        "code = main(['import', sys.argv[1], '-o', sys.argv[2]])\n"
        "print(re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read())[1])\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,  # the child's own start-up (numpy, onnx) takes a few seconds on a busy machine
    )
    return result, int(result.stdout.split()[-1]) * 1024


# -- cycles ----------------------------------------------------------------------------------


def test_gru_fed_by_its_own_output_is_refused_quickly_by_the_cli(tmp_path):
    """The case that used to spin at 100% CPU for ever, through the real command."""
    path = _save(_proto([_gru(x="Y")]), tmp_path / "loop.onnx")
    start = time.monotonic()
    result, _ = _cli_import(path, tmp_path / "out.egru")
    assert time.monotonic() - start < 60
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgegru: error: ") and "GRU node 'gru1' is on a cycle" in lines[0]
    assert not (tmp_path / "out.egru").exists()


@pytest.mark.parametrize(
    ("nodes", "on_cycle"),
    [
        # a two-node cycle on the data path: X -> Add(X, back) -> GRU -> Identity -> back
        (
            [
                helper.make_node("Add", ["X", "back"], ["a"], name="add"),
                _gru(x="a"),
                helper.make_node("Identity", ["Y"], ["back"], name="id"),
            ],
            "Add node 'add'",
        ),
        # a cycle away from the data path
        (
            [
                _gru(),
                helper.make_node("Relu", ["q"], ["p"], name="p"),
                helper.make_node("Relu", ["p"], ["q"], name="q"),
            ],
            "Relu node '",
        ),
        # an initial state computed by a cycle (its origin would be searched for ever)
        (
            [
                helper.make_node("GRU", ["X", "W", "R", "", "", "h"], ["Y"], name="gru1", hidden_size=3),
                helper.make_node("Identity", ["h2"], ["h"], name="h"),
                helper.make_node("Identity", ["h"], ["h2"], name="h2"),
            ],
            "Identity node 'h",
        ),
        # a node reading its own output
        ([_gru(), helper.make_node("Relu", ["self"], ["self"], name="me")], "Relu node 'me'"),
    ],
)
def test_cycles_are_refused_naming_a_node_on_them(tmp_path, nodes, on_cycle):
    _refused(_save(_proto(nodes), tmp_path / "cycle.onnx"), on_cycle, "is on a cycle")


# -- tensors: dims, types, data ------------------------------------------------------------


def _tensor(name: str, data_type: int, dims: list[int], raw: bytes = b"") -> TensorProto:
    """A tensor with exactly the given fields, which helper.make_tensor would check."""
    tensor = TensorProto(name=name, data_type=data_type, dims=dims)
    tensor.raw_data = raw
    return tensor


@pytest.mark.parametrize(
    ("w", "needles"),
    [
        (_tensor("W", TensorProto.FLOAT, [1, -9, 2]), ["initializer 'W'", "dims [1, -9, 2]"]),
        (_tensor("W", TensorProto.FLOAT, [2**62, 2**62, 4]), ["dims [4611686018427387904,", "elements"]),
        (_tensor("W", TensorProto.FLOAT, [1, 18000, 6000]), ["dims [1, 18000, 6000]", str(MAX_ELEMENTS)]),
        (_tensor("W", TensorProto.FLOAT, [1] * 100), ["dims [1, 1, 1, 1, …]", "at most 8"]),
        (_tensor("W", TensorProto.STRING, [1]), ["initializer 'W' has data type STRING"]),
        (_tensor("W", TensorProto.UNDEFINED, [1]), ["data type UNDEFINED"]),
        (_tensor("W", 999, [1]), ["data type 999"]),
        (_tensor("W", TensorProto.FLOAT, [1, 9, 2], b"\0" * 12), ["input W 'W' is damaged"]),
    ],
)
def test_bad_tensors_are_refused_before_conversion(tmp_path, w, needles):
    _refused(_save(_proto([_gru()], [w, _weights()[1]]), tmp_path / "w.onnx"), *needles)


def test_bad_constant_node_tensors_are_refused(tmp_path):
    huge = helper.make_node("Constant", [], ["W"], name="c", value=_tensor("", TensorProto.FLOAT, [1, -1]))
    path = _save(_proto([huge, _gru()], [_weights()[1]]), tmp_path / "const.onnx")
    _refused(path, "Constant node 'c' value has dims [1, -1]")
    floats = helper.make_node("Constant", [], ["W"], name="c")
    floats.attribute.append(helper.make_attribute("value_floats", [0.0] * (MAX_ELEMENTS + 1)))
    path = _save(_proto([floats, _gru()], [_weights()[1]]), tmp_path / "floats.onnx")
    _refused(path, "Constant node 'c' holds 786433 values")


def test_sizes_beyond_the_generator_are_refused_before_allocating(tmp_path):
    path = _save(_proto([_gru(hidden_size=6000)]), tmp_path / "h.onnx")
    _refused(path, "GRU node 'gru1' hidden_size=6000: expected 1 to 512")
    path = _save(_proto([_gru(hidden_size=-3)]), tmp_path / "neg.onnx")
    _refused(path, "hidden_size=-3")
    wide = _weights(HIDDEN, MAX_SIZE + 1)
    path = _save(_proto([_gru()], wide), tmp_path / "wide.onnx")
    _refused(path, f"input size {MAX_SIZE + 1}: expected 1 to {MAX_SIZE}")
    head = numpy_helper.from_array(np.zeros((HIDDEN, 2000), np.float32), "hw")
    nodes = [_gru(), helper.make_node("Squeeze", ["Y"], ["s"], name="sq", axes=[1])]
    nodes.append(helper.make_node("MatMul", ["s", "hw"], ["out"], name="head"))
    path = _save(_proto(nodes, [*_weights(), head], output="out", opset=11), tmp_path / "head.onnx")
    _refused(path, "MatMul node 'head' has 2000 outputs, expected 1 to 1024")


def _stack(layers: int, hidden: int) -> onnx.ModelProto:
    """``layers`` GRUs of ``hidden`` units, all using the one tensor W as their W and R."""
    nodes, x = [], "X"
    for k in range(layers):
        gru = helper.make_node("GRU", [x, "W", "W"], [f"y{k}"], name=f"g{k}", hidden_size=hidden)
        nodes += [gru, helper.make_node("Squeeze", [f"y{k}"], [f"s{k}"], axes=[1])]
        x = f"s{k}"
    w = numpy_helper.from_array(np.zeros((1, 3 * hidden, hidden), np.float32), "W")
    proto = _proto(nodes, [w], output=x, opset=11)
    proto.graph.input[0].CopyFrom(helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, hidden]))
    return proto


def test_layers_beyond_the_limit_are_refused_before_their_weights_are_read(tmp_path):
    assert import_onnx(_save(_stack(MAX_LAYERS, 2), tmp_path / "ok.onnx")).hidden_sizes == [2] * MAX_LAYERS
    path = _save(_stack(MAX_LAYERS + 1, 2), tmp_path / "deep.onnx")
    _refused(path, f"GRU node 'g{MAX_LAYERS}' would be layer {MAX_LAYERS + 1} of at most {MAX_LAYERS}")


def test_one_external_region_read_by_many_tensors_stops_at_the_read_budget(tmp_path):
    """60 initial states, each 3 MB read from the same (sparse) bytes: a 20 KB file, 180 MB read."""
    dims = [1, 3 * MAX_SIZE, MAX_SIZE]
    (tmp_path / "zeros.bin").open("wb").truncate(MAX_ELEMENTS * 4)
    states = []
    for k in range(60):
        h = _tensor(f"h{k}", TensorProto.FLOAT, dims)
        h.data_location = TensorProto.EXTERNAL
        h.external_data.add(key="location", value="zeros.bin")
        states.append(h)
    assert 60 * MAX_ELEMENTS * 4 > MAX_READ_BYTES
    concat = helper.make_node("Concat", [s.name for s in states], ["h"], axis=0)
    gru = helper.make_node("GRU", ["X", "W", "R", "", "", "h"], ["Y"], name="gru1", hidden_size=HIDDEN)
    path = _save(_proto([concat, gru], [*_weights(), *states]), tmp_path / "states.onnx")
    assert path.stat().st_size < 20_000
    _refused(path, f"past {MAX_READ_BYTES} bytes")


# -- external data --------------------------------------------------------------------------


def _external(tmp_path: Path, location: str, dims: list[int], **keys: object) -> Path:
    """A model whose W is stored at ``location``, with optional offset/length keys."""
    w = _tensor("W", TensorProto.FLOAT, dims)
    w.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **keys}.items():
        w.external_data.add(key=key, value=str(value))
    return _save(_proto([_gru()], [w, _weights()[1]]), tmp_path / "ext.onnx")


def test_sparse_external_data_is_refused_in_bounded_memory(tmp_path):
    """A 1 KB model naming 432 MB of weights in a sparse file: refused, memory stays small."""
    (tmp_path / "w.bin").open("wb").truncate(18000 * 6000 * 4)  # sparse: no disk used
    path = _external(tmp_path, "w.bin", [1, 18000, 6000])
    assert path.stat().st_size < 1024
    result, peak = _cli_import(path, tmp_path / "out.egru")
    assert result.returncode == 2
    assert "initializer 'W' has dims [1, 18000, 6000]" in result.stderr
    assert peak < 300 * 2**20, peak  # the interpreter with numpy and onnx takes ~60 MB


@pytest.mark.parametrize(
    ("location", "keys", "needles"),
    [
        ("../w.bin", {}, ["location '../w.bin'", "without '..'"]),
        ("/etc/passwd", {}, ["location '/etc/passwd'"]),
        ("", {}, ["location ''"]),
        ("w.bin", {"length": 10**12}, ["length 1000000000000", "expected 72 bytes"]),
        ("w.bin", {"offset": 40}, ["offset 40", "in a file of 72 bytes"]),
        ("w.bin", {"offset": -8}, ["offset -8"]),
        ("w.bin", {"length": "x"}, ["not a whole number"]),
        ("gone.bin", {}, ["the ONNX file cannot be loaded", "'gone.bin'", "is missing"]),
    ],
)
def test_external_data_is_checked_before_it_is_read(tmp_path, location, keys, needles):
    (tmp_path / "w.bin").write_bytes(np.zeros(18, np.float32).tobytes())
    _refused(_external(tmp_path, location, [1, 9, 2], **keys), *needles)


def test_external_data_may_not_leave_the_directory_by_a_link(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.zeros(18, np.float32).tobytes())
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").symlink_to(outside)
    _refused(_external(tmp_path / "model", "w.bin", [1, 9, 2]), "'w.bin' lies outside")


def test_external_data_inside_the_directory_is_read(tmp_path):
    w = _weights()[0]
    (tmp_path / "w.bin").write_bytes(b"pad!" + w.raw_data)
    path = _external(tmp_path, "w.bin", list(w.dims), offset=4, length=len(w.raw_data))
    inline = import_onnx(_save(_proto([_gru()]), tmp_path / "inline.onnx"))
    assert np.array_equal(import_onnx(path).layers[0].w_x, inline.layers[0].w_x)


# -- the file itself ----------------------------------------------------------------------


def test_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = _save(_classifier_proto(), tmp_path / "big.onnx")
    monkeypatch.setattr(onnx_import, "MAX_FILE_BYTES", path.stat().st_size - 1)
    _refused(path, f"larger than {path.stat().st_size - 1} bytes")
    monkeypatch.setattr(onnx_import, "MAX_FILE_BYTES", path.stat().st_size)
    assert isinstance(import_onnx(path), Model)


def test_graphs_too_big_to_be_a_gru_stack_are_refused_before_any_pass(tmp_path):
    """10 001 nodes (a 300 KB file): every pass over them would still end, but none starts."""
    nodes = [helper.make_node("Identity", [f"t{k}"], [f"t{k + 1}"]) for k in range(MAX_ENTRIES + 1)]
    nodes[0].input[0] = "X"
    path = _save(_proto([*nodes, _gru(x=nodes[-1].output[0])]), tmp_path / "long.onnx")
    _refused(path, f"{MAX_ENTRIES + 2} nodes, more than the {MAX_ENTRIES} edgegru reads")
    wide = helper.make_node("Sum", ["X"] * (MAX_ENTRIES + 1), ["s"], name="sum")
    _refused(_save(_proto([wide, _gru()]), tmp_path / "wide.onnx"), "Sum node 'sum' has more than")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda m: setattr(m, "ir_version", 0), "ir_version 0, expected 1 to"),
        (lambda m: setattr(m, "ir_version", 99), "ir_version 99, expected 1 to"),
        (lambda m: m.ClearField("opset_import"), "default (ai.onnx) opset import none: expected one version"),
        (lambda m: setattr(m.opset_import[0], "version", 0), "opset import 0:"),
        (lambda m: setattr(m.opset_import[0], "version", 999), "opset import 999:"),
        (lambda m: m.opset_import.append(helper.make_opsetid("ai.onnx", 13)), "opset import 13, 17:"),
        (lambda m: m.graph.ClearField("node"), "the graph has no nodes"),
    ],
)
def test_odd_versions_and_empty_graphs_are_refused(tmp_path, change, needle):
    proto = _classifier_proto()
    change(proto)
    _refused(_save(proto, tmp_path / "m.onnx"), needle)


# -- wiring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "needles"),
    [
        (
            [_gru(), helper.make_node("Relu", ["X"], ["Y"], name="again")],
            ["tensor 'Y' is made by both GRU node 'gru1' and Relu node 'again'"],
        ),
        (
            [_gru(), helper.make_node("Relu", ["Y"], ["W"], name="w")],
            ["tensor 'W' is made by both an initializer and Relu node 'w'"],
        ),
        (
            [_gru(), helper.make_node("Relu", ["Y"], ["X"], name="x")],
            ["tensor 'X' is made by both a graph input and Relu node 'x'"],
        ),
        (
            [_gru(), helper.make_node("Add", ["Y", "nowhere"], ["Z"], name="add")],
            ["Add node 'add' input 'nowhere' is made by no node, initializer or input"],
        ),
    ],
)
def test_tensors_made_twice_or_never_are_refused(tmp_path, nodes, needles):
    _refused(_save(_proto(nodes), tmp_path / "wiring.onnx"), *needles)


@pytest.mark.parametrize(
    ("attribute", "needle"),
    [
        (helper.make_attribute("hidden_size", 3.0), "attribute hidden_size has type FLOAT, expected INT"),
        (helper.make_attribute("direction", 1), "attribute direction has type INT, expected STRING"),
        (helper.make_attribute("activations", "Sigmoid"), "has type STRING, expected STRINGS"),
        (helper.make_attribute("direction", b"\xff\n"), "direction='\\\\xff\\n'"),
    ],
)
def test_attributes_of_the_wrong_type_are_refused(tmp_path, attribute, needle):
    gru = helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="gru1")
    gru.attribute.append(attribute)
    _refused(_save(_proto([gru]), tmp_path / "attr.onnx"), "GRU node 'gru1'", needle)


def test_index_inputs_must_hold_integers(tmp_path):
    nan = numpy_helper.from_array(np.array([np.nan], np.float32), "axes")
    nodes = [_gru(), helper.make_node("Squeeze", ["Y", "axes"], ["s"], name="sq")]
    path = _save(_proto(nodes, [*_weights(), nan], output="s"), tmp_path / "axes.onnx")
    _refused(path, "Squeeze node 'sq' input axes holds float32 values, expected integers")


# -- strings from the file in messages ------------------------------------------------------

FORGED = "x\nedgegru: error: all is well\x1b[2J\u2028" + "y" * 200


def test_node_names_cannot_forge_lines_or_escape_the_terminal(tmp_path):
    odd = helper.make_node("Relu", ["Y"], ["Z"], name=FORGED)
    message = _refused(_save(_proto([_gru(), odd], output="Z"), tmp_path / "name.onnx"), "Relu node 'x\\n")
    assert "\\x1b[2J\\u2028" in message and "…" in message
    op = helper.make_node(FORGED, ["Y"], ["Z"], name="op")
    message = _refused(_save(_proto([_gru(), op], output="Z"), tmp_path / "op.onnx"), "'x\\nedgegru")
    tensor = helper.make_node("Add", ["Y", FORGED], ["Z"], name="add")
    _refused(_save(_proto([_gru(), tensor], output="Z"), tmp_path / "input.onnx"), "input 'x\\nedgegru")


def _with_metadata(tmp_path: Path, **props: str) -> Path:
    proto = _classifier_proto()
    for key, value in props.items():
        entry = next((p for p in proto.metadata_props if p.key == f"edgegru.{key}"), None)
        entry = entry or proto.metadata_props.add(key=f"edgegru.{key}")
        entry.value = value
    return _save(proto, tmp_path / "meta.onnx")


@pytest.mark.parametrize(
    ("names", "needle"),
    [
        ('{"a": 1}', "is not a JSON list of strings"),
        ("[1, 2, 3, 4]", "is not a JSON list of strings"),
        ("[" * 100_000, "is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
        ("not json", "is not valid JSON"),
        (json.dumps(["a"] * 10**6), "is not text of at most"),
    ],
)
def test_class_names_metadata_is_checked(tmp_path, names, needle):
    _refused(_with_metadata(tmp_path, class_names=names), "metadata edgegru.class_names", needle)


@pytest.mark.parametrize(
    ("names", "needle"),
    [('["a", "b"]', "2 names"), (json.dumps(["a", "b", "c", "d" * 300]), "head.class_names[3] 'dddd")],
)
def test_class_names_are_checked_as_any_model_s(tmp_path, names, needle):
    """Count and length: the model's own rules (edgegru.nn.model.check_class_names)."""
    _refused(_with_metadata(tmp_path, class_names=names), needle)


def test_head_kind_metadata_and_producer_are_shown_safely(tmp_path):
    _refused(_with_metadata(tmp_path, head_kind=FORGED), "metadata edgegru.head_kind 'x\\nedgegru")
    proto = _classifier_proto()
    proto.producer_name = FORGED
    model = import_onnx(_save(proto, tmp_path / "producer.onnx"))
    assert model.metadata["onnx_producer"].isprintable()
    assert len(model.metadata["onnx_producer"]) <= 80


# -- fuzz -----------------------------------------------------------------------------------


def _torch_proto() -> onnx.ModelProto:
    """PyTorch's export of GRU(2 layers) + Linear on the last step + softmax (as test_onnx)."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "torch.onnx"
        export_torchscript(TorchNet(last_step_softmax=True).eval(), torch.randn(2, 5, 4), path)
        return onnx.load(str(path))


@functools.cache
def _seeds() -> tuple[bytes, ...]:
    """Valid small models to mutate: edgegru's exports (two opsets, normalised or not) and PyTorch's."""
    classifier = random_model(3, [4], "reset_after", "classification", output_size=3, seed=2)
    classifier.normalisation = Normalisation(
        np.array([0.5, -1, 0], np.float32), np.array([2, 1, 0.5], np.float32)
    )
    regressor = random_model(2, [3, 2], "reset_before", "regression", output_size=2, seed=3)
    protos = [build_onnx_model(classifier), build_onnx_model(regressor, opset=11, initial_state_inputs=True)]
    seeds = tuple(p.SerializeToString() for p in [*protos, _torch_proto()])
    for data in seeds:
        assert isinstance(_import_bytes(data), Model)  # the mutations start from files that import
    return seeds


def _import_bytes(data: bytes) -> Model:
    """import_onnx of ``data`` written to a fresh directory, within SECONDS."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.onnx"
        path.write_bytes(data)
        with _time_limit():
            return import_onnx(path)


def _assert_model_or_one_line(data: bytes) -> None:
    """The property: a Model or one clean EdgeGruError line, within SECONDS; nothing else."""
    try:
        assert isinstance(_import_bytes(data), Model)
    except EdgeGruError as exc:
        _assert_one_clean_line(str(exc))


BYTE_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "set"]), st.integers(0, 2**20), st.integers(0, 255)
    ),
    min_size=1,
    max_size=8,
)


def _edit_bytes(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        at = where % max(len(out), 1)
        if kind == "insert":
            out.insert(at, value)
        elif out and kind == "delete":
            del out[at]
        elif out and kind == "flip":
            out[at] ^= 1 << (value % 8)
        elif out:
            out[at] = value
    return bytes(out)


# Run longer: HYPOTHESIS_PROFILE=long (the profile sets max_examples; each example takes ms).
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2), edits=BYTE_EDITS)
def test_fuzz_mutated_bytes(seed, edits):
    _assert_model_or_one_line(_edit_bytes(_seeds()[seed], edits))


def _tensors(proto: onnx.ModelProto) -> list[TensorProto]:
    """Every stored tensor: initializers and Constant/ConstantOfShape values."""
    found = list(proto.graph.initializer)
    for node in proto.graph.node:
        found += [a.t for a in node.attribute if a.type == AttributeProto.TENSOR]
    return found


def _names(proto: onnx.ModelProto) -> list[str]:
    graph = proto.graph
    names = [i.name for i in graph.input] + [t.name for t in graph.initializer]
    return names + [n for node in graph.node for n in [*node.input, *node.output]] + [""]


ODD_TEXT = st.sampled_from(["", "x", "Y", "\n\x1b[31m", "GRU", "forward", "reverse", "\u2028" * 3, "é"])
ODD_INT = st.sampled_from([-(2**63), -1, 0, 1, 2, 3, 512, 513, 6000, 2**31, 2**63 - 1])
OPS = st.sampled_from(
    ["GRU", "Identity", "Transpose", "Squeeze", "Gather", "MatMul", "Gemm", "Add", "Concat"]
)


def _mutate(proto: onnx.ModelProto, data: st.DataObject) -> None:
    """One structural change, drawn by hypothesis: the kinds of damage a hostile writer can do."""
    graph = proto.graph
    nodes = graph.node
    kind = data.draw(
        st.sampled_from(["dims", "type", "attr", "rewire", "order", "drop", "op", "meta", "ext", "version"])
    )
    node = nodes[data.draw(st.integers(0, len(nodes) - 1))] if nodes else None
    tensors = _tensors(proto)
    tensor = tensors[data.draw(st.integers(0, len(tensors) - 1))] if tensors else None
    if kind == "dims" and tensor is not None:
        tensor.ClearField("dims")
        tensor.dims.extend(data.draw(st.lists(ODD_INT, max_size=4)))
    elif kind == "type" and tensor is not None:
        tensor.data_type = data.draw(st.integers(0, 30))
    elif kind == "attr" and node is not None and node.attribute:
        attr = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
        attr.type = data.draw(st.just(attr.type) | st.integers(0, 14))  # odd values, or odd types
        attr.i = data.draw(ODD_INT)
        attr.s = data.draw(ODD_TEXT).encode()
        attr.ints.append(data.draw(ODD_INT))
    elif kind == "rewire" and node is not None:  # inputs pointing at outputs, names from nowhere
        ports = node.input if data.draw(st.booleans()) or not node.output else node.output
        if ports:
            new = data.draw(st.sampled_from(_names(proto)) | ODD_TEXT)
            ports[data.draw(st.integers(0, len(ports) - 1))] = new
    elif kind == "order" and nodes:
        shuffled = data.draw(st.permutations(list(nodes)))
        del nodes[:]
        nodes.extend(shuffled)
    elif kind == "drop" and node is not None:
        nodes.remove(node)
    elif kind == "op" and node is not None:
        node.op_type = data.draw(OPS)
    elif kind == "meta":
        key = data.draw(st.sampled_from(["edgegru.class_names", "edgegru.head_kind"]))
        value = data.draw(ODD_TEXT | st.sampled_from(["[]", '["a"]', "[[[", "{}"]))
        proto.metadata_props.add(key=key, value=value)
    elif kind == "ext" and tensor is not None:
        tensor.data_location = TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=data.draw(ODD_TEXT | st.just("../../etc/passwd")))
    elif kind == "version":
        proto.ir_version = data.draw(ODD_INT) % 2**63
        if proto.opset_import:
            proto.opset_import[0].version = data.draw(ODD_INT)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2), changes=st.integers(1, 3), data=st.data())
def test_fuzz_mutated_fields(seed, changes, data):
    proto = onnx.ModelProto()
    proto.ParseFromString(_seeds()[seed])
    for _ in range(changes):
        _mutate(proto, data)
    _assert_model_or_one_line(proto.SerializeToString())
