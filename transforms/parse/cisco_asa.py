"""Parser for Cisco ASA and Firepower Threat Defense (FTD) syslog: `%ASA-<sev>-<id>: text`.

An ASA writes its own timestamp (`Apr 17 2020 14:08:08`, with the year), optionally its
device id, then the message tag; a syslog relay may put a BSD or RFC 3339 header in front
instead. Per batch: `find_substring_regex` locates the tag, a short anchored regex reads
severity and message id, the header before it goes through syslog_header (the ASA's own
timestamp rewritten to RFC 3339 first, so year, timezone and validation are the shared ones),
and each message id's rows are matched by that id's one regex (cisco_asa_messages) and merged
back by row: every line meets one message regex, no per-row Python.

Columns: event_id is the message id, event_type its kind (connection, deny, aaa, vpn,
admin_login), severity the ASA level's name (informational ...), action drop for denies,
allow for connections built or torn down and access lists' permits, outcome success/failure
for logins, AAA and VPN sessions where the message says so. Identity-firewall and AAA users go
to actor_user (masked `*****` names are null). Lines without the tag are rejected (`not a
cisco-asa line`), other message ids with `cisco-asa message id not supported`, a supported id
whose text does not fit its layout with `cisco-asa message not recognised`; malformed
addresses and numbers with the shared fixed reasons.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.cisco_asa_messages import DIRECT, MESSAGES, message_columns
from transforms.parse.firewall_fields import (
    PORT_LIMIT,
    addresses,
    integers,
    ip_versions,
    lookup,
    mask,
    nonempty,
    scatter,
)
from transforms.parse.line_bytes import line_bytes, substrings
from transforms.parse.syslog_header import EMPTY_LINE, RowErrors, parse_header

NOT_ASA = "not a cisco-asa line"
UNSUPPORTED_ID = "cisco-asa message id not supported"
UNRECOGNISED = "cisco-asa message not recognised"

_FIND = r"%(?:ASA|FTD)-"
_TAG = r"^%(?:ASA|FTD)-(?:[A-Za-z_]{1,20}-)?(?P<sev>[0-7])-(?P<id>\d{6}): ?(?P<msg>)"
_TAG_ROOM = 48  # the tag's longest form fits in these bytes
_ASA_TIME = (
    r"^(?P<pri><\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<year>\d{4}) "
    r"(?P<clock>\d\d:\d\d:\d\d)(?P<rest>(?: .*)?)$"
)
_MONTHS = {m: f"{i:02d}" for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
)}  # fmt: skip
_SEVERITIES = pa.array(
    ["emergency", "alert", "critical", "error", "warning", "notification", "informational",
     "debugging"]
)  # fmt: skip
_PROTOCOLS = {
    "1": "icmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp", "51": "ah", "58": "icmpv6",
    "132": "sctp", "icmp6": "icmpv6", "ipv6-icmp": "icmpv6",
}  # fmt: skip
_DURATION = r"^(?:(?P<d>\d{1,6})d[: ]?)?(?P<h>\d{1,9})h?:(?P<m>\d{1,2})m?:(?P<s>\d{1,2})s?$"
_COUNT_LIMIT = 10**18 - 1


def parse_cisco_asa(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    n = raw.n
    errors = RowErrors(n)
    errors.flag(~raw.valid | (raw.end <= raw.start), EMPTY_LINE)
    at = pc.fill_null(pc.find_substring_regex(lines, _FIND), -1).to_numpy(zero_copy_only=False)
    tail = raw.start + at
    found = errors.ok & (at >= 0) & (tail < raw.end)
    room = np.minimum(raw.end - tail, _TAG_ROOM)
    tag = pc.extract_regex_span(substrings(raw, tail, room, found), _TAG)
    errors.flag(~mask(tag.is_valid()), NOT_ASA)
    tagged = errors.ok
    spans = {
        k: tag.field(k).values.fill_null(0).to_numpy().reshape(-1, 2)[:, 0] + tail
        for k in ("sev", "id", "msg")
    }
    ids = substrings(raw, spans["id"], np.full(n, 6), tagged)
    header_lines = _header_lines(raw, tail, tagged)
    header = parse_header(line_bytes(header_lines), ctx, errors)

    parts: dict[str, list] = defaultdict(list)
    encoded = pc.dictionary_encode(ids)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    for k, message_id in enumerate(encoded.dictionary.to_pylist()):
        wanted = (codes == k) & errors.ok
        message = MESSAGES.get(message_id)
        if message is None:
            errors.flag(wanted, UNSUPPORTED_ID)
            continue
        rows = np.flatnonzero(wanted)
        start = spans["msg"][rows]
        text = substrings(raw, start, raw.end[rows] - start, np.ones(len(rows), bool))
        matched = pc.extract_regex(text, message.pattern)
        hit = mask(matched.is_valid())
        unrecognised = np.zeros(n, bool)
        unrecognised[rows[~hit]] = True
        errors.flag(unrecognised, UNRECOGNISED)
        rows = rows[hit]
        for column, values in message_columns(matched.filter(pa.array(hit)), message).items():
            parts[column].append((rows, values))
        parts["event_id"].append((rows, pa.repeat(pa.scalar(message_id), len(rows))))

    cols = {name: scatter(n, values, pa.string()) for name, values in parts.items()}
    cols = _typed(cols, n, errors)
    cols["time"], cols["observer"] = header.time(), header.observer(line_bytes(header_lines))
    severity = raw.byte(spans["sev"]).astype(np.int64) - ord("0")
    cols["severity"] = _SEVERITIES.take(pa.array(np.clip(severity, 0, 7)))
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


def _header_lines(raw, tail: np.ndarray, tagged: np.ndarray) -> pa.Array:
    """What precedes the tag (without the ` : ` before it), as a line syslog_header can parse:
    the ASA's own `Mmm dd yyyy hh:mm:ss` becomes RFC 3339 (a naive local time)."""
    end = tail.copy()
    for _ in range(3):  # "host : %ASA", "hh:mm:ss: %ASA", "host %ASA"
        byte = raw.byte(end - 1)
        end -= (end > raw.start) & ((byte == 32) | (byte == ord(":")))
    head = substrings(raw, raw.start, end - raw.start, tagged)
    asa = pc.extract_regex(head, _ASA_TIME)
    rfc3339 = pc.binary_join_element_wise(
        asa.field("pri"), asa.field("year"), "-", lookup(asa.field("mon"), _MONTHS, pa.string()),
        "-", pc.utf8_lpad(asa.field("day"), 2, "0"), "T", asa.field("clock"), asa.field("rest"),
        " -", "",
    )  # fmt: skip
    return pc.coalesce(rfc3339, pc.binary_join_element_wise(head, " -", ""))


def _typed(cols: dict[str, pa.Array], n: int, errors: RowErrors) -> dict[str, pa.Array]:
    """Message columns (strings) as the dataset's types, checked."""
    none = pa.nulls(n, pa.string())
    get = {name: cols.get(name, none) for name in (*DIRECT, "nat_src_ip", "nat_dst_ip")}.get
    out = dict(cols)
    user = nonempty(pc.utf8_trim_whitespace(get("actor_user")))
    masked = pc.match_substring_regex(user, r"^\*+$")
    out["actor_user"] = pc.if_else(pc.fill_null(masked, False), None, user)
    protocol = pc.utf8_lower(get("protocol"))
    out["protocol"] = pc.coalesce(lookup(protocol, _PROTOCOLS, pa.string()), protocol)
    for name in ("src_port", "dst_port"):
        out[name] = integers(get(name), PORT_LIMIT, errors, "port", pa.int32())
    for name in ("icmp_type", "icmp_code"):
        out[name] = integers(get(name), 255, errors, name.replace("_", " "), pa.int16())
    for name in ("bytes_in", "bytes_out"):
        out[name] = integers(get(name), _COUNT_LIMIT, errors, "byte count", pa.int64())
    for side in ("src", "dst"):
        ip = addresses(get(f"{side}_ip"), errors, side)
        nat = addresses(get(f"nat_{side}_ip"), errors, f"nat {side}")
        out[f"{side}_ip"] = ip
        out[f"nat_{side}_ip"] = pc.if_else(pc.fill_null(pc.equal(nat, ip), False), None, nat)
    out["ip_version"] = ip_versions(out["src_ip"], out["dst_ip"])
    out["duration"] = _seconds(get("duration"))
    return out


def _seconds(text: pa.Array) -> pa.Array:
    """`h:mm:ss`, `1h:02m:03s`, `2d 1h:02m:03s` as seconds (null when in another form)."""
    parts = pc.extract_regex(text, _DURATION)

    def number(name: str) -> pa.Array:
        value = parts.field(name)
        return pc.cast(pc.if_else(pc.equal(value, ""), "0", value), pa.int64())

    total = pc.add(pc.multiply(number("d"), 86_400), pc.multiply(number("h"), 3600))
    total = pc.add(pc.add(total, pc.multiply(number("m"), 60)), number("s"))
    return pc.if_else(parts.is_valid(), total, None)


_DETECT = r"%(?:ASA|FTD)-(?:[A-Za-z_]+-)?[0-7]-\d{6}: "


CISCO_ASA = SourceFormat(
    "cisco-asa",
    NETWORK_ACTIVITY,
    parse_cisco_asa,
    lines_matching(_DETECT),
    examples=(
        "Nov 16 2026 08:00:01 fw-asa1 : %ASA-6-302013: Built outbound TCP connection 81234 for outside:198.51.100.20/443 (198.51.100.20/443) to inside:10.20.3.44/53000 (203.0.113.10/53000)",  # noqa: E501
        '<164>Nov 16 08:00:02 fw-asa1 %ASA-4-106023: Deny tcp src outside:203.0.113.7/51515 dst inside:10.20.1.5/22 by access-group "outside_access_in" [0x0, 0x0]',  # noqa: E501
        "Nov 16 2026 08:00:03 fw-asa1 : %ASA-4-722051: Group <GP-Ansatte> User <kari.nordmann> IP <198.51.100.23> IPv4 Address <10.99.0.12> IPv6 address <::> assigned to session",  # noqa: E501
    ),
)
SOURCE_FORMATS = (CISCO_ASA,)
