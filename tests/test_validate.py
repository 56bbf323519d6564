"""Rows that cannot be stored honestly are refused with a reason, never a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse.base import conform
from transforms.validate import validate

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_validate_rejects_with_reasons() -> None:
    raw = pa.table(
        {
            "row": [0, 1, 2, 3, 4, 5],
            "time": pa.array(
                [NOW, None, NOW + timedelta(days=30), NOW, NOW, datetime(1980, 1, 1, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "src_ip": ["10.0.0.1", "10.0.0.1", "10.0.0.1", "kari.nordmann", "10.0.0.1", "1.1.1.1"],
            "dst_port": pa.array([443, 443, 443, 443, 99999, 22], pa.int32()),
        }
    )
    events, rejects = validate(conform(raw, NETWORK_ACTIVITY), NETWORK_ACTIVITY, now=NOW)
    assert events.column("row").to_pylist() == [0]
    rows, why = rejects.column("row").to_pylist(), rejects.column("reason").to_pylist()
    reasons = dict(zip(rows, why, strict=True))
    assert reasons == {
        1: "no event time",
        2: "event time in the future",
        3: "src_ip is not an IP address",
        4: "dst_port out of range",
        5: "event time before 1990",
    }
    assert not any("kari" in r for r in reasons.values())
