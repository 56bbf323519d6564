"""Break-glass through the front door on a real store (3 custodians, quorum 2): request,
approvals, reveal, bundles, and every refusal the issue names, each in the ledger."""

from __future__ import annotations

import csv
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from loggvern.commands import ingest
from pipelines.synthetic.municipality import generate_municipality
from queries.breakglass.create import file_request
from queries.breakglass.request import BreakGlassError, load_requests
from schemas.datasets import IdentityKind
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from tests.cli_capture import run_main as run
from transforms.pseudonymize import pseudonym_token

OP, ANALYST = "op", "analyst"
WHY = "DLP matches: personal numbers sent to a private mail address"
PERSON = "amir.paulsen@fjordvik.kommune.no"  # the synthetic scenario's exfiltrator


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("breakglass")
    inputs = generate_municipality(work / "input", employees=20, days=2)
    root = work / "store"
    assert run("init", str(root), "--custodians", "dpo,union,security", "--threshold", "2",
               "--as", OP)[0] == 0  # fmt: skip
    for source, path in (("sshd", inputs.auth), ("o365-dlp", inputs.dlp)):
        ingest(root, source, [path], aliases=inputs.aliases, timezone="Europe/Oslo", actor=OP)
    code, _, _ = run("case", "open", str(root), "--title", "DLP", "--justification", WHY,
                     "--from", "2026-11-01", "--as", ANALYST)  # fmt: skip
    assert code == 0
    with open(inputs.aliases, encoding="utf-8") as fh:
        employee = {row["identifier"].lower(): row["employee_id"] for row in csv.DictReader(fh)}
    return root, employee


@pytest.fixture
def store(built: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    shutil.copytree(built[0], tmp_path / "store")
    return tmp_path / "store"


def token(store: Path, canonical: str) -> str:
    keys = load_keys(StoreLayout(store).keys)
    return pseudonym_token(keys.pseudonym, keys.pseudonym_key_id, IdentityKind.user, canonical)


def person(store: Path, built: tuple[Path, dict[str, str]]) -> tuple[str, str]:
    employee_id = built[1][PERSON]
    return token(store, f"employee:{employee_id}"), f"employee:{employee_id}"


def other_people(store: Path, built: tuple[Path, dict[str, str]], n: int) -> list[str]:
    ids = sorted(set(built[1].values()) - {built[1][PERSON]})
    return [token(store, f"employee:{i}") for i in ids[:n]]


def request(store: Path, *pseudonyms: str, actor: str = ANALYST, extra: tuple = ()) -> str:
    notify = () if "--notify" in extra else ("--notify", "now")
    code, out, err = run("breakglass", "request", str(store), "--case", "CASE-0001",
                         "--purpose", "security_incident", "--justification", WHY,
                         "--pseudonym", *pseudonyms, *notify, "--as", actor, *extra)  # fmt: skip
    assert code == 0, err
    return out.strip()


def share(store: Path, name: str) -> str:
    return str(store / "custodians" / f"{name}.share")


def approve(store: Path, req: str, custodian: str, share_of: str | None = None) -> int:
    return run("breakglass", "approve", str(store), req, "--as", custodian,
               "--share", share(store, share_of or custodian))[0]  # fmt: skip


def reveal(store: Path, req: str, *custodians: str) -> tuple[int, str, str]:
    shares = [arg for c in custodians for arg in ("--share", share(store, c))]
    return run("breakglass", "reveal", str(store), req, *shares, "--as", ANALYST)


def ledger(store: Path) -> list:
    return list(Ledger(StoreLayout(store), "-").entries())


def refusals(store: Path) -> list[str]:
    return [e.body["route"] for e in ledger(store) if e.kind is EntryKind.REFUSAL]


@pytest.mark.parametrize("quorum", [("dpo", "union"), ("dpo", "security"), ("union", "security")])
def test_any_two_of_three_reveal_exactly_the_requested_set(store, built, quorum) -> None:
    target, identity = person(store, built)
    bystander = other_people(store, built, 1)[0]  # in the lake and the vault, not requested
    req = request(store, target)
    for custodian in quorum:
        assert approve(store, req, custodian) == 0
    code, out, err = reveal(store, req, *quorum)
    assert code == 0, err
    assert target in out and identity in out
    assert bystander not in out
    assert out.count("employee:") == 1
    result = [e for e in ledger(store) if e.kind is EntryKind.BREAKGLASS_REVEAL_RESULT][-1]
    assert result.body["revealed"] == [target] and result.body["outcome"] == "ok"
    assert identity not in (StoreLayout(store).ledger / "ledger.jsonl").read_text()


def test_two_pseudonyms_both_revealed_and_nothing_else(store, built) -> None:
    wanted = other_people(store, built, 2)
    req = request(store, *wanted)
    assert approve(store, req, "dpo") == 0 and approve(store, req, "union") == 0
    code, out, _ = reveal(store, req, "dpo", "union")
    assert code == 0
    assert all(w in out for w in wanted) and out.count("employee:") == 2


def test_one_share_short_of_the_quorum_is_refused(store, built) -> None:
    req = request(store, person(store, built)[0])
    assert approve(store, req, "dpo") == 0
    assert reveal(store, req, "dpo")[0] == 2  # only one approval
    assert approve(store, req, "union") == 0
    code, out, err = reveal(store, req, "dpo")  # approved, but one share entered
    assert code == 2 and "quorum is 2" in err and "employee:" not in out
    assert refusals(store)[-2:] == ["not_approved", "bad_share"]


def test_wrong_and_swapped_shares_are_refused(store, built, tmp_path) -> None:
    req = request(store, person(store, built)[0])
    assert approve(store, req, "dpo", share_of="union") == 2  # swapped
    altered = tmp_path / "dpo.share"
    text = Path(share(store, "dpo")).read_text()
    head, _, line = text.partition("\nshare: ")
    words = line.split()
    words[5] = "academic" if words[5] != "academic" else "acid"
    altered.write_text(head + "\nshare: " + " ".join(words) + "\n")
    code, _, err = run("breakglass", "approve", str(store), req, "--as", "dpo",
                       "--share", str(altered))  # fmt: skip
    assert code == 2 and "commitment" in err
    assert refusals(store)[-2:] == ["bad_share", "bad_share"]
    assert load_requests(StoreLayout(store))[req].approvals == []
    assert approve(store, req, "dpo") == 0 and approve(store, req, "union") == 0
    swapped = tmp_path / "swapped.share"
    swapped.write_text(
        Path(share(store, "union")).read_text().replace("custodian: union", "custodian: dpo")
    )
    code, out, _ = run("breakglass", "reveal", str(store), req, "--share", share(store, "dpo"),
                       "--share", str(swapped))  # fmt: skip
    assert code == 2 and "employee:" not in out


def test_requester_cannot_approve_even_as_a_custodian(store, built) -> None:
    req = request(store, person(store, built)[0], actor="dpo")
    code, _, err = run("breakglass", "approve", str(store), req, "--as", "dpo",
                       "--share", share(store, "dpo"))  # fmt: skip
    assert code == 2 and "cannot approve" in err
    assert approve(store, req, "union") == 0
    assert approve(store, req, "union") == 2  # twice
    assert refusals(store)[-2:] == ["requester_as_approver", "approved_twice"]
    assert approve(store, req, "security") == 0
    assert reveal(store, req, "union", "dpo")[0] == 2  # the requester's share takes no part
    assert reveal(store, req, "union", "security")[0] == 0


def test_expired_request_is_refused_and_ledgered_once(store, built) -> None:
    layout = StoreLayout(store)
    made = file_request(
        layout, Ledger(layout, ANALYST), case_id="CASE-0001", purpose="security_incident",
        justification=WHY, pseudonyms=[person(store, built)[0]], notify="now",
        valid_for=timedelta(milliseconds=200),
    )  # fmt: skip
    time.sleep(0.3)
    code, _, err = run("breakglass", "approve", str(store), made.id, "--as", "dpo",
                       "--share", share(store, "dpo"))  # fmt: skip
    assert code == 2 and "expired" in err
    assert reveal(store, made.id, "dpo", "union")[0] == 2
    expired = [e for e in ledger(store) if e.kind is EntryKind.BREAKGLASS_EXPIRED]
    assert [e.body["request"] for e in expired] == [made.id]
    assert refusals(store)[-2:] == ["expired", "expired"]


def test_out_of_scope_and_unjustified_requests_are_refused(store, built) -> None:
    target = person(store, built)[0]
    base = ["breakglass", "request", str(store), "--case", "CASE-0001", "--notify", "now"]
    cases = [
        (["--purpose", "security_incident", "--justification", WHY,
          "--pseudonym", "usr-k1-aaaaaaaaaaaaaaaaaaaaaaaaaa"], "out_of_scope"),
        (["--purpose", "security_incident", "--justification", WHY, "--pseudonym", target,
          "--from", "2026-11-01", "--to", "2026-11-10"], "out_of_scope"),
        (["--purpose", "security_incident", "--justification", "too short",
          "--pseudonym", target], "justification"),
        (["--purpose", "productivity", "--justification", WHY, "--pseudonym", target],
         "unlawful_purpose"),
        (["--purpose", "network_administration", "--justification", WHY,
          "--pseudonym", target], "out_of_scope"),  # people are not in that purpose's view
        (["--purpose", "security_incident", "--justification", WHY, "--pseudonym", target,
          "--from", "2026-10-01"], "out_of_scope"),  # before the case window
    ]  # fmt: skip
    for extra, route in cases:
        code, out, _ = run(*base, *extra, "--as", ANALYST)
        assert code == 2 and out == ""
        assert refusals(store)[-1] == route
    assert load_requests(StoreLayout(store)) == {}


def test_ledger_holds_every_step_in_order(store, built) -> None:
    req = request(store, person(store, built)[0])
    assert approve(store, req, "dpo") == 0 and approve(store, req, "union") == 0
    assert reveal(store, req, "dpo", "union")[0] == 0
    assert reveal(store, req, "dpo", "union")[0] == 2  # a request opens once
    kinds = [e.kind for e in ledger(store) if e.kind.value.startswith("breakglass")]
    assert kinds == [
        EntryKind.BREAKGLASS_REQUESTED, EntryKind.BREAKGLASS_APPROVED,
        EntryKind.BREAKGLASS_APPROVED, EntryKind.BREAKGLASS_REVEAL_INTENT,
        EntryKind.BREAKGLASS_REVEAL_RESULT,
    ]  # fmt: skip
    approvals = [e for e in ledger(store) if e.kind is EntryKind.BREAKGLASS_APPROVED]
    assert [e.actor for e in approvals] == ["dpo", "union"]
    assert approvals[-1].body["state"] == "approved"
    assert refusals(store)[-1] == "already_revealed"
    assert run("audit", "verify", str(store))[0] == 0


def test_bundle_opens_away_from_the_store_and_is_recorded(store, built, tmp_path) -> None:
    target, identity = person(store, built)
    req = request(store, target)
    assert approve(store, req, "dpo") == 0 and approve(store, req, "security") == 0
    bundle = tmp_path / "away" / "bundle.json"
    bundle.parent.mkdir()
    assert run("breakglass", "bundle", str(store), req, "--out", str(bundle))[0] == 0
    assert identity not in bundle.read_text()
    moved = tmp_path / "moved-away"
    store.rename(moved)  # the custodians' machine has no store
    shares = ["--share", share(moved, "dpo"), "--share", share(moved, "security")]
    code, _, err = run("breakglass", "open", str(bundle), *shares, "--key", "ed25519:" + "0" * 64)
    assert code == 2 and "pinned" in err
    code, out, err = run("breakglass", "open", str(bundle), *shares)
    assert code == 0, err
    assert identity in out and target in out
    receipt = bundle.with_name("bundle.json.receipt.json")
    assert identity not in receipt.read_text()
    assert json.loads(receipt.read_text())["revealed"] == [target]
    code, out, err = run("breakglass", "open", str(bundle), *shares)  # receipt kept
    assert code == 2 and "exists" in err and identity not in out
    moved.rename(store)
    code, _, err = run("breakglass", "record", str(store), req, "--revealed", str(receipt))
    assert code == 0, err
    result = [e for e in ledger(store) if e.kind is EntryKind.BREAKGLASS_REVEAL_RESULT][-1]
    assert result.body["where"] == "bundle" and result.body["revealed"] == [target]
    assert run("breakglass", "record", str(store), req, "--revealed", str(receipt))[0] == 2


def test_altered_bundle_does_not_open(store, built, tmp_path) -> None:
    req = request(store, person(store, built)[0])
    assert approve(store, req, "dpo") == 0 and approve(store, req, "union") == 0
    bundle = tmp_path / "bundle.json"
    assert run("breakglass", "bundle", str(store), req, "--out", str(bundle))[0] == 0
    data = json.loads(bundle.read_text())
    data["request"]["approvers"] = ["dpo", "security"]
    bundle.write_text(json.dumps(data))
    code, out, err = run("breakglass", "open", str(bundle), "--share", share(store, "dpo"),
                         "--share", share(store, "security"))  # fmt: skip
    assert code == 2 and "signature" in err and "employee:" not in out


def test_request_needs_a_lawful_purpose_before_any_scope_check(store) -> None:
    layout = StoreLayout(store)
    with pytest.raises(Exception) as caught:
        file_request(layout, Ledger(layout, ANALYST), case_id="CASE-0001", purpose="attendance",
                     justification=WHY, pseudonyms=["x"], notify="now")  # fmt: skip
    assert "attendance" in str(caught.value)
    with pytest.raises(BreakGlassError, match="deferred:REASON"):
        file_request(layout, Ledger(layout, ANALYST), case_id="CASE-0001",
                     purpose="security_incident", justification=WHY, pseudonyms=["x"],
                     notify="later")  # fmt: skip


def test_audit_report_shows_the_round_and_overdue_notices(store, built, tmp_path) -> None:
    target = person(store, built)[0]
    code, _, err = run("breakglass", "request", str(store), "--case", "CASE-0001", "--purpose",
                       "security_incident", "--justification", WHY, "--pseudonym", target,
                       "--notify", "deferred:interview comes first",
                       "--notify-by", "2026-01-01")  # fmt: skip
    assert code == 2 and "future" in err
    req = request(store, target, extra=("--notify", "deferred:the interview comes first"))
    assert approve(store, req, "dpo") == 0 and approve(store, req, "security") == 0
    assert approve(store, req, "dpo") == 2
    assert reveal(store, req, "dpo", "security")[0] == 0
    code, _, err = run("audit", "report", str(store), "--out", str(tmp_path / "r"), "--as", "aud")
    assert code == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    section = next(s for s in report["sections"] if s["id"] == "breakglass")
    (item,) = section["requests"]
    assert item["id"] == req and item["requester"] == ANALYST and item["case"] == "CASE-0001"
    assert item["justification"] == WHY and item["state"] == "revealed"
    assert [a["actor"] for a in item["approvals"]] == ["dpo", "security"]
    (shown,) = item["reveals"]
    assert shown["revealed"] == [target] and shown["custodians"] == ["dpo", "security"]
    assert item["notice"]["mode"] == "deferred" and not item["notice"]["overdue"]
    assert section["refusals_by_route"].get("approved_twice") == 1
    assert req in (tmp_path / "r" / "report.html").read_text()
    code, out, _ = run("breakglass", "notified", str(store), req, "--note", "told in person")
    assert code == 0 and run("breakglass", "notified", str(store), req)[0] == 2


def test_subject_access_lists_exactly_the_reveals_that_named_the_person(
    store, built, tmp_path
) -> None:
    target = person(store, built)[0]
    bystander = other_people(store, built, 1)[0]
    for wanted in ([target], [bystander], [target, bystander]):
        req = request(store, *wanted)
        assert approve(store, req, "dpo") == 0 and approve(store, req, "union") == 0
        assert reveal(store, req, "dpo", "union")[0] == 0
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("employee_id,identifier\n" + "".join(
        f"{e},{i}\n" for i, e in built[1].items()))  # fmt: skip
    code, _, err = run("subject-access", str(store), "--identity", PERSON.upper(), "--case",
                       "CASE-0001", "--aliases", str(aliases), "--out", str(tmp_path / "sa"),
                       "--as", OP)  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "sa" / "subject-access.json").read_text())
    assert report["pseudonyms"][0] == target
    assert [r["request"] for r in report["reveals"]] == ["BG-0001", "BG-0003"]
    assert all(r["custodians"] == ["dpo", "union"] for r in report["reveals"])
    assert sum(e["events"] for e in report["events"]) > 0
    assert PERSON not in (StoreLayout(store).ledger / "ledger.jsonl").read_text().lower()
