"""One versioned file format for everything edgegru saves.

A container is a NumPy ``.npz`` archive (arrays, no pickles) with one extra member
holding JSON metadata: what kind of object it is and which format version wrote
it. Writing goes to a temporary file in the same directory that is renamed into
place, so an interrupted save never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_open
from .errors import EdgeGruError

META_KEY = "__edgegru_meta__"
FORMAT_NAME = "edgegru"


def save_container(
    path: str | Path, kind: str, version: int, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Atomically write ``arrays`` and ``meta`` as a container of ``kind``."""
    header = {"format": FORMAT_NAME, "kind": kind, "format_version": version, **meta}
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_open(path) as fh:
        np.savez(fh, **{META_KEY: blob}, **arrays)


def _read(path: Path, with_arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header (checked to be an edgegru container's) and, if asked, the arrays."""
    if not path.is_file():
        what = (
            "is a directory" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        )
        raise EdgeGruError(f"{path}: {what}; expected an edgegru model file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile) or META_KEY not in npz.files:
                raise EdgeGruError(f"{path}: not an edgegru file (no edgegru metadata inside)")
            header = json.loads(npz[META_KEY].tobytes().decode())
            arrays = {k: npz[k] for k in npz.files if k != META_KEY} if with_arrays else {}
    except EdgeGruError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as exc:
        # numpy's refusal of pickled data suggests loading it unsafely: never repeat that
        reason = "not an archive of plain arrays" if "pickle" in str(exc) else type(exc).__name__
        raise EdgeGruError(f"{path}: not a readable edgegru file ({reason})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise EdgeGruError(f"{path}: not an edgegru file")
    return header, arrays


def container_kind(path: str | Path) -> str:
    """The kind of object a container holds (read from its header alone)."""
    return str(_read(Path(path), with_arrays=False)[0].get("kind"))


def load_container(
    path: str | Path, kind: str, max_version: int, min_version: int = 1, redo: str = ""
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a container and check that it is a ``kind`` this edgegru can read.

    Versions below ``min_version`` are refused with ``redo``, the command that
    makes a current file.
    """
    path = Path(path)
    header, arrays = _read(path, with_arrays=True)
    if header.get("kind") != kind:
        raise EdgeGruError(f"{path}: holds a {header.get('kind')!r}, expected a {kind!r}")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise EdgeGruError(f"{path}: invalid format_version {version!r}")
    if version > max_version:
        raise EdgeGruError(
            f"{path}: written by a newer edgegru (format version {version}, this edgegru "
            f"reads up to {max_version}); upgrade edgegru"
        )
    if version < min_version:
        raise EdgeGruError(
            f"{path}: written by an older edgegru (format version {version}, this edgegru "
            f"reads {min_version} and later); {redo}"
        )
    return header, arrays
