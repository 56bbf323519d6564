"""Validation after parsing: rows a parser produced but that cannot be stored honestly
go to the dead letter with a reason (never quoting a value): no time, a port out of
range, an "address" that is not one (it would otherwise be kept in clear as external).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import DatasetSpec
from transforms.batch import reject_rows
from transforms.parse.base import REJECT_SCHEMA
from transforms.pseudonymize import map_distinct

FUTURE_SLACK = timedelta(days=2)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def validate(
    events: pa.Table, dataset: DatasetSpec, now: datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """Return (valid events, rejects)."""
    now = now or datetime.now(UTC)
    rejects: list[pa.Table] = []

    def check(mask: pa.Array, reason: str) -> None:
        nonlocal events
        events, bad = reject_rows(events, mask, reason)
        if bad.num_rows:
            rejects.append(bad)

    check(pc.is_null(events.column("time")), "no event time")
    time = events.column("time")
    check(pc.greater(time, pa.scalar(now + FUTURE_SLACK, time.type)), "event time in the future")
    time = events.column("time")
    check(pc.less(time, pa.scalar(EARLIEST, time.type)), "event time before 1990")
    for col in dataset.columns:
        if col.name.endswith("_port") and col.name in events.column_names:
            values = events.column(col.name)
            outside = pc.or_(pc.less(values, 0), pc.greater(values, 65535))
            check(outside, f"{col.name} out of range")
        if col.ip and col.name in events.column_names:
            check(_not_an_address(events.column(col.name)), f"{col.name} is not an IP address")
    merged = pa.concat_tables(rejects) if rejects else REJECT_SCHEMA.empty_table()
    return events, merged


def _not_an_address(values: pa.ChunkedArray) -> pa.Array:
    def bad(texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            try:
                ipaddress.ip_address(text)
                out.append("")
            except ValueError:
                out.append("x")
        return out

    flags = map_distinct(values.combine_chunks(), bad)
    return pc.equal(flags, "x")
