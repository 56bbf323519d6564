"""Helpers for the exactly-once tests: unique input lines, and what the lake holds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import duckdb

from pipelines.synthetic.iptables_bulk import write_iptables_lines
from pipelines.synthetic.municipality import generate_municipality


def unique_lines(tmp: Path, n: int) -> list[bytes]:
    """`n` distinct firewall lines (each ends in a newline), dated yesterday: the tests
    that run the CLI as a subprocess count retention from the real date."""
    pool = tmp / "pool.log"
    write_iptables_lines(pool, n)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%b %e").encode()
    lines = [yesterday + line[6:] for line in pool.read_bytes().splitlines(keepends=True)]
    pool.unlink()
    assert len(set(lines)) == n and all(line[:6] == yesterday for line in lines)
    return lines


def lake_tags(store: Path, purpose: str = "network_administration") -> list[str]:
    """Evidence tags of every network_activity row stored for `purpose` (one per line)."""
    glob = store / "lake" / "network_activity" / f"purpose={purpose}" / "*" / "*.parquet"
    if not list(glob.parent.parent.glob("*/*.parquet")):
        return []
    rows = duckdb.sql(f"SELECT evidence_tag FROM read_parquet('{glob}')").fetchall()
    return [r[0] for r in rows]


def assert_exactly_once(store: Path, expected: int) -> None:
    tags = lake_tags(store)
    assert len(tags) == expected, f"lake holds {len(tags)} rows, input has {expected} lines"
    assert len(set(tags)) == len(tags), "a line is in the lake twice"


def recent_inputs(tmp: Path) -> list[Path]:
    """A firewall log and an auth log dated in the last days, so a run in a subprocess
    (which counts retention from the real date) and one in this process (whose run date
    tests/conftest.py fixes) keep the same lines."""
    tmp.mkdir(parents=True, exist_ok=True)
    firewall = tmp / "firewall.log"
    firewall.write_bytes(b"".join(unique_lines(tmp, 300)) + b"not a firewall line\n")
    start = datetime.combine((datetime.now(UTC) - timedelta(days=3)).date(), time(), tzinfo=UTC)
    auth = generate_municipality(tmp / "municipality", employees=8, days=1, start=start).auth
    return [firewall, auth]
