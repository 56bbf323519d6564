"""The sink: one batch's rows, once per purpose, as Parquet partitioned by event date;
its rejected lines as an encrypted dead letter (without the raw bytes of lines already
past retention); and a small report that accounts for every input line
(read = written + rejected).

Everything is written under the run's staging directory, outside the lake's globs, and
only the run's commit renames it into place, so a crash never leaves a half file (or
half a run) visible to readers.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.policy import Policy
from store.deadletter import SUFFIX, write_sealed
from store.failpoints import failpoint
from transforms.batch import Batch
from transforms.expire import withhold_expired_raw
from transforms.parse.base import REASON, ROW
from transforms.purpose import RunStamp, project

PART_SUFFIX = ".part"  # matched by no `*.parquet` glob


class AccountingError(RuntimeError):
    """read != written + rejected: a bug, never silently ignored."""


@dataclass
class PartReport:
    part_id: str
    source_file: str
    first_line: int
    read: int
    written: int
    rejected: int
    dropped: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # fixed texts, never values
    files: list[str] = field(default_factory=list)  # staged paths relative to the run dir
    deadletter: str | None = None
    vault: str | None = None  # staged sealed identities
    sealed: int = 0
    source_format: str = ""  # the format the part's lines were parsed as ("" unrecognised)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def write_batch(
    batch: Batch, policy: Policy | None, stamp: RunStamp, run_dir: Path, deadletter_key: bytes
) -> PartReport:
    """`policy` is None only for lines no format recognised (`--source auto`): they are
    all rejected, so only a dead letter is written."""
    read = len(batch.raw)
    written = batch.events.num_rows
    rejected = batch.rejects.num_rows
    accounted = pa.concat_arrays(
        [batch.events.column(ROW).combine_chunks(), batch.rejects.column(ROW).combine_chunks()]
    )
    if read != written + rejected or pc.count_distinct(accounted).as_py() != read:
        raise AccountingError(
            f"{batch.source_file}: lines from {batch.first_line}: read={read} "
            f"written={written} rejected={rejected}"
        )
    report = PartReport(
        batch.part_id, batch.source_file, batch.first_line, read, written, rejected, batch.dropped
    )
    report.source_format = batch.source_format
    if policy is None and written:
        raise AccountingError(f"{batch.source_file}: {written} rows without a format or policy")
    if rejected:
        counts = pc.value_counts(batch.rejects.column(REASON).combine_chunks())
        report.reasons = {
            c["values"]: c["counts"] for c in counts.to_pylist() if c["values"] is not None
        }
    for purpose in policy.purposes if policy is not None else ():
        table = project(batch.events, policy, purpose, stamp)
        report.files += _write_partitions(
            table, policy.dataset, purpose.value, batch, stamp, run_dir
        )
    if batch.sealed is not None and batch.sealed.num_rows:
        rel = f"vault/{batch.part_id}.parquet{PART_SUFFIX}"
        (run_dir / "vault").mkdir(parents=True, exist_ok=True, mode=0o700)
        pq.write_table(batch.sealed, run_dir / rel, compression="zstd")
        report.vault, report.sealed = rel, batch.sealed.num_rows
    if rejected:
        rel = f"deadletter/{batch.part_id}{SUFFIX}{PART_SUFFIX}"
        write_sealed(run_dir / rel, _dead_letters(batch), deadletter_key)
        report.deadletter = rel
    _write_report(run_dir / "reports" / f"{batch.part_id}.json", report)
    return report


def _write_partitions(
    table: pa.Table, dataset: str, purpose: str, batch: Batch, stamp: RunStamp, run_dir: Path
) -> list[str]:
    if table.num_rows == 0:
        return []
    # Dictionaries pay for repetitive strings only (evidence tags are unique per row), and
    # min/max statistics only for what queries filter on by range: times and numbers.
    textual = [f.name for f in table.schema if _is_textual(f.type)]
    dictionary_columns = [c for c in textual if c != "evidence_tag"]
    statistics_columns = [c for c in table.column_names if c not in textual]
    days = table.column("time").cast(pa.date32())
    distinct = pc.unique(days).to_pylist()
    written = []
    for day in distinct:
        part = table if len(distinct) == 1 else table.filter(pc.equal(days, day))
        rel = (
            f"lake/{dataset}/purpose={purpose}/date={day}/"
            f"{stamp.ingest_run}-{batch.part_id}.parquet{PART_SUFFIX}"
        )
        path = run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pq.write_table(
            part,
            path,
            compression="zstd",
            use_dictionary=dictionary_columns,
            write_statistics=statistics_columns,
        )
        written.append(rel)
        failpoint("sink.after_parquet")
    return written


def _is_textual(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_list(type_)


def _dead_letters(batch: Batch) -> pa.Table:
    """File, line, reason and raw bytes of each rejected line; lines past retention keep
    an empty raw (see `transforms.expire`)."""
    rejects = batch.rejects.sort_by(ROW)
    rows = rejects.column(ROW)
    reasons = rejects.column(REASON).combine_chunks()
    return pa.table(
        {
            "file": pa.array([batch.source_file] * rejects.num_rows, pa.string()),
            "line": batch.lines_of(rows),
            "reason": reasons,
            "raw": withhold_expired_raw(reasons, batch.raw.take(rows)),
        }
    )


def _write_report(path: Path, report: PartReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(report.to_json(), encoding="utf-8")
    os.replace(tmp, path)
