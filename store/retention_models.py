"""What a retention run did, step by step: the files it removed (and why), the
partitions it kept for a legal hold, the vault entries and dead letters it deleted, the
tombstones it re-applied, and the pseudonym key ids the lake still needs.

Only paths, dates, counts and ids: never a value read from the lake or the vault.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurgedFile(_Model):
    path: str  # relative to the store
    dataset: str
    purpose: str
    date: str
    rows: int
    retention_days: int
    policy_id: str | None  # None: rows naming no known policy (strictest granting one)
    policy_version: int | None


class HeldPartition(_Model):
    """A date partition past its retention, kept because an active hold covers it."""

    dataset: str
    purpose: str
    date: str
    files: int
    rows: int
    holds: list[str]
    cases: list[str]


class VaultPrune(_Model):
    files_rewritten: list[str] = Field(default_factory=list)  # relative to the store
    files_removed: list[str] = Field(default_factory=list)  # every entry in them was gone
    entries_removed: int = 0
    entries_kept: int = 0


class DeadletterPurge(_Model):
    removed: list[str] = Field(default_factory=list)  # `deadletter/<run>` directories
    files: int = 0
    retention_days: int = 0
    unknown_age: list[str] = Field(default_factory=list)  # runs kept: no finish time known


class RetentionResult(_Model):
    today: str
    policy_source: str
    tombstones_reapplied: list[str] = Field(default_factory=list)  # restored, removed again
    purged: list[PurgedFile] = Field(default_factory=list)
    held: list[HeldPartition] = Field(default_factory=list)
    unknown_retention: list[str] = Field(default_factory=list)  # partitions no policy grants
    undated_files: int = 0  # outside any date partition: their age is unknown
    vault: VaultPrune | None = None  # None: skipped (the lake could not be read whole)
    deadletter: DeadletterPurge = Field(default_factory=DeadletterPurge)
    key_ids: list[str] | None = None  # pseudonym keys the lake holds (None: not all read)
    keys_destroyed: list[str] = Field(default_factory=list)  # periods whose key went
    errors: list[str] = Field(default_factory=list)

    @property
    def rows_purged(self) -> int:
        return sum(f.rows for f in self.purged)

    @property
    def ok(self) -> bool:
        return not self.errors
