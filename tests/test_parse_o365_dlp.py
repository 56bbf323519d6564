"""Microsoft 365 DLP parser: agreement with Elastic's o365 pipeline fixture, the privacy
mapping of people vs service principals, and rejects that never quote the line."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.datasets import DATA_SECURITY_FINDING
from tests import parser_checks as checks
from tests.parser_checks import reasons, rows
from transforms.parse.base import ROW, ParseContext, ParseResult
from transforms.parse.o365_dlp import (
    MAX_LINE_CHARS,
    O365_DLP,
    R_BAD_TIME,
    R_JSON,
    R_NO_TIME,
    R_NOT_OBJECT,
    R_OPERATION,
    REASONS,
    parse_o365_dlp,
)

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "shared/fixtures/elastic/o365"
EVENTS = FIXTURE_DIR / "test-dlp-sharepoint-events.json"
EXPECTED = FIXTURE_DIR / "test-dlp-sharepoint-events.json-expected.json"
ECS_SEVERITY = {1: "Informational", 2: "Low", 3: "Medium", 4: "High"}

needs_fixture = pytest.mark.skipif(not EVENTS.exists(), reason="shared fixtures not present")


def parse(lines: list[str | None]) -> ParseResult:
    """Every input line lands in exactly one of table / rejects, with a fixed reason."""
    return checks.parse_accounted(O365_DLP, lines, ParseContext(), REASONS)


def strings_in(value: Any) -> list[str]:
    """Every string (keys and values) inside a decoded JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


# --- realistic synthetic records (addresses under reserved .example domains) -----------

EXCHANGE_EXTERNAL = {
    "CreationTime": "2024-03-11T08:42:17",
    "Id": "5b1f6d0e-2a57-4c1e-9d0b-7f3a2c9e1b44",
    "Operation": "DlpRuleMatch",
    "OrganizationId": "7c0e8a9d-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    "RecordType": 13,
    "UserKey": "1003200045A1B2C3",
    "UserType": 4,
    "Version": 1,
    "Workload": "Exchange",
    "ClientIP": "203.0.113.45:52311",
    "ObjectId": "<DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com>",
    "UserId": "DlpAgent",
    "IncidentId": "a7e3c1d2-55f0-4b7e-2200-08dc41a9b3c7",
    "SensitiveInfoDetectionIsIncluded": False,
    "ExchangeMetaData": {
        "BCC": [],
        "CC": ["lonn@fjordkommune.example", "revisor@revisjon-partner.example"],
        "From": "kari.nordmann@fjordkommune.example",
        "MessageID": "<DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com>",
        "RecipientCount": 3,
        "Sent": "2024-03-11T08:42:15",
        "Subject": "Lønnsliste mars – fødselsnummer",
        "To": ["ola.hansen@privatpost.example"],
        "UniqueID": "c2d4e6f8-1a3b-4c5d-6e7f-8091a2b3c4d5",
    },
    "PolicyDetails": [
        {
            "PolicyId": "4f6a8c0e-2b4d-4f60-8a2c-4e6f8a0c2e4f",
            "PolicyName": "Norske personopplysninger",
            "Rules": [
                {
                    "RuleId": "11111111-2222-4333-8444-555555555555",
                    "RuleName": "Fødselsnummer til ekstern mottaker",
                    "RuleMode": "Enable",
                    "Severity": "High",
                    "Actions": ["BlockAccess", "NotifyUser", "GenerateIncidentReport"],
                    "ActionParameters": ["GenerateIncidentReport:sikkerhet@fjordkommune.example"],
                    "ConditionsMatched": {
                        "OtherConditions": [{"Name": "AccessScope", "Value": "NotInOrganization"}],
                        "SensitiveInformation": [
                            {
                                "Confidence": 85,
                                "Count": 14,
                                "Location": "Attachment",
                                "SensitiveType": "0a2d6ce8-7e9b-47e8-8b3c-2b7b2c1b8a77",
                                "UniqueCount": 14,
                            }
                        ],
                    },
                },
                {
                    "RuleId": "66666666-7777-4888-9999-aaaaaaaaaaaa",
                    "RuleName": "Personopplysninger i e-post",
                    "RuleMode": "Enable",
                    "Severity": "Medium",
                    "Actions": ["NotifyUser"],
                    "ConditionsMatched": {
                        "SensitiveInformation": [
                            {
                                "Confidence": 75,
                                "Count": 14,
                                "SensitiveType": "0a2d6ce8-7e9b-47e8-8b3c-2b7b2c1b8a77",
                            },
                            {
                                "Confidence": 75,
                                "Count": 3,
                                "SensitiveType": "a44669fe-0d48-453d-a9b1-2cc83f2cba77",
                            },
                        ]
                    },
                },
            ],
        }
    ],
}

ONEDRIVE_FROM = {
    "CreationTime": "2024-05-02T13:05:59",
    "Id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "IncidentId": "9d8c7b6a-5f4e-3d2c-1b0a-08dc6a7b8c9d",
    "ObjectId": "d3c2b1a0-9f8e-4d7c-6b5a-493827160504",
    "Operation": "DLPRuleMatch",
    "OrganizationId": "7c0e8a9d-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    "RecordType": 11,
    "SensitiveInfoDetectionIsIncluded": False,
    "UserId": "DlpPolicyEventBasedAssistantOneDriveForBusiness",
    "UserKey": "DlpPolicyEventBasedAssistantOneDriveForBusiness",
    "UserType": 4,
    "Version": 1,
    "Workload": "OneDrive",
    "SharePointMetaData": {
        "FileName": "pasientliste.xlsx",
        "FileOwner": "Per Hansen",
        "FilePathUrl": "https://fjordkommune-my.sharepoint.example/personal/per_hansen_fjordkommune_example/Documents/pasientliste.xlsx",
        "From": "per.hansen@fjordkommune.example",
        "IsViewableByExternalUsers": True,
        "SiteCollectionUrl": "https://fjordkommune-my.sharepoint.example/personal/per_hansen_fjordkommune_example",
        "UniqueID": "d3c2b1a0-9f8e-4d7c-6b5a-493827160504",
    },
    "PolicyDetails": [
        {
            "PolicyName": "Helseopplysninger",
            "Rules": [
                {
                    "RuleName": "Deling av helseopplysninger",
                    "Severity": "Medium",
                    "Actions": ["NotifyUser", "GenerateAlert"],
                    "ConditionsMatched": {
                        "SensitiveInformation": [
                            {"Confidence": 85, "Count": 7, "SensitiveType": "b1c2d3e4-0000-4000"}
                        ]
                    },
                }
            ],
        }
    ],
}

ENDPOINT_PERSON = {
    "CreationTime": "2024-06-20T22:10:03.4471234Z",
    "Id": "1a2b3c4d-5e6f-4789-8abc-def012345678",
    "Operation": "DLPRuleMatch",
    "OrganizationId": "7c0e8a9d-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    "RecordType": 63,
    "UserKey": "a9b8c7d6-e5f4-4321-9876-543210fedcba",
    "UserType": 0,
    "Version": 1,
    "Workload": "Endpoint",
    "ClientIP": "10.20.30.40",
    "UserId": "Anne.Berg@fjordkommune.example",
    "ObjectId": "C:\\Users\\anne.berg\\Documents\\budsjett 2025.xlsx",
    "DeviceName": "LAPTOP-ANNEB01",
    "Platform": 1,
    "EndpointMetaData": {"EnforcementMode": 3, "DeviceName": "LAPTOP-ANNEB01"},
    "PolicyDetails": [
        {
            "PolicyName": "Endepunkt: kopi til USB",
            "Rules": [
                {
                    "RuleName": "Blokker USB",
                    "Severity": "Low",
                    "Actions": ["BlockAccess"],
                    "ConditionsMatched": {
                        "SensitiveInformation": [
                            {"Count": 2, "SensitiveType": "50842eb7-edc8-4019-85dd-5a5c1f2bb085"}
                        ]
                    },
                }
            ],
        }
    ],
}


def line(record: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**record, **changes}, ensure_ascii=False)


# --- agreement with Elastic's expected parse --------------------------------------------


@needs_fixture
def test_fixture_field_agreement() -> None:
    events = json.loads(EVENTS.read_text())["events"]
    expected = json.loads(EXPECTED.read_text())["expected"]
    assert len(events) == len(expected) == 7
    # Elastic wraps each audit record as a string in event.original: unwrap it.
    lines = [e["event"]["original"] for e in events]
    result = parse(lines)
    assert result.rejects.num_rows == 0
    parsed = rows(result)

    compared = 0
    mismatches: list[tuple[int, str, Any, Any]] = []

    def check(i: int, name: str, ours: Any, theirs: Any) -> None:
        nonlocal compared
        compared += 1
        if ours != theirs:
            mismatches.append((i, name, ours, theirs))

    for i, exp in enumerate(expected):
        row = parsed[i]
        audit = exp["o365"]["audit"]
        ts = datetime.strptime(exp["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        check(i, "time", row["time"], ts)
        # Elastic's user.id is the reporting service principal: our `reporter`.
        check(i, "reporter", row["reporter"], exp["user"]["id"])
        # Our actor is the person: SharePointMetaData.From, and the owner where it names one.
        check(
            i,
            "actor_user",
            row["actor_user"].casefold(),
            audit["SharePointMetaData"]["From"].casefold(),
        )
        owner = exp["file"]["owner"]
        if "@" in owner:
            check(i, "owner", row["actor_user"].casefold(), owner.casefold())
        else:
            check(i, "owner", row["actor_display"], owner)
        check(i, "operation", row["operation"], exp["event"]["action"])
        check(i, "outcome", row["outcome"], exp["event"]["outcome"])
        rule_names = exp["rule"]["name"]
        check(
            i,
            "rule_names",
            row["rule_names"],
            rule_names if isinstance(rule_names, list) else [rule_names],
        )
        # Rule ids have no column in data_security_finding; their names stand in for them.
        check(i, "file_name", row["file_name"], exp["file"]["name"])
        check(i, "file_url", row["file_url"], exp["url"]["original"])
        check(i, "object_id", row["object_id"], exp["file"]["inode"])
        check(i, "workload", row["workload"], exp["event"]["provider"])
        check(i, "severity", row["severity"], ECS_SEVERITY[exp["event"]["severity"]])
        check(i, "incident_id", row["incident_id"], audit["IncidentId"])
        check(i, "site_url", row["site_url"], audit["SharePointMetaData"]["SiteCollectionUrl"])
        policies = [p["PolicyName"] for p in audit["PolicyDetails"]]
        check(i, "policy_names", row["policy_names"], policies)
        types = {
            s["SensitiveType"]
            for p in audit["PolicyDetails"]
            for r in p["Rules"]
            for s in r["ConditionsMatched"]["SensitiveInformation"]
        }
        check(i, "sensitive_types", set(row["sensitive_types"]), types)
        check(i, "observer", row["observer"], None)

    assert compared >= 7 * 15
    agreement = 1 - len(mismatches) / compared
    print(f"o365 fixture: {compared} fields compared, {len(mismatches)} mismatches")
    assert agreement >= 0.99, mismatches


@needs_fixture
def test_fixture_privacy_split() -> None:
    """The service principal never lands in the actor, the person never in `reporter`."""
    events = json.loads(EVENTS.read_text())["events"]
    result = parse([e["event"]["original"] for e in events])
    for row in result.table.to_pylist():
        assert "@" in row["actor_user"]
        assert row["reporter"] in ("DlpPolicyEventBasedAssistantOneDriveForBusiness", "DLPAgent")
        # ActionParameters name an admin mailbox; nothing of it may appear anywhere.
        assert "GenerateAlert:" not in json.dumps(row, default=str)


# --- focused records ---------------------------------------------------------------------


def test_exchange_record_to_external_domain() -> None:
    result = parse([line(EXCHANGE_EXTERNAL)])
    row = rows(result)[0]
    assert row["time"] == datetime(2024, 3, 11, 8, 42, 17, tzinfo=UTC)
    assert row["workload"] == "Exchange"
    assert row["operation"] == "DLPRuleMatch"  # DlpRuleMatch canonicalised
    assert row["actor_user"] == "kari.nordmann@fjordkommune.example"
    assert row["actor_display"] is None
    assert row["reporter"] == "DlpAgent"
    assert row["recipients"] == [
        "ola.hansen@privatpost.example",
        "lonn@fjordkommune.example",
        "revisor@revisjon-partner.example",
    ]
    assert row["subject"] == "Lønnsliste mars – fødselsnummer"
    assert row["outcome"] == "failure"  # BlockAccess, not overridden
    assert row["severity"] == "High"
    assert row["policy_names"] == ["Norske personopplysninger"]
    assert row["rule_names"] == [
        "Fødselsnummer til ekstern mottaker",
        "Personopplysninger i e-post",
    ]
    assert row["rule_actions"] == ["BlockAccess", "NotifyUser", "GenerateIncidentReport"]
    assert row["sensitive_types"] == [
        "0a2d6ce8-7e9b-47e8-8b3c-2b7b2c1b8a77",
        "a44669fe-0d48-453d-a9b1-2cc83f2cba77",
    ]
    # Both rules saw the same 14 items: counted once, plus the 3 of the second type.
    assert row["sensitive_count"] == 17
    assert row["object_id"] == EXCHANGE_EXTERNAL["ObjectId"]
    assert row["incident_id"] == EXCHANGE_EXTERNAL["IncidentId"]
    assert row["src_ip"] == "203.0.113.45"
    assert row["file_name"] is None and row["file_url"] is None and row["site_url"] is None
    # The incident-report mailbox from ActionParameters is not a recipient or actor.
    assert "sikkerhet@fjordkommune.example" not in json.dumps(row, default=str)


def test_onedrive_actor_from_sharepoint_from() -> None:
    row = rows(parse([line(ONEDRIVE_FROM)]))[0]
    assert row["actor_user"] == "per.hansen@fjordkommune.example"
    assert row["actor_display"] == "Per Hansen"
    assert row["reporter"] == "DlpPolicyEventBasedAssistantOneDriveForBusiness"
    assert row["workload"] == "OneDrive"
    assert row["outcome"] == "success"
    assert row["severity"] == "Medium"
    assert row["rule_actions"] == ["NotifyUser", "GenerateAlert"]
    assert row["sensitive_count"] == 7
    assert row["file_name"] == "pasientliste.xlsx"
    assert row["file_url"].endswith(
        "/personal/per_hansen_fjordkommune_example/Documents/pasientliste.xlsx"
    )
    assert row["site_url"].endswith("/personal/per_hansen_fjordkommune_example")
    assert row["object_id"] == "d3c2b1a0-9f8e-4d7c-6b5a-493827160504"
    assert row["recipients"] is None and row["subject"] is None and row["src_ip"] is None


def test_onedrive_actor_from_owner_when_no_from() -> None:
    sp = {**ONEDRIVE_FROM["SharePointMetaData"], "FileOwner": "per.hansen@fjordkommune.example"}
    del sp["From"]
    row = rows(parse([line(ONEDRIVE_FROM, SharePointMetaData=sp)]))[0]
    assert row["actor_user"] == "per.hansen@fjordkommune.example"
    assert row["actor_display"] is None
    # A display-name owner is not an actor_user; the service principal never is.
    sp["FileOwner"] = "Per Hansen"
    row = rows(parse([line(ONEDRIVE_FROM, SharePointMetaData=sp)]))[0]
    assert row["actor_user"] is None
    assert row["actor_display"] == "Per Hansen"
    assert row["reporter"] == "DlpPolicyEventBasedAssistantOneDriveForBusiness"


def test_user_id_is_a_person() -> None:
    row = rows(parse([line(ENDPOINT_PERSON)]))[0]
    assert row["actor_user"] == "Anne.Berg@fjordkommune.example"
    assert row["reporter"] is None
    assert row["workload"] == "Endpoint"
    assert row["time"] == datetime(2024, 6, 20, 22, 10, 3, 447123, tzinfo=UTC)
    assert row["outcome"] == "failure"
    assert row["severity"] == "Low"
    assert row["src_ip"] == "10.20.30.40"
    # The local path names the user and object_id is kept in clear: not used as an id.
    assert row["object_id"] is None
    assert row["file_name"] == "budsjett 2025.xlsx"
    assert "anne.berg" not in (row["file_name"] + str(row["object_id"])).casefold()


@pytest.mark.parametrize(
    ("user_id", "user_type", "reporter", "actor"),
    [
        ("DLPAgent", 4, "DLPAgent", None),
        ("dlpagent", 0, "dlpagent", None),
        ("app@sharepoint", 5, "app@sharepoint", None),
        ("SHAREPOINT\\system", 4, "SHAREPOINT\\system", None),
        (
            "DlpPolicyEventBasedAssistantSharePoint",
            4,
            "DlpPolicyEventBasedAssistantSharePoint",
            None,
        ),
        ("SomeNewDlpService", 6, "SomeNewDlpService", None),
        ("SomeNewDlpService", "4", "SomeNewDlpService", None),
        ("anne.berg@fjordkommune.example", 4, None, "anne.berg@fjordkommune.example"),
        ("FJORD\\anneb", 0, None, "FJORD\\anneb"),
        # A bare name on a regular account: neither a known service nor clearly a person.
        ("anneb", 0, None, None),
    ],
)
def test_reporter_vs_person(
    user_id: str, user_type: int | str, reporter: str | None, actor: str | None
) -> None:
    rec = {k: v for k, v in ENDPOINT_PERSON.items() if k not in ("UserId", "UserType")}
    row = rows(parse([line(rec, UserId=user_id, UserType=user_type)]))[0]
    assert row["reporter"] == reporter
    assert row["actor_user"] == actor


def test_service_principal_in_from_is_not_the_actor() -> None:
    sp = {**ONEDRIVE_FROM["SharePointMetaData"], "From": "app@sharepoint"}
    sp["FileOwner"] = "per.hansen@fjordkommune.example"
    row = rows(parse([line(ONEDRIVE_FROM, SharePointMetaData=sp)]))[0]
    assert row["actor_user"] == "per.hansen@fjordkommune.example"


@pytest.mark.parametrize(
    ("operation", "exception", "outcome"),
    [
        ("DLPRuleMatch", None, "failure"),
        ("DLPRuleMatch", {"Justification": "Avtalt med mottaker"}, "success"),
        ("DLPRuleMatch", '{ "FalsePositive": true }', "success"),
        ("DLPRuleMatch", {}, "failure"),
        ("DLPRuleMatch", "", "failure"),
        ("DLPRuleUndo", None, "success"),
        ("DlpInfo", {"FalsePositive": True}, "failure"),
    ],
)
def test_outcome_rule(operation: str, exception: Any, outcome: str) -> None:
    changes: dict[str, Any] = {"Operation": operation}
    if exception is not None:
        changes["ExceptionInfo"] = exception
    row = rows(parse([line(EXCHANGE_EXTERNAL, **changes)]))[0]
    assert row["outcome"] == outcome


def test_outcome_without_block_is_success() -> None:
    rec = json.loads(line(EXCHANGE_EXTERNAL))
    rec["PolicyDetails"][0]["Rules"][0]["Actions"] = ["NotifyUser", "GenerateAlert"]
    row = rows(parse([json.dumps(rec)]))[0]
    assert row["outcome"] == "success"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-11T08:42:17", datetime(2024, 3, 11, 8, 42, 17, tzinfo=UTC)),
        ("2024-03-11T08:42:17Z", datetime(2024, 3, 11, 8, 42, 17, tzinfo=UTC)),
        ("2024-03-11T08:42:17.5", datetime(2024, 3, 11, 8, 42, 17, 500000, tzinfo=UTC)),
        ("2024-03-11T10:42:17+02:00", datetime(2024, 3, 11, 8, 42, 17, tzinfo=UTC)),
        ("2024-03-11T08:42:17.123456789", datetime(2024, 3, 11, 8, 42, 17, 123456, tzinfo=UTC)),
    ],
)
def test_time_formats(value: str, expected: datetime) -> None:
    row = rows(parse([line(ONEDRIVE_FROM, CreationTime=value)]))[0]
    assert row["time"] == expected


def test_context_timezone_does_not_shift_utc_creation_time() -> None:
    lines = pa.array([line(ONEDRIVE_FROM)], pa.string())
    result = parse_o365_dlp(lines, ParseContext(timezone="Europe/Oslo"))
    assert result.table.column("time")[0].as_py() == datetime(2024, 5, 2, 13, 5, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("198.51.100.9", "198.51.100.9"),
        ("<null>", None),
        ("", None),
        ("not-an-ip", None),
    ],
)
def test_client_ip(raw: str, expected: str | None) -> None:
    row = rows(parse([line(ENDPOINT_PERSON, ClientIP=raw)]))[0]
    assert row["src_ip"] == expected


# --- rejects --------------------------------------------------------------------------------


def test_invalid_json() -> None:
    result = parse(['{"CreationTime":"2024-03-11T08:42:17","Operation":"DLPRuleMatch",'])
    assert reasons(result) == {0: R_JSON}


def test_non_dlp_operation() -> None:
    file_accessed = line(
        ONEDRIVE_FROM, Operation="FileAccessed", UserId="per.hansen@fjordkommune.example"
    )
    result = parse([file_accessed, line(ONEDRIVE_FROM, Operation=None)])
    assert reasons(result) == {0: R_OPERATION, 1: R_OPERATION}


def test_missing_and_bad_time() -> None:
    no_time = {k: v for k, v in ONEDRIVE_FROM.items() if k != "CreationTime"}
    lines = [
        json.dumps(no_time),
        line(ONEDRIVE_FROM, CreationTime=""),
        line(ONEDRIVE_FROM, CreationTime=1709, Id="x"),
        line(ONEDRIVE_FROM, CreationTime="11.03.2024 08:42"),
        line(ONEDRIVE_FROM, CreationTime="2024-02-30T08:42:17"),
        line(ONEDRIVE_FROM, CreationTime="2024-03-11"),
    ]
    result = parse(lines)
    assert reasons(result) == {
        0: R_NO_TIME,
        1: R_NO_TIME,
        2: R_NO_TIME,
        3: R_BAD_TIME,
        4: R_BAD_TIME,
        5: R_BAD_TIME,
    }


def test_weird_lines_do_not_crash_the_batch() -> None:
    weird_types = {
        **ONEDRIVE_FROM,
        "PolicyDetails": [
            None,
            3,
            "x",
            {"PolicyName": 5, "Rules": {"RuleName": "a"}},
            {
                "Rules": [
                    None,
                    {
                        "Actions": "BlockAccess",
                        "Severity": 7,
                        "ConditionsMatched": {
                            "SensitiveInformation": [
                                {"SensitiveType": "t", "Count": True},
                                {"SensitiveType": "u", "Count": "12"},
                                {"SensitiveType": "v", "Count": 10**40},
                                {"SensitiveType": "w", "Count": -4},
                            ]
                        },
                    },
                ]
            },
        ],
        "SharePointMetaData": ["not", "an", "object"],
        "ExchangeMetaData": {"From": ["a@b.example"], "To": "solo@c.example", "CC": [1, None]},
        "UserId": {"nested": True},
        "ClientIP": 12345,
    }
    lines = [
        line(ONEDRIVE_FROM),
        json.dumps(weird_types),
        "[" * 200_000 + "]" * 200_000,  # deeper than the json module recurses
        "x" * (MAX_LINE_CHARS + 1),
        "\ufeff" + line(ONEDRIVE_FROM),
        "   ",
        None,
        '"just a string"',
        "null",
        "\x00\x01\x02",
        line(ONEDRIVE_FROM, CreationTime="9999-12-31T23:59:59-01:00"),
    ]
    result = parse(lines)
    got = rows(result)
    assert set(got) == {0, 1, 4}
    weird = got[1]
    assert weird["outcome"] == "failure"  # "Actions": "BlockAccess" as a bare string
    assert weird["severity"] is None
    assert weird["sensitive_types"] == ["t", "u", "v", "w"]
    assert weird["sensitive_count"] == 2**31 - 1  # clamped to int32
    assert weird["recipients"] == ["solo@c.example"]
    assert weird["actor_user"] is None and weird["reporter"] is None
    assert weird["src_ip"] is None
    assert set(reasons(result).values()) <= REASONS


def test_reject_reasons_never_quote_the_line() -> None:
    secrets = {
        "CreationTime": "2024-03-11T08:42:17",
        "UserId": "kari.nordmann@fjordkommune.example",
        "ExchangeMetaData": {
            "From": "kari.nordmann@fjordkommune.example",
            "To": ["ola.hansen@privatpost.example"],
            "Subject": "Oppsigelse av Ola Hansen",
        },
    }
    lines = [
        line(secrets, Operation="MailItemsAccessed"),
        line(secrets, Operation="DLPRuleMatch", CreationTime="kari.nordmann"),
        line({**secrets, "Operation": "DLPRuleMatch", "CreationTime": None}),
        '{"UserId": "kari.nordmann@fjordkommune.example", "Subject": "Oppsigelse',
        '["kari.nordmann@fjordkommune.example", "Oppsigelse av Ola Hansen"]',
        "kari.nordmann@fjordkommune.example sendte lønnsliste",
    ]
    result = parse(lines)
    assert result.table.num_rows == 0
    for row, reason in reasons(result).items():
        assert reason in REASONS
        raw = lines[row]
        try:
            values = strings_in(json.loads(raw))
        except ValueError:
            values = []
        values += [t for t in re.split(r"[\s\"{}\[\]:,]+", raw) if len(t) >= 4]
        for value in values:
            if len(value) >= 4 and value.casefold() not in ("operation", "creationtime"):
                assert value.casefold() not in reason.casefold(), (row, reason)
    # The reason depends on what is wrong, never on whose line it is.
    others = [
        raw.replace("kari.nordmann", "per.hansen").replace("Ola Hansen", "Anne Berg")
        for raw in lines
    ]
    assert reasons(parse(others)) == reasons(result)


def test_empty_batch() -> None:
    result = parse([])
    assert result.table.num_rows == 0 and result.rejects.num_rows == 0


def test_source_format() -> None:
    assert O365_DLP.name == "o365-dlp"
    assert O365_DLP.dataset is DATA_SECURITY_FINDING
    assert O365_DLP.parse is parse_o365_dlp
    schema = parse([line(ONEDRIVE_FROM)]).table.schema
    assert schema == pa.schema([pa.field(ROW, pa.int64()), *DATA_SECURITY_FINDING.parse_schema()])


def test_mixed_batch_rows_point_at_their_lines() -> None:
    lines = [line(EXCHANGE_EXTERNAL), "{", line(ONEDRIVE_FROM), line(ENDPOINT_PERSON), "[]"]
    result = parse(lines)
    got = rows(result)
    assert got[0]["workload"] == "Exchange"
    assert got[2]["workload"] == "OneDrive"
    assert got[3]["workload"] == "Endpoint"
    assert reasons(result) == {1: R_JSON, 4: R_NOT_OBJECT}


@checks.PROPERTY
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=200),
            st.sampled_from([line(EXCHANGE_EXTERNAL), line(ONEDRIVE_FROM), line(ENDPOINT_PERSON)]),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda c: (
                    st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4)
                ),
                max_leaves=20,
            ).map(json.dumps),
        ),
        max_size=30,
    )
)
def test_every_line_lands_exactly_once(lines: list[str | None]) -> None:
    parse(lines)
