"""The wheel carries the templates and the firmware: an installed edgegru generates C."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_generates_and_builds_c(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )  # fmt: skip
    wheel = next((tmp_path / "dist").glob("edgegru-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgegru/templates/model.c.j2" in names
    assert "edgegru/firmware/edgegru_startup.c" in names
    assert "edgegru/firmware/examples/stm32f4/Makefile" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True)  # fmt: skip
    script = (
        "import edgegru, numpy as np\n"
        "from edgegru.quant import calibrate, quantize\n"
        "from edgegru.targets.host import verify_host\n"
        "from edgegru.targets.verify import random_stimulus\n"
        f"assert edgegru.__file__.startswith({str(site)!r}), edgegru.__file__\n"
        "m = edgegru.random_model(3, [5], 'reset_before', 'classification')\n"
        "q = quantize(m, calibrate(m, np.random.default_rng(0).normal(size=(4, 9, 3))))\n"
        "r = verify_host(q, random_stimulus(q, 3, 20))\n"
        "assert r.ok, r.summary()\n"
        "from edgegru.targets.cortex_m.qemu import firmware_dir\n"
        "assert (firmware_dir() / 'edgegru_cortex_m.ld').is_file()\n"
        "print(r.summary())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "0 mismatches" in out.stdout
