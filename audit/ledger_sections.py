"""The sections built from the ledger: its verification (with the earlier audit
reports it recorded), the queries by purpose, actor and case, the refusals, and the
ingest runs with the cases, policy registrations and dead-letter views.

Each builder takes the `LedgerView` parsed once by `audit.report`; verification alone
reads the ledger's bytes again, as `audit verify` does.
"""

from __future__ import annotations

from collections import Counter

from audit.ledger_models import (
    AuditReportRun,
    CaseItem,
    DeadletterView,
    IngestRun,
    IngestSection,
    LedgerSection,
    PolicyItem,
    QueriesSection,
    QueryGroup,
    QueryItem,
    RefusalItem,
    RefusalsSection,
    StatsGroup,
)
from audit.ledger_view import LedgerView, as_int, as_text, outcome_of, truncate
from audit.section import policy_label
from schemas.purposes import LAWFUL_PURPOSES, Purpose
from store.layout import StoreLayout
from store.ledger_entry import EntryKind
from store.ledger_verify import verify_ledger

LATEST_QUERIES = 50  # queries listed individually, newest first
MAX_LISTED = 500  # refusals, ingest runs … listed individually before the list is cut


def build_ledger_section(layout: StoreLayout, view: LedgerView) -> LedgerSection:
    report = verify_ledger(layout.ledger)
    section = LedgerSection(
        ok=report.ok,
        entries=report.entries,
        reason=report.reason,
        first_bad=report.first_bad,
        head_seq=report.head_seq,
        fingerprint=report.fingerprint,
        warnings=list(report.warnings),
    )
    section.summary = report.summary()
    if not report.ok:
        section.fail(report.summary())
    own = _own_report_entries(view, report.head_seq)
    for warning in report.warnings:
        if own and warning.endswith("after the signed head (not yet checkpointed)"):
            section.notes.append(
                f"{warning}: the ledger entry of this report itself, written before it; "
                "the command signs it when it ends"
            )
            continue
        section.warn(warning)
    if view.error:
        section.warn(f"the ledger could not be parsed to its end: {view.error}")
    runs = []
    reports = list(view.of(EntryKind.AUDIT_REPORT))
    answered = {e.ref: e for e in reports if e.ref is not None}
    for intent in (e for e in reports if e.ref is None):
        result = answered.get(intent.seq)
        outcome, _, _ = outcome_of(result)
        if result is None and own and intent.seq > (report.head_seq or 0):
            outcome = "in progress (this report)"
        ok = result.body.get("report_ok") if result is not None else None
        runs.append(
            AuditReportRun(
                seq=intent.seq, time=intent.time, actor=intent.actor, outcome=outcome,
                report_ok=ok if isinstance(ok, bool) else None,
            )
        )  # fmt: skip
    section.audit_reports = runs[::-1][:MAX_LISTED]
    return section


def _own_report_entries(view: LedgerView, head_seq: int | None) -> bool:
    """Whether the only entries after the signed head are an `audit report` intent
    still waiting for its result: the report being written now."""
    if head_seq is None:
        return False
    after = [e for e in view.entries if e.seq > head_seq]
    return bool(after) and all(e.kind is EntryKind.AUDIT_REPORT and e.ref is None for e in after)


def build_queries_section(view: LedgerView) -> QueriesSection:
    section = QueriesSection()
    results = view.results(EntryKind.QUERY_RESULT)
    stats_results = view.results(EntryKind.STATS_RESULT)
    groups: dict[tuple[str, str, str | None], QueryGroup] = {}
    stats: dict[tuple[str, str | None, str | None, int | None], StatsGroup] = {}
    items: list[QueryItem] = []
    for intent in view.of(EntryKind.QUERY_INTENT, EntryKind.STATS_INTENT):
        body = intent.body
        is_query = intent.kind is EntryKind.QUERY_INTENT
        result = (results if is_query else stats_results).get(intent.seq)
        outcome, rows, error = outcome_of(result)
        if is_query:
            key = (
                as_text(body.get("purpose")) or "(none)",
                intent.actor,
                as_text(body.get("case")),
            )
            group = groups.setdefault(key, QueryGroup(purpose=key[0], actor=key[1], case=key[2]))
            group.queries += 1
        else:
            skey = (intent.actor, as_text(body.get("named")), as_text(body.get("dataset")),
                    as_int(body.get("k")))  # fmt: skip
            group = stats.setdefault(
                skey, StatsGroup(actor=skey[0], named=skey[1], dataset=skey[2], k=skey[3])
            )
            group.runs += 1
            if result is not None and outcome == "ok":
                group.suppressed_groups += as_int(result.body.get("suppressed_groups")) or 0
        if outcome == "ok":
            group.ok += 1
            group.rows += rows or 0
        elif outcome == "unanswered":
            group.unanswered += 1
        else:
            group.failed += 1
        items.append(
            QueryItem(
                seq=intent.seq,
                time=intent.time,
                kind="query" if is_query else "stats",
                actor=intent.actor,
                mode=intent.mode,
                purpose=as_text(body.get("purpose")) if is_query else None,
                case=as_text(body.get("case")),
                named=as_text(body.get("named")),
                sql=truncate(as_text(body.get("sql"))),
                outcome=outcome,
                rows=rows,
                error=error,
            )
        )
    section.groups = sorted(groups.values(), key=lambda g: (g.purpose, g.actor, g.case or ""))
    section.stats_groups = sorted(
        stats.values(), key=lambda g: (g.actor, g.named or "", g.dataset or "")
    )
    section.total_queries = sum(g.queries for g in groups.values())
    section.total_stats = sum(g.runs for g in stats.values())
    section.latest = sorted(items, key=lambda i: i.seq, reverse=True)[:LATEST_QUERIES]
    unlawful = sorted({g.purpose for g in groups.values()} - set(LAWFUL_PURPOSES))
    for purpose in unlawful:  # a session refuses these first, so this is a broken rule
        section.fail(f"queries ran under a purpose that is not lawful: {purpose!r}")
    missing_case = sum(
        g.queries for g in groups.values() if g.purpose == Purpose.security_incident and not g.case
    )
    if missing_case:
        section.fail(f"{missing_case} security_incident queries ran without a case")
    unanswered = sum(g.unanswered for g in groups.values()) + sum(
        g.unanswered for g in stats.values()
    )
    if unanswered:
        section.warn(f"{unanswered} queries have an intent but no result (interrupted)")
    section.summary = (
        f"{section.total_queries} queries under a purpose in {len(groups)} purpose/actor/case "
        f"groups; {section.total_stats} anonymous statistics"
    )
    return section


def build_refusals_section(view: LedgerView) -> RefusalsSection:
    section = RefusalsSection()
    routes: Counter[str] = Counter()
    actors: Counter[str] = Counter()
    items = []
    for entry in view.of(EntryKind.REFUSAL):
        body = entry.body
        route = as_text(body.get("route")) or "(none)"
        routes[route] += 1
        actors[entry.actor] += 1
        items.append(
            RefusalItem(
                seq=entry.seq,
                time=entry.time,
                actor=entry.actor,
                command=as_text(body.get("command")),
                route=route,
                reason=truncate(as_text(body.get("reason"))) or "",
                purpose=as_text(body.get("purpose")),
                case=as_text(body.get("case")),
                sql=truncate(as_text(body.get("sql"))),
            )
        )
    section.total = len(items)
    section.by_route = dict(routes.most_common())
    section.by_actor = dict(actors.most_common())
    section.items = items[::-1][:MAX_LISTED]
    if len(items) > MAX_LISTED:
        section.notes.append(f"only the latest {MAX_LISTED} of {len(items)} refusals are listed")
    section.summary = f"{section.total} refusals" + (
        " (" + ", ".join(f"{n} {r}" for r, n in routes.most_common()) + ")" if routes else ""
    )
    return section


def _auto_label(body: dict) -> str | None:  # type: ignore[type-arg]
    """`--source auto` runs name a policy per format that may occur."""
    policies = body.get("policies")
    if not isinstance(policies, dict) or not policies:
        return None
    labels = [policy_label(p.get("id"), p.get("version")) for p in policies.values()
              if isinstance(p, dict)]  # fmt: skip
    return "auto: " + ", ".join(sorted(label for label in labels if label))


def build_ingest_section(view: LedgerView) -> IngestSection:
    section = IngestSection()
    results = view.results(EntryKind.INGEST_RESULT)
    runs = []
    for intent in view.of(EntryKind.INGEST_INTENT):
        body = intent.body
        files = body.get("files") if isinstance(body.get("files"), list) else []
        policy = body.get("policy") if isinstance(body.get("policy"), dict) else {}
        outcome, _, error = outcome_of(results.get(intent.seq))
        result = results.get(intent.seq)
        rb = result.body if result is not None else {}
        run = IngestRun(
            seq=intent.seq,
            time=intent.time,
            actor=intent.actor,
            run_id=as_text(body.get("run_id")),
            source=as_text(body.get("source")),
            files=len(files),
            bytes=sum(as_int(f.get("bytes")) or 0 for f in files if isinstance(f, dict)),
            policy=policy_label(policy.get("id"), policy.get("version")) or _auto_label(body),
            policy_sha256=as_text(policy.get("sha256")),
            aliases=as_text(body.get("aliases")),
            outcome=outcome,
            read=as_int(rb.get("read")),
            written=as_int(rb.get("written")),
            rejected=as_int(rb.get("rejected")),
            error=error,
        )
        runs.append(run)
        if outcome == "ok" and None not in (run.read, run.written, run.rejected):
            assert run.read is not None and run.written is not None and run.rejected is not None
            section.read += run.read
            section.written += run.written
            section.rejected += run.rejected
            if run.read != run.written + run.rejected:
                section.warn(
                    f"run {run.run_id}: read {run.read} ≠ written {run.written} + "
                    f"rejected {run.rejected}"
                )
    section.total_runs = len(runs)
    section.runs = runs[::-1][:MAX_LISTED]
    if len(runs) > MAX_LISTED:
        section.notes.append(f"only the latest {MAX_LISTED} of {len(runs)} runs are listed")
    unanswered = sum(1 for r in runs if r.outcome == "unanswered")
    if unanswered:
        section.warn(f"{unanswered} ingest runs have an intent but no result (interrupted)")
    section.cases = _cases(view)
    section.policies = [
        PolicyItem(
            seq=e.seq,
            time=e.time,
            actor=e.actor,
            id=as_text(e.body.get("id")),
            version=as_int(e.body.get("version")),
            dataset=as_text(e.body.get("dataset")),
            sha256=as_text(e.body.get("sha256")),
            previous=as_text(e.body.get("previous")),
        )
        for e in view.of(EntryKind.POLICY_REGISTERED)
    ]
    section.deadletter_views = _deadletter_views(view)
    failed = sum(1 for r in runs if r.outcome == "failed")
    section.summary = (
        f"{section.total_runs} ingest runs ({failed} failed): read {section.read}, written "
        f"{section.written}, rejected {section.rejected}; {len(section.cases)} cases; "
        f"{len(section.policies)} policy registrations; {len(section.deadletter_views)} "
        "dead-letter views"
    )
    return section


def _deadletter_views(view: LedgerView) -> list[DeadletterView]:
    results = view.results(EntryKind.DEADLETTER_RESULT)
    views = []
    for intent in view.of(EntryKind.DEADLETTER_INTENT):
        result = results.get(intent.seq)
        outcome, _, _ = outcome_of(result)
        views.append(
            DeadletterView(
                seq=intent.seq,
                time=intent.time,
                actor=intent.actor,
                run=as_text(intent.body.get("run")),
                limit=as_int(intent.body.get("limit")),
                outcome=outcome,
                lines_shown=as_int(result.body.get("lines_shown")) if result else None,
            )
        )
    return views[::-1][:MAX_LISTED]


def _cases(view: LedgerView) -> list[CaseItem]:
    cases: dict[str, CaseItem] = {}
    for entry in view.of(EntryKind.CASE_OPENED, EntryKind.CASE_CLOSED):
        if entry.kind is EntryKind.CASE_OPENED:
            case = entry.body.get("case") if isinstance(entry.body.get("case"), dict) else {}
            case_id = as_text(case.get("id")) or f"(entry {entry.seq})"
            cases[case_id] = CaseItem(
                id=case_id,
                title=as_text(case.get("title")),
                justification=truncate(as_text(case.get("justification"))),
                window_from=as_text(case.get("window_from")),
                window_to=as_text(case.get("window_to")),
                opened_by=as_text(case.get("opened_by")) or entry.actor,
                opened_at=as_text(case.get("opened_at")) or entry.time,
            )
        else:
            case_id = as_text(entry.body.get("case_id")) or ""
            item = cases.setdefault(
                case_id,
                CaseItem(id=case_id, title=None, justification=None, window_from=None,
                         window_to=None, opened_by=None, opened_at=None),
            )  # fmt: skip
            item.closed_at = as_text(entry.body.get("closed_at")) or entry.time
            item.closed_by = as_text(entry.body.get("closed_by")) or entry.actor
    per_case = Counter(
        as_text(e.body.get("case")) for e in view.of(EntryKind.QUERY_INTENT) if e.body.get("case")
    )
    for case_id, n in per_case.items():
        if case_id in cases:
            cases[case_id].queries = n
    return list(cases.values())
