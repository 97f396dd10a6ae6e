"""Fixtures and hypothesis profiles; shared helper functions live in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from edgegru.data import Dataset
from edgegru.nn.model import Model
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
