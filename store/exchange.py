"""Swap two directories in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so a
crash leaves either the old directory in place or the new one, never neither.

Two plain renames (old away, new in) leave a moment with no directory at all; the
exchange has none. Python's `os` has no binding for it, so it is called through the C
library (glibc 2.28 or later; ext4, XFS, btrfs and tmpfs support it). `exchange_supported`
lets a caller refuse before any work where the filesystem does not.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from store.durable import fsync_dir

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class ExchangeError(OSError):
    """The directories could not be exchanged; nothing was moved."""


def exchange(a: Path, b: Path) -> None:
    """Atomically swap the directory entries `a` and `b` (same filesystem), then make the
    swap durable by syncing both parent directories."""
    function = _renameat2()
    if function is None:
        raise ExchangeError(f"{a}: this system's C library has no renameat2")
    result = function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        errno = ctypes.get_errno()
        raise ExchangeError(errno, f"cannot exchange {a} and {b}: {os.strerror(errno)}")
    fsync_dir(a.parent)
    if b.parent != a.parent:
        fsync_dir(b.parent)


def exchange_supported(scratch: Path) -> bool:
    """Whether exchanging works on the filesystem holding `scratch` (an absent path
    that is created for the probe and removed again)."""
    first, second = scratch / "a", scratch / "b"
    try:
        first.mkdir(parents=True)
        second.mkdir()
        (first / "mark").touch()
        exchange(first, second)
        return (second / "mark").is_file() and not (first / "mark").exists()
    except OSError:
        return False
    finally:
        for directory in (first, second):
            (directory / "mark").unlink(missing_ok=True)
            if directory.is_dir():
                directory.rmdir()
        if scratch.is_dir():
            scratch.rmdir()


def _renameat2():  # type: ignore[no-untyped-def]
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                             ctypes.c_uint]  # fmt: skip
        function.restype = ctypes.c_int
    return function
