"""Parser for ArcSight Common Event Format (CEF) lines from any vendor, bare or behind syslog.

`CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`
where `\\|` and `\\\\` are escaped in the header and the extension is `key=value` pairs whose
values may hold spaces (a value runs to the space before the next `key=`), with `\\=` and
`\\\\` escaped. An unescaped '=' in a value (as in URLs) is taken as text when what precedes it
is no key. The header is split and the pairs tokenised for a whole batch at once (numpy, eight
bytes at a time); only the keys below are kept.

Mapping: time = rt, else start, else end (epoch milliseconds, `MMM dd [yyyy] HH:mm:ss[.SSS]
[zone]` or ISO 8601; without a zone in `dtz`, else the context's timezone), else the syslog
header's time; observer = dvchost, else the syslog host, else deviceExternalId, else dvc;
event_id = Signature ID; event_type = cat; severity = Severity (lower case); action = act
mapped; outcome = outcome mapped; src/dst (c6a2/c6a3 for IPv6), spt/dpt, proto, suser →
actor_user, shost → device, request → url, app, in → bytes_out and out → bytes_in (CEF counts
`in` from source to destination), sourceTranslatedAddress / destinationTranslatedAddress → NAT,
deviceInbound/OutboundInterface; csN by their csNLabel: rule / policy → rule_name, threat /
virus / signature → threat_name, URL category, VPN tunnel, session id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.distinct import map_distinct
from transforms.parse import cef_time
from transforms.parse import firewall_words as fw
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.keyvalue import MAX_TOKENS, ROW_STEP, Fields, KeyTable, unescaped
from transforms.parse.line_bytes import (
    Lines,
    equal_bytes,
    first_flag,
    line_bytes,
    non_digits,
    outside,
    pattern,
)
from transforms.parse.syslog_header import EMPTY_LINE, RowErrors
from transforms.parse.timestamps import utc_timestamps

NOT_CEF = "not a CEF line"
_HEADER = ("version", "vendor", "product", "device_version", "signature", "name", "severity")
_LABELLED = {
    "rule_name": {"rule", "rulename", "policy", "policyname", "firewallrule", "aclname"},
    "threat_name": {"threat", "threatname", "virus", "virusname", "signature", "attack",
                    "attackname", "signaturename"},
    "url_category": {"urlcategory", "webcategory", "category"},
    "vpn_tunnel": {"vpn", "vpntunnel", "tunnel", "tunnelname", "grouppolicy", "vpngroup"},
    "session_id": {"sessionid", "session", "flowid"},
    "app": {"application", "applicationname", "appname"},
}  # fmt: skip
_STRINGS = ("cs1", "cs2", "cs3", "cs4", "cs5", "cs6")
_KEYS = KeyTable(
    (
        "rt", "start", "end", "dtz", "src", "dst", "spt", "dpt", "proto", "act", "suser", "shost",
        "dvchost", "dvc", "deviceExternalId", "request", "app", "cat", "outcome", "in", "out",
        "sourceTranslatedAddress", "destinationTranslatedAddress", "deviceInboundInterface",
        "deviceOutboundInterface", "c6a2", "c6a3", *_STRINGS, *(f"{s}Label" for s in _STRINGS),
    )
)  # fmt: skip


def parse_cef(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    errors = RowErrors(raw.n)
    errors.flag(~raw.valid | (raw.end <= raw.start), EMPTY_LINE)
    at = pc.find_substring(lines, "CEF:").fill_null(-1).to_numpy(zero_copy_only=False)
    begin = raw.start + np.maximum(at, 0) + 4
    digits = first_flag(non_digits(raw.load(begin)))
    is_cef = (at >= 0) & (digits >= 1) & (digits <= 3) & (raw.byte(begin + digits) == 124)
    errors.flag(~is_cef, NOT_CEF)
    header, complete = _header(raw, np.where(is_cef, begin, raw.end))
    errors.flag(~complete, "incomplete CEF header")
    ext = np.where(complete, header.end[-1] + 1, raw.end)
    f, too_many = _pairs(raw, ext, _KEYS)
    errors.flag(too_many, "too many fields")
    text = {name: f.text(name) for name in _KEYS.keys if name not in _NOT_TEXT}
    prefix_time, prefix_host = cef_time.syslog_prefix(raw, np.where(is_cef, at, 0), ctx)

    cols: dict[str, pa.Array] = {}
    micros, ok = cef_time.event_time(text, prefix_time, ctx)
    errors.flag(~ok, "no event time")
    cols["time"] = utc_timestamps(micros, ok)
    cols["observer"] = pc.coalesce(
        text["dvchost"], prefix_host, text["deviceExternalId"], text["dvc"]
    )
    cols["event_id"] = header.text("signature")
    cols["event_type"] = text["cat"]
    cols["severity"] = fw.lower(header.text("severity"))
    cols["action"] = fw.actions(text["act"])
    cols["outcome"] = fw.outcomes(text["outcome"])
    address = {}
    for key, reason in (("src", "src"), ("c6a2", "src"), ("dst", "dst"), ("c6a3", "dst")):
        address[key], bad = f.address(key)
        errors.flag(bad, f"invalid {reason} address")
    cols["src_ip"] = pc.coalesce(address["src"], address["c6a2"])
    cols["dst_ip"] = pc.coalesce(address["dst"], address["c6a3"])
    cols["ip_version"] = fw.ip_versions(cols["src_ip"], cols["dst_ip"])
    cols["nat_src_ip"], _ = f.address("sourceTranslatedAddress")
    cols["nat_dst_ip"], _ = f.address("destinationTranslatedAddress")
    for key, column in (("spt", "src_port"), ("dpt", "dst_port")):
        value, valid, bad = f.number(key, 65535)
        errors.flag(bad, "invalid port")
        cols[column] = pa.array(value, pa.int32(), mask=~valid)
    for key, column in (("in", "bytes_out"), ("out", "bytes_in")):
        value, valid, _ = f.number(key, 10**15)
        cols[column] = pa.array(value, pa.int64(), mask=~valid)
    cols["protocol"] = fw.protocols(text["proto"])
    cols["actor_user"] = text["suser"]
    cols["device"] = text["shost"]
    cols["in_iface"] = text["deviceInboundInterface"]
    cols["out_iface"] = text["deviceOutboundInterface"]
    cols["url"] = fw.web_urls(text["request"], None, pc.equal(cols["dst_port"], 443))
    labelled = _labelled(text)
    cols["app"] = pc.coalesce(text["app"], labelled.pop("app"))
    cols.update(labelled)
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


# Keys read as addresses or numbers, never as text.
_NOT_TEXT = {
    "src", "dst", "c6a2", "c6a3", "spt", "dpt", "in", "out", "sourceTranslatedAddress",
    "destinationTranslatedAddress",
}  # fmt: skip


def _labelled(text: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Columns taken from custom strings csN by what their csNLabel says."""
    out: dict[str, list[pa.Array]] = {column: [] for column in _LABELLED}
    for s in _STRINGS:
        label = map_distinct(
            text[f"{s}Label"], lambda ls: ["".join(c for c in x.lower() if c.isalnum()) for x in ls]
        )
        for column, words in _LABELLED.items():
            hit = pc.fill_null(pc.is_in(label, pa.array(sorted(words))), False)
            out[column].append(pc.if_else(hit, text[s], None))
    return {column: pc.coalesce(*parts) for column, parts in out.items()}


def _header_unescape(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"\\([|\\])", r"\1")


def _extension_unescape(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"\\([=\\|])", r"\1")


def _header(raw: Lines, begin: np.ndarray) -> tuple[Fields, np.ndarray]:
    """The seven header fields from the version on (each ends at an unescaped '|'), and
    whether all seven were found."""
    n = len(begin)
    start = np.full((len(_HEADER), n), -1, np.int64)
    end = np.full((len(_HEADER), n), -1, np.int64)
    cur, complete = begin.copy(), begin < raw.end
    for i in range(len(_HEADER)):
        pipe, missing = unescaped(raw, cur, raw.end, 124)
        complete &= ~missing
        start[i], end[i] = np.where(complete, cur, -1), np.where(complete, pipe, -1)
        cur = np.where(complete, pipe + 1, raw.end)
    quoted = np.ones(start.shape, bool)  # any header field may hold escapes
    names = {name: i for i, name in enumerate(_HEADER)}
    return Fields(raw, names, start, end, quoted, _header_unescape), complete


_DIGIT, _UPPER, _LOWER = (pattern(*[r] * 8) for r in ("0-9", "A-Z", "a-z"))
_MAX_KEY = 32


def _not_key_bytes(x: np.ndarray) -> np.ndarray:
    """High bit set in every byte that cannot be in a key (letters, digits, '_', '.', '-')."""
    flags = outside(x, _DIGIT) & outside(x, _UPPER) & outside(x, _LOWER)
    return flags & ~(equal_bytes(x, 95) | equal_bytes(x, 46) | equal_bytes(x, 45))


def _key_before(raw: Lines, eq: np.ndarray, floor: np.ndarray, first: bool):
    """(start of the key in front of each '=', whether it is one): key bytes back to a space
    (or, for the first key, back to `floor`), at most _MAX_KEY of them, not before `floor`.
    Reads the eight bytes before a position at a time, last byte first."""
    start = eq.copy()
    stop = np.full(len(eq), -1, np.int64)  # the byte that ended the key (-1: the floor)
    going = np.arange(len(eq))
    for _ in range(_MAX_KEY // 8):
        at = start[going]
        word = raw.load(at - 8).byteswap()  # the eight bytes before `at`, the last one first
        back = first_flag(_not_key_bytes(word))  # key bytes before the first non-key byte
        room = np.clip(at - floor[going], 0, 8)
        back = np.minimum(back, room)
        start[going] = at - back
        ended = back < 8
        hit_floor = back == room
        stop[going[ended & ~hit_floor]] = raw.byte(at - back - 1)[ended & ~hit_floor]
        going = going[~ended]
        if not len(going):
            break
    ok = (start < eq) & (stop == 32)
    if first:
        ok |= (start < eq) & (start == floor) & (stop == -1)
    if len(going):
        ok[going] = False  # longer than _MAX_KEY: no key
    return start, ok


def _next_key(raw: Lines, frm: np.ndarray, lim: np.ndarray, first: bool):
    """(key start, its '=', found) of the next `key=` at or after `frm` in each row."""
    eq, missing = unescaped(raw, frm, lim, 61)
    start, found = np.zeros(len(frm), np.int64), np.zeros(len(frm), bool)
    todo = np.flatnonzero(~missing)
    for _ in range(MAX_TOKENS):
        if not len(todo):
            break
        k, ok = _key_before(raw, eq[todo], frm[todo], first)
        start[todo[ok]], found[todo[ok]] = k[ok], True
        todo = todo[~ok]
        eq[todo], missing = unescaped(raw, eq[todo] + 1, lim[todo], 61)
        todo = todo[~missing]
    return start, eq, found


def _pairs(raw: Lines, ext: np.ndarray, keys: KeyTable) -> tuple[Fields, np.ndarray]:
    """The wanted keys' values of the extension of each row (the first occurrence wins), and
    the rows with more than MAX_TOKENS pairs."""
    n, k = raw.n, len(keys.keys)
    start, end = np.full((k, n), -1, np.int64), np.full((k, n), -1, np.int64)
    too_many = np.zeros(n, bool)
    for lo in range(0, n, ROW_STEP):
        rows = np.arange(lo, min(lo + ROW_STEP, n))
        ks, eq, found = _next_key(raw, ext[rows], raw.end[rows], first=True)
        rows, ks, eq = rows[found], ks[found], eq[found]
        for _ in range(MAX_TOKENS):
            if not len(rows):
                break
            lim = raw.end[rows]
            value = eq + 1
            nks, neq, more = _next_key(raw, value, lim, first=False)
            v_end = np.where(more, nks - 1, lim)
            trail = np.flatnonzero((v_end > value) & (raw.byte(v_end - 1) == 32))
            for _ in range(64):  # spaces at a value's end belong to no one
                if not len(trail):
                    break
                v_end[trail] -= 1
                trail = trail[(v_end[trail] > value[trail]) & (raw.byte(v_end[trail] - 1) == 32)]
            ids = keys.lookup(raw, ks, eq)
            hit = np.flatnonzero(ids >= 0)
            key, row = ids[hit], rows[hit]
            fresh = start[key, row] < 0
            key, row, hit = key[fresh], row[fresh], hit[fresh]
            start[key, row], end[key, row] = value[hit], v_end[hit]
            rows, ks, eq = rows[more], nks[more], neq[more]
        else:
            too_many[rows] = True
    names = {name: i for i, name in enumerate(keys.keys)}
    quoted = np.ones((k, n), bool)
    return Fields(raw, names, start, end, quoted, _extension_unescape), too_many


# `--source auto`: a CEF header at the start of the message (after a syslog header).
_LINE = r"^[^=|\"]*?\bCEF:\d+\|"


CEF = SourceFormat(
    "cef",
    NETWORK_ACTIVITY,
    parse_cef,
    lines_matching(_LINE),
    examples=(
        "<134>Nov 16 08:01:02 fw-edge-2 CEF:0|Example Networks|EdgeWall|9.1.2|100|Connection denied|5|rt=Nov 16 2026 08:01:02.123 +0100 src=10.20.3.44 spt=51514 dst=198.51.100.20 dpt=443 proto=TCP act=deny suser=kari.nordmann shost=PC-0412 deviceInboundInterface=port1 deviceOutboundInterface=wan1 cs1Label=Rule cs1=Block-Games in=0 out=0",  # noqa: E501
        "CEF:0|Example Networks|Web\\|Gate|4.0|url-block|URL blocked|7|rt=1794812710000 src=10.20.3.45 spt=51530 dst=198.51.100.80 dpt=443 proto=6 act=blocked request=https://games.example.com/play?level\\=2 cs2Label=URL Category cs2=Games suser=ola msg=Blocked by policy \\= games",  # noqa: E501
        "<134>1 2026-11-16T08:07:00Z vpn-gw-1 vpnd - - - CEF:1|Example Networks|VPN Gateway|2.3|tunnel-up|VPN tunnel established|3|start=2026-11-16T08:07:00Z src=198.51.100.99 dst=203.0.113.10 suser=kari.nordmann outcome=success cs3Label=Tunnel cs3=staff-ssl sourceTranslatedAddress=10.212.134.200",  # noqa: E501
    ),
)
SOURCE_FORMATS = (CEF,)
