"""`custodians reshare` on a real store (dpo, union, security; quorum 2) with ingested
identities: a 2-of-2 of new custodians afterwards reveals the same identities, the old
shares are refused and open nothing, open break-glass requests are voided, refusals and
failures leave the vault byte-for-byte as it was, a crash before or after the switch
leaves the old or the new vault (the next run throws away or finishes), and the ledger
records it all and still verifies."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shamir_mnemonic
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from loggvern.commands import ingest
from pipelines.synthetic.municipality import generate_municipality
from queries.breakglass.request import load_requests
from schemas.datasets import IdentityKind
from store.custodians import (
    CustodianError,
    Share,
    load_vault_config,
    read_share,
    rebuild_private_key,
    verify_share,
)
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.vault import (
    VAULT_SCHEMA,
    VaultError,
    entries_dir,
    genuine_entries,
    open_sealed,
    vault_mac_keys,
)
from store.write_lock import store_writer
from tests.cli_capture import run_main as run
from transforms.pseudonymize import pseudonym_token

OP, ANALYST = "op", "analyst"
WHY = "DLP matches: personal numbers sent to a private mail address"
PERSON = "amir.paulsen@fjordvik.kommune.no"  # the synthetic scenario's exfiltrator
NEW = ("dpo", "ombud")  # dpo stays (with a new share), union and security leave


@dataclass(frozen=True)
class Built:
    root: Path
    pocket: Path  # the old shares, handed out: the custodians hold them, not the store
    employee: dict[str, str]  # identifier → employee id


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """BG-0001 approved by dpo and union (not revealed), BG-0002 pending (security)."""
    work = tmp_path_factory.mktemp("reshare")
    inputs = generate_municipality(work / "input", employees=20, days=2)
    root = work / "store"
    assert run("init", str(root), "--custodians", "dpo,union,security", "--threshold", "2",
               "--as", OP)[0] == 0  # fmt: skip
    for source, path in (("sshd", inputs.auth), ("o365-dlp", inputs.dlp)):
        ingest(root, source, [path], aliases=inputs.aliases, timezone="Europe/Oslo", actor=OP)
    assert run("case", "open", str(root), "--title", "DLP", "--justification", WHY,
               "--from", "2026-11-01", "--as", ANALYST)[0] == 0  # fmt: skip
    pocket = work / "pocket"
    shutil.copytree(root / "custodians", pocket)
    for share_file in (root / "custodians").glob("*.share"):
        share_file.unlink()  # handed out, as init asks
    with open(inputs.aliases, encoding="utf-8") as fh:
        employee = {row["identifier"].lower(): row["employee_id"] for row in csv.DictReader(fh)}
    built = Built(root, pocket, employee)
    target = token(root, built, PERSON)
    assert request(root, target) == "BG-0001"
    assert approve(root, "BG-0001", "dpo", pocket) == 0
    assert approve(root, "BG-0001", "union", pocket) == 0
    assert request(root, target) == "BG-0002"
    assert approve(root, "BG-0002", "security", pocket) == 0
    return built


@pytest.fixture
def store(built: Built, tmp_path: Path) -> Path:
    shutil.copytree(built.root, tmp_path / "store")
    return tmp_path / "store"


def token(root: Path, built: Built, identifier: str) -> str:
    keys = load_keys(StoreLayout(root).keys)
    canonical = f"employee:{built.employee[identifier]}"
    return pseudonym_token(keys.pseudonym, keys.pseudonym_key_id, IdentityKind.user, canonical)


def request(root: Path, *pseudonyms: str) -> str:
    code, out, err = run("breakglass", "request", str(root), "--case", "CASE-0001",
                         "--purpose", "security_incident", "--justification", WHY,
                         "--pseudonym", *pseudonyms, "--notify", "now",
                         "--as", ANALYST)  # fmt: skip
    assert code == 0, err
    return out.strip()


def approve(root: Path, req: str, custodian: str, shares: Path) -> int:
    return run("breakglass", "approve", str(root), req, "--as", custodian,
               "--share", str(shares / f"{custodian}.share"))[0]  # fmt: skip


def reveal(root: Path, req: str, shares: Path, *custodians: str) -> tuple[int, str, str]:
    given = [arg for c in custodians for arg in ("--share", str(shares / f"{c}.share"))]
    return run("breakglass", "reveal", str(root), req, *given, "--as", ANALYST)


def reshare(
    root: Path, shares: Path, *custodians: str, new: str = ",".join(NEW), threshold: str = "2"
) -> tuple[int, str, str]:
    given = [arg for c in custodians for arg in ("--share", str(shares / f"{c}.share"))]
    return run("custodians", "reshare", str(root), "--custodians", new,
               "--threshold", threshold, *given, "--as", OP)  # fmt: skip


def hand_out(root: Path, to: Path) -> Path:
    """Move the new share files out of the store, as the reshare asks."""
    to.mkdir()
    for share_file in (root / "custodians").glob("*.share"):
        shutil.move(share_file, to / share_file.name)
    return to


def shares_of(directory: Path, *names: str) -> list[Share]:
    return [read_share(directory / f"{n}.share") for n in names]


def vault_rows(root: Path) -> pa.Table:
    files = sorted(entries_dir(StoreLayout(root)).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f).cast(VAULT_SCHEMA) for f in files])


def identities(root: Path, key: X25519PrivateKey) -> dict[str, tuple[str, str]]:
    return {r["pseudonym"]: open_sealed(key, r["pseudonym"], r["sealed"])
            for r in vault_rows(root).to_pylist()}  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes]:
    """Every byte of the vault (entries and custodians.json), the share directory and
    the break-glass requests."""
    files = [p for d in ("vault", "custodians") for p in (root / d).rglob("*") if p.is_file()]
    files.append(root / "breakglass.json")
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def entries(root: Path) -> list:
    return list(Ledger(StoreLayout(root), "-").entries())


def old_key(built: Built, root: Path) -> X25519PrivateKey:
    return rebuild_private_key(load_vault_config(StoreLayout(root)),
                               shares_of(built.pocket, "dpo", "union"))  # fmt: skip


# --- the reshare itself ------------------------------------------------------------------


def test_new_custodians_hold_the_same_identities_and_old_shares_open_nothing(
    store: Path, built: Built, tmp_path: Path
) -> None:
    layout = StoreLayout(store)
    old_config = load_vault_config(layout)
    before = identities(store, old_key(built, store))
    files_before = sorted(p.name for p in entries_dir(layout).glob("*.parquet"))
    assert len(before) > 20 and any(v.startswith("employee:") for _, v in before.values())

    code, out, err = reshare(store, built.pocket, "dpo", "union")
    assert code == 0, err
    config = load_vault_config(layout)
    assert (config.names, config.threshold) == (list(NEW), 2)
    assert config.public_key != old_config.public_key
    assert sorted(p.name for p in (store / "custodians").iterdir()) == ["dpo.share", "ombud.share"]
    assert "Hand each file to its custodian" in err and f"{len(before)} vault entries" in out
    assert not (store / "reshare").exists()
    assert sorted(p.name for p in entries_dir(layout).glob("*.parquet")) == files_before
    pocket = hand_out(store, tmp_path / "new-pocket")

    new_key = rebuild_private_key(config, shares_of(pocket, *NEW))
    assert identities(store, new_key) == before  # every identity carried over, unchanged
    rows = vault_rows(store)
    genuine, foreign = genuine_entries(rows, vault_mac_keys(load_keys(layout.keys)))
    assert foreign == [] and genuine.num_rows == rows.num_rows == len(before)  # MACs valid

    old_dpo, old_union = shares_of(built.pocket, "dpo", "union")
    with pytest.raises(CustodianError, match="commitment"):
        verify_share(config, old_dpo)  # dpo is still a custodian, with another share
    with pytest.raises(CustodianError, match="not a custodian"):
        verify_share(config, old_union)
    with pytest.raises(CustodianError):
        rebuild_private_key(config, [old_dpo, old_union])
    secret = shamir_mnemonic.combine_mnemonics([old_dpo.words, old_union.words])
    rebuilt = X25519PrivateKey.from_private_bytes(secret)  # the old key, rebuilt directly
    assert rebuilt.public_key().public_bytes_raw().hex() == old_config.public_key
    for row in rows.to_pylist():
        with pytest.raises(VaultError):
            open_sealed(rebuilt, row["pseudonym"], row["sealed"])

    words = [s.words for s in (*shares_of(built.pocket, "dpo", "union", "security"),
                               *shares_of(pocket, *NEW))]  # fmt: skip
    ledger_text = (layout.ledger / "ledger.jsonl").read_text(encoding="utf-8")
    people = [value for kind, value in before.values() if value.startswith("employee:")]
    for text in (out, err, ledger_text):
        assert not any(w in text for w in words)
        assert not any(value in text for value in people)


def test_a_reveal_with_the_new_shares_returns_the_same_identity(
    store: Path, built: Built, tmp_path: Path
) -> None:
    target = token(store, built, PERSON)
    identity = f"employee:{built.employee[PERSON]}"
    code, out, err = reveal(store, "BG-0001", built.pocket, "dpo", "union")  # before
    assert code == 0 and identity in out, err
    assert reshare(store, built.pocket, "union", "security")[0] == 0
    pocket = hand_out(store, tmp_path / "new-pocket")

    req = request(store, target)
    assert approve(store, req, "dpo", built.pocket) == 2  # the old share: refused
    assert approve(store, req, "union", built.pocket) == 2  # no longer a custodian
    assert approve(store, req, "dpo", pocket) == 0
    assert approve(store, req, "ombud", pocket) == 0
    assert reveal(store, req, built.pocket, "dpo", "union")[0] == 2  # the old quorum: refused
    code, out, err = reveal(store, req, pocket, "dpo", "ombud")
    assert code == 0, err
    assert target in out and identity in out and out.count("employee:") == 1
    routes = [e.body["route"] for e in entries(store) if e.kind is EntryKind.REFUSAL]
    assert routes.count("bad_share") >= 2


def test_open_requests_are_voided_and_cannot_be_used(store: Path, built: Built, tmp_path: Path):
    code, out, _ = reshare(store, built.pocket, "dpo", "security")
    assert code == 0 and "BG-0001, BG-0002" in out
    pocket = hand_out(store, tmp_path / "new-pocket")
    requests = load_requests(StoreLayout(store))
    assert {r.state().value for r in requests.values()} == {"voided"}

    assert reveal(store, "BG-0001", built.pocket, "dpo", "union")[0] == 2  # old shares
    assert reveal(store, "BG-0001", pocket, "dpo", "ombud")[0] == 2  # new shares too
    assert approve(store, "BG-0002", "dpo", pocket) == 2
    assert run("breakglass", "bundle", str(store), "BG-0001", "--out",
               str(tmp_path / "bg.json"), "--as", ANALYST)[0] == 2  # fmt: skip
    assert not (tmp_path / "bg.json").exists()
    ledger = entries(store)
    voids = [e for e in ledger if e.kind is EntryKind.BREAKGLASS_VOIDED]
    assert [(e.body["request"], e.body["reason"]) for e in voids] == [
        ("BG-0001", "custodians_reshared"), ("BG-0002", "custodians_reshared")
    ]  # fmt: skip
    assert voids[0].body["approvals"] == ["dpo", "union"]
    intent = next(e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARE_INTENT)
    result = next(e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARED)
    assert intent.seq < voids[0].seq < voids[1].seq < result.seq  # voided before the switch
    assert result.body["voided_requests"] == ["BG-0001", "BG-0002"]
    refused = [e.body for e in ledger if e.kind is EntryKind.REFUSAL][-4:]
    assert [b["route"] for b in refused] == ["voided"] * 4

    code, listing, _ = run("breakglass", "list", str(store), "--as", OP)
    assert code == 0 and listing.count("voided") == 2
    code, _, err = run("audit", "report", str(store), "--out", str(tmp_path / "report"))
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    section = next(s for s in report["sections"] if s["id"] == "breakglass")
    assert {r["id"]: r["state"] for r in section["requests"]} == {
        "BG-0001": "voided", "BG-0002": "voided"
    }  # fmt: skip
    assert all(not r["problems"] for r in section["requests"])


def test_the_ledger_records_the_reshare_and_verifies(store: Path, built: Built) -> None:
    layout = StoreLayout(store)
    old = load_vault_config(layout)
    rows = vault_rows(store).num_rows
    assert reshare(store, built.pocket, "security", "dpo")[0] == 0
    new = load_vault_config(layout)
    ledger = entries(store)
    intent = next(e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARE_INTENT)
    (result,) = [e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARED]
    assert result.ref == intent.seq and result.body["outcome"] == "ok"
    assert result.body["old"] == {"custodians": ["dpo", "union", "security"], "threshold": 2,
                                  "vault_key": old.fingerprint}  # fmt: skip
    assert result.body["new"] == {"custodians": list(NEW), "threshold": 2,
                                  "vault_key": new.fingerprint}  # fmt: skip
    assert result.body["entries"] == rows and result.body["quorum"] == ["dpo", "security"]
    assert ledger[-1].kind is EntryKind.CHECKPOINT
    code, out, err = run("audit", "verify", str(store))
    assert code == 0 and "ledger intact" in out, err


def test_ingest_after_a_reshare_seals_to_the_new_key(
    store: Path, built: Built, tmp_path: Path
) -> None:
    assert reshare(store, built.pocket, "dpo", "union")[0] == 0
    pocket = hand_out(store, tmp_path / "new-pocket")
    log = tmp_path / "late.log"
    log.write_text("Nov 16 08:01:09 jump1 sshd[4250]: Accepted publickey for latecomer from "
                   "198.51.100.23 port 40022 ssh2\n", encoding="utf-8")  # fmt: skip
    assert ingest(store, "sshd", [log], timezone="UTC", actor=OP).sealed >= 1
    key = rebuild_private_key(load_vault_config(StoreLayout(store)), shares_of(pocket, *NEW))
    assert ("usr", "latecomer") in identities(store, key).values()  # every entry opens


# --- refused or failed: nothing changes ----------------------------------------------


def _edited(source: Path, target: Path, old: str, new: str) -> Path:
    target.write_text(source.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("case", "route"),
    [
        ("one share", "no_quorum"),
        ("the same share twice", "no_quorum"),
        ("union's share presented as dpo's", "bad_share"),
        ("a word changed", "bad_share"),
        ("a quorum of 3 of 2", "invalid_request"),
        ("a custodian named twice", "invalid_request"),
        ("a bad custodian name", "invalid_request"),
        ("a quorum of 0", "invalid_request"),
    ],
)
def test_refused_before_anything_changes(
    store: Path, built: Built, tmp_path: Path, case: str, route: str
) -> None:
    before = snapshot(store)
    seq_before = len(entries(store))
    pocket = tmp_path / "given"
    shutil.copytree(built.pocket, pocket)
    shares, new, threshold = ["dpo", "union"], ",".join(NEW), "2"
    if case == "one share":
        shares = ["dpo"]
    elif case == "the same share twice":
        shares = ["dpo", "dpo"]
    elif case == "union's share presented as dpo's":
        _edited(pocket / "union.share", pocket / "dpo.share", "custodian: union", "custodian: dpo")
    elif case == "a word changed":
        words = read_share(pocket / "dpo.share").words.split()
        words[5] = "academic" if words[5] != "academic" else "acid"
        (pocket / "dpo.share").write_text(f"custodian: dpo\nshare: {' '.join(words)}\n")
    elif case == "a quorum of 3 of 2":
        threshold = "3"
    elif case == "a custodian named twice":
        new = "ombud,ombud"
    elif case == "a bad custodian name":
        new = "dpo,Bad Name"
    else:
        threshold = "0"
    code, out, err = reshare(store, pocket, *shares, new=new, threshold=threshold)
    assert code == 2, (out, err)
    assert snapshot(store) == before
    assert not (store / "reshare").exists()
    added = entries(store)[seq_before:]
    assert [e.kind for e in added] == [EntryKind.REFUSAL, EntryKind.CHECKPOINT]
    assert added[0].body["command"] == "custodians reshare"
    assert added[0].body["route"] == route


def test_a_foreign_vault_entry_fails_the_reshare_and_changes_nothing(
    store: Path, built: Built
) -> None:
    layout = StoreLayout(store)
    rows = vault_rows(store).slice(0, 1).to_pylist()
    rows[0]["mac"] = bytes(32)  # sealed by someone without the pseudonym key
    pq.write_table(pa.Table.from_pylist(rows, schema=VAULT_SCHEMA),
                   entries_dir(layout) / "zzz-planted.parquet")  # fmt: skip
    before = snapshot(store)
    code, _, err = reshare(store, built.pocket, "dpo", "union")
    assert code == 1 and "no valid vault MAC" in err
    assert snapshot(store) == before  # requests not voided either
    assert not (store / "reshare").exists()
    result = [e for e in entries(store) if e.kind is EntryKind.CUSTODIANS_RESHARED]
    assert [e.body["outcome"] for e in result] == ["failed"]


# --- crash safety ------------------------------------------------------------------------

CRASHING = """
import os, sys
from contextlib import contextmanager
from pathlib import Path
from store.custodians import read_share
from store.layout import StoreLayout
from store.ledger import Ledger
from store.reshare import reshare

root, pocket, when = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

@contextmanager
def crash():  # the process dies here, as in a power cut: no handler runs
    if when == "before":
        os._exit(9)
    yield []
    os._exit(9)

layout = StoreLayout(root)
shares = [read_share(pocket / f"{n}.share") for n in ("dpo", "union")]
reshare(layout, Ledger(layout, "op"), ["dpo", "ombud"], 2, shares, crash)
"""


def crash_reshare(store: Path, pocket: Path, when: str) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING, str(store), str(pocket), when],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 9, done.stderr


def test_a_crash_before_the_switch_leaves_the_old_vault(
    store: Path, built: Built, tmp_path: Path
) -> None:
    before_vault = {k: v for k, v in snapshot(store).items() if k.startswith("vault")}
    old = identities(store, old_key(built, store))
    crash_reshare(store, built.pocket, "before")
    assert (store / "reshare" / "custodians").is_dir()  # staged, never switched
    assert {k: v for k, v in snapshot(store).items() if k.startswith("vault")} == before_vault
    assert identities(store, old_key(built, store)) == old  # the old quorum still opens it

    code, out, err = reshare(store, built.pocket, "dpo", "union")  # throws it away, reshares
    assert code == 0 and "interrupted" not in out, err
    pocket = hand_out(store, tmp_path / "new-pocket")
    key = rebuild_private_key(load_vault_config(StoreLayout(store)), shares_of(pocket, *NEW))
    assert identities(store, key) == old
    assert not (store / "reshare").exists()
    assert run("audit", "verify", str(store))[0] == 0


def test_a_crash_after_the_switch_is_finished_by_the_next_run(
    store: Path, built: Built, tmp_path: Path
) -> None:
    layout = StoreLayout(store)
    old_config = load_vault_config(layout)
    old = identities(store, old_key(built, store))
    crash_reshare(store, built.pocket, "after")
    config = load_vault_config(layout)
    assert config.public_key != old_config.public_key  # the new vault is live
    staged = store / "reshare" / "custodians"
    key = rebuild_private_key(config, shares_of(staged, *NEW))  # its shares are staged
    assert identities(store, key) == old
    assert not list((store / "custodians").glob("*.share"))

    code, out, err = reshare(store, built.pocket, "dpo", "union")  # the same command again
    assert code == 0 and "finished an interrupted reshare" in out, err
    assert load_vault_config(layout) == config  # finished, not reshared once more
    pocket = hand_out(store, tmp_path / "new-pocket")
    assert identities(store, rebuild_private_key(config, shares_of(pocket, *NEW))) == old
    assert not (store / "reshare").exists()
    ledger = entries(store)
    intent = next(e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARE_INTENT)
    (result,) = [e for e in ledger if e.kind is EntryKind.CUSTODIANS_RESHARED]
    assert result.ref == intent.seq and result.body["recovered"] is True
    assert run("audit", "verify", str(store))[0] == 0


def test_reshare_waits_for_the_store_writer(store: Path, built: Built) -> None:
    layout = StoreLayout(store)
    before = snapshot(store)
    codes: list[int] = []
    with store_writer(layout):  # an ingest batch, replay or retention run
        worker = threading.Thread(
            target=lambda: codes.append(reshare(store, built.pocket, "dpo", "union")[0])
        )
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive() and snapshot(store) == before
    worker.join(timeout=120)
    assert codes == [0]
    assert load_vault_config(layout).names == list(NEW)
    assert os.listdir(store / "custodians") != []
