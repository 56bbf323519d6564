"""The identity vault: pseudonym → the identity behind it, sealed with HPKE (RFC 9180:
X25519, HKDF-SHA256, AES-256-GCM) to the custodians' public key.

Ingest seals; nothing on the store host can open (the private key exists only as the
custodians' shares). Each entry is bound to its pseudonym twice:
- the pseudonym is the HPKE `info`, so a sealed identity moved to another pseudonym
  does not open;
- a MAC with a key derived from the pseudonym key, so an entry sealed by someone who
  only has the public key is recognised as foreign before it is exported in a bundle.
Reveal additionally checks that the opened identity HMACs to its pseudonym.

Entries live in `STORE/vault/entries/<run>.parquet`, one per pseudonym across the vault.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from store.layout import StoreLayout

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO = b"loggvern/vault/v1\x00"
_MAC_LABEL = b"loggvern/vault-mac/v1"
VAULT_SCHEMA = pa.schema(
    [
        pa.field("pseudonym", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("sealed", pa.binary(), nullable=False),
        pa.field("mac", pa.binary(), nullable=False),
    ]
)


class VaultError(RuntimeError):
    """A vault entry is missing, foreign or does not open."""


def entries_dir(layout: StoreLayout) -> Path:
    return layout.root / "vault" / "entries"


def mac_key(pseudonym_key: bytes) -> bytes:
    """The vault MAC key, derived from the pseudonym key (a separate label, so a MAC is
    never a pseudonym)."""
    return hmac.digest(pseudonym_key, _MAC_LABEL, "sha256")


def entry_mac(key: bytes, pseudonym: str, kind: str, sealed: bytes) -> bytes:
    message = pseudonym.encode() + b"\x00" + kind.encode() + b"\x00" + sealed
    return hmac.digest(key, message, "sha256")


class Sealer:
    """Seals identities to the vault's public key; holds no way to open them."""

    def __init__(self, public_key: X25519PublicKey, vault_mac_key: bytes) -> None:
        self._public = public_key
        self._mac_key = vault_mac_key

    def seal(self, identities: list[tuple[str, str, str]]) -> pa.Table:
        """(pseudonym, kind, canonical value) → vault rows."""
        pseudonyms, kinds, sealed, macs = [], [], [], []
        for pseudonym, kind, value in identities:
            plain = kind.encode() + b"\x00" + value.encode()
            box = SUITE.encrypt(plain, self._public, info=_INFO + pseudonym.encode())
            pseudonyms.append(pseudonym)
            kinds.append(kind)
            sealed.append(box)
            macs.append(entry_mac(self._mac_key, pseudonym, kind, box))
        return pa.table([pseudonyms, kinds, sealed, macs], schema=VAULT_SCHEMA)


def open_sealed(private_key: X25519PrivateKey, pseudonym: str, sealed: bytes) -> tuple[str, str]:
    """(kind, canonical value) of one entry; VaultError if it does not open for this
    pseudonym."""
    try:
        plain = SUITE.decrypt(sealed, private_key, info=_INFO + pseudonym.encode())
    except (InvalidTag, ValueError):
        raise VaultError(f"{pseudonym}: the vault entry does not open with this key") from None
    kind, sep, value = plain.decode("utf-8", errors="replace").partition("\x00")
    if not sep:
        raise VaultError(f"{pseudonym}: the vault entry is malformed")
    return kind, value


def vault_pseudonyms(layout: StoreLayout) -> set[str]:
    files = _entry_files(layout)
    if not files:
        return set()
    column = ds.dataset(files, format="parquet").to_table(columns=["pseudonym"]).column(0)
    return set(pc.unique(column).to_pylist())


def find_entries(layout: StoreLayout, pseudonyms: list[str]) -> pa.Table:
    """Every vault row of these pseudonyms (a planted file may add rows; see
    `genuine_entries`)."""
    files = _entry_files(layout)
    if not files or not pseudonyms:
        return VAULT_SCHEMA.empty_table()
    wanted = pc.field("pseudonym").isin(pa.array(pseudonyms, pa.string()))
    return ds.dataset(files, format="parquet", schema=VAULT_SCHEMA).to_table(filter=wanted)


def genuine_entries(table: pa.Table, vault_mac_key: bytes) -> tuple[pa.Table, list[str]]:
    """One entry per pseudonym among those whose MAC is valid, and the pseudonyms that
    have rows but none genuine (sealed by someone without the pseudonym key)."""
    good = [
        hmac.compare_digest(mac, entry_mac(vault_mac_key, p, k, sealed))
        for p, k, sealed, mac in zip(
            *(table.column(c).to_pylist() for c in VAULT_SCHEMA.names), strict=True
        )
    ]
    genuine = first_per_pseudonym(table.filter(pa.array(good, pa.bool_())))
    kept = set(genuine.column("pseudonym").to_pylist())
    foreign = sorted(set(table.column("pseudonym").to_pylist()) - kept)
    return genuine, foreign


def first_per_pseudonym(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    numbered = table.append_column("_i", pa.array(range(table.num_rows), pa.int64()))
    firsts = numbered.group_by("pseudonym", use_threads=False).aggregate([("_i", "min")])
    return table.take(pc.sort_indices(firsts.column("_i_min")).to_numpy())  # type: ignore[arg-type]


def write_run_entries(layout: StoreLayout, run_id: str, staged: Iterable[Path]) -> int:
    """Add a run's sealed identities (its staged entry files, in order), once per
    pseudonym across the vault (atomic rename). Returns how many were new.

    One staged file is read at a time and appended to the run's entry file, so the
    commit holds the vault's pseudonyms (names only), not every sealed entry of the run
    at once (that made the commit the peak of a run with many distinct identities)."""
    known = vault_pseudonyms(layout)
    target_dir = entries_dir(layout)
    tmp = target_dir / f".{run_id}.parquet.tmp"
    writer: pq.ParquetWriter | None = None
    added = 0
    try:
        for path in staged:
            table = pq.read_table(path).cast(VAULT_SCHEMA)
            new = []
            for row, pseudonym in enumerate(table.column("pseudonym").to_pylist()):
                if pseudonym not in known:
                    known.add(pseudonym)
                    new.append(row)
            if not new:
                continue
            if writer is None:
                target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                writer = pq.ParquetWriter(tmp, VAULT_SCHEMA, compression="zstd")
            writer.write_table(table.take(pa.array(new, pa.int64())))
            added += len(new)
        if writer is None:
            return 0
        writer.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target_dir / f"{run_id}.parquet")
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return added


def entries_digest(table: pa.Table) -> str:
    """SHA-256 over the entries in pseudonym order (what a bundle carries)."""
    digest = hashlib.sha256()
    for row in table.sort_by("pseudonym").to_pylist():
        for part in (row["pseudonym"].encode(), row["kind"].encode(), row["sealed"], row["mac"]):
            digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()


def _entry_files(layout: StoreLayout) -> list[str]:
    directory = entries_dir(layout)
    if not directory.is_dir():
        return []
    return sorted(str(p) for p in directory.glob("*.parquet"))
