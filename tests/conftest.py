"""Shared test helpers: fixed keys, fixture paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from store.keys import KeyRing

# CI machines are shared and noisy: no per-example deadlines, no too-slow health check.
settings.register_profile(
    "loggvern", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("loggvern")

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(
        pseudonym=bytes(range(32)),
        evidence=bytes(range(1, 33)),
        ipcrypt=bytes(range(2, 34)),
        deadletter=bytes(range(3, 35)),
    )
