"""The break-glass section: every request to reveal the identities behind pseudonyms, as
the ledger recorded it (request, approvals, expiry or void, reveal, bundle, employee
notice), the rules a reveal must have kept, and the employee notices whose due date has
passed.

Break-glass is the one path that turns pseudonyms back into identities, so the auditor
sees each of its steps here, and the rules a reveal broke fail the report. The models
live in `audit.breakglass_models`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from audit.breakglass_models import (
    BreakGlassItem,
    BreakGlassSection,
    OverdueNotice,
    Reveal,
    Step,
)
from audit.ledger_view import LedgerView, as_int, as_text, outcome_of, truncate
from store.ledger_entry import EntryKind, LedgerEntry


def build_breakglass_section(view: LedgerView, now: datetime) -> BreakGlassSection:
    section = BreakGlassSection()
    items: dict[str, BreakGlassItem] = {}
    intents: dict[int, tuple[BreakGlassItem, Reveal]] = {}
    routes: Counter[str] = Counter()

    def item(request_id: Any) -> BreakGlassItem:
        rid = as_text(request_id) or "(none)"
        return items.setdefault(rid, BreakGlassItem(id=rid))

    for e in view.entries:
        body = e.body
        if e.kind is EntryKind.BREAKGLASS_REQUESTED:
            request = body.get("request") if isinstance(body.get("request"), dict) else {}
            _fill(item(request.get("id")), e, request)
        elif e.kind is EntryKind.BREAKGLASS_APPROVED:
            it = item(body.get("request"))
            custodian = as_text(body.get("custodian")) or e.actor
            it.approvals.append(Step(seq=e.seq, time=e.time, actor=custodian))
            if it.threshold is None:
                it.threshold = as_int(body.get("threshold"))
        elif e.kind is EntryKind.BREAKGLASS_EXPIRED:
            item(body.get("request")).expired_at = as_text(body.get("expired_at")) or e.time
        elif e.kind is EntryKind.BREAKGLASS_VOIDED:
            it = item(body.get("request"))
            it.voided_at, it.voided_reason = e.time, as_text(body.get("reason"))
        elif e.kind is EntryKind.BREAKGLASS_REVEAL_INTENT:
            it = item(body.get("request"))
            intents[e.seq] = (it, _reveal(it, e))
        elif e.kind is EntryKind.BREAKGLASS_REVEAL_RESULT:
            if e.ref not in intents:
                section.fail(f"a reveal result (entry {e.seq}) answers no reveal intent")
                continue
            _answer(*intents[e.ref], e)
        elif e.kind is EntryKind.BREAKGLASS_BUNDLE:
            item(body.get("request")).bundles.append(
                Step(seq=e.seq, time=e.time, actor=e.actor, entries=as_int(body.get("entries")),
                     sha256=as_text(body.get("bundle_sha256")))
            )  # fmt: skip
        elif e.kind is EntryKind.BREAKGLASS_NOTIFIED:
            notice = item(body.get("request")).notice
            notice.notified_at, notice.notified_by = e.time, e.actor
            notice.note = truncate(as_text(body.get("note")))
        elif e.kind is EntryKind.REFUSAL and _is_breakglass(body.get("command")):
            routes[as_text(body.get("route")) or "(none)"] += 1
    for it in items.values():
        _settle(section, it, now)
    section.requests = sorted(items.values(), key=lambda i: i.seq or 0, reverse=True)
    section.total = sum(1 for i in items.values() if i.seq is not None)
    section.revealed = sum(1 for i in items.values() if i.state == "revealed")
    section.expired = sum(1 for i in items.values() if i.state == "expired")
    section.refusals, section.refusals_by_route = routes.total(), dict(routes.most_common())
    section.summary = (
        f"{section.total} requests, {section.revealed} revealed, {section.expired} expired; "
        f"{len(section.overdue_notices)} overdue employee notifications; "
        f"{section.refusals} break-glass refusals"
    )
    return section


def _fill(it: BreakGlassItem, e: LedgerEntry, r: dict[str, Any]) -> None:
    notify = r.get("notify") if isinstance(r.get("notify"), dict) else {}
    it.seq, it.requester = e.seq, as_text(r.get("requested_by")) or e.actor
    it.case, it.purpose = as_text(r.get("case")), as_text(r.get("purpose"))
    it.justification = as_text(r.get("justification"))
    it.pseudonyms = _texts(r.get("pseudonyms"))
    it.window_from, it.window_to = as_text(r.get("window_from")), as_text(r.get("window_to"))
    it.requested_at = as_text(r.get("requested_at")) or e.time
    it.expires_at, it.threshold = as_text(r.get("expires_at")), as_int(r.get("threshold"))
    it.notice.mode, it.notice.reason = as_text(notify.get("mode")), as_text(notify.get("reason"))
    it.notice.due = as_text(notify.get("due"))


def _reveal(it: BreakGlassItem, e: LedgerEntry) -> Reveal:
    """Record a reveal and check the rules that had to hold when it began."""
    approvers = list(dict.fromkeys(a.actor for a in it.approvals))
    valid = [a for a in approvers if a != it.requester]
    reveal = Reveal(
        seq=e.seq, time=e.time, actor=e.actor, where=as_text(e.body.get("where")),
        custodians=_texts(e.body.get("custodians")), approvals=len(valid), outcome="unanswered",
    )  # fmt: skip
    it.reveals.append(reveal)
    if it.seq is None:
        return reveal  # a reveal without a request: `_settle` says so
    if it.threshold is None or len(valid) < it.threshold:
        it.problems.append(
            f"revealed (entry {e.seq}) without a quorum: {len(valid)} of "
            f"{it.threshold if it.threshold is not None else '?'} approvals"
        )
    if it.requester in approvers:
        it.problems.append(f"revealed (entry {e.seq}) with the requester {it.requester} approving")
    expires, at = _parse(it.expires_at), _parse(e.time)
    if it.expired_at is not None or (expires and at and at >= expires):
        it.problems.append(f"revealed (entry {e.seq}) after the request expired")
    if it.voided_at is not None:
        it.problems.append(f"revealed (entry {e.seq}) after the request was voided")
    return reveal


def _answer(it: BreakGlassItem, reveal: Reveal, e: LedgerEntry) -> None:
    reveal.outcome, _, reveal.error = outcome_of(e)
    reveal.revealed = _texts(e.body.get("revealed"))
    reveal.not_in_vault = _texts(e.body.get("not_in_vault"))
    reveal.failed_check = _texts(e.body.get("failed_check"))
    reveal.opened_at = as_text(e.body.get("opened_at"))
    outside = [p for p in reveal.revealed if p not in it.pseudonyms]
    if outside and it.seq is not None:
        it.problems.append(
            f"revealed (entry {e.seq}) pseudonyms the request did not name: {', '.join(outside)}"
        )


def _settle(section: BreakGlassSection, it: BreakGlassItem, now: datetime) -> None:
    """The request's state and notice, and its problems raised to the section."""
    if it.seq is None and it.reveals:
        it.problems.append("a reveal names no ledgered request")
    elif it.seq is None:
        section.warn(f"{it.id}: break-glass entries name no ledgered request")
    expires = _parse(it.expires_at)
    approvers = {a.actor for a in it.approvals} - {it.requester}
    if any(r.outcome == "ok" for r in it.reveals):
        it.state = "revealed"
    elif it.voided_at is not None:
        it.state = "voided"
    elif it.expired_at is not None or (expires is not None and now >= expires):
        it.state = "expired"
    elif it.threshold is not None and len(approvers) >= it.threshold:
        it.state = "approved"
    due = _parse(it.notice.due)
    if it.notice.mode == "deferred" and due and now >= due and it.notice.notified_at is None:
        it.notice.overdue = True
        it.problems.append(f"the employee notice deferred until {it.notice.due} is overdue")
        section.overdue_notices.append(
            OverdueNotice(request=it.id, case=it.case, requester=it.requester,
                          reason=it.notice.reason, due=it.notice.due or "")
        )  # fmt: skip
    if any(r.outcome == "unanswered" for r in it.reveals):
        section.warn(f"{it.id}: a reveal has an intent but no result (interrupted)")
    for problem in it.problems:
        section.fail(f"{it.id}: {problem}")


def _is_breakglass(command: Any) -> bool:
    return (as_text(command) or "").startswith("breakglass")


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _parse(iso: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment
