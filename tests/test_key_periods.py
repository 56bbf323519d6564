"""Pseudonym key periods on real stores: a new store starts with k1; `keys rotate` and a
due period (at ingest) start k2 while k1 is kept; the same person is `-k2-` in new rows
and stays `-k1-` in old ones; subject access, reveal and bundle work across periods;
destroying spent periods removes exactly the retired keys not in use, is ledgered, and
makes their pseudonyms unrevealable with a clear refusal. Keys are never printed."""

from __future__ import annotations

import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from loggvern.commands import ingest
from pipelines.synthetic.municipality import DemoInputs, generate_municipality
from queries.breakglass.bundle import export_bundle
from queries.breakglass.request import BreakGlassError
from queries.subject_access import person_pseudonyms, subject_access
from schemas.policy import default_policies
from store.init import init_store
from store.key_periods import (
    KeyPeriodError,
    current_period,
    destroy_spent_periods,
    key_id_of,
    read_periods,
    rotate,
    rotate_if_due,
)
from store.keys import KeyFileError, KeyRing, load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.records import write_records
from store.write_lock import store_writer
from tests.cli_capture import run_main as run
from transforms.identity import AliasDirectory

OP, ANALYST = "op", "analyst"
WHY = "DLP matches: personal numbers sent to a private mail address"
PERSON = "amir.paulsen@fjordvik.kommune.no"  # the synthetic scenario's exfiltrator
TZ = "Europe/Oslo"
B32 = "abcdefghijklmnopqrstuvwxyz"  # 26 letters: base32 alphabet


def ingest_all(root: Path, inputs: DemoInputs) -> list[str]:
    runs = []
    for source, path in (("sshd", inputs.auth), ("o365-dlp", inputs.dlp)):
        summary = ingest(root, source, [path], aliases=inputs.aliases, timezone=TZ, actor=OP)
        runs.append(summary.run_id)
    return runs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoInputs]:
    """A store with two days of k1 data and an open case."""
    work = tmp_path_factory.mktemp("key-periods")
    inputs = generate_municipality(work / "input", employees=20, days=2)
    root = work / "store"
    assert run("init", str(root), "--custodians", "dpo,union,security", "--threshold", "2",
               "--as", OP)[0] == 0  # fmt: skip
    ingest_all(root, inputs)
    code, _, err = run("case", "open", str(root), "--title", "DLP", "--justification", WHY,
                       "--from", "2026-11-01", "--as", ANALYST)  # fmt: skip
    assert code == 0, err
    return root, inputs


@pytest.fixture(scope="module")
def rotated(
    built: tuple[Path, DemoInputs], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """The built store after `keys rotate` and two more (later) days of data under k2."""
    work = tmp_path_factory.mktemp("rotated")
    root = work / "store"
    shutil.copytree(built[0], root)
    code, out, err = run("keys", "rotate", str(root), "--reason", "yearly", "--as", OP)
    assert (code, out.strip()) == (0, "k2"), err
    later = generate_municipality(work / "input", employees=20, days=2,
                                  start=datetime(2026, 11, 18, tzinfo=UTC))  # fmt: skip
    return root, ingest_all(root, later)


def copy(source: Path, tmp_path: Path) -> Path:
    shutil.copytree(source, tmp_path / "store")
    return tmp_path / "store"


def entries(root: Path) -> list:
    return list(Ledger(StoreLayout(root), "-").entries())


def my_pseudonyms(root: Path, built: tuple[Path, DemoInputs]) -> list[str]:
    aliases = AliasDirectory.load(built[1].aliases)
    return person_pseudonyms(PERSON, load_keys(StoreLayout(root).keys), aliases)[0]


def lake_count(root: Path, pseudonym: str, run_id: str = "") -> int:
    """Rows (any dataset, purpose) whose actor is the pseudonym, in files of `run_id`."""
    glob = f"{root}/lake/*/purpose=*/date=*/{run_id}*.parquet"
    sql = f"SELECT count(*) FROM read_parquet('{glob}', union_by_name = true) WHERE actor_user = $p"
    return duckdb.sql(sql, params={"p": pseudonym}).fetchall()[0][0]


def run_actors(root: Path, run_id: str) -> set[str]:
    glob = f"{root}/lake/*/purpose=*/date=*/{run_id}*.parquet"
    sql = f"SELECT DISTINCT actor_user FROM read_parquet('{glob}', union_by_name = true)"
    return {r[0] for r in duckdb.sql(sql).fetchall() if r[0] is not None}


def all_key_hex(root: Path) -> list[str]:
    keys = load_keys(StoreLayout(root).keys)
    return [k.hex() for k in (*keys.pseudonym_keys.values(), keys.evidence, keys.ipcrypt,
                              keys.deadletter)]  # fmt: skip


def request_reveal(root: Path, *pseudonyms: str) -> str:
    code, out, err = run("breakglass", "request", str(root), "--case", "CASE-0001",
                         "--purpose", "security_incident", "--justification", WHY,
                         "--pseudonym", *pseudonyms, "--notify", "now",
                         "--as", ANALYST)  # fmt: skip
    assert code == 0, err
    req = out.strip()
    for custodian in ("dpo", "union"):
        share = str(root / "custodians" / f"{custodian}.share")
        assert run("breakglass", "approve", str(root), req, "--as", custodian,
                   "--share", share)[0] == 0  # fmt: skip
    return req


def reveal(root: Path, req: str) -> tuple[int, str, str]:
    shares = [
        a for c in ("dpo", "union") for a in ("--share", str(root / "custodians" / f"{c}.share"))
    ]
    return run("breakglass", "reveal", str(root), req, *shares, "--as", ANALYST)


# --- a new store, ids ----------------------------------------------------------------


def test_a_new_store_starts_with_period_k1(tmp_path: Path) -> None:
    layout = init_store(tmp_path / "store", default_policies(), OP)
    (period,) = read_periods(layout.keys)
    assert (period.id, period.retired, period.destroyed) == ("k1", None, None)
    assert current_period(layout) == period
    for name in ("periods.json", "pseudonym-k1.key"):
        assert stat.S_IMODE((layout.keys / name).stat().st_mode) == 0o600
    assert not (layout.keys / "pseudonym.key").exists()
    generated = next(e for e in entries(layout.root) if e.kind is EntryKind.KEYS_GENERATED)
    assert generated.body["pseudonym_key_period"] == "k1"
    assert "pseudonym-k1.key" in generated.body["keys"]
    keys = load_keys(layout.keys)
    assert keys.pseudonym_key_id == "k1" and list(keys.pseudonym_keys) == ["k1"]
    # nothing retired: nothing to destroy, whatever the lake holds
    assert destroy_spent_periods(layout, Ledger(layout, OP), set()) == []
    assert (layout.keys / "pseudonym-k1.key").exists()


def test_key_id_of_reads_only_real_pseudonyms() -> None:
    assert key_id_of(f"usr-k1-{B32}") == "k1" and key_id_of(f"hst-k12-{B32}") == "k12"
    for not_one in (f"usr-k0-{B32}", "usr-k1-aaaa", f"xyz-k1-{B32}", f"usr-k1-{B32}x",
                    f"https://x/personal/usr-k1-{B32}", "k1", ""):  # fmt: skip
        assert key_id_of(not_one) is None, not_one


def test_keyring_defaults_and_refusals(keys: KeyRing) -> None:
    assert keys.pseudonym_keys == {"k1": keys.pseudonym}
    assert keys.pseudonym_key_for("k1") == keys.pseudonym
    with pytest.raises(KeyFileError, match="k7 is not a key period"):
        keys.pseudonym_key_for("k7")
    gone = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    ring = KeyRing(b"b" * 32, keys.evidence, keys.ipcrypt, keys.deadletter, "k2",
                   {"k2": b"b" * 32}, {"k1": gone})  # fmt: skip
    with pytest.raises(KeyFileError, match="k1 was destroyed on 2027-03-01 12:30 UTC: pseudo"):
        ring.pseudonym_key_for("k1")
    assert (b"b" * 32).hex() not in repr(ring) and repr(b"b" * 32) not in repr(ring)
    with pytest.raises(ValueError, match="current pseudonym key"):
        KeyRing(b"c" * 32, keys.evidence, keys.ipcrypt, keys.deadletter, "k2", {"k2": b"b" * 32})


# --- rotation ------------------------------------------------------------------------


def test_rotate_by_command_keeps_the_old_key_and_prints_no_key(
    built: tuple[Path, DemoInputs], tmp_path: Path
) -> None:
    root = copy(built[0], tmp_path)
    old = load_keys(StoreLayout(root).keys)
    code, out, err = run("keys", "rotate", str(root), "--reason", "suspected exposure", "--as", OP)
    assert code == 0, err
    assert out.strip() == "k2" and "k1 retired" in err
    k1, k2 = read_periods(StoreLayout(root).keys)
    assert k1.retired == k2.started and k1.destroyed is None and k2.retired is None
    keys = load_keys(StoreLayout(root).keys)
    assert keys.pseudonym_key_id == "k2" and keys.pseudonym_keys["k1"] == old.pseudonym
    assert keys.pseudonym != old.pseudonym
    assert stat.S_IMODE((root / "keys" / "pseudonym-k2.key").stat().st_mode) == 0o600
    rotated_entry, checkpoint = entries(root)[-2:]
    assert rotated_entry.kind is EntryKind.KEYS_ROTATED and rotated_entry.actor == OP
    assert rotated_entry.body == {"from": "k1", "to": "k2", "reason": "suspected exposure",
                                  "key_file": "pseudonym-k2.key"}  # fmt: skip
    assert checkpoint.kind is EntryKind.CHECKPOINT
    shown = out + err + (root / "ledger" / "ledger.jsonl").read_text()
    shown += (root / "keys" / "periods.json").read_text()
    assert not [h for h in all_key_hex(root) if h in shown]
    assert run("audit", "verify", str(root))[0] == 0


def test_rotate_refusals_change_nothing(built: tuple[Path, DemoInputs], tmp_path: Path) -> None:
    root = copy(built[0], tmp_path)
    code, out, err = run("keys", "rotate", str(tmp_path / "nowhere"))
    assert code == 2 and out == "" and "not a loggvern store" in err
    code, out, err = run("keys", "rotate", str(root), "--reason", "   ", "--as", OP)
    assert code == 2 and "needs a reason" in err
    with store_writer(StoreLayout(root)):
        code, out, err = run("keys", "rotate", str(root), "--as", OP)
    assert code == 2 and "another ingest" in err
    assert [p.id for p in read_periods(root / "keys")] == ["k1"]
    assert not (root / "keys" / "pseudonym-k2.key").exists()
    kinds = [e.kind for e in entries(root)]
    assert EntryKind.KEYS_ROTATED not in kinds and kinds.count(EntryKind.REFUSAL) == 2
    layout = StoreLayout(root)
    with pytest.raises(KeyPeriodError, match="time zone"):
        rotate(layout, Ledger(layout, OP), "naive", now=datetime(2030, 1, 1))
    with pytest.raises(KeyPeriodError, match="cannot rotate at"):
        rotate(layout, Ledger(layout, OP), "clock", now=datetime(2000, 1, 1, tzinfo=UTC))


def test_rotate_if_due_follows_the_store_setting(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "s"), "--key-period-days", "30", "--as", OP)[0] == 0
    layout = StoreLayout(tmp_path / "s")
    ledger = Ledger(layout, OP)
    started = current_period(layout).started
    assert rotate_if_due(layout, ledger, now=started + timedelta(days=29, hours=23)) is None
    due = started + timedelta(days=30, seconds=1)
    period = rotate_if_due(layout, ledger, now=due)
    assert period is not None and (period.id, period.started) == ("k2", due)
    assert rotate_if_due(layout, ledger, now=due + timedelta(days=29)) is None
    assert rotate_if_due(layout, ledger, now=due + timedelta(days=31)).id == "k3"
    bodies = [e.body for e in entries(layout.root) if e.kind is EntryKind.KEYS_ROTATED]
    assert [(b["from"], b["to"]) for b in bodies] == [("k1", "k2"), ("k2", "k3")]
    assert all(b["reason"].startswith("due: ") and "30 days" in b["reason"] for b in bodies)


def test_ingest_rotates_a_due_period_before_it_runs(
    built: tuple[Path, DemoInputs], tmp_path: Path
) -> None:
    root = copy(built[0], tmp_path)
    (k1,) = read_periods(root / "keys")
    long_ago = k1.model_copy(update={"started": datetime.now(UTC) - timedelta(days=400)})
    write_records(root / "keys" / "periods.json", {"k1": long_ago})
    again = tmp_path / "auth-again.log"  # the same file again would be skipped whole
    again.write_bytes(built[1].auth.read_bytes() + b"\n")
    summary = ingest(root, "sshd", [again], aliases=built[1].aliases, timezone=TZ, actor=OP)
    log = entries(root)
    rotation = next(e for e in log if e.kind is EntryKind.KEYS_ROTATED)
    intent = [e for e in log if e.kind is EntryKind.INGEST_INTENT][-1]
    assert rotation.seq < intent.seq and rotation.body["reason"].startswith("due: k1 started")
    actors = run_actors(root, summary.run_id)
    assert actors and all(a.startswith("usr-k2-") for a in actors)
    assert current_period(StoreLayout(root)).id == "k2"


# --- using both periods ----------------------------------------------------------------


def test_after_rotation_new_rows_are_k2_and_old_rows_stay_k1(
    built: tuple[Path, DemoInputs], rotated: tuple[Path, list[str]]
) -> None:
    root, new_runs = rotated
    mine_k1, mine_k2 = my_pseudonyms(root, built)
    assert key_id_of(mine_k1) == "k1" and key_id_of(mine_k2) == "k2"
    assert lake_count(root, mine_k1) == lake_count(built[0], mine_k1) > 0  # old rows kept
    assert lake_count(root, mine_k2) > 0 and lake_count(built[0], mine_k2) == 0
    for run_id in new_runs:
        actors = run_actors(root, run_id)
        assert actors and all(key_id_of(a) == "k2" for a in actors)
        assert lake_count(root, mine_k1, run_id) == 0


def test_subject_access_finds_the_rows_of_both_periods(
    built: tuple[Path, DemoInputs], rotated: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy(rotated[0], tmp_path)
    layout = StoreLayout(root)
    report = subject_access(layout, PERSON, "CASE-0001", tmp_path / "out", OP, built[1].aliases)
    assert [key_id_of(p) for p in report.pseudonyms] == ["k1", "k2"]
    both = sum(lake_count(root, p) for p in report.pseudonyms)
    assert both > lake_count(root, report.pseudonyms[0])
    assert sum(e.events for e in report.events) >= both  # other person columns add more


def test_reveal_and_bundle_work_for_both_live_periods(
    built: tuple[Path, DemoInputs], rotated: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy(rotated[0], tmp_path)
    mine = my_pseudonyms(root, built)
    req = request_reveal(root, *mine)
    layout = StoreLayout(root)
    bundle = export_bundle(layout, Ledger(layout, OP), req, tmp_path / "bundle.json")
    assert sorted(e.pseudonym for e in bundle.entries) == sorted(mine)
    assert bundle.failed_check == () and bundle.not_in_vault == ()
    code, out, err = reveal(root, req)
    assert code == 0, err
    assert all(p in out for p in mine) and out.count("employee:") == 2
    result = [e for e in entries(root) if e.kind is EntryKind.BREAKGLASS_REVEAL_RESULT][-1]
    assert sorted(result.body["revealed"]) == sorted(mine) and result.body["failed_check"] == []


# --- destroying spent periods ----------------------------------------------------------


def test_destroy_spent_periods_takes_only_retired_keys_not_in_use(
    rotated: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy(rotated[0], tmp_path)
    layout = StoreLayout(root)
    ledger = Ledger(layout, "retention")
    assert destroy_spent_periods(layout, ledger, {"k1", "k2"}) == []
    assert rotate(layout, ledger, "test").id == "k3"
    before = load_keys(layout.keys)
    assert destroy_spent_periods(layout, ledger, {"k2"}) == ["k1"]
    assert not (root / "keys" / "pseudonym-k1.key").exists()
    assert (root / "keys" / "pseudonym-k2.key").exists()
    k1, k2, k3 = read_periods(layout.keys)
    assert k1.destroyed is not None and k2.destroyed is None and k3.destroyed is None
    destroyed = [e for e in entries(root) if e.kind is EntryKind.KEYS_DESTROYED]
    assert [e.body for e in destroyed] == [{"periods": ["k1"], "kept_in_use": ["k2"]}]
    assert destroy_spent_periods(layout, ledger, {"k2"}) == []  # once
    assert destroy_spent_periods(layout, ledger, set()) == ["k2"]  # never the current k3
    keys = load_keys(layout.keys)
    assert list(keys.pseudonym_keys) == ["k3"] and keys.pseudonym == before.pseudonym
    assert sorted(keys.destroyed_periods) == ["k1", "k2"]
    with pytest.raises(KeyFileError, match="k1 was destroyed on .*can no longer be re-identif"):
        keys.pseudonym_key_for("k1")
    ledger_text = (root / "ledger" / "ledger.jsonl").read_text()
    assert before.pseudonym_keys["k1"].hex() not in ledger_text
    assert run("audit", "verify", str(root))[0] == 0


def test_a_destroyed_periods_pseudonym_is_refused_clearly(
    built: tuple[Path, DemoInputs], rotated: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy(rotated[0], tmp_path)
    mine_k1, mine_k2 = my_pseudonyms(root, built)
    both = request_reveal(root, mine_k1, mine_k2)  # approved while k1 lived
    layout = StoreLayout(root)
    assert destroy_spent_periods(layout, Ledger(layout, "retention"), set()) == ["k1"]
    code, out, err = reveal(root, both)
    assert code == 2 and "employee:" not in out
    assert f"{mine_k1}: key period k1 was destroyed on" in err
    assert "pseudonyms of that period can no longer be re-identified" in err
    refusal = [e for e in entries(root) if e.kind is EntryKind.REFUSAL][-1]
    assert refusal.body["route"] == "key_destroyed" and refusal.body["request"] == both
    assert EntryKind.BREAKGLASS_REVEAL_INTENT not in {e.kind for e in entries(root)}
    with pytest.raises(BreakGlassError, match="k1 was destroyed"):
        export_bundle(layout, Ledger(layout, OP), both, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()
    assert my_pseudonyms(root, built) == [mine_k2]  # subject access: k2 only
    k2_only = request_reveal(root, mine_k2)
    code, out, err = reveal(root, k2_only)
    assert code == 0 and mine_k2 in out and out.count("employee:") == 1


def test_a_store_made_before_key_periods_reads_as_k1(tmp_path: Path) -> None:
    layout = init_store(tmp_path / "store", default_policies(), OP)
    (layout.keys / "pseudonym-k1.key").rename(layout.keys / "pseudonym.key")
    (layout.keys / "periods.json").unlink()
    legacy = (layout.keys / "pseudonym.key").read_text()
    keys = load_keys(layout.keys)
    assert keys.pseudonym_key_id == "k1" and keys.pseudonym.hex() == legacy.strip()
    ledger = Ledger(layout, OP)
    assert rotate(layout, ledger, "first rotation").id == "k2"
    assert [p.id for p in read_periods(layout.keys)] == ["k1", "k2"]
    assert load_keys(layout.keys).pseudonym_keys["k1"] == keys.pseudonym
    assert destroy_spent_periods(layout, ledger, set()) == ["k1"]
    assert not (layout.keys / "pseudonym.key").exists()
