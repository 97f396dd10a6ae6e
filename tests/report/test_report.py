"""The HTML report: self-contained, escaped, and refusing bad input from the command line."""

from __future__ import annotations

import base64
import html
import re

from edgegru.cli.main import main
from edgegru.nn.synthetic import random_model
from edgegru.report import build_report, write_report

HOSTILE = "</table><script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_classification_page_is_self_contained_and_escaped(tmp_path, make_case):
    # "$...$" would be read as mathematics by matplotlib, and a broken formula stop the plot
    qm, model, data = make_case("classification", ["walk", HOSTILE, "$\\frac{1$"])
    data.channel_names = ["ax", "<b>ay</b>", "$az^$"]
    qm.metadata["note"] = "<img src=x onerror=alert(2)>"
    path = tmp_path / "r.html"
    report = write_report(path, qm, data, model, ["cortex-m0plus"], model_name="<i>m</i>.egru")
    page = path.read_text(encoding="utf-8")
    for hostile in (HOSTILE, "<b>ay</b>", "<img src=x onerror=alert(2)>", "<i>m</i>.egru"):
        assert hostile not in page
        assert html.escape(hostile) in page
    assert "<script" not in page.lower()
    # nothing fetched: every src is an embedded PNG, and no link or stylesheet leaves the page
    assert re.findall(r'src="([^"]{0,22})', page) == ["data:image/png;base64,"] * 3
    assert "href=" not in page and "http://" not in page and "https://" not in page
    assert all(png.startswith(PNG_MAGIC) for png in _images(page))
    # every implementation's accuracy and each class's row is on the page
    for name, value in report.scores.items():
        assert f"<td>{name}</td><td>{100 * value:.1f}%</td>" in page
    assert report.scores["int8 reference"] == report.scores["generated C"]
    assert page.count("<td>" + html.escape(HOSTILE) + "</td>") == 1  # its row in the per-class table
    assert "bit-exact" in page and "Integer state error over time" in page
    core = report.cores[0]
    assert core.footprint is not None and core.instructions is not None
    assert f"{core.footprint.flash} = {core.footprint.code} + {core.footprint.constants}" in page


def test_regression_and_headless_pages(tmp_path, make_case):
    qm, model, data = make_case("regression")
    report = write_report(tmp_path / "r.html", qm, data, model)
    page = (tmp_path / "r.html").read_text()
    assert set(report.scores) == {"float", "int8 reference", "generated C"}
    assert "Predicted against actual" in page and "RMS difference" in page
    assert len(_images(page)) == 3  # predicted vs actual, state error, calibration
    qm, _, data = make_case(None)
    report = build_report(qm, data)
    assert report.scores == {} and report.state is None and report.runs.verify.ok


def test_missing_tools_are_stated_not_fatal(tmp_path, make_case, monkeypatch):
    """Without compilers on PATH the page still comes out, saying what it left out and why."""
    qm, _, data = make_case("classification", ["a", "b"])
    monkeypatch.setenv("PATH", str(tmp_path))
    report = write_report(tmp_path / "r.html", qm, data, None, ["cortex-m4"])
    page = (tmp_path / "r.html").read_text()
    assert report.runs.verify is None and "generated C" not in report.scores
    assert "The generated C was not run: gcc not found" in page
    assert "footprint not measured: arm-none-eabi-gcc not found" in page
    assert "Not computed: it needs the float model" in page


def test_a_core_unicorn_cannot_count_keeps_its_footprint(make_case):
    qm, _, data = make_case("classification", ["a", "b"])
    (core,) = build_report(qm, data, cpus=["cortex-m55"]).cores
    assert core.footprint is not None and core.instructions is None
    assert core.skipped == ["instructions not counted: unicorn has no model of the cortex-m55"]


def test_cli_writes_the_report(tmp_path, capsys, make_case, write_npz):
    qm, model, data = make_case("classification", ["a", "b", "c"])
    q, f, d, out = tmp_path / "q.egru", tmp_path / "f.egru", tmp_path / "d.npz", tmp_path / "r.html"
    qm.save(q)
    model.save(f)
    write_npz(d, data)
    assert main(["report", str(q), str(d), "--float", str(f), "--cpu", "", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "generated C: accuracy" in printed and "0 mismatches" in printed and f"wrote {out}" in printed
    assert "No cores asked for" in out.read_text()


def test_cli_reports_on_the_held_out_part_of_a_builtin_task(tmp_path, capsys):
    """--builtin evaluates its fresh samples (a quarter of --samples), as train and quantize
    score them."""
    from edgegru.quant.synthetic import random_qmodel

    q, out = tmp_path / "adding-int8.egru", tmp_path / "r.html"
    random_qmodel(2, [6], "reset_after", "regression", output_size=1).save(q)
    assert (
        main(["report", str(q), "--builtin", "adding", "--samples", "40", "--cpu", "", "-o", str(out)]) == 0
    )
    assert "int8 reference: rmse" in capsys.readouterr().out
    assert "<td>sequences</td><td class=n>10</td>" in out.read_text()


def _bad(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegru: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make_case, write_npz):
    qm, model, data = make_case("classification", ["a", "b", "c"])
    q, f, d, out = tmp_path / "q.egru", tmp_path / "f.egru", tmp_path / "d.npz", tmp_path / "r.html"
    qm.save(q)
    model.save(f)
    write_npz(d, data)
    other = tmp_path / "other.egru"
    random_model(3, [4], "reset_after", "classification", output_size=3).save(other)
    wide = tmp_path / "wide.npz"
    data.x = data.x[..., [0, 1, 2, 0]]
    write_npz(wide, data)
    cases = {
        "missing.npz": [str(q), str(tmp_path / "missing.npz")],
        "wide.npz: 4 channels, the model takes 3 inputs per step": [str(q), str(wide)],
        "unknown target 'cortex-m99'": [str(q), str(d), "--cpu", "cortex-m4,cortex-m99"],
        "a float model; report needs a quantised one": [str(f), str(d)],
        "other.egru: 3 -> GRU(4)": [str(q), str(d), "--float", str(other)],
        "directory": [str(q), str(d), "-o", str(tmp_path / "no" / "r.html")],
    }
    for expected, args in cases.items():
        err = _bad(capsys, "report", *args, *(() if "-o" in args else ("-o", str(out))))
        assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["q.egru", "f.egru", "d.npz", "other.egru", "wide.npz"]
    )


def test_quantize_and_train_write_a_report_and_say_where(tmp_path, capsys):
    """`quantize --report` pages the quantised model on the test data; `train --report` the model
    quantised as quantize does by default. Both print where the page is."""
    f, q = tmp_path / "f.egru", tmp_path / "q.egru"
    random_model(2, [6], "reset_after", "regression", output_size=1).save(f)
    page = tmp_path / "quantize.html"
    args = ["--builtin", "adding", "--samples", "40", "--report", str(page)]
    assert main(["quantize", str(f), *args, "-o", str(q)]) == 0
    assert f"report: {page}" in capsys.readouterr().out
    text = page.read_text()
    assert "<td>sequences</td><td class=n>10</td>" in text and html.escape(str(q)) in text

    page = tmp_path / "train.html"
    train = ["train", "--builtin", "adding", "--samples", "40", "--epochs", "2", "--hidden", "4"]
    assert main([*train, "--quiet", "--report", str(page), "-o", str(tmp_path / "t.egru")]) == 0
    assert f"report: {page}" in capsys.readouterr().out
    assert "int8 reference" in page.read_text()


def test_report_flag_is_checked_before_any_work(tmp_path, capsys):
    f, q = tmp_path / "f.egru", tmp_path / "q.egru"
    random_model(2, [6], "reset_after", "regression", output_size=1).save(f)
    bad = str(tmp_path / "nodir" / "r.html")
    err = _bad(capsys, "quantize", str(f), "--builtin", "adding", "--report", bad, "-o", str(q))
    assert "nodir does not exist" in err and not q.exists()
