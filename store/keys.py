"""The store's secret keys: generated with `cryptography`, owner-only on disk, never in
the lake, the catalog, output or logs.

- pseudonym: HMAC-SHA256 key for user/device/host pseudonyms
- evidence:  HMAC-SHA256 key for the evidence tag of each raw line (legal log)
- ipcrypt:   ipcrypt-pfx key (two AES-128 keys) for internal addresses
- deadletter: AES-256-GCM key for dead letters at rest (they hold raw lines)
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_NAMES = ("pseudonym", "evidence", "ipcrypt", "deadletter")
PSEUDONYM_KEY_ID = "k1"  # the pseudonym key period; rotation adds periods later


class KeyFileError(RuntimeError):
    """A key file is missing, malformed or readable by others."""


@dataclass(frozen=True)
class KeyRing:
    """Key material in memory. repr() never shows the bytes."""

    pseudonym: bytes = field(repr=False)
    evidence: bytes = field(repr=False)
    ipcrypt: bytes = field(repr=False)
    deadletter: bytes = field(repr=False)
    pseudonym_key_id: str = PSEUDONYM_KEY_ID


def _new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _new_ipcrypt_key() -> bytes:
    while True:  # ipcrypt-pfx needs two different AES-128 halves
        key = AESGCM.generate_key(bit_length=256)
        if key[:16] != key[16:]:
            return key


def generate_keys(key_dir: Path) -> None:
    """Create the key directory (0700) and one file per key (0600)."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=False)
    os.chmod(key_dir, 0o700)
    for name in KEY_NAMES:
        material = _new_ipcrypt_key() if name == "ipcrypt" else _new_key()
        path = key_dir / f"{name}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(material.hex().encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())


def load_keys(key_dir: Path) -> KeyRing:
    """Read the keys, refusing files that group or others could read."""
    values: dict[str, bytes] = {}
    for name in KEY_NAMES:
        path = key_dir / f"{name}.key"
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
        if len(material) != 32:
            raise KeyFileError(f"{path}: key must be 32 bytes")
        values[name] = material
    return KeyRing(**values)
