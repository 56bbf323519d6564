"""The FortiGate parser: traffic, UTM and event lines written by hand, quoting and headers,
Elastic's fortinet_fortigate fixture, a real ingest, robustness and throughput."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given

from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.fortigate import FORTIGATE, NOT_FORTIGATE, parse_fortigate

CTX = ParseContext(reference_time=datetime(2026, 11, 20, 12, tzinfo=UTC), timezone="Europe/Oslo")
REASONS = {
    "empty line", NOT_FORTIGATE, "unterminated quoted value", "too many fields", "no event time",
    "invalid timestamp", "invalid src address", "invalid dst address", "invalid port",
}  # fmt: skip
HEAD = 'date=2026-11-16 time=08:{m} devname="FGT-OSLO-01" devid="FG100FTK19000001" tz="+0100" '
TRAFFIC, WEBFILTER, VPN_UP = FORTIGATE.examples
DENY = HEAD.format(m="02:00") + (
    'logid="0000000013" type="traffic" subtype="forward" level="warning" vd="root" '
    'srcip=10.20.3.51 srcport=50001 srcintf="port1" dstip=149.154.167.91 dstport=443 '
    'dstintf="wan1" sessionid=40300 proto=6 action="deny" policyid=7 policyname="Block Telegram" '
    'service="HTTPS" app="Telegram" sentbyte=0 rcvdbyte=0 srcname="PHONE-77"'
)
VPN_DOWN = HEAD.format(m="59:00") + (
    'logid="0101039948" type="event" subtype="vpn" level="information" vd="root" '
    'action="tunnel-down" tunneltype="ssl-tunnel" tunnelid=1207 remip=198.51.100.99 '
    "remport=40022 locip=203.0.113.10 locport=443 tunnelip=10.212.134.200 "
    'user="kari.nordmann" group="SSLVPN-Staff" duration=3600 sentbyte=123456 rcvdbyte=654321'
)
ADMIN_FAIL = HEAD.format(m="10:00") + (
    'logid="0100032002" type="event" subtype="system" level="alert" vd="root" '
    'logdesc="Admin login failed" sn="0" user="admin" ui="https(10.20.9.9)" method="https" '
    'srcip=10.20.9.9 dstip=10.20.0.1 action="login" status="failed" reason="passwd_invalid" '
    'msg="Administrator admin login failed from https(10.20.9.9) because of invalid password"'
)
UTM = (
    HEAD.format(m="20:00")
    + 'logid="{logid}" type="utm" subtype="{sub}" level="warning" '
    + ("srcip=10.20.3.44 srcport=51000 dstip=198.51.100.7 dstport=80 proto=17 sessionid=7 {rest}")
)
LINES = (TRAFFIC, DENY, WEBFILTER, VPN_UP, VPN_DOWN, ADMIN_FAIL)


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(FORTIGATE, lines, ctx, REASONS)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 16, hour, minute, second, tzinfo=UTC)


def test_traffic_accept() -> None:
    got = row(TRAFFIC)
    assert got["time"] == at(7, 1, 2) and got["observer"] == "FGT-OSLO-01"
    assert (got["action"], got["outcome"], got["rule_name"]) == (
        "allow",
        "success",
        "LAN-to-Internet",
    )
    assert (got["src_ip"], got["src_port"], got["dst_ip"], got["dst_port"]) == (
        "10.20.3.44", 51514, "198.51.100.20", 443,
    )  # fmt: skip
    assert (got["protocol"], got["ip_version"], got["in_iface"], got["out_iface"]) == (
        "tcp", 4, "port1", "wan1",
    )  # fmt: skip
    assert (got["event_id"], got["event_type"], got["severity"]) == (
        "0000000013",
        "traffic/forward",
        "notice",
    )
    assert (got["session_id"], got["duration"], got["bytes_out"], got["bytes_in"]) == (
        "40211",
        31,
        2310,
        15422,
    )
    assert (got["app"], got["nat_src_ip"], got["nat_dst_ip"]) == (
        "HTTPS.BROWSER",
        "203.0.113.2",
        None,
    )
    assert (got["actor_user"], got["device"], got["url"]) == ("kari.nordmann", "PC-0412", None)


def test_traffic_deny_names_the_policy_and_client_device() -> None:
    got = row(DENY)
    assert (got["action"], got["outcome"], got["rule_name"]) == (
        "drop",
        "success",
        "Block Telegram",
    )
    assert (got["app"], got["device"], got["bytes_in"], got["time"]) == (
        "Telegram",
        "PHONE-77",
        0,
        at(7, 2),
    )


def test_webfilter_builds_the_url_on_the_host() -> None:
    got = row(WEBFILTER)
    assert (got["event_type"], got["action"], got["url_category"]) == (
        "utm/webfilter",
        "drop",
        "Games",
    )
    assert got["url"] == "https://games.example.com/play?level=2"
    whole = row(WEBFILTER.replace('url="/play?level=2"', 'url="http://games.example.com/x"'))
    assert whole["url"] == "http://games.example.com/x"
    bare = row(WEBFILTER.replace('url="/play?level=2" ', "").replace('service="HTTPS" ', ""))
    assert bare["url"] == "https://games.example.com/"  # port 443


def test_ssl_vpn_tunnel_the_client_is_the_source() -> None:
    up, down = row(VPN_UP), row(VPN_DOWN)
    assert (up["event_type"], up["src_ip"], up["actor_user"]) == (
        "event/vpn",
        "198.51.100.99",
        "kari.nordmann",
    )
    assert (up["vpn_tunnel"], up["action"], up["dst_ip"]) == ("ssl-tunnel", None, None)
    assert (down["src_ip"], down["src_port"], down["dst_ip"], down["dst_port"]) == (
        "198.51.100.99", 40022, "203.0.113.10", 443,
    )  # fmt: skip
    assert (down["duration"], down["bytes_out"], down["bytes_in"]) == (3600, 123456, 654321)


def test_admin_login_failure() -> None:
    got = row(ADMIN_FAIL)
    assert (got["event_type"], got["outcome"], got["actor_user"], got["severity"]) == (
        "event/system", "failure", "admin", "alert",
    )  # fmt: skip
    assert (got["src_ip"], got["dst_ip"], got["action"]) == ("10.20.9.9", "10.20.0.1", None)


@pytest.mark.parametrize(
    ("sub", "rest", "want"),
    [
        ("virus", 'action="blocked" virus="EICAR" url="/eicar.com" hostname="dl.example.net"',
         {"threat_name": "EICAR", "action": "drop", "url": "http://dl.example.net/eicar.com"}),
        ("ips", 'action="dropped" attack="Tiktok.Exploit" severity="critical"',
         {"threat_name": "Tiktok.Exploit", "action": "drop", "severity": "critical"}),
        ("app-ctrl", 'action="block" app="TikTok" appcat="Video"',
         {"app": "TikTok", "action": "drop"}),
        ("dns", 'action="pass" qname="www.example.org"',
         {"action": "allow", "event_type": "utm/dns"}),
        ("ips", 'action="reset" attack="Brute.Force"', {"action": "reject", "outcome": "success"}),
    ],
)  # fmt: skip
def test_utm_subtypes(sub: str, rest: str, want: dict) -> None:
    got = row(UTM.format(logid="0419016384", sub=sub, rest=rest))
    assert got["protocol"] == "udp" and got["event_type"].startswith("utm/")
    assert {k: got[k] for k in want} == want


def test_quoting_headers_and_duplicate_keys() -> None:
    body = TRAFFIC.removeprefix("<189>")
    base = row(body)
    for header in ("<189>", "Nov 16 08:01:02 fw1 ", "<189>Nov 16 08:01:02 fw1 ",
                   "<189>1 2026-11-16T07:01:02Z fw1 - - - - ", "  "):  # fmt: skip
        assert row(header + body) == base
    tricky = body + ' msg="a \\"quoted\\" text with srcip=1.1.1.1 and a=b" srcip=10.9.9.9 x="\\\\"'
    assert row(tricky)["src_ip"] == "10.20.3.44"  # inside quotes, then the second srcip: ignored
    escaped = row(body.replace('policyname="LAN-to-Internet"', 'policyname="LAN \\"A\\" = b"'))
    assert escaped["rule_name"] == 'LAN "A" = b'
    backslash = row(body.replace('unauthuser="kari.nordmann"', "unauthuser=FJORD\\kari"))
    assert backslash["actor_user"] == "FJORD\\kari"  # bare values are not unescaped


def test_time_zones_and_eventtime() -> None:
    assert row(TRAFFIC.replace('tz="+0100"', 'tz="-0500"'))["time"] == at(13, 1, 2)
    assert row(TRAFFIC.replace('tz="+0100"', 'tz="UTC+01:00"'))["time"] == at(7, 1, 2)
    assert row(TRAFFIC.replace(' tz="+0100"', ""))["time"] == at(7, 1, 2)  # Europe/Oslo
    no_date = TRAFFIC.replace("date=2026-11-16 time=08:01:02 ", "")
    assert row(no_date)["time"] == at(7, 1, 2) + timedelta(microseconds=123456)
    bad = parse(
        TRAFFIC.replace('tz="+0100"', 'tz="Mars/Olympus"'), no_date.replace(" eventtime=", " x=")
    )
    assert bad.rejects.column(REASON).to_pylist() == ["invalid timestamp", "no event time"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (None, "empty line"),
        ("", "empty line"),
        ("hello world", NOT_FORTIGATE),
        ('type="traffic" devname="x" date=2026-11-16 time=08:00:00', NOT_FORTIGATE),
        (TRAFFIC + ' msg="never closed', "unterminated quoted value"),
        ('logid=1 type=x action="é', "unterminated quoted value"),
        (TRAFFIC.replace("srcip=10.20.3.44", "srcip=10.20.3.444"), "invalid src address"),
        (VPN_UP.replace("remip=198.51.100.99", "remip=kari-home"), "invalid src address"),
        (TRAFFIC.replace("dstport=443", "dstport=99999"), "invalid port"),
        (TRAFFIC.replace("time=08:01:02", "time=28:01:02"), "invalid timestamp"),
        (TRAFFIC + " a=b" * 1100, "too many fields"),
    ],
)
def test_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    assert parse(line).rejects.column(REASON).to_pylist() == [reason]


def test_detect_claims_fortigate_and_nothing_else() -> None:
    mine = [*LINES, *checks.elastic_lines(["fortinet_fortigate"])]
    others = checks.elastic_lines(f for f in checks.ELASTIC_LOGS if f != "fortinet_fortigate")
    cef = "CEF:0|Fortinet|Fortigate|7.2|13|traffic|5|logid=0000000013 type=traffic devname=x"
    checks.assert_detects_only("fortigate", mine, [*others, cef])


# Elastic's event.action is FortiGate's action word on traffic lines and its eventtype
# (`signature`, `ftgd_blk` ...) on others: only action words are compared.
ELASTIC_ACTIONS = {
    "accept": "allow", "close": "allow", "timeout": "allow", "server-rst": "allow",
    "client-rst": "allow", "pass": "allow", "passthrough": "allow", "deny": "drop",
    "block": "drop", "blocked": "drop", "dropped": "drop", "reset": "reject", "detected": "log",
}  # fmt: skip
ELASTIC_OUTCOMES = {"success": "success", "failure": "failure"}
FIELDS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port",
    "dst_port": "destination.port", "protocol": "network.transport", "rule_name": "rule.name",
    "actor_user": "source.user.name", "event_id": "event.code", "observer": "observer.name",
    "in_iface": "observer.ingress.interface.name", "out_iface": "observer.egress.interface.name",
}  # fmt: skip


def test_elastic_fixture_agreement() -> None:
    fx = ef.load("fortinet_fortigate", "test-fortinet-fix.log")
    ctx = ParseContext(reference_time=datetime(2026, 12, 31, tzinfo=UTC), timezone=fx.timezone)
    result = parse(*fx.lines, ctx=ctx)
    unparsed = [f"line {r[ROW] + 1}: {r[REASON]}" for r in result.rejects.to_pylist()]
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc = fx.expected[i]
        agreement.check_fields(i, ours, doc, FIELDS)
        action = ef.get(doc, "event.action")
        if action in ELASTIC_ACTIONS:
            agreement.check(i, "action", ours["action"], ELASTIC_ACTIONS[action])
        outcome = ef.get(doc, "event.outcome")
        agreement.check(i, "outcome", ours["outcome"], ELASTIC_OUTCOMES.get(outcome, outcome))
        expected_time = datetime.fromisoformat(doc["@timestamp"])
        agreement.check(i, "time", ours["time"], expected_time)
    print(f"fortinet_fortigate/test-fortinet-fix.log: {agreement.summary()}; unparsed {unparsed}")
    assert unparsed == []
    assert agreement.compared >= 20
    assert agreement.ratio >= 0.99, agreement.disagreements


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [*LINES, "not a fortigate line", TRAFFIC.replace("dstport=443", "dstport=70000")]
    store, summary = checks.ingest_lines(tmp_path, "fortigate", lines, timezone="Europe/Oslo")
    assert (summary.written, summary.rejected) == (len(LINES), 2)
    people = ("kari.nordmann", "admin", "PC-0412", "PHONE-77", "FGT-OSLO-01")
    internal = ("10.20.3.44", "10.20.3.51", "10.20.9.9", "10.20.0.1", "10.212.134.200", "10.20.3.")
    home = ("198.51.100.99",)  # the SSL-VPN client's own connection: a personal address
    hidden = {"actor_user", "url", "src_port", "session_id"}
    values = checks.purpose_strings(store, "network_activity", hidden)
    assert "198.51.100.20" in values["security_incident"]  # external: clear
    for purpose, found in values.items():
        assert found and not checks.plain_values(found, people, internal + home, ["kari"]), purpose


def test_every_truncation_never_raises() -> None:
    result = parse(*checks.truncations((TRAFFIC, VPN_DOWN)))
    assert result.table.num_rows > 0 and result.rejects.num_rows > 0


@checks.PROPERTY
@given(checks.mutated(LINES, ['"', "=", " ", "\\", "x", "\x00", "é", ""]))
def test_mutations_never_raise(lines: list[str]) -> None:
    parse(*lines)


def test_one_megabyte_lines() -> None:
    escaped = TRAFFIC + ' msg="' + '\\"' * 500_000 + '"'
    huge = [TRAFFIC + " k=v" * 250_000, 'logid=1 type=x msg="' + "a" * 1_000_000,
            "x" * 1_000_000, '"' * 1_000_000, escaped]  # fmt: skip
    result = parse(*huge, TRAFFIC)
    assert result.table.column(ROW).to_pylist()[-1] == len(huge)


def test_a_large_input_parses_whole() -> None:
    lines = pa.array([TRAFFIC.replace("51514", str(50000 + i % 9999)) for i in range(50_000)])
    result, _rate = checks.lines_per_second(parse_fortigate, lines, CTX)
    assert result.table.num_rows == len(lines)  # speed: benchmarks/, not here
