"""The emulated Pi's root file system: an arm64 Debian bookworm userland, built once and cached.

The root lives under ``~/.cache/edgegru/pi-root-<hash>``; the hash covers the recipe
(:func:`recipe`), so a new recipe or a new LiteRT here builds a new root, and a root
without its ``recipe.json``, written last, is incomplete and rebuilt. It holds:

* ``mmdebstrap --variant=extract`` of python3.11 and libstdc++6 from the Debian
  mirror named in this machine's apt sources (:mod:`.apt_sources`);
* the aarch64 cp311 wheels of numpy and ai-edge-litert, at the versions
  installed here, so that both sides run the same LiteRT;
* byte-compiled, so that each emulated start-up does not recompile the stdlib;
* one view per board (``pi4``, ``pi5``): symlinks to the root plus the board's
  own ``proc/cpuinfo``. qemu-user shows the guest the host's x86 ``/proc/cpuinfo``
  unless the ``-L`` directory has one, and LiteRT segfaults on creating an
  Interpreter when it cannot parse it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edgegru.core.cache import cache_dir
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import run_tool
from edgegru.targets.pi.apt_sources import apt_mirror
from edgegru.targets.pi.boards import BOARDS, GUEST_PYTHON, SUITE, Board
from edgegru.targets.pi.tools import MMDEBSTRAP, QEMU, qemu_command, require_tools

DEBIAN_PACKAGES = ("python3.11", "libstdc++6")
WHEELS = ("numpy", "ai-edge-litert")
WHEEL_PLATFORMS = (
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_28_aarch64",
)
RECIPE_VERSION = 1


def recipe() -> dict[str, Any]:
    """Everything that decides the root's content; its hash names the cache directory."""
    wheels = {}
    for name in WHEELS:
        try:
            wheels[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise EdgeGruError(
                f"{name} is not installed here: pip install 'edgegru[tflite]' (the emulated Pi "
                "installs the same version, to compare like with like)"
            ) from None
    return {
        "recipe_version": RECIPE_VERSION,
        "suite": SUITE,
        "architecture": "arm64",
        "debian_packages": list(DEBIAN_PACKAGES),
        "python": "{}.{}".format(*GUEST_PYTHON),
        "wheels": wheels,
        "wheel_platforms": list(WHEEL_PLATFORMS),
        "cpuinfo": {name: board.cpuinfo() for name, board in BOARDS.items()},
    }


@dataclass(frozen=True)
class PiRoot:
    """A built root: ``root/`` (the Debian tree), one view per board, ``recipe.json``."""

    path: Path

    @property
    def tree(self) -> Path:
        return self.path / "root"

    @property
    def site(self) -> Path:
        return self.tree / "opt" / "site"

    @property
    def python(self) -> Path:
        return self.tree / "usr" / "bin" / "python{}.{}".format(*GUEST_PYTHON)

    def view(self, board: Board) -> Path:
        return self.path / board.name

    def is_complete(self, spec: dict[str, Any]) -> bool:
        marker = self.path / "recipe.json"
        try:
            return marker.is_file() and json.loads(marker.read_text()) == spec
        except (OSError, json.JSONDecodeError):
            return False


def log_to_stderr(message: str) -> None:
    """The default progress log of the slow steps (building the root, timing): stderr, so
    that a command's output stays clean."""
    print(message, file=sys.stderr, flush=True)


def ensure_root(log: Callable[[str], None] = log_to_stderr) -> PiRoot:
    """The cached root for the current recipe, built first if missing or incomplete."""
    spec = recipe()
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    cache = cache_dir()
    pi = PiRoot(cache / f"pi-root-{key}")
    if pi.is_complete(spec):
        return pi
    require_tools(QEMU, MMDEBSTRAP)
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f"pi-root-{key}.lock"):
        if pi.is_complete(spec):  # another process built it while we waited
            return pi
        start = time.perf_counter()
        log(f"building the emulated Raspberry Pi root in {pi.path} (once) ...")
        building = Path(tempfile.mkdtemp(prefix=f".pi-root-{key}-", dir=cache))
        try:
            _build(PiRoot(building), spec, log)
            if pi.path.exists():
                shutil.rmtree(pi.path)
            building.rename(pi.path)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        log(f"emulated Raspberry Pi root ready in {time.perf_counter() - start:.0f} s")
    return pi


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so parallel test workers build a root once between them."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build(pi: PiRoot, spec: dict[str, Any], log: Callable[[str], None]) -> None:
    mirror = apt_mirror()
    log(f"  mmdebstrap {SUITE} arm64 from {mirror}")
    run_tool(
        [
            MMDEBSTRAP,
            "--variant=extract",
            "--architectures=arm64",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            SUITE,
            str(pi.tree),
            mirror,
        ],
        f"build the {SUITE} arm64 root from {mirror}",
        timeout=1800,
    )
    wheels = [f"{name}=={version}" for name, version in spec["wheels"].items()]
    log(f"  pip install aarch64 wheels: {' '.join(wheels)}")
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    tag = "cp{}{}".format(*GUEST_PYTHON)
    run_tool(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
         str(pi.site), "--only-binary=:all:", *platforms, "--python-version", spec["python"],
         "--implementation", "cp", "--abi", tag, *wheels],
        "download the aarch64 wheels",
        timeout=1800,
    )  # fmt: skip
    _compile_bytecode(pi)
    for board in BOARDS.values():
        view = pi.view(board)
        view.mkdir()
        for entry in pi.tree.iterdir():
            if entry.name != "proc":
                (view / entry.name).symlink_to(Path("..") / "root" / entry.name)
        (view / "proc").mkdir()
        (view / "proc" / "cpuinfo").write_text(board.cpuinfo())
    (pi.path / "recipe.json").write_text(json.dumps(spec, indent=1))


def _compile_bytecode(pi: PiRoot) -> None:
    """Byte-compile the stdlib and the wheels: seconds natively, ~20 s under emulation.

    A host Python of the guest's minor version writes the same .pyc files. The
    exit status is ignored because the stdlib ships some deliberately invalid
    test files; a file left uncompiled only costs start-up time.
    """
    dirs = [str(pi.tree / "usr" / "lib" / "python{}.{}".format(*GUEST_PYTHON)), str(pi.site)]
    if sys.version_info[:2] == GUEST_PYTHON:
        cmd = [sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs]
    else:
        cmd = [*qemu_command(BOARDS["pi4"]), "-L", str(pi.tree), str(pi.python), "-S"]
        cmd += ["-m", "compileall", "-q", *dirs]
    subprocess.run(cmd, capture_output=True, timeout=1800, check=False)
