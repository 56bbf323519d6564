"""The models of the four sections read from the ledger: its verification, the queries
(by purpose, actor and case, and the anonymous statistics), the refusals, and the ingest
runs with the cases, policy registrations and dead-letter views beside them.

They hold what the ledger recorded (actors, times, purposes, truncated SQL, counts),
never a value read from the lake. `audit.ledger_sections` builds them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.section import Model, SectionBase

# -- 1. ledger verification ------------------------------------------------------------


class AuditReportRun(Model):
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

    def figure(self) -> tuple[str, int] | None:
        return "ledger entries verified", self.entries


class QueryGroup(Model):
    purpose: str
    actor: str
    case: str | None
    queries: int = 0
    ok: int = 0
    failed: int = 0
    unanswered: int = 0  # an intent without a result (interrupted)
    rows: int = 0  # rows returned by the successful ones


class StatsGroup(Model):
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


class QueryItem(Model):
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

    def figure(self) -> tuple[str, int] | None:
        return "queries under a purpose", self.total_queries


class RefusalItem(Model):
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

    def figure(self) -> tuple[str, int] | None:
        return "refusals", self.total


class IngestRun(Model):
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


class CaseItem(Model):
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


class PolicyItem(Model):
    seq: int
    time: str
    actor: str
    id: str | None
    version: int | None
    dataset: str | None
    sha256: str | None
    previous: str | None  # the version it replaces (its SHA-256 or stored file name)


class DeadletterView(Model):
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
