"""Filing a break-glass request: refused unless the purpose is lawful, the case is
open, the justification says enough, and every pseudonym occurs in the case's evidence
(the lake, under that purpose, inside the window)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from queries.breakglass.lifecycle import refusals_ledgered
from queries.breakglass.request import (
    DEFAULT_VALIDITY,
    MIN_JUSTIFICATION,
    BreakGlassError,
    BreakGlassRequest,
    locked_requests,
    next_id,
    parse_notify,
    save_requests,
)
from queries.breakglass.scope import pseudonyms_in_lake
from schemas.purposes import parse_purpose
from store.cases import require_open_case
from store.custodians import load_vault_config
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


def file_request(
    layout: StoreLayout,
    ledger: Ledger,
    *,
    case_id: str,
    purpose: str,
    justification: str,
    pseudonyms: list[str],
    notify: str,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    notify_by: datetime | None = None,
    valid_for: timedelta = DEFAULT_VALIDITY,
) -> BreakGlassRequest:
    with refusals_ledgered(ledger, "breakglass request", None, case=case_id, purpose=purpose):
        lawful = parse_purpose(purpose)
        case = require_open_case(layout, case_id)
        if len(justification.strip()) < MIN_JUSTIFICATION:
            raise BreakGlassError(
                "justification",
                f"the justification must explain the need ({MIN_JUSTIFICATION}+ characters)",
            )
        wanted = list(dict.fromkeys(p.strip() for p in pseudonyms if p.strip()))
        if not wanted:
            raise BreakGlassError("invalid_request", "name at least one --pseudonym")
        now = datetime.now(UTC)
        start = window_from or case.window_from
        end = window_to or case.window_end or now
        if start < case.window_from or (case.window_end is not None and end > case.window_end):
            raise BreakGlassError(
                "out_of_scope", f"the window must lie inside case {case.id}'s window"
            )
        if end <= start:
            raise BreakGlassError("invalid_request", "--to must be after --from")
        if valid_for <= timedelta(0):
            raise BreakGlassError("invalid_request", "the validity must be positive")
        notice = parse_notify(notify, now, notify_by)
        present = pseudonyms_in_lake(layout, lawful, wanted, start, end)
        missing = [p for p in wanted if p not in present]
        if missing:
            raise BreakGlassError(
                "out_of_scope",
                f"not in the lake under {lawful.value} between {start:%Y-%m-%d %H:%M} and "
                f"{end:%Y-%m-%d %H:%M} UTC: {', '.join(missing[:10])}"
                + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""),
            )
        threshold = load_vault_config(layout).threshold
        with locked_requests(layout) as requests:
            request = BreakGlassRequest(
                id=next_id(requests), case=case.id, purpose=lawful,
                justification=justification.strip(), pseudonyms=tuple(wanted),
                window_from=start, window_to=end, notify=notice, requested_by=ledger.actor,
                requested_at=now, expires_at=now + valid_for, threshold=threshold,
            )  # fmt: skip
            ledger.append(
                EntryKind.BREAKGLASS_REQUESTED, {"request": request.model_dump(mode="json")}
            )
            requests[request.id] = request
            save_requests(layout, requests)
        return request
