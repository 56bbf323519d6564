"""Planning a dead-letter replay: the lines one ingest run rejected, parsed again (after
a parser or policy fix) by a new run, with their original files and line numbers.

The new run commits like any ingest, and its commit record also retires the replayed
run's dead letters, so each line ends up exactly once: in the lake, or in the new
run's dead letter (still rejected, perhaps for another reason). Lines whose raw bytes
were withheld (past retention at ingest) cannot be parsed again; they are carried over
as they are, rejected for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.plan import IngestPlan, InputError, plan_slices
from store import deadletter
from store.keys import load_keys
from store.layout import StoreError, StoreLayout
from transforms.batch import Batch
from transforms.expire import EXPIRED_REASON
from transforms.parse.base import REASON, REJECT_SCHEMA, ROW
from transforms.read_lines import CHUNK_LINES

NO_FORMAT = ""  # a batch no format parses: its lines are rejects already


def plan_replay(
    layout: StoreLayout, run_id: str, source: str | None = None, timezone: str = "UTC"
) -> IngestPlan:
    """The plan; its commit must retire `STORE/deadletter/<run_id>`."""
    directory = layout.deadletter / run_id
    if not directory.is_dir():
        raise StoreError(
            f"{layout.root}: no dead letters for run {run_id!r} (never rejected anything, "
            "already replayed, or removed by retention)"
        )
    summary = _run_summary(layout, run_id)
    fmt = source or summary.get("source_format")
    if not isinstance(fmt, str) or not fmt:
        raise InputError(f"run {run_id}: its format is unknown; give --source")
    key = load_keys(layout.keys).deadletter
    tables = [table for _, table in deadletter.read_all(directory, key)]
    rows = pa.concat_tables(tables).cast(deadletter.DEADLETTER_SCHEMA) if tables else None
    if rows is None or rows.num_rows == 0:
        raise StoreError(f"{directory}: holds no dead letters")
    plan = plan_slices(layout.root, fmt, [], timezone=timezone)
    batches = replay_batches(rows, fmt)
    reference = summary.get("started") or summary.get("finished")
    return replace(plan, replay=tuple(batches), reference_time=reference or None)


def replay_batches(rows: pa.Table, fmt: str) -> list[Batch]:
    """Batches of at most CHUNK_LINES lines per original file, in line order."""
    withheld = pc.fill_null(pc.equal(rows.column("reason"), EXPIRED_REASON), False)
    batches: list[Batch] = []
    for table, source_format in ((rows.filter(pc.invert(withheld)), fmt),
                                 (rows.filter(withheld), NO_FORMAT)):  # fmt: skip
        for name in sorted(set(table.column("file").to_pylist())):
            mine = table.filter(pc.equal(table.column("file"), name)).sort_by("line")
            for start in range(0, mine.num_rows, CHUNK_LINES):
                part = mine.slice(start, CHUNK_LINES)
                batches.append(_batch(part, name, len(batches), source_format))
    return batches


def _batch(part: pa.Table, name: str, index: int, source_format: str) -> Batch:
    lines = part.column("line").combine_chunks()
    raw = part.column("raw").combine_chunks()
    rejects = REJECT_SCHEMA.empty_table()
    if source_format == NO_FORMAT:  # withheld: rejected again for the reason they had
        rows = pa.array(range(part.num_rows), pa.int64())
        reasons = pa.array([EXPIRED_REASON] * part.num_rows, pa.string())
        rejects = pa.table({ROW: rows, REASON: reasons}).cast(REJECT_SCHEMA)
    empty = pa.table({ROW: pa.array([], pa.int64())})
    return Batch(
        name, index, 0, lines[0].as_py(), raw, empty, rejects,
        source_format=source_format, subpart="replay", line_numbers=lines,
    )  # fmt: skip


def _run_summary(layout: StoreLayout, run_id: str) -> dict[str, object]:
    path: Path = layout.runs / f"{run_id}.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable run summary ({type(exc).__name__})") from None
