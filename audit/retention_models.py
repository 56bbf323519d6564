"""The model of the retention section: per dataset × purpose × policy the oldest
partition and those past retention, the partitions a legal hold keeps, the active
holds, the last retention run and what every purge removed so far.

Only dates, counts, ids and paths: never a value read from the lake.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.section import Model, SectionBase


class RetentionItem(Model):
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
    held_partitions: list[str] = Field(default_factory=list)  # past retention, but held


class HeldItem(Model):
    """A partition past its retention that an active legal hold keeps."""

    dataset: str
    purpose: str
    date: str
    holds: list[str]
    cases: list[str]


class HoldItem(Model):
    """An active legal hold, as the ledger recorded it."""

    id: str
    case: str
    case_open: bool | None  # None: the ledger has no such case
    scope: str
    reason: str
    added_by: str
    added_at: str


class RetentionRunItem(Model):
    """A `retention run` as the ledger recorded it."""

    seq: int
    time: str
    actor: str
    today: str | None
    outcome: str  # ok / failed / unanswered
    files_removed: int | None = None
    rows_removed: int | None = None
    held_partitions: int | None = None
    tombstones_reapplied: int | None = None
    vault_entries_removed: int | None = None
    deadletter_runs_removed: int | None = None
    key_ids: list[str] | None = None
    errors: list[str] = Field(default_factory=list)


class PurgeTotals(Model):
    """Everything the ledgered purges removed, over all retention runs."""

    runs: int = 0
    lake_files: int = 0
    rows: int = 0
    vault_entries: int = 0
    deadletter_runs: int = 0
    tombstones_reapplied: int = 0


class RetentionSection(SectionBase):
    id: Literal["retention"] = "retention"
    title: str = "Retention"
    today: str = ""
    policy_source: str = ""
    items: list[RetentionItem] = Field(default_factory=list)
    overdue_partitions: int = 0
    held: list[HeldItem] = Field(default_factory=list)
    held_partitions: int = 0
    holds: list[HoldItem] = Field(default_factory=list)  # active holds
    last_run: RetentionRunItem | None = None
    purges: PurgeTotals = Field(default_factory=PurgeTotals)
    restored: list[str] = Field(default_factory=list)  # purged paths that exist again

    def figure(self) -> tuple[str, int] | None:
        return "partitions past retention", self.overdue_partitions
