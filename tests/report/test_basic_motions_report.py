"""The report on a real dataset: BasicMotions (6 channels, 4 classes), a model trained here."""

from __future__ import annotations

import pytest

from edgegru.nn.evaluate import evaluate
from edgegru.quant import calibrate, quantize
from edgegru.report import write_report


@pytest.mark.shared_data
def test_basic_motions_report(tmp_path, basic_motions):
    train, test, model = basic_motions
    qm = quantize(model, calibrate(model, train.x, train.lengths, "percentile", 99.9), 16)
    report = write_report(tmp_path / "bm.html", qm, test, model, ["cortex-m4"])
    assert report.scores["float"] == evaluate(model, test)
    assert report.scores["int8 reference"] == report.scores["generated C"] == evaluate(qm, test)
    assert report.runs.verify is not None and report.runs.verify.ok
    assert report.confusion is not None and report.confusion.sum() == test.n
    assert [c.support for c in report.classes or []] == [int((test.y == k).sum()) for k in range(4)]
    # a trained int16 model follows its float state closely: well under 1% of the state's range
    assert report.state is not None and report.state.overall_mean < 0.01
    assert len(report.channels) == 6
    page = (tmp_path / "bm.html").read_text()
    assert all(f"<td>{name}</td>" in page for name in test.class_names or [])
