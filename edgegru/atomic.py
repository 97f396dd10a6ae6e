"""All-or-nothing file writes: a temporary file beside the target, renamed into place.

Every file edgegru writes goes through here, so an interrupted or failed write
never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import EdgeGruError


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only if the block succeeds."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EdgeGruError(f"{path}: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)
