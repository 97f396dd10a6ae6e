"""ONNX export and import against onnxruntime, ONNX's own GRU node tests and PyTorch."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.nn.float_reference import forward
from edgegru.nn.model import Model, Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.onnx.exporter import build_onnx_model, export_onnx
from edgegru.onnx.importer import import_onnx
from tests.helpers import assert_same_model
from tests.onnx.torch_export import TorchNet, export_torchscript

TOL = 1e-5
VARIANTS = ("reset_after", "reset_before")
LBR = {"reset_after": 1, "reset_before": 0}


def _model(variant: str, layers: int, head: str | None, norm: bool, seed: int = 0) -> Model:
    """Small weights (scale 0.8 of PyTorch's range) keep float32 drift well below TOL."""
    sizes = [12, 7, 9][:layers]
    model = random_model(5, sizes, variant, head=head, output_size=4, seed=seed, scale=0.8)
    if norm:
        model.normalisation = Normalisation(
            np.array([0.5, -1.0, 0.0, 2.0, 0.25], np.float32),
            np.array([1.5, 0.5, 1.0, 3.0, 0.75], np.float32),
        )
    return model


def _inputs(model: Model, batch: int = 3, steps: int = 64, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, steps, model.input_size)).astype(np.float32)


def _run_with_hidden(path: Path, feeds: dict[str, np.ndarray], layers: int) -> dict:
    """Run onnxruntime, also exposing each layer's documented ``hidden{k}`` tensor."""
    proto = onnx.load(str(path))
    for k in range(layers):
        proto.graph.output.append(helper.make_tensor_value_info(f"hidden{k}", TensorProto.FLOAT, None))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def _assert_matches_reference(model: Model, path: Path, initial: list | None = None) -> float:
    """Compare every output and every layer's hidden state at every step; return max error."""
    x = _inputs(model)
    feeds = {"x": x}
    if initial is not None:
        feeds |= {f"h0_{k}": h.astype(np.float32) for k, h in enumerate(initial)}
    got = _run_with_hidden(path, feeds, len(model.layers))
    trace = forward(model, x, initial_state=initial)
    pairs = [(got[f"h_n_{k}"], h[:, -1]) for k, h in enumerate(trace.hidden)]
    pairs += [(got[f"hidden{k}"].transpose(1, 0, 2), h) for k, h in enumerate(trace.hidden)]
    pairs.append((got["y"], trace.hidden[-1] if trace.outputs is None else trace.outputs))
    errors = []
    for actual, expected in pairs:
        assert actual.shape == expected.shape
        errors.append(float(np.max(np.abs(actual - expected))))
    assert max(errors) <= TOL, errors
    return max(errors)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize(
    ("head", "norm"), [(None, False), (None, True), ("classification", True), ("regression", False)]
)
def test_export_matches_reference(tmp_path, variant, layers, head, norm):
    model = _model(variant, layers, head, norm)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert len(grus) == layers
    for node in grus:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["linear_before_reset"] == LBR[variant]
        assert attrs.get("layout", 0) == 0
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["edgegru.version"] == __version__
    assert props["edgegru.variant"] == variant
    assert [i.name for i in proto.graph.input] == ["x"]
    assert [o.name for o in proto.graph.output] == ["y"] + [f"h_n_{k}" for k in range(layers)]
    _assert_matches_reference(model, path)


@pytest.mark.parametrize("opset", [7, 12, 13, 17, 21])
def test_export_opsets_run_in_onnxruntime(tmp_path, opset):
    model = _model("reset_after", 2, "regression", True)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, opset=opset)
    assert onnx.load(str(path)).opset_import[0].version == opset
    _assert_matches_reference(model, path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_export_with_initial_state_inputs(tmp_path, variant):
    model = _model(variant, 2, "classification", False)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, initial_state_inputs=True)
    rng = np.random.default_rng(5)
    initial = [rng.uniform(-0.5, 0.5, (3, h)) for h in model.hidden_sizes]
    _assert_matches_reference(model, path, initial)


def test_export_refuses_bad_opset_and_directory(tmp_path):
    model = _model("reset_after", 1, None, False)
    with pytest.raises(EdgeGruError, match="opset 6"):
        export_onnx(model, tmp_path / "m.onnx", opset=6)
    with pytest.raises(EdgeGruError, match="does not exist"):
        export_onnx(model, tmp_path / "missing" / "m.onnx")
    export_onnx(model, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file left


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    ("head", "norm", "opset", "h0"),
    [
        (None, False, 17, False),
        ("classification", True, 17, True),
        ("regression", True, 11, False),
        ("classification", False, 7, True),
    ],
)
def test_import_of_export_gives_the_same_model(tmp_path, variant, head, norm, opset, h0):
    model = _model(variant, 3, head, norm, seed=3)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, opset=opset, initial_state_inputs=h0)
    back = import_onnx(path)
    assert_same_model(model, back)
    assert back.metadata["onnx_input_axes"] == "batch,time,feature"


def test_import_head_kind_from_caller(tmp_path):
    model = _model("reset_after", 1, "classification", False)
    export_onnx(model, tmp_path / "m.onnx")
    assert import_onnx(tmp_path / "m.onnx", head_kind="regression").head.kind == "regression"
    export_onnx(_model("reset_after", 1, None, False), tmp_path / "n.onnx")
    with pytest.raises(EdgeGruError, match="no head follows"):
        import_onnx(tmp_path / "n.onnx", head_kind="classification")


# -- ONNX's own GRU node tests ---------------------------------------------------------------

NODE_TESTS_PASSING = [
    "test_gru_defaults",
    "test_gru_with_initial_bias",
    "test_gru_seq_length",
    "test_gru_batchwise",
]
NODE_TESTS_REFUSED = {
    "test_gru_reverse": "direction='reverse'",
    "test_gru_bidirectional": "direction='bidirectional'",
}


@functools.cache
def _node_test_cases() -> dict:
    """ONNX's GRU node tests, built by the generator that writes backend/test/data/node.

    The onnx wheel (1.23) no longer ships the data/node directories, so the cases come
    from ``collect_testcases``; each gives the same model and test_data_set_0 arrays.
    """
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator also runs other ops' cases
        cases = collect_testcases("GRU")
    return {c.name: c for c in cases if c.name.startswith("test_gru_")}


def _write_node_test(tmp_path: Path, name: str) -> tuple[Path, list, list, list[str]]:
    """The case's model with W/R/B turned from graph inputs into initializers.

    The node tests feed weights as inputs; edgegru needs them in the file, so they are
    stored from test_data_set_0 as initializers, the rest of the graph unchanged.
    """
    case = _node_test_cases()[name]
    inputs, outputs = case.data_sets[0]
    proto = onnx.ModelProto()
    proto.CopyFrom(case.model)
    graph_inputs = list(proto.graph.input)
    del proto.graph.input[1:]
    for info, value in zip(graph_inputs[1:], inputs[1:], strict=True):
        proto.graph.initializer.append(numpy_helper.from_array(np.asarray(value), info.name))
    onnx.checker.check_model(proto)
    path = tmp_path / f"{name}.onnx"
    onnx.save(proto, str(path))
    return path, inputs, outputs, [o.name for o in proto.graph.output]


def test_node_test_list_is_complete():
    assert sorted(_node_test_cases()) == sorted(NODE_TESTS_PASSING + list(NODE_TESTS_REFUSED))


@pytest.mark.parametrize("name", NODE_TESTS_PASSING)
def test_onnx_node_test_matches(tmp_path, name):
    path, inputs, outputs, output_names = _write_node_test(tmp_path, name)
    model = import_onnx(path)
    batch_major = model.metadata["onnx_input_axes"] == "batch,time,feature"
    x = inputs[0] if batch_major else inputs[0].transpose(1, 0, 2)
    last = forward(model, x).hidden[-1]  # (B, T, H)
    expected_of = {
        "Y": last[:, :, None] if batch_major else last.transpose(1, 0, 2)[:, None],
        "Y_h": last[:, -1:] if batch_major else last[None, :, -1],
    }
    for out_name, expected in zip(output_names, outputs, strict=True):
        np.testing.assert_allclose(expected_of[out_name], expected, rtol=TOL, atol=1e-6)


@pytest.mark.parametrize("name", sorted(NODE_TESTS_REFUSED))
def test_onnx_node_test_refused(tmp_path, name):
    path, *_ = _write_node_test(tmp_path, name)
    with pytest.raises(EdgeGruError, match=NODE_TESTS_REFUSED[name]) as info:
        import_onnx(path)
    assert "GRU node" in str(info.value)


# -- PyTorch-exported GRUs ---------------------------------------------------------------------


@pytest.mark.parametrize("last_step_softmax", [False, True])
def test_torch_export_round_trip(tmp_path, last_step_softmax):
    torch.manual_seed(0)
    net = TorchNet(last_step_softmax).eval()
    path = tmp_path / "torch.onnx"
    export_torchscript(net, torch.randn(2, 5, 4), path)
    model = import_onnx(path)
    assert model.variant == "reset_after"
    assert model.head.kind == ("classification" if last_step_softmax else "regression")
    weight_ih = net.gru.weight_ih_l0.detach().numpy()
    assert np.array_equal(model.layers[0].w_x.reshape(30, 4), weight_ih)  # both r, z, n
    x = np.random.default_rng(2).normal(size=(3, 60, 4)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
        hidden, _ = net.gru(torch.from_numpy(x))
    trace = forward(model, x)
    assert np.max(np.abs(trace.hidden[-1] - hidden.numpy())) <= TOL
    if last_step_softmax:
        logits = trace.outputs[:, -1]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        got = probs / probs.sum(-1, keepdims=True)
    else:
        got = trace.outputs
    assert np.max(np.abs(got - expected)) <= TOL


# -- refusals ----------------------------------------------------------------------------------


def _gru_file(
    tmp_path: Path,
    *,
    attrs: dict | None = None,
    directions: int = 1,
    sequence_lens: str = "",
    initial_h: str = "",
    extra: list | None = None,
    extra_inputs: list | None = None,
    after: str | None = None,
) -> Path:
    """A one-GRU graph (hidden 3, input 2), with the one thing a test changes."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(directions, 9, 2)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(directions, 9, 3)).astype(np.float32), "R"),
        *(extra or []),
    ]
    gru_inputs = ["X", "W", "R", "", sequence_lens, initial_h]
    nodes = [helper.make_node("GRU", gru_inputs, ["Y", "Y_h"], name="gru1", hidden_size=3, **(attrs or {}))]
    final = "Y"
    if after:
        nodes.append(helper.make_node(after, ["Y"], ["Z"], name="odd"))
        final = "Z"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, 2]), *(extra_inputs or [])],
        [helper.make_tensor_value_info(final, TensorProto.FLOAT, None)],
        inits,
    )
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _refused(path: Path, *needles: str) -> None:
    with pytest.raises(EdgeGruError) as info:
        import_onnx(path)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"attrs": {"direction": "reverse"}}, ["gru1", "direction='reverse'"]),
        (
            {"attrs": {"direction": "bidirectional"}, "directions": 2},
            ["gru1", "direction='bidirectional'"],
        ),
        ({"attrs": {"activations": ["Relu", "Tanh"]}}, ["gru1", "activations=['Relu', 'Tanh']"]),
        (
            {"attrs": {"activations": ["HardSigmoid", "Tanh"], "activation_alpha": [0.2]}},
            ["gru1", "activations"],
        ),
        ({"attrs": {"activation_beta": [0.5]}}, ["gru1", "activation_beta"]),
        ({"attrs": {"clip": 5.0}}, ["gru1", "clip=5.0"]),
        ({"attrs": {"linear_before_reset": 2}}, ["gru1", "linear_before_reset=2"]),
        (
            {
                "sequence_lens": "lens",
                "extra": [numpy_helper.from_array(np.array([4], np.int32), "lens")],
            },
            ["gru1", "sequence_lens 'lens'", "a constant"],
        ),
        (
            {
                "initial_h": "h0",
                "extra": [numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "h0")],
            },
            ["gru1", "initial_h 'h0'"],
        ),
        ({"after": "Relu"}, ["Relu node 'odd'", "not supported"]),
    ],
)
def test_import_refuses_by_name(tmp_path, kwargs, needles):
    _refused(_gru_file(tmp_path, **kwargs), *needles)


def test_import_accepts_what_cannot_change_the_result(tmp_path):
    """Zero initial_h, and sequence_lens / initial_h fed by the user, are accepted."""
    zero = numpy_helper.from_array(np.zeros((1, 1, 3), np.float32), "h0")
    assert import_onnx(_gru_file(tmp_path, initial_h="h0", extra=[zero])).hidden_sizes == [3]
    fed = [
        helper.make_tensor_value_info("lens", TensorProto.INT32, [1]),
        helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, 3]),
    ]
    path = _gru_file(tmp_path, sequence_lens="lens", initial_h="h0", extra_inputs=fed)
    model = import_onnx(path)
    assert model.variant == "reset_before"  # linear_before_reset defaults to 0
    assert model.metadata["onnx_input_axes"] == "time,batch,feature"


def test_import_refuses_weights_fed_as_inputs(tmp_path):
    frozen, *_ = _write_node_test(tmp_path, "test_gru_defaults")
    raw = tmp_path / "raw.onnx"
    onnx.save(_node_test_cases()["test_gru_defaults"].model, str(raw))
    assert import_onnx(frozen).hidden_sizes == [5]
    _refused(raw, "input W 'W' is a graph input")


def test_import_refuses_missing_and_garbage_files(tmp_path):
    _refused(tmp_path / "nope.onnx", "nope.onnx", "no such file")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    _refused(garbage, "garbage.onnx", "not an ONNX model")
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n")
    _refused(text, "text.onnx", "not an ONNX model")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _refused(empty, "empty.onnx", "not an ONNX model")


def test_import_refuses_graph_without_gru(tmp_path):
    proto = build_onnx_model(_model("reset_after", 1, None, False))
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        list(proto.graph.input),
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    _refused(path, "no GRU node")


def test_import_names_the_recurrent_op_it_does_not_take(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 3])
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 16, 3], np.zeros(48, np.float32))
    r = helper.make_tensor("R", TensorProto.FLOAT, [1, 16, 4], np.zeros(64, np.float32))
    lstm = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=4)
    graph = helper.make_graph(
        [lstm], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, r]
    )
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(graph), str(path))
    _refused(path, "no GRU node in the graph; it has LSTM, which edgegru does not import")


def test_import_reports_a_missing_external_data_file(tmp_path):
    """Weights stored beside the model, in a file that has gone: one line, no traceback."""
    path = tmp_path / "ext.onnx"
    proto = build_onnx_model(_model("reset_after", 1, None, False))
    onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)  # fmt: skip
    (tmp_path / "ext.data").unlink()
    _refused(path, "ext.onnx", "the ONNX file cannot be loaded")
