"""Which dead-letter runs are past the store's dead-letter retention.

Dead letters hold rejected raw lines (so, often, plain identities) for the operator to
look into; they are kept `deadletter_retention_days` (store settings) after their run
finished (`runs/<run>.json`), counted by UTC date as partitions are. A run without a
summary is dated by its id (`YYYYMMDDTHHMMSSZ-…`); one dated by neither is kept and
reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from schemas.retention import is_past
from store.layout import StoreLayout


@dataclass
class DeadletterExpiry:
    expired: list[Path] = field(default_factory=list)  # run directories to remove
    files: int = 0  # dead-letter files in them
    unknown_age: list[str] = field(default_factory=list)  # run ids kept: no date known


def run_finished(layout: StoreLayout, run_id: str) -> datetime | None:
    """When a run finished, from its summary, else from its id."""
    try:
        summary = json.loads((layout.runs / f"{run_id}.json").read_text(encoding="utf-8"))
        finished = summary.get("finished") if isinstance(summary, dict) else None
        if isinstance(finished, str) and finished:
            value = datetime.fromisoformat(finished)
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    except (OSError, ValueError):
        pass
    try:
        return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def expired_deadletters(layout: StoreLayout, today: date, days: int) -> DeadletterExpiry:
    found = DeadletterExpiry()
    if not layout.deadletter.is_dir():
        return found
    for run_dir in sorted(p for p in layout.deadletter.iterdir() if p.is_dir()):
        finished = run_finished(layout, run_dir.name)
        if finished is None:
            found.unknown_age.append(run_dir.name)
            continue
        if is_past(finished.astimezone(UTC).date(), today, days):
            found.expired.append(run_dir)
            found.files += sum(1 for p in run_dir.rglob("*") if p.is_file())
    return found
