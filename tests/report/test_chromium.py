"""The report as a person sees it: rendered by headless Chromium, offline."""

from __future__ import annotations

import html
import subprocess

import matplotlib.image as mpimg
import numpy as np

from edgegru.report import write_report

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "</table><script>alert(1)</script>"


def _chromium(tmp_path, *args: str) -> str:
    """Run headless Chromium with a profile of its own (others may run one at the same time)."""
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout


def test_report_renders_with_its_tables_and_plots(tmp_path, make_case):
    qm, model, data = make_case("classification", ["walk", HOSTILE, "idle"])
    page = tmp_path / "report.html"
    report = write_report(page, qm, data, model)
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05  # text, tables and plots, not a blank page
    # the confusion matrix's blues are drawn: many pixels far bluer than they are red
    assert np.sum(pixels[..., 2] - pixels[..., 0] > 0.3) > 2000
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert "<script" not in dom  # the hostile name stayed text
    rows = dom.count("<tr>")
    assert rows == page.read_text().count("<tr>")
    for c in report.classes or []:
        assert f'<tr><td>{html.escape(c.name)}</td><td class="n">{c.support}</td>' in dom
