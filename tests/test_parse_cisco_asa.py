"""The Cisco ASA / FTD parser: every supported message id with hand-written lines, headers,
Elastic's cisco_asa fixture, a real ingest, and property-based robustness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.identity import normalize_identifier
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.cisco_asa import (
    CISCO_ASA,
    NOT_ASA,
    UNRECOGNISED,
    UNSUPPORTED_ID,
)

CTX = ParseContext(reference_time=datetime(2026, 11, 20, 12, tzinfo=UTC))
HEAD = "Nov 16 2026 08:00:01 fw-asa1 : "
REASONS = {
    "empty line", "unsupported syslog header", "invalid timestamp", NOT_ASA, UNSUPPORTED_ID,
    UNRECOGNISED, "invalid port", "port out of range", "invalid icmp type",
    "icmp type out of range", "invalid icmp code", "icmp code out of range",
    "invalid byte count", "byte count out of range", "invalid src address",
    "invalid dst address", "invalid nat src address", "invalid nat dst address",
}  # fmt: skip


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(CISCO_ASA, lines, ctx, REASONS)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


T = "203.0.113.7"  # an attacker
C = "198.51.100.23"  # an employee's home connection
MESSAGES = [
    ("2-106001", f"Inbound TCP connection denied from {T}/51515 to 10.20.1.5/3389 flags SYN  on interface outside",  # noqa: E501
     dict(action="drop", event_type="deny", protocol="tcp", src_ip=T, src_port=51515,
          dst_ip="10.20.1.5", dst_port=3389, tcp_flags="SYN", in_iface="outside", severity="critical")),  # noqa: E501
    ("2-106006", f"Deny inbound UDP from {T}/5353 to 10.20.1.5/161 on interface outside",
     dict(action="drop", protocol="udp", dst_port=161, in_iface="outside")),
    ("6-106015", "Deny TCP (no connection) from 10.20.3.44/53000 to 198.51.100.20/443 flags RST ACK  on interface inside",  # noqa: E501
     dict(action="drop", event_type="deny", tcp_flags="RST ACK", in_iface="inside", src_port=53000)),  # noqa: E501
    ("4-106023", 'Deny tcp src outside:2001:db8::7/51515 dst inside:2001:db8:1::5/22 by access-group "outside_access_in" [0x8ed66b60, 0xf8852875]',  # noqa: E501
     dict(action="drop", ip_version=6, src_ip="2001:db8::7", dst_ip="2001:db8:1::5", dst_port=22,
          rule_name="outside_access_in", in_iface="outside", out_iface="inside")),
    ("4-106023", f'Deny protocol 47 src outside:{T} dst inside:10.20.0.2 by access-group "outside_access_in" [0x0, 0x0]',  # noqa: E501
     dict(protocol="gre", src_port=None, dst_ip="10.20.0.2")),
    ("4-106023", 'Deny tcp src inside:10.20.3.44/53000(FJORDVIK\\kari.nordmann) dst outside:198.51.100.20/25 by access-group "inside_out" [0x0, 0x0]',  # noqa: E501
     dict(actor_user="FJORDVIK\\kari.nordmann", dst_port=25, rule_name="inside_out")),
    ("6-106100", "access-list inside_out denied tcp inside/10.20.3.44(53000) -> outside/198.51.100.20(25) hit-cnt 1 first hit [0x4c5b8d7a, 0x0]",  # noqa: E501
     dict(action="drop", event_type="deny", rule_name="inside_out", in_iface="inside",
          out_iface="outside", src_port=53000, dst_port=25)),
    ("6-106100", "access-list dmz_in permitted udp dmz/10.30.0.10(123) -> outside/198.51.100.1(123) hit-cnt 4 300-second interval [0x1, 0x2]",  # noqa: E501
     dict(action="allow", event_type="connection", rule_name="dmz_in", protocol="udp")),
    ("6-302013", "Built inbound TCP connection 81235 for outside:198.51.100.23/50123 (198.51.100.23/50123) to dmz:10.30.0.10/443 (203.0.113.10/443)",  # noqa: E501
     dict(action="allow", event_type="connection", session_id="81235", src_ip=C,
          dst_ip="10.30.0.10", nat_src_ip=None, nat_dst_ip="203.0.113.10", in_iface="outside",
          out_iface="dmz")),
    ("6-302013", "Built outbound TCP connection 81234 for outside:198.51.100.20/443 (198.51.100.20/443) to inside:10.20.3.44/53000 (203.0.113.10/53000)(FJORDVIK\\kari.nordmann)",  # noqa: E501
     dict(src_ip="10.20.3.44", src_port=53000, dst_ip="198.51.100.20", dst_port=443,
          nat_src_ip="203.0.113.10", in_iface="inside", actor_user="FJORDVIK\\kari.nordmann")),
    ("6-302014", "Teardown TCP connection 81234 for outside:198.51.100.20/443 to inside:10.20.3.44/53000 duration 1:02:03 bytes 53211 TCP FINs from inside (kari.nordmann)",  # noqa: E501
     dict(event_type="connection", session_id="81234", duration=3723, src_ip="198.51.100.20",
          actor_user="kari.nordmann", protocol="tcp")),
    ("6-302015", "Built outbound UDP connection 81236 for outside:198.51.100.53/53 (198.51.100.53/53) to inside:10.20.3.44/53001 (203.0.113.10/53001)",  # noqa: E501
     dict(protocol="udp", src_ip="10.20.3.44", dst_port=53, nat_src_ip="203.0.113.10")),
    ("6-302016", "Teardown UDP connection 81236 for outside:198.51.100.53/53 to inside:10.20.3.44/53001 duration 0:00:00 bytes 148",  # noqa: E501
     dict(protocol="udp", session_id="81236", duration=0, actor_user=None)),
    ("6-302020", "Built outbound ICMP connection for faddr 198.51.100.20/0 gaddr 203.0.113.10/7 laddr 10.20.3.44/7 type 8 code 0",  # noqa: E501
     dict(protocol="icmp", src_ip="10.20.3.44", dst_ip="198.51.100.20", nat_src_ip="203.0.113.10",
          icmp_type=8, icmp_code=0, src_port=None)),
    ("6-302020", f"Built inbound ICMP connection for faddr {T}/0 gaddr 203.0.113.10/0 laddr 10.30.0.10/0 type 8 code 0",  # noqa: E501
     dict(src_ip=T, dst_ip="10.30.0.10", nat_dst_ip="203.0.113.10", nat_src_ip=None)),
    ("6-302021", "Teardown ICMP connection for faddr 198.51.100.20/0 gaddr 203.0.113.10/7 laddr 10.20.3.44/7 type 0 code 0",  # noqa: E501
     dict(src_ip="198.51.100.20", dst_ip="10.20.3.44", icmp_type=0, action="allow")),
    ("6-113004", "AAA user authentication Successful : server =  10.20.0.30 : user = kari.nordmann",
     dict(event_type="aaa", outcome="success", dst_ip="10.20.0.30", actor_user="kari.nordmann",
          action=None)),
    ("6-113005", f"AAA user authentication Rejected : reason = AAA failure : server = 10.20.0.30 : user = ***** : user IP = {C}",  # noqa: E501
     dict(event_type="aaa", outcome="failure", src_ip=C, actor_user=None)),
    ("6-113005", "AAA user authorization Rejected : reason = Unspecified : server = radius1 : user = ola.hansen",  # noqa: E501
     dict(outcome="failure", dst_ip=None, actor_user="ola.hansen")),
    ("4-113019", f"Group = GP-Ansatte, Username = kari.nordmann, IP = {C}, Session disconnected. Session Type: SSL, Duration: 1d 1h:02m:03s, Bytes xmt: 123456, Bytes rcv: 7890, Reason: User Requested",  # noqa: E501
     dict(event_type="vpn", outcome=None, src_ip=C, actor_user="kari.nordmann", duration=90123,
          bytes_in=123456, bytes_out=7890, vpn_tunnel="GP-Ansatte")),
    ("6-605004", 'Login denied from 10.20.3.44/53000 to inside:10.20.0.1/ssh for user "admin"',
     dict(event_type="admin_login", outcome="failure", dst_port=22, in_iface="inside",
          actor_user="admin")),
    ("6-605005", 'Login permitted from 10.20.3.44/53001 to inside:10.20.0.1/https for user "netadmin"',  # noqa: E501
     dict(event_type="admin_login", outcome="success", dst_port=443, src_port=53001)),
    ("6-611101", "User authentication succeeded: IP address: 10.20.3.44, Uname: netadmin",
     dict(event_type="admin_login", outcome="success", src_ip="10.20.3.44", actor_user="netadmin")),
    ("6-611102", "User authentication failed: IP address: 10.20.3.44, Uname: netadmin",
     dict(event_type="admin_login", outcome="failure", actor_user="netadmin")),
    ("6-716001", f"Group <GP-Ansatte> User <kari.nordmann> IP <{C}> WebVPN session started.",
     dict(event_type="vpn", outcome="success", src_ip=C, vpn_tunnel="GP-Ansatte")),
    ("6-716002", f"Group <GP-Ansatte> User <kari.nordmann> IP <{C}> WebVPN session terminated: User Requested.",  # noqa: E501
     dict(event_type="vpn", outcome=None, actor_user="kari.nordmann")),
    ("4-722051", "Group <GP-Ansatte> User <kari.nordmann> IP <2001:db8:77::9> IPv4 Address <10.99.0.12> IPv6 address <::> assigned to session",  # noqa: E501
     dict(event_type="vpn", outcome="success", ip_version=6, nat_src_ip="10.99.0.12")),
]  # fmt: skip


@pytest.mark.parametrize(("tag", "text", "want"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_supported_messages(tag: str, text: str, want: dict) -> None:
    got = row(f"{HEAD}%ASA-{tag}: {text}")
    assert got["event_id"] == tag[2:] and got["observer"] == "fw-asa1"
    assert got["time"] == datetime(2026, 11, 16, 8, 0, 1, tzinfo=UTC)
    assert {k: got[k] for k in want} == want


def test_every_listed_message_id_is_tested() -> None:
    listed = "106001 106006 106015 106023 106100 302013 302014 302015 302016 302020 302021 113004 113005 113019 605004 605005 611101 611102 716001 716002 722051"  # noqa: E501
    assert set(listed.split()) <= {tag[2:] for tag, _, _ in MESSAGES}


@pytest.mark.parametrize(
    ("line", "day", "observer"),
    [
        ("Nov 16 2026 08:00:01: %ASA-6-611101: ", 16, None),
        ("<166>Nov  6 2026 08:00:01 fw-asa1 : %ASA-6-611101: ", 6, "fw-asa1"),
        ("Nov 16 08:00:01 relay1 %ASA-6-611101: ", 16, "relay1"),  # a relay's year-less header
        ("<164>2026-11-16T08:00:01Z ftd1 : %FTD-6-611101: ", 16, "ftd1"),
        ("Nov 16 2026 08:00:01 fw-asa1 : %ASA-session-6-611101: ", 16, "fw-asa1"),
    ],
)
def test_headers(line: str, day: int, observer: str | None) -> None:
    got, stamp = row(line + "User authentication succeeded: Uname: x"), (2026, 11, day, 8, 0, 1)
    assert (got["time"], got["observer"]) == (datetime(*stamp, tzinfo=UTC), observer)
    assert (got["actor_user"], got["src_ip"]) == ("x", None)


def test_asa_time_is_local_time_of_the_context() -> None:
    oslo = ParseContext(reference_time=CTX.reference_time, timezone="Europe/Oslo")
    got = row(HEAD + "%ASA-6-611101: User authentication succeeded: Uname: netadmin", oslo)
    assert got["time"] == datetime(2026, 11, 16, 7, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        (None, "empty line"),
        ("Nov 16 08:00:01 fw1 sshd[1]: Accepted password for kari from 10.0.0.1 port 22 ssh2",
         NOT_ASA),
        ("Nov 16 08:00:01 rtr1 %SEC-6-IPACCESSLOGP: list 101 denied tcp 10.0.0.1(1) -> 10.0.0.2(2)",
         NOT_ASA),
        ("%ASA-6-611101: User authentication succeeded: Uname: netadmin",
         "unsupported syslog header"),
        ("Feb 30 2026 08:00:01 fw : %ASA-6-611101: User authentication succeeded: Uname: x",
         "invalid timestamp"),
        (HEAD + "%ASA-6-305011: Built dynamic TCP translation from inside:10.20.3.44/53000 to outside:203.0.113.10/53000",  # noqa: E501
         UNSUPPORTED_ID),
        (HEAD + "%FTD-1-430003: EventPriority: Low, DeviceUUID: x", UNSUPPORTED_ID),
        (HEAD + "%ASA-6-302013: Built something else entirely", UNRECOGNISED),
        (HEAD + "%ASA-6-302016: Teardown UDP connection 1 for outside:198.51.100.53/70000 to inside:10.20.3.44/53001 duration 0:00:00 bytes 148",  # noqa: E501
         "port out of range"),
        (HEAD + "%ASA-6-302016: Teardown UDP connection 1 for outside:198.51.100.530/53 to inside:10.20.3.44/53001 duration 0:00:00 bytes 148",  # noqa: E501
         "invalid src address"),
        (HEAD + "%ASA-4-113019: Group = G, Username = u, IP = 1.2.3.4, Session disconnected. Session Type: SSL, Duration: 0h:00m:01s, Bytes xmt: 99999999999999999999, Bytes rcv: 1, Reason: x",  # noqa: E501
         "byte count out of range"),
    ],
)  # fmt: skip
def test_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    valid = HEAD + "%ASA-6-611102: User authentication failed: Uname: netadmin"
    result = parse(line, valid)
    assert result.rejects.to_pylist() == [{ROW: 0, REASON: reason}]
    assert result.table.column(ROW).to_pylist() == [1]


def test_detect_claims_asa_and_nothing_else() -> None:
    ours = [f"{HEAD}%ASA-{tag}: {text}" for tag, text, _ in MESSAGES] + list(CISCO_ASA.examples)
    others = checks.other_examples("cisco-asa") + [
        "Nov 16 08:00:01 rtr1 %SEC-6-IPACCESSLOGP: list 101 denied tcp 1.2.3.4(1) -> 5.6.7.8(2)",
        "Nov 16 08:00:01 fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8",
    ]
    checks.assert_detects_only("cisco-asa", ours, others)


# --- Conformance with Elastic's cisco_asa fixture -----------------------------------------------
# Our vocabulary -> Elastic's: a deny or permit is in event.type (event.action is always
# "firewall-rule"; event.outcome "success" there means the rule was applied, so it is not
# compared: none of the fixture's messages is a login); users compare without `DOMAIN\`;
# ICMPv6 is `ipv6-icmp`; event.duration is in nanoseconds.
VERDICTS = {"denied": "drop", "allowed": "allow"}
TRANSPORTS = {"ipv6-icmp": "icmpv6"}
FIELDS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port",
    "dst_port": "destination.port", "rule_name": "cisco.asa.rule_name", "event_id": "event.code",
    "in_iface": "observer.ingress.interface.name", "out_iface": "observer.egress.interface.name",
    "session_id": "cisco.asa.connection_id", "severity": "log.level",
    "observer": "host.hostname", "icmp_type": "cisco.asa.icmp_type",
    "icmp_code": "cisco.asa.icmp_code",
}  # fmt: skip


def _user(value: str | None) -> str | None:
    return None if value is None else normalize_identifier(value)


def test_elastic_fixture_agreement() -> None:
    fx = ef.load("cisco_asa", "test-asa-fix.log")
    ctx = ParseContext(reference_time=CTX.reference_time, timezone=fx.timezone)
    result = parse(*fx.lines, ctx=ctx)
    unparsed = [(r[ROW] + 1, r[REASON]) for r in result.rejects.to_pylist()]
    print(f"cisco_asa/test-asa-fix.log unparsed lines: {unparsed or 'none'}")
    assert unparsed == []
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc = fx.expected[i]
        agreement.check_fields(i, ours, doc, FIELDS)
        verdicts = [VERDICTS[t] for t in ef.get(doc, "event.type") or [] if t in VERDICTS]
        agreement.check(i, "action", ours["action"], verdicts[0] if verdicts else None)
        transport = ef.get(doc, "network.transport")
        agreement.check(i, "protocol", ours["protocol"], TRANSPORTS.get(transport, transport))
        theirs = ef.get(doc, "source.user.name") or ef.get(doc, "user.name")
        agreement.check(i, "user", _user(ours["actor_user"]), _user(theirs))
        duration = ours["duration"]
        agreement.check(i, "duration", duration and duration * 10**9, ef.get(doc, "event.duration"))
        stamp = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
        agreement.check(i, "time", ours["time"], stamp)  # the ASA's timestamps carry the year
    print(f"cisco_asa/test-asa-fix.log: {agreement.compared} compared, {agreement.agreed} "
          f"agreed ({agreement.summary()})")  # fmt: skip
    assert agreement.compared > 150
    assert agreement.ratio >= 0.99, agreement.disagreements


# --- End to end and robustness ------------------------------------------------------------------
E2E = [
    "%ASA-6-302013: Built outbound TCP connection 81234 for outside:198.51.100.20/443 (198.51.100.20/443) to inside:10.20.3.44/53000 (203.0.113.10/53000)(FJORDVIK\\kari.nordmann)",  # noqa: E501
    f'%ASA-4-106023: Deny tcp src outside:{T}/51515 dst inside:10.20.1.5/22 by access-group "outside_access_in" [0x0, 0x0]',  # noqa: E501
    f"%ASA-4-722051: Group <GP-Ansatte> User <kari.nordmann> IP <{C}> IPv4 Address <10.99.0.12> IPv6 address <::> assigned to session",  # noqa: E501
    f"%ASA-4-113019: Group = GP-Ansatte, Username = kari.nordmann, IP = {C}, Session disconnected. Session Type: SSL, Duration: 0h:05m:00s, Bytes xmt: 1000, Bytes rcv: 200, Reason: User Requested",  # noqa: E501
    f'%ASA-6-605004: Login denied from {T}/40000 to outside:203.0.113.10/ssh for user "ola.hansen"',  # noqa: E501
    "%ASA-6-305011: Built dynamic TCP translation from inside:10.20.3.44/53000 to outside:203.0.113.10/53000",  # noqa: E501
]
PEOPLE = ("kari.nordmann", "ola.hansen", "FJORDVIK")
PRIVATE = ("10.20.3.44", "10.20.1.5", "10.99.0.12", C)  # internal, and the home address


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [HEAD + line for line in E2E]
    store, summary = checks.ingest_lines(tmp_path, "cisco-asa", lines, timezone="Europe/Oslo")
    assert (summary.written, summary.reasons) == (5, {UNSUPPORTED_ID: 1})
    for purpose in ("network_administration", "security_incident"):
        table = checks.lake_table(store, "network_activity", purpose)
        assert table.num_rows == 5
        assert set(table.column("source_format").to_pylist()) == {"cisco-asa"}
        text = "\n".join(str(v) for c in table.columns for v in c.to_pylist()).casefold()
        leaked = [v for v in (*PEOPLE, *PRIVATE) if v.casefold() in text]
        assert not leaked, f"plain identities under {purpose}: {leaked}"
        assert T in text or purpose == "network_administration"  # attackers stay clear
        if purpose == "network_administration":
            assert "actor_user" not in table.column_names and "vpn_tunnel" not in table.column_names
        else:
            users = {u for u in table.column("actor_user").to_pylist() if u}
            assert len(users) == 2 and all(u.startswith("usr-") for u in users)


SEEDS = [*CISCO_ASA.examples, *(f"{HEAD}%ASA-{tag}: {text}" for tag, text, _ in MESSAGES[::3])]


@checks.PROPERTY
@given(st.lists(st.text(max_size=300), max_size=20))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    parse(SEEDS[0], *(f"{HEAD}%ASA-6-302013: {line}" for line in lines), *lines)


def test_every_truncation_never_raises() -> None:
    parse(*checks.truncations(SEEDS))


def test_one_megabyte_lines() -> None:
    mb = 1 << 20
    lines = [SEEDS[0] + " " * mb, SEEDS[0] + "A" * mb, HEAD + "%ASA-6-302013: " * (mb // 15),
             "x" * mb]  # fmt: skip
    result = parse(*lines)
    assert result.table.column(ROW).to_pylist() == [0]
    assert dict(zip(*result.rejects.to_pydict().values(), strict=True)) == {
        1: UNRECOGNISED, 2: UNRECOGNISED, 3: NOT_ASA,
    }  # fmt: skip
