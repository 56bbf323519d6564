"""A custodian's approval: a recorded decision, after the custodian's share has been
checked against its commitment. The share itself is never stored (a quorum of stored
shares would be the vault key)."""

from __future__ import annotations

from datetime import UTC, datetime

from queries.breakglass.lifecycle import current_request, refusals_ledgered, require_live
from queries.breakglass.request import (
    Approval,
    BreakGlassError,
    BreakGlassRequest,
    State,
    locked_requests,
    save_requests,
)
from store.custodians import CustodianError, Share, load_vault_config, verify_share
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


def approve_request(
    layout: StoreLayout, ledger: Ledger, request_id: str, custodian: str, share: Share
) -> BreakGlassRequest:
    with refusals_ledgered(ledger, "breakglass approve", request_id):
        with locked_requests(layout) as requests:
            config = load_vault_config(layout)  # under the lock a reshare also holds
            request = current_request(layout, ledger, requests, request_id)
            require_live(request)
            if custodian == request.requested_by:
                raise BreakGlassError(
                    "requester_as_approver", f"{custodian} filed {request.id} and cannot approve it"
                )
            if custodian in request.approvers:
                raise BreakGlassError(
                    "approved_twice", f"{custodian} has already approved {request.id}"
                )
            try:
                verify_share(config, share, custodian)
            except CustodianError as exc:
                raise BreakGlassError("bad_share", str(exc)) from None
            approvals = [*request.approvers, custodian]
            now_approved = len(approvals) >= request.threshold
            ledger.append(
                EntryKind.BREAKGLASS_APPROVED,
                {
                    "request": request.id,
                    "custodian": custodian,
                    "approvals": approvals,
                    "threshold": request.threshold,
                    "state": State.APPROVED.value if now_approved else State.PENDING.value,
                },
            )
            request.approvals.append(Approval(custodian=custodian, at=datetime.now(UTC)))
            save_requests(layout, requests)
        return request
