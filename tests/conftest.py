"""Shared test helpers: fixed keys, fixture paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.keys import KeyRing

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
