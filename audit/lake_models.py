"""The models of three sections read from the lake (and the catalog): rows per
dataset × purpose, rows without a lawful purpose and the leak scan (retention, read from
the lake and the ledger, is in `audit.retention_models`).

No field holds a value read from the lake: only counts, names of files and columns,
dates, and keyed digests of leaked values (see `audit.leak_digest`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.leak_digest import DIGEST_NOTE
from audit.section import Model, SectionBase

# -- 5. rows per dataset × purpose -----------------------------------------------------


class RowCount(Model):
    dataset: str
    purpose: str
    rows: int
    files: int  # data files (anchors not counted)


class StrayLocation(Model):
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

    def figure(self) -> tuple[str, int] | None:
        return "rows in the lake", self.total_rows


class PurposeViolation(Model):
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

    def figure(self) -> tuple[str, int] | None:
        return "rows without a lawful purpose", self.rows_without_lawful_purpose


class AliasSource(Model):
    path: str
    origin: Literal["given", "ledger"]
    status: Literal["loaded", "missing", "unreadable"]
    identifiers: int = 0  # identifiers checked (employee ids included)
    skipped_short: int = 0  # shorter than the minimum length, not checked


class LeakExample(Model):
    row: int  # row index in the file (byte offset for raw bytes)
    digest: str  # keyed digest of the value (audit.leak_digest); never the value itself


class LeakFinding(Model):
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
    digests: str = DIGEST_NOTE  # what an example's digest is, and what it cannot be used for
    findings: list[LeakFinding] = Field(default_factory=list)
    total_findings: int = 0
    by_pattern: dict[str, int] = Field(default_factory=dict)
    exempt: dict[str, int] = Field(default_factory=dict)  # values not counted, and why
    errors: list[str] = Field(default_factory=list)

    def figure(self) -> tuple[str, int] | None:
        return "plain identities found", self.total_findings
