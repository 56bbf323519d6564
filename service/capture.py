"""Per-thread stdout and stderr inside the service: the handlers print to `sys.stdout`
and `sys.stderr` (through rich consoles that look them up at each print), and each
call's thread must get its own text back, not its neighbour's.

`install()` replaces both streams once with routers; `capturing()` points the calling
thread's writes at a bounded buffer. Threads that capture nothing (Beam's workers, the
accept loop) write to the real streams as before.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Buffer(io.StringIO):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.size = 0
        self.cut = False

    def write(self, text: str) -> int:
        if self.cut:
            return len(text)
        self.size += len(text)
        if self.size > self.limit:
            self.cut = True
            return len(text)
        return super().write(text)


class _Router(io.TextIOBase):
    def __init__(self, real: io.TextIOBase, local: threading.local, name: str) -> None:
        self._real = real
        self._local = local
        self._name = name

    def _target(self) -> io.TextIOBase | None:
        return getattr(self._local, self._name, None)

    def write(self, text: str) -> int:
        target = self._target()
        return (target or self._real).write(text)

    def flush(self) -> None:
        (self._target() or self._real).flush()

    def isatty(self) -> bool:
        return False if self._target() is not None else self._real.isatty()

    def fileno(self) -> int:
        if self._target() is not None:
            raise io.UnsupportedOperation("a captured stream has no file descriptor")
        return self._real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_LOCAL = threading.local()


def install() -> None:
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router(sys.stdout, _LOCAL, "stdout")  # type: ignore[arg-type]
        sys.stderr = _Router(sys.stderr, _LOCAL, "stderr")  # type: ignore[arg-type]


@contextmanager
def capturing(limit: int) -> Iterator[tuple[Buffer, Buffer]]:
    out, err = Buffer(limit), Buffer(limit)
    _LOCAL.stdout, _LOCAL.stderr = out, err
    try:
        yield out, err
    finally:
        _LOCAL.stdout = _LOCAL.stderr = None
