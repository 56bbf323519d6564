"""The retention run on a real store: data ingested inside retention, then retention run
on later days. Partitions past their purpose's retention go (named in the ledger), held
ones stay until released, vault entries of pseudonyms gone from the lake go, old dead
letters go, purged files restored from a backup go again, the catalog's views still
work when a purpose is emptied, and the audit report agrees with the run."""

from __future__ import annotations

import shutil
import threading
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit.report import build_report
from loggvern.cli import main
from loggvern.commands import ingest
from pipelines.synthetic.municipality import generate_municipality
from queries.session import QuerySession
from schemas.policy import default_policies
from store.cases import open_case
from store.holds import add_hold, release_hold
from store.init import init_store
from store.key_periods import rotate
from store.lake_pseudonyms import lake_key_ids, lake_pseudonyms
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind, LedgerEntry
from store.ledger_verify import verify_ledger
from store.retention_run import run_retention
from store.vault import entries_dir, vault_pseudonyms
from store.write_lock import store_writer

TZ = "Europe/Oslo"
JUSTIFICATION = "incident under investigation, data needed as evidence"
Partition = tuple[str, str, str]  # dataset, purpose, date


@dataclass(frozen=True)
class Built:
    layout: StoreLayout
    start: date  # first day of the synthetic logs
    ingested: date  # the (real) day the runs finished: dead letters count from it


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("retention")
    ingested = datetime.now(UTC).date()
    start = ingested - timedelta(days=10)
    inputs = generate_municipality(
        root / "input", employees=20, days=2, start=datetime.combine(start, time(), tzinfo=UTC)
    )
    store = root / "store"
    init_store(store, default_policies())
    for source, path in (("iptables", inputs.firewall), ("sshd", inputs.auth),
                         ("o365-dlp", inputs.dlp)):  # fmt: skip
        ingest(store, source, [path], aliases=inputs.aliases, timezone=TZ, actor="ops")
    layout = StoreLayout(store)
    open_case(layout, Ledger(layout, "analyst"), "exfiltration", JUSTIFICATION)
    return Built(layout, start, ingested)


@pytest.fixture
def copy(built: Built, tmp_path: Path) -> StoreLayout:
    shutil.copytree(built.layout.root, tmp_path / "store")
    return StoreLayout(tmp_path / "store")


def partitions(layout: StoreLayout) -> dict[Partition, list[Path]]:
    found: dict[Partition, list[Path]] = {}
    for path in sorted(layout.lake.glob("*/purpose=*/date=*/*.parquet")):
        day, purpose, dataset = path.parent, path.parent.parent, path.parent.parent.parent
        key = (dataset.name, purpose.name.removeprefix("purpose="), day.name.removeprefix("date="))
        found.setdefault(key, []).append(path)
    return found


def rows_of(files: list[Path]) -> int:
    return sum(pq.read_metadata(f).num_rows for f in files)


def entries(layout: StoreLayout, *kinds: EntryKind) -> list[LedgerEntry]:
    return [e for e in Ledger(layout, "t").entries() if e.kind in kinds]


def run(layout: StoreLayout, today: date):  # type: ignore[no-untyped-def]
    return run_retention(layout, Ledger(layout, "operator"), today)


def test_past_partitions_go_held_ones_stay_until_released(built: Built, copy: StoreLayout) -> None:
    add_hold(copy, Ledger(copy, "dpo"), "CASE-0001", "court order",
             dataset="network_activity", purpose="network_administration")  # fmt: skip
    before = partitions(copy)
    admin = {k for k in before if k[1] == "network_administration"}
    held = {k for k in admin if k[0] == "network_activity"}
    assert held and admin - held  # firewall and auth.log both feed administration
    expected_rows = rows_of([p for k in admin - held for p in before[k]])

    result = run(copy, built.start + timedelta(days=100))  # past 90, not 180 or 365 days
    after = partitions(copy)
    assert set(after) == set(before) - (admin - held)
    assert {(h.dataset, h.purpose, h.date) for h in result.held} == held
    assert all(h.holds == ["HOLD-0001"] and h.cases == ["CASE-0001"] for h in result.held)
    removed = {str(p.relative_to(copy.root)) for k in admin - held for p in before[k]}
    assert {f.path for f in result.purged} == removed
    assert result.rows_purged == expected_rows > 0
    assert all(f.retention_days == 90 and f.policy_id == "sshd-default" for f in result.purged)
    for k in admin - held:  # empty date directories go too; the purpose's anchor stays
        assert not (copy.partition_dir(k[0], k[1]) / f"date={k[2]}").exists()
        assert (copy.partition_dir(k[0], k[1]) / "_schema.parquet").is_file()

    (intent,) = entries(copy, EntryKind.RETENTION_INTENT)
    purges = {e.body["step"]: e for e in entries(copy, EntryKind.RETENTION_PURGE)}
    assert set(purges) == {"lake", "deadletter"}  # the dead letters are 90 days old too
    purge = purges["lake"]
    (done,) = entries(copy, EntryKind.RETENTION_RESULT)
    assert intent.body["active_holds"] == ["HOLD-0001"]
    assert purge.ref == intent.seq == done.ref and purge.body["step"] == "lake"
    assert set(purge.body["removed"]) == removed and purge.body["rows"] == result.rows_purged
    assert done.body["outcome"] == "ok" and done.body["files_removed"] == len(removed)
    assert [(h["dataset"], h["date"]) for h in done.body["held"]] == sorted(
        (k[0], k[2]) for k in held
    )

    release_hold(copy, Ledger(copy, "dpo"), "HOLD-0001", "order lifted")
    again = run(copy, built.start + timedelta(days=100))
    assert not again.held
    assert {(f.dataset, f.purpose, f.date) for f in again.purged} == held
    assert not any(k[1] == "network_administration" for k in partitions(copy))
    with QuerySession(copy, "network_administration", None, "auditor") as session:
        for dataset in ("network_activity", "authentication"):  # views bind on the anchors
            n = session.execute(f"SELECT count(*) AS n FROM {dataset}").table
            assert n.column("n").to_pylist() == [0]
    assert verify_ledger(copy.ledger).ok


def test_vault_entries_of_pseudonyms_gone_from_the_lake_go(built: Built, copy: StoreLayout) -> None:
    vault_before = vault_pseudonyms(copy)
    assert vault_before <= lake_pseudonyms(copy)
    result = run(copy, built.start + timedelta(days=200))  # firewall, auth.log: 180 days
    assert {k[0] for k in partitions(copy)} == {"data_security_finding"}  # DLP: 365 days
    in_lake = lake_pseudonyms(copy)
    vault_after = vault_pseudonyms(copy)
    assert vault_after == vault_before & in_lake
    assert vault_after and vault_before - vault_after  # some stay, some go
    assert any(p.startswith("usr-") for p in vault_after)  # DLP still names people
    assert result.vault is not None
    assert result.vault.entries_removed == len(vault_before - vault_after)
    assert result.vault.entries_kept == len(vault_after)
    assert result.key_ids == ["k1"] == sorted(lake_key_ids(copy))
    (vault_purge,) = [e for e in entries(copy, EntryKind.RETENTION_PURGE)
                      if e.body["step"] == "vault"]  # fmt: skip
    assert vault_purge.body["entries_removed"] == result.vault.entries_removed
    for rel in vault_purge.body["removed"]:
        assert not (copy.root / rel).exists()
    assert not any(p in str(vault_purge.body) for p in vault_before)  # counts, no pseudonyms

    last = run(copy, built.start + timedelta(days=400))
    assert not partitions(copy) and not lake_pseudonyms(copy)
    assert vault_pseudonyms(copy) == set() and not list(entries_dir(copy).glob("*.parquet"))
    assert last.key_ids == [] and last.vault is not None
    assert last.vault.entries_removed == len(vault_after)
    with QuerySession(copy, "security_incident", "CASE-0001", "auditor") as session:
        n = session.execute("SELECT count(*) AS n FROM data_security_finding").table
        assert n.column("n").to_pylist() == [0]


def test_old_dead_letters_go(built: Built, copy: StoreLayout) -> None:
    runs = sorted(p.name for p in copy.deadletter.iterdir())
    assert len(runs) == 3  # every synthetic log has malformed lines
    (copy.deadletter / "not-a-run-id").mkdir()
    kept = run(copy, built.ingested + timedelta(days=29))  # default: 30 days
    assert kept.deadletter.removed == [] and kept.deadletter.unknown_age == ["not-a-run-id"]
    assert not kept.purged and not entries(copy, EntryKind.RETENTION_PURGE)
    gone = run(copy, built.ingested + timedelta(days=31))
    assert gone.deadletter.removed == [f"deadletter/{r}" for r in runs]
    assert gone.deadletter.files == 3 and gone.deadletter.retention_days == 30
    assert sorted(p.name for p in copy.deadletter.iterdir()) == ["not-a-run-id"]
    (purge,) = entries(copy, EntryKind.RETENTION_PURGE)
    assert purge.body["step"] == "deadletter" and purge.body["removed"] == gone.deadletter.removed
    assert not gone.purged  # the lake is 41 days old: nothing past 90 days


def test_tombstones_are_reapplied_after_a_restore(built: Built, copy: StoreLayout) -> None:
    backup = copy.root.parent / "backup"
    shutil.copytree(copy.lake, backup)
    day = built.start + timedelta(days=100)
    first = run(copy, day)
    purged = sorted(f.path for f in first.purged)
    assert purged and not first.tombstones_reapplied

    shutil.copytree(backup, copy.lake, dirs_exist_ok=True)  # the restore
    assert all((copy.root / p).exists() for p in purged)
    report = build_report(copy, now=datetime.combine(day, time(12), tzinfo=UTC))
    retention = report.section("retention")
    assert sorted(retention.restored) == purged and retention.status == "failed"

    early = run(copy, built.start + timedelta(days=5))  # nothing is past retention then
    assert sorted(early.tombstones_reapplied) == purged and not early.purged
    assert not any((copy.root / p).exists() for p in purged)
    tomb = [e for e in entries(copy, EntryKind.RETENTION_PURGE) if e.body["step"] == "tombstones"]
    assert len(tomb) == 1 and sorted(tomb[0].body["removed"]) == purged
    assert run(copy, built.start + timedelta(days=5)).tombstones_reapplied == []  # idempotent
    assert (
        build_report(copy, now=datetime.combine(day, time(12), tzinfo=UTC))
        .section("retention")
        .restored
        == []
    )


def test_audit_report_shows_holds_and_no_overdue_after_a_run(
    built: Built, copy: StoreLayout
) -> None:
    day = built.start + timedelta(days=100)
    now = datetime.combine(day, time(12), tzinfo=UTC)
    add_hold(copy, Ledger(copy, "dpo"), "CASE-0001", "court order", dataset="authentication")
    before = build_report(copy, now=now).section("retention")
    assert before.overdue_partitions > 0 and before.status == "failed"
    assert before.held_partitions > 0 and before.last_run is None

    result = run(copy, day)
    report = build_report(copy, now=now)
    retention = report.section("retention")
    assert retention.overdue_partitions == 0 and retention.status == "ok", retention.problems
    assert {(h.dataset, h.purpose, h.date) for h in retention.held} == {
        (h.dataset, h.purpose, h.date) for h in result.held
    }
    assert all(h.cases == ["CASE-0001"] for h in retention.held)
    (hold,) = retention.holds
    assert (hold.id, hold.case, hold.case_open) == ("HOLD-0001", "CASE-0001", True)
    item = next(i for i in retention.items if i.dataset == "authentication"
                and i.purpose == "network_administration")  # fmt: skip
    assert item.held_partitions and not item.overdue
    assert retention.last_run is not None and retention.last_run.outcome == "ok"
    assert retention.last_run.files_removed == len(result.purged)
    assert retention.purges.lake_files == len(result.purged) and retention.purges.runs == 1
    assert retention.purges.rows == result.rows_purged
    assert report.section("ledger").ok

    from audit.report_html import render_html

    html = render_html(report)
    assert "Active legal holds (1)" in html and "HOLD-0001" in html

    assert main(["case", "close", str(copy.root), "CASE-0001", "--reason", "ended"]) == 0
    noted = build_report(copy, now=now).section("retention")
    assert noted.status == "warning" and "CASE-0001 is closed" in " ".join(noted.notes)


def test_command_line(copy: StoreLayout, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retention", "run", str(copy.root), "--as", "operator"]) == 0
    out = capsys.readouterr().out
    assert f"retention run, today {datetime.now(UTC).date().isoformat()}" in out
    assert "pseudonym keys still in the lake: k1" in out
    kinds = [e.kind for e in Ledger(copy, "t").entries()][-3:]
    assert kinds == [EntryKind.RETENTION_INTENT, EntryKind.RETENTION_RESULT, EntryKind.CHECKPOINT]
    with pytest.raises(SystemExit) as refused:  # no option moves the day retention counts from
        main(["retention", "run", str(copy.root), "--today", "2099-01-01"])
    assert refused.value.code == 2
    assert main(["audit", "verify", str(copy.root)]) == 0


def test_an_unreadable_lake_file_stops_vault_pruning(
    built: Built, copy: StoreLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy.partition_dir("data_security_finding", "security_incident") / "date=2000-01-01"
    broken.mkdir()
    (broken / "planted.parquet").write_bytes(b"PAR1 not really parquet")
    vault_before = vault_pseudonyms(copy)
    result = run(copy, built.start + timedelta(days=200))
    assert result.errors and not result.ok
    assert result.vault is None and result.key_ids is None  # unknown: nothing pruned
    assert vault_pseudonyms(copy) == vault_before
    assert result.purged  # what could be read was still enforced
    assert main(["retention", "run", str(copy.root)]) == 1
    assert "vault not pruned" in capsys.readouterr().err


def test_a_retention_run_waits_for_the_store_writer(built: Built, copy: StoreLayout) -> None:
    done: list[object] = []
    with store_writer(copy):
        worker = threading.Thread(target=lambda: done.append(run(copy, built.start)))
        worker.start()
        clock.sleep(0.5)
        assert worker.is_alive() and not entries(copy, EntryKind.RETENTION_INTENT)
    worker.join(timeout=30)
    assert done and entries(copy, EntryKind.RETENTION_INTENT)


def test_a_retired_key_period_is_destroyed_once_none_of_its_data_is_left(
    copy: StoreLayout, tmp_path: Path
) -> None:
    ledger = Ledger(copy, "ops")
    rotate(copy, ledger, "test: a new period")
    backup = tmp_path / "keys-backup"
    shutil.copytree(copy.keys, backup)  # keys/ as a backup taken now has it
    later = tmp_path / "later.log"  # the same people, pseudonymised under k2
    today = datetime.combine(date.today(), time(), tzinfo=UTC)
    inputs = generate_municipality(tmp_path / "input", employees=20, days=1, start=today)
    later.write_bytes(inputs.auth.read_bytes())
    ingest(copy.root, "sshd", [later], aliases=inputs.aliases, timezone=TZ, actor="ops")
    assert lake_key_ids(copy) == {"k1", "k2"}
    kept = run_retention(copy, ledger, date.today())
    assert kept.keys_destroyed == [] and (copy.keys / "pseudonym-k1.key").exists()
    gone = run_retention(copy, ledger, date.today() + timedelta(days=4000))
    assert gone.key_ids == [] and gone.keys_destroyed == ["k1"]  # k2 is current: kept
    assert not (copy.keys / "pseudonym-k1.key").exists()
    assert (copy.keys / "pseudonym-k2.key").exists()
    assert not vault_pseudonyms(copy)  # nothing left to re-identify either
    destroyed = [e for e in ledger.entries() if e.kind is EntryKind.KEYS_DESTROYED]
    assert len(destroyed) == 1 and destroyed[0].body["periods"] == ["k1"]
    # a restore of keys/ brings k1 back; the next retention run destroys it again
    shutil.rmtree(copy.keys)
    shutil.copytree(backup, copy.keys)
    assert (copy.keys / "pseudonym-k1.key").exists()
    again = run_retention(copy, ledger, date.today())
    assert again.keys_destroyed == ["k1"] and not (copy.keys / "pseudonym-k1.key").exists()
    reapplied = [e for e in ledger.entries() if e.kind is EntryKind.KEYS_DESTROYED][-1]
    assert reapplied.body == {"periods": ["k1"], "reapplied": True}
    assert run_retention(copy, ledger, date.today()).keys_destroyed == []
    assert verify_ledger(copy.ledger).ok
