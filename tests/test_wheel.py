"""The built distributions: a warning-free build, an sdist and a wheel that carry the license,
docs, templates and firmware, and a wheel whose CLI works on a base install (no extras)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from importlib.metadata import version
from pathlib import Path

import pytest

from edgegru.cli.main import EXTRAS
from edgegru.core.version import __version__
from edgegru.nn.synthetic import random_model
from tests.helpers import ROOT, make_qmodel

pytestmark = pytest.mark.slow

BASE_DEPENDENCIES = ("numpy", "jinja2", "tqdm")
# PYTHONDONTWRITEBYTECODE (set on some machines) makes setuptools warn that it skips
# byte-compiling; that says nothing about the project, so the build runs without it.
BUILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}


def _repository_files(folder: str) -> list[str]:
    """The files of a top-level folder of the repository that git tracks or would track (not
    a build or an export left there by hand), as paths relative to the folder."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", folder],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return sorted(str(Path(f).relative_to(folder)) for f in listed if (ROOT / f).is_file())


def _metadata(wheel: Path) -> Message:
    """The wheel's core metadata (name, license, classifiers, requirements)."""
    with zipfile.ZipFile(wheel) as archive:
        return Parser().parsestr(archive.read(f"edgegru-{__version__}.dist-info/METADATA").decode())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(sdist, wheel, the build's output), built as a release is: the sdist first, then the
    wheel from the unpacked sdist, so the wheel proves the sdist complete."""
    out = tmp_path_factory.mktemp("dist")
    command = [
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--sdist",
        "--wheel",
        "-o",
        str(out),
        str(ROOT),
    ]
    build = subprocess.run(command, capture_output=True, text=True, env=BUILD_ENV)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return (
        out / f"edgegru-{__version__}.tar.gz",
        out / f"edgegru-{__version__}-py3-none-any.whl",
        build.stdout + build.stderr,
    )


def test_the_build_prints_no_warning(dist: tuple[Path, Path, str]) -> None:
    warnings = [line for line in dist[2].splitlines() if re.search(r"warn", line, re.IGNORECASE)]
    assert not warnings, "\n".join(warnings)


def test_the_sdist_carries_license_docs_templates_and_firmware(dist: tuple[Path, Path, str]) -> None:
    prefix = f"edgegru-{__version__}/"
    with tarfile.open(dist[0]) as sdist:
        names = {name.removeprefix(prefix) for name in sdist.getnames()}
    assert "LICENSE" in names
    for folder in ("docs", "templates", "firmware"):
        missing = [f for f in _repository_files(folder) if f"{folder}/{f}" not in names]
        assert not missing, f"{folder}/ files missing from the sdist: {missing}"


def test_the_wheel_carries_license_docs_templates_and_firmware(dist: tuple[Path, Path, str]) -> None:
    """Every file of docs/, templates/ and firmware/ but Python's own is in the wheel: a file
    type added there without a package-data pattern in pyproject.toml fails here."""
    info = f"edgegru-{__version__}.dist-info"
    with zipfile.ZipFile(dist[1]) as wheel:
        names = set(wheel.namelist())
        assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    for folder in ("docs", "templates", "firmware"):
        files = [f for f in _repository_files(folder) if not f.endswith(".py")]
        assert files, folder
        missing = [f for f in files if f"edgegru/{folder}/{f}" not in names]
        assert not missing, f"{folder}/ files missing from the wheel: {missing}"
    metadata = _metadata(dist[1])
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    # PEP 639: a license expression and a license classifier must not both be given
    assert not [c for c in metadata.get_all("Classifier", []) if c.startswith("License ::")]


def _optional_distributions(wheel: Path) -> set[str]:
    """Every distribution the wheel's extras name (torch, onnx, ai-edge-litert, ...)."""
    names = set()
    for requirement in _metadata(wheel).get_all("Requires-Dist", []):
        if "extra ==" in requirement:
            names.add(re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower())
    return names - {"edgegru"}


def test_the_cli_on_a_base_install(dist: tuple[Path, Path, str], tmp_path: Path) -> None:
    """The wheel installed with no extras into a fresh venv (no system site-packages, the
    base dependencies from the registry at the versions the suite runs with): none of the
    extras can be imported there, the docs are found as package data, and the console script
    describes, exports and verifies a model, copies the board example, and names the extra a
    command needs in one line."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=BUILD_ENV)
    python, edgegru = venv / "bin" / "python", venv / "bin" / "edgegru"
    pins = [f"{name}=={version(name)}" for name in BASE_DEPENDENCIES]
    install = [str(python), "-m", "pip", "install", "-q", "--only-binary=:all:", str(dist[1]), *pins]
    result = subprocess.run(install, capture_output=True, text=True, env=BUILD_ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    absent = sorted(_optional_distributions(dist[1]))
    assert {"torch", "onnx", "ai-edge-litert", "unicorn"} <= set(absent)
    probe = (
        "import importlib.metadata as md, importlib.util as u, edgegru\n"
        "from importlib.resources import files\n"
        f"assert edgegru.__file__.startswith({str(venv)!r}), edgegru.__file__\n"
        "assert (files('edgegru.docs') / 'quantization.md').is_file()\n"
        "found = []\n"
        f"for name in {absent!r}:\n"
        "    try:\n"
        "        md.distribution(name)\n"
        "        found.append(name)\n"
        "    except md.PackageNotFoundError:\n"
        "        pass\n"
        f"found += [m for m in {sorted(EXTRAS)!r} if u.find_spec(m) is not None]\n"
        "print(found)\n"
    )
    result = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, env=BUILD_ENV, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"extras importable in the base venv: {result.stdout}"

    make_qmodel(3, [5], "reset_before", "classification").save(tmp_path / "q.egru")
    random_model(3, [5], "reset_before", "classification").save(tmp_path / "m.egru")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(edgegru), *args], capture_output=True, text=True, env=BUILD_ENV,
                              cwd=tmp_path, timeout=300)  # fmt: skip

    printed = {}
    for args in (
        ["--help"],
        ["info", "q.egru"],
        ["export", "q.egru", "--target", "c99", "-o", "q_c"],
        ["verify", "q.egru", "--target", "host"],
        ["example", "stm32f4", "board"],
    ):
        result = cli(*args)
        assert result.returncode == 0, f"edgegru {' '.join(args)}:\n{result.stdout}{result.stderr}"
        assert result.stdout.strip() and "Traceback" not in result.stderr, args
        printed[args[0]] = result.stdout
    assert "example" in printed["--help"]
    assert (tmp_path / "q_c" / "model.c").is_file()
    assert "0 mismatches" in printed["verify"]
    assert (tmp_path / "board" / "examples" / "stm32f4" / "Makefile").is_file()

    needs_extra = cli("export", "m.egru", "--target", "tflite", "-o", "m.tflite")
    assert needs_extra.returncode == 2, needs_extra.stdout + needs_extra.stderr
    assert needs_extra.stderr.count("\n") == 1 and "pip install 'edgegru[tflite]'" in needs_extra.stderr
    assert not (tmp_path / "m.tflite").exists()
