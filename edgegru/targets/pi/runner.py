"""Running Python on the emulated Pi: the root's python3.11 under qemu-aarch64-static.

The guest must see no host Python packages (torch above all): python runs with
``-S`` (no site directories) in an empty environment, with only the root's wheels
and a fresh copy of the edgegru package on PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgegru.core.errors import EdgeGruError
from edgegru.targets.pi.boards import get_board
from edgegru.targets.pi.root import PiRoot, ensure_root
from edgegru.targets.pi.tools import QEMU, qemu_command, require_tools


def stage_guest(pi: PiRoot, stage: Path) -> dict[str, str]:
    """Copy this edgegru package into ``stage`` (once) and return the environment the Pi's
    python runs in: the root's stdlib and wheels and that copy, nothing else."""
    package = stage / "edgegru"
    if not package.exists():
        source = Path(__file__).resolve().parents[2]  # edgegru/, from edgegru/targets/pi
        shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    return {
        "PYTHONPATH": os.pathsep.join([str(pi.site), str(stage)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUTF8": "1",
    }


def run_python(
    args: Sequence[str],
    *,
    board: str = "pi4",
    stdin: str | None = None,
    timeout: float = 600,
    root: PiRoot | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the Pi's python3.11 with ``args`` under qemu; edgegru is importable there.

    The guest sees the root's stdlib, the root's wheels and a fresh copy of this
    edgegru package, nothing else (no site directories, an empty environment,
    the working directory is the copy's). Host files are reachable by their
    paths. ``stdin`` is sent as standard input (empty without it). The caller
    inspects the returned process (exit status, output).
    """
    pi = root or ensure_root()
    target = get_board(board)
    require_tools(QEMU)
    with tempfile.TemporaryDirectory(prefix="edgegru-pi-") as stage:
        env = stage_guest(pi, Path(stage))
        cmd = [*qemu_command(target), "-L", str(pi.view(target)), str(pi.python), "-S", *args]
        # Without text to send, stdin is empty rather than the caller's terminal.
        feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        try:
            return subprocess.run(
                cmd, env=env, cwd=stage, capture_output=True, text=True, timeout=timeout, **feed
            )
        except subprocess.TimeoutExpired:
            raise EdgeGruError(
                f"emulated {target.name}: python did not finish within {timeout:.0f} s"
            ) from None
