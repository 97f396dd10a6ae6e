"""Running the external tools edgegru builds with (compilers, emulators, apt), and the flags
every build of generated C uses.

One runner, so that a missing tool, a time-out or a failed build is always one line naming
the tool and the step, with the tool's own first error line.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgegru.core.errors import EdgeGruError

# The generated C is held to these everywhere it is compiled: it must read like careful C99.
STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion")
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def run_tool(cmd: list[str], what: str, cwd: Path | None = None, timeout: float = 600) -> str:
    """Run a build, test or set-up command and return its output.

    Failures become one-line EdgeGruErrors with the tool's own first error line (a line
    with "error" in it, or apt's "E:").
    """
    if shutil.which(cmd[0]) is None:
        raise EdgeGruError(f"{cmd[0]} not found: install it to {what}")
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgeGruError(f"{what}: {Path(cmd[0]).name} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E:") or "error" in ln.lower()]
        detail = (errors or lines or ["no output"])[0]
        raise EdgeGruError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc.stdout
