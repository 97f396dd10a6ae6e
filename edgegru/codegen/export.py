"""Write generated C to a directory, all or nothing.

Every C export also holds a CMakeLists.txt that builds the model as a static library
(:mod:`edgegru.codegen.cmake`). Files are rendered into a temporary directory beside the destination, which is
swapped into place only when everything is written (:func:`edgegru.core.atomic.atomic_directory`),
so an interrupted or failed export never leaves half a model behind and never loses the
previous export. An existing destination is replaced only if it holds nothing but a
previous export's files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegru.codegen.cmake import CMAKE_LISTS, cmake_lists
from edgegru.codegen.render import Rendered, render
from edgegru.core.atomic import atomic_directory, check_output_directory
from edgegru.core.errors import EdgeGruError
from edgegru.quant.qmodel import QuantizedModel

TARGETS = ("c99", "cortex-m")
REPORT_NAME = "{prefix}_footprint.json"


@dataclass
class CExport:
    """What an export wrote, and its sizes."""

    directory: Path
    files: list[str]
    layout: str
    weight_bytes: int
    const_bytes: int
    report: dict[str, Any] = field(default_factory=dict)


def layout_for(target: str) -> str:
    """c99 gets the host-vectorised rows; cortex-m the interleaved, stack-light layout."""
    if target not in TARGETS:
        raise EdgeGruError(f"target {target!r}: expected one of {', '.join(TARGETS)}")
    return "interleaved" if target == "cortex-m" else "rows"


def export_c(
    qm: QuantizedModel,
    out_dir: str | Path,
    prefix: str = "model",
    layout: str = "rows",
    report: dict[str, Any] | None = None,
    measure: Callable[[Path, Rendered], dict[str, Any]] | None = None,
) -> CExport:
    """Render the model, with a CMakeLists.txt that builds it as a library, into ``out_dir``
    atomically.

    ``measure``, when given, is called with the finished temporary directory and what was
    rendered into it, before it is moved into place: the footprint check compiles and
    sizes those very files (so the model is rendered once), may refuse the export by
    raising, and returns what it adds to the report.
    """
    rendered = render(qm, prefix, layout)
    rendered.files[CMAKE_LISTS] = cmake_lists(prefix, rendered.files)
    return write_export(qm, Path(out_dir), rendered, prefix, layout, report, measure)


def write_export(
    qm: QuantizedModel,
    out_dir: Path,
    rendered: Rendered,
    prefix: str,
    layout: str,
    report: dict[str, Any] | None = None,
    measure: Callable[[Path, Rendered], dict[str, Any]] | None = None,
) -> CExport:
    """Write ``rendered`` and ``<prefix>_footprint.json`` into ``out_dir`` all or nothing
    (``measure``: see :func:`export_c`); the C export and the Arduino library share this."""
    report_name = REPORT_NAME.format(prefix=prefix)
    names = {name.split("/")[0] for name in rendered.files} | {report_name}
    check_output_directory(out_dir, names)
    full_report = {
        "model": qm.describe(),
        "model_hash": qm.fingerprint(),
        "layout": layout,
        "weight_bytes": rendered.weight_bytes,
        "const_bytes": rendered.const_bytes,
        **(report or {}),
    }

    def fill(tmp: Path) -> None:
        rendered.write(tmp)
        if measure is not None:
            full_report.update(measure(tmp, rendered))
        (tmp / report_name).write_text(json.dumps(full_report, indent=2) + "\n")

    atomic_directory(out_dir, fill)
    return CExport(
        out_dir,
        sorted(names),
        layout,
        rendered.weight_bytes,
        rendered.const_bytes,
        full_report,
    )
