"""Intune device inventory (intune-csv, intune-json): header variants, batches from the
middle of a file, app lists, broken lines, and seed 003's forbidden fields: dropped at
the edge, counted exactly, never stored (down to the bytes of the store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.synthetic.intune_inventory import FORBIDDEN_NAMES, write_inventory
from schemas.policy import load_policy
from tests import parser_checks as checks
from tests.parser_checks import reasons, rows
from transforms.auto_detect import detect_lines
from transforms.parse.base import ROW, ParseContext, ParseResult
from transforms.parse.intune import (
    INTUNE_CSV,
    INTUNE_JSON,
    R_BAD_TIME,
    R_EMPTY,
    R_FIELDS,
    R_HEADER,
    R_HEADER_NO_DEVICE,
    R_JSON,
    R_MALFORMED,
    R_NO_DEVICE,
    R_NOT_OBJECT,
    R_NUL,
    R_PAGE,
    REASONS,
    parse_intune_csv,
    parse_intune_json,
)
from transforms.parse.intune_read import json_record
from transforms.parse.mdm_forbidden import is_forbidden, snake_case
from transforms.parse.registry import FORMATS

REF = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
HEADER = (
    "Device name,Primary user UPN,Ownership,Model,Manufacturer,Serial number,OS,OS version,"
    "Compliance,Last check-in,Phone number,Installed apps"
)
KARI = "kari.nordmann@fjordvik.kommune.no"
ROW_A = (
    f'FV-MOB-00012,{KARI},Corporate,"iPhone 14, 128 GB",Apple,F2LXK1ABCD,iOS,17.5.1,'
    'Compliant,2026-11-17 08:12:33,+47 912 34 567,"Teams;Outlook; TikTok ;"'
)
ROW_B = (
    "FV-LT-00013,ola.hansen@fjordvik.kommune.no,Personal,Latitude 5440,Dell Inc.,5CG1234XYZ,"
    "Windows,10.0.22631,Not compliant,,,"
)
SECRET = "https://private-browsing-7f3a.example/search?q=lege"


def csv(lines: list[str | None], first: str | None = HEADER, tz: str = "UTC") -> ParseResult:
    return checks.parse_accounted(INTUNE_CSV, lines, ParseContext(REF, tz, first), REASONS)


def js(lines: list[str | None]) -> ParseResult:
    return checks.parse_accounted(INTUNE_JSON, lines, ParseContext(REF), REASONS)


def device(**extra: Any) -> str:
    doc = {
        "id": "6f1c2d3e-0000-4000-8000-000000000001",
        "deviceName": "FV-MOB-00021",
        "userPrincipalName": KARI,
        "managedDeviceOwnerType": "company",
        "operatingSystem": "Android",
        "osVersion": "14",
        "model": "SM-A546B",
        "manufacturer": "samsung",
        "serialNumber": "R58N12ABCDE",
        "complianceState": "noncompliant",
        "lastSyncDateTime": "2026-11-17T09:00:00.1234567Z",
        "phoneNumber": "+4791234567",
        "detectedApps": [{"displayName": "Telegram", "version": "11.2"}, {"displayName": "Yr"}],
    }
    doc.update(extra)
    return json.dumps({k: v for k, v in doc.items() if v is not ...})


# --- CSV -----------------------------------------------------------------------------


def test_csv_maps_columns_apps_and_rejects_header() -> None:
    result = csv([HEADER, ROW_A, ROW_B], tz="Europe/Oslo")
    assert reasons(result) == {0: R_HEADER}
    a, b = rows(result)[1], rows(result)[2]
    assert (a["device"], a["owner"], a["ownership"], a["model"]) == (
        "FV-MOB-00012", KARI, "corporate", "iPhone 14, 128 GB",
    )  # fmt: skip
    assert a["installed_apps"] == ["Teams", "Outlook", "TikTok"]
    assert a["phone_number"] == "+4791234567"
    assert a["last_sync"] == datetime(2026, 11, 17, 7, 12, 33, tzinfo=UTC)  # Oslo is +01
    assert a["time"] == a["last_sync"] and a["observer"] is None
    assert (b["ownership"], b["compliance"], b["last_sync"]) == ("personal", "noncompliant", None)
    assert b["time"] == REF and b["installed_apps"] is None


def test_csv_header_variants_in_another_order() -> None:
    header = "SERIALNUMBER,apps,userPrincipalName,deviceName,Compliance state,os,LastSyncDateTime"
    line = '5CG99,"Teams;Telegram Desktop",kari@x.example,PC-1,inGracePeriod,Windows,'
    line += "11/20/2026 8:05:00 PM"
    result = csv([header, line], first=header)
    r = rows(result)[1]
    assert [r["device"], r["serial"], r["owner"]] == ["PC-1", "5CG99", "kari@x.example"]
    assert r["compliance"] == "ingraceperiod"
    assert r["installed_apps"] == ["Teams", "Telegram Desktop"]
    assert r["last_sync"] == datetime(2026, 11, 20, 20, 5, tzinfo=UTC)
    owner_only = csv(["PC-2,kari@x.example"], first="Device,Owner")
    assert rows(owner_only)[0]["owner"] == "kari@x.example"


def test_csv_batch_from_the_middle_of_a_file() -> None:
    result = csv([ROW_B, ROW_A])  # first_line known, no header row in this batch
    assert not reasons(result)
    assert (
        rows(result)[0]["device"] == "FV-LT-00013" and rows(result)[1]["device"] == "FV-MOB-00012"
    )


def test_csv_header_with_bom_and_without_context() -> None:
    result = csv(["\ufeff" + HEADER, ROW_A], first=None)
    assert reasons(result) == {0: R_HEADER}
    assert rows(result)[1]["serial"] == "F2LXK1ABCD"
    foreign = csv([ROW_A], first="Mar  3 10:00:01 fw kernel: IN=eth0 OUT=")
    assert reasons(foreign) == {0: R_HEADER_NO_DEVICE}


def test_csv_broken_lines_are_rejected_alone() -> None:
    lines = [
        ROW_A,
        'FV-X,"unclosed quote,a,b,c,d,e,f,g,h,i,j',  # odd quotes
        'FV-Y,a"b,"c,d,e,f,g,h,i,j,k,l',  # even quotes, but a quoted field runs on
        ROW_B,  # must survive the run-on above
        "FV-Z,only,three",
        "",
        ",,,,,,,,,,,",
        "FV-C,u,Corporate,m,x,S9,iOS,1,Compliant,2026-02-30 10:00,,",
        "FV-D,u\rv,Corporate,m,x,S9,iOS,1,Compliant,,,",
        ROW_A,
        ROW_B.replace("Dell", "De\x00ll"),
    ]
    result = csv(lines)
    got = reasons(result)
    assert got[4] == R_FIELDS and got[5] == R_EMPTY and got[6] == R_NO_DEVICE
    assert got[7] == R_BAD_TIME and got[8] == R_MALFORMED and got[10] == R_NUL
    assert got[1] in (R_FIELDS, R_MALFORMED) and got[2] in (R_FIELDS, R_MALFORMED)
    assert set(rows(result)) == {0, 3, 9}
    assert rows(result)[3]["device"] == "FV-LT-00013"
    assert not any(SECRET in r for r in got.values())


# --- JSON ----------------------------------------------------------------------------


def test_json_detected_apps_objects_and_string_lists() -> None:
    lines = [
        device(),
        device(deviceName="FV-MOB-00022", detectedApps=..., installedApps=["TikTok", " ", "Yr"]),
        device(deviceName="FV-MOB-00023", detectedApps="Teams;TikTok"),
        device(deviceName="FV-MOB-00024", lastSyncDateTime="0001-01-01T00:00:00Z"),
    ]
    result = js(lines)
    got = rows(result)
    assert got[0]["installed_apps"] == ["Telegram", "Yr"]
    assert got[0]["last_sync"] == datetime(2026, 11, 17, 9, 0, 0, 123456, tzinfo=UTC)
    assert (got[0]["ownership"], got[0]["compliance"]) == ("corporate", "noncompliant")
    assert got[1]["installed_apps"] == ["TikTok", "Yr"]
    assert got[2]["installed_apps"] == ["Teams", "TikTok"]
    assert got[3]["last_sync"] is None and got[3]["time"] == REF  # Intune's "never"


def test_json_broken_lines_and_the_fallback_agree_with_the_batch_path() -> None:
    good = [device(deviceName=f"FV-MOB-{i:05d}", serialNumber=f"S{i}") for i in range(40)]
    clean = js(good)
    assert not reasons(clean)
    broken = [
        '{"deviceName": "FV-1", ',
        "[1, 2]",
        json.dumps({"value": [json.loads(device())]}),
        json.dumps({"deviceName": "", "serialNumber": None}),
        device(lastSyncDateTime="yesterday"),
        device(serialNumber=12345),  # a number where Graph has a string
        "   ",
    ]
    mixed = good[:20] + broken + good[20:]
    result = js(mixed)
    assert reasons(result) == {
        20: R_JSON, 21: R_NOT_OBJECT, 22: R_PAGE, 23: R_NO_DEVICE, 24: R_BAD_TIME, 26: R_EMPTY,
    }  # fmt: skip
    assert rows(result)[25]["serial"] == "12345"
    shifted = [rows(result)[i] for i in [*range(20), *range(27, 47)]]
    for ours, theirs in zip(shifted, clean.table.to_pylist(), strict=True):
        assert {k: v for k, v in ours.items() if k != ROW} == {
            k: v for k, v in theirs.items() if k != ROW
        }
    assert json_record("nope") == R_JSON


def test_small_read_groups_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    csv_lines = [HEADER, ROW_A, 'FV-Y,a"b,"c,d', ROW_B, ROW_A] * 20
    json_lines = [device(), "{broken", device(detectedApps=["Yr"])] * 20
    whole = (csv(csv_lines), js(json_lines))
    monkeypatch.setattr("transforms.parse.intune_read.GROUP_BYTES", 300)
    for before, after in zip(whole, (csv(csv_lines), js(json_lines)), strict=True):
        assert before.table.to_pylist() == after.table.to_pylist()
        assert before.rejects.to_pylist() == after.rejects.to_pylist()
    assert whole[0].table.num_rows == 60 and whole[1].table.num_rows == 40


def test_detection() -> None:
    lines = pa.array([device(), '{"CreationTime":"2026-01-01","Operation":"DLPRuleMatch"}', ROW_A])
    assert INTUNE_JSON.detect is not None
    assert INTUNE_JSON.detect(lines).to_pylist() == [True, False, False]
    assert INTUNE_CSV.detect is None  # no per-line detector: `auto` decides by the header
    assert detect_lines(lines, [INTUNE_CSV]).to_pylist() == [None, None, None]
    assert FORMATS["intune-csv"] is INTUNE_CSV and FORMATS["intune-json"] is INTUNE_JSON


# --- seed 003: forbidden fields --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "forbidden"),
    [("Browser history", True), ("browserHistory", True), ("personalEmail", True),
     ("Documents", True), ("contacts", True), ("calendarEvents", True), ("savedPasswords", True),
     ("Photos", True), ("lastKnownLocation", True), ("Latitude", True), ("longitude", True),
     ("Primary user email address", False), ("Phone number", False), ("Installed apps", False),
     ("Wi-Fi MAC", False), ("deviceName", False), ("Serial number", False)],
)  # fmt: skip
def test_forbidden_names(name: str, forbidden: bool) -> None:
    assert is_forbidden(name) is forbidden


def test_forbidden_csv_columns_dropped_and_counted() -> None:
    header = HEADER + ",Browser history,Location,Personal email"
    lines = [
        ROW_A + f',"{SECRET} https://b.example",59.91 10.75,kari@privat.example',
        ROW_B + ",,,",
        ROW_B + f",{SECRET},,",
        "FV-BAD,only,three",  # rejected: its values are not counted
        ",,,,,,,,,,,," + f',"{SECRET}",1 2,x@y.example',  # rejected (no device)
    ]
    result = csv(lines, first=header)
    assert result.dropped == {"browser_history": 2, "location": 1, "personal_email": 1}
    text = json.dumps(result.table.to_pylist(), default=str)
    assert SECRET not in text and "59.91" not in text and "privat.example" not in text


def test_forbidden_json_keys_dropped_and_counted_also_nested() -> None:
    lines = [
        device(browserHistory=[SECRET], location={"latitude": 59.9, "longitude": 10.7}),
        device(browserHistory=[], personalEmail="", contacts={"x": None}),  # empty: not counted
        device(hardwareInformation={"gpsLocation": "59.9,10.7", "model": "x"}, photos=3),
        '{"deviceName": "FV-9", "browserHistory": ["' + SECRET + '"]',  # broken: not counted
    ]
    for batch in (lines, lines[:3]):  # per-line fallback and the batch path alike
        result = js(batch)
        assert result.dropped == {
            "browser_history": 1, "location": 1, "hardware_information.gps_location": 1,
            "photos": 1,
        }  # fmt: skip
        assert SECRET not in json.dumps(result.table.to_pylist(), default=str)
    assert snake_case("GPS-Location") == "gps_location"


def test_ingest_drops_forbidden_fields_end_to_end(tmp_path: Path) -> None:
    from loggvern.commands import ingest
    from schemas.policy import default_policies
    from store.init import init_store

    export = tmp_path / "devices.csv"
    truth = write_inventory(export, 60, seed=4, fmt="csv", forbidden=True)
    assert set(truth.forbidden) == set(FORBIDDEN_NAMES) and truth.forbidden_values
    store = tmp_path / "s"
    init_store(store, default_policies(), "op")
    summary = ingest(store, "intune-csv", [export], actor="op")
    assert summary.read == truth.lines == 61
    assert summary.read == summary.written + summary.rejected
    assert summary.rejected == 1 and summary.reasons == {R_HEADER: 1}
    assert summary.dropped == truth.forbidden
    needles = [v.encode() for v in truth.forbidden_values] + [b"private-browsing-"]
    needles += [n.encode() for n in truth.display_names] + [b"fjordvik.kommune.no"]
    checks.assert_no_bytes_in_store(store, needles)


# --- policies and the generator --------------------------------------------------------


@pytest.mark.parametrize("source", ["intune-csv", "intune-json"])
def test_policies_keep_owners_from_administration(source: str) -> None:
    policy = load_policy(Path(__file__).resolve().parents[1] / "policies" / f"{source}.toml")
    assert policy.source == source and policy.dataset == "device_inventory"
    admin = policy.purposes["network_administration"].columns
    assert "owner" not in admin and "phone_number" not in admin and "device" in admin
    assert "owner" in policy.purposes["security_incident"].columns
    for name in ("device", "owner", "serial", "phone_number"):
        assert policy.fields[name].action == "pseudonymize"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_generator_truth_matches_what_parses(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"inv.{fmt}"
    truth = write_inventory(path, 120, seed=9, fmt=fmt, forbidden=True)  # type: ignore[arg-type]
    again = write_inventory(tmp_path / "again", 120, seed=9, fmt=fmt)  # type: ignore[arg-type]
    assert again.owners == truth.owners and again.tiktok == truth.tiktok
    lines = path.read_text(encoding="utf-8").splitlines()
    parse = parse_intune_csv if fmt == "csv" else parse_intune_json
    result = parse(pa.array(lines), ParseContext(REF, "UTC", lines[0]))
    got = rows(result)
    assert len(got) == truth.devices == 120 and result.dropped == truth.forbidden
    service_owners = {r["owner"] for r in got.values() if r["ownership"] == "corporate"}
    assert truth.byod_owners and set(truth.byod_owners) <= service_owners
    personal = {r["device"] for r in got.values() if r["ownership"] == "personal"}
    assert personal == set(truth.personal)
    tiktok = {r["device"] for r in got.values() if "TikTok" in (r["installed_apps"] or [])}
    assert tiktok == set(truth.tiktok) and tiktok & personal and tiktok - personal


# --- properties: never raises, every line accounted once --------------------------------

VALID_CSV = [ROW_A, ROW_B, ROW_A + "  "]
VALID_JSON = [device(), device(deviceName="FV-LT-1", detectedApps=["Teams"])]


def _mutate(draw: st.DrawFn, line: str) -> str:
    cut = draw(st.integers(0, len(line)))
    insert = draw(st.text(alphabet='",;{}[]\\:\r\x00 ab\u00e6\U0001f600', max_size=4))
    return line[:cut] + insert + line[cut + draw(st.integers(0, 3)) :]


@st.composite
def batches(draw: st.DrawFn, valid: list[str]) -> list[str | None]:
    item = st.one_of(st.sampled_from(valid), st.text(max_size=80), st.none())
    lines = draw(st.lists(item, max_size=25))
    for i in draw(st.lists(st.integers(0, max(len(lines) - 1, 0)), max_size=6)):
        if lines and lines[i] is not None:
            lines[i] = _mutate(draw, lines[i])
    return lines


@checks.PROPERTY
@given(batches(VALID_CSV), st.sampled_from([HEADER, None, "x,y", '"a,b']))
def test_csv_never_raises_and_accounts_every_line(
    lines: list[str | None], first: str | None
) -> None:
    csv(lines, first=first)


@checks.PROPERTY
@given(batches(VALID_JSON))
def test_json_never_raises_and_accounts_every_line(lines: list[str | None]) -> None:
    js(lines)


_shapes = (
    st.text(max_size=12), st.integers(-(2**70), 2**70), st.booleans(),
    st.floats(allow_nan=False), st.lists(st.text(max_size=6), max_size=3),
    st.lists(st.fixed_dictionaries({"displayName": st.text(max_size=6)}), max_size=3),
    st.dictionaries(st.sampled_from(["location", "model", "photos"]), st.text(max_size=4)),
)  # fmt: skip
_keys = st.sampled_from(
    ["deviceName", "DeviceName", "serialNumber", "userPrincipalName", "owner", "model",
     "lastSyncDateTime", "phoneNumber", "complianceState", "managedDeviceOwnerType",
     "detectedApps", "installedApps", "apps", "browserHistory", "location", "value", "extra"]
)  # fmt: skip


@st.composite
def device_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Objects whose keys mostly keep one type across the batch (so pyarrow reads it
    whole), sometimes not (so it falls back)."""
    keys = draw(st.lists(_keys, min_size=1, max_size=8, unique=True))
    shape = {k: draw(st.sampled_from(_shapes)) for k in keys}
    docs = []
    for _ in range(draw(st.integers(1, 12))):
        present = draw(st.lists(st.sampled_from(keys), unique=True))
        any_shape = draw(st.integers(0, 9)) == 0
        value = {k: st.one_of(st.none(), *_shapes) if any_shape else shape[k] for k in keys}
        docs.append({k: draw(st.one_of(st.none(), value[k])) for k in present})
    return docs


@checks.PROPERTY
@given(device_docs())
def test_json_batch_and_per_line_paths_agree(docs: list[dict[str, Any]]) -> None:
    lines = [json.dumps(d) for d in docs]
    batch = js(lines)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(  # every line alone
            "transforms.parse.intune_read._plain_objects", lambda t: np.zeros(len(t), bool)
        )
        alone = js(lines)
    assert batch.table.to_pylist() == alone.table.to_pylist()
    assert batch.rejects.to_pylist() == alone.rejects.to_pylist()
    assert batch.dropped == alone.dropped


def test_clean_json_batches_never_decode_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(line: str) -> str:
        raise AssertionError("per-line path used for a clean batch")

    monkeypatch.setattr("transforms.parse.intune_read.json_record", refuse)
    lines = [device(deviceName=f"FV-MOB-{i:05d}", browserHistory=[SECRET]) for i in range(500)]
    result = js(lines)
    assert result.table.num_rows == 500 and result.dropped == {"browser_history": 500}


def test_one_megabyte_lines() -> None:
    big = "x" * (1 << 20)
    result = csv([ROW_B + "," + big, big, '"' + big], first=HEADER + ",Browser history")
    assert set(rows(result)) == {0} and result.dropped == {"browser_history": 1}
    deep = '{"a":' * 300_000 + "1" + "}" * 300_000  # pyarrow would overflow its stack
    result = js([device(browserHistory=[big]), big, deep, "[" * (1 << 20)])
    assert set(rows(result)) == {0} and result.dropped == {"browser_history": 1}


@pytest.mark.parametrize("depth", [450, 999, 5000])
def test_deep_nesting_does_not_depend_on_the_neighbours(depth: int) -> None:
    deep = device()[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
    alone, among = js([deep]), js([device()] * 40 + [deep] + [device()] * 40)
    assert (40 in rows(among)) == (0 in rows(alone)) == (depth < 900)
    assert reasons(among).get(40) == reasons(alone).get(0)
    assert len(rows(among)) == 80 + (depth < 900)
