"""Subject access (GDPR art. 15) on a real store built from the synthetic municipality:
counts and date ranges against an independent DuckDB count, exactly the reveals that
included the person, refusals, and no plain identity in the ledger."""

from __future__ import annotations

import argparse
import io
import shutil
import stat
from contextlib import redirect_stdout
from pathlib import Path

import duckdb
import pytest

from loggvern.cli import main
from loggvern.commands import ingest
from loggvern.commands_subject import cmd_subject_access
from pipelines.synthetic.municipality import generate_municipality
from queries.subject_access import SubjectAccessError, person_pseudonyms, subject_access
from schemas.datasets import IdentityKind
from store.cases import CaseError, close_case, open_case
from store.keys import KeyRing, load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from transforms.identity import AliasDirectory
from transforms.pseudonymize import pseudonym_token

OP = "test-operator"
PERSON = "AMIR.PAULSEN@fjordvik.kommune.no"  # the scenario's exfiltrator: DLP and firewall
WHY = "the employee asked what is stored about them"
PERSON_COLUMNS = {  # written out by hand: independent of schemas/datasets.py
    "network_activity": ["actor_user"],
    "authentication": ["actor_user", "target_user", "key_fingerprint"],
    "data_security_finding": ["actor_user", "actor_display", "file_url", "site_url"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("subject-access")
    inputs = generate_municipality(work / "input", employees=20, days=2)
    root = work / "store"
    with redirect_stdout(io.StringIO()):
        assert main(["init", str(root), "--as", OP]) == 0
    for source, path in (("iptables", inputs.firewall), ("sshd", inputs.auth),
                         ("o365-dlp", inputs.dlp)):  # fmt: skip
        ingest(root, source, [path], aliases=inputs.aliases, timezone="Europe/Oslo", actor=OP)
    return root, inputs.aliases


@pytest.fixture
def layout(built: tuple[Path, Path], tmp_path: Path) -> StoreLayout:
    shutil.copytree(built[0], tmp_path / "store", symlinks=True)
    return StoreLayout(tmp_path / "store")


@pytest.fixture
def aliases(built: tuple[Path, Path]) -> Path:
    return built[1]


def new_case(layout: StoreLayout) -> str:
    return open_case(layout, Ledger(layout, OP), "subject access", WHY).id


def independent_counts(layout: StoreLayout, token: str) -> dict[tuple[str, str], tuple]:
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    found = {}
    for dataset, columns in PERSON_COLUMNS.items():
        glob = f"{layout.lake}/{dataset}/purpose=*/date=*/*.parquet"
        where = " OR ".join(
            [f"{c} = $t" for c in columns if not c.endswith("_url")]
            + [f"ends_with({c}, '/personal/' || $t)" for c in columns if c.endswith("_url")]
        )
        scan = f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
        sql = f"SELECT purpose, count(*), min(time), max(time) FROM {scan} WHERE {where} GROUP BY 1"
        for purpose, n, first, last in con.sql(sql, params={"t": token}).fetchall():
            found[(dataset, purpose)] = (n, first, last)
    return found


def reported(report) -> dict[tuple[str, str], tuple]:
    return {(e.dataset, e.purpose): (e.events, e.first, e.last) for e in report.events}


def test_counts_match_an_independent_count(
    layout: StoreLayout, aliases: Path, tmp_path: Path
) -> None:
    report = subject_access(layout, PERSON, new_case(layout), tmp_path / "out", OP, aliases)
    assert report.known_employee and len(report.pseudonyms) == 1
    expected = independent_counts(layout, report.pseudonyms[0])
    assert len({d for d, _ in expected}) >= 2
    assert reported(report) == expected
    text = (tmp_path / "out" / "subject-access.txt").read_text()
    assert PERSON in text and "data_security_finding / security_incident" in text


def test_unknown_identity_uses_its_normalised_token(
    layout: StoreLayout, aliases: Path, tmp_path: Path
) -> None:
    report = subject_access(layout, " FJORDVIK\\Postgres", new_case(layout), tmp_path, OP, aliases)
    token = pseudonym_token(load_keys(layout.keys).pseudonym, "k1", IdentityKind.user, "postgres")
    assert not report.known_employee and report.pseudonyms == [token]
    expected = independent_counts(layout, token)
    assert expected and reported(report) == expected


def test_email_also_covers_the_personal_site_segment(keys: KeyRing) -> None:
    none = AliasDirectory()
    tokens, known = person_pseudonyms("Ola.Nord@Example.no", keys, none)
    assert not known and tokens == [
        pseudonym_token(keys.pseudonym, "k1", IdentityKind.user, "ola.nord@example.no"),
        pseudonym_token(keys.pseudonym, "k1", IdentityKind.user, "ola_nord_example_no"),
    ]
    directory = AliasDirectory.from_pairs([("E1", "ola.nord@example.no"), ("E1", "onord01")])
    tokens, known = person_pseudonyms("FJORDVIK\\ONORD01", keys, directory)
    assert known and tokens == [
        pseudonym_token(keys.pseudonym, "k1", IdentityKind.user, "employee:E1")
    ]
    assert person_pseudonyms("ola.nord@example.no", keys, directory)[0] == tokens


def add_reveal(ledger: Ledger, rid: str, revealed: list[str], outcome: str = "ok") -> int:
    request = {"id": rid, "case": "CASE-0001", "purpose": "security_incident",
               "justification": f"{rid}: DLP matches to a private address", "pseudonyms": revealed,
               "requested_by": "analyst", "requested_at": "2026-11-18T08:00:00+00:00"}  # fmt: skip
    ledger.append(EntryKind.BREAKGLASS_REQUESTED, {"request": request})
    ledger.append(EntryKind.BREAKGLASS_APPROVED, {"request": rid, "custodian": "dpo"})
    intent = ledger.append(EntryKind.BREAKGLASS_REVEAL_INTENT, {
        "request": rid, "case": "CASE-0001", "purpose": "security_incident",
        "custodians": ["dpo", "union"], "where": "store", "pseudonyms": revealed,
    })  # fmt: skip
    result = ledger.append(EntryKind.BREAKGLASS_REVEAL_RESULT, {
        "request": rid, "where": "store", "revealed": revealed, "not_in_vault": [],
        "failed_check": [], "outcome": outcome,
    }, ref=intent.seq)  # fmt: skip
    return result.seq


def test_lists_exactly_the_reveals_that_included_the_person(
    layout: StoreLayout, aliases: Path, tmp_path: Path
) -> None:
    case = new_case(layout)
    keys = load_keys(layout.keys)
    mine = person_pseudonyms(PERSON, keys, AliasDirectory.load(aliases))[0][0]
    other = person_pseudonyms("someone.else", keys, AliasDirectory())[0][0]
    ledger = Ledger(layout, "custodian-run")
    included = add_reveal(ledger, "BG-0001", [other, mine])
    add_reveal(ledger, "BG-0002", [other])
    add_reveal(ledger, "BG-0003", [mine], outcome="failed")
    report = subject_access(layout, PERSON, case, tmp_path, OP, aliases)
    assert [r.request for r in report.reveals] == ["BG-0001"]
    reveal = report.reveals[0]
    when = next(e.time for e in ledger.entries() if e.seq == included)
    assert reveal.revealed_at == when and reveal.pseudonyms == [mine]
    assert (reveal.requested_by, reveal.revealed_by, reveal.custodians) == (
        "analyst", "custodian-run", ["dpo", "union"])  # fmt: skip
    assert (reveal.case, reveal.purpose) == ("CASE-0001", "security_incident")
    assert "BG-0001: DLP matches" in (tmp_path / "subject-access.txt").read_text()
    result = list(ledger.entries())[-1]
    assert result.body == {"datasets": 2, "events": sum(e.events for e in report.events),
                           "reveals": 1, "outcome": "ok"}  # fmt: skip


def test_needs_an_open_case(layout: StoreLayout, aliases: Path, tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no case"):
        subject_access(layout, PERSON, "CASE-0999", tmp_path / "a", OP, aliases)
    closed = new_case(layout)
    close_case(layout, Ledger(layout, OP), closed, "done")
    with pytest.raises(CaseError, match="was closed"):
        subject_access(layout, PERSON, closed, tmp_path / "b", OP, aliases)
    kinds = {e.kind for e in Ledger(layout, OP).entries()}
    assert EntryKind.SUBJECT_ACCESS_INTENT not in kinds
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_out_inside_the_store_refused(layout: StoreLayout, aliases: Path) -> None:
    case = new_case(layout)
    for inside in (layout.root / "reports", layout.root, layout.lake / ".." / "x"):
        with pytest.raises(SubjectAccessError, match="inside the store"):
            subject_access(layout, PERSON, case, inside, OP, aliases)
    assert not (layout.root / "reports").exists() and not (layout.root / "x").exists()
    assert not (layout.root / "subject-access.json").exists()


def test_ledgered_with_case_and_pseudonyms_never_the_identity(
    layout: StoreLayout, aliases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = new_case(layout)
    args = argparse.Namespace(
        command="subject-access", store=layout.root, identity=PERSON, case=case,
        aliases=aliases, out=tmp_path / "out", actor=OP,
    )  # fmt: skip
    assert cmd_subject_access(args) == 0
    assert "reveal(s)" in capsys.readouterr().out
    entries = list(Ledger(layout, OP).entries())
    intent, result = entries[-2:]
    pseudonyms = person_pseudonyms(PERSON, load_keys(layout.keys), AliasDirectory.load(aliases))[0]
    assert intent.kind == EntryKind.SUBJECT_ACCESS_INTENT and intent.actor == OP
    assert intent.body == {"case": case, "pseudonyms": pseudonyms}
    assert result.kind == EntryKind.SUBJECT_ACCESS_RESULT and result.ref == intent.seq
    assert set(result.body) == {"datasets", "events", "reveals", "outcome"}
    text = (layout.ledger / "ledger.jsonl").read_text().casefold()
    employee = next(line for line in aliases.read_text().splitlines()
                    if PERSON.casefold() in line.casefold()).split(",")[0]  # fmt: skip
    for plain in (PERSON.casefold(), "amir.paulsen", "amir_paulsen", f"employee:{employee}"):
        assert plain.casefold() not in text
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    for name in ("subject-access.json", "subject-access.txt"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o600
        assert PERSON in (tmp_path / "out" / name).read_text()
