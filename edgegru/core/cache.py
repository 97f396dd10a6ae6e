"""Where edgegru keeps what it builds once and reuses: emulated Pi roots, engine libraries."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/edgegru, else ~/.cache/edgegru (the XDG base-directory rule)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgegru"
