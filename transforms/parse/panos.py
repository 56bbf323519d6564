"""Parser for Palo Alto Networks PAN-OS syslog in CSV, bare or behind a syslog header.

A PAN-OS line is `FUTURE_USE,receive time,serial,type,subtype,FUTURE_USE,generated time,...`;
fields in double quotes may hold commas. Newer PAN-OS versions only append fields, so the
documented leading positions below hold for 8.x-11.x. The CSV starts at the last space before
the first comma (a syslog header, if any, comes before: its host is the observer when the
line names no device). keyvalue.csv_fields splits the first 60 fields of a whole batch at once.

Types: TRAFFIC, THREAT (url, virus, spyware, vulnerability, file, ... : URL and threat name),
GLOBALPROTECT, USERID and SCTP. Mapping: time = generated time in the context's timezone,
observer = device name (else the syslog host, else the serial), event_type = type/subtype,
event_id = threat id (THREAT), GlobalProtect event id, else TYPE/subtype; action = vendor word
mapped (allow; deny/drop/block-* → drop; reset-* → reject; alert → log); outcome as Elastic's
PAN-OS pipeline (TRAFFIC: allow → success; THREAT: alert/allow/continue → success; else
failure; GLOBALPROTECT: its status). GlobalProtect: src_ip = the client's public address,
nat_src_ip = the address assigned in the tunnel, device = the client machine. Other log types
(SYSTEM, CONFIG, HIPMATCH, ...) are rejected with a fixed reason.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse import firewall_words as fw
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.csv_fields import csv_fields
from transforms.parse.keyvalue import Fields, scan
from transforms.parse.line_bytes import equal_bytes, line_bytes, substrings
from transforms.parse.syslog_header import EMPTY_LINE, RowErrors
from transforms.parse.timestamps import utc_timestamps, ymd_hms_naive, zones_to_utc

FIELDS = 60
_TRAFFIC = {
    "src_ip": 7, "dst_ip": 8, "nat_src_ip": 9, "nat_dst_ip": 10, "rule_name": 11,
    "actor_user": 12, "app": 14, "in_iface": 18, "out_iface": 19, "session_id": 22,
    "src_port": 24, "dst_port": 25, "protocol": 29, "action": 30,
}  # fmt: skip
_LAYOUTS = {  # type -> column -> field position; "need": fields a line must have
    "TRAFFIC": _TRAFFIC | {"bytes_out": 32, "bytes_in": 33, "duration": 36, "url_category": 37,
                           "device_name": 52, "need": 31},
    "THREAT": _TRAFFIC | {"url": 31, "threat": 32, "url_category": 33, "severity": 34,
                          "device_name": 59, "need": 35},
    "SCTP": {"src_ip": 7, "dst_ip": 8, "rule_name": 11, "in_iface": 18, "out_iface": 19,
             "session_id": 22, "src_port": 24, "dst_port": 25, "protocol": 30, "action": 31,
             "device_name": 37, "severity": 42, "need": 32},
    "GLOBALPROTECT": {"gp_event": 8, "actor_user": 12, "device": 14, "src_ip": 15,
                      "src_ipv6": 16, "nat_src_ip": 17, "nat_src_ipv6": 18, "status": 28,
                      "duration": 30, "portal": 33, "gateway": 41, "device_name": 47,
                      "need": 29},
    "USERID": {"src_ip": 8, "actor_user": 9, "src_port": 14, "dst_port": 15,
               "device_name": 25, "need": 10},
}  # fmt: skip
_TYPES = tuple(_LAYOUTS)
_OTHER_TYPES = (
    "SYSTEM", "CONFIG", "HIPMATCH", "HIP-MATCH", "DECRYPTION", "AUTHENTICATION", "CORRELATION",
    "GTP", "IPTAG", "START", "END", "TUNNEL", "AUDIT",
)  # fmt: skip
_NAMES = sorted({name for layout in _LAYOUTS.values() for name in layout if name != "need"})
_INDEX = np.full((len(_NAMES), len(_TYPES) + 1), -1, np.int64)  # last column: no known type
for _t, _layout in enumerate(_LAYOUTS.values()):
    for _name, _pos in _layout.items():
        if _name != "need":
            _INDEX[_NAMES.index(_name), _t] = _pos
_NEED = np.array([layout["need"] for layout in _LAYOUTS.values()] + [0])


def parse_panos(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    errors = RowErrors(raw.n)
    errors.flag(~raw.valid | (raw.end <= raw.start), EMPTY_LINE)
    begin, found = _csv_start(raw)
    errors.flag(~found, "not a PAN-OS log line")
    csv, count, unterminated = csv_fields(raw, np.where(found, begin, raw.end), FIELDS)
    kind_text = csv.text("3")
    code = pc.index_in(kind_text, pa.array(_TYPES)).fill_null(len(_TYPES)).to_numpy(False)
    other = pc.is_in(kind_text, pa.array(_OTHER_TYPES)).fill_null(False).to_numpy(False)
    errors.flag(other, "unsupported PAN-OS log type")
    errors.flag(count < 7, "not a PAN-OS log line")
    errors.flag(code == len(_TYPES), "not a PAN-OS log line")
    errors.flag(unterminated, "unterminated quoted field")
    errors.flag(count < _NEED[code], "too few fields for its log type")
    f = _by_type(csv, code)

    cols: dict[str, pa.Array] = {"time": _time(csv, ctx, errors)}
    kind = pc.utf8_lower(kind_text)
    subtype = csv.text("4")
    plain = pc.or_(pc.is_in(kind, pa.array(["globalprotect", "sctp"])), pc.equal(subtype, "0"))
    cols["event_type"] = pc.if_else(
        pc.fill_null(plain, True), kind, pc.binary_join_element_wise(kind, subtype, "/")
    )
    threat = pc.extract_regex(f.text("threat"), r"^(?P<name>.*?)\s*\((?P<id>\d+)\)\s*$")
    threat_id = pc.if_else(threat.is_valid(), threat.field("id"), None)
    name = pc.if_else(threat.is_valid(), threat.field("name"), f.text("threat"))
    cols["threat_name"] = pc.if_else(pc.equal(name, ""), None, name)
    cols["event_id"] = pc.coalesce(
        threat_id, f.text("gp_event"), pc.binary_join_element_wise(kind_text, subtype, "/")
    )
    action = f.text("action")
    cols["action"] = fw.actions(action)
    cols["outcome"] = _outcome(kind, action, f.text("status"))
    for name in ("rule_name", "in_iface", "out_iface", "session_id", "app", "url_category",
                 "actor_user", "device"):  # fmt: skip
        cols[name] = f.text(name)
    cols["severity"] = fw.lower(f.text("severity"))
    cols["protocol"] = fw.protocols(f.text("protocol"))
    serial = csv.text("2")
    cols["observer"] = pc.coalesce(f.text("device_name"), _syslog_host(raw, begin, found), serial)
    cols["vpn_tunnel"] = pc.coalesce(f.text("gateway"), f.text("portal"))

    address = {}
    for name in ("src_ip", "dst_ip", "src_ipv6", "nat_src_ip", "nat_src_ipv6", "nat_dst_ip"):
        value, bad = f.address(name)
        if name in ("src_ip", "dst_ip"):
            errors.flag(bad, f"invalid {name[:3]} address")
        address[name] = pc.if_else(pc.equal(value, "0.0.0.0"), None, value)
    cols["src_ip"] = pc.coalesce(address["src_ip"], address["src_ipv6"])
    cols["dst_ip"] = address["dst_ip"]
    cols["nat_src_ip"] = pc.coalesce(address["nat_src_ip"], address["nat_src_ipv6"])
    cols["nat_dst_ip"] = address["nat_dst_ip"]
    cols["ip_version"] = fw.ip_versions(cols["src_ip"], cols["dst_ip"])
    for name in ("src_port", "dst_port"):
        value, ok, bad = f.number(name, 65535)
        errors.flag(bad, "invalid port")
        cols[name] = pa.array(value, pa.int32(), mask=~ok)
    for name in ("bytes_out", "bytes_in", "duration"):
        value, ok, _ = f.number(name, 10**15)
        cols[name] = pa.array(value, pa.int64(), mask=~ok)
    https = pc.equal(cols["dst_port"], 443)
    url = fw.web_urls(f.text("url"), None, https)  # THREAT's field 31 names a file elsewhere
    cols["url"] = pc.if_else(pc.fill_null(pc.equal(subtype, "url"), False), url, None)
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


def _csv_start(raw) -> tuple[np.ndarray, np.ndarray]:
    """Where the CSV starts: after the last space before the first comma, within 24 bytes
    (the first field is a short number); whether there is such a start."""
    comma = scan(raw, raw.start, raw.end, lambda x: equal_bytes(x, 44))
    begin, going = comma.copy(), comma < raw.end
    for _ in range(24):
        prev = begin - 1
        stop = (prev < raw.start) | (raw.byte(prev) == 32)
        step = going & ~stop
        begin = np.where(step, prev, begin)
        going = step
    return begin, (comma < raw.end) & ~going


def _by_type(csv: Fields, code: np.ndarray) -> Fields:
    """The named columns of each row, from the positions of its log type."""
    shape = (len(_NAMES), len(code))
    start, end, quoted = np.full(shape, -1), np.full(shape, -1), np.zeros(shape, bool)
    for t in np.unique(code[code < len(_TYPES)]):
        rows = slice(None) if (code == t).all() else np.flatnonzero(code == t)
        for i, pos in enumerate(_INDEX[:, t]):
            if pos >= 0:
                start[i, rows], end[i, rows] = csv.start[pos, rows], csv.end[pos, rows]
                quoted[i, rows] = csv.quoted[pos, rows]
    names = {name: i for i, name in enumerate(_NAMES)}
    return Fields(csv.raw, names, start, end, quoted, csv.unescape, csv.escape_byte)


def _time(csv: Fields, ctx: ParseContext, errors: RowErrors) -> pa.Array:
    """The generated time `YYYY/MM/DD hh:mm:ss`, in the context's timezone."""
    valid, start, length = csv.span("6")
    valid &= (length == 19) & (csv.raw.byte(start + 10) == 32)
    naive, ok = ymd_hms_naive(csv.raw, start, start + 11, valid, "/")
    micros, ok = zones_to_utc(naive, ok, None, ctx.timezone)
    errors.flag(~ok, "invalid timestamp")
    return utc_timestamps(micros, ok)


def _outcome(kind: pa.Array, action: pa.Array, status: pa.Array) -> pa.Array:
    """As Elastic's PAN-OS pipeline: TRAFFIC allow, THREAT alert/allow/continue → success,
    other actions failure; GLOBALPROTECT: its status."""
    ok_words = pc.if_else(
        pc.equal(kind, "threat"),
        pc.is_in(action, pa.array(["alert", "allow", "continue"])),
        pc.equal(action, "allow"),
    )
    judged = pc.and_(pc.is_in(kind, pa.array(["traffic", "threat"])), pc.is_valid(action))
    verdict = pc.if_else(ok_words, "success", "failure")
    return pc.coalesce(fw.outcomes(status), pc.if_else(pc.fill_null(judged, False), verdict, None))


_HEADER_HOST = (
    r"^(?:<\d{1,3}>)?(?:1 )?(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)"
    r" (?P<host>[^\s\[\]=]+) "
)


def _syslog_host(raw, begin: np.ndarray, found: np.ndarray) -> pa.Array:
    """The host of a syslog header in front of the CSV (null when there is none)."""
    prefix = substrings(raw, raw.start, np.where(found, begin - raw.start, 0), found)
    host = pc.extract_regex(prefix, _HEADER_HOST)
    return pc.if_else(host.is_valid(), host.field("host"), None)


# `--source auto`: CSV whose fourth field is a PAN-OS log type, after a serial.
_LINE = (
    r"^(?:[^,]* )?\d*,\d{4}/\d\d/\d\d \d\d:\d\d:\d\d,[^,]*,(?:"
    + "|".join(t.replace("-", r"\-") for t in _TYPES + _OTHER_TYPES)
    + "),"
)


PANOS = SourceFormat(
    "panos",
    NETWORK_ACTIVITY,
    parse_panos,
    lines_matching(_LINE),
    examples=(
        "<14>Nov 16 08:01:02 PA-3220-HQ 1,2026/11/16 08:01:02,016201004321,TRAFFIC,end,2817,2026/11/16 08:01:01,10.20.3.44,198.51.100.20,203.0.113.2,198.51.100.20,Allow-Web,fjordvik\\kari.nordmann,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Forward-Logs,2026/11/16 08:01:02,40211,1,51514,443,61514,443,0x400053,tcp,allow,17732,2310,15422,39,2026/11/16 08:00:30,31,computer-and-internet-info,,7215038,0x0,10.0.0.0-10.255.255.255,Norway,,18,21,tcp-fin,0,0,0,0,,PA-3220-HQ,from-policy,,,0,,0,,N/A,0,0,0,0",  # noqa: E501
        '<14>Nov 16 08:05:10 PA-3220-HQ 1,2026/11/16 08:05:10,016201004321,THREAT,url,2817,2026/11/16 08:05:10,10.20.3.44,198.51.100.80,203.0.113.2,198.51.100.80,Allow-Web,fjordvik\\kari.nordmann,,web-browsing,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Forward-Logs,2026/11/16 08:05:10,40299,1,51530,80,61530,80,0x40b000,tcp,block-url,"games.example.com/play?level=2,4",(9999),games,informational,client-to-server,7215099,0x0,10.0.0.0-10.255.255.255,Norway,,text/html,0,,,1,"Mozilla/5.0",,,,,,,0,0,0,0,,PA-3220-HQ,',  # noqa: E501
        '1,2026/11/16 08:07:00,016201004321,GLOBALPROTECT,0,2817,2026/11/16 08:07:00,vsys1,gateway-connected,connected,,SSL,fjordvik\\kari.nordmann,NO,NXC-LT-0412,198.51.100.99,0.0.0.0,10.212.134.200,0.0.0.0,6c1f3e2a-8b7d-4c19-9e55-0a2f7d1c4b90,PF3K9Z2A,6.2.4,Microsoft Windows,"Microsoft Windows 11 Enterprise , 64-bit",1,,,"",success,,0,user-logon,0,GP-Portal-HQ,7215101,0x8000000000000000,2026-11-16T08:07:00.123+01:00,,,,,GP-Gateway-HQ,0,0,0,0,,PA-3220-HQ,1',  # noqa: E501
    ),
)
SOURCE_FORMATS = (PANOS,)
