"""The pf filterlog parser (pfSense, OPNsense): hand-written lines per variant, Elastic's
pfsense fixture, a real ingest, and property-based robustness."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.filterlog import FILTERLOG, NOT_FILTERLOG, TRUNCATED

CTX = ParseContext(reference_time=datetime(2026, 11, 20, 12, tzinfo=UTC))
BSD = "<134>Nov 16 08:00:01 fw1 filterlog[41512]: "
TCP4 = (
    "5,,,1000000103,igb0,match,block,in,4,0x0,,51,24012,0,DF,6,tcp,60,203.0.113.7,10.20.1.5,"
    "51515,{dport},0,{flags},3284713590,,64240,,mss;sackOK;TS;nop;wscale"
)
UDP4 = "77,,,1520797901,igb1.27,match,pass,out,4,0xb8,,64,58355,0,none,17,udp,76,10.20.3.44,198.51.100.20,53000,123,56"  # noqa: E501
UDP6 = "6,,,1000000105,igb1.27,match,block,in,6,0x00,0xf6279,1,UDP,17,32,fe80::208:9bff:fef3:652b,ff02::1:2,546,547,32"  # noqa: E501
TCP6 = "12,,,1000000110,igb0,match,pass,in,6,0x00,0x00000,57,tcp,6,40,2001:db8::7,2001:db8:1::5,40022,443,0,SA,1,2,65535,,mss"  # noqa: E501
REASONS = {
    "empty line", "unsupported syslog header", "invalid timestamp", NOT_FILTERLOG, TRUNCATED,
    "unsupported ip version", "unsupported filterlog action", "unsupported direction",
    "invalid src address", "invalid dst address", "invalid packet length",
    "packet length out of range", "invalid ttl", "ttl out of range", "invalid port",
    "port out of range",
}  # fmt: skip


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(FILTERLOG, lines, ctx, REASONS)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


P = "9,,,1000000108,igb1,match,pass,in,4,0x0,,64,0,0,DF,"  # then the protocol's fields
LABEL = "02f4bab031b57d1e30553ce08e0ec131"  # OPNsense's rule label in the tracker field
OPN = f"77,,,{LABEL},vtnet1,match,pass,out,4,0x0,,63,0,0,DF,17,udp,76,10.20.3.44,198.51.100.20,53000,123,56"  # noqa: E501
SD = '[meta sequenceId="7"]'
VARIANTS = [
    (BSD + TCP4.format(dport=22, flags="S"),
     dict(time=datetime(2026, 11, 16, 8, 0, 1, tzinfo=UTC), observer="fw1", action="drop",
          rule_name="1000000103", event_type="match", in_iface="igb0", out_iface=None,
          ip_version=4, src_ip="203.0.113.7", src_port=51515, dst_ip="10.20.1.5", dst_port=22,
          protocol="tcp", length=60, ttl=51, tcp_flags="SYN", icmp_type=None, actor_user=None)),
    (BSD + UDP4, dict(action="allow", in_iface=None, out_iface="igb1.27", protocol="udp",
                      src_port=53000, dst_port=123, ttl=64, tcp_flags=None)),
    (BSD + TCP4.format(dport=22, flags="FPA"), dict(tcp_flags="FIN PSH ACK")),
    (BSD + UDP6, dict(ip_version=6, protocol="udp", ttl=1, length=32, src_port=546, dst_port=547,
                      src_ip="fe80::208:9bff:fef3:652b", dst_ip="ff02::1:2", action="drop")),
    (BSD + TCP6, dict(ip_version=6, action="allow", protocol="tcp", tcp_flags="SYN ACK",
                      dst_port=443, ttl=57)),
    (BSD + "9,,,1,igb1,match,pass,in,6,0x00,0x00000,255,ipv6-icmp,58,32,fe80::1,ff02::1,datalength=32",  # noqa: E501
     dict(protocol="icmpv6", ip_version=6, src_port=None, icmp_type=None)),
    (BSD + P + "1,icmp,84,10.20.1.9,198.51.100.20,request,37728,164",
     dict(protocol="icmp", icmp_type=8, icmp_code=None, src_port=None, dst_port=None)),
    (BSD + P + "1,icmp,84,10.20.1.9,198.51.100.20,reply,37728,164", dict(icmp_type=0)),
    (BSD + P + "1,icmp,56,10.20.1.9,198.51.100.20,unreachport,198.51.100.20,17,53",
     dict(icmp_type=3, icmp_code=3)),
    (BSD + P + "1,icmp,56,10.20.1.9,198.51.100.20,needfrag,198.51.100.20,1400",
     dict(icmp_type=3, icmp_code=4)),
    (BSD + P + "1,icmp,56,10.20.1.9,198.51.100.20,timexceed,time exceeded", dict(icmp_type=11)),
    (BSD + P + "2,igmp,32,10.20.1.9,224.0.0.22,datalength=8",
     dict(protocol="igmp", src_ip="10.20.1.9", src_port=None, icmp_type=None)),
    (BSD + P + "112,carp,56,10.20.0.2,224.0.0.18,advertise,255,1,2,1,0",
     dict(protocol="carp", dst_ip="224.0.0.18", dst_port=None)),
    (BSD + P + "47,gre,120,10.20.0.2,203.0.113.9,datalength=100", dict(protocol="gre", length=120)),
    (f"<134>1 2026-11-16T08:00:02.5+01:00 opn.fjordvik.local filterlog 415 - {SD} {OPN}",
     dict(time=datetime(2026, 11, 16, 7, 0, 2, 500000, tzinfo=UTC), observer="opn.fjordvik.local",
          rule_name=LABEL, out_iface="vtnet1")),
    (f"<134>1 2026-11-16T08:00:02Z pfsense filterlog 41512 - - {OPN}", dict(observer="pfsense")),
    (f"Nov 16 08:00:01 filterlog[41512]: {OPN}", dict(observer=None)),
    (f"Nov 16 08:00:01 opn filterlog: {OPN}", dict(observer="opn")),
    (BSD + UDP4.replace(",,,1520797901,", ",,,,"), dict(rule_name="77")),  # no tracker
]  # fmt: skip


@pytest.mark.parametrize(("line", "want"), VARIANTS)
def test_variants(line: str, want: dict) -> None:
    got = row(line)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize(
    ("action", "ours"),
    [("pass", "allow"), ("block", "drop"), ("synproxy-drop", "drop"), ("rdr", "log")],
)
def test_actions(action: str, ours: str) -> None:
    assert row(BSD + UDP4.replace(",pass,", f",{action},"))["action"] == ours


def test_rule_number_when_no_tracker() -> None:
    assert row(BSD + UDP4.replace(",,,1520797901,", ",,,,"))["rule_name"] == "77"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        (None, "empty line"),
        ("filterlog[1]: 5,,,1,igb0,match,block,in,4", "unsupported syslog header"),
        ("Nov 31 08:00:01 fw1 filterlog[1]: " + UDP4, "invalid timestamp"),
        ("Nov 16 08:00:01 fw1 sshd[1]: Accepted password for kari from 10.0.0.1 port 22 ssh2",
         NOT_FILTERLOG),
        ("Nov 16 08:00:01 fw1 kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP",
         NOT_FILTERLOG),
        (BSD + "5,,,1000000103,igb0,match", TRUNCATED),
        (BSD + "5,,,1000000103,igb0,match,block,in,4,0x0,,51,1,0,DF,6,tcp,60,10.0.0.1", TRUNCATED),
        (BSD + UDP4.replace(",out,4,", ",out,5,"), "unsupported ip version"),
        (BSD + UDP4.replace(",pass,", ",allow,"), "unsupported filterlog action"),
        (BSD + UDP4.replace(",out,", ",sideways,"), "unsupported direction"),
        (BSD + UDP4.replace("10.20.3.44", "10.20.3.444"), "invalid src address"),
        (BSD + UDP4.replace("198.51.100.20", "example.org"), "invalid dst address"),
        (BSD + TCP4.format(dport=70000, flags="S"), "port out of range"),
        (BSD + TCP4.format(dport="4x", flags="S"), "invalid port"),
        (BSD + TCP4.format(dport="２２", flags="S"), "invalid port"),
        (BSD + UDP4.replace(",64,58355,", ",300,58355,"), "ttl out of range"),
        (BSD + UDP4.replace(",76,", ",7e6,"), "invalid packet length"),
    ],
)  # fmt: skip
def test_malformed_lines_are_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    result = parse(line, BSD + UDP4)
    assert result.rejects.to_pylist() == [{ROW: 0, REASON: reason}]
    assert result.table.column(ROW).to_pylist() == [1]


def test_year_inference_and_timezone() -> None:
    line = "Dec 31 23:59:59 fw1 filterlog[1]: " + UDP4
    january = ParseContext(reference_time=datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
    assert row(line, january)["time"] == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    oslo = ParseContext(reference_time=datetime(2027, 1, 1, tzinfo=UTC), timezone="Europe/Oslo")
    assert row(line, oslo)["time"] == datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)


def test_detect_claims_filterlog_and_nothing_else() -> None:
    others = checks.other_examples("filterlog") + [
        "Nov 16 08:00:01 fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8",
        "Nov 16 08:00:01 fw1 sshd[1]: Invalid user filterlog from 1.2.3.4 port 22",
    ]
    checks.assert_detects_only("filterlog", [BSD + UDP4, *FILTERLOG.examples], others)


def test_large_batch_keeps_row_numbers() -> None:
    tcp = BSD + TCP4
    lines = [tcp.format(dport=i % 65536, flags="S") if i % 7 else "junk" for i in range(30_000)]
    result = parse(*lines)
    assert result.rejects.column(ROW).to_pylist() == list(range(0, 30_000, 7))
    rows = result.table.column(ROW).to_pylist()
    assert result.table.column("dst_port").to_pylist() == [i % 65536 for i in rows]


# --- Conformance with Elastic's pfsense fixture -------------------------------------------------
# Our vocabulary -> Elastic's: event.action pass/block; network.transport names ICMPv6
# `ipv6-icmp`; network.type ipv4/ipv6; pf's TCP flag letters; pf's ICMP type words.
ACTIONS = {"pass": "allow", "block": "drop"}
TRANSPORTS = {"ipv6-icmp": "icmpv6"}
IP_TYPES = {"ipv4": 4, "ipv6": 6}
FLAG_LETTERS = {"S": "SYN", "A": "ACK", "F": "FIN", "R": "RST", "P": "PSH", "U": "URG"}
ICMP_TYPES = {"request": 8, "reply": 0}
FIELDS = {
    "src_ip": "source.ip", "dst_ip": "destination.ip", "src_port": "source.port",
    "dst_port": "destination.port", "rule_name": "rule.id", "length": "network.bytes",
    "in_iface": "observer.ingress.interface.name", "ttl": "pfsense.ip.ttl",
    "event_type": "event.reason",
}  # fmt: skip


def fixture_timezone(fx: ef.Fixture, folder: str) -> str:
    """Fixture.timezone reads `event.timezone`; the pfsense config sets `_tmp.tz_offset`."""
    config = (ef.FIXTURES / folder / "test-common-config.yml").read_text()
    found = re.search(r"_tmp\.tz_offset\"?:\s*['\"]?([+-]\d\d:?\d\d)", config)
    return found.group(1) if fx.timezone == "UTC" and found else fx.timezone


def utc_text(value: datetime | str, year_less: bool) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return text[5:] if year_less else text  # Elastic chose the year of year-less lines


def test_elastic_fixture_agreement() -> None:
    fx = ef.load("pfsense", "test-pfsense-bsd.log")
    year = int(fx.expected[0]["@timestamp"][:4])
    ctx = ParseContext(reference_time=datetime(year, 12, 31, tzinfo=UTC),
                       timezone=fixture_timezone(fx, "pfsense"))  # fmt: skip
    assert ctx.timezone == "-04:00"
    result = parse(*fx.lines, ctx=ctx)
    unparsed = [(r[ROW] + 1, r[REASON]) for r in result.rejects.to_pylist()]
    print(f"pfsense/test-pfsense-bsd.log unparsed lines: {unparsed or 'none'}")
    assert unparsed == []
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc, year_less = fx.expected[i], ef.is_year_less(fx.lines[i])
        agreement.check_fields(i, ours, doc, FIELDS)
        agreement.check(i, "action", ours["action"], ACTIONS.get(ef.get(doc, "event.action")))
        transport = ef.get(doc, "network.transport")
        agreement.check(i, "protocol", ours["protocol"], TRANSPORTS.get(transport, transport))
        ip_type = IP_TYPES.get(ef.get(doc, "network.type"))
        agreement.check(i, "ip_version", ours["ip_version"], ip_type)
        flags = ef.get(doc, "pfsense.tcp.flags")
        agreement.check(i, "tcp_flags", ours["tcp_flags"],
                        flags and " ".join(FLAG_LETTERS[c] for c in flags))  # fmt: skip
        agreement.check(i, "icmp_type", ours["icmp_type"],
                        ICMP_TYPES.get(ef.get(doc, "pfsense.icmp.type")))  # fmt: skip
        agreement.check(i, "time", utc_text(ours["time"], year_less),
                        utc_text(doc["@timestamp"], year_less))  # fmt: skip
    print(f"pfsense/test-pfsense-bsd.log: {agreement.compared} compared, {agreement.agreed} "
          f"agreed ({agreement.summary()})")  # fmt: skip
    assert agreement.compared > 150
    assert agreement.ratio >= 0.99, agreement.disagreements


# --- End to end and robustness ------------------------------------------------------------------
INTERNAL = ("10.20.1.5", "10.20.3.44", "fe80::208:9bff:fef3:652b", "10.20.1.9")


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [BSD + TCP4.format(dport=22, flags="S"), BSD + UDP4, BSD + UDP6, BSD + TCP6,
             BSD + "9,,,1,igb1,match,pass,in,4,0x0,,64,0,0,DF,1,icmp,84,10.20.1.9,198.51.100.20,request,1,2",  # noqa: E501
             "not a log line"]  # fmt: skip
    store, summary = checks.ingest_lines(tmp_path, "filterlog", lines, timezone="Europe/Oslo")
    assert (summary.written, summary.rejected) == (5, 1)
    for purpose in ("network_administration", "security_incident"):
        table = checks.lake_table(store, "network_activity", purpose)
        assert table.num_rows == 5
        assert set(table.column("source_format").to_pylist()) == {"filterlog"}
        text = "\n".join(str(v) for c in table.columns for v in c.to_pylist())
        leaked = [ip for ip in INTERNAL if ip in text]
        assert not leaked, f"plain internal addresses under {purpose}: {leaked}"
        if purpose == "network_administration":
            assert "ttl" not in table.column_names and "198.51.100.0/24" in text
        else:
            assert "198.51.100.20" in text  # external addresses stay clear for incident work


SEEDS = [*FILTERLOG.examples, BSD + UDP6, BSD + TCP6]


@checks.PROPERTY
@given(st.lists(st.text(max_size=300), max_size=20))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    parse(BSD + UDP4, *(BSD + line for line in lines), *lines)


def test_every_truncation_never_raises() -> None:
    parse(*checks.truncations(SEEDS))


def test_one_megabyte_lines() -> None:
    mb = 1 << 20
    lines = [SEEDS[0] + "," * mb, SEEDS[0] + "A" * mb, BSD + "1" * mb, "x" * mb]
    result = parse(*lines)
    assert result.table.column(ROW).to_pylist() == [0, 1]
    assert result.table.column("dst_port").to_pylist() == [22, 22]
    assert result.rejects.to_pylist() == [
        {ROW: 2, REASON: TRUNCATED}, {ROW: 3, REASON: "unsupported syslog header"},
    ]  # fmt: skip
