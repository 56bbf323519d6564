"""Lines already past retention at ingest (a backfill): past every purpose's retention
they are dead-lettered without their raw bytes and written nowhere; past one purpose's
but not another's they are written only for the purpose still in retention; and every
line is still accounted for (read = written + rejected)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loggvern.cli import main
from loggvern.commands import ingest
from pipelines.synthetic.municipality import DemoInputs, generate_municipality
from schemas.policy import default_policies, load_policy
from schemas.policy import default_policy_path as policy_path
from schemas.purposes import Purpose
from store import deadletter
from store.init import init_store
from store.keys import KeyRing, load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.vault import vault_pseudonyms
from transforms import expire
from transforms.batch import Batch
from transforms.expire import EXPIRED_REASON, expire_batch
from transforms.parse.base import REJECT_SCHEMA, ROW
from transforms.purpose import RunStamp, project, tag_purposes
from transforms.sink import write_batch

TODAY = date(2026, 6, 30)
IPTABLES = load_policy(policy_path("iptables"))  # network_administration 90, incident 180
TZ = "Europe/Oslo"


def _events(days_old: list[int]) -> pa.Table:
    times = [datetime.combine(TODAY - timedelta(days=d), time(12), tzinfo=UTC) for d in days_old]
    return pa.table(
        {
            ROW: pa.array(range(len(times)), pa.int64()),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "action": pa.array(["allow"] * len(times)),
        }
    )


def test_rows_past_the_longest_retention_are_rejected() -> None:
    ages = [0, 89, 90, 91, 179, 180, 181, 4000]
    raw = pa.array([f"line {a}".encode() for a in ages], pa.binary())
    batch = Batch("f.log", 0, 0, 1, raw, _events(ages), REJECT_SCHEMA.empty_table())
    out = expire_batch(batch, IPTABLES, TODAY)
    assert out.events.column(ROW).to_pylist() == [0, 1, 2, 3, 4, 5]  # 180 days: the cutoff
    assert out.rejects.column(ROW).to_pylist() == [6, 7]
    assert set(out.rejects.column("reason").to_pylist()) == {EXPIRED_REASON}
    assert out.events.num_rows + out.rejects.num_rows == len(raw)


def test_rows_past_one_purpose_are_written_for_the_other_only() -> None:
    ages = [0, 90, 91, 180]
    tagged, rejects = tag_purposes(_events(ages), IPTABLES, TODAY)
    assert rejects.num_rows == 0
    assert tagged.column("purposes").to_pylist() == [
        ["network_administration", "security_incident"],
        ["network_administration", "security_incident"],
        ["security_incident"],
        ["security_incident"],
    ]
    stamp = RunStamp("iptables", "run-1", TODAY)
    admin = project(tagged, IPTABLES, Purpose.network_administration, stamp)
    incident = project(tagged, IPTABLES, Purpose.security_incident, stamp)
    assert admin.num_rows == 2 and incident.num_rows == 4
    undated = project(tagged, IPTABLES, Purpose.network_administration, RunStamp("iptables", "r"))
    assert undated.num_rows == 4  # without a run date nothing is cut (callers that never had one)


def test_a_row_whose_only_purpose_is_past_retention_is_expired_not_unlawful() -> None:
    admin, incident = Purpose.network_administration, Purpose.security_incident
    grants = {
        admin: IPTABLES.purposes[admin].model_copy(update={"where": {"action": ("allow",)}}),
        incident: IPTABLES.purposes[incident].model_copy(update={"where": {"action": ("deny",)}}),
    }
    policy = IPTABLES.model_copy(update={"purposes": grants})
    events = _events([0, 100, 100, 0]).set_column(
        2, "action", pa.array(["allow", "allow", "deny", "reject"])
    )
    tagged, rejects = tag_purposes(events, policy, TODAY)
    assert tagged.column(ROW).to_pylist() == [0, 2]
    assert tagged.column("purposes").to_pylist() == [[admin.value], [incident.value]]
    assert sorted(zip(rejects.column(ROW).to_pylist(), rejects.column("reason").to_pylist(),
                      strict=True)) == [(1, EXPIRED_REASON), (3, "no lawful purpose")]  # fmt: skip


def test_the_sink_withholds_the_raw_line_of_expired_rows(tmp_path: Path, keys: KeyRing) -> None:
    ages = [0, 200, 10]
    raw = pa.array([b"fresh", b"usr=alice old", b"broken"], pa.binary())
    batch = Batch("f.log", 0, 0, 1, raw, _events(ages), REJECT_SCHEMA.empty_table())
    batch = batch.with_events(
        batch.events.filter(pa.array([True, True, False])),
        pa.table({ROW: pa.array([2], pa.int64()), "reason": pa.array(["bad line"])}),
    )
    batch = expire_batch(batch, IPTABLES, TODAY)
    tagged = batch.apply(lambda e: tag_purposes(e, IPTABLES, TODAY))
    report = write_batch(
        tagged, IPTABLES, RunStamp("iptables", "r", TODAY), tmp_path, keys.deadletter
    )
    assert (report.read, report.written, report.rejected) == (3, 1, 2)
    assert report.reasons == {EXPIRED_REASON: 1, "bad line": 1}
    assert report.deadletter is not None
    sealed = (tmp_path / report.deadletter).read_bytes()
    letters = deadletter.unseal(sealed, keys.deadletter, tmp_path).to_pylist()
    assert [(r["line"], r["reason"], r["raw"]) for r in letters] == [
        (2, EXPIRED_REASON, b""),
        (3, "bad line", b"broken"),
    ]
    assert b"alice" not in sealed


def _inputs(root: Path, start: date) -> DemoInputs:
    """Synthetic logs of two days from `start`; the files' times say when they were
    written, so year-less syslog dates are read in the right year."""
    begin = datetime.combine(start, time(), tzinfo=UTC)
    inputs = generate_municipality(root, employees=12, days=2, start=begin)
    written = (begin + timedelta(days=3)).timestamp()
    for path in (inputs.firewall, inputs.auth, inputs.dlp):
        os.utime(path, (written, written))
    return inputs


def _lake_dates(store: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (store / "lake").rglob("date=*/*.parquet"):
        purpose = path.parent.parent.name.removeprefix("purpose=")
        found.setdefault(purpose, set()).add(path.parent.name.removeprefix("date="))
    return found


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(expire, "run_date", lambda: TODAY)
    root = tmp_path / "store"
    init_store(root, default_policies())
    return root


def test_backfill_past_one_purpose_is_written_for_the_other(store: Path, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", TODAY - timedelta(days=120))
    summary = ingest(store, "iptables", [inputs.firewall], timezone=TZ, actor="ops")
    assert summary.read == summary.written + summary.rejected
    assert EXPIRED_REASON not in summary.reasons  # in retention for security_incident
    dates = _lake_dates(store)
    assert "network_administration" not in dates  # 90 days: past
    assert dates["security_incident"]
    rows = sum(
        pq.read_metadata(p).num_rows
        for p in (store / "lake").rglob("*.parquet")
        if p.name != "_schema.parquet"
    )
    assert rows == summary.written  # once, for the one purpose still in retention


def test_backfill_past_every_purpose_is_dead_lettered_without_raw(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _inputs(tmp_path / "in", TODAY - timedelta(days=400))
    vault_before = vault_pseudonyms(StoreLayout(store))
    summary = ingest(store, "iptables", [inputs.firewall], timezone=TZ, actor="ops")
    assert summary.written == 0 and summary.lake_files == 0
    assert summary.read == summary.rejected == summary.written + summary.rejected
    expired = summary.reasons[EXPIRED_REASON]
    assert expired == summary.read - sum(
        n for reason, n in summary.reasons.items() if reason != EXPIRED_REASON
    )
    assert expired > 1000
    assert not _lake_dates(store)
    assert vault_pseudonyms(StoreLayout(store)) == vault_before  # nobody sealed for old lines
    layout = StoreLayout(store)
    result = [e for e in Ledger(layout, "t").entries() if e.kind is EntryKind.INGEST_RESULT][-1]
    assert result.body["rejected"] == summary.read
    assert result.body["reasons"][EXPIRED_REASON] == expired

    key = load_keys(layout.keys).deadletter
    letters = [row for _, t in deadletter.read_all(layout.deadletter, key) for row in t.to_pylist()]
    assert len(letters) == summary.rejected
    lines = inputs.firewall.read_bytes().splitlines()
    for row in letters:
        assert row["file"] == str(inputs.firewall) and 1 <= row["line"] <= len(lines)
        if row["reason"] == EXPIRED_REASON:
            assert row["raw"] == b""
        else:  # malformed lines keep their bytes for the operator
            assert row["raw"] == lines[row["line"] - 1]

    capsys.readouterr()
    assert main(["deadletter", "show", str(store), "--limit", "100000"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("raw line withheld: it was past retention") == expired
    raw_shown = [x for x in shown.splitlines() if x.startswith("    ") and "withheld" not in x]
    assert len(raw_shown) == summary.rejected - expired  # only the malformed lines' bytes
