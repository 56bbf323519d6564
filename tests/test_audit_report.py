"""The auditor's report on a real store: ledger, queries, rows, purposes, leaks,
retention; and planted leaks, purpose-less rows and overdue partitions are caught
without the report ever repeating a leaked value, or a digest of it that could be
checked against a guess."""

from __future__ import annotations

import csv
import hashlib
import json
import secrets as secrets_module
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit import AuditReport, write_report
from audit.leak_digest import DIGEST_HEX, DIGEST_NOTE
from audit.leak_patterns import ALIAS_EXACT, DOMAIN_USER, EMAIL, INTERNAL_IPV4, NOT_PSEUDONYM
from audit.report_html import SECTION_COLOURS
from loggvern.commands import ingest
from pipelines.synthetic.municipality import generate_municipality
from schemas.datasets import DATASETS
from schemas.policy import default_policies
from schemas.purposes import Purpose
from store.catalog import ANCHOR
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind

TIMEZONE = "Europe/Oslo"
SECTIONS = [
    "ledger", "queries", "refusals", "ingest", "rows", "purpose", "leaks", "retention",
    "breakglass", "roles",
]  # fmt: skip
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)  # a few days after the synthetic logs


@dataclass(frozen=True)
class Built:
    layout: StoreLayout
    aliases: Path


def _ledger_activity(layout: StoreLayout) -> None:
    """Queries, statistics and refusals as the read path ledgers them."""
    alice, bob = Ledger(layout, "alice"), Ledger(layout, "bob")
    for rows in (5, 7):
        intent = alice.append(
            EntryKind.QUERY_INTENT,
            {"purpose": "security_incident", "case": "CASE-0007", "named": "ssh_brute_force",
             "sql": "SELECT 1", "params": {}},
        )  # fmt: skip
        alice.append(EntryKind.QUERY_RESULT, {"outcome": "ok", "rows": rows}, ref=intent.seq)
    ok = bob.append(
        EntryKind.QUERY_INTENT,
        {"purpose": "network_administration", "case": None, "named": None,
         "sql": "SELECT protocol, count(*) FROM network_activity GROUP BY ALL", "params": {}},
    )  # fmt: skip
    bob.append(EntryKind.QUERY_RESULT, {"outcome": "ok", "rows": 3}, ref=ok.seq)
    failed = bob.append(
        EntryKind.QUERY_INTENT,
        {"purpose": "network_administration", "case": None, "named": None,
         "sql": "SELECT nope FROM network_activity", "params": {}},
    )  # fmt: skip
    bob.append(
        EntryKind.QUERY_RESULT, {"outcome": "failed", "error": "BinderError"}, ref=failed.seq
    )
    stats = bob.append(
        EntryKind.STATS_INTENT, {"named": "logins_per_hour", "dataset": "authentication", "k": 5}
    )
    bob.append(
        EntryKind.STATS_RESULT,
        {"outcome": "ok", "rows": 12, "suppressed_groups": 2},
        ref=stats.seq,
    )
    for route, purpose in (
        ("unlawful_purpose", "productivity"),
        ("unlawful_purpose", "attendance"),
        ("copy", "security_incident"),
    ):
        Ledger(layout, "mallory").append(
            EntryKind.REFUSAL,
            {"command": "query", "route": route, "reason": f"refused: {route}",
             "purpose": purpose, "case": None},
        )  # fmt: skip
    alice.checkpoint()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("audit")
    inputs = generate_municipality(root / "input", employees=40, days=1)
    store = root / "store"
    init_store(store, default_policies())
    for source, path in (
        ("iptables", inputs.firewall),
        ("sshd", inputs.auth),
        ("o365-dlp", inputs.dlp),
    ):
        ingest(store, source, [path], aliases=inputs.aliases, timezone=TIMEZONE, actor="ops")
    layout = StoreLayout(store)
    _ledger_activity(layout)
    return Built(layout, inputs.aliases)


@pytest.fixture
def copy(built: Built, tmp_path: Path) -> StoreLayout:
    """A store of one's own to damage."""
    shutil.copytree(built.layout.root, tmp_path / "store")
    return StoreLayout(tmp_path / "store")


def _lake_rows(layout: StoreLayout, dataset: str, purpose: str) -> int:
    directory = layout.partition_dir(dataset, purpose)
    return sum(
        pq.read_metadata(f).num_rows for f in directory.rglob("*.parquet") if f.name != ANCHOR
    )


def _report(layout: StoreLayout, out: Path, aliases: list[Path]) -> tuple[AuditReport, str, str]:
    report = write_report(layout, out, aliases, now=NOW)
    text = (out / "report.json").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert AuditReport.model_validate_json(text) == report
    return report, text, html


def test_report_on_a_real_store(built: Built, tmp_path: Path) -> None:
    report, text, html = _report(built.layout, tmp_path / "out", [built.aliases])
    assert json.loads(text)["status"] == "ok" and report.ok, report.problems
    assert [s.id for s in report.sections] == SECTIONS

    ledger = report.section("ledger")
    assert ledger.ok and ledger.entries > 10 and ledger.head_seq == ledger.entries - 1

    rows = report.section("rows")
    for dataset in DATASETS:
        for purpose in Purpose:
            assert rows.rows(dataset, purpose.value) == _lake_rows(
                built.layout, dataset, purpose.value
            )
    assert rows.total_rows > 2000 and not rows.stray
    assert report.section("purpose").rows_without_lawful_purpose == 0

    leaks = report.section("leaks")
    assert leaks.total_findings == 0 and not leaks.findings, leaks.findings
    assert leaks.rows_scanned == rows.total_rows
    assert leaks.alias_sources[0].status == "loaded" and leaks.alias_sources[0].identifiers > 100
    retention = report.section("retention")
    assert retention.overdue_partitions == 0
    assert {(i.dataset, i.purpose) for i in retention.items if i.rows} == {
        (c.dataset, c.purpose) for c in rows.counts if c.rows
    }

    ingest_section = report.section("ingest")
    assert ingest_section.total_runs == 3 and {r.outcome for r in ingest_section.runs} == {"ok"}
    assert {r.source for r in ingest_section.runs} == {"iptables", "sshd", "o365-dlp"}
    assert ingest_section.read == ingest_section.written + ingest_section.rejected
    assert {p.id for p in ingest_section.policies} == {
        "iptables-default", "sshd-default", "o365-dlp-default"
    }  # fmt: skip

    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html and SECTION_COLOURS[sid] in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "http://" not in html and "https://" not in html


def test_queries_and_refusals_are_counted(built: Built, tmp_path: Path) -> None:
    report, _, html = _report(built.layout, tmp_path / "out", [built.aliases])
    queries = report.section("queries")
    groups = {(g.purpose, g.actor, g.case): g for g in queries.groups}
    alice = groups[("security_incident", "alice", "CASE-0007")]
    assert (alice.queries, alice.ok, alice.rows) == (2, 2, 12)
    bob = groups[("network_administration", "bob", None)]
    assert (bob.queries, bob.ok, bob.failed, bob.rows) == (2, 1, 1, 3)
    assert queries.total_queries == 4 and queries.total_stats == 1
    (stats,) = queries.stats_groups
    assert (stats.named, stats.k, stats.rows, stats.suppressed_groups) == (
        "logins_per_hour", 5, 12, 2
    )  # fmt: skip
    assert queries.latest[0].kind == "stats" and queries.latest[1].outcome == "failed"
    assert queries.latest[-1].named == "ssh_brute_force"
    refusals = report.section("refusals")
    assert refusals.by_route == {"unlawful_purpose": 2, "copy": 1}
    assert refusals.by_actor == {"mallory": 3} and refusals.total == 3
    assert "CASE-0007" in html and "unlawful_purpose" in html


def _alias_identifier(aliases: Path) -> str:
    """An account name from the alias directory (no '@', no domain, no space)."""
    with aliases.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ident = row["identifier"]
            if len(ident) >= 6 and not any(c in ident for c in "@\\ "):
                return ident
    raise AssertionError("no account name in the alias directory")


def _plant(directory: Path, name: str, columns: dict[str, pa.Array]) -> Path:
    n = len(next(iter(columns.values())))
    base = {
        "class_uid": pa.array([4001] * n, pa.int32()),
        "source_format": pa.array(["iptables"] * n),
        "policy_id": pa.array(["iptables-default"] * n),
        "policy_version": pa.array([1] * n, pa.int32()),
        "ingest_run": pa.array(["planted"] * n),
        "time": pa.array([datetime(2026, 11, 16, 12, tzinfo=UTC)] * n, pa.timestamp("us", "UTC")),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    pq.write_table(pa.table({**base, **columns}), path)
    return path


def test_planted_leaks_are_found_and_never_shown(built: Built, copy: StoreLayout) -> None:
    account = _alias_identifier(built.aliases)
    email = "kari.testesen@example.org"
    domain_user = "ACME\\zz-tester"
    internal_ip = "10.20.30.40"
    planted_ip = "192.168.77.23"
    encrypted_lookalike = "10.99.88.77"  # flagged internal: an encrypted address
    partition = copy.partition_dir("network_activity", "security_incident") / "date=2026-11-16"
    path = _plant(
        partition,
        "planted-leak.parquet",
        {
            "purposes": pa.array([["security_incident"]] * 5, pa.list_(pa.string())),
            "rule_name": pa.array([account.upper(), email, domain_user, internal_ip, "UFW BLOCK"]),
            "actor_user": pa.array([account, None, None, None, None]),
            "src_ip": pa.array(["203.0.113.9", planted_ip, encrypted_lookalike, None, None]),
            "src_ip_internal": pa.array([False, False, True, None, None]),
        },
    )
    con = duckdb.connect(str(copy.catalog))
    con.execute(f"CREATE VIEW security_incident.leaky AS SELECT '{email}' AS who")
    con.close()

    report, text, html = _report(copy, copy.root.parent / "out", [built.aliases])
    assert not report.ok
    leaks = report.section("leaks")
    assert leaks.status == "failed"
    rel = str(path.relative_to(copy.root))
    found = {(f.column, f.pattern): f for f in leaks.findings if f.file == rel}
    assert set(found) == {
        ("rule_name", ALIAS_EXACT),
        ("rule_name", EMAIL),
        ("rule_name", DOMAIN_USER),
        ("rule_name", INTERNAL_IPV4),
        ("actor_user", ALIAS_EXACT),
        ("actor_user", NOT_PSEUDONYM),
        ("src_ip", INTERNAL_IPV4),
    }, found
    assert found[("rule_name", ALIAS_EXACT)].examples[0].row == 0
    upper = found[("rule_name", ALIAS_EXACT)].examples[0].digest
    lower = found[("actor_user", ALIAS_EXACT)].examples[0].digest
    assert lower == found[("actor_user", NOT_PSEUDONYM)].examples[0].digest != upper
    assert [e.row for e in found[("rule_name", EMAIL)].examples] == [1]
    assert [e.row for e in found[("rule_name", DOMAIN_USER)].examples] == [2]
    assert [e.row for e in found[("rule_name", INTERNAL_IPV4)].examples] == [3]
    assert found[("src_ip", INTERNAL_IPV4)].count == 1  # the flagged one is no leak
    assert [e.row for e in found[("src_ip", INTERNAL_IPV4)].examples] == [1]
    assert leaks.exempt.get("internal IP values flagged internal (encrypted)", 0) >= 1
    catalog = {(f.column, f.pattern) for f in leaks.findings if f.file == "catalog.duckdb"}
    assert ("views (sql)", EMAIL) in catalog
    assert {f.file for f in leaks.findings} <= {rel, "catalog.duckdb"}  # nothing else

    secrets = [account, email, domain_user, internal_ip, planted_ip, encrypted_lookalike,
               "kari.testesen", "zz-tester"]  # fmt: skip
    secrets += [_sha256_prefix(s) for s in (account, account.upper(), *secrets)]
    for document in (text, html, text.lower(), html.lower()):
        for secret in secrets:
            assert secret.lower() not in document.lower(), secret
    assert json.dumps(domain_user)[1:-1] not in text  # not even JSON-escaped


def _sha256_prefix(value: str) -> str:
    """What a plain hash of a value would show: anyone can compute it from a guess."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:DIGEST_HEX]


def test_leak_digests_are_keyed_per_report_run(
    built: Built, copy: StoreLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One leaked value has one digest within a report and another in the next run; its
    plain SHA-256, which anyone could compute from a staff list, appears nowhere, and
    neither does the key."""
    email = "ola.nordmann@example.org"
    partition = copy.partition_dir("network_activity", "security_incident") / "date=2026-11-16"
    path = _plant(
        partition,
        "planted-twice.parquet",
        {
            "purposes": pa.array([["security_incident"]] * 3, pa.list_(pa.string())),
            "rule_name": pa.array([email, "UFW BLOCK", email]),
            "message": pa.array(["UFW BLOCK", email, None]),
        },
    )
    rel = str(path.relative_to(copy.root))
    keys: list[bytes] = []
    token_bytes = secrets_module.token_bytes

    def recorded(n: int) -> bytes:
        keys.append(token_bytes(n))
        return keys[-1]

    monkeypatch.setattr(secrets_module, "token_bytes", recorded)
    runs = [_report(copy, copy.root.parent / f"out{n}", [built.aliases]) for n in (1, 2)]

    digests = []
    for report, _, _ in runs:
        found = {
            (f.column, e.row): e.digest
            for f in report.section("leaks").findings
            if f.file == rel and f.pattern == EMAIL
            for e in f.examples
        }
        assert set(found) == {("rule_name", 0), ("rule_name", 2), ("message", 1)}, found
        (digest,) = set(found.values())  # the same value, the same digest, within a report
        assert len(digest) == DIGEST_HEX and int(digest, 16) >= 0
        digests.append(digest)
    assert digests[0] != digests[1]  # another run, another key
    assert len(keys) == 2 and keys[0] != keys[1] and len(keys[0]) == 32

    plain = _sha256_prefix(email)
    for report, text, html in runs:
        assert report.section("leaks").digests == DIGEST_NOTE
        assert json.loads(text)["sections"][6]["digests"] == DIGEST_NOTE
        assert escape(DIGEST_NOTE) in html
        for document in (text, html):
            assert plain not in document and email not in document
            for key in keys:
                assert key.hex() not in document


def test_rows_without_purpose_and_overdue_partitions(built: Built, copy: StoreLayout) -> None:
    partition = copy.partition_dir("network_activity", "network_administration")
    _plant(
        partition / "date=2026-11-16",
        "planted-purposes.parquet",
        {
            "purposes": pa.array(
                [[], None, ["security_incident"], ["network_administration", "productivity"],
                 ["network_administration"]],
                pa.list_(pa.string()),
            ),
            "action": pa.array(["allow"] * 5),
        },
    )  # fmt: skip
    _plant(
        partition / "date=2000-01-01",
        "old.parquet",
        {
            "purposes": pa.array([["network_administration"]], pa.list_(pa.string())),
            "action": pa.array(["allow"]),
        },
    )
    stray = copy.lake / "network_activity" / "purpose=performance" / "date=2026-11-16"
    _plant(stray, "x.parquet", {"purposes": pa.array([["performance"]], pa.list_(pa.string()))})

    report, _, html = _report(copy, copy.root.parent / "out", [built.aliases])
    assert not report.ok
    purpose = report.section("purpose")
    (violation,) = purpose.violations
    assert (violation.dataset, violation.purpose) == ("network_activity", "network_administration")
    assert violation.rows == 4  # empty, null, another purpose only, an unlawful one
    assert violation.null_or_empty == 2 and violation.unlawful_values == 1
    assert violation.missing_partition_purpose == 1
    assert purpose.stray_rows == 1 and purpose.rows_without_lawful_purpose == 5
    rows = report.section("rows")
    assert [s.path for s in rows.stray] == ["lake/network_activity/purpose=performance"]
    assert rows.status == "failed"

    retention = report.section("retention")
    overdue = [i for i in retention.items if i.overdue]
    assert len(overdue) == 1 and overdue[0].overdue_partitions == ["2000-01-01"]
    assert (overdue[0].dataset, overdue[0].purpose) == ("network_activity",
                                                        "network_administration")  # fmt: skip
    assert overdue[0].retention_days == 90 and overdue[0].policy == "iptables-default v1"
    assert retention.overdue_partitions == 1 and retention.status == "failed"
    assert report.section("leaks").total_findings == 0  # planted rows hold no identity
    assert "2000-01-01" in html


def test_tampered_ledger_fails_the_report(built: Built, copy: StoreLayout) -> None:
    ledger = copy.ledger / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"actor":"ops"', b'"actor":"eve"', 1)
    ledger.write_bytes(b"".join(lines))
    report, _, html = _report(copy, copy.root.parent / "out", [built.aliases])
    section = report.section("ledger")
    assert not report.ok and not section.ok and section.first_bad == 5
    assert any("Ledger verification" in p for p in report.problems)
    assert 'class="badge big status-failed"' in html


def test_missing_alias_directory_is_a_note_not_a_pass(built: Built, copy: StoreLayout) -> None:
    report, _, _ = _report(copy, copy.root.parent / "out", [copy.root / "nope.csv"])
    leaks = report.section("leaks")
    statuses = {s.path: s.status for s in leaks.alias_sources}
    assert statuses[str(copy.root / "nope.csv")] == "missing"
    assert statuses[str(built.aliases.resolve())] == "loaded"  # recorded by the ingests
    assert leaks.status == "warning" and leaks.total_findings == 0


def test_catalog_scan_skips_duckdb_salt_and_checksums(tmp_path: Path) -> None:
    """DuckDB's headers hold a random salt (twice) and each block a checksum; random
    bytes read as text once made a 'DOMAIN\\\\user' out of nothing. Data is still read."""
    from audit.leak_columns import DUCKDB_BLOCK, DUCKDB_HEADERS, _raw_column

    data = bytearray(DUCKDB_HEADERS + DUCKDB_BLOCK + 64)
    data[124:140] = b"xq\\zv-salt-bytes"  # the salt, in both database headers
    data[8316:8332] = b"xq\\zv-salt-bytes"
    data[DUCKDB_HEADERS : DUCKDB_HEADERS + 8] = b"ab\\cd-ck"  # first block's checksum
    data[DUCKDB_HEADERS + DUCKDB_BLOCK : DUCKDB_HEADERS + DUCKDB_BLOCK + 8] = b"ef\\gh-ck"
    data[20000:20025] = b"kari.nordmann@example.org"  # residue inside a block
    assert len(data) == DUCKDB_HEADERS + DUCKDB_BLOCK + 64
    path = tmp_path / "catalog.duckdb"
    path.write_bytes(bytes(data))
    runs = _raw_column(path, "catalog.duckdb", duckdb_file=True).values.to_pylist()
    assert runs == ["kari.nordmann@example.org"]
    plain = _raw_column(path, "catalog.duckdb").values.to_pylist()
    assert len(plain) == 5  # without the DuckDB layout every random run would be scanned
