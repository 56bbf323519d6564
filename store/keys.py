"""The store's secret keys: generated with `cryptography`, owner-only on disk, never in
the lake, the catalog, output or logs.

- pseudonym: HMAC-SHA256 keys for user/device/host pseudonyms, one per key period
  (`pseudonym-<id>.key`; see store/key_periods.py)
- evidence:  HMAC-SHA256 key for the evidence tag of each raw line (legal log)
- ipcrypt:   ipcrypt-pfx key (two AES-128 keys) for internal addresses
- deadletter: AES-256-GCM key for dead letters at rest (they hold raw lines)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from store.key_files import KeyFileError, new_key, read_key_file, write_key_file
from store.key_periods import FIRST_PERIOD, key_file, read_periods, start_first_period

KEY_NAMES = ("evidence", "ipcrypt", "deadletter")  # one file each: `<name>.key`
PSEUDONYM_KEY_ID = FIRST_PERIOD  # the first period; `KeyRing.pseudonym_key_id` is current


@dataclass(frozen=True)
class KeyRing:
    """Key material in memory. repr() never shows the bytes.

    `pseudonym` and `pseudonym_key_id` are the current period's; `pseudonym_keys` holds
    every period not yet destroyed (the current one included), `destroyed_periods` when
    each destroyed one went."""

    pseudonym: bytes = field(repr=False)
    evidence: bytes = field(repr=False)
    ipcrypt: bytes = field(repr=False)
    deadletter: bytes = field(repr=False)
    pseudonym_key_id: str = PSEUDONYM_KEY_ID
    pseudonym_keys: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    destroyed_periods: dict[str, datetime] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        live = dict(self.pseudonym_keys) or {self.pseudonym_key_id: self.pseudonym}
        if live.get(self.pseudonym_key_id) != self.pseudonym:
            raise ValueError("the current pseudonym key must be among the period keys")
        object.__setattr__(self, "pseudonym_keys", live)

    def pseudonym_key_for(self, key_id: str) -> bytes:
        """The key of one period; KeyFileError if it was destroyed or never existed."""
        key = self.pseudonym_keys.get(key_id)
        if key is not None:
            return key
        destroyed = self.destroyed_periods.get(key_id)
        if destroyed is not None:
            raise KeyFileError(
                f"key period {key_id} was destroyed on {destroyed:%Y-%m-%d %H:%M} UTC: "
                "pseudonyms of that period can no longer be re-identified"
            )
        raise KeyFileError(f"key period {key_id} is not a key period of this store")


def _new_ipcrypt_key() -> bytes:
    while True:  # ipcrypt-pfx needs two different AES-128 halves
        key = new_key()
        if key[:16] != key[16:]:
            return key


def generate_keys(key_dir: Path) -> list[str]:
    """Create the key directory (0700), one file per key (0600) and the first pseudonym
    key period. Returns the key files' names."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=False)
    os.chmod(key_dir, 0o700)
    for name in KEY_NAMES:
        material = _new_ipcrypt_key() if name == "ipcrypt" else new_key()
        write_key_file(key_dir / f"{name}.key", material)
    first = start_first_period(key_dir)
    return [key_file(key_dir, first.id).name] + [f"{name}.key" for name in KEY_NAMES]


def load_keys(key_dir: Path) -> KeyRing:
    """Read the keys, refusing files that group or others could read."""
    values = {name: read_key_file(key_dir / f"{name}.key") for name in KEY_NAMES}
    periods = read_periods(key_dir)
    live = {p.id: read_key_file(key_file(key_dir, p.id)) for p in periods if p.destroyed is None}
    current = periods[-1].id
    return KeyRing(
        pseudonym=live[current],
        pseudonym_key_id=current,
        pseudonym_keys=live,
        destroyed_periods={p.id: p.destroyed for p in periods if p.destroyed is not None},
        **values,
    )
