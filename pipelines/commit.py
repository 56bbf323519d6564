"""Committing an ingest run, so that a crash at any instant leaves it either wholly
visible or not at all, and every input line is in the lake exactly once.

1. Everything is staged under `STORE/staging/<run>/` (outside every glob the catalog
   reads): Parquet parts, dead letters, the run's new vault entries.
2. The commit record `COMMIT.json` is written (fsync, atomic rename): the staged files
   and where each goes, the manifest as it stands after the run, the run summary. Once
   it exists the run is committed; before, it never happened.
3. The record is applied: each file renamed into place, the manifest replaced, the run
   summary written. Applying is idempotent, so a run killed while applying is finished
   by the next writer (pipelines/recover.py) from the same record.
4. The caller ledgers the result, then removes the staging directory.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from store.durable import fsync_dir, fsync_path
from store.failpoints import failpoint
from store.layout import StoreLayout
from store.manifest import FilePosition, Manifest, load_manifest, write_manifest
from store.model_file import write_model
from store.vault import entries_file, write_new_entries
from transforms.sink import PART_SUFFIX, AccountingError, PartReport

JOURNAL = "COMMIT.json"
INTENT = "intent.json"
VAULT_STAGED = "vault-entries.parquet" + PART_SUFFIX


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
    skipped: list[str] = field(default_factory=list)  # "path: why" of inputs with nothing new
    started: str = ""
    finished: str = ""


class CommitJournal(BaseModel):
    """What a committed run changes; applying it twice changes nothing more."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    intent_seq: int | None = None  # the ledger's intent entry for this run
    moves: list[tuple[str, str]]  # store-relative: staged file → final place
    remove: list[str] = []  # store-relative paths the run retires (replayed dead letters)
    manifest: Manifest
    summary: dict[str, Any]


def load_reports(run_dir: Path) -> list[PartReport]:
    reports = []
    for path in sorted((run_dir / "reports").glob("*.json")):
        reports.append(PartReport(**json.loads(path.read_text(encoding="utf-8"))))
    return reports


def summarise(summary: RunSummary, reports: list[PartReport], expected_lines: int) -> None:
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


def commit_run(
    layout: StoreLayout,
    summary: RunSummary,
    expected_lines: int,
    positions: tuple[FilePosition, ...] = (),
    contents: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
    forget: tuple[str, ...] = (),
) -> RunSummary:
    """Check the accounting, write the commit record, apply it. Call with the store's
    writer lock held (store/write_lock.py): the manifest is read and replaced here."""
    run_dir = layout.staging / summary.run_id
    reports = load_reports(run_dir)
    summarise(summary, reports, expected_lines)
    moves: list[tuple[str, str]] = []
    # The vault first: an entry without rows is harmless (retention removes it), rows
    # whose identity is not in the vault could never be re-identified.
    staged = (run_dir / r.vault for r in reports if r.vault)
    summary.sealed = write_new_entries(layout, staged, run_dir / VAULT_STAGED)
    if summary.sealed:
        target = entries_file(layout, summary.run_id)
        moves.append((_rel(layout, run_dir / VAULT_STAGED), _rel(layout, target)))
    for report in reports:
        for rel in report.files:
            moves.append((_rel(layout, run_dir / rel), rel.removesuffix(PART_SUFFIX)))
        if report.deadletter:
            name = Path(report.deadletter).name.removesuffix(PART_SUFFIX)
            target = layout.deadletter / summary.run_id / name
            moves.append((_rel(layout, run_dir / report.deadletter), _rel(layout, target)))
    summary.lake_files = sum(len(r.files) for r in reports)
    summary.finished = datetime.now(UTC).isoformat()
    manifest = load_manifest(layout)
    for position in positions:
        manifest.positions[position.key] = position
    for digest in contents:
        manifest.contents[digest] = summary.run_id
    for key in forget:
        manifest.positions.pop(key, None)
    _fsync_staged(run_dir)
    journal = CommitJournal(
        run_id=summary.run_id, intent_seq=read_intent(run_dir), moves=moves,
        remove=list(remove), manifest=manifest, summary=asdict(summary),
    )  # fmt: skip
    failpoint("commit.before_journal")
    write_journal(run_dir, journal)
    failpoint("commit.after_journal")
    apply_journal(layout, journal)
    return summary


def write_journal(run_dir: Path, journal: CommitJournal) -> None:
    write_model(run_dir / JOURNAL, journal)
    fsync_dir(run_dir)  # the record's name is durable too: the run is committed


def apply_journal(layout: StoreLayout, journal: CommitJournal) -> None:
    for i, (staged, final) in enumerate(journal.moves):
        source, target = layout.root / staged, layout.root / final
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(source, target)
        elif not target.exists():
            raise AccountingError(
                f"run {journal.run_id}: the commit record names {staged}, which is neither "
                f"staged nor at {final}; the store needs an operator's look"
            )
        if i == 0:
            failpoint("commit.mid_moves")
    for rel in journal.remove:
        path = layout.root / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    write_manifest(layout, journal.manifest)
    failpoint("commit.after_manifest")
    target = layout.runs / f"{journal.run_id}.json"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(journal.summary, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, target)


def load_journal(run_dir: Path) -> CommitJournal | None:
    path = run_dir / JOURNAL
    if not path.exists():
        return None
    return CommitJournal.model_validate_json(path.read_text(encoding="utf-8"))


def write_intent(run_dir: Path, intent_seq: int | None) -> None:
    """Which ledger intent the staged run answers (for the result a recovery writes)."""
    (run_dir / INTENT).write_text(json.dumps({"intent_seq": intent_seq}), encoding="utf-8")


def read_intent(run_dir: Path) -> int | None:
    try:
        value = json.loads((run_dir / INTENT).read_text(encoding="utf-8"))["intent_seq"]
    except (OSError, ValueError, KeyError):
        return None
    return value if isinstance(value, int) else None


def discard_staging(layout: StoreLayout, run_id: str) -> None:
    shutil.rmtree(layout.staging / run_id, ignore_errors=True)


def _rel(layout: StoreLayout, path: Path) -> str:
    return str(path.relative_to(layout.root))


def _fsync_staged(run_dir: Path) -> None:
    """Staged bytes reach the disk before the commit record that points at them."""
    for path in run_dir.rglob("*" + PART_SUFFIX):
        fsync_path(path)
