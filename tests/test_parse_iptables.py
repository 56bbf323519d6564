"""The netfilter parser against Elastic's iptables fixture, plus focused cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from schemas.datasets import NETWORK_ACTIVITY
from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse import line_bytes
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.iptables import IPTABLES, parse_iptables
from transforms.parse.line_bytes import is_ip

CTX = ParseContext(reference_time=datetime(2025, 11, 21, 12, tzinfo=UTC))
UFW = (
    "Nov 20 08:01:02 fw01 kernel: [UFW BLOCK] IN=eth0 OUT=eth1 "
    "MAC=90:10:35:5a:1e:3a:90:10:9e:ec:2c:71:08:00 SRC=10.20.3.17 DST=149.154.167.91 LEN=52 "
    "TOS=0x00 PREC=0x00 TTL=63 ID=4242 DF PROTO=TCP SPT=51514 DPT={dpt} WINDOW=8192 RES=0x00 "
    "SYN URGP=0 UID=1000 GID=1000 USER=kari.nordmann@fjordvik.kommune.no"
)
ACTIONS = {
    "drop": "drop",
    "deny": "drop",
    "drop_input": "drop",
    "accept": "allow",
    "reject": "reject",
}
TRANSPORTS = {"ipv6-icmp": "icmpv6"}


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(IPTABLES, lines, ctx)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


FIELDS = {
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "src_port": "source.port",
    "dst_port": "destination.port",
}  # our column → Elastic's field


def test_elastic_fixture_agreement() -> None:
    fx = ef.load("iptables", "test-iptables-raw.log")
    ctx = ParseContext(reference_time=CTX.reference_time, timezone=fx.timezone)
    result = parse(*fx.lines, ctx=ctx)
    for reject in result.rejects.to_pylist():
        print(f"unsupported line {reject[ROW] + 1}: {reject[REASON]}")
    assert result.rejects.num_rows == 0
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc, line = fx.expected[i], fx.lines[i]
        agreement.check_fields(i, ours, doc, FIELDS)
        transport = ef.get(doc, "network.transport")
        agreement.check(i, "protocol", ours["protocol"], TRANSPORTS.get(transport, transport))
        action = ef.get(doc, "event.action")
        agreement.check(i, "action", ours["action"], ACTIONS.get(action, action))
        agreement.check(i, "time", _time(ours["time"], line), _time_of(doc, line))
    print(agreement.summary())
    assert agreement.compared > 100
    assert agreement.ratio >= 0.99, agreement.disagreements


def _time(value: datetime, line: str) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return text[5:] if ef.is_year_less(line) else text  # year-less lines: month-day-time


def _time_of(doc: dict, line: str) -> str:
    text = doc["@timestamp"]
    return text[5:] if ef.is_year_less(line) else text


def test_ufw_line_with_user_and_uid() -> None:
    got = row(UFW.format(dpt=443))
    assert got["action"] == "drop" and got["rule_name"] == "UFW BLOCK"
    assert (got["observer"], got["in_iface"], got["out_iface"]) == ("fw01", "eth0", "eth1")
    assert (got["dst_mac"], got["src_mac"]) == ("90:10:35:5a:1e:3a", "90:10:9e:ec:2c:71")
    assert (got["src_ip"], got["dst_ip"], got["src_port"], got["dst_port"]) == (
        "10.20.3.17",
        "149.154.167.91",
        51514,
        443,
    )
    assert (got["protocol"], got["ip_version"], got["length"], got["ttl"]) == ("tcp", 4, 52, 63)
    assert got["tcp_flags"] == "SYN"
    assert (got["uid"], got["gid"]) == (1000, 1000)
    assert got["actor_user"] == "kari.nordmann@fjordvik.kommune.no"
    assert got["time"] == datetime(2025, 11, 20, 8, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "action"),
    [
        ("[UFW ALLOW] ", "allow"),
        ("[UFW AUDIT] ", "log"),
        ("[UFW LIMIT BLOCK] ", "drop"),
        ("[wan-lan-default-D]", "drop"),
        ("[WAN_OUT-2000-A]", "allow"),
        ("[lan-10-R]", "reject"),
        ("iptables DROP_INPUT: ", "drop"),
        ("DENY: ", "drop"),
        ("REJECT ", "reject"),
        ("ACCEPT ", "allow"),
        ("LOG ", "log"),
        ("FOO ", None),
        ("", None),
    ],
)
def test_prefix_actions(prefix: str, action: str | None) -> None:
    line = (
        f"Nov 20 08:01:02 fw01 kernel: {prefix}IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 "
        "TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=1 DPT=2 LEN=20"
    )
    got = row(line)
    assert got["action"] == action
    assert got["length"] == 40  # the IP length, not the UDP one


def test_ipv6_line() -> None:
    got = row(
        "Jan 22 09:05:05 ubuntu-bionic kernel: [16571.459614] IN= OUT=lo "
        "SRC=2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6 DST=::1 LEN=104 TC=0 HOPLIMIT=64 "
        "FLOWLBL=868225 PROTO=ICMPv6 TYPE=128 CODE=0 ID=3427 SEQ=1 "
    )
    assert got["ip_version"] == 6 and got["ttl"] == 64 and got["protocol"] == "icmpv6"
    assert (got["icmp_type"], got["icmp_code"], got["in_iface"], got["dst_ip"]) == (
        128,
        0,
        None,
        "::1",
    )
    assert got["src_mac"] is None and got["rule_name"] is None


def test_nested_icmp_payload_does_not_overwrite_outer_fields() -> None:
    got = row(
        "Jan  8 03:37:09 DENY: IN=eth0 OUT= MAC=90:10:28:5f:62:24:90:10:18:5a:89:2a:08:00 "
        "SRC=192.168.2.71 DST=192.168.2.83 LEN=88 TOS=0x00 PREC=0x00 TTL=118 ID=21684 "
        "PROTO=ICMP TYPE=3 CODE=3 [SRC=192.168.2.83 DST=192.168.173.191 LEN=60 TOS=0x00 "
        "PREC=0x00 TTL=54 ID=0 DF PROTO=UDP SPT=21458 DPT=62936 LEN=40 ]"
    )
    assert (got["src_ip"], got["dst_ip"], got["length"], got["ttl"]) == (
        "192.168.2.71",
        "192.168.2.83",
        88,
        118,
    )
    assert (got["protocol"], got["src_port"], got["dst_port"]) == ("icmp", None, None)
    assert (got["icmp_type"], got["icmp_code"], got["observer"]) == (3, 3, None)


def test_rfc3339_headers() -> None:
    body = (
        "Hostname kernel: [wan-lan-default-D]IN=eth0 OUT= SRC=67.43.156.15 DST=10.4.0.5 "
        "LEN=52 TTL=63 PROTO=TCP SPT=38842 DPT=443"
    )
    assert row(f"<6>2021-03-12T14:10:18Z {body}")["time"] == datetime(
        2021, 3, 12, 14, 10, 18, tzinfo=UTC
    )
    got = row(f"2021-03-12T14:10:18.123456789+01:00 {body}")
    assert got["time"] == datetime(2021, 3, 12, 13, 10, 18, 123456, tzinfo=UTC)
    naive = row(f"2021-03-12T14:10:18.5 {body}", ParseContext(timezone="-02:00"))
    assert naive["time"] == datetime(2021, 3, 12, 16, 10, 18, 500000, tzinfo=UTC)


def test_year_rollover_and_timezone() -> None:
    line = "Dec 31 23:59:59 fw kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP"
    january = ParseContext(reference_time=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert row(line, january)["time"] == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    close = ParseContext(reference_time=datetime(2025, 12, 30, tzinfo=UTC))
    assert row(line, close)["time"].year == 2025  # within two days: same year
    oslo = ParseContext(reference_time=datetime(2026, 1, 1, tzinfo=UTC), timezone="Europe/Oslo")
    assert row(line, oslo)["time"] == datetime(2025, 12, 31, 22, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        (None, "empty line"),
        ("garbage \x00\xff", "unsupported syslog header"),
        ("Nov 20 08:01:02 fw01", "not a netfilter log line"),
        (
            "Nov 20 08:01:02 fw01 sshd[1]: Accepted password for kari from 10.0.0.1 port 22",
            "not a netfilter log line",
        ),
        ("Nov 31 08:01:02 fw01 kernel: IN=eth0 SRC=10.0.0.1 DST=10.0.0.2", "invalid timestamp"),
        ("Nov 20 08:01:02 fw01 kernel: IN=eth0 SRC=10.0.0.999 DST=10.0.0.2", "invalid src address"),
        (UFW.format(dpt=70000), "port out of range"),
        (UFW.format(dpt="99999999999999999999"), "port out of range"),
        (UFW.format(dpt="44x"), "invalid port"),
        (UFW.format(dpt=443).replace("TTL=63", "TTL=300"), "ttl out of range"),
        (UFW.format(dpt=443).replace("UID=1000", "UID=4294967294"), "uid out of range"),
    ],
)
def test_malformed_lines_are_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    result = parse(line, UFW.format(dpt=443))
    assert result.rejects.to_pylist() == [{ROW: 0, REASON: reason}]
    assert result.table.column(ROW).to_pylist() == [1]


def test_large_batch_keeps_row_numbers_across_chunks() -> None:
    lines = [UFW.format(dpt=i % 65536) if i % 7 else "junk" for i in range(40_000)]
    result = parse(*lines)
    assert result.rejects.column(ROW).to_pylist() == list(range(0, 40_000, 7))
    rows = result.table.column(ROW).to_pylist()
    assert result.table.column("dst_port").to_pylist() == [i % 65536 for i in rows]


def test_empty_batch_and_source_format() -> None:
    result = parse_iptables(pa.array([], pa.string()), CTX)
    assert result.table.num_rows == 0 and result.rejects.num_rows == 0
    assert IPTABLES.name == "iptables" and IPTABLES.dataset is NETWORK_ACTIVITY


def test_truncated_and_mutated_lines_never_raise() -> None:
    lines = [UFW.format(dpt=443)] + ef.load("iptables", "test-iptables-raw.log").lines[:6]
    cut = [line[:i] for line in lines for i in range(len(line) + 1)]
    mutated = [
        line[:i] + c + line[i + 1 :]
        for line in lines
        for i in range(0, len(line), 7)
        for c in "=[ é"
    ]
    result = parse(*cut, *mutated)
    result.table.validate(full=True)  # valid UTF-8 everywhere, even when cut next to "é"
    assert result.table.num_rows > 0 and result.rejects.num_rows > 0


# The regexes that numpy code replaced: the replacements must agree with them exactly.
IP_REGEX = (
    r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$"
    r"|^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){0,3}[0-9A-Fa-f]*$"
)
HEADER_REGEX = (
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?) "
)


def _mutations(seeds: list[str], alphabet: str, count: int) -> list[str]:
    rng = random.Random(7)
    out = list(seeds)
    for _ in range(count):
        s = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            i = rng.randint(0, len(s))
            s = s[:i] + rng.choice(alphabet) + s[i + rng.randint(0, 2) :]
        out.append(s)
    return out


def test_address_dfa_agrees_with_the_regex() -> None:
    seeds = [
        *("1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "001.2.3.4", "1.2.3", ""),
        *("::1", "fe80::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "::1.2.3.4.5", "::1.2."),
        *("::a1.2.3.4", "a:b", "2001:db8::25.249.1.0", "1:2.3.4.5:6", "1" * 20 + ":" + "f" * 30),
    ]
    values = _mutations(seeds, "0123456789.:abfAF x-\u00e9", 20_000) + [None]
    array = pa.array(values, pa.string())
    want = pc.match_substring_regex(array, IP_REGEX).fill_null(False).to_numpy(False)
    assert (is_ip(array) == want).all()


def test_header_check_agrees_with_the_regex() -> None:
    stamps = [
        *("Nov 20 08:01:02", "Nov  2 08:01:02", "Nov 2 08:01:02", "2021-03-12T14:10:18Z"),
        *("2021-03-12T14:10:18.5", "2021-03-12T14:10:18.123456789+01:00", "2021-03-12T14:10:18-02"),
    ]
    seeds = [f"{pri}{ts} fw kernel: IN=eth0" for pri in ("", "<6>", "<1234>") for ts in stamps]
    lines = _mutations(seeds, "0123456789 :.-+TZ<>Nvoz\u00e9", 20_000)
    result = parse(*lines)
    header_rejects = pc.equal(result.rejects.column(REASON), "unsupported syslog header")
    rejected = set(result.rejects.filter(header_rejects).column(ROW).to_pylist())
    want = pc.match_substring_regex(pa.array(lines), HEADER_REGEX).to_pylist()
    assert [i not in rejected for i in range(len(lines))] == want


def test_views_into_buffers_over_2_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans of a buffer too large for a string view's int32 offsets go through windows (made
    small here): the parse must not change."""
    lines = [UFW.format(dpt=i) for i in range(300)] + ["Nov 20 08:01:02 fw01 x"]
    whole = parse(*lines)
    windows = line_bytes._windows

    def copied_windows(lines: line_bytes.Lines) -> list[pa.Buffer]:
        return [pa.py_buffer(w.to_pybytes()) for w in windows(lines)]  # nothing past their ends

    monkeypatch.setattr(line_bytes, "_windows", copied_windows)
    monkeypatch.setattr(line_bytes, "_INT32", 4096)
    monkeypatch.setattr(line_bytes, "_WINDOW", 1024)
    assert len(copied_windows(line_bytes.line_bytes(pa.array(lines)))) > 10
    assert parse(*lines).table.equals(whole.table)


def test_protocol_lower_case_beyond_ascii() -> None:
    line = "Nov 20 08:01:02 fw kernel: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO={}"
    protocols = ["TCP", "ÅÆØ", "ICMPv6-OVER-LONG-NAME", "İ"]
    got = parse(*[line.format(p) for p in protocols]).table.column("protocol")
    assert got.to_pylist() == pc.utf8_lower(pa.array(protocols)).to_pylist()


def test_batch_without_any_equals_sign_is_rejected_not_crashed() -> None:
    """Found by the robustness suite: a chunk with no '=' at all (e.g. one empty line)."""
    result = parse_iptables(pa.array(["", "no keys here"]), ParseContext())
    assert result.table.num_rows == 0
    assert result.rejects.column("row").to_pylist() == [0, 1]
