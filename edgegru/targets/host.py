"""Verify generated C bit-exactly on the host: compile with the host compiler and run.

The host check is the fastest and the one with sanitizers (ASan and UBSan); the
comparison itself is :func:`edgegru.targets.verify.verify_with`, shared with the other
targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgegru.core.toolchain import SANITIZE_FLAGS, STRICT_FLAGS, run_tool
from edgegru.quant.qmodel import QuantizedModel
from edgegru.targets.verify import VerifyReport, verify_with, write_sources


def verify_host(
    qm: QuantizedModel,
    x: np.ndarray,
    *,
    prefix: str = "model",
    layout: str = "rows",
    sanitize: bool = False,
    cc: str = "gcc",
    cflags: Sequence[str] = ("-O2",),
    workdir: Path | None = None,
) -> VerifyReport:
    """Compile the generated C with the host compiler and compare every value.

    ``cflags`` (optimisation and machine flags) follow the strict warning flags.
    """

    def build_and_run(directory: Path, input_path: Path) -> None:
        sources = write_sources(qm, directory, prefix, layout)
        exe = directory / "harness"
        flags = [*STRICT_FLAGS, *cflags, *(SANITIZE_FLAGS if sanitize else ())]
        run_tool([cc, *flags, *map(str, sources), "-o", str(exe)], "compile the generated C")
        run_tool([str(exe), str(input_path), str(directory / "output.bin")], "run the harness")

    built = [Path(cc).name] if Path(cc).name != "gcc" else []
    built += ["ASan+UBSan"] if sanitize else []
    name = "host" + (f" ({', '.join(built)})" if built else "")
    return verify_with(qm, x, name, build_and_run, workdir)
