"""``edgegru info`` on every format it reads, checked against the files' own readers
(the model, LiteRT's interpreter, the onnx package)."""

from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np
import pytest

from edgegru.cli.main import main
from edgegru.nn.describe import Description
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model
from edgegru.quant import calibrate, quantize
from edgegru.tflite.exporter import export_tflite
from tests.helpers import FIXTURES

KEYS = {
    "architecture", "file", "format", "file_bytes", "edgegru_model", "precision", "input_size",
    "frame", "hidden_sizes", "head", "outputs", "variant", "state_bits", "class_names", "normalisation",
    "weight_bytes", "recorded", "quantisation", "tensors", "operators", "details", "metadata",
}  # fmt: skip
ESCAPE = "\x1b[2J"  # clears a terminal if printed raw


@pytest.fixture
def model():
    norm = Normalisation(np.array([1, -2, 0.5], np.float32), np.array([2, 4, 0.25], np.float32))
    m = random_model(3, [8, 6], "reset_after", "classification", output_size=3, seed=2, normalisation=norm)
    m.head.class_names = ["idle", "walk", "run"]
    m.metadata["test_metric"] = {"accuracy": 0.875}
    return m


def info(capsys, *args: str) -> str:
    assert main(["info", *args]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    return out


def info_json(capsys, path) -> dict:
    described = json.loads(info(capsys, str(path), "--json"))
    assert set(described) == KEYS
    return described


def test_float_egru(capsys, tmp_path, model):
    path = tmp_path / "m.egru"
    model.head.class_names[1] += ESCAPE  # the file's strings reach the screen quoted
    model.save(path)
    text = info(capsys, str(path))
    assert "model: 3 -> GRU(8) -> GRU(6) -> classification(3), reset_after, float32" in text
    assert "classes: 'idle', 'walk\\x1b[2J', 'run'" in text
    assert "normalisation (mean/std per channel): 1/2, -2/4, 0.5/0.25" in text
    assert "recorded test accuracy: 87.5%" in text
    d = info_json(capsys, path)
    weights = sum(layer.w_x.size + layer.w_h.size for layer in model.layers) + model.head.weight.size
    assert d["weight_bytes"] == 4 * weights
    assert d["file_bytes"] == path.stat().st_size
    assert d["class_names"] == model.head.class_names
    assert d["normalisation"]["std"] == model.normalisation.std.tolist()
    assert (d["hidden_sizes"], d["outputs"], d["state_bits"]) == ([8, 6], 3, None)


def test_quantised_egru(capsys, tmp_path, model):
    x = np.random.default_rng(0).normal(size=(4, 10, 3))
    qm = quantize(model, calibrate(model, x), 8)
    path = tmp_path / "q.egru"
    qm.save(path)
    assert "int8, int8 state" in info(capsys, str(path))
    d = info_json(capsys, path)
    assert (d["precision"], d["state_bits"], d["weight_bytes"]) == ("int8", 8, qm.weight_bytes())
    assert d["quantisation"]["input"] == {"scale": qm.input.scale, "zero_point": qm.input.zero_point}
    assert d["recorded"] == {"float model's test accuracy": 0.875}


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_edgegru_tflite_matches_litert(capsys, tmp_path, model, dtype):
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "m.tflite"
    calibration = np.random.default_rng(1).normal(size=(4, 10, 3)) if dtype == "int8" else None
    written = export_tflite(model, path, dtype=dtype, calibration=calibration, quiet=True)
    d = info_json(capsys, path)
    assert (d["weight_bytes"], d["file_bytes"]) == (written.weight_bytes, written.size)
    interpreter = Interpreter(model_path=str(path))
    for side, details in (
        ("inputs", interpreter.get_input_details()),
        ("outputs", interpreter.get_output_details()),
    ):
        expected = [
            (t["name"], t["shape"].tolist(), t["dtype"].__name__, *t["quantization"]) for t in details
        ]
        got = [
            (t["name"], t["shape"], t["dtype"], t["scale"] or 0.0, t["zero_point"] or 0)
            for t in d["tensors"][side]
        ]
        assert sorted(got) == sorted(expected)
    assert d["operators"] == _litert_operators(path)
    assert d["edgegru_model"] and d["architecture"] == "3 -> GRU(8) -> GRU(6) -> classification(3)"
    assert (d["precision"], d["class_names"]) == (dtype, model.head.class_names)
    if dtype == "int8":  # normalisation is the runtime's job, so the metadata holds it
        assert d["normalisation"]["mean"] == model.normalisation.mean.tolist()
    else:
        assert d["normalisation"] == {"in_graph": True}


def _litert_operators(path) -> dict[str, int]:
    """Operator counts as LiteRT's interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    return dict(Counter(op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()))


def test_sequence_tflite_names_its_steps(capsys, tmp_path, model):
    path = tmp_path / "s.tflite"
    export_tflite(model, path, kind="sequence", steps=4, quiet=True)
    d = info_json(capsys, path)
    assert (d["details"]["kind"], d["details"]["steps"], d["hidden_sizes"]) == ("sequence", 4, [8, 6])


def test_foreign_tflite_is_described_from_its_graph(capsys, tmp_path, model):
    """A .tflite without edgegru's metadata entry (here edgegru's with the entry renamed)."""
    path = tmp_path / "foreign.tflite"
    export_tflite(model, path, quiet=True)
    path.write_bytes(path.read_bytes().replace(b"edgegru", b"foreign"))
    d = info_json(capsys, path)
    assert not d["edgegru_model"] and d["architecture"] is None and d["class_names"] is None
    assert [t["name"] for t in d["tensors"]["inputs"]] == ["x", "h0", "h1"]
    assert d["operators"] == _litert_operators(path)
    assert "not edgegru's" in info(capsys, str(path))


def test_damaged_tflite_is_described_or_refused_in_one_line(tmp_path, model):
    """Bytes of a real file changed at random: every result is a description or one
    EdgeGruError, never another exception (an offset read past the end, a huge count)."""
    from edgegru.core.errors import EdgeGruError
    from edgegru.tflite.describe import describe_tflite

    path = tmp_path / "m.tflite"
    export_tflite(model, path, quiet=True)
    blob = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(300):
        damaged = bytearray(blob)
        for pos in rng.integers(8, len(blob), size=4):
            damaged[pos] = rng.integers(0, 256)
        path.write_bytes(bytes(damaged))
        try:
            describe_tflite(path)
        except EdgeGruError as exc:
            assert "\n" not in str(exc)
            refused += 1
    assert refused > 0


def test_edgegru_onnx(capsys, tmp_path, model):
    from edgegru.onnx.exporter import export_onnx

    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    d = info_json(capsys, path)
    assert d["edgegru_model"] and d["details"]["edgegru import"] == "yes"
    assert [g["hidden_size"] for g in d["details"]["GRU nodes"]] == [8, 6]
    assert d["class_names"] == model.head.class_names and d["variant"] == "reset_after"


@pytest.mark.parametrize(
    ("name", "importable"),
    [("torch_dynamo_last_softmax.onnx", True), ("tf2onnx_rb_last_loop.onnx", False)],
)
def test_foreign_onnx(capsys, name, importable):
    import onnx

    path = FIXTURES / "exporters" / name
    d = info_json(capsys, path)
    proto = onnx.load(path, load_external_data=False)
    assert d["details"]["opset"] == next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    assert d["details"]["producer"] == f"{proto.producer_name} {proto.producer_version}".strip()
    assert len(d["details"]["GRU nodes"]) == sum(n.op_type == "GRU" for n in proto.graph.node)
    assert (d["details"]["edgegru import"] == "yes") == importable
    assert (d["architecture"] is not None) == importable


def test_onnx_without_the_extra_is_one_line(capsys, monkeypatch, tmp_path, model):
    from edgegru.onnx.exporter import export_onnx

    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    for module in [m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "edgegru.onnx"))]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "onnx", None)  # what importing it does without the extra
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "edgegru: error: edgegru info needs onnx, which is not installed: pip install 'edgegru[onnx]'"
    )


@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"PK\x03\x04broken", b"1234TFL3broken"])
def test_not_a_model_is_one_line(capsys, tmp_path, content):
    path = tmp_path / "m.bin"
    path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"edgegru: error: {path}") and "\n" not in err


def test_description_lines_quote_every_string():
    d = Description(
        "f", "tflite", 1, False, details={"description": "a\nb" + ESCAPE}, metadata={ESCAPE: [ESCAPE]}
    )
    text = "\n".join(d.lines())
    assert "\x1b" not in text and len(d.lines()) == 3
