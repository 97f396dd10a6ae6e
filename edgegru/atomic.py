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


def output_mode(directory: bool = False) -> int:
    """The permissions a new file (or directory) gets from the process's umask: temporary
    files are created private, and the renamed result should look like any other output."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def check_output_path(path: Path, what: str = "file") -> None:
    """Refuse output paths that are not a plain name in an existing directory, and (for a
    file) anything already there that is not a regular file: a device such as /dev/null
    must never be replaced by a rename."""
    if path.name in ("", ".", ".."):
        raise EdgeGruError(f"output path {str(path)!r}: expected a {what} name")
    if not path.parent.is_dir():
        raise EdgeGruError(f"{path}: directory {path.parent} does not exist")
    if what == "file" and (path.is_dir() or (path.exists() and not path.is_file())):
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise EdgeGruError(f"{path}: is {kind}; expected a file to write")


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only if the block succeeds."""
    path = Path(path)
    check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise EdgeGruError(f"{path}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, output_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)
