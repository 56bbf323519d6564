"""Validation after parsing: rows a parser produced but that cannot be stored honestly
go to the dead letter with a reason (never quoting a value): no time, a port out of
range, an "address" that is not one (it would otherwise be kept in clear as external).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import DatasetSpec
from transforms.distinct import map_distinct
from transforms.parse.base import REASON, REJECT_SCHEMA, ROW

FUTURE_SLACK = timedelta(days=2)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def validate(
    events: pa.Table, dataset: DatasetSpec, now: datetime | None = None
) -> tuple[pa.Table, pa.Table]:
    """Return (valid events, rejects); each bad row gets the first reason that applies."""
    now = now or datetime.now(UTC)
    time = events.column("time")
    checks: list[tuple[pa.Array, str]] = [
        (pc.is_null(time), "no event time"),
        (pc.greater(time, pa.scalar(now + FUTURE_SLACK, time.type)), "event time in the future"),
        (pc.less(time, pa.scalar(EARLIEST, time.type)), "event time before 1990"),
    ]
    for col in dataset.columns:
        if col.name not in events.column_names:
            continue
        if col.name.endswith("_port"):
            values = events.column(col.name)
            outside = pc.or_(pc.less(values, 0), pc.greater(values, 65535))
            checks.append((outside, f"{col.name} out of range"))
        if col.ip:
            checks.append(
                (_not_an_address(events.column(col.name)), f"{col.name} is not an IP address")
            )
    reason = pa.nulls(events.num_rows, pa.string())
    for mask, text in reversed(checks):  # the first check that applies wins
        mask = pc.fill_null(mask, False)
        if pc.any(mask).as_py():
            reason = pc.if_else(mask, pa.scalar(text), reason)
    bad = pc.is_valid(reason)
    if not pc.any(bad).as_py():
        return events, REJECT_SCHEMA.empty_table()
    rejects = pa.table(
        {ROW: events.column(ROW).filter(bad), REASON: reason.filter(bad)}, schema=REJECT_SCHEMA
    )
    return events.filter(pc.invert(bad)), rejects


@lru_cache(maxsize=1 << 18)
def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _not_an_address(values: pa.ChunkedArray) -> pa.Array:
    flags = map_distinct(
        values.combine_chunks(), lambda vs: ["" if _is_address(v) else "x" for v in vs]
    )
    return pc.equal(flags, "x")
