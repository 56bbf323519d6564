"""Re-sealing vault entries to a new vault key (reshare): each entry is opened with the
old private key and sealed again to the new public key, one entry file at a time.

Every entry must carry a valid vault MAC (as a reveal checks) and open to the kind it is
filed under; anything else stops the reshare before the vault changes, because carrying
a foreign entry over would bless it with a fresh MAC, and dropping a genuine one that
does not open would lose an identity silently. The new entries keep the MAC scheme
(`vault.entry_mac`, keyed per pseudonym key period). Opened identities stay in
memory for the one file being re-sealed and are never written or printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from store.key_periods import key_id_of
from store.vault import VAULT_SCHEMA, Sealer, VaultError, entry_mac_valid, open_sealed


class ResealError(RuntimeError):
    """An entry cannot be carried over; the vault has not been changed."""


def reseal_file(
    source: Path,
    target: Path,
    old_key: X25519PrivateKey,
    new_public: X25519PublicKey,
    mac_keys: Mapping[str, bytes],
) -> int:
    """Write `source`'s entries, re-sealed, to `target` (owner-only, fsynced); returns
    how many."""
    try:
        table = pq.read_table(source).cast(VAULT_SCHEMA)
    except (OSError, ValueError) as exc:
        raise ResealError(f"{source}: unreadable vault entries ({type(exc).__name__})") from None
    identities: dict[str, list[tuple[str, str, str]]] = {}  # per key period
    for row in table.to_pylist():
        pseudonym, kind, sealed = row["pseudonym"], row["kind"], row["sealed"]
        if not entry_mac_valid(mac_keys, row):
            raise ResealError(
                f"{source.name}: the entry of {pseudonym} has no valid vault MAC (not sealed "
                "by this store, or its key period was destroyed); remove or explain it "
                "before resharing"
            )
        try:
            opened_kind, value = open_sealed(old_key, pseudonym, sealed)
        except VaultError as exc:
            raise ResealError(f"{source.name}: {exc}") from None
        if opened_kind != kind:
            raise ResealError(f"{source.name}: the entry of {pseudonym} opens to another kind")
        identities.setdefault(key_id_of(pseudonym) or "", []).append((pseudonym, kind, value))
    resealed = pa.concat_tables(
        [Sealer(new_public, mac_keys[period]).seal(rows) for period, rows in identities.items()]
        or [VAULT_SCHEMA.empty_table()]
    )
    del identities
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        pq.write_table(resealed, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    return resealed.num_rows
