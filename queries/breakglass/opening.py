"""Opening sealed vault entries with a rebuilt key: the part of a reveal that is the
same on the store host and on a custodian's machine (bundle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from queries.breakglass.request import BreakGlassError
from store.custodians import CustodianError, Share, VaultConfig, rebuild_private_key
from store.vault import VaultError, open_sealed
from transforms.identity import AliasDirectory

# (pseudonym, kind, canonical value) → does the identity belong to the pseudonym?
Check = Callable[[str, str, str], bool]


@dataclass
class Opened:
    """Identities live here, in memory, until printed; never written."""

    identities: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    not_in_vault: list[str] = field(default_factory=list)
    failed_check: list[str] = field(default_factory=list)

    @property
    def revealed(self) -> list[str]:
        return list(self.identities)

    def ledger_fields(self) -> dict[str, list[str]]:
        """What the ledger gets: pseudonyms only."""
        return {
            "revealed": self.revealed,
            "not_in_vault": self.not_in_vault,
            "failed_check": self.failed_check,
        }


def describe(identity: str, aliases: AliasDirectory | None) -> str:
    """An employee id with the identifiers the alias directory lists for it (e-mail
    first), so custodians see a name they recognise; anything else as opened."""
    employee = identity.removeprefix("employee:")
    if aliases is None or employee == identity:
        return identity
    known = sorted((i for i, e in aliases.index.items() if e == employee),
                   key=lambda i: ("@" not in i, "_" in i, i))  # fmt: skip
    return f"{identity} ({', '.join(known[:3])})" if known else identity


def quorum_key(config: VaultConfig, shares: list[Share], approvers: list[str]) -> X25519PrivateKey:
    """The vault key from the shares of custodians who approved this request."""
    outsiders = [s.custodian for s in shares if s.custodian not in approvers]
    if outsiders:
        raise BreakGlassError(
            "not_an_approver",
            f"only custodians who approved may take part: {', '.join(sorted(set(outsiders)))} "
            "did not approve this request",
        )
    try:
        return rebuild_private_key(config, shares)
    except CustodianError as exc:
        raise BreakGlassError("bad_share", str(exc)) from None


def open_entries(
    key: X25519PrivateKey,
    entries: pa.Table,
    wanted: list[str],
    check: Check | None,
    foreign: list[str] | tuple[str, ...] = (),
) -> Opened:
    """Open exactly the wanted pseudonyms' entries (others in `entries` are ignored);
    `foreign` pseudonyms had only entries without a valid vault MAC."""
    rows = {r["pseudonym"]: r for r in entries.to_pylist() if r["pseudonym"] in set(wanted)}
    opened = Opened()
    for pseudonym in wanted:
        row = rows.get(pseudonym)
        if row is None:
            missing = opened.failed_check if pseudonym in foreign else opened.not_in_vault
            missing.append(pseudonym)
            continue
        try:
            kind, value = open_sealed(key, pseudonym, row["sealed"])
        except VaultError:
            opened.failed_check.append(pseudonym)
            continue
        if kind != row["kind"] or (check is not None and not check(pseudonym, kind, value)):
            opened.failed_check.append(pseudonym)
            continue
        opened.identities[pseudonym] = (kind, value)
    return opened
