"""TFLite export: float32 and int8, step and sequence models, run in the real LiteRT.

Float models must match the float64 reference to 1e-5; int8 models must respect
the int8 kernels' quantisation constraints, stay close to the reference, and
give bit-identical results as a step model and as an unrolled sequence model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.nn.float_reference import forward
from edgegru.nn.model import Normalisation
from edgegru.nn.synthetic import random_model

try:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter
except ImportError as exc:  # a missing tool must fail, not skip
    raise RuntimeError(f"these tests need ai-edge-litert: pip install 'edgegru[tflite]' ({exc})") from exc

from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.read import read_metadata

STEPS = 60
VARIANTS = ("reset_after", "reset_before")


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.rint(x / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float64) - zero_point) * scale


def run_step_model(path, num_layers: int, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Feed x (T, D) (already in the model's input dtype) one step at a time from zero
    states; return the raw y (T, C) and each layer's raw states (T, H)."""
    runner = Interpreter(model_path=str(path)).get_signature_runner("step")
    details = runner.get_input_details()
    state = {
        f"h{k}": np.zeros(details[f"h{k}"]["shape"], details[f"h{k}"]["dtype"]) for k in range(num_layers)
    }
    ys, states = [], [[] for _ in range(num_layers)]
    for row in x:
        out = runner(x=row[None], **state)
        state = {f"h{k}": out[f"h{k}_next"] for k in range(num_layers)}
        ys.append(out["y"][0])
        for k in range(num_layers):
            states[k].append(out[f"h{k}_next"][0])
    return np.array(ys), [np.array(s) for s in states]


def run_sequence_model(path, x: np.ndarray) -> dict[str, np.ndarray]:
    return Interpreter(model_path=str(path)).get_signature_runner("serving_default")(x=x[None])


def make_model(variant: str, layers: int, head: str | None, seed: int = 0, scale: float = 1.0):
    hidden = [16, 12, 8][:layers]
    model = random_model(5, hidden, variant, head=head, output_size=4, seed=seed, scale=scale)
    model.normalisation = Normalisation(
        np.array([0.5, -1.0, 2.0, 0.0, 3.0], np.float32),
        np.array([2.0, 0.5, 1.5, 1.0, 4.0], np.float32),
    )
    return model


def raw_inputs(model, steps: int, seed: int = 1, batch: int | None = None) -> np.ndarray:
    """Inputs in the model's raw units (mean/std of its normalisation)."""
    rng = np.random.default_rng(seed)
    shape = (steps, model.input_size) if batch is None else (batch, steps, model.input_size)
    norm = model.normalisation
    return (rng.normal(size=shape) * norm.std + norm.mean).astype(np.float32)


def load_model_t(path):
    return schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)


# Float32 ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("head", ["classification", None])
def test_float_step_and_sequence_match_reference(tmp_path, variant, layers, head):
    model = make_model(variant, layers, head)
    x = raw_inputs(model, STEPS)
    ref = forward(model, x)
    expected_y = ref.outputs[0] if head else ref.hidden[-1][0]

    step = export_tflite(model, tmp_path / "step.tflite", quiet=True)
    ys, states = run_step_model(step.path, layers, x)
    assert np.abs(ys - expected_y).max() <= 1e-5
    for k in range(layers):
        assert np.abs(states[k] - ref.hidden[k][0]).max() <= 1e-5

    seq = export_tflite(model, tmp_path / "seq.tflite", kind="sequence", steps=STEPS, quiet=True)
    out = run_sequence_model(seq.path, x)
    assert out["y"].shape == (1, STEPS, expected_y.shape[1])
    assert np.abs(out["y"][0] - expected_y).max() <= 1e-5
    # The state carried across step-model calls is the sequence model's result.
    np.testing.assert_allclose(out["y"][0], ys, rtol=0, atol=1e-6)
    for k in range(layers):
        np.testing.assert_allclose(out[f"h{k}_next"][0], states[k][-1], rtol=0, atol=1e-6)


def test_float_io_names_and_signatures(tmp_path):
    model = make_model("reset_after", 2, "regression")
    info = export_tflite(model, tmp_path / "m.tflite", quiet=True)
    assert [t.name for t in info.inputs] == ["x", "h0", "h1"]
    assert [t.name for t in info.outputs] == ["y", "h0_next", "h1_next"]
    assert info.inputs[0].shape == (1, 5) and info.outputs[0].shape == (1, 4)
    assert all(t.scale is None for t in info.inputs + info.outputs)
    interp = Interpreter(model_path=str(info.path))
    assert interp.get_signature_list() == {
        "step": {"inputs": ["h0", "h1", "x"], "outputs": ["h0_next", "h1_next", "y"]}
    }
    seq = export_tflite(model, tmp_path / "s.tflite", kind="sequence", steps=7, quiet=True)
    assert [t.name for t in seq.inputs] == ["x"] and seq.inputs[0].shape == (1, 7, 5)
    assert seq.outputs[0].shape == (1, 7, 4)
    assert "serving_default" in Interpreter(model_path=str(seq.path)).get_signature_list()


def test_float_model_folds_normalisation_and_says_so(tmp_path):
    model = make_model("reset_before", 1, "classification")
    info = export_tflite(model, tmp_path / "m.tflite", quiet=True)
    meta = json.loads(read_metadata(info.path.read_bytes(), "edgegru"))
    assert meta["normalisation"] == {"in_graph": True}
    assert meta["variant"] == "reset_before" and meta["input_size"] == 5
    assert meta["output"] == {
        "kind": "classification",
        "class_names": ["class0", "class1", "class2", "class3"],
    }
    assert meta["inputs"] == ["x", "h0"] and meta["outputs"] == ["y", "h0_next"]
    assert meta["kind"] == "step"
    # What the graph states is not repeated: the interpreter reports shapes and quantisation.
    assert not {"quant", "hidden_sizes", "steps", "state_layout"} & set(meta)


# int8 -----------------------------------------------------------------------------


def export_int8_pair(tmp_path, model, steps: int):
    calibration = raw_inputs(model, 40, seed=7, batch=32)
    step = export_tflite(model, tmp_path / "q.tflite", dtype="int8", calibration=calibration, quiet=True)
    seq = export_tflite(
        model,
        tmp_path / "qs.tflite",
        kind="sequence",
        steps=steps,
        dtype="int8",
        calibration=calibration,
        quiet=True,
    )
    return step, seq


def normalised_int8_input(model, info, x: np.ndarray) -> np.ndarray:
    x_info = info.inputs[0]
    return quantize(model.normalisation.apply(x), x_info.scale, x_info.zero_point)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2])
def test_int8_step_equals_sequence_exactly_and_is_close(tmp_path, variant, layers):
    model = make_model(variant, layers, "classification", seed=3, scale=2.0)
    step, seq = export_int8_pair(tmp_path, model, STEPS)
    x = raw_inputs(model, STEPS, seed=11)
    xq = normalised_int8_input(model, step, x)

    ys, states = run_step_model(step.path, layers, xq)
    out = run_sequence_model(seq.path, xq)
    assert out["y"].dtype == np.int8
    np.testing.assert_array_equal(out["y"][0], ys)
    for k in range(layers):
        np.testing.assert_array_equal(out[f"h{k}_next"][0], states[k][-1])

    ref = forward(model, x)
    h_err = np.abs(states[-1] / 128.0 - ref.hidden[-1][0]).max()
    y_info = step.outputs[0]
    y = dequantize(ys, y_info.scale, y_info.zero_point)
    agreement = np.mean(y.argmax(axis=1) == ref.outputs[0].argmax(axis=1))
    print(f"int8 {variant} layers={layers}: hidden err {h_err:.4f}, agreement {agreement:.3f}")
    assert h_err < 0.1
    assert agreement >= 0.9


@pytest.mark.parametrize("variant", VARIANTS)
def test_int8_class_agreement_on_trained_like_model(tmp_path, variant):
    """Weights at twice PyTorch's init range, as training tends to leave them."""
    model = random_model(6, [32], variant, head="classification", output_size=4, seed=2, scale=2.0)
    rng = np.random.default_rng(5)
    calibration = rng.normal(size=(32, 50, 6))
    test = rng.normal(size=(100, 50, 6))
    info = export_tflite(
        model,
        tmp_path / "q.tflite",
        kind="sequence",
        steps=50,
        dtype="int8",
        calibration=calibration,
        quiet=True,
    )
    runner = Interpreter(model_path=str(info.path)).get_signature_runner("serving_default")
    x_info, y_info = info.inputs[0], info.outputs[0]
    ref = forward(model, test)
    h_err, agree = 0.0, 0
    for b in range(len(test)):
        out = runner(x=quantize(test[b : b + 1], x_info.scale, x_info.zero_point))
        y = dequantize(out["y"][0], y_info.scale, y_info.zero_point)
        h_err = max(h_err, np.abs(out["h0_next"][0] / 128.0 - ref.hidden[0][b, -1]).max())
        agree += int(np.sum(y.argmax(axis=1) == ref.outputs[b].argmax(axis=1)))
    agreement = agree / (test.shape[0] * test.shape[1])
    print(f"int8 {variant} D=6 H=32: final hidden err {h_err:.4f}, agreement {agreement:.4f}")
    assert h_err < 0.1
    assert agreement >= 0.95


@pytest.mark.parametrize("head", [None, "regression"])
def test_int8_without_classifier_head(tmp_path, head):
    """No head: y is the last state (a RESHAPE in the step model, PACKed states in the
    sequence model); regression: y is dequantised values."""
    model = make_model("reset_before", 2, head, seed=6)
    step, seq = export_int8_pair(tmp_path, model, 30)
    x = raw_inputs(model, 30, seed=12)
    xq = normalised_int8_input(model, step, x)
    ys, states = run_step_model(step.path, 2, xq)
    out = run_sequence_model(seq.path, xq)
    np.testing.assert_array_equal(out["y"][0], ys)
    ref = forward(model, x)
    y_info = step.outputs[0]
    y = dequantize(ys, y_info.scale, y_info.zero_point)
    expected = ref.hidden[-1][0] if head is None else ref.outputs[0]
    assert np.abs(y - expected).max() < 0.1
    if head is None:
        assert (y_info.scale, y_info.zero_point) == (1 / 128, 0)
        np.testing.assert_array_equal(ys, states[-1])


@pytest.mark.parametrize("variant", VARIANTS)
def test_int8_quantisation_respects_kernel_constraints(tmp_path, variant):
    model = make_model(variant, 2, "classification", seed=4)
    step, _ = export_int8_pair(tmp_path, model, 3)
    m = load_model_t(step.path)
    graph = m.subgraphs[0]
    # Codes below 127 are written in the 8-bit field only; readers take the larger of
    # the 8-bit and the 32-bit field (TFLite's GetBuiltinCode).
    assert all(c.builtinCode == 0 for c in m.operatorCodes)
    opcodes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    codes = [opcodes[op.opcodeIndex] for op in graph.operators]

    def quant(index):
        q = graph.tensors[index].quantization
        return float(q.scale[0]), int(q.zeroPoint[0])

    ops = schema.BuiltinOperator
    for op, code in zip(graph.operators, codes, strict=True):
        out = op.outputs[0]
        assert graph.tensors[out].type == schema.TensorType.INT8
        if code == ops.LOGISTIC:
            assert quant(out) == (1 / 256, -128)
        elif code == ops.TANH:
            assert quant(out) == (1 / 128, 0)
        elif code == ops.SPLIT:
            assert all(quant(o) == quant(op.inputs[1]) for o in op.outputs)
        elif code == ops.SPLIT_V:
            assert all(quant(o) == quant(op.inputs[0]) for o in op.outputs)
        elif code == ops.CONCATENATION:  # inputs and output share one quantisation
            assert all(quant(i) == quant(out) == (1 / 128, 0) for i in op.inputs)
        elif code == ops.FULLY_CONNECTED:
            x, w = (graph.tensors[i] for i in op.inputs[:2])
            assert w.type == schema.TensorType.INT8 and list(w.quantization.zeroPoint) == [0]
            if op.inputs[2] != -1:  # FCs whose results are only added share one bias
                b = graph.tensors[op.inputs[2]]
                assert b.type == schema.TensorType.INT32
                expected = np.float32(x.quantization.scale[0]) * np.float32(w.quantization.scale[0])
                assert b.quantization.scale[0] == pytest.approx(float(expected), rel=1e-6)
    # Only graph inputs and outputs are named (the others' names would cost bytes).
    names = {t.name.decode(): i for i, t in enumerate(graph.tensors) if t.name is not None}
    assert set(names) == {"x", "h0", "h1", "y", "h0_next", "h1_next"}
    for name in ("h0", "h1", "h0_next", "h1_next"):
        assert quant(names[name]) == (1 / 128, 0)
    assert set(codes) <= {
        ops.FULLY_CONNECTED,
        ops.ADD,
        ops.SUB,
        ops.MUL,
        ops.LOGISTIC,
        ops.TANH,
        ops.SPLIT,
        ops.SPLIT_V,
        ops.CONCATENATION,
    }


def test_int8_metadata_keeps_normalisation_outside(tmp_path):
    model = make_model("reset_after", 1, "classification")
    step, _ = export_int8_pair(tmp_path, model, 3)
    meta = json.loads(read_metadata(step.path.read_bytes(), "edgegru"))
    assert meta["dtype"] == "int8"
    assert meta["normalisation"]["in_graph"] is False
    np.testing.assert_allclose(meta["normalisation"]["mean"], model.normalisation.mean)
    np.testing.assert_allclose(meta["normalisation"]["std"], model.normalisation.std)
    # Input/output quantisation is not repeated in the metadata: the interpreter reports it.
    assert "quant" not in meta
    details = {d["name"]: d for d in Interpreter(model_path=str(step.path)).get_input_details()}
    assert details["h0"]["quantization"] == (0.0078125, 0)
    x_info = step.inputs[0]
    assert details["x"]["quantization"][1] == x_info.zero_point
    assert details["x"]["quantization"][0] == pytest.approx(x_info.scale, rel=1e-6)


# Size ---------------------------------------------------------------------------


def constant_bytes_in_file(path) -> int:
    """Bytes of every buffer except the metadata's, read back from the file."""
    m = load_model_t(path)
    meta_buffers = {entry.buffer for entry in m.metadata}
    return sum(len(b.data) for i, b in enumerate(m.buffers) if b.data is not None and i not in meta_buffers)


# The tightest case is 3 int8 layers of H=16 with reset_after and a head: 10,592 bytes
# against 10,658; docs/tflite.md ("Size") shows where the bytes go.
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("head", ["classification", None])
@pytest.mark.parametrize(
    ("dtype", "inputs", "hidden", "layers"),
    [
        ("float32", 5, 16, 1),
        ("int8", 5, 16, 1),
        ("float32", 5, 16, 2),
        ("int8", 5, 16, 2),
        ("float32", 5, 16, 3),
        ("int8", 5, 16, 3),
        ("float32", 33, 96, 1),
        ("int8", 33, 96, 1),
        ("float32", 33, 96, 3),
        ("int8", 33, 96, 3),
    ],
)
def test_step_model_size_budget(tmp_path, variant, head, dtype, inputs, hidden, layers):
    classes = 3 if head else 0
    model = random_model(inputs, [hidden] * layers, variant, head=head, output_size=3)
    calibration = np.random.default_rng(0).normal(size=(8, 20, inputs))
    info = export_tflite(model, tmp_path / "m.tflite", dtype=dtype, calibration=calibration, quiet=True)
    assert info.size == info.path.stat().st_size
    assert info.weight_bytes == constant_bytes_in_file(info.path)
    per_weight = 4 if dtype == "float32" else 1
    layer_inputs = [inputs] + [hidden] * (layers - 1)
    weights = sum(3 * hidden * (d + hidden) for d in layer_inputs) + classes * hidden
    # float32 or int32 biases. reset_after: 6H in the first layer, 4H in a stacked one
    # (r and z share one FC); reset_before: 3H per layer, because the FCs over h and
    # r*h are added to those over x and leave their biases to them
    first, stacked = (6, 4) if variant == "reset_after" else (3, 3)
    biases = (first + stacked * (layers - 1)) * hidden + classes
    split_v = 8 if variant == "reset_after" else 0  # the sizes that cut the first layer's FCs
    shape = 0 if head else 8  # without a head, y is a RESHAPE of the last state: its target shape
    assert info.weight_bytes == per_weight * weights + 4 * biases + 4 + split_v + shape  # + SPLIT's axis
    budget = 1.3 * info.weight_bytes + 4096
    print(f"{dtype} D={inputs} H={hidden}x{layers}: {info.size} bytes, budget {budget:.0f}")
    assert info.size <= budget


def test_step_size_does_not_depend_on_t_and_sequence_shares_weights(tmp_path):
    model = random_model(5, [16], "reset_before", head="classification", output_size=3)
    # Calibrated on 10 or on 200 steps: the same weights and no per-step growth. The ranges
    # (so the zero points) differ, and quantisation records that happen to coincide are
    # shared, which moves the size by up to 48 bytes (3 records).
    rng = np.random.default_rng(0)
    step = [
        export_tflite(
            model, tmp_path / f"s{t}.tflite", dtype="int8", calibration=rng.normal(size=(4, t, 5)), quiet=True
        )
        for t in (10, 200)
    ]
    assert step[0].weight_bytes == step[1].weight_bytes
    assert abs(step[0].size - step[1].size) <= 48
    seq = [
        export_tflite(model, tmp_path / f"q{t}.tflite", kind="sequence", steps=t, quiet=True)
        for t in (10, 20, 30)
    ]
    assert seq[0].weight_bytes == seq[1].weight_bytes == seq[2].weight_bytes
    per_10_steps = seq[1].size - seq[0].size
    assert abs((seq[2].size - seq[1].size) - per_10_steps) <= 64  # linear in T
    # One more step costs its operator and tensor records, not another copy of the
    # weights: less than a whole step model without its weights.
    step = export_tflite(model, tmp_path / "step.tflite", quiet=True)
    assert per_10_steps / 10 < step.size - step.weight_bytes < step.weight_bytes


def test_constant_buffers_are_aligned(tmp_path):
    model = random_model(5, [16], "reset_after", head="regression")
    info = export_tflite(model, tmp_path / "m.tflite", quiet=True)
    blob = info.path.read_bytes()
    m = schema.Model.GetRootAs(blob, 0)
    checked = 0
    for i in range(m.BuffersLength()):
        buf = m.Buffers(i)
        if buf.DataLength():
            start = buf.DataAsNumpy().__array_interface__["data"][0]
            base = np.frombuffer(blob, np.uint8).__array_interface__["data"][0]
            assert (start - base) % 16 == 0
            checked += 1
    assert checked >= 9


# Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "int8"}, "int8 export needs calibration"),
        ({"dtype": "int8", "calibration": np.zeros((2, 5))}, "calibration data: shape (2, 5)"),
        ({"dtype": "int8", "calibration": np.zeros((2, 3, 4))}, "expected (N, T, 5)"),
        ({"dtype": "int8", "calibration": np.full((1, 2, 5), np.nan)}, "NaN or Inf"),
        ({"dtype": "float16"}, "dtype 'float16': expected --dtype float32 or --dtype int8"),
        ({"kind": "batch"}, "model kind 'batch': expected --kind step or --kind sequence"),
        ({"kind": "sequence"}, "needs a fixed length: --steps N (steps=N) with N >= 1; none was given"),
        ({"kind": "sequence", "steps": 0}, "; got 0"),
        ({"steps": 10}, "--steps 10 (steps=): a step model runs any number of steps"),
    ],
)
def test_bad_arguments_raise_one_line_and_write_nothing(tmp_path, kwargs, message):
    model = random_model(5, [8], "reset_after")
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous")
    with pytest.raises(EdgeGruError) as err:
        export_tflite(model, target, quiet=True, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(EdgeGruError, match="does not exist"):
        export_tflite(random_model(5, [8], "reset_after"), tmp_path / "no" / "m.tflite", quiet=True)


def test_export_prints_size_summary(tmp_path, capsys):
    export_tflite(random_model(5, [8], "reset_after"), tmp_path / "m.tflite")
    err = capsys.readouterr().err
    assert "m.tflite: step model, float32" in err and "bytes of weights" in err


@pytest.mark.parametrize("name", ["walk,run", "tab\there", "new\nline"])
def test_class_names_the_runtime_cannot_print_are_refused_before_writing(tmp_path, name):
    """`edgegru run` prints class names as CSV fields; the export must not write a file the
    runtime then refuses."""
    model = random_model(3, [4], "reset_after", "classification", output_size=2)
    model.head.class_names = ["ok", name]
    with pytest.raises(EdgeGruError, match=r"class name 1 .*printable and without commas"):
        export_tflite(model, tmp_path / "m.tflite", quiet=True)
    assert not (tmp_path / "m.tflite").exists()
