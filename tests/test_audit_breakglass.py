"""The break-glass section of the audit report on real ledgers: a clean request → quorum
→ reveal passes and shows every step; a reveal before quorum, approved by its requester,
after expiry, of a pseudonym not requested or of no request fails the report, and so
does an overdue deferred employee notice, until the notice is ledgered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit import AuditReport, write_report
from audit.html_style import SECTION_COLOURS
from queries.breakglass.request import BreakGlassRequest, Notify
from schemas.policy import default_policies
from schemas.purposes import Purpose
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind

NOW = datetime.now(UTC).replace(microsecond=0)  # ledger entries carry the real time
P1, P2, P3 = (f"usr-k1-{c * 26}" for c in "abc")
JUSTIFICATION = "Credential stuffing on the VPN from one account; HR needs the holder named"


def _store(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "s", default_policies(), "analyst")


def _request(
    layout: StoreLayout, rid: str = "BG-0001", *, requester: str = "analyst",
    notify: Notify | None = None, requested_at: datetime = NOW - timedelta(hours=2),
) -> None:  # fmt: skip
    request = BreakGlassRequest(
        id=rid, case="CASE-0007", purpose=Purpose.security_incident,
        justification=JUSTIFICATION, pseudonyms=(P1, P2),
        window_from=NOW - timedelta(days=3), window_to=NOW - timedelta(days=1),
        notify=notify or Notify(mode="now"), requested_by=requester,
        requested_at=requested_at, expires_at=requested_at + timedelta(hours=24), threshold=2,
    )  # fmt: skip
    Ledger(layout, requester).append(
        EntryKind.BREAKGLASS_REQUESTED, {"request": request.model_dump(mode="json")}
    )


def _approve(layout: StoreLayout, custodians: list[str], rid: str = "BG-0001") -> None:
    for n, custodian in enumerate(custodians, 1):
        Ledger(layout, custodian).append(
            EntryKind.BREAKGLASS_APPROVED,
            {"request": rid, "custodian": custodian, "approvals": custodians[:n],
             "threshold": 2, "state": "approved" if n >= 2 else "pending"},
        )  # fmt: skip


def _reveal(layout: StoreLayout, revealed: list[str], rid: str = "BG-0001") -> None:
    ledger = Ledger(layout, "dpo")
    intent = ledger.append(
        EntryKind.BREAKGLASS_REVEAL_INTENT,
        {"request": rid, "case": "CASE-0007", "purpose": "security_incident",
         "custodians": ["dpo", "ciso"], "where": "store", "pseudonyms": [P1, P2]},
    )  # fmt: skip
    ledger.append(
        EntryKind.BREAKGLASS_REVEAL_RESULT,
        {"request": rid, "where": "store", "revealed": revealed, "not_in_vault": [],
         "failed_check": [], "outcome": "ok"},
        ref=intent.seq,
    )  # fmt: skip


def _report(layout: StoreLayout, out: Path, now: datetime = NOW) -> tuple[AuditReport, str]:
    report = write_report(layout, out, now=now)
    assert AuditReport.model_validate_json((out / "report.json").read_bytes()) == report
    return report, (out / "report.html").read_text(encoding="utf-8")


def _problems(report: AuditReport) -> list[str]:
    return [p for p in report.problems if p.startswith("Break-glass")]


def test_clean_round_passes_and_shows_every_step(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout)
    _approve(layout, ["dpo", "ciso"])
    _reveal(layout, [P1])
    Ledger(layout, "analyst").append(
        EntryKind.REFUSAL,
        {"command": "breakglass approve", "route": "requester_as_approver",
         "reason": "analyst filed BG-0001", "purpose": None, "case": None, "request": "BG-0001"},
    )  # fmt: skip
    report, html = _report(layout, tmp_path / "out")
    assert report.ok and report.format == 4, report.problems
    section = report.section("breakglass")
    assert section.status == "ok" and (section.total, section.revealed) == (1, 1)
    (item,) = section.requests
    assert (item.id, item.requester, item.case, item.state) == (
        "BG-0001", "analyst", "CASE-0007", "revealed"
    )  # fmt: skip
    assert item.justification == JUSTIFICATION and item.pseudonyms == [P1, P2]
    assert [a.actor for a in item.approvals] == ["dpo", "ciso"]
    (reveal,) = item.reveals
    assert (reveal.revealed, reveal.where, reveal.approvals) == ([P1], "store", 2)
    assert reveal.custodians == ["dpo", "ciso"]
    assert section.refusals_by_route == {"requester_as_approver": 1}
    assert section.figure() == ("break-glass reveals", 1)
    assert '<section id="breakglass">' in html and SECTION_COLOURS["breakglass"] in html
    assert all(s in html for s in ("CASE-0007", JUSTIFICATION[:30], P1, "ciso", "by analyst"))


def test_expired_request_shows_expired(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout, requested_at=NOW - timedelta(days=2))
    _approve(layout, ["dpo"])
    Ledger(layout, "dpo").append(
        EntryKind.BREAKGLASS_EXPIRED,
        {"request": "BG-0001", "expired_at": (NOW - timedelta(days=1)).isoformat(),
         "approvals": ["dpo"], "threshold": 2},
    )  # fmt: skip
    _request(layout, "BG-0002", requested_at=NOW - timedelta(days=3))  # ran out, not ledgered
    _request(layout, "BG-0003")
    _approve(layout, ["dpo", "ciso"], "BG-0003")
    report, _ = _report(layout, tmp_path / "out")
    section = report.section("breakglass")
    states = {"BG-0001": "expired", "BG-0002": "expired", "BG-0003": "approved"}
    assert {i.id: i.state for i in section.requests} == states
    assert section.expired == 2 and section.revealed == 0 and report.ok, report.problems


def test_reveal_before_quorum_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout)
    _approve(layout, ["dpo"])
    _reveal(layout, [P1])
    report, html = _report(layout, tmp_path / "out")
    assert not report.ok and report.section("breakglass").status == "failed"
    assert any("without a quorum: 1 of 2" in p for p in _problems(report)), report.problems
    assert "without a quorum" in html


def test_requester_among_approvers_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout, requester="dpo")
    _approve(layout, ["dpo", "ciso", "hr"])
    _reveal(layout, [P1])
    report, _ = _report(layout, tmp_path / "out")
    problems = _problems(report)
    assert any("with the requester dpo approving" in p for p in problems), report.problems
    assert not any("quorum" in p for p in problems)  # ciso and hr are a quorum without dpo


def test_pseudonym_outside_the_request_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout)
    _approve(layout, ["dpo", "ciso"])
    _reveal(layout, [P1, P3])
    (problem,) = _problems(_report(layout, tmp_path / "out")[0])
    assert "did not name" in problem and P3 in problem and P1 not in problem


def test_reveal_without_request_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _reveal(layout, [P1], rid="BG-0009")
    orphan = {"outcome": "ok", "revealed": [P2]}  # answers entry 1, which is no reveal
    Ledger(layout, "dpo").append(EntryKind.BREAKGLASS_REVEAL_RESULT, orphan, ref=1)
    problems = _problems(_report(layout, tmp_path / "out")[0])
    assert any("BG-0009: a reveal names no ledgered request" in p for p in problems)
    assert any("answers no reveal intent" in p for p in problems), problems


def test_overdue_deferred_notice_is_listed_until_notified(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    late = Notify(mode="deferred", reason="the inquiry would be compromised", due=NOW)
    _request(layout, notify=late, requested_at=NOW - timedelta(days=40))
    _request(layout, "BG-0002", notify=late.model_copy(update={"due": NOW + timedelta(days=5)}))
    report, html = _report(layout, tmp_path / "out")
    section = report.section("breakglass")
    assert [(o.request, o.reason) for o in section.overdue_notices] == [("BG-0001", late.reason)]
    assert not report.ok and any("notice deferred until" in p for p in _problems(report))
    assert "OVERDUE" in html and "Overdue employee notifications (1)" in html
    Ledger(layout, "dpo").append(
        EntryKind.BREAKGLASS_NOTIFIED, {"request": "BG-0001", "note": "letter sent"}
    )
    report, _ = _report(layout, tmp_path / "out2")
    section = report.section("breakglass")
    assert section.overdue_notices == [] and report.ok, report.problems
    notified = next(i for i in section.requests if i.id == "BG-0001").notice
    assert notified.notified_by == "dpo" and notified.note == "letter sent"
    later, _ = _report(layout, tmp_path / "out3", NOW + timedelta(days=6))
    assert [o.request for o in later.section("breakglass").overdue_notices] == ["BG-0002"]


def test_reveal_after_expiry_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout, requested_at=NOW - timedelta(days=2))
    _approve(layout, ["dpo", "ciso"])
    _reveal(layout, [P1])
    report, _ = _report(layout, tmp_path / "out")
    (problem,) = _problems(report)
    assert "after the request expired" in problem
    assert report.section("breakglass").requests[0].state == "revealed"


def test_voided_request_shows_voided_and_a_reveal_after_it_fails(tmp_path: Path) -> None:
    layout = _store(tmp_path)
    _request(layout)
    _approve(layout, ["dpo", "ciso"])
    Ledger(layout, "op").append(
        EntryKind.BREAKGLASS_VOIDED,
        {"request": "BG-0001", "reason": "custodians_reshared", "approvals": ["dpo", "ciso"],
         "threshold": 2},
    )  # fmt: skip
    report, _ = _report(layout, tmp_path / "out")
    (item,) = report.section("breakglass").requests
    assert (item.state, item.voided_reason) == ("voided", "custodians_reshared")
    assert report.ok, report.problems
    _reveal(layout, [P1])  # the old approvals may not be used after a reshare
    report, _ = _report(layout, tmp_path / "out2")
    assert any("after the request was voided" in p for p in _problems(report)), report.problems
