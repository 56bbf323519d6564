"""`--source auto`: per-line detection, chunks split by format with their line numbers,
and a mixed file ingested end to end with every line accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from loggvern.cli import main
from loggvern.commands import ingest
from schemas.policy import default_policies
from store import deadletter
from store.init import init_store
from store.keys import load_keys
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from transforms.auto_detect import UNRECOGNISED, detect_file, detect_lines, split_by_format
from transforms.batch import Batch
from transforms.parse.base import REJECT_SCHEMA
from transforms.parse.registry import FORMATS

FIREWALL = (
    "Nov 16 08:00:{s:02d} fw1 kernel: [1234.5] DROP IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:"
    "88:99:aa:bb:08:00 SRC=203.0.113.{s} DST=10.1.2.3 LEN=60 TTL=50 PROTO=TCP SPT=4{s:03d} DPT=22"
)
SSH = "Nov 16 08:01:{s:02d} jump1 sshd[4{s:03d}]: Failed password for invalid user x{s} from 198.51.100.{s} port 5{s:03d} ssh2"  # noqa: E501
DLP = json.dumps(
    {
        "CreationTime": "2026-11-16T08:02:00",
        "Id": "9b3c",
        "Operation": "DLPRuleMatch",
        "Workload": "Exchange",
        "UserId": "kari@fjordvik.kommune.no",
        "RecordType": 13,
        "PolicyDetails": [
            {
                "PolicyName": "PII",
                "Rules": [{"RuleName": "NIN", "Severity": "High", "Actions": ["NotifyUser"]}],
            }
        ],
    }  # fmt: skip
)


def _mixed(path: Path) -> list[str]:
    lines = []
    for s in range(1, 13):
        lines += [FIREWALL.format(s=s), SSH.format(s=s)]
        if s % 4 == 0:
            lines += [DLP, "this line is no log format at all"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_each_known_line_is_claimed_by_exactly_its_format() -> None:
    lines = pa.array([FIREWALL.format(s=1), SSH.format(s=2), DLP, "hello", ""])
    assert detect_lines(lines, list(FORMATS.values())).to_pylist() == [
        "iptables", "sshd", "o365-dlp", None, None,
    ]  # fmt: skip
    claims = {
        fmt.name: pc.fill_null(fmt.detect(lines), False).to_pylist()
        for fmt in FORMATS.values()
        if fmt.detect is not None
    }
    assert all(sum(c[i] for c in claims.values()) <= 1 for i in range(len(lines)))


def test_split_keeps_file_line_numbers_and_rejects_the_rest() -> None:
    raw = pa.array(
        [SSH.format(s=1).encode(), b"junk", FIREWALL.format(s=2).encode(), b"\xff\xfe bad",
         SSH.format(s=3).encode()],
        pa.binary(),
    )  # fmt: skip
    empty = pa.table({"row": pa.array([], pa.int64())})
    batch = Batch("f.log", 0, 0, 41, raw, empty, REJECT_SCHEMA.empty_table(), source_format="auto")
    parts = {p.subpart: p for p in split_by_format(batch, list(FORMATS.values()))}
    assert set(parts) == {"sshd", "iptables", "unrecognised"}
    assert parts["sshd"].line_numbers.to_pylist() == [41, 45]
    assert parts["iptables"].line_numbers.to_pylist() == [43]
    other = parts["unrecognised"]
    assert other.line_numbers.to_pylist() == [42, 44] and other.source_format == ""
    assert other.rejects.column("reason").to_pylist() == [UNRECOGNISED, "line is not valid UTF-8"]
    assert sum(len(p.raw) for p in parts.values()) == len(raw)
    assert len({p.part_id for p in parts.values()}) == 3


def test_mixed_file_is_ingested_per_format_with_every_line_accounted(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    lines = _mixed(log)
    store = tmp_path / "store"
    layout = init_store(store, default_policies(), "op")
    summary = ingest(store, "auto", [log], timezone="UTC", actor="op")
    assert summary.read == len(lines) == summary.written + summary.rejected
    assert summary.formats == {"iptables": 12, "sshd": 12, "o365-dlp": 3, "unrecognised": 3}
    assert summary.reasons.get(UNRECOGNISED) == 3
    for dataset, fmt, n in (("network_activity", "iptables", 12), ("authentication", "sshd", 12),
                            ("data_security_finding", "o365-dlp", 3)):  # fmt: skip
        files = [str(p) for p in (layout.lake / dataset).rglob("20*.parquet")]
        table = ds.dataset(files).to_table(columns=["source_format"])
        assert set(table.column(0).to_pylist()) == {fmt}
        assert table.num_rows >= n  # written once per purpose the row serves
    key = load_keys(layout.keys).deadletter
    dead = [row for _, t in deadletter.read_all(layout.deadletter, key) for row in t.to_pylist()]
    junk = {i + 1 for i, line in enumerate(lines) if line.startswith("this line")}
    assert {r["line"] for r in dead if r["reason"] == UNRECOGNISED} == junk
    intent = [e for e in Ledger(layout, "-").entries() if e.kind is EntryKind.INGEST_INTENT][-1]
    assert intent.body["source"] == "auto" and "policy" not in intent.body
    assert set(intent.body["policies"]) == set(FORMATS)
    assert intent.body["detected"][0]["formats"] == {"iptables": 12, "sshd": 12, "o365-dlp": 3}


def test_detect_file_summarises_a_sample(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    _mixed(log)
    found = detect_file(str(log), list(FORMATS.values()))
    assert found.counts == {"iptables": 12, "sshd": 12, "o365-dlp": 3}
    assert found.fallback is None and found.sampled == 30
    huge = tmp_path / "one-line.log"
    huge.write_bytes(b"x" * (9 << 20))  # no line break: sampled, not read whole
    assert detect_file(str(huge), list(FORMATS.values())).sampled == 1


def test_auto_refuses_a_policy_and_says_what_it_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "mixed.log"
    _mixed(log)
    store = tmp_path / "store"
    assert main(["init", str(store)]) == 0
    policy = Path("policies/sshd.toml")
    args = ["ingest", str(store), "--source", "auto", str(log)]
    assert main([*args, "--policy", str(policy)]) == 2
    assert "--policy cannot be combined with --source auto" in capsys.readouterr().err
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "detected: 12 iptables, 12 sshd, 3 o365-dlp, 3 unrecognised" in err


def test_detectors_are_disjoint_on_every_formats_examples() -> None:
    """No line is claimed by two detectors, so their order changes cost, never answers."""
    for name, fmt in FORMATS.items():
        lines = pa.array(list(fmt.examples))
        claims = [
            other.name
            for other in FORMATS.values()
            if other.detect is not None and pc.any(pc.fill_null(other.detect(lines), False)).as_py()
        ]
        assert claims in ([], [name]), f"{name}'s examples claimed by {claims}"
        for order in ((), (name,), tuple(reversed(sorted(FORMATS)))):
            found = detect_lines(lines, list(FORMATS.values()), order=order).to_pylist()
            assert set(found) <= {name, None}


def test_csv_exports_are_recognised_by_their_header(tmp_path: Path) -> None:
    records = tmp_path / "oppslag.csv"
    header = "tidspunkt;bruker;brukers_enhet;journal_id;journalens_enhet;handling;begrunnelse"
    rows = [f"2026-11-16T08:{i:02d}:00Z;nina;Post 1;{20000 + i};Post 1;read;BEH" for i in range(40)]
    records.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    log = tmp_path / "mixed.log"
    lines = _mixed(log)
    found = detect_file(str(records), list(FORMATS.values()))
    assert found.counts == {} and found.fallback == "record-access-csv"
    store = tmp_path / "store"
    init_store(store, default_policies(), "op")
    summary = ingest(store, "auto", [records, log], actor="op")
    assert summary.read == 41 + len(lines) == summary.written + summary.rejected
    assert summary.formats["record-access-csv"] == 41 and summary.formats["iptables"] == 12
    assert summary.reasons["CSV header line (not an event)"] == 1
