"""The detections of the seeds, as named queries over a store with planted cases:
record look-ups without service need (001, 004), administrators in privileged stores
(001), DLP matches against a person's own baseline (001) and TikTok/Telegram on devices
(002). Each finds exactly its planted cases and none of the decoys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loggvern.commands import ingest
from pipelines.synthetic.intune_inventory import write_inventory
from queries.named import load_named
from queries.session import QuerySession
from schemas.datasets import IdentityKind
from schemas.policy import default_policies
from store.cases import open_case
from store.init import init_store
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from transforms.identity import AliasDirectory
from transforms.pseudonymize import Pseudonymizer

NOW = datetime(2026, 11, 16, 12, tzinfo=UTC)
DETECTIONS = (
    "record_lookups_outside_care",
    "admin_privileged_store_access",
    "dlp_spike_vs_baseline",
    "tiktok_telegram_installed",
)


def _winlog(event_id: int, user: str, logon: str, minute: int, **data: str) -> str:
    return json.dumps(
        {
            "@timestamp": f"2026-11-16T09:{minute:02d}:00.000Z",
            "winlog": {
                "event_id": event_id,
                "computer_name": "exch01.fjordvik.example",
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "event_data": {
                    "SubjectUserName": user,
                    "SubjectDomainName": "FJORDVIK",
                    "SubjectLogonId": logon,
                    **data,
                },
            },
        }  # fmt: skip
    )


def _windows(tmp: Path) -> tuple[Path, Path]:
    logons = tmp / "security.json"
    logons.write_text(
        _winlog(4672, "ola.adm", "0x5A3E1", 1, PrivilegeList="SeBackupPrivilege") + "\n"
    )
    access = tmp / "object-access.json"
    lines = [
        _winlog(4663, "ola.adm", "0x5a3e1", 2 + i, ObjectType="File",
                ObjectName=f"E:\\Exchange\\Quarantine\\msg-{i}.eml", AccessList="%%4416")
        for i in range(3)
    ] + [
        _winlog(4663, "per.hr", "0x77", 9, ObjectType="File",
                ObjectName="F:\\HR\\Personalmapper\\ansatt-17.pdf", AccessList="%%4416"),
        _winlog(4663, "kari", "0x99", 10, ObjectType="File",
                ObjectName="D:\\Felles\\Referat\\møte.docx", AccessList="%%4416"),
    ]  # fmt: skip
    access.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return logons, access


def _records(tmp: Path) -> Path:
    rows = ["time,user,user_unit,record_id,record_unit,action,reason_code"]
    for i in range(60):  # many records, all in her own unit, all with a reason
        rows.append(f"2026-11-16T08:{i % 60:02d}:00Z,nina,Post 1,{20000 + i},Post 1,read,BEH")
    for i in range(3):  # another unit's records
        rows.append(f"2026-11-16T09:0{i}:00Z,ole,Post 2,{30000 + i},Psykiatri,read,BEH")
    rows.append("2026-11-16T09:10:00Z,siv,Post 3,40000,Post 3,read,")  # no reason code
    for i in range(5):  # an ordinary day
        rows.append(f"2026-11-16T10:0{i}:00Z,tor,Post 3,{50000 + i},Post 3,read,BEH")
    path = tmp / "records.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _dlp_line(user: str, when: datetime) -> str:
    return json.dumps(
        {
            "CreationTime": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "Operation": "DLPRuleMatch",
            "Workload": "Exchange",
            "UserId": user,
            "Id": f"{user}-{when:%j%H%M}",
            "PolicyDetails": [
                {
                    "PolicyName": "PII",
                    "Rules": [
                        {
                            "RuleName": "NIN",
                            "Severity": "High",
                            "Actions": ["NotifyUser"],
                            "ConditionsMatched": {"SensitiveInformation": [{"Count": 2}]},
                        }
                    ],
                }
            ],
        }  # fmt: skip
    )


def _dlp(tmp: Path) -> Path:
    lines = [_dlp_line("leaver@fjordvik.kommune.no", NOW - timedelta(days=d)) for d in (40, 20)]
    lines += [_dlp_line("leaver@fjordvik.kommune.no", NOW - timedelta(hours=6 * h))
              for h in range(8)]  # fmt: skip
    lines += [_dlp_line("steady@fjordvik.kommune.no", NOW - timedelta(days=d))
              for d in range(0, 67, 5)]  # fmt: skip
    path = tmp / "dlp.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[StoreLayout, str, object]:
    tmp = tmp_path_factory.mktemp("detections")
    root = tmp / "store"
    layout = init_store(root, default_policies(), "op")
    logons, access = _windows(tmp)
    inventory = write_inventory(tmp / "inventory.csv", 40, 3, "csv")
    for source, path in (("windows-security", logons), ("windows-object-access", access),
                         ("record-access-csv", _records(tmp)), ("o365-dlp", _dlp(tmp)),
                         ("intune-csv", inventory.path)):  # fmt: skip
        summary = ingest(root, source, [path], actor="op")
        assert summary.rejected <= 1, (source, summary.reasons)  # a CSV header line at most
    case = open_case(layout, Ledger(layout, "analyst"), "detections", "checking the seeds' "
                     "detections", datetime(2026, 8, 1, tzinfo=UTC))  # fmt: skip
    return layout, case.id, inventory


def _run(built, name: str, *params: str) -> list[dict]:  # type: ignore[no-untyped-def]
    layout, case_id, _ = built
    query = load_named(name)
    with QuerySession(layout, query.purpose, case_id, "analyst") as session:
        return session.execute(query.sql, query.bind(list(params)), named=name).table.to_pylist()


def _user(layout: StoreLayout, name: str) -> str:
    return Pseudonymizer(load_keys(layout.keys), AliasDirectory()).token(IdentityKind.user, name)


def test_record_lookups_without_service_need(built) -> None:  # type: ignore[no-untyped-def]
    layout = built[0]
    rows = {r["actor_user"]: r for r in _run(built, "record_lookups_outside_care")}
    assert set(rows) == {_user(layout, n) for n in ("nina", "ole", "siv")}
    assert rows[_user(layout, "nina")]["records"] == 60
    assert rows[_user(layout, "ole")]["outside_unit"] == 3
    assert rows[_user(layout, "siv")]["without_reason"] == 1
    assert all(str(r["actor_user"]).startswith("usr-") for r in rows.values())
    quiet = _run(built, "record_lookups_outside_care", "min_records=61")
    assert _user(layout, "nina") not in {r["actor_user"] for r in quiet}


def test_admins_in_privileged_stores(built) -> None:  # type: ignore[no-untyped-def]
    layout = built[0]
    rows = _run(built, "admin_privileged_store_access")
    found = {(r["actor_user"], r["store_class"]): r for r in rows}
    admin = found[(_user(layout, "FJORDVIK\\ola.adm"), "quarantine")]
    assert admin["accesses"] == 3 and admin["with_admin_rights"] is True
    hr = found[(_user(layout, "FJORDVIK\\per.hr"), "hr")]
    assert hr["with_admin_rights"] is False
    assert len(found) == 2  # kari's shared folder is no privileged store


def test_dlp_spike_against_own_baseline(built) -> None:  # type: ignore[no-untyped-def]
    layout = built[0]
    rows = _run(built, "dlp_spike_vs_baseline")
    assert [r["actor_user"] for r in rows] == [_user(layout, "leaver@fjordvik.kommune.no")]
    assert rows[0]["recent"] == 8 and rows[0]["baseline"] == 2
    assert _run(built, "dlp_spike_vs_baseline", "factor=100") == []


def test_tiktok_and_telegram_on_devices(built) -> None:  # type: ignore[no-untyped-def]
    layout, _, truth = built
    rows = _run(built, "tiktok_telegram_installed")
    pz = Pseudonymizer(load_keys(layout.keys), AliasDirectory())
    banned = set(truth.tiktok) | set(truth.telegram)
    service = {pz.token(IdentityKind.device, d) for d in banned if d not in truth.personal}
    shown = {r["device"] for r in rows if r["finding"] == "service device"}
    assert service and shown == service
    assert all(r["finding"] == "service device" for r in rows)  # no firewall data: no BYOD hit
    assert all("tiktok" in " ".join(r["apps"]).lower() or "telegram" in " ".join(r["apps"]).lower()
               for r in rows)  # fmt: skip
