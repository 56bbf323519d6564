"""The report's data: one pydantic model per section, and the sections built from the
ledger (verification, queries, refusals, ingest runs, cases, policies) and from the
lake (rows per dataset × purpose, rows without a lawful purpose, retention).

The report is a list of sections, each with an id, a title, a status and its own data;
adding a section (break-glass, purges …) means adding a model to `Section`, a builder
to `audit.report` and a renderer to `audit.report_html`. No section ever holds a value
read from the lake: only counts, names of files and columns, dates and digests.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from schemas.datasets import DATASETS
from schemas.policy import Policy, default_policies
from schemas.purposes import LAWFUL_PURPOSES, Purpose
from store.catalog import ANCHOR
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind, LedgerEntry
from store.ledger_verify import verify_ledger

LATEST_QUERIES = 50  # queries listed individually, newest first
MAX_LISTED = 500  # refusals, ingest runs … listed individually before the list is cut
SQL_SHOWN = 200  # characters of a query's SQL shown in the report
FORMAT = 1


class Status(StrEnum):
    ok = "ok"
    warning = "warning"  # worth a look, but no rule is broken
    failed = "failed"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SectionBase(_Model):
    id: str
    title: str
    status: Status = Status.ok
    summary: str = ""
    problems: list[str] = Field(default_factory=list)  # why the section failed
    notes: list[str] = Field(default_factory=list)  # warnings and what was assumed
    seconds: float = 0.0  # time taken to build the section

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        self.status = Status.failed

    def warn(self, note: str) -> None:
        self.notes.append(note)
        if self.status is Status.ok:
            self.status = Status.warning


# -- 1. ledger verification ------------------------------------------------------------


class AuditReportRun(_Model):
    """An earlier `audit report` as the ledger recorded it."""

    seq: int
    time: str
    actor: str
    outcome: str
    report_ok: bool | None


class LedgerSection(SectionBase):
    id: Literal["ledger"] = "ledger"
    title: str = "Ledger verification"
    ok: bool = False
    entries: int = 0
    reason: str = ""
    first_bad: int | None = None
    head_seq: int | None = None
    fingerprint: str | None = None
    warnings: list[str] = Field(default_factory=list)
    audit_reports: list[AuditReportRun] = Field(default_factory=list)  # newest first


# -- 2. queries ------------------------------------------------------------------------


class QueryGroup(_Model):
    purpose: str
    actor: str
    case: str | None
    queries: int = 0
    ok: int = 0
    failed: int = 0
    unanswered: int = 0  # an intent without a result (interrupted)
    rows: int = 0  # rows returned by the successful ones


class StatsGroup(_Model):
    actor: str
    named: str | None
    dataset: str | None
    k: int | None
    runs: int = 0
    ok: int = 0
    failed: int = 0
    unanswered: int = 0
    rows: int = 0
    suppressed_groups: int = 0


class QueryItem(_Model):
    seq: int
    time: str
    kind: Literal["query", "stats"]
    actor: str
    mode: str
    purpose: str | None
    case: str | None
    named: str | None
    sql: str | None  # truncated to SQL_SHOWN characters
    outcome: str  # ok / failed / unanswered
    rows: int | None
    error: str | None = None


class QueriesSection(SectionBase):
    id: Literal["queries"] = "queries"
    title: str = "Queries by purpose, actor and case"
    total_queries: int = 0
    total_stats: int = 0
    groups: list[QueryGroup] = Field(default_factory=list)
    stats_groups: list[StatsGroup] = Field(default_factory=list)
    latest: list[QueryItem] = Field(default_factory=list)


# -- 3. refusals -----------------------------------------------------------------------


class RefusalItem(_Model):
    seq: int
    time: str
    actor: str
    command: str | None
    route: str
    reason: str
    purpose: str | None
    case: str | None
    sql: str | None


class RefusalsSection(SectionBase):
    id: Literal["refusals"] = "refusals"
    title: str = "Refusals"
    total: int = 0
    by_route: dict[str, int] = Field(default_factory=dict)
    by_actor: dict[str, int] = Field(default_factory=dict)
    items: list[RefusalItem] = Field(default_factory=list)  # newest first


# -- 4. ingest runs, cases, policies ---------------------------------------------------


class IngestRun(_Model):
    seq: int
    time: str
    actor: str
    run_id: str | None
    source: str | None
    files: int
    bytes: int
    policy: str | None  # "<id> v<version>"
    policy_sha256: str | None
    aliases: str | None
    outcome: str  # ok / failed / unanswered
    read: int | None = None
    written: int | None = None
    rejected: int | None = None
    error: str | None = None


class CaseItem(_Model):
    id: str
    title: str | None
    justification: str | None
    window_from: str | None
    window_to: str | None
    opened_by: str | None
    opened_at: str | None
    closed_at: str | None = None
    closed_by: str | None = None
    queries: int = 0  # queries run under the case


class PolicyItem(_Model):
    seq: int
    time: str
    actor: str
    id: str | None
    version: int | None
    dataset: str | None
    sha256: str | None
    previous: str | None  # the version it replaces (its SHA-256 or stored file name)


class DeadletterView(_Model):
    """An operator decrypting rejected raw lines: they hold plain identities."""

    seq: int
    time: str
    actor: str
    run: str | None
    limit: int | None
    outcome: str
    lines_shown: int | None


class IngestSection(SectionBase):
    id: Literal["ingest"] = "ingest"
    title: str = "Ingest runs, cases and policies"
    runs: list[IngestRun] = Field(default_factory=list)  # newest first
    total_runs: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    cases: list[CaseItem] = Field(default_factory=list)
    policies: list[PolicyItem] = Field(default_factory=list)
    deadletter_views: list[DeadletterView] = Field(default_factory=list)


# -- 5. rows per dataset × purpose -----------------------------------------------------


class RowCount(_Model):
    dataset: str
    purpose: str
    rows: int
    files: int  # data files (anchors not counted)


class StrayLocation(_Model):
    """Parquet files in the lake outside any lawful dataset × purpose directory."""

    path: str  # relative to the store
    files: int
    rows: int


class RowsSection(SectionBase):
    id: Literal["rows"] = "rows"
    title: str = "Rows per dataset and purpose"
    datasets: list[str] = Field(default_factory=list)
    purposes: list[str] = Field(default_factory=list)
    counts: list[RowCount] = Field(default_factory=list)
    total_rows: int = 0
    stray: list[StrayLocation] = Field(default_factory=list)

    def rows(self, dataset: str, purpose: str) -> int:
        for c in self.counts:
            if c.dataset == dataset and c.purpose == purpose:
                return c.rows
        return 0


# -- 6. rows without a lawful purpose --------------------------------------------------


class PurposeViolation(_Model):
    dataset: str
    purpose: str
    rows: int  # rows with at least one of the problems below
    null_or_empty: int
    missing_partition_purpose: int  # purposes do not name the partition's purpose
    unlawful_values: int  # purposes name something that is not a lawful purpose


class PurposeSection(SectionBase):
    id: Literal["purpose"] = "purpose"
    title: str = "Rows without a lawful purpose"
    rows_without_lawful_purpose: int = 0
    rows_checked: int = 0
    violations: list[PurposeViolation] = Field(default_factory=list)
    stray_rows: int = 0  # rows outside any lawful dataset × purpose directory


# -- 7. leak scan ----------------------------------------------------------------------


class AliasSource(_Model):
    path: str
    origin: Literal["given", "ledger"]
    status: Literal["loaded", "missing", "unreadable"]
    identifiers: int = 0  # identifiers checked (employee ids included)
    skipped_short: int = 0  # shorter than the minimum length, not checked


class LeakExample(_Model):
    row: int  # row index in the file (byte offset for raw bytes)
    sha256_prefix: str  # of the value; the value itself is never shown


class LeakFinding(_Model):
    file: str  # relative to the store
    column: str
    pattern: str
    count: int
    examples: list[LeakExample] = Field(default_factory=list)


class LeakScanSection(SectionBase):
    id: Literal["leaks"] = "leaks"
    title: str = "Leak scan: plain identities in the lake and catalog"
    files_scanned: int = 0
    rows_scanned: int = 0
    values_scanned: int = 0
    columns_scanned: int = 0
    min_identifier_length: int = 4
    alias_identifiers: int = 0  # distinct identifiers checked, over all directories
    alias_sources: list[AliasSource] = Field(default_factory=list)
    patterns: dict[str, str] = Field(default_factory=dict)  # name → what it finds
    findings: list[LeakFinding] = Field(default_factory=list)
    total_findings: int = 0
    by_pattern: dict[str, int] = Field(default_factory=dict)
    exempt: dict[str, int] = Field(default_factory=dict)  # values not counted, and why
    errors: list[str] = Field(default_factory=list)


# -- 8. retention ----------------------------------------------------------------------


class RetentionItem(_Model):
    dataset: str
    purpose: str
    policy: str | None  # "<id> v<version>", or None when the rows name no known policy
    retention_days: int | None
    rows: int
    oldest: str | None  # oldest date=YYYY-MM-DD partition holding rows of this policy
    age_days: int | None
    cutoff: str | None  # partitions before this date are overdue
    overdue_partitions: list[str] = Field(default_factory=list)
    overdue: bool = False


class RetentionSection(SectionBase):
    id: Literal["retention"] = "retention"
    title: str = "Retention"
    today: str = ""
    policy_source: str = ""
    items: list[RetentionItem] = Field(default_factory=list)
    overdue_partitions: int = 0


Section = Annotated[
    LedgerSection
    | QueriesSection
    | RefusalsSection
    | IngestSection
    | RowsSection
    | PurposeSection
    | LeakScanSection
    | RetentionSection,
    Field(discriminator="id"),
]


class AuditReport(_Model):
    """What report.json holds."""

    format: int = FORMAT
    generated_at: str
    store: str
    status: Literal["ok", "failed"]
    problems: list[str] = Field(default_factory=list)  # "<section>: <problem>"
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    sections: list[Section] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def section(self, section_id: str) -> Any:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)


# -- building the ledger sections ------------------------------------------------------


@dataclass
class LedgerView:
    """The parsed ledger, read once for all the ledger-based sections."""

    entries: list[LedgerEntry]
    error: str | None = None  # why reading stopped early

    @classmethod
    def read(cls, layout: StoreLayout) -> LedgerView:
        entries: list[LedgerEntry] = []
        try:
            for entry in Ledger(layout, "auditor").entries():
                entries.append(entry)
        except (OSError, ValueError) as exc:
            reason = f"{type(exc).__name__}" if isinstance(exc, ValueError) else str(exc)
            return cls(entries, f"reading stopped after {len(entries)} entries ({reason})")
        return cls(entries)

    def of(self, *kinds: EntryKind) -> Iterator[LedgerEntry]:
        return (e for e in self.entries if e.kind in kinds)

    def results(self, kind: EntryKind) -> dict[int, LedgerEntry]:
        """Result entries by the seq of the intent they answer (the last one wins)."""
        return {e.ref: e for e in self.of(kind) if e.ref is not None}


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
        outcome, _, _ = _outcome(result)
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
        outcome, rows, error = _outcome(result)
        if is_query:
            key = (_text(body.get("purpose")) or "(none)", intent.actor, _text(body.get("case")))
            group = groups.setdefault(key, QueryGroup(purpose=key[0], actor=key[1], case=key[2]))
            group.queries += 1
        else:
            skey = (intent.actor, _text(body.get("named")), _text(body.get("dataset")),
                    _int(body.get("k")))  # fmt: skip
            group = stats.setdefault(
                skey, StatsGroup(actor=skey[0], named=skey[1], dataset=skey[2], k=skey[3])
            )
            group.runs += 1
            if result is not None and outcome == "ok":
                group.suppressed_groups += _int(result.body.get("suppressed_groups")) or 0
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
                purpose=_text(body.get("purpose")) if is_query else None,
                case=_text(body.get("case")),
                named=_text(body.get("named")),
                sql=_truncate(_text(body.get("sql"))),
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
        route = _text(body.get("route")) or "(none)"
        routes[route] += 1
        actors[entry.actor] += 1
        items.append(
            RefusalItem(
                seq=entry.seq,
                time=entry.time,
                actor=entry.actor,
                command=_text(body.get("command")),
                route=route,
                reason=_truncate(_text(body.get("reason"))) or "",
                purpose=_text(body.get("purpose")),
                case=_text(body.get("case")),
                sql=_truncate(_text(body.get("sql"))),
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


def build_ingest_section(view: LedgerView) -> IngestSection:
    section = IngestSection()
    results = view.results(EntryKind.INGEST_RESULT)
    runs = []
    for intent in view.of(EntryKind.INGEST_INTENT):
        body = intent.body
        files = body.get("files") if isinstance(body.get("files"), list) else []
        policy = body.get("policy") if isinstance(body.get("policy"), dict) else {}
        outcome, _, error = _outcome(results.get(intent.seq))
        result = results.get(intent.seq)
        rb = result.body if result is not None else {}
        run = IngestRun(
            seq=intent.seq,
            time=intent.time,
            actor=intent.actor,
            run_id=_text(body.get("run_id")),
            source=_text(body.get("source")),
            files=len(files),
            bytes=sum(_int(f.get("bytes")) or 0 for f in files if isinstance(f, dict)),
            policy=_policy_label(policy.get("id"), policy.get("version")),
            policy_sha256=_text(policy.get("sha256")),
            aliases=_text(body.get("aliases")),
            outcome=outcome,
            read=_int(rb.get("read")),
            written=_int(rb.get("written")),
            rejected=_int(rb.get("rejected")),
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
            id=_text(e.body.get("id")),
            version=_int(e.body.get("version")),
            dataset=_text(e.body.get("dataset")),
            sha256=_text(e.body.get("sha256")),
            previous=_text(e.body.get("previous_sha256") or e.body.get("previous")),
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
        outcome, _, _ = _outcome(results.get(intent.seq))
        result = results.get(intent.seq)
        views.append(
            DeadletterView(
                seq=intent.seq,
                time=intent.time,
                actor=intent.actor,
                run=_text(intent.body.get("run")),
                limit=_int(intent.body.get("limit")),
                outcome=outcome,
                lines_shown=_int(result.body.get("lines_shown")) if result else None,
            )
        )
    return views[::-1][:MAX_LISTED]


def _cases(view: LedgerView) -> list[CaseItem]:
    cases: dict[str, CaseItem] = {}
    for entry in view.of(EntryKind.CASE_OPENED, EntryKind.CASE_CLOSED):
        if entry.kind is EntryKind.CASE_OPENED:
            case = entry.body.get("case") if isinstance(entry.body.get("case"), dict) else {}
            case_id = _text(case.get("id")) or f"(entry {entry.seq})"
            cases[case_id] = CaseItem(
                id=case_id,
                title=_text(case.get("title")),
                justification=_truncate(_text(case.get("justification"))),
                window_from=_text(case.get("window_from")),
                window_to=_text(case.get("window_to")),
                opened_by=_text(case.get("opened_by")) or entry.actor,
                opened_at=_text(case.get("opened_at")) or entry.time,
            )
        else:
            case_id = _text(entry.body.get("case_id")) or ""
            item = cases.setdefault(
                case_id,
                CaseItem(id=case_id, title=None, justification=None, window_from=None,
                         window_to=None, opened_by=None, opened_at=None),
            )  # fmt: skip
            item.closed_at = _text(entry.body.get("closed_at")) or entry.time
            item.closed_by = _text(entry.body.get("closed_by")) or entry.actor
    per_case = Counter(
        _text(e.body.get("case")) for e in view.of(EntryKind.QUERY_INTENT) if e.body.get("case")
    )
    for case_id, n in per_case.items():
        if case_id in cases:
            cases[case_id].queries = n
    return list(cases.values())


def _outcome(result: LedgerEntry | None) -> tuple[str, int | None, str | None]:
    if result is None:
        return "unanswered", None, None
    outcome = _text(result.body.get("outcome")) or "unknown"
    error = _truncate(_text(result.body.get("error")))
    return outcome, _int(result.body.get("rows")), error


def _policy_label(policy_id: Any, version: Any) -> str | None:
    if policy_id is None:
        return None
    return f"{policy_id} v{version}" if version is not None else str(policy_id)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _truncate(text: str | None, limit: int = SQL_SHOWN) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


# -- building the lake sections --------------------------------------------------------


@dataclass
class PartitionStats:
    """One group of a partition's rows: date, policy and purpose problems."""

    dataset: str
    purpose: str
    day: str | None
    policy_id: str | None
    policy_version: int | None
    rows: int
    null_or_empty: int
    missing_partition_purpose: int
    unlawful_values: int
    without_lawful: int


@dataclass
class LakeStats:
    groups: list[PartitionStats]
    files: dict[tuple[str, str], int]  # data files per dataset × purpose
    stray: list[StrayLocation]
    errors: list[str]


_LAWFUL_SQL = ", ".join(f"'{p}'" for p in LAWFUL_PURPOSES)
_STATS_SQL = f"""
SELECT
  regexp_extract(filename, '/date=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/', 1) AS day,
  CAST(policy_id AS VARCHAR) AS policy_id,
  TRY_CAST(policy_version AS INTEGER) AS policy_version,
  count(*) AS rows,
  count(*) FILTER (WHERE purposes IS NULL OR len(purposes) = 0) AS null_or_empty,
  count(*) FILTER (WHERE len(purposes) > 0 AND NOT list_contains(purposes, $purpose))
    AS missing_partition_purpose,
  count(*) FILTER (
    WHERE len(list_filter(purposes, lambda x: x IS NULL OR x NOT IN ({_LAWFUL_SQL}))) > 0
  ) AS unlawful_values,
  count(*) FILTER (
    WHERE purposes IS NULL OR len(purposes) = 0 OR NOT list_contains(purposes, $purpose)
       OR len(list_filter(purposes, lambda x: x IS NULL OR x NOT IN ({_LAWFUL_SQL}))) > 0
  ) AS without_lawful
FROM read_parquet($glob, union_by_name = true, filename = true, hive_partitioning = false)
GROUP BY ALL
"""
_COUNT_SQL = """
SELECT count(*) FROM read_parquet($glob, union_by_name = true, hive_partitioning = false)
"""


def data_files(directory: Path) -> list[Path]:
    """The Parquet files under a directory, anchors excluded."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.parquet") if p.name != ANCHOR and p.is_file())


def lake_stats(layout: StoreLayout) -> LakeStats:
    """One DuckDB pass per dataset × purpose: rows by date and policy, purpose problems."""
    stats = LakeStats([], {}, [], [])
    con = duckdb.connect()
    try:
        for dataset in DATASETS:
            for purpose in Purpose:
                directory = layout.partition_dir(dataset, purpose.value)
                files = data_files(directory)
                stats.files[(dataset, purpose.value)] = len(files)
                if not files:
                    continue
                glob = str(directory.resolve() / "**" / "*.parquet")
                try:
                    rows = con.execute(_STATS_SQL, {"glob": glob, "purpose": purpose.value})
                    fetched = rows.fetchall()
                except duckdb.Error as exc:
                    stats.errors.append(
                        f"{dataset}/purpose={purpose.value}: cannot read ({_first_line(exc)})"
                    )
                    continue
                for day, pid, pver, n, empty, missing, unlawful, without in fetched:
                    stats.groups.append(
                        PartitionStats(dataset, purpose.value, day or None, pid, pver, n,
                                       empty, missing, unlawful, without)
                    )  # fmt: skip
        stats.stray = _stray(layout, con, stats.errors)
    finally:
        con.close()
    return stats


def _stray(
    layout: StoreLayout, con: duckdb.DuckDBPyConnection, errors: list[str]
) -> list[StrayLocation]:  # noqa: E501
    """Parquet files outside every lawful dataset × purpose directory."""
    lawful = {layout.partition_dir(d, p.value).resolve() for d in DATASETS for p in Purpose}
    by_dir: dict[Path, list[Path]] = {}
    for path in data_files(layout.lake):
        parents = set(path.resolve().parents)
        if parents & lawful:
            continue
        rel = path.relative_to(layout.lake)
        top = layout.lake / Path(*rel.parts[:2]) if len(rel.parts) > 2 else path.parent
        by_dir.setdefault(top, []).append(path)
    stray = []
    for top, files in sorted(by_dir.items()):
        rows = 0
        for f in files:
            try:
                rows += con.execute(_COUNT_SQL, {"glob": str(f.resolve())}).fetchone()[0]
            except duckdb.Error as exc:
                errors.append(f"{f.relative_to(layout.root)}: cannot read ({_first_line(exc)})")
        stray.append(
            StrayLocation(path=str(top.relative_to(layout.root)), files=len(files), rows=rows)
        )
    return stray


def build_rows_section(stats: LakeStats) -> RowsSection:
    section = RowsSection(datasets=list(DATASETS), purposes=[p.value for p in Purpose])
    totals: Counter[tuple[str, str]] = Counter()
    for g in stats.groups:
        totals[(g.dataset, g.purpose)] += g.rows
    for dataset in DATASETS:
        for purpose in Purpose:
            key = (dataset, purpose.value)
            section.counts.append(
                RowCount(
                    dataset=dataset,
                    purpose=purpose.value,
                    rows=totals[key],
                    files=stats.files.get(key, 0),
                )
            )
    section.total_rows = sum(totals.values())
    section.stray = stats.stray
    for error in stats.errors:
        section.fail(error)
    for s in stats.stray:
        section.fail(
            f"{s.files} Parquet file(s) with {s.rows} rows in {s.path}, outside every "
            "lawful dataset × purpose directory"
        )
    section.summary = (
        f"{section.total_rows} rows in {sum(stats.files.values())} files over "
        f"{len(DATASETS)} datasets × {len(Purpose)} purposes"
    )
    return section


def build_purpose_section(stats: LakeStats) -> PurposeSection:
    section = PurposeSection()
    by_partition: dict[tuple[str, str], PurposeViolation] = {}
    for g in stats.groups:
        section.rows_checked += g.rows
        if not g.without_lawful:
            continue
        v = by_partition.setdefault(
            (g.dataset, g.purpose),
            PurposeViolation(dataset=g.dataset, purpose=g.purpose, rows=0, null_or_empty=0,
                             missing_partition_purpose=0, unlawful_values=0),
        )  # fmt: skip
        v.rows += g.without_lawful
        v.null_or_empty += g.null_or_empty
        v.missing_partition_purpose += g.missing_partition_purpose
        v.unlawful_values += g.unlawful_values
    section.violations = list(by_partition.values())
    section.stray_rows = sum(s.rows for s in stats.stray)
    section.rows_without_lawful_purpose = sum(v.rows for v in section.violations) + (
        section.stray_rows
    )
    if section.rows_without_lawful_purpose:
        section.fail(
            f"{section.rows_without_lawful_purpose} rows are stored without a lawful purpose"
        )
    for error in stats.errors:
        section.fail(f"not checked: {error}")
    section.summary = (
        f"{section.rows_without_lawful_purpose} of {section.rows_checked + section.stray_rows} "
        "rows without a lawful purpose (must be 0)"
    )
    return section


def load_policies(layout: StoreLayout) -> tuple[list[Policy], str]:
    """The policies ingests used (the registry, when there is one) or the defaults."""
    try:
        from store import policy_registry  # type: ignore[attr-defined]
    except ImportError:
        return default_policies(), "default policies (policies/*.toml): no policy registry"
    try:
        policies = list(policy_registry.registered_policies(layout))
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and is reported
        return default_policies(), (
            f"default policies (policies/*.toml): the registry failed ({type(exc).__name__})"
        )
    if not policies:
        return default_policies(), "default policies (policies/*.toml): the registry is empty"
    known = {p.id for p in policies}
    defaults = [p for p in default_policies() if p.id not in known]
    source = f"{len(policies)} policies registered in the store"
    if defaults:
        source += f", defaults for {', '.join(p.id for p in defaults)} (not registered)"
    return policies + defaults, source


def build_retention_section(
    stats: LakeStats, policies: list[Policy], source: str, today: date
) -> RetentionSection:
    section = RetentionSection(today=today.isoformat(), policy_source=source)
    by_version = {(p.id, p.version): p for p in policies}
    by_id: dict[str, Policy] = {}
    for p in sorted(policies, key=lambda p: p.version):
        by_id[p.id] = p  # the latest version

    def grants(dataset: str, purpose: str) -> list[Policy]:
        return [p for p in policies if p.dataset == dataset and Purpose(purpose) in p.purposes]

    days: dict[tuple[str, str, str | None], dict[str, int]] = {}
    labels: dict[tuple[str, str, str | None], int | None] = {}
    for g in stats.groups:
        policy = by_version.get((g.policy_id or "", g.policy_version or 0)) or by_id.get(
            g.policy_id or ""
        )
        if policy is not None and Purpose(g.purpose) in policy.purposes:
            label: str | None = _policy_label(policy.id, policy.version)
            retention: int | None = policy.purposes[Purpose(g.purpose)].retention_days
        else:  # rows naming no known policy: the strictest policy granting the purpose
            granting = grants(g.dataset, g.purpose)
            label = None
            retention = min((p.purposes[Purpose(g.purpose)].retention_days for p in granting),
                            default=None)  # fmt: skip
        key = (g.dataset, g.purpose, label)
        labels[key] = retention
        per_day = days.setdefault(key, {})
        per_day[g.day or ""] = per_day.get(g.day or "", 0) + g.rows
    for dataset in DATASETS:  # granted purposes without data are listed too
        for purpose in Purpose:
            for p in grants(dataset, purpose.value):
                key = (dataset, purpose.value, _policy_label(p.id, p.version))
                if key not in days and not any(k[:2] == key[:2] for k in days):
                    days[key] = {}
                    labels[key] = p.purposes[purpose].retention_days
    for key in sorted(days, key=lambda k: (k[0], k[1], k[2] or "")):
        dataset, purpose, label = key
        retention = labels[key]
        dated = sorted(d for d in days[key] if d)
        item = RetentionItem(
            dataset=dataset,
            purpose=purpose,
            policy=label,
            retention_days=retention,
            rows=sum(days[key].values()),
            oldest=dated[0] if dated else None,
            age_days=(today - date.fromisoformat(dated[0])).days if dated else None,
            cutoff=None,
        )
        if "" in days[key]:
            section.warn(
                f"{dataset}/{purpose}: {days[key]['']} rows outside any date=YYYY-MM-DD "
                "partition; their age is unknown"
            )
        if retention is None:
            if item.rows:
                section.fail(f"{dataset}/{purpose}: rows stored, but no policy grants this purpose")
        else:
            cutoff = today - timedelta(days=retention)
            item.cutoff = cutoff.isoformat()
            item.overdue_partitions = [d for d in dated if date.fromisoformat(d) < cutoff]
            item.overdue = bool(item.overdue_partitions)
        if label is None and item.rows:
            section.notes.append(
                f"{dataset}/{purpose}: {item.rows} rows name no known policy; checked against "
                "the strictest policy granting the purpose"
            )
        section.items.append(item)
    section.overdue_partitions = len(
        {(i.dataset, i.purpose, d) for i in section.items for d in i.overdue_partitions}
    )
    if section.overdue_partitions:
        section.fail(f"{section.overdue_partitions} date partitions are past their retention")
    for error in stats.errors:
        section.fail(f"not checked: {error}")
    section.summary = (
        f"{section.overdue_partitions} partitions past retention (today {section.today}; {source})"
    )
    return section


def timed(build: Callable[[], SectionBase]) -> SectionBase:
    start = time.perf_counter()
    section = build()
    section.seconds = round(time.perf_counter() - start, 4)
    return section


def utc_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _first_line(exc: BaseException) -> str:
    """An error's first line with quoted parts cut: they may quote a value."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _QUOTED.sub("'…'", line)[:300]


def section_problems(sections: Iterable[SectionBase]) -> tuple[list[str], list[str]]:
    problems = [f"{s.title}: {p}" for s in sections for p in s.problems]
    warnings = [f"{s.title}: {n}" for s in sections if s.status is Status.warning for n in s.notes]
    return problems, warnings
