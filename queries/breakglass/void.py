"""Voiding open break-glass requests when the custodians change (reshare).

An approval is a decision by a custodian in office, proved with a share of the vault key
of the time. A reshare retires those shares and may change who the custodians are and
how many must agree, so every request not yet revealed (pending or approved) is voided:
its approvals no longer count and the analyst files it again. Each void is ledgered
first. The requests stay locked for as long as the caller holds the context, so no
approval or reveal can slip in between the void and the new key taking over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from queries.breakglass.lifecycle import expire_due
from queries.breakglass.request import State, locked_requests, save_requests
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind

RESHARE_REASON = "custodians_reshared"


@contextmanager
def requests_voided(layout: StoreLayout, ledger: Ledger, reason: str) -> Iterator[list[str]]:
    """Void every pending or approved request (ledgered, saved) and keep the requests
    locked until the context ends; yields the voided ids."""
    with locked_requests(layout) as requests:
        changed = bool(expire_due(ledger, requests))  # ran out: expired, not voided
        now = datetime.now(UTC)
        voided = []
        for request in requests.values():
            if request.state(now) not in (State.PENDING, State.APPROVED):
                continue
            ledger.append(
                EntryKind.BREAKGLASS_VOIDED,
                {"request": request.id, "reason": reason, "approvals": request.approvers,
                 "threshold": request.threshold},
            )  # fmt: skip
            request.voided_at = now
            voided.append(request.id)
        if changed or voided:
            save_requests(layout, requests)
        yield voided
