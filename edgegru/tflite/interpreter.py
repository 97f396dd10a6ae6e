"""The TFLite interpreter a step model runs in: LiteRT's, else tflite_runtime's.

Only NumPy and the interpreter are imported, so that the runtime on a device (a Raspberry
Pi) needs neither torch nor the export code. LiteRT's C++ announces its default delegate on
file descriptor 2 once per process; :func:`create_interpreter` keeps that notice out of the
output of ``edgegru run`` while passing on the interpreter's real messages.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgegru.core.errors import EdgeGruError


def load_interpreter() -> Any:
    """The TFLite ``Interpreter`` class: ai_edge_litert's, else tflite_runtime's."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as exc:
        litert_error: Exception = exc
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except Exception as exc:  # a broken binary fails with ImportError or AttributeError
        raise EdgeGruError(interpreter_missing_message(litert_error, exc, np.__version__)) from None


# LiteRT's C++ prints this once per process, to file descriptor 2, when it applies its default
# delegate; it is news to nobody and preceded every line `edgegru run` printed, errors included.
DELEGATE_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
MAX_NATIVE_STDERR = 64 * 1024  # the most of the interpreter's own messages passed on


def create_interpreter(path: Path | str, num_threads: int = 1, **options: Any) -> Any:
    """A LiteRT (or tflite_runtime) interpreter with its tensors allocated, without the
    delegate notice: see :func:`_without_delegate_notice`. ``options`` go to the constructor."""
    interpreter_class = load_interpreter()
    with _without_delegate_notice():
        interpreter = interpreter_class(model_path=str(path), num_threads=num_threads, **options)
        interpreter.allocate_tensors()
    return interpreter


@contextmanager
def _without_delegate_notice() -> Iterator[None]:
    """Run the body with file descriptor 2 captured, then pass on every line of it except
    :data:`DELEGATE_NOTICE`.

    The notice comes from C++ (no Python logger, no option or environment variable turns it
    off), so the descriptor itself is redirected; the interpreter's real messages (an
    ``ERROR:`` about a bad model, say) still reach stderr, after the body, in their order.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read(MAX_NATIVE_STDERR).decode(errors="replace")
            kept = [line for line in text.splitlines(True) if line.strip() != DELEGATE_NOTICE]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def interpreter_missing_message(litert_error: Exception, tflite_error: Exception, numpy_version: str) -> str:
    """One line saying why no interpreter could be imported and how to get one."""
    not_installed = isinstance(tflite_error, ModuleNotFoundError) and (tflite_error.name or "").startswith(
        "tflite_runtime"
    )
    if not not_installed and int(numpy_version.split(".")[0]) >= 2:
        return (
            f"tflite_runtime failed to import ({tflite_error}): tflite-runtime 2.14 needs "
            f"numpy<2 (numpy {numpy_version} is installed); pip install 'numpy<2', "
            "or pip install ai-edge-litert"
        )
    return (
        f"no TFLite interpreter (ai_edge_litert: {litert_error}; tflite_runtime: {tflite_error}); "
        "install one with: pip install ai-edge-litert (or pip install tflite-runtime)"
    )
