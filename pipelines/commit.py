"""Committing an ingest run: move the staged Parquet files and dead letters into place
(each an atomic rename), then write the run summary. Readers see a file completely or
not at all; the staging directory is outside every glob the catalog reads.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from store.layout import StoreLayout
from store.vault import write_run_entries
from transforms.sink import PART_SUFFIX, AccountingError, PartReport


@dataclass
class RunSummary:
    run_id: str
    source_format: str
    policy_id: str
    policy_version: int
    files: list[str]
    read: int = 0
    written: int = 0
    rejected: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # why lines were dead-lettered
    lake_files: int = 0
    sealed: int = 0  # identities new to the vault
    formats: dict[str, int] = field(default_factory=dict)  # lines per format ("" unrecognised)
    started: str = ""
    finished: str = ""


def load_reports(run_dir: Path) -> list[PartReport]:
    reports = []
    for path in sorted((run_dir / "reports").glob("*.json")):
        reports.append(PartReport(**json.loads(path.read_text(encoding="utf-8"))))
    return reports


def commit_run(layout: StoreLayout, summary: RunSummary, expected_lines: int) -> RunSummary:
    run_dir = layout.staging / summary.run_id
    reports = load_reports(run_dir)
    for report in reports:
        summary.read += report.read
        summary.written += report.written
        summary.rejected += report.rejected
        for name, count in report.dropped.items():
            summary.dropped[name] = summary.dropped.get(name, 0) + count
        for reason, count in report.reasons.items():
            summary.reasons[reason] = summary.reasons.get(reason, 0) + count
        name = report.source_format or "unrecognised"
        summary.formats[name] = summary.formats.get(name, 0) + report.read
    if summary.read != expected_lines or summary.read != summary.written + summary.rejected:
        raise AccountingError(
            f"run {summary.run_id}: planned {expected_lines} lines, read={summary.read} "
            f"written={summary.written} rejected={summary.rejected}; nothing committed"
        )
    # The vault first: an entry without rows is harmless (retention removes it), rows
    # whose identity is not in the vault could never be re-identified.
    sealed = (run_dir / r.vault for r in reports if r.vault)
    summary.sealed = write_run_entries(layout, summary.run_id, sealed)
    for report in reports:
        for rel in report.files:
            target = layout.root / rel.removesuffix(PART_SUFFIX)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(run_dir / rel, target)
            summary.lake_files += 1
        if report.deadletter:
            name = Path(report.deadletter).name.removesuffix(PART_SUFFIX)
            target = layout.deadletter / summary.run_id / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(run_dir / report.deadletter, target)
    summary.finished = datetime.now(UTC).isoformat()
    tmp = layout.runs / f"{summary.run_id}.json.tmp"
    tmp.write_text(json.dumps(summary.__dict__, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, layout.runs / f"{summary.run_id}.json")
    shutil.rmtree(run_dir, ignore_errors=True)
    return summary
