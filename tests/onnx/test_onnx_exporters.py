"""ONNX files written by real exporters (tf2onnx, Keras 3, PyTorch's dynamo exporter).

The fixtures and the script that made them are in tests/fixtures/exporters; each file is
imported, compared with the framework's own outputs, quantised and verified as C on the
host. The hand-built cases after them check the rules each form relies on, including the
ways a file can look like an exporter's and still compute something else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from edgegru.core.errors import EdgeGruError
from edgegru.nn.float_reference import forward
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.onnx.exporter import build_onnx_model
from edgegru.onnx.importer import import_onnx
from edgegru.onnx.shapes import Size, regroup
from tests.fixtures.exporters.compare import (
    HERE,
    check_model,
    check_quantised_c,
    fixture_id,
    fixtures,
)

ACCEPTED = fixtures((".onnx",))
REFUSED = fixtures((".onnx",), refused=True)


def test_the_fixtures_cover_the_exporters():
    tools = " ".join(entry["made_with"] for entry in ACCEPTED + REFUSED)
    for tool in ("tf2onnx", "torch.onnx.export (dynamo", "model.export("):
        assert tool in tools
    assert {e["outputs"] for e in ACCEPTED} == {"last step", "every step"}
    assert {e["head"] for e in ACCEPTED} == {"classification", "regression"}


@pytest.mark.parametrize("entry", ACCEPTED, ids=fixture_id)
def test_exporter_file_imports_and_matches_the_framework(entry):
    model = import_onnx(HERE / entry["file"])
    check_model(model, entry)
    check_quantised_c(model, entry)


@pytest.mark.parametrize("entry", REFUSED, ids=fixture_id)
def test_loop_graphs_are_refused_saying_what_to_do(entry):
    path = HERE / entry["file"]
    with pytest.raises(EdgeGruError) as info:
        import_onnx(path)
    message = str(info.value)
    assert message.isprintable() and message.startswith(f"{path}: ")
    for needle in (entry["refused"], "edgegru import model.keras", "reset_after=True", "torch.onnx.export"):
        assert needle in message, message


# -- the rules behind the forms, on edited copies of the exporters' files -------------------


def _edited(tmp_path: Path, name: str, edit) -> Path:
    """A copy of fixture ``name`` with ``edit(proto)`` applied (external data kept beside it)."""
    proto = onnx.load(str(HERE / name))
    edit(proto)
    path = tmp_path / name
    onnx.save(proto, str(path))
    return path


def _node(proto: onnx.ModelProto, op: str, index: int = 0) -> onnx.NodeProto:
    return [n for n in proto.graph.node if n.op_type == op][index]


def _last_step_slice(proto: onnx.ModelProto) -> onnx.NodeProto:
    """tf2onnx's Slice of the last step: the one whose starts are [-1]."""
    stored = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    slices = [n for n in proto.graph.node if n.op_type == "Slice" and n.input[1] in stored]
    return next(n for n in slices if stored[n.input[1]].tolist() == [-1])


def _feed(proto: onnx.ModelProto, node: onnx.NodeProto, port: int, value: np.ndarray) -> None:
    """Give ``node`` a new constant of its own as input ``port``."""
    name = f"{node.name}_input{port}"
    proto.graph.initializer.append(numpy_helper.from_array(value, name))
    node.input[port] = name


def _refused(path: Path, *needles: str) -> None:
    with pytest.raises(EdgeGruError) as info:
        import_onnx(path)
    message = str(info.value)
    assert message.isprintable(), message
    for needle in needles:
        assert needle in message, message


def test_restoring_reshape_that_swaps_batch_and_time_is_refused(tmp_path):
    """tf2onnx restores [batch, time, C] with Concat(-1, Shape(h)[1:2], C); reading Shape[0:1]
    instead would give [time, batch, C] and is refused."""

    def swap(proto):
        concat = _node(proto, "Concat", 1)  # the first builds the zero state, the second the shape
        restore = proto.graph.node[[n.output[0] for n in proto.graph.node].index(concat.input[1])]
        assert restore.op_type == "Slice"
        _feed(proto, restore, 1, np.array([0], np.int64))
        _feed(proto, restore, 2, np.array([1], np.int64))

    _refused(_edited(tmp_path, "tf2onnx_ra_td_linear.onnx", swap), "Reshape node", "does not keep")


def test_slice_of_another_step_than_the_last_is_refused(tmp_path):
    def first_step(proto):
        picker = _last_step_slice(proto)
        _feed(proto, picker, 1, np.array([0], np.int64))
        _feed(proto, picker, 2, np.array([1], np.int64))

    path = _edited(tmp_path, "tf2onnx_ra_2layer_norm_last_softmax.onnx", first_step)
    _refused(path, "Slice node", "last time step")


def test_nothing_but_layout_may_follow_the_class_scores(tmp_path):
    def scale_probabilities(proto):
        softmax = _node(proto, "Softmax")
        proto.graph.initializer.append(numpy_helper.from_array(np.float32(2.0), "two"))
        old = softmax.output[0]
        softmax.output[0] = "scores"
        proto.graph.node.append(helper.make_node("Mul", ["scores", "two"], [old], name="doubled"))

    path = _edited(tmp_path, "torch_dynamo_last_softmax.onnx", scale_probabilities)
    _refused(path, "Mul node 'doubled' follows Softmax")


def test_a_cast_to_integers_on_the_data_path_is_refused(tmp_path):
    def to_int(proto):
        transpose = _node(proto, "Transpose")
        data = transpose.input[0]
        proto.graph.node.insert(0, helper.make_node("Cast", [data], ["as_int"], name="trunc", to=7))
        transpose.input[0] = "as_int"

    path = _edited(tmp_path, "torch_dynamo_2layer_seq_linear.onnx", to_int)
    _refused(path, "Cast node 'trunc' casts to type 7")


def _normalised_model():
    model = random_model(3, [4], "reset_before", "regression", output_size=2, seed=4, scale=0.8)
    model.normalisation = Normalisation(
        np.array([0.5, -2.0, 1.0], np.float32), np.array([2.0, 0.5, 4.0], np.float32)
    )
    return model


def test_normalisation_as_mul_then_add_is_read_as_mean_and_std(tmp_path):
    """x * (1/std) + (-mean/std), as some exporters fold (x - mean) / std."""
    model = _normalised_model()
    proto = build_onnx_model(model)
    norm = model.normalisation
    sub, div = _node(proto, "Sub"), _node(proto, "Div")
    scale = (1 / norm.std).astype(np.float32)
    shift = (-norm.mean / norm.std).astype(np.float32)
    proto.graph.initializer.extend(
        [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(shift, "shift")]
    )
    sub.op_type, sub.input[1] = "Mul", "scale"
    div.op_type, div.input[0], div.input[1] = "Add", "shift", sub.output[0]  # the data as input 1
    path = tmp_path / "mul_add.onnx"
    onnx.save(proto, str(path))
    back = import_onnx(path)
    np.testing.assert_allclose(back.normalisation.mean, norm.mean, rtol=1e-6)
    np.testing.assert_allclose(back.normalisation.std, norm.std, rtol=1e-6)
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(forward(back, x).outputs, session.run(["y"], {"x": x})[0], atol=1e-5)


def test_a_negative_normalisation_scale_is_refused(tmp_path):
    proto = build_onnx_model(_normalised_model())
    _feed(proto, _node(proto, "Div"), 1, np.array([2.0, -0.5, 4.0], np.float32))
    path = tmp_path / "negative.onnx"
    onnx.save(proto, str(path))
    _refused(path, "divides channel 1 by -0.5")


# -- the reshape rule itself --------------------------------------------------------------

A, B = Size(1, ("A",)), Size(1, ("B",))


@pytest.mark.parametrize(
    ("atoms", "target", "axes"),
    [
        # tf2onnx flattens [batch, time, 4] to [-1, 4] (the -1 inferred as A*B) and back
        ([("A", A), ("B", B), ("F", Size(4))], [A * B, Size(4)], [("A", "B"), ("F",)]),
        ([("A", A), ("B", B), ("F", Size(2))], [A, B, Size(2)], [("A",), ("B",), ("F",)]),
        # PyTorch merges [time, batch, dir 1, H] into [time, batch, H]
        (
            [("B", B), ("A", A), ("dir", Size(1)), ("F", Size(5))],
            [B, A, Size(5)],
            [("B",), ("A",), ("dir", "F")],
        ),
        # a one-output head keeps its feature axis
        ([("A", A), ("B", B), ("F", Size(1))], [A, B, Size(1)], [("A",), ("B",), ("F",)]),
        # splitting batch*time the wrong way round, or features into time, is refused
        ([("A", A), ("B", B), ("F", Size(2))], [B, A, Size(2)], None),
        ([("A", A), ("B", B), ("F", Size(4))], [A, B * Size(2), Size(2)], None),
    ],
)
def test_regroup_keeps_whole_adjacent_axes(atoms, target, axes):
    assert regroup(atoms, target) == axes


def test_the_last_step_may_be_picked_after_the_head(tmp_path):
    """fc(y)[:, -1] is fc(y[:, -1]): the per-step dynamo file with a Gather(-1) after its Add."""

    def last_of_outputs(proto):
        add = _node(proto, "Add")
        final = add.output[0]
        add.output[0] = "every_step"
        proto.graph.initializer.append(numpy_helper.from_array(np.array(-1, np.int64), "minus_one"))
        proto.graph.node.append(helper.make_node("Gather", ["every_step", "minus_one"], [final], axis=1))
        del proto.graph.output[0].type.tensor_type.shape.dim[1]

    path = _edited(tmp_path, "torch_dynamo_2layer_seq_linear.onnx", last_of_outputs)
    model = import_onnx(path)
    x = np.random.default_rng(3).normal(size=(2, 6, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(forward(model, x).outputs[:, -1], session.run(None, {"x": x})[0], atol=1e-5)
