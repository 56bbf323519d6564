"""One writer at a time changes the lake: ingest (each run, or each follow-mode batch),
dead-letter replay and retention runs take `STORE/write.lock` for the whole of their
change. Readers never take it (they only see committed files). An flock dies with its
process, so a killed writer never leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from store.layout import StoreError, StoreLayout

LOCK_FILE = "write.lock"


class StoreBusyError(StoreError):
    """Another writer holds the store and the caller chose not to wait."""


@contextmanager
def store_writer(layout: StoreLayout, wait: bool = True) -> Iterator[None]:
    fd = os.open(layout.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StoreBusyError(
                f"{layout.root}: another ingest, replay or retention run is writing; "
                "try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)
