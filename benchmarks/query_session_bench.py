"""Query session benchmark: a purpose-bound `QuerySession` vs plain DuckDB on the same
Parquet files, in the same run.

Writes N rows of network_activity straight into one purpose's partition of a fresh
store (pyarrow, the lake's own schema, zstd like the sink; a week of date partitions
with two files a day); for security_incident (the default) it opens a case whose window
covers them all. Then times, interleaved and alternating which goes first, repetitions
of a few representative queries:

  plain    duckdb.connect() + the query over read_parquet('<partition>/**/*.parquet')
  session  QuerySession(store, purpose, case).execute(query): session setup (the views
           over the purpose's partitions, cut to the case window, locked settings), the guard,
           the ledger intent and result (each one fsynced write), the query

and prints per-query medians, the ratio session/plain (machines are noisy: compare the
ratio, not absolute times; target <= 1.10) and, from a separate pass with timing
wrappers, where the session's time goes.

    python benchmarks/query_session_bench.py [--rows 10000000] [--reps 15] [--days 7]
        [--files-per-day 2] [--purpose security_incident|network_administration]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import queries.session as session_module  # noqa: E402
from queries.sandbox import Sandbox, _window_terms  # noqa: E402
from queries.session import QuerySession  # noqa: E402
from schemas.lake import purpose_schema  # noqa: E402
from schemas.policy import default_policies, default_policy_path, load_policy  # noqa: E402
from schemas.purposes import Purpose  # noqa: E402
from store.cases import open_case, require_open_case  # noqa: E402
from store.init import init_store  # noqa: E402
from store.layout import StoreLayout  # noqa: E402
from store.ledger import Ledger  # noqa: E402
from store.ledger_entry import EntryKind  # noqa: E402

TARGET = 1.10  # session time / plain time
ACTOR = "bench"
DATASET = "network_activity"
VIEW = "network_activity"  # how the queries name the data; plain runs replace it
START = datetime(2026, 11, 16, tzinfo=UTC)

QUERIES: dict[str, str] = {
    "aggregate": (
        "SELECT dst_port, protocol, action, count(*) AS n, sum(length) AS bytes "
        "FROM network_activity GROUP BY ALL ORDER BY n DESC"
    ),
    "filter_top": (
        "SELECT time, device, src_ip, dst_ip, dst_port FROM network_activity "
        "WHERE action = 'drop' AND dst_port = 22 ORDER BY time DESC LIMIT 100"
    ),
    "count_distinct": (
        "SELECT count(DISTINCT src_ip) AS sources, count(DISTINCT dst_ip) AS destinations "
        "FROM network_activity"
    ),
}


@dataclass(frozen=True)
class Bench:
    layout: StoreLayout
    purpose: Purpose
    case: str | None  # security_incident: a case covering every row (its window applies)
    glob: str  # the partition's files, as plain DuckDB reads them
    rows: int
    files: int
    bytes: int


@dataclass
class Timings:
    plain: dict[str, float]  # query → median seconds
    session: dict[str, float]
    phases: dict[str, float] = field(default_factory=dict)  # phase → median s per query

    def ratio(self, name: str) -> float:
        return self.session[name] / self.plain[name]

    @property
    def total_ratio(self) -> float:
        return sum(self.session.values()) / sum(self.plain.values())


# -- the lake ---------------------------------------------------------------------------


def _pool(prefix: str, size: int, rng: np.random.Generator) -> pa.Array:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))
    tails = rng.choice(alphabet, (size, 26))
    return pa.array([prefix + "".join(t) for t in tails.tolist()])


def _take(values: list[Any] | pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(values if isinstance(values, pa.Array) else pa.array(values), index)


def _batch(n: int, day: datetime, run: str, rng: np.random.Generator, pools: dict) -> dict:
    """Columns of `n` firewall rows on one day (pseudonyms as the lake holds them)."""
    seconds = np.sort(rng.integers(0, 86_400_000_000, n))
    action = rng.choice(3, n, p=[0.95, 0.04, 0.01])
    tcp = rng.random(n) < 0.82
    internal_dst = rng.random(n) < 0.25
    ports = np.array([443, 80, 8443, 445, 3389, 22, 993, 53, 123], dtype=np.int32)
    dst_port = np.where(
        tcp,
        rng.choice(ports[:7], n, p=[0.76, 0.1, 0.03, 0.04, 0.02, 0.04, 0.01]),
        rng.choice(ports[[0, 7, 8]], n, p=[0.35, 0.6, 0.05]),
    )
    users = rng.integers(0, len(pools["users"]), n)
    micros = pa.array(int(day.timestamp() * 1e6) + seconds, pa.int64())
    zeros = np.zeros(n, dtype=np.int64)
    return {
        "class_uid": pa.array(np.full(n, 4001, dtype=np.int32)),
        "source_format": _take(["iptables"], zeros),
        "purposes": pa.ListArray.from_arrays(
            pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
            _take([p.value for p in Purpose], np.tile(np.array([0, 1]), n)),
        ),
        "policy_id": _take(["iptables-default"], zeros),
        "policy_version": pa.array(np.ones(n, dtype=np.int32)),
        "ingest_run": _take([run], zeros),
        "evidence_tag": pc.cast(pa.array(rng.integers(0, 2**62, n)), pa.string()),
        "time": micros.cast(pa.timestamp("us", tz="UTC")),
        "observer": _take(pools["hosts"], (rng.random(n) < 0.25).astype(np.int64)),
        "action": _take(["allow", "drop", "reject"], action),
        "rule_name": _take(["UFW ALLOW", "UFW BLOCK", "UFW REJECT"], action),
        "in_iface": _take(["eth1", "eth0"], (rng.random(n) < 0.1).astype(np.int64)),
        "out_iface": _take(["eth0", "eth2"], internal_dst.astype(np.int64)),
        "src_ip": _take(pools["devices_ip"], users % len(pools["devices_ip"])),
        "src_ip_internal": pa.array(np.ones(n, dtype=bool)),
        "dst_ip": pc.if_else(
            pa.array(internal_dst),
            _take(pools["internal"], rng.integers(0, len(pools["internal"]), n)),
            _take(pools["external"], rng.integers(0, len(pools["external"]), n)),
        ),
        "dst_ip_internal": pa.array(internal_dst),
        "src_port": pa.array(rng.integers(49152, 65536, n).astype(np.int32)),
        "dst_port": pa.array(dst_port.astype(np.int32)),
        "protocol": _take(["udp", "tcp"], tcp.astype(np.int64)),
        "ip_version": pa.array(np.full(n, 4, dtype=np.int8)),
        "length": pa.array(
            np.where(tcp, rng.choice([52, 60], n), rng.integers(40, 1400, n)).astype(np.int32)
        ),
        "tcp_flags": pc.if_else(pa.array(tcp), _take(["SYN"], zeros), pa.nulls(n, pa.string())),
        "actor_user": pc.if_else(
            pa.array(rng.random(n) < 0.9), _take(pools["users"], users), pa.nulls(n, pa.string())
        ),
        "device": pc.if_else(
            pa.array(rng.random(n) < 0.3),
            _take(pools["devices"], users % len(pools["devices"])),
            pa.nulls(n, pa.string()),
        ),
    }


def build_lake(
    work: Path,
    rows: int,
    days: int = 7,
    files_per_day: int = 2,
    purpose: Purpose = Purpose.security_incident,
    seed: int = 1,
) -> Bench:
    """A fresh store with `rows` rows in one purpose's partition (and, for incident
    work, an open case whose window covers them all)."""
    layout = init_store(work / "store", default_policies(), actor=ACTOR)
    schema = purpose_schema(load_policy(default_policy_path("iptables")), purpose)
    rng = np.random.default_rng(seed)
    pools = {
        "users": _pool("usr-k1-", 500, rng),
        "devices": _pool("dev-k1-", 600, rng),
        "hosts": _pool("hst-k1-", 2, rng),
        "devices_ip": pa.array([f"181.110.{i // 250}.{i % 250}" for i in range(500)]),
        "external": pa.array([".".join(map(str, r)) for r in rng.integers(1, 224, (4096, 4))]),
        "internal": pa.array([f"10.10.0.{i}" for i in (5, 10, 21, 22, 30, 40, 50, 60, 70)]),
    }
    partition = layout.partition_dir(DATASET, purpose.value)
    files, size = 0, 0
    parts = days * files_per_day
    for i in range(parts):
        n = rows // parts + (1 if i < rows % parts else 0)
        if n == 0:
            continue
        day = START + timedelta(days=i // files_per_day)
        run = f"{day:%Y%m%d}T0000{i % files_per_day}Z-bench{i:02d}"
        columns = _batch(n, day, run, rng, pools)
        table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema},
                         schema=schema)  # fmt: skip
        target = partition / f"date={day:%Y-%m-%d}" / f"{run}-00000-0000.parquet"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pq.write_table(table, target, compression="zstd")
        files += 1
        size += target.stat().st_size
    case = None
    if purpose is Purpose.security_incident:
        case = open_case(
            layout, Ledger(layout, ACTOR), "benchmark", "timing purpose-bound sessions on a lake",
            START - timedelta(days=1),
        ).id  # fmt: skip
    glob = str(partition.resolve() / "**" / "*.parquet")
    return Bench(layout, purpose, case, glob, rows, files, size)


# -- the two ways of asking -------------------------------------------------------------


def plain_sql(bench: Bench, sql: str) -> str:
    return sql.replace(VIEW, f"read_parquet('{bench.glob}')")


def run_plain(bench: Bench, sql: str) -> pa.Table:
    con = duckdb.connect()
    try:
        return con.sql(plain_sql(bench, sql)).to_arrow_table()
    finally:
        con.close()


def run_session(bench: Bench, sql: str) -> pa.Table:
    with QuerySession(bench.layout, bench.purpose.value, bench.case, ACTOR) as session:
        return session.execute(sql).table


def time_queries(bench: Bench, reps: int, queries: dict[str, str] = QUERIES) -> Timings:
    """Medians of `reps` interleaved runs of each query both ways (after one warm-up)."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    runners: dict[str, Callable[[Bench, str], pa.Table]] = {
        "plain": run_plain, "session": run_session,
    }  # fmt: skip
    for name, sql in queries.items():  # warm-up, and both must return the same rows
        plain, ours = run_plain(bench, sql), run_session(bench, sql)
        if plain.num_rows != ours.num_rows:
            raise RuntimeError(f"{name}: plain {plain.num_rows} rows, session {ours.num_rows}")
    for rep in range(reps):
        for name, sql in queries.items():
            order = ("plain", "session") if rep % 2 == 0 else ("session", "plain")
            for way in order:
                start = time.perf_counter()
                runners[way](bench, sql)
                samples[(way, name)].append(time.perf_counter() - start)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return Timings(
        plain={name: medians[("plain", name)] for name in queries},
        session={name: medians[("session", name)] for name in queries},
    )


# -- where the session's time goes ------------------------------------------------------


@contextmanager
def _timed(
    owner: Any, attribute: str, phase: str | Callable[..., str], acc: dict
) -> Iterator[None]:
    original = getattr(owner, attribute)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            key = phase(*args, **kwargs) if callable(phase) else phase
            acc[key] = acc.get(key, 0.0) + time.perf_counter() - start

    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


def _ledger_phase(_self: Ledger, kind: EntryKind, *_: Any, **__: Any) -> str:
    return "ledger intent" if kind is EntryKind.QUERY_INTENT else "ledger result"


PHASES = (
    "case check",
    "setup (connect, views, lock)",
    "guard",
    "ledger intent",
    "ledger result",
    "  of which fsync",
    "query through the views",
    "close",
    "other (Python, ledger reads)",
    "session total",
    "plain: connect",
    "plain: query",
    "plain: query + close",
    "plain: query, union_by_name",
    "plain: query, case window",
)


def profile(bench: Bench, reps: int, queries: dict[str, str] = QUERIES) -> dict[str, float]:
    """Median milliseconds per query in each phase of a session and, for comparison, the
    plain query split up and with the catalog's union_by_name or the case window added
    (timing wrappers, so run apart from time_queries)."""
    per_run: list[dict[str, float]] = []
    window = _window_sql(bench)
    for _ in range(reps):
        for sql in queries.values():
            acc: dict[str, float] = {}
            with (
                _timed(Sandbox, "__init__", PHASES[1], acc),
                _timed(session_module, "check_statement", "guard", acc),
                _timed(session_module, "require_open_case", "case check", acc),
                _timed(Ledger, "append", _ledger_phase, acc),
                _timed(os, "fsync", PHASES[5], acc),
                _timed(Sandbox, "run", "query through the views", acc),
                _timed(Sandbox, "close", "close", acc),
            ):
                start = time.perf_counter()
                run_session(bench, sql)
                total = time.perf_counter() - start
            named = sum(v for k, v in acc.items() if not k.startswith(" "))
            acc["other (Python, ledger reads)"] = total - named
            acc["session total"] = total
            start = time.perf_counter()
            con = duckdb.connect()
            acc["plain: connect"] = time.perf_counter() - start
            for phase, source in (
                ("plain: query", f"read_parquet('{bench.glob}')"),
                ("plain: query, union_by_name",
                 f"read_parquet('{bench.glob}', union_by_name = true)"),
                ("plain: query, case window",
                 f"(SELECT * FROM read_parquet('{bench.glob}'){window})"),
            ):  # fmt: skip
                start = time.perf_counter()
                con.sql(sql.replace(VIEW, source)).to_arrow_table()
                acc[phase] = time.perf_counter() - start
            start = time.perf_counter()
            con.close()
            acc["plain: query + close"] = acc["plain: query"] + time.perf_counter() - start
            per_run.append(acc)
    return {k: statistics.median(run.get(k, 0.0) for run in per_run) for k in PHASES}


def _window_sql(bench: Bench) -> str:
    if bench.case is None:
        return ""
    case = require_open_case(bench.layout, bench.case)
    return " WHERE " + _window_terms(case.window_from, case.window_end)


# -- the report -------------------------------------------------------------------------


def report(bench: Bench, timings: Timings, out: Callable[[str], None] = print) -> None:
    out(f"{'query':16} {'plain ms':>10} {'session ms':>11} {'ratio':>7}")
    for name in timings.plain:
        out(
            f"{name:16} {timings.plain[name] * 1e3:10.1f} {timings.session[name] * 1e3:11.1f} "
            f"{timings.ratio(name):7.3f}"
        )
    plain, ours = sum(timings.plain.values()), sum(timings.session.values())
    verdict = "ok" if timings.total_ratio <= TARGET else "OVER TARGET"
    out(
        f"{'total':16} {plain * 1e3:10.1f} {ours * 1e3:11.1f} {timings.total_ratio:7.3f}"
        f"  (target <= {TARGET:.2f}: {verdict})"
    )
    if not timings.phases:
        return
    ph = timings.phases
    out("where a session's time goes (median per query, ms):")
    for phase, seconds in ph.items():
        out(f"  {phase:38} {seconds * 1e3:8.2f}")
    fixed = (
        ph[PHASES[1]]
        - ph["plain: connect"]
        + ph["close"]
        - (ph["plain: query + close"] - ph["plain: query"])
    )
    ledger = ph["ledger intent"] + ph["ledger result"]
    base = ph["plain: query"]
    views = ph["query through the views"] - base
    union = ph["plain: query, union_by_name"] - base
    window = ph["plain: query, case window"] - base
    out(
        f"overhead per query: setup beyond connect+close {fixed * 1e3:.1f}, guard "
        f"{ph['guard'] * 1e3:.1f}, ledger {ledger * 1e3:.1f} (fsync {ph[PHASES[5]] * 1e3:.1f}), "
        f"views {views * 1e3:.1f} (union_by_name alone {union * 1e3:.1f}, "
        f"case window alone {window * 1e3:.1f})"
    )


def main(argv: list[str] | None = None) -> Timings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="about two weeks of a municipality's firewall"
    )
    parser.add_argument("--reps", type=int, default=15, help="timed runs per query and way")
    parser.add_argument("--days", type=int, default=7, help="date partitions (default 7)")
    parser.add_argument("--files-per-day", type=int, default=2, help="ingest runs a day")
    parser.add_argument(
        "--purpose",
        choices=[p.value for p in Purpose],
        default=Purpose.security_incident.value,
        help="whose partition holds the rows (security_incident: with a case window)",
    )
    parser.add_argument("--workdir", type=Path, help="keep files here instead of a temp dir")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="loggvern-qbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        bench = build_lake(work, args.rows, args.days, args.files_per_day, Purpose(args.purpose))
        print(
            f"lake: {bench.rows:,} rows of {DATASET} ({bench.purpose.value}), {bench.files} files, "
            f"{bench.bytes / 1e6:.0f} MB ({time.perf_counter() - start:.1f}s); "
            f"DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs"
        )
        timings = time_queries(bench, args.reps)
        timings.phases = profile(bench, max(3, args.reps // 3))
        report(bench, timings)
        return timings
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
