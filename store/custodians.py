"""The vault key and its custodians: an HPKE (RFC 9180) X25519 key pair whose private
half exists only as M-of-N Shamir shares held by named custodians.

`new_vault_key` makes the key pair in memory, splits the private key with SLIP-39
(Trezor's reference `shamir-mnemonic`: shares are word lists with a checksum, so a
mistyped share is caught before it is used); `write_custodians` writes one share file
per custodian and keeps only the public key and a commitment per share
(`STORE/vault/custodians.json`). The private key is never written; it is rebuilt in
memory for an approved reveal.

A commitment is SHA-256 over a domain tag, the custodian's name and the share's words:
a share has over 128 bits of entropy, so the commitment hides it, and it ties the share
to its holder (custodian A cannot present B's share as her own).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import shamir_mnemonic
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from store.layout import StoreLayout

DEFAULT_CUSTODIAN = "dpo"
MAX_CUSTODIANS = 16  # SLIP-39: at most 16 members in a group
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
_COMMIT_DOMAIN = b"loggvern/share-commitment/v1\x00"
SHARE_SUFFIX = ".share"
VAULT_CONFIG_FILE = "custodians.json"


class CustodianError(ValueError):
    """Custodians, a threshold or a share is invalid; the message names what and why."""


class Custodian(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    commitment: str = Field(pattern=r"^[0-9a-f]{64}$")


class VaultConfig(BaseModel):
    """What the store keeps: the public key, the quorum and one commitment per share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    threshold: int = Field(ge=1)
    custodians: tuple[Custodian, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.custodians]

    def public(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))

    @property
    def fingerprint(self) -> str:
        return "x25519:" + hashlib.sha256(bytes.fromhex(self.public_key)).hexdigest()[:32]

    def commitment_of(self, name: str) -> str:
        for custodian in self.custodians:
            if custodian.name == name:
                return custodian.commitment
        raise CustodianError(f"{name!r} is not a custodian of this store ({', '.join(self.names)})")


@dataclass(frozen=True)
class Share:
    """One custodian's share as read from a file; repr() never shows the words."""

    custodian: str
    words: str = field(repr=False)
    source: str = ""  # the file it came from, for messages


def commitment(name: str, words: str) -> str:
    return hashlib.sha256(_COMMIT_DOMAIN + name.encode() + b"\x00" + words.encode()).hexdigest()


def parse_custodians(names: str | None, threshold: int | None) -> tuple[list[str], int, bool]:
    """Custodian names and threshold from the command line; the flag says a default
    single custodian was chosen (which deserves a warning)."""
    if not names:
        if threshold not in (None, 1):
            raise CustodianError("--threshold needs --custodians")
        return [DEFAULT_CUSTODIAN], 1, True
    listed = [n.strip() for n in names.split(",")]
    for name in listed:
        if not _NAME.match(name):
            raise CustodianError(
                f"custodian name {name!r}: use 1-32 lower-case letters, digits, '.', '_' or '-'"
            )
    if len(set(listed)) != len(listed):
        raise CustodianError("--custodians: a name is listed twice")
    if len(listed) > MAX_CUSTODIANS:
        raise CustodianError(f"--custodians: at most {MAX_CUSTODIANS} custodians")
    quorum = threshold if threshold is not None else (len(listed) // 2 + 1)
    if not 1 <= quorum <= len(listed):
        raise CustodianError(f"--threshold {quorum}: must be between 1 and {len(listed)}")
    return listed, quorum, False


@dataclass(frozen=True)
class NewVaultKey:
    """A fresh vault key's public configuration and its shares, before anything is
    written (so bad custodian settings fail before a store directory exists)."""

    config: VaultConfig
    shares: dict[str, str] = field(repr=False)  # custodian → share words


def new_vault_key(names: list[str], threshold: int) -> NewVaultKey:
    """Generate the key pair in memory and split the private key among `names`.

    SLIP-39 allows no 1-of-N member group, so a quorum of one gives each custodian a
    group of their own (1-of-1 members) of which any one group opens the secret."""
    private = X25519PrivateKey.generate()
    secret = private.private_bytes_raw()
    public_hex = private.public_key().public_bytes_raw().hex()
    try:
        if threshold == 1:
            groups = shamir_mnemonic.generate_mnemonics(1, [(1, 1)] * len(names), secret)
            words = [group[0] for group in groups]
        else:
            words = shamir_mnemonic.generate_mnemonics(1, [(threshold, len(names))], secret)[0]
    except ValueError as exc:
        raise CustodianError(
            f"cannot split the vault key {threshold} of {len(names)}: {exc}"
        ) from None
    del private, secret  # Python cannot wipe memory; at least hold no reference
    if _public_hex_of(words[:threshold]) != public_hex:
        raise CustodianError("the fresh shares do not rebuild the key; nothing was kept")
    custodians = tuple(
        Custodian(name=name, commitment=commitment(name, share))
        for name, share in zip(names, words, strict=True)
    )
    config = VaultConfig(public_key=public_hex, threshold=threshold, custodians=custodians)
    return NewVaultKey(config, dict(zip(names, words, strict=True)))


def write_custodians(layout: StoreLayout, key: NewVaultKey) -> list[Path]:
    """One share file per custodian, and the public configuration. Returns the share
    files (to be handed out and deleted)."""
    shares_dir = layout.root / "custodians"
    shares_dir.mkdir(mode=0o700)
    paths = write_share_files(shares_dir, key)
    vault_dir = layout.root / "vault"
    vault_dir.mkdir(mode=0o700, exist_ok=True)
    write_vault_config(vault_dir / VAULT_CONFIG_FILE, key.config)
    return paths


def write_share_files(directory: Path, key: NewVaultKey) -> list[Path]:
    """`<name>.share` per custodian in an existing directory (owner-only, fsynced; an
    existing file is never overwritten)."""
    total, threshold = len(key.shares), key.config.threshold
    paths = []
    for name, words in key.shares.items():
        path = directory / f"{name}{SHARE_SUFFIX}"
        _write_private(path, _share_text(name, words, threshold, total))
        paths.append(path)
    return paths


def write_vault_config(path: Path, config: VaultConfig) -> None:
    _write_private(path, config.model_dump_json(indent=2) + "\n")


def _public_hex_of(words: list[str]) -> str:
    """The public key derived back from a quorum of shares."""
    secret = shamir_mnemonic.combine_mnemonics(words)
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw().hex()


def load_vault_config(layout: StoreLayout) -> VaultConfig:
    path = layout.root / "vault" / VAULT_CONFIG_FILE
    try:
        return VaultConfig.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CustodianError(f"{path}: missing; this store has no vault key") from None
    except (OSError, ValueError) as exc:
        raise CustodianError(f"{path}: unreadable vault configuration ({exc})") from None


def read_share(path: Path) -> Share:
    """Read a share file (`custodian:` and `share:` lines; `#` comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CustodianError(f"{path}: cannot read share ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CustodianError(f"{path}: share file is not UTF-8 text") from None
    fields: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition(":")
        if not sep or key.strip() not in ("custodian", "share"):
            raise CustodianError(f"{path}: line {line_no}: expected 'custodian:' or 'share:'")
        if key.strip() in fields:
            raise CustodianError(f"{path}: line {line_no}: '{key.strip()}' given twice")
        fields[key.strip()] = value.strip()
    for key in ("custodian", "share"):
        if not fields.get(key):
            raise CustodianError(f"{path}: no '{key}:' line")
    words = " ".join(fields["share"].lower().split())
    return Share(custodian=fields["custodian"], words=words, source=str(path))


def verify_share(config: VaultConfig, share: Share, custodian: str | None = None) -> None:
    """The share matches the commitment of the custodian it names (and, if given, the
    custodian acting): refuses a wrong, altered or swapped share."""
    where = share.source or "share"
    if custodian is not None and share.custodian != custodian:
        raise CustodianError(
            f"{where}: this share belongs to {share.custodian!r}, not to {custodian!r}"
        )
    expected = config.commitment_of(share.custodian)
    if not hmac.compare_digest(commitment(share.custodian, share.words), expected):
        raise CustodianError(
            f"{where}: share does not match custodian {share.custodian!r}'s commitment"
        )


def rebuild_private_key(config: VaultConfig, shares: list[Share]) -> X25519PrivateKey:
    """The vault private key, in memory only, from a quorum of verified shares."""
    names = [s.custodian for s in shares]
    if len(set(names)) != len(names):
        raise CustodianError("the same custodian's share was given twice")
    if len(shares) < config.threshold:
        raise CustodianError(
            f"{len(shares)} share(s) given; the quorum is {config.threshold} of "
            f"{len(config.custodians)}"
        )
    for share in shares:
        verify_share(config, share)
    quorum = [s.words for s in shares[: config.threshold]]  # SLIP-39 takes exactly M
    try:
        secret = shamir_mnemonic.combine_mnemonics(quorum)
    except shamir_mnemonic.MnemonicError:
        # the library's message quotes share words; say only what failed
        raise CustodianError("the shares do not combine (SLIP-39 check failed)") from None
    private = X25519PrivateKey.from_private_bytes(secret)
    if private.public_key().public_bytes_raw().hex() != config.public_key:
        raise CustodianError("the shares rebuild a key that is not this vault's key")
    return private


def _share_text(name: str, words: str, threshold: int, total: int) -> str:
    return (
        f"# loggvern custodian share: {threshold} of {total} shares open the identity vault.\n"
        "# Give this file to its custodian, who keeps it off the log host; then delete it\n"
        "# from the store. A share that stays in the store defeats the quorum.\n"
        f"custodian: {name}\n"
        f"share: {words}\n"
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
