"""Reveal on the store host: only for an approved request, only with the approving
custodians' shares entered together in this one command (they are present), and only
the requested pseudonyms. Every opened identity must HMAC to its pseudonym and its
entry must carry the vault MAC, both under the key of the pseudonym's key period; a
pseudonym whose period key was destroyed is refused. The key and the identities stay
in memory and go only to the terminal."""

from __future__ import annotations

import hmac

import pyarrow as pa

from queries.breakglass.lifecycle import (
    current_request,
    mark_revealed,
    refusals_ledgered,
    require_approved,
    require_live_keys,
)
from queries.breakglass.opening import Check, Opened, open_entries, quorum_key
from queries.breakglass.request import (
    BreakGlassRequest,
    locked_requests,
    save_requests,
)
from schemas.datasets import IdentityKind
from store.custodians import Share, load_vault_config
from store.key_periods import key_id_of
from store.keys import KeyRing, load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.vault import entry_mac_valid, find_entries, genuine_entries, vault_mac_keys
from transforms.pseudonymize import pseudonym_token


def reveal(
    layout: StoreLayout, ledger: Ledger, request_id: str, shares: list[Share]
) -> tuple[BreakGlassRequest, Opened]:
    with refusals_ledgered(ledger, "breakglass reveal", request_id):
        keys = load_keys(layout.keys)
        with locked_requests(layout) as requests:
            config = load_vault_config(layout)  # under the lock a reshare also holds
            request = current_request(layout, ledger, requests, request_id)
            require_approved(request)
            require_live_keys(keys, request.pseudonyms)
            key = quorum_key(config, shares, request.approvers)
            wanted = list(request.pseudonyms)
            body = {
                "request": request.id, "case": request.case, "purpose": request.purpose.value,
                "custodians": sorted(s.custodian for s in shares), "where": "store",
                "pseudonyms": wanted,
            }  # fmt: skip
            with ledger.action(
                EntryKind.BREAKGLASS_REVEAL_INTENT, EntryKind.BREAKGLASS_REVEAL_RESULT, body
            ) as outcome:
                found = find_entries(layout, wanted)
                entries, foreign = genuine_entries(found, vault_mac_keys(keys))
                check = store_check(keys, entries)
                opened = open_entries(key, entries, wanted, check, foreign)
                outcome.fields.update({"request": request.id, "where": "store"})
                outcome.fields.update(opened.ledger_fields())
            del key
            mark_revealed(request, body["custodians"], opened.revealed)
            save_requests(layout, requests)
        return request, opened


def store_check(keys: KeyRing, entries: pa.Table) -> Check:
    """On the store host both bindings can be checked, under the key of each
    pseudonym's period: the entry's vault MAC (not sealed by a mere holder of the public
    key) and HMAC(identity) == pseudonym."""
    mac_keys = vault_mac_keys(keys)
    genuine = {row["pseudonym"] for row in entries.to_pylist() if entry_mac_valid(mac_keys, row)}

    def check(pseudonym: str, kind: str, value: str) -> bool:
        if pseudonym not in genuine:
            return False
        expected = expected_pseudonym(keys, kind, value, key_id_of(pseudonym))
        return hmac.compare_digest(pseudonym, expected or "")

    return check


def expected_pseudonym(
    keys: KeyRing, kind: str, value: str, key_id: str | None = None
) -> str | None:
    """The pseudonym of an identity under one key period (default: the current one);
    None if the kind is unknown or the period has no key."""
    try:
        identity_kind = IdentityKind(kind)
    except ValueError:
        return None
    period = key_id or keys.pseudonym_key_id
    key = keys.pseudonym_keys.get(period)
    if key is None:
        return None
    return pseudonym_token(key, period, identity_kind, value)
