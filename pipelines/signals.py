"""SIGINT and SIGTERM during the short stretch where a run is being committed are held
back until the commit is through (a commit interrupted half-way would be finished by
the next writer anyway, but there is no reason to make it do so); follow mode uses
`StopFlag` so that a signal ends the loop between micro-batches instead of inside one.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def hold(signum: int, frame: FrameType | None) -> None:
        del frame
        received.append(signum)

    for s in _SIGNALS:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in received[:1]:
            signal.raise_signal(signum)  # delivered now, to the handlers restored above


class StopFlag:
    """Set by SIGINT/SIGTERM; the follow loop checks it between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    def install(self) -> None:
        for s in _SIGNALS:
            signal.signal(s, self._set)

    def _set(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self.signal = signum
        self.event.set()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)
