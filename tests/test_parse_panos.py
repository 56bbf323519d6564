"""The PAN-OS CSV parser: TRAFFIC, THREAT, GLOBALPROTECT, USERID and SCTP lines, quoting and
headers, Elastic's panw SCTP fixture, a real ingest, robustness and throughput."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given

from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.panos import PANOS, parse_panos

CTX = ParseContext(reference_time=datetime(2026, 11, 20, 12, tzinfo=UTC), timezone="Europe/Oslo")
REASONS = {
    "empty line", "not a PAN-OS log line", "unsupported PAN-OS log type",
    "unterminated quoted field", "too few fields for its log type", "invalid timestamp",
    "invalid src address", "invalid dst address", "invalid port",
}  # fmt: skip
TRAFFIC, URL, GP = PANOS.examples


def csv(kind: str, sub: str, fields: dict[int, str], count: int = 70) -> str:
    """A PAN-OS line of `count` fields with the common head and the given positions."""
    cols = ["1", "2026/11/16 09:30:00", "016201004321", kind, sub, "2817", "2026/11/16 09:29:59"]
    cols += [""] * (count - len(cols))
    for i, value in fields.items():
        cols[i] = value
    return ",".join(cols)


FLOW = {7: "10.20.3.44", 8: "198.51.100.7", 11: "Allow-Web", 12: "kari", 14: "web-browsing",
        18: "ethernet1/2", 19: "ethernet1/1", 22: "777", 24: "51000", 25: "80",
        29: "tcp"}  # fmt: skip
DENY = csv(
    "TRAFFIC", "deny", FLOW | {30: "deny", 11: "Block-Telegram", 14: "telegram", 52: "PA-HQ"}
)
VIRUS = csv("THREAT", "virus", FLOW | {30: "reset-both", 31: '"eicar.com"',
            32: "Eicar Test File(39040)", 33: "any", 34: "medium", 59: "PA-HQ"})  # fmt: skip
GP_FAIL = csv("GLOBALPROTECT", "0", {8: "portal-auth", 12: "ola", 14: "OLA-PC", 15: "198.51.100.42",
              17: "0.0.0.0", 25: "Authentication failed", 28: "failure", 33: "GP-Portal-HQ",
              47: "PA-HQ"}, 49)  # fmt: skip
USERID = csv("USERID", "login", {7: "vsys1", 8: "10.20.3.44", 9: "fjordvik\\kari", 10: "DC01",
             11: "0", 14: "0", 15: "0", 16: "ad-server", 25: "PA-HQ"}, 30)  # fmt: skip
LINES = (TRAFFIC, URL, GP, DENY, VIRUS, GP_FAIL, USERID)


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(PANOS, lines, ctx, REASONS)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


def test_traffic_allow_and_deny() -> None:
    got = row(TRAFFIC)
    assert got["time"] == datetime(2026, 11, 16, 7, 1, 1, tzinfo=UTC)  # generated time, Oslo
    assert (got["observer"], got["action"], got["outcome"], got["rule_name"]) == (
        "PA-3220-HQ", "allow", "success", "Allow-Web",
    )  # fmt: skip
    assert (got["src_ip"], got["src_port"], got["dst_ip"], got["dst_port"], got["protocol"]) == (
        "10.20.3.44", 51514, "198.51.100.20", 443, "tcp",
    )  # fmt: skip
    assert (got["nat_src_ip"], got["nat_dst_ip"], got["in_iface"], got["out_iface"]) == (
        "203.0.113.2", "198.51.100.20", "ethernet1/2", "ethernet1/1",
    )  # fmt: skip
    assert (got["actor_user"], got["app"], got["session_id"], got["duration"]) == (
        "fjordvik\\kari.nordmann", "ssl", "40211", 31,
    )  # fmt: skip
    assert (got["bytes_out"], got["bytes_in"], got["url_category"]) == (
        2310,
        15422,
        "computer-and-internet-info",
    )
    assert (got["event_type"], got["event_id"], got["ip_version"]) == (
        "traffic/end",
        "TRAFFIC/end",
        4,
    )
    deny = row(DENY)
    assert (deny["action"], deny["outcome"], deny["rule_name"], deny["app"]) == (
        "drop", "failure", "Block-Telegram", "telegram",
    )  # fmt: skip
    assert (deny["observer"], deny["nat_src_ip"], deny["bytes_in"]) == ("PA-HQ", None, None)


def test_threat_url_and_virus() -> None:
    url = row(URL)
    assert url["url"] == "http://games.example.com/play?level=2,4"  # a quoted comma
    assert (url["event_type"], url["event_id"], url["threat_name"], url["url_category"]) == (
        "threat/url", "9999", None, "games",
    )  # fmt: skip
    assert (url["action"], url["outcome"], url["severity"]) == ("drop", "failure", "informational")
    virus = row(VIRUS)
    assert (virus["threat_name"], virus["event_id"], virus["action"], virus["severity"]) == (
        "Eicar Test File", "39040", "reject", "medium",
    )  # fmt: skip
    assert virus["url"] is None and virus["event_type"] == "threat/virus"
    alert = row(VIRUS.replace("reset-both", "alert"))
    assert (alert["action"], alert["outcome"]) == ("log", "success")


def test_globalprotect_the_client_address_is_the_source() -> None:
    got = row(GP)
    assert (got["event_type"], got["event_id"], got["outcome"]) == (
        "globalprotect",
        "gateway-connected",
        "success",
    )
    assert (got["src_ip"], got["nat_src_ip"], got["device"], got["vpn_tunnel"]) == (
        "198.51.100.99", "10.212.134.200", "NXC-LT-0412", "GP-Gateway-HQ",
    )  # fmt: skip
    assert (got["actor_user"], got["observer"], got["action"]) == (
        "fjordvik\\kari.nordmann",
        "PA-3220-HQ",
        None,
    )
    fail = row(GP_FAIL)
    assert (fail["outcome"], fail["nat_src_ip"], fail["vpn_tunnel"], fail["actor_user"]) == (
        "failure", None, "GP-Portal-HQ", "ola",
    )  # fmt: skip


def test_userid_and_sctp() -> None:
    got = row(USERID)
    assert (got["event_type"], got["src_ip"], got["actor_user"], got["observer"]) == (
        "userid/login", "10.20.3.44", "fjordvik\\kari", "PA-HQ",
    )  # fmt: skip
    sctp = row(ef.load("panw", "test-panw-panos-sctp-sample.log").lines[0])
    assert (sctp["event_type"], sctp["protocol"], sctp["session_id"], sctp["severity"]) == (
        "sctp", "tcp", "1000", "4",
    )  # fmt: skip


def test_headers_quoting_and_observer_fallback() -> None:
    body = TRAFFIC[TRAFFIC.index("1,2026") :]
    base = row(body)
    for header in ("<14>", "Nov 16 08:01:02 ", "<14>1 2026-11-16T07:01:02Z PA-3220-HQ - - - - "):
        assert row(header + body) == base
    unnamed = body.replace(",PA-3220-HQ,from-policy", ",,from-policy")
    assert row(unnamed)["observer"] == "016201004321"  # the serial
    assert row("<14>Nov 16 08:01:02 pa-edge " + unnamed)["observer"] == "pa-edge"
    quoted = row(body.replace("Allow-Web", '"Allow ""Web"", all"'))
    assert quoted["rule_name"] == 'Allow "Web", all' and quoted["src_port"] == 51514
    v6 = row(DENY.replace("10.20.3.44", "2001:db8::44").replace("198.51.100.7", "2001:db8:1::7"))
    assert (v6["ip_version"], v6["src_ip"]) == (6, "2001:db8::44")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (None, "empty line"),
        ("", "empty line"),
        ("hello, world", "not a PAN-OS log line"),
        (csv("SYSTEM", "general", {}, 30), "unsupported PAN-OS log type"),
        (csv("CONFIG", "0", {}, 30), "unsupported PAN-OS log type"),
        (csv("NETFLOW", "0", {}, 30), "not a PAN-OS log line"),
        (
            csv("TRAFFIC", "end", {7: "10.20.3.44", 8: "198.51.100.7"}, 25),
            "too few fields for its log type",
        ),
        (DENY.replace(",Block-Telegram,", ',"Block,'), "unterminated quoted field"),
        (DENY.replace("2026/11/16 09:29:59", "2026/13/16 09:29:59"), "invalid timestamp"),
        (DENY.replace("10.20.3.44", "10.20.3"), "invalid src address"),
        (DENY.replace(",51000,", ",65536,"), "invalid port"),
    ],
)
def test_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    assert parse(line).rejects.column(REASON).to_pylist() == [reason]


def test_detect_claims_panos_and_nothing_else() -> None:
    others = checks.elastic_lines(f for f in checks.ELASTIC_LOGS if f != "panw")
    checks.assert_detects_only("panos", [*LINES, *checks.elastic_lines(["panw"])], others)


# panw.panos.action (PAN-OS's action word) → ours; Elastic's own event.outcome as it is.
ELASTIC_ACTIONS = {
    "allow": "allow", "deny": "drop", "drop": "drop", "drop-icmp": "drop", "block-url": "drop",
    "reset-client": "reject", "reset-server": "reject", "reset-both": "reject", "alert": "log",
}  # fmt: skip
ELASTIC_OUTCOMES = {"success": "success", "failure": "failure"}
FIELDS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port",
    "dst_port": "destination.port", "protocol": "network.transport", "rule_name": "rule.name",
    "observer": "observer.hostname", "in_iface": "observer.ingress.interface.name",
    "out_iface": "observer.egress.interface.name", "session_id": "panw.panos.flow_id",
    "severity": "log.level",
}  # fmt: skip


def _fixture_timezone(fx: ef.Fixture, config: Path) -> str:
    """The fixture's timezone: elastic_fixtures reads `event.timezone`; the panw configs set
    `_conf.tz_offset` instead, which is what Elastic's pipeline used."""
    found = re.search(r"tz_offset:\s*['\"]?([^'\"\s]+)", config.read_text(encoding="utf-8"))
    return found.group(1) if fx.timezone == "UTC" and found else fx.timezone


def test_elastic_fixture_agreement() -> None:
    name = "test-panw-panos-sctp-sample.log"
    fx = ef.load("panw", name)
    tz = _fixture_timezone(fx, ef.FIXTURES / "panw" / f"{name}-config.yml")
    result = parse(*fx.lines, ctx=ParseContext(reference_time=CTX.reference_time, timezone=tz))
    unparsed = [f"line {r[ROW] + 1}: {r[REASON]}" for r in result.rejects.to_pylist()]
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc = fx.expected[i]
        agreement.check_fields(i, ours, doc, FIELDS)
        user = ef.get(doc, "source.user.name")
        mine = ours["actor_user"].rsplit("\\", 1)[-1] if ours["actor_user"] else None
        agreement.check(i, "actor_user", mine, user)  # Elastic splits DOMAIN\user
        action = ef.get(doc, "panw.panos.action")
        if action in ELASTIC_ACTIONS:
            agreement.check(i, "action", ours["action"], ELASTIC_ACTIONS[action])
        outcome = ef.get(doc, "event.outcome")
        agreement.check(i, "outcome", ours["outcome"], ELASTIC_OUTCOMES.get(outcome, outcome))
        agreement.check(i, "time", ours["time"], datetime.fromisoformat(doc["@timestamp"]))
    print(f"panw/{name} (timezone {tz}): {agreement.summary()}; unparsed {unparsed}")
    assert unparsed == []
    assert agreement.compared >= 10
    assert agreement.ratio >= 0.99, agreement.disagreements


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [*LINES, csv("SYSTEM", "general", {}, 30), "junk"]
    store, summary = checks.ingest_lines(tmp_path, "panos", lines, timezone="Europe/Oslo")
    assert (summary.written, summary.rejected) == (len(LINES), 2)
    values = checks.purpose_strings(store, "network_activity", {"actor_user", "url", "threat_name"})
    people = ("fjordvik\\kari.nordmann", "fjordvik\\kari", "ola", "NXC-LT-0412", "OLA-PC")
    internal = ("10.20.3.44", "10.212.134.200", "10.20.3.")
    home = ("198.51.100.99", "198.51.100.42")  # GlobalProtect clients: personal addresses
    assert "198.51.100.20" in values["security_incident"]  # an external server: kept clear
    for purpose, found in values.items():
        assert not checks.plain_values(found, people, internal + home, ["kari"]), purpose


def test_every_truncation_never_raises() -> None:
    result = parse(*checks.truncations((TRAFFIC, URL, GP)))
    assert result.table.num_rows > 0 and result.rejects.num_rows > 0


@checks.PROPERTY
@given(checks.mutated(LINES, ['"', ",", " ", "\\", "x", "\x00", "é", ""]))
def test_mutations_never_raise(lines: list[str]) -> None:
    parse(*lines)


def test_one_megabyte_lines() -> None:
    huge = [TRAFFIC + "," * 1_000_000, TRAFFIC[:60] + '"' + "a" * 1_000_000,
            "1,2026/11/16 08:01:02,1,TRAFFIC," + '"a""' * 250_000, "x" * 1_000_000]  # fmt: skip
    result = parse(*huge, TRAFFIC)
    assert result.table.column(ROW).to_pylist()[-1] == len(huge)


def test_a_large_input_parses_whole() -> None:
    lines = pa.array([TRAFFIC.replace("51514", str(50000 + i % 9999)) for i in range(50_000)])
    result, _rate = checks.lines_per_second(parse_panos, lines, CTX)
    assert result.table.num_rows == len(lines)  # speed: benchmarks/, not here
