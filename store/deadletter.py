"""Dead letters at rest: rejected lines with file, line number and reason, encrypted.

They hold the original bytes (nothing is lost), and so plain identities; they are
sealed with AES-256-GCM under the dead-letter key and only `loggvern deadletter show`
opens them for the operator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"LGVDL1\n"
_AAD = b"loggvern/deadletter/v1"
SUFFIX = ".dl"

DEADLETTER_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.binary()),
    ]
)


class DeadLetterError(RuntimeError):
    pass


def seal(table: pa.Table, key: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, DEADLETTER_SCHEMA) as writer:
        writer.write_table(table.cast(DEADLETTER_SCHEMA))
    nonce = os.urandom(12)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, sink.getvalue().to_pybytes(), _AAD)


def unseal(blob: bytes, key: bytes, origin: Path) -> pa.Table:
    if not blob.startswith(MAGIC):
        raise DeadLetterError(f"{origin}: not a loggvern dead-letter file")
    nonce, body = blob[len(MAGIC) : len(MAGIC) + 12], blob[len(MAGIC) + 12 :]
    try:
        plain = AESGCM(key).decrypt(nonce, body, _AAD)
    except InvalidTag:
        raise DeadLetterError(f"{origin}: cannot decrypt (wrong key or damaged file)") from None
    return pa.ipc.open_stream(plain).read_all()


def write_sealed(path: Path, table: pa.Table, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seal(table, key))


def read_all(directory: Path, key: bytes) -> Iterator[tuple[Path, pa.Table]]:
    """Every dead-letter file under `directory`, oldest run first."""
    for path in sorted(directory.rglob("*" + SUFFIX)):
        yield path, unseal(path.read_bytes(), key, path)
