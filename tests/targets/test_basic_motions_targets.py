"""The model trained on BasicMotions through every target: C bit-exact, TFLite int8 agreement."""

from __future__ import annotations

import numpy as np
import pytest

from edgegru.nn import float_reference as fref
from edgegru.quant import calibrate, quantize
from edgegru.quant import integer_reference as iref
from edgegru.targets.cortex_m.verify import verify_cortex_m
from edgegru.targets.host import verify_host
from edgegru.tflite.exporter import export_tflite
from edgegru.tflite.stream import StreamingModel

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(basic_motions):
    tr, te, model = basic_motions
    qm = quantize(model, calibrate(model, tr.x, tr.lengths, "percentile", 99.9))
    return tr, te, model, qm


def test_generated_c_on_the_host(trained):
    _, te, _, qm = trained
    report = verify_host(qm, te.x.astype(np.float32))
    assert report.ok, report.summary()
    assert report.states_compared == 40 * 100 * 32


def test_generated_c_on_cortex_m4(trained):
    _, te, _, qm = trained
    report = verify_cortex_m(qm, te.x[:10].astype(np.float32), "cortex-m4")
    assert report.ok, report.summary()


def test_int8_tflite_agrees_with_the_float_model(trained, tmp_path):
    """Same predicted class on >= 99% of the test sequences; state error reported."""
    tr, te, model, qm = trained
    export_tflite(model, tmp_path / "bm.tflite", dtype="int8", calibration=tr.x, quiet=True)
    runner = StreamingModel(tmp_path / "bm.tflite")
    tflite_class, tflite_h = [], []
    for x in te.x:
        runner.reset()
        y = runner.run(x)
        tflite_class.append(int(np.argmax(y[-1])))
        tflite_h.append(runner.state[0])
    tflite_class = np.array(tflite_class)
    float_trace = fref.forward(model, te.x)
    float_class = float_trace.outputs[:, -1].argmax(axis=-1)
    int_class = iref.predict(qm, te.x)
    h_err = np.abs(np.array(tflite_h) - float_trace.hidden[0][:, -1]).max()
    int_h = iref.run(qm, iref.quantize_input(qm.input, te.x)).states[0][:, -1] / 32768
    print(
        "BasicMotions test: int8 TFLite vs float class agreement "
        f"{np.mean(tflite_class == float_class):.3f}, "
        f"integer reference vs float {np.mean(int_class == float_class):.3f}, "
        f"int8 TFLite vs integer reference {np.mean(tflite_class == int_class):.3f}; "
        f"final-state max abs error: TFLite int8 {h_err:.4f}, "
        f"integer reference {np.abs(int_h - float_trace.hidden[0][:, -1]).max():.4f}"
    )
    assert np.mean(tflite_class == float_class) >= 0.99
