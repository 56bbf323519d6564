"""One secret key on disk: 64 hex digits and a newline, owner-only (0600), written with
O_EXCL and fsynced; read back refusing files that group or others could read; and
destroyed by overwriting, fsyncing and unlinking it.

Overwriting before unlinking is a best effort: on a copy-on-write or journalling file
system, or an SSD, an old block may survive. It is what a program can do; the disk's
own encryption covers the rest.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.durable import fsync_dir

KEY_BYTES = 32


class KeyFileError(RuntimeError):
    """A key file is missing, malformed or readable by others, or a key period is gone."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def write_key_file(path: Path, material: bytes) -> None:
    """Create `path` (refusing an existing file) holding the key as hex, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(material.hex().encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read key ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: key file must be owner-only (chmod 600)")
    try:
        material = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path}: key file is not hex") from None
    if len(material) != KEY_BYTES:
        raise KeyFileError(f"{path}: key must be {KEY_BYTES} bytes")
    return material


def shred_key_file(path: Path) -> None:
    """Overwrite the file with random bytes of its own length, fsync, unlink, fsync the
    directory. A file already gone is fine (an interrupted earlier shred)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.pwrite(fd, os.urandom(max(size, 1)), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)
