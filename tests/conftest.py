"""Fixtures and hypothesis profiles; shared helper functions live in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset
from edgegru.nn.model import Model
from edgegru.targets.pi.root import PiRoot, ensure_root
from edgegru.targets.pi.tools import CROSS_CC, MMDEBSTRAP, QEMU, require_tools
from tests.helpers import SHARED, train_uea

# Fuzz tests (hypothesis): a bounded run in CI, a long one on demand, e.g.
#   HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests -k fuzz -p no:xdist
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared/datasets, or a skip with the reason when this checkout has none."""
    if not SHARED.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED} (a user's fresh clone has none)")
    return SHARED


@pytest.fixture(scope="session")
def basic_motions(shared: Path) -> tuple[Dataset, Dataset, Model]:
    """BasicMotions trained once per test session (about 10 s)."""
    return train_uea(shared, "BasicMotions")


@pytest.fixture(scope="session")
def pi_root() -> PiRoot:
    """The cached emulated Pi root (built on first use); a missing tool fails every test that
    needs it (never skips: the Pi is part of what CI checks)."""
    try:
        require_tools(QEMU, MMDEBSTRAP, CROSS_CC)
        return ensure_root()
    except EdgeGruError as exc:
        problem = str(exc)
    pytest.fail(f"the emulated Raspberry Pi is unavailable: {problem}", pytrace=False)
