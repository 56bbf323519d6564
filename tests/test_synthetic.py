"""The synthetic municipality and the bulk firewall writer: deterministic, honest
ground truth (every listed identity really is in the logs), one employee per alias
group, the exfiltration burst present, and exact line counts."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.synthetic import iptables_bulk
from pipelines.synthetic.dlp import NORWAY_ID
from pipelines.synthetic.iptables_bulk import write_iptables_lines
from pipelines.synthetic.logkit import IDENTITY_KINDS, MONTHS
from pipelines.synthetic.municipality import DemoInputs, generate_municipality

LOGS = {"firewall": "firewall.log", "auth": "auth.log", "dlp": "dlp.jsonl"}
SMALL = {"employees": 25, "days": 2, "seed": 11}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoInputs:
    return generate_municipality(tmp_path_factory.mktemp("fjordvik"), **SMALL)


@pytest.fixture(scope="module")
def truth(demo: DemoInputs) -> dict[str, Any]:
    return json.loads(demo.identities.read_text(encoding="utf-8"))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _lines(path: Path) -> list[str]:
    text = _text(path)
    assert text.endswith("\n")
    return text[:-1].split("\n")


def _dlp_records(demo: DemoInputs) -> list[dict[str, Any]]:
    out = []
    for line in _lines(demo.dlp):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def test_same_seed_same_files_other_seed_other_files(demo: DemoInputs, tmp_path: Path) -> None:
    again = generate_municipality(tmp_path / "again", **SMALL)
    for f in fields(DemoInputs):
        assert getattr(again, f.name).read_bytes() == getattr(demo, f.name).read_bytes(), f.name
    other = generate_municipality(tmp_path / "other", **{**SMALL, "seed": 12})
    assert other.firewall.read_bytes() != demo.firewall.read_bytes()


def test_counts_and_malformed(demo: DemoInputs, truth: dict[str, Any]) -> None:
    for name, file in LOGS.items():
        lines = _lines(getattr(demo, name))
        assert len(lines) == truth["counts"][name]
        assert truth["malformed"][file] >= 3
    assert truth["counts"]["firewall"] > SMALL["employees"] * 30 * SMALL["days"]
    bad_json = len(_lines(demo.dlp)) - len(_dlp_records(demo))
    assert bad_json == truth["malformed"]["dlp.jsonl"]  # two cut objects and garbage
    assert "DPT=99999 " in _text(demo.firewall)
    assert re.search(r" port 99999 ssh2", _text(demo.auth))


def test_every_listed_identity_occurs_in_the_logs(demo: DemoInputs, truth: dict[str, Any]) -> None:
    text = "\n".join(_text(getattr(demo, name)) for name in LOGS)
    for kind in IDENTITY_KINDS:
        assert truth[kind], f"no {kind} written"
        for value in truth[kind]:
            assert len(value) >= 6, (kind, value)
            assert value in text, (kind, value)
    assert "203.0.113.77" in text and "198.51.100.23" in text
    assert {"fv-fw01", "fv-fw02", "srv-jump01"} <= set(truth["host_names"])
    assert truth["scenario"]["private_address"] in truth["emails"]


def test_identities_are_complete_for_ips_and_user_fields(
    demo: DemoInputs, truth: dict[str, Any]
) -> None:
    fw, auth = _text(demo.firewall), _text(demo.auth)
    written_ips = set(re.findall(r"(?:SRC|DST)=((?:10\.|fd)[0-9a-f.:]+) ", fw))
    written_ips |= set(re.findall(r" from (10\.[\d.]+) port ", auth))
    assert written_ips <= set(truth["internal_ips"])
    for user in re.findall(r" USER=(\S+)$", fw, re.M):
        if "\\" in user:
            assert user.split("\\")[1] in truth["sam_accounts"]
        else:
            assert user in truth["emails"]
    for sam in re.findall(r"Accepted \w+ for (\S+) from ", auth):
        assert sam in truth["sam_accounts"]
    home = set(re.findall(r"Accepted \w+ for \S+ from ((?:84|88)\.[\d.]+) port ", auth))
    assert home and home <= set(truth["home_ips"])


def test_alias_directory_maps_each_identifier_to_one_employee(
    demo: DemoInputs, truth: dict[str, Any]
) -> None:
    with demo.aliases.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"employee_id", "identifier"}
    owners: dict[str, set[str]] = defaultdict(set)
    per_employee: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        owners[row["identifier"].lower()].add(row["employee_id"])
        per_employee[row["employee_id"]].append(row["identifier"])
    assert all(len(ids) == 1 for ids in owners.values())
    assert len(per_employee) == SMALL["employees"]
    for idents in per_employee.values():
        assert len(idents) >= 5
        assert any(i.startswith("FJORDVIK\\") for i in idents)
        assert any(" " in i for i in idents)  # display name
    # Every USER= form in the firewall log resolves to exactly one employee.
    for user in set(re.findall(r" USER=(\S+)$", _text(demo.firewall), re.M)):
        assert len(owners[user.lower()]) == 1, user
    for name in truth["display_names"] + truth["sam_accounts"] + truth["aliases"]:
        assert len(owners[name.lower()]) == 1, name


def test_exfiltration_burst(demo: DemoInputs, truth: dict[str, Any]) -> None:
    sc = truth["scenario"]
    private = [
        r
        for r in _dlp_records(demo)
        if any(a.endswith("@gmail.com") for a in r.get("ExchangeMetaData", {}).get("To", []))
    ]
    senders = {r["UserId"] for r in private}
    assert senders == {sc["exfiltrator"]}
    times = sorted(datetime.fromisoformat(r["CreationTime"]) for r in private)
    assert len(times) >= 10 and times[-1] - times[0] < timedelta(hours=1)
    for r in private:
        info = r["PolicyDetails"][0]["Rules"][0]["ConditionsMatched"]["SensitiveInformation"]
        assert info[0]["SensitiveType"] == NORWAY_ID[0]
    segment = sc["exfiltrator"].replace(".", "_").replace("@", "_")
    uploads = [
        r
        for r in _dlp_records(demo)
        if r["Workload"] == "OneDrive"
        and segment in r["SharePointMetaData"]["SiteCollectionUrl"]
        and times[0] - timedelta(minutes=5) <= datetime.fromisoformat(r["CreationTime"])
        and datetime.fromisoformat(r["CreationTime"]) <= times[-1] + timedelta(minutes=5)
    ]
    assert len(uploads) >= 3


def _bsd_seconds(line: str) -> tuple[int, int, str] | None:
    m = re.match(r"(\w{3}) +(\d+) (\d\d:\d\d:\d\d) ", line)
    return (MONTHS.index(m[1]), int(m[2]), m[3]) if m else None


def test_firewall_is_time_ordered_and_varied(demo: DemoInputs, truth: dict[str, Any]) -> None:
    lines = _lines(demo.firewall)
    stamps = [s for s in map(_bsd_seconds, lines) if s]
    descents = sum(1 for a, b in zip(stamps, stamps[1:], strict=False) if b < a)
    assert descents <= truth["malformed"]["firewall.log"]  # only the inserted broken lines
    text = "\n".join(lines)
    for needle in ("PROTO=UDP", "PROTO=ICMP", "SRC=fd", "[UFW BLOCK] IN=eth0", "DST=10.10.0."):
        assert needle in text, needle
    assert re.search(r"DST=(149\.154\.1(6[0-9]|7[0-5])|91\.108)\.", text)  # Telegram
    assert re.search(r"DST=(71\.18|161\.117)\.", text)  # TikTok
    assert re.search(r" (0[0-5]):\d\d:\d\d fv-fw0\d kernel: .* USER=", text)  # night traffic


def test_auth_log_mixes_headers_and_holds_the_attack(demo: DemoInputs) -> None:
    text = _text(demo.auth)
    assert re.search(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d srv-", text, re.M)
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+01:00 srv-", text, re.M)
    assert (
        len(re.findall(r"Failed password for (?:invalid user )?\S+ from 203\.0\.113\.77", text))
        > 50
    )
    assert re.search(r"sudo: \w+ : TTY=pts/\d ; PWD=\S+ ; USER=root ; COMMAND=/", text)


def test_bulk_writer_exact_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iptables_bulk, "CHUNK", 100)  # exercise several chunks
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write_iptables_lines(a, 1234, seed=3, users=20)
    write_iptables_lines(b, 1234, seed=3, users=20)
    assert a.read_bytes() == b.read_bytes()
    lines = _lines(a)
    assert len(lines) == 1234
    users = {line.rsplit("USER=", 1)[1] for line in lines}
    assert 1 < len(users) <= 20
    assert all(re.search(r" kernel: \[UFW (ALLOW|BLOCK)\] IN=eth1 .* SRC=10\.", x) for x in lines)
    stamps = [_bsd_seconds(x) for x in lines]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    write_iptables_lines(b, 0)
    assert b.read_bytes() == b""
