"""Parser for pf's `filterlog` lines (pfSense, OPNsense) in BSD or RFC 5424 syslog.

pf logs each packet a rule with `log` matched as one CSV record behind the syslog tag
`filterlog[pid]:` (BSD) or `filterlog PROCID MSGID SD` (RFC 5424):

    rule,subrule,anchor,tracker,interface,reason,action,direction,ipversion,
    IPv4: tos,ecn,ttl,id,offset,flags,protocol-id,protocol,length,src,dst,
    IPv6: class,flow-label,hop-limit,protocol,protocol-id,length,src,dst,
    then per protocol: TCP sport,dport,datalen,flags,seq,ack,window,urg,options;
    UDP sport,dport,datalen; ICMP type[,type-specific fields]; others their own fields.

The syslog header comes from syslog_header (numpy over the batch's bytes); one anchored regex
finds where the record starts; `split_pattern` cuts every record at once and each field is
taken from the flat list of values by its per-row position (IPv4 and IPv6 differ before the
addresses). Words are mapped per distinct value. No per-row Python.

Columns: action pass -> allow, block/synproxy-drop -> drop, pf's translation and scrub actions
-> log; the interface goes to in_iface or out_iface by the direction; rule_name is the tracker
(pfSense's stable rule id, OPNsense's rule label), else the rule number; event_type is pf's
reason (`match`, `fragment`, `state-mismatch` ...); ttl is the IPv4 TTL or the IPv6 hop limit;
tcp_flags spell pf's letters (`SA` -> `SYN ACK`); ICMP type words become type and code numbers.
Rejected with fixed reasons: another program's line, a record cut short, an IP version other
than 4 or 6, an unknown action or direction, malformed addresses and numbers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.firewall_fields import (
    INT32_LIMIT,
    PORT_LIMIT,
    addresses,
    integers,
    lookup,
    mask,
    nonempty,
    per_distinct,
    strip_rfc5424_version,
)
from transforms.parse.line_bytes import line_bytes, substrings
from transforms.parse.syslog_header import parse_header

NOT_FILTERLOG = "not a filterlog line"
TRUNCATED = "filterlog record cut short"

# `filterlog[pid]:` (BSD), `filterlog:`, or `filterlog PROCID MSGID SD` (RFC 5424), then the CSV
_TAG = r"^filterlog(?:\[\d{1,10}\]:|:| \S+ \S+ (?:-|(?:\[[^\]]*\])+)) ?(?P<csv>)"
_ACTIONS = {"pass": "allow", "block": "drop", "synproxy-drop": "drop"} | dict.fromkeys(
    ("scrub", "no-scrub", "nat", "no-nat", "binat", "no-binat", "rdr", "no-rdr", "match"), "log"
)
_PROTOCOLS = {"ipv6-icmp": "icmpv6", "icmp6": "icmpv6"}  # names as iptables/our datasets say
_PROTOCOL_IDS = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "58": "icmpv6", "112": "carp"}
# pf's ICMP type words -> (type, code)
_ICMP = {
    "reply": (0, None),
    "unreach": (3, None),
    "unreachproto": (3, 2),
    "unreachport": (3, 3),
    "needfrag": (3, 4),
    "srcquench": (4, None),
    "redirect": (5, None),
    "alternateaddr": (6, None),
    "request": (8, None),
    "routeradvert": (9, None),
    "routersol": (10, None),
    "timexceed": (11, None),
    "paramprob": (12, None),
    "tstamp": (13, None),
    "tstampreply": (14, None),
    "inforeq": (15, None),
    "inforeply": (16, None),
    "maskreq": (17, None),
    "maskreply": (18, None),
}
_TCP_FLAGS = {
    "F": "FIN", "S": "SYN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG", "E": "ECE", "W": "CWR",
}  # fmt: skip


class _Record:
    """Field k of every row's CSV record (k may differ per row), null past a record's end."""

    def __init__(self, csv: pa.Array) -> None:
        parts = pc.split_pattern(csv, ",")
        self.offsets = parts.offsets.to_numpy()[:-1].astype(np.int64)
        self.count = pc.fill_null(pc.list_value_length(parts), 0).to_numpy().astype(np.int64)
        self.values = parts.values

    def __call__(self, k) -> pa.Array:
        present = self.count > k
        if not present.any():
            return pa.nulls(len(self.count), pa.string())
        where = pa.array(np.where(present, self.offsets + k, 0), pa.int64(), mask=~present)
        return self.values.take(where)


def parse_filterlog(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    header = parse_header(strip_rfc5424_version(raw), ctx)
    errors = header.errors
    message = substrings(raw, header.body, raw.end - header.body, errors.ok)
    tag = pc.extract_regex_span(message, _TAG)
    errors.flag(~mask(tag.is_valid()), NOT_FILTERLOG)
    csv_at = header.body + tag.field("csv").values.fill_null(0).to_numpy().reshape(-1, 2)[:, 0]
    field = _Record(substrings(raw, csv_at, raw.end - csv_at, errors.ok))

    version = field(8)
    v4, v6 = mask(pc.equal(version, "4")), mask(pc.equal(version, "6"))
    errors.flag(field.count < 9, TRUNCATED)
    errors.flag(~v4 & ~v6, "unsupported ip version")
    at = np.where(v6, 14, 17)  # the length field, then the addresses and the protocol's fields
    errors.flag(field.count < at + 3, TRUNCATED)

    cols: dict[str, pa.Array] = {"time": header.time(), "observer": header.observer(raw)}
    action = field(6)
    cols["action"] = lookup(action, _ACTIONS, pa.string())
    errors.flag(mask(pc.is_null(cols["action"])), "unsupported filterlog action")
    direction, interface = field(7), nonempty(field(4))
    errors.flag(~mask(pc.is_in(direction, pa.array(["in", "out"]))), "unsupported direction")
    cols["in_iface"] = pc.if_else(pc.equal(direction, "in"), interface, None)
    cols["out_iface"] = pc.if_else(pc.equal(direction, "out"), interface, None)
    cols["rule_name"] = pc.coalesce(nonempty(field(3)), nonempty(field(0)))
    cols["event_type"] = nonempty(field(5))
    cols["ip_version"] = pa.array(np.where(v6, 6, 4), pa.int8())
    cols["src_ip"] = addresses(field(at + 1), errors, "src")
    cols["dst_ip"] = addresses(field(at + 2), errors, "dst")
    cols["length"] = integers(field(at), INT32_LIMIT, errors, "packet length", pa.int32())
    cols["ttl"] = integers(field(11), 255, errors, "ttl", pa.int16())

    number = field(np.where(v6, 13, 15))
    named = pc.utf8_lower(nonempty(field(np.where(v6, 12, 16))))
    named = pc.coalesce(lookup(named, _PROTOCOLS, pa.string()), named)
    cols["protocol"] = pc.coalesce(named, lookup(number, _PROTOCOL_IDS, pa.string()), number)
    protocol = cols["protocol"]
    tcp = mask(pc.equal(protocol, "tcp"))
    ported = tcp | mask(pc.is_in(protocol, pa.array(["udp", "sctp"])))
    for name, k in (("src_port", 3), ("dst_port", 4)):
        value = pc.if_else(pa.array(ported), field(at + k), None)
        cols[name] = integers(value, PORT_LIMIT, errors, "port", pa.int32())
    flags = pc.if_else(pa.array(tcp), nonempty(field(at + 6)), None)
    cols["tcp_flags"] = per_distinct(flags, _flag_names, pa.string())
    icmp = pc.if_else(pc.equal(protocol, "icmp"), field(at + 3), None)
    cols["icmp_type"] = lookup(icmp, {k: t for k, (t, _) in _ICMP.items()}, pa.int16())
    cols["icmp_code"] = lookup(icmp, {k: c for k, (_, c) in _ICMP.items()}, pa.int16())
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


def _flag_names(letters: str | None) -> str | None:
    """pf's TCP flag letters as the space-separated names the dataset uses."""
    if not letters:
        return None
    return " ".join(_TCP_FLAGS.get(letter, letter) for letter in letters)


_DETECT = r"(?:^|\s)filterlog(?:\[\d+\]:|:| \S+ \S+ (?:-|\[.*\])) ?\d*,\d*,[^,]*,[^,]*,[^,]*,"


FILTERLOG = SourceFormat(
    "filterlog",
    NETWORK_ACTIVITY,
    parse_filterlog,
    lines_matching(_DETECT),
    examples=(
        "<134>Nov 16 08:00:01 fw1 filterlog[41512]: 5,,,1000000103,igb0,match,block,in,4,0x0,,51,24012,0,DF,6,tcp,60,203.0.113.7,10.20.1.5,51515,22,0,S,3284713590,,64240,,mss;sackOK;TS;nop;wscale",  # noqa: E501
        '<134>1 2026-11-16T08:00:02.123456+01:00 opnsense.fjordvik.local filterlog 41512 - [meta sequenceId="7"] 77,,,02f4bab031b57d1e30553ce08e0ec131,vtnet1,match,pass,out,4,0x0,,63,0,0,DF,17,udp,76,10.20.3.44,198.51.100.20,53000,123,56',  # noqa: E501
        "Nov 16 08:00:03 fw1 filterlog[41512]: 9,,,1000000108,igb1,match,pass,in,6,0x00,0x00000,64,ipv6-icmp,58,16,2001:db8::7,2001:db8:1::5,datalength=16",  # noqa: E501
    ),
)
SOURCE_FORMATS = (FILTERLOG,)
