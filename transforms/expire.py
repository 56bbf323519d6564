"""Lines already past retention when they arrive (a backfill of old logs) are not
stored: retention would only have to remove them again, and until then they would be
kept longer than any purpose allows.

A row whose event date is past the LONGEST retention among its policy's purposes is
rejected with `EXPIRED_REASON`; its dead letter keeps the file, line and reason but not
the raw bytes (a dead letter holding them would keep past-retention personal data under
another name). A row past one purpose's retention but not another's is kept, and
written only for the purposes still in retention (`in_retention`, used by
`transforms.purpose`).

`today` is fixed once per run (when it is planned), never per worker, so every line of
a run is judged against the same day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.policy import Policy
from schemas.retention import retention_cutoff
from transforms.batch import Batch, reject_rows
from transforms.parse.base import REJECT_SCHEMA

EXPIRED_REASON = "past retention for every purpose"
TIME = "time"


def run_date() -> date:
    """The UTC day an ingest run counts retention from (read once, when it is planned)."""
    return datetime.now(UTC).date()


def in_retention(times: pa.Array | pa.ChunkedArray, today: date, days: int) -> np.ndarray:
    """Rows whose event date (UTC) is not past a retention of `days` on `today`; rows
    without a time count as in retention (validation refuses them before this)."""
    cutoff = pa.scalar(retention_cutoff(today, days), pa.date32())
    kept = pc.greater_equal(times.cast(pa.timestamp("us", tz="UTC")).cast(pa.date32()), cutoff)
    return pc.fill_null(kept, True).to_numpy(zero_copy_only=False)


def longest_retention(policy: Policy) -> int:
    return max(grant.retention_days for grant in policy.purposes.values())


def expire(events: pa.Table, policy: Policy, today: date) -> tuple[pa.Table, pa.Table]:
    """(rows still in retention for some purpose, rejects past every purpose's)."""
    if events.num_rows == 0 or TIME not in events.column_names:
        return events, REJECT_SCHEMA.empty_table()
    live = in_retention(events.column(TIME), today, longest_retention(policy))
    if live.all():
        return events, REJECT_SCHEMA.empty_table()
    return reject_rows(events, pa.array(~live), EXPIRED_REASON)


def expire_batch(batch: Batch, policy: Policy, today: date) -> Batch:
    return batch.apply(lambda events: expire(events, policy, today))


def withhold_expired_raw(reasons: pa.Array, raw: pa.Array) -> pa.Array:
    """The dead letters' raw bytes, emptied for lines rejected as past retention."""
    expired = pc.fill_null(pc.equal(reasons, pa.scalar(EXPIRED_REASON, pa.string())), False)
    if not pc.any(expired).as_py():
        return raw
    return pc.if_else(expired, pa.scalar(b"", raw.type), raw)
