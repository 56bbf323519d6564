"""Shared test helpers: fixed keys, fixture paths, the day ingest counts retention from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from store.keys import KeyRing
from transforms import expire

# CI machines are shared and noisy: no per-example deadlines, no too-slow health check.
settings.register_profile(
    "loggvern", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("loggvern")

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"

# Ingest drops lines already past retention on the day a run is planned. The fixture
# files are years old and the synthetic logs have fixed dates, so tests ingest as on a
# day before all of them: no line is past retention unless a test moves the day
# (tests/test_expire.py).
INGEST_DAY = date(2000, 1, 1)


@pytest.fixture(scope="session", autouse=True)
def ingest_day() -> Iterator[date]:
    """Session-wide, so module-scoped stores are built on that day too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expire, "run_date", lambda: INGEST_DAY)
        yield INGEST_DAY


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing(
        pseudonym=bytes(range(32)),
        evidence=bytes(range(1, 33)),
        ipcrypt=bytes(range(2, 34)),
        deadletter=bytes(range(3, 35)),
    )
