"""Windows Security events (Winlogbeat and flat WEF/NXLog JSON): each event id in both
shapes, rejects with fixed reasons, agreement with Elastic's fixture, robustness,
an ingest end to end, and throughput."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import parser_checks as checks
from tests.elastic_fixtures import FIXTURES, Agreement, get
from tests.parser_checks import reasons, rows
from transforms.parse.base import ParseContext, ParseResult
from transforms.parse.registry import FORMATS
from transforms.parse.windows_security import (
    MAX_LINE_CHARS,
    R_BAD_TIME,
    R_EMPTY,
    R_JSON,
    R_NO_ID,
    R_NO_TIME,
    R_NOT_OBJECT,
    R_NULL,
    R_TO_OBJECT_ACCESS,
    R_TO_SECURITY,
    R_TOO_LONG,
    R_UNSUPPORTED,
    REASONS,
    WINDOWS_OBJECT_ACCESS,
    WINDOWS_SECURITY,
    parse_windows_security,
)

FIXTURE = FIXTURES / "windows/test-security-windows2012r2-logon.json"
needs_fixture = pytest.mark.skipif(not FIXTURE.exists(), reason="shared fixtures not present")
WHEN = "2026-11-16T07:01:02.345Z"


def beat(event_id: int, data: dict[str, Any], **extra: Any) -> str:
    """A Winlogbeat-shaped event."""
    doc = {
        "@timestamp": WHEN,
        "event": {"code": str(event_id), "kind": "event"},
        "winlog": {"event_id": event_id, "computer_name": "ws-07.fjordvik.example",
                   "provider_name": "Microsoft-Windows-Security-Auditing",
                   "channel": "Security", "event_data": data},
        **extra,
    }  # fmt: skip
    return json.dumps(doc)


def flat(event_id: int | str, data: dict[str, Any], nested: bool = False, **head: Any) -> str:
    """A WEF / NXLog-shaped event: fields at the top level or under EventData."""
    doc: dict[str, Any] = {"EventID": event_id, "EventTime": "2026-11-16 08:01:02",
                           "Hostname": "dc01.fjordvik.example",
                           "SourceName": "Microsoft-Windows-Security-Auditing", **head}  # fmt: skip
    if nested:
        doc["EventData"] = data
    else:
        doc.update(data)
    return json.dumps(doc)


def parse(lines: list[str | None], tz: str = "UTC", access: bool = False) -> ParseResult:
    fmt = WINDOWS_OBJECT_ACCESS if access else WINDOWS_SECURITY
    return checks.parse_accounted(fmt, lines, ParseContext(timezone=tz), REASONS)


LOGON = {"TargetUserName": "kari", "TargetDomainName": "FJORDVIK", "TargetLogonId": "0x5A3E1",
         "LogonType": "10", "LogonProcessName": "User32 ", "IpAddress": "198.51.100.23",
         "IpPort": "50122", "AuthenticationPackageName": "Negotiate",
         "ProcessName": "C:\\Windows\\System32\\winlogon.exe"}  # fmt: skip
FAILED = {"TargetUserName": "ola", "TargetDomainName": "FJORDVIK", "Status": "0xC000006D",
          "SubStatus": "0xC000006A", "FailureReason": "%%2313", "LogonType": "3",
          "IpAddress": "203.0.113.7", "IpPort": "0",
          "AuthenticationPackageName": "NTLM"}  # fmt: skip
LOGOFF = {"TargetUserName": "kari", "TargetDomainName": "FJORDVIK", "TargetLogonId": "0x5a3e1",
          "LogonType": "10"}  # fmt: skip
EXPLICIT = {"SubjectUserName": "kari", "SubjectDomainName": "FJORDVIK",
            "SubjectLogonId": "0x5a3e1", "TargetUserName": "ola.adm",
            "TargetDomainName": "FJORDVIK", "TargetServerName": "srv-file01",
            "IpAddress": "::ffff:10.1.2.3", "IpPort": "445",
            "ProcessName": "C:\\Windows\\System32\\lsass.exe"}  # fmt: skip
PRIVILEGES = {"SubjectUserName": "ola.adm", "SubjectDomainName": "FJORDVIK",
              "SubjectLogonId": "0x77", "PrivilegeList": "SeBackupPrivilege\n\t\t\t"
              "SeDebugPrivilege\n\t\t\tSeSecurityPrivilege"}  # fmt: skip
LOCKOUT = {"TargetUserName": "per", "TargetDomainName": "WS-0999",
           "SubjectUserName": "DC01$", "SubjectDomainName": "FJORDVIK"}  # fmt: skip

CASES = [
    (4624, LOGON, {"action": "logon", "outcome": "success", "actor_user": "FJORDVIK\\kari",
                   "process": "User32", "auth_method": "negotiate", "logon_type": "10",
                   "src_ip": "198.51.100.23", "src_port": 50122, "session_id": "0x5a3e1",
                   "target_user": None, "reason": None, "privileges": None}),
    (4625, FAILED, {"action": "logon_failed", "outcome": "failure", "actor_user": "FJORDVIK\\ola",
                    "reason": "0xc000006a", "auth_method": "ntlm", "logon_type": "3",
                    "src_ip": "203.0.113.7", "src_port": 0, "session_id": None}),
    (4634, LOGOFF, {"action": "logoff", "outcome": "success", "actor_user": "FJORDVIK\\kari",
                    "session_id": "0x5a3e1", "src_ip": None, "logon_type": "10"}),
    (4648, EXPLICIT, {"action": "explicit_credentials", "outcome": "success",
                      "actor_user": "FJORDVIK\\kari", "target_user": "FJORDVIK\\ola.adm",
                      "target_host": "srv-file01", "src_ip": "10.1.2.3", "src_port": 445,
                      "process": "lsass.exe", "session_id": "0x5a3e1"}),
    (4672, PRIVILEGES, {"action": "special_privileges", "outcome": "success",
                        "actor_user": "FJORDVIK\\ola.adm", "session_id": "0x77",
                        "privileges": ["SeBackupPrivilege", "SeDebugPrivilege",
                                       "SeSecurityPrivilege"]}),
    (4740, LOCKOUT, {"action": "account_locked_out", "outcome": "success", "actor_user": "per",
                     "target_host": "WS-0999", "target_user": None, "session_id": None}),
]  # fmt: skip


@pytest.mark.parametrize(("event_id", "data", "expected"), CASES)
def test_each_event_id_in_both_shapes(event_id: int, data: dict, expected: dict) -> None:
    lines = [beat(event_id, data), flat(event_id, data), flat(str(event_id), data, nested=True)]
    result = parse(lines, tz="Europe/Oslo")
    got = rows(result)
    assert len(got) == 3, reasons(result)
    for row in got.values():
        assert row["event_id"] == str(event_id)
        assert row["time"].isoformat().startswith("2026-11-16T07:01:02")
        for name, value in expected.items():
            assert row[name] == value, (event_id, name)
    assert got[0]["observer"] == "ws-07.fjordvik.example"
    assert got[1]["observer"] == got[2]["observer"] == "dc01.fjordvik.example"


def test_object_access_in_both_shapes() -> None:
    data = {"SubjectUserName": "ola.adm", "SubjectDomainName": "FJORDVIK",
            "SubjectLogonId": "0x77", "ObjectType": "File",
            "ObjectName": "E:\\Exchange\\Quarantine\\msg-0042.eml",
            "AccessList": "%%4416\n\t\t\t\t%%1537\n\t\t\t\t",
            "ProcessName": "C:\\Windows\\System32\\notepad.exe"}  # fmt: skip
    rendered = {**data, "AccessList": "ReadData (or ListDirectory)\n\t\t\t\tDELETE\n\t\t\t\t",
                "ObjectName": "D:\\Felles\\Budsjett\\2027.xlsx"}  # fmt: skip
    result = parse([beat(4663, data), flat(4663, rendered, nested=True)], access=True)
    first, second = rows(result)[0], rows(result)[1]
    for row in (first, second):
        assert row["action"] == "access" and row["outcome"] == "success"
        assert row["actor_user"] == "FJORDVIK\\ola.adm" and row["object_type"] == "File"
        assert row["access"] == ["ReadData", "DELETE"] and row["process"] == "notepad.exe"
        assert row["privileged"] is None and row["session_id"] == "0x77"
        assert row["record_id"] is None
    assert first["object_name"] == data["ObjectName"] and first["store_class"] == "quarantine"
    assert second["store_class"] is None


def test_each_format_sends_the_other_ids_to_the_other_format() -> None:
    lines = [beat(4663, {"SubjectUserName": "kari"}), beat(4624, LOGON)]
    assert reasons(parse(lines)) == {0: R_TO_OBJECT_ACCESS}
    assert reasons(parse(lines, access=True)) == {1: R_TO_SECURITY}
    assert "windows-object-access" in R_TO_OBJECT_ACCESS and "windows-security" in R_TO_SECURITY


def test_time_sources_and_zones() -> None:
    lines = [
        flat(4624, LOGON),  # EventTime without offset: the batch's zone
        flat(4624, LOGON, EventTime="2026-11-16T08:01:02.5+01:00"),
        json.dumps(
            {
                "EventID": 4624,
                "TimeCreated": {"SystemTime": "2026-11-16T07:01:02.1234567Z"},
                "Computer": "dc01",
                **LOGON,
            }
        ),  # fmt: skip
        beat(4624, LOGON, winlog={"event_id": 4624, "time_created": "2026-11-16T07:00:00Z"}),
        flat(4624, LOGON, EventTime="/Date(1794812462000)/"),
    ]
    got = rows(parse(lines, tz="Europe/Oslo"))
    stamps = [got[i]["time"].isoformat() for i in range(5)]
    assert stamps == [
        "2026-11-16T07:01:02+00:00", "2026-11-16T07:01:02.500000+00:00",
        "2026-11-16T07:01:02.123456+00:00", "2026-11-16T07:00:00+00:00",
        "2026-11-16T07:01:02+00:00",
    ]  # fmt: skip


def test_addresses_ports_and_users() -> None:
    lines = [
        flat(4625, {**FAILED, "IpAddress": "-", "IpPort": "-"}),
        flat(4625, {**FAILED, "IpAddress": "not-an-ip", "IpPort": "99999"}),
        flat(4625, {**FAILED, "TargetDomainName": "-", "TargetUserName": "kari@fjordvik.no"}),
        flat(4625, {**FAILED, "TargetUserName": "FJORDVIK\\per", "SubStatus": "0x0"}),
        flat(4624, {**LOGON, "TargetUserName": "-", "LogonProcessName": "-"}),
    ]
    got = rows(parse(lines))
    assert got[0]["src_ip"] is None and got[0]["src_port"] is None
    assert got[1]["src_ip"] is None and got[1]["src_port"] is None
    assert got[2]["actor_user"] == "kari@fjordvik.no"
    assert got[3]["actor_user"] == "FJORDVIK\\per" and got[3]["reason"] == "0xc000006d"
    assert got[4]["actor_user"] is None and got[4]["process"] == "winlogon.exe"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (None, R_NULL),
        ("   ", R_EMPTY),
        ('{"EventID": 4624, "TargetUserName": "kari"', R_JSON),
        ("kari logged on", R_JSON),
        ('["EventID", 4624]', R_NOT_OBJECT),
        ('{"TargetUserName": "kari", "EventTime": "2026-11-16 08:00:00"}', R_NO_ID),
        (flat(4688, {"NewProcessName": "C:\\Users\\kari\\x.exe"}), R_UNSUPPORTED),
        (flat(4624, LOGON, EventTime=None), R_NO_TIME),
        (flat(4624, LOGON, EventTime="16/11/2026 kari"), R_BAD_TIME),
        (flat(4624, LOGON, EventTime="2026-02-30 08:00:00"), R_BAD_TIME),
        ('{"EventID": 4624, "x": "' + "k" * MAX_LINE_CHARS + '"}', R_TOO_LONG),
    ],
)
def test_rejects_with_fixed_reasons(line: str | None, reason: str) -> None:
    result = parse([line])
    assert reasons(result) == {0: reason}
    assert "kari" not in reason


def test_detect_is_specific() -> None:
    lines = pa.array([
        beat(4624, LOGON), flat(4672, PRIVILEGES), beat(4663, {}), flat(4688, {}),
        '{"Operation": "DLPRuleMatch", "CreationTime": "2026-11-16T08:00:00"}',
        "Nov 16 08:01:02 jump1 sshd[4242]: Failed password for kari from 203.0.113.7 port 1 ssh2",
        "time,user,record_id", "", "{not json",
    ])  # fmt: skip
    assert WINDOWS_SECURITY.detect(lines).to_pylist() == [True, True] + [False] * 7
    assert WINDOWS_OBJECT_ACCESS.detect(lines).to_pylist() == [False, False, True] + [False] * 6
    assert FORMATS["windows-security"] is WINDOWS_SECURITY
    assert FORMATS["windows-object-access"] is WINDOWS_OBJECT_ACCESS


# Elastic's names -> ours, stated explicitly.
ACTIONS = {"logged-in": "logon", "logon-failed": "logon_failed", "logged-out": "logoff",
           "logged-in-explicit": "explicit_credentials",
           "logged-in-special": "special_privileges"}  # fmt: skip
LOGON_TYPES = {"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
               "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
               "11": "CachedInteractive"}  # fmt: skip


@needs_fixture
def test_elastic_fixture_agreement() -> None:
    events = json.loads(FIXTURE.read_text(encoding="utf-8"))["events"]
    expected = json.loads(Path(f"{FIXTURE}-expected.json").read_text(encoding="utf-8"))["expected"]
    assert len(events) == len(expected) == 18
    result = parse([json.dumps(e) for e in events])
    unparsed = [f"event {r + 1}: {why}" for r, why in sorted(reasons(result).items())]
    got = rows(result)
    agree = Agreement()
    for i, doc in enumerate(expected):
        if i not in got:
            continue
        ours = got[i]
        domain, _, name = (ours["actor_user"] or "").rpartition("\\")
        stamp = ours["time"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        agree.check(i, "src_ip", ours["src_ip"], get(doc, "source.ip"))
        agree.check(i, "src_port", ours["src_port"], get(doc, "source.port"))
        agree.check(i, "outcome", ours["outcome"], get(doc, "event.outcome"))
        agree.check(i, "user.name", name or None, get(doc, "user.name"))
        agree.check(i, "user.domain", domain or None, get(doc, "user.domain"))
        agree.check(i, "action", ours["action"], ACTIONS.get(get(doc, "event.action")))
        agree.check(i, "time", stamp, get(doc, "@timestamp"))
        agree.check(i, "logon_type", LOGON_TYPES.get(ours["logon_type"]),
                    get(doc, "winlog.logon.type"))  # fmt: skip
        agree.check(i, "event_id", ours["event_id"], get(doc, "winlog.event_id"))
    print(f"windows fixture: {agree.compared} compared, {agree.agreed} agreed "
          f"({agree.summary()}); unparsed: {unparsed or 'none'}")  # fmt: skip
    assert unparsed == []
    assert agree.compared >= 18 * 7
    assert agree.ratio >= 0.99, agree.disagreements


SAMPLES = [beat(4624, LOGON), flat(4625, FAILED), beat(4672, PRIVILEGES),
           flat(4663, {"SubjectUserName": "kari", "ObjectName": "D:\\a"}, nested=True)]  # fmt: skip


@checks.PROPERTY
@given(checks.mutated(SAMPLES, st.characters(codec="utf-8"), truncate=True, keep_seeds=True))
def test_truncated_and_mutated_lines_never_raise(lines: list[str]) -> None:
    for access in (False, True):  # no lone surrogates: the lines are UTF-8
        parse(lines, access=access)


def test_a_one_megabyte_line_and_deep_nesting() -> None:
    big = flat(4624, {**LOGON, "Padding": "x" * 1_000_000})
    deep = '{"EventID": 4624, "a": ' + "[" * 50_000 + "]" * 50_000 + "}"
    for access in (False, True):
        parse([big, deep, beat(4624, LOGON), "{" * 100_000], access=access)
    assert rows(parse([big]))[0]["actor_user"] == "FJORDVIK\\kari"


PEOPLE = ["kari", "ola", "ola.adm", "per", "vagrant", "bosch", "FJORDVIK\\kari"]


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [beat(e, d) for e, d, _ in CASES] + [flat(e, d) for e, d, _ in CASES]
    if FIXTURE.exists():
        lines += [json.dumps(e) for e in json.loads(FIXTURE.read_text())["events"]]
    lines += ["{broken", flat(4663, {"SubjectUserName": "kari"})]
    opened = {"SubjectUserName": "kari", "SubjectDomainName": "FJORDVIK", "ObjectType": "File",
              "ObjectName": "C:\\Users\\kari\\Documents\\lønn.xlsx",
              "AccessList": "%%4417"}  # fmt: skip
    access = [flat(4663, opened), beat(4624, LOGON)]
    store, summary = checks.ingest_lines(tmp_path, "windows-security", lines)
    assert summary.rejected == 2
    _, summary = checks.ingest_lines(tmp_path, "windows-object-access", access, store=store)
    assert summary.rejected == 1
    strings = checks.string_values(checks.lake_files(store))
    assert any(s.startswith("usr-") for s in strings) and any(s.startswith("pth-") for s in strings)
    folded = {s.casefold() for s in strings}
    text = "\n".join(folded)
    for person in PEOPLE:
        assert person.casefold() not in (text if len(person) >= 6 else folded), person
    assert "lønn" not in text and "198.51.100.23" not in folded


@needs_fixture
def test_a_large_input_parses_whole() -> None:
    # A Winlogbeat line of typical size (~1.5 KB): the fixture's first logon with an address,
    # user, address and time varied per line.
    event = json.loads(FIXTURE.read_text(encoding="utf-8"))["events"][2]
    event["winlog"]["event_data"].update(TargetUserName="@U@", IpAddress="@IP@")
    event["winlog"]["time_created"] = WHEN
    base = json.dumps(event).replace(WHEN, "@T@")
    n = 200_000
    lines = pa.array([
        base.replace("@U@", f"u{i % 997}").replace("@IP@", f"10.{i % 4}.{i % 251}.{i % 239}")
        .replace("@T@", f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}Z")
        for i in range(n)
    ])  # fmt: skip
    result, _rate = checks.lines_per_second(parse_windows_security, lines, ParseContext(), runs=2)
    assert result.table.num_rows == n
