"""Render a :class:`QuantizedModel` into C99 sources with the Jinja2 templates in ``templates/``.

Each layout has its own pair of templates, ``model_<layout>.c.j2`` and
``weights_<layout>.h.j2`` (extending ``model.c.j2`` and ``weights.h.j2``), and one context
(:mod:`edgegru.codegen.context`) holds every number and decision they print. The layouts
themselves are in :mod:`edgegru.codegen.layout`; the escaping of text from files, the
templates' only filters, in :mod:`edgegru.codegen.ctext`.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jinja2

from edgegru.codegen.context import hidden_macros, model_context, output_size, state_size
from edgegru.codegen.ctext import FileText, c_comment, c_string, check_prefix
from edgegru.codegen.layout import LAYOUTS
from edgegru.core.errors import EdgeGruError
from edgegru.core.version import __version__
from edgegru.quant.qmodel import QuantizedModel


@dataclass
class Rendered:
    """The generated files (name -> text) and the byte counts they were built from."""

    files: dict[str, str]
    weight_bytes: int
    const_bytes: int

    def write(self, directory: Path) -> None:
        """Write every file into ``directory`` (which must exist); a name with a ``/`` goes
        into the subdirectory it names (the Arduino library's ``src/``)."""
        for name, text in self.files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def environment() -> jinja2.Environment:
    """The Jinja2 environment over the packaged templates (works from a wheel too)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(importlib.resources.files("edgegru.templates"))),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["c_string"] = FileText.filter(c_string)
    env.filters["c_comment"] = FileText.filter(c_comment)
    return env


def render(qm: QuantizedModel, prefix: str, layout: str) -> Rendered:
    """Render ``<prefix>.h``, ``<prefix>.c`` and ``<prefix>_weights.h``, and for a classifier
    ``<prefix>_probabilities.c`` (the optional softmax, apart so that it costs nothing unused)."""
    check_prefix(prefix)
    if layout not in LAYOUTS:
        raise EdgeGruError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    context = model_context(qm, prefix, layout)
    values = {f.name: getattr(context, f.name) for f in fields(context)}
    env = environment()
    files = {}
    templates = [
        ("model.h.j2", f"{prefix}.h"),
        (f"model_{layout}.c.j2", f"{prefix}.c"),
        (f"weights_{layout}.h.j2", f"{prefix}_weights.h"),
    ]
    if context.head is not None and context.head.kind == "classification":
        templates.append(("probabilities.c.j2", f"{prefix}_probabilities.c"))
    for template, name in templates:
        files[name] = env.get_template(template).render(**values, filename=name)
    return Rendered(files, context.weight_bytes, context.const_bytes)


def render_harness(qm: QuantizedModel, prefix: str) -> str:
    """The verification harness (host and semihosted firmware) for this model."""
    check_prefix(prefix)
    P = prefix.upper()
    return (
        environment()
        .get_template("harness.c.j2")
        .render(
            p=prefix,
            P=P,
            version=__version__,
            input_size=qm.input_size,
            output_size=output_size(qm),
            hidden_macros=hidden_macros(P, len(qm.layers)),
            state_size=state_size(P, len(qm.layers)),
            state_ctype="int16_t" if qm.state_bits == 16 else "int8_t",
        )
    )


def render_bench(prefix: str, template: str, **extra: Any) -> str:
    """A benchmark harness (``bench_host.c.j2``, ``bench_cortex_m.c.j2``) for the model ``prefix``."""
    check_prefix(prefix)
    return (
        environment().get_template(template).render(p=prefix, P=prefix.upper(), version=__version__, **extra)
    )
