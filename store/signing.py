"""The ledger's signing key (Ed25519, from `cryptography`) and the signed heads it makes.

A head says "the ledger's entry N has hash H", signed. The key lives with the store's
other keys (owner-only); its fingerprint is printed at `init` so an auditor can pin it
(`audit verify --key`), and heads kept outside the store (`audit verify --against`)
catch even a rewrite of the whole ledger with a fresh key.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict

SIGNING_KEY_FILE = "ledger-signing.key"
_DOMAIN = b"loggvern-ledger-head/v1\n"


class SigningKeyError(RuntimeError):
    """The signing key is missing, malformed or readable by others."""


class Head(BaseModel):
    """A signed statement that the ledger's entry `seq` has hash `hash`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    hash: str
    time: str
    public_key: str  # raw Ed25519 public key, hex
    fingerprint: str
    signature: str  # hex

    def message(self) -> bytes:
        return _message(self.seq, self.hash, self.time)

    def signature_valid(self) -> bool:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(bytes.fromhex(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return fingerprint(bytes.fromhex(self.public_key)) == self.fingerprint


def _message(seq: int, digest: str, time: str) -> bytes:
    return _DOMAIN + f"{seq}\n{digest}\n{time}".encode("ascii")


def fingerprint(public_key: bytes) -> str:
    """What auditors pin: SHA-256 of the raw public key, as `ed25519:<hex>`."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()


def normalise_fingerprint(text: str) -> str:
    text = text.strip().lower()
    return text if text.startswith("ed25519:") else "ed25519:" + text


class Signer:
    """Holds the private key in memory only while signing; repr never shows it."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.fingerprint = fingerprint(self.public_key)

    def __repr__(self) -> str:
        return f"Signer({self.fingerprint})"

    def sign(self, seq: int, digest: str, time: str) -> Head:
        signature = self._key.sign(_message(seq, digest, time))
        return Head(
            seq=seq, hash=digest, time=time, public_key=self.public_key.hex(),
            fingerprint=self.fingerprint, signature=signature.hex(),
        )  # fmt: skip

    def sign_document(self, domain: bytes, payload: bytes) -> bytes:
        """Signature over a domain tag and a payload (e.g. a break-glass bundle), so a
        signature made for one kind of document never verifies as another."""
        return self._key.sign(domain + payload)


def generate_signing_key(key_dir: Path) -> Signer:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    path = key_dir / SIGNING_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw.hex().encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Signer(key)


def load_signer(key_dir: Path) -> Signer:
    path = key_dir / SIGNING_KEY_FILE
    try:
        mode = path.stat().st_mode
        raw = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SigningKeyError(f"{path}: cannot read signing key ({type(exc).__name__})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"{path}: key file must be owner-only (chmod 600)")
    if len(raw) != 32:
        raise SigningKeyError(f"{path}: signing key must be 32 bytes")
    return Signer(Ed25519PrivateKey.from_private_bytes(raw))
