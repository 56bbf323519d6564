"""Ledger verify benchmark: `verify_ledger` vs bare SHA-256 of every line, same file.

Builds an N-entry ledger directly (lines sealed with `seal()` in a loop, not appended
one fsync at a time): a store_init entry, then query / stats / ingest intents with their
results and the odd refusal or case, bodies of 250-400 bytes with SQL text, a checkpoint
signed with an Ed25519 key every 1000 entries and as the last entry, and `head.json`
signing that last checkpoint. Then times `verify_ledger` (pinned to the key) and, in the
same run, the irreducible cost: reading the file, splitting it into lines and hashing
each line once. Prints entries/s of both and the ratio verify/baseline (machines are
noisy: compare the ratio, not absolute times), and where verify's time goes.

    python benchmarks/ledger_verify_bench.py [--entries 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.ledger import HEAD_FILE, LEDGER_FILE  # noqa: E402
from store.ledger_entry import GENESIS, EntryKind, LedgerEntry, seal  # noqa: E402
from store.ledger_verify import check_chain, verify_ledger  # noqa: E402
from store.signing import Signer  # noqa: E402

TARGET = 200_000  # entries/s
CHECKPOINT_EVERY = 1000
_START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

_ACTORS = ["alice", "bob", "carol.soc", "dmitri", "zoë.ir", "svc-query"]
_DATASETS = ["authentication", "network_activity", "data_security_finding"]
_PURPOSES = ["security_incident", "network_administration"]
_SQL = [
    "SELECT src_endpoint_ip, count(*) AS attempts FROM authentication WHERE status = 'failure'"
    " AND time >= TIMESTAMP '{day} 00:00:00' GROUP BY 1 HAVING count(*) > {n} ORDER BY 2 DESC",
    "SELECT user_pseudonym, min(time) AS first_seen, max(time) AS last_seen FROM authentication"
    " WHERE src_endpoint_ip = '10.{a}.{b}.7' AND time BETWEEN '{day}' AND '{day} 23:59:59'"
    " GROUP BY user_pseudonym",
    "SELECT dst_endpoint_port, proto, count(*) FROM network_activity WHERE action = 'DROP'"
    " AND dst_endpoint_ip = '192.168.{a}.{b}' GROUP BY ALL ORDER BY 3 DESC LIMIT {n}",
    "SELECT policy_name, severity, count(*) AS hits FROM data_security_finding WHERE"
    " severity IN ('high', 'critical') AND time >= '{day}' -- Zoë's \"weekly\" review",
    "SELECT time, user_pseudonym, file_name FROM data_security_finding WHERE file_name LIKE"
    " '%Gehälter_{a}%' AND time > now() - INTERVAL {n} DAY ORDER BY time DESC LIMIT 100",
]


class _Bodies:
    """Realistic entry kinds and bodies: intents, their results (ref), refusals, cases."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pending: tuple[int, EntryKind] | None = None  # an intent awaiting its result
        self.actor = _ACTORS[0]
        self.case = 137

    def next(self, seq: int) -> tuple[EntryKind, int | None, dict[str, Any]]:
        """The next entry's kind, ref and body; `self.actor` is who it is by."""
        rng = self.rng
        if self.pending is not None:  # a result, by the intent's actor
            ref, kind = self.pending
            self.pending = None
            return kind, ref, self._result(kind)
        self.actor = rng.choice(_ACTORS)
        roll = rng.random()
        if roll < 0.45:
            self.pending = (seq, EntryKind.QUERY_RESULT)
            return EntryKind.QUERY_INTENT, None, self._query()
        if roll < 0.70:
            self.pending = (seq, EntryKind.STATS_RESULT)
            body = self._query()
            body["min_group_size"] = rng.choice([5, 10, 20])
            return EntryKind.STATS_INTENT, None, body
        if roll < 0.90:
            self.pending = (seq, EntryKind.INGEST_RESULT)
            return EntryKind.INGEST_INTENT, None, self._ingest()
        if roll < 0.96:
            body = self._query()
            body["reason"] = (
                f"purpose {body['purpose']} may not read column user_pseudonym of "
                f"{body['dataset']}; ask for a case under security_incident"
            )
            return EntryKind.REFUSAL, None, body
        self.case += 1
        return (
            EntryKind.CASE_OPENED,
            None,
            {
                "case": f"CASE-2024-{self.case:04d}",
                "title": f"Credential stuffing against VPN gateway «vpn-{rng.randint(1, 9)}»",
                "purpose": "security_incident",
                "opened_by": rng.choice(_ACTORS),
                "legal_basis": "GDPR art. 6(1)(f); works council agreement §4.2",
            },
        )

    def _query(self) -> dict[str, Any]:
        rng = self.rng
        day = (_START + timedelta(days=rng.randint(0, 60))).date().isoformat()
        sql = rng.choice(_SQL).format(
            day=day, n=rng.randint(3, 500), a=rng.randint(0, 255), b=rng.randint(1, 254)
        )
        return {
            "case": f"CASE-2024-{self.case:04d}",
            "dataset": rng.choice(_DATASETS),
            "purpose": rng.choice(_PURPOSES),
            "sql": sql,
            "sql_sha256": hashlib.sha256(sql.encode()).hexdigest(),
        }

    def _ingest(self) -> dict[str, Any]:
        rng = self.rng
        source = rng.choice(["iptables", "sshd", "o365_dlp"])
        return {
            "source": source,
            "files": [f"/var/log/remote/{source}/{rng.randint(1, 31):02d}.log.gz"],
            "policy": f"{source}-default",
            "policy_sha256": rng.randbytes(32).hex(),
            "run": f"run-{rng.randbytes(6).hex()}",
            "workers": rng.choice([1, 2, 4]),
        }

    def _result(self, kind: EntryKind) -> dict[str, Any]:
        rng = self.rng
        if kind == EntryKind.INGEST_RESULT:
            return {
                "outcome": "ok",
                "rows": rng.randint(1_000, 5_000_000),
                "rejected": rng.randint(0, 40),
                "partitions": [f"date=2024-05-{d:02d}" for d in range(1, rng.randint(2, 6))],
                "duration_ms": round(rng.uniform(200, 90_000), 1),
                "output_sha256": rng.randbytes(32).hex(),
            }
        if rng.random() < 0.05:
            return {
                "outcome": "failed",
                "error": 'BinderException: Referenced column "usr" not found in FROM clause!'
                ' Candidate bindings: "user_pseudonym"',
            }
        return {
            "outcome": "ok",
            "rows": rng.randint(0, 10_000),
            "suppressed_groups": rng.randint(0, 12),
            "columns": ["src_endpoint_ip", "attempts", "first_seen", "last_seen"],
            "duration_ms": round(rng.uniform(2, 4_000), 1),
            "result_sha256": rng.randbytes(32).hex(),
        }


def _time(seq: int) -> str:
    return (_START + timedelta(milliseconds=137 * seq)).isoformat(timespec="microseconds")


def build_ledger(
    ledger_dir: Path, entries: int, checkpoint_every: int = CHECKPOINT_EVERY, seed: int = 0
) -> Signer:
    """Write an `entries`-line ledger and its head.json; return the key that signed it."""
    if entries < 2:
        raise ValueError("a ledger needs at least a store_init and a checkpoint entry")
    signer = Signer(Ed25519PrivateKey.generate())
    bodies = _Bodies(seed)
    ledger_dir.mkdir(parents=True, exist_ok=True)
    prev = GENESIS
    head = None
    with open(ledger_dir / LEDGER_FILE, "wb", buffering=1 << 20) as fh:
        for seq in range(entries):
            stamp = _time(seq)
            actor, mode, ref = "loggvern", "direct", None
            if seq == 0:
                kind = EntryKind.STORE_INIT
                body = {"format": 1, "signing_key": signer.fingerprint, "datasets": _DATASETS}
            elif seq % checkpoint_every == checkpoint_every - 1 or seq == entries - 1:
                kind = EntryKind.CHECKPOINT
                body = signer.sign(seq - 1, prev, stamp).model_dump()
            else:
                kind, ref, body = bodies.next(seq)
                actor = bodies.actor
                mode = "service" if actor.startswith("svc-") else "direct"
            entry, line = seal(
                LedgerEntry(
                    seq=seq,
                    prev=prev,
                    time=stamp,
                    kind=kind,
                    actor=actor,
                    mode=mode,
                    ref=ref,
                    body=body,
                )  # fmt: skip
            )
            fh.write(line)
            prev = entry.hash
            if kind == EntryKind.CHECKPOINT:
                head = signer.sign(seq, entry.hash, stamp)
    assert head is not None
    (ledger_dir / HEAD_FILE).write_text(head.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return signer


def hash_every_line(path: Path) -> int:
    """The baseline: read, split and SHA-256 every line once (no checks at all)."""
    sha256 = hashlib.sha256
    lines = path.read_bytes().split(b"\n")
    for line in lines:
        sha256(line).digest()
    return len(lines) - 1


def _best(fn, repeat: int) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None  # free the last result before making the next
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def verify_phases(path: Path, repeat: int) -> tuple[float, float, float]:
    """Where verify's time goes: reading, splitting, `check_chain`, each timed alone. The
    rest (the latest checkpoint and head.json: two Ed25519 checks) is constant time."""
    read_s, data = _best(path.read_bytes, repeat)
    split_s, lines = _best(lambda: data.split(b"\n"), repeat)
    lines.pop()
    chain_s, report = _best(lambda: check_chain(lines), repeat)
    assert report.ok
    return read_s, split_s, chain_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loggvern-ledger-bench-"))
    try:
        ledger_dir = work / "ledger"
        t0 = time.perf_counter()
        signer = build_ledger(ledger_dir, args.entries)
        path = ledger_dir / LEDGER_FILE
        size = path.stat().st_size
        print(
            f"ledger: {args.entries:,} entries, {size / 1e6:.0f} MB, "
            f"{size / args.entries:.0f} bytes/entry (built in {time.perf_counter() - t0:.1f}s)"
        )
        base_s, lines = _best(lambda: hash_every_line(path), args.repeat)
        assert lines == args.entries
        verify_s, report = _best(
            lambda: verify_ledger(ledger_dir, pinned=signer.fingerprint), args.repeat
        )
        if not report.ok or report.entries != args.entries or report.warnings:
            raise SystemExit(f"verify did not pass: {report.summary()} {report.warnings}")
        read_s, split_s, chain_s = verify_phases(path, args.repeat)
        base_rate, verify_rate = args.entries / base_s, args.entries / verify_s
        print(f"baseline (read, split, sha256 each line): {base_s:6.2f}s {base_rate:>10,.0f}/s")
        print(f"verify_ledger (pinned key):               {verify_s:6.2f}s {verify_rate:>10,.0f}/s")
        print(
            f"ratio verify/baseline: {verify_rate / base_rate:.2f}  "
            f"(verify takes {verify_s / base_s:.2f}x the hashing time)"
        )
        print(
            f"verify phases: read {read_s:.2f}s, split {split_s:.2f}s, check_chain {chain_s:.2f}s "
            f"({1e6 * chain_s / args.entries:.2f} us/entry)"
        )
        verdict = "ok" if verify_rate >= TARGET else "BELOW TARGET"
        print(f"target >= {TARGET:,} entries/s: {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
