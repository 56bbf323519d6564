"""Parser for netfilter LOG lines (iptables, nftables, UFW, EdgeOS/Ubiquiti) wrapped in syslog.

Firewall logs are the largest source loggvern ingests, so this parser is built for throughput.
A netfilter line is `[prefix]IN=.. OUT=.. [MAC=..] SRC=.. DST=.. LEN=.. ... PROTO=.. SPT=..`.
RE2 capture groups cost several ns per matched byte and a line has ~20 fields, so instead of a
regex per field this module finds every '=' of the batch in one numpy pass, recognises a key by
the four bytes in front of its '=' (a perfect hash into a small table), keeps each key's first
occurrence per row with one `np.minimum.at`, and decodes values straight from the bytes with
the SWAR helpers of line_bytes (addresses are checked by its DFA). Only the few distinct log
prefixes are classified with regexes, once per batch. Batches are parsed in chunks of 16k rows
so the working set stays in the CPU caches: numbers go into batch-wide numpy arrays, strings
are copied out per chunk, and the Arrow columns are assembled once per batch.

Rules: keys count only after `IN=`, the first occurrence wins, and keys inside an ICMP error's
nested `[SRC=... ]` payload are ignored. `action` comes from the log prefix: EdgeOS
`[set-rule-A|D|R]`, UFW `[UFW BLOCK|ALLOW|AUDIT]` or keywords (reject; drop/deny/block;
accept/allow/pass/permit; log/audit), null when the prefix says nothing. `MAC=` splits into
dst_mac and src_mac when it holds at least 12 bytes. A malformed address or number rejects the
row; reasons are fixed texts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.line_bytes import (
    LineBatch,
    Lines,
    Strings,
    byte_at,
    equal_bytes,
    first_flag,
    int_array,
    ip_like,
    non_digits,
    non_spaces,
    numbers,
    outside,
    pattern,
    spaces,
)
from transforms.parse.syslog_header import RowErrors, parse_header

NOT_NETFILTER = "not a netfilter log line"

# The four bytes in front of each wanted key's '=' (IN= is matched on its own, see _keys).
_KEYS = (
    " OUT",
    " MAC",
    " SRC",
    " DST",
    " LEN",
    " TTL",
    "IMIT",
    "ROTO",
    " SPT",
    " DPT",
    "TYPE",
    "CODE",
    " RES",
    "URGP",
    " UID",
    " GID",
    "USER",
    "[SRC",
)
_CODES = np.array([int.from_bytes(k.encode(), "little") for k in _KEYS], np.uint32)
_K = len(_KEYS) + 2  # column 0: any other key, 1..len(_KEYS): _KEYS, last: IN
_IN = _K - 1
_MUL = next(
    m
    for m in range(1, 1 << 20, 2)
    if len({(int(c) * m & 0xFFFFFFFF) >> 24 for c in _CODES}) == len(_CODES)
)
_SLOT = np.zeros(256, np.uint64)  # perfect hash slot -> key number << 32 | its code
_SLOT[(_CODES * np.uint32(_MUL)) >> np.uint32(24)] = _CODES | (np.arange(1, _K - 1) << 32)
_WORD = np.zeros(256, bool)
_WORD[
    np.frombuffer(b"0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
] = 1
_NONE = np.iinfo(np.int64).max
_KERNEL = int.from_bytes(b"kernel:", "little")
_COLONS = int.from_bytes(b"\0\0:\0\0:\0\0", "little")  # MAC separators every third byte


def _not_uptime(x: np.ndarray) -> np.ndarray:
    """Flags bytes that cannot be inside an uptime stamp `[ 1234.567890]`."""
    return non_digits(x) & ~spaces(x) & ~equal_bytes(x, ord("."))


class _Span(NamedTuple):
    """A key's value in every row: is the key there, where its value starts, how long it is
    (0 when absent), and its first 8 (or 16) bytes, loaded already."""

    present: np.ndarray
    start: np.ndarray
    length: np.ndarray
    words: tuple

    def put(self, column: Strings, raw: Lines, edit=None) -> None:
        """Add the values to a string column (null when absent or empty)."""
        valid = self.present & (self.length > 0)
        column.put(raw, self.start, self.length, valid, self.words, edit)


class _Fields:
    """The first occurrence of every wanted key per row, as the position of its '='.

    IN= must be the first '=' of the message (so a log prefix may not contain '='); keys at or
    after a nested "[SRC=" (an ICMP error's payload) do not count."""

    def __init__(self, raw: Lines, body: np.ndarray) -> None:
        n, self.raw = raw.n, raw
        pos = np.flatnonzero(raw.data == 61)
        first = np.searchsorted(pos, raw.start)
        row = np.repeat(np.arange(n), np.diff(np.append(first, len(pos))))
        key = _keys(raw, pos)
        at = _first_from(pos, first, body)  # the first '=' of each message
        in_pos = pos[np.minimum(at, len(pos) - 1)] if len(pos) else np.zeros(n, np.int64)
        code = raw.load(in_pos - 4)
        is_in = (at < len(pos)) & (in_pos < raw.end) & (in_pos >= 4)
        is_in &= ((code >> np.uint64(16)) & np.uint64(0xFFFF)) == 0x4E49  # "IN", not "PHYSIN"
        is_in &= ~_WORD[byte_at(code, 1)]
        self.in_at = np.where(is_in, in_pos, _NONE)
        key[_ranges(first, at)] = 0  # a '=' before the message (inside the syslog header)
        key[at[is_in]] = _IN
        table = np.full(_K * n, _NONE, np.int64)
        np.minimum.at(table, key * n + row, pos)
        self.table = table.reshape(_K, n)
        self.nested = self.table[_KEYS.index("[SRC") + 1]

    def at(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(present, value start) of a key for every row."""
        col = self.table[_IN if key == "IN" else _KEYS.index(key) + 1]
        present = col < self.nested
        return present, np.where(present, col + 1, 0)

    def span(self, key: str) -> _Span:
        """A key's value, which runs to the next space."""
        present, start = self.at(key)
        head = self.raw.load(start)
        end = self.raw.scan(start, np.where(present, self.raw.end, start), spaces, head)
        return _Span(present, start, end - start, (head,))

    def address(self, key: str) -> _Span:
        """Like `span`, for values mostly up to 15 bytes long: reads 16 bytes at once and
        passes them on, for the address check and the string column."""
        present, start = self.at(key)
        words = self.raw.load(start), self.raw.load(start + 8)
        limit = np.where(present, self.raw.end, start)
        first = first_flag(spaces(words[0]))
        idx = np.where(first < 8, first, 8 + first_flag(spaces(words[1])))
        end = np.minimum(start + idx, limit)
        more = np.flatnonzero((idx == 16) & (start + 16 < limit))  # no space yet: read on
        end[more] = self.raw.scan(start[more] + 16, limit[more], spaces)
        return _Span(present, start, end - start, words)


def _first_from(pos: np.ndarray, i: np.ndarray, target: np.ndarray) -> np.ndarray:
    """np.searchsorted(pos, target) for a sorted `pos`, knowing it is at most a few steps
    after `i` (the syslog header rarely holds a '='): cheaper than a binary search."""
    i, last = i.copy(), len(pos) - 1
    if last < 0:  # no '=' in the whole batch: every row is "not found"
        return i
    rows = np.flatnonzero((i <= last) & (pos[np.minimum(i, last)] < target))
    for _ in range(4):
        i[rows] += 1
        rows = rows[(i[rows] <= last) & (pos[np.minimum(i[rows], last)] < target[rows])]
    i[rows] = np.searchsorted(pos, target[rows])
    return i


def _ranges(begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """All indices of the ranges [begin[i], end[i]) as one array (usually empty)."""
    length = np.maximum(end - begin, 0)
    offsets = np.cumsum(length) - length
    return np.repeat(begin - offsets, length) + np.arange(length.sum())


def _keys(raw: Lines, pos: np.ndarray) -> np.ndarray:
    """Key number (0 for keys we do not use) of each '=' from the 4 bytes in front of it."""
    code = raw.load(pos - 4).astype(np.uint32)
    slot = _SLOT[((code * np.uint32(_MUL)) >> np.uint32(24)).astype(np.intp)]
    return ((slot >> np.uint64(32)) * ((slot & np.uint64(0xFFFFFFFF)) == code)).astype(np.intp)


def _skip_kernel_tag(raw: Lines, body: np.ndarray) -> np.ndarray:
    """Move past a `kernel:` tag and a `[ 1234.567890]` uptime stamp after the syslog host."""
    x = raw.load(body)
    tagged = (x & np.uint64(0xFFFFFFFFFFFFFF)) == _KERNEL
    body = np.where(tagged, raw.scan(body + 7, raw.end, non_spaces), body)
    after = raw.byte(body + 1)  # "[ 1234.5]": a digit, space or dot after "[" (checked first)
    uptime_char = (after == 32) | (after == 46) | (after - 48 < 10)
    rows = np.flatnonzero((raw.byte(body) == ord("[")) & uptime_char)
    at, end = body[rows], raw.end[rows]
    close = raw.scan(at + 1, np.minimum(end, at + 24), _not_uptime)
    uptime = (close > at + 1) & (raw.byte(close) == ord("]"))
    body[rows[uptime]] = raw.scan(close[uptime] + 1, end[uptime], non_spaces)
    return body


_CHUNK = 16_384  # rows parsed at a time: keeps the working set in the CPU caches
_STRINGS = (
    "observer",
    "prefix",
    "in_iface",
    "out_iface",
    "dst_mac",
    "src_mac",
    "src_ip",
    "dst_ip",
    "protocol",
    "tcp_flags",
    "actor_user",
)
# (key, column, name in reasons, largest value, type): decoded from the bytes
_NUMBERS = (
    (" SPT", "src_port", "port", 65535, pa.int32()),
    (" DPT", "dst_port", "port", 65535, pa.int32()),
    (" LEN", "length", "packet length", 2**31 - 1, pa.int32()),
    (" TTL", "ttl", "ttl", 255, pa.int16()),
    ("IMIT", "hop_limit", "ttl", 255, pa.int16()),
    ("TYPE", "icmp_type", "icmp type", 255, pa.int16()),
    ("CODE", "icmp_code", "icmp code", 255, pa.int16()),
    (" UID", "uid", "uid", 2**31 - 1, pa.int32()),
    (" GID", "gid", "gid", 2**31 - 1, pa.int32()),
)


_UPPER = pattern(*["A-Z"] * 8)
_INLINE_BYTES = np.uint64(0xFFFFFFFF00000000), np.uint64(2**64 - 1)  # of a view's two words
_HIGH = np.uint64(0x8080808080808080)


class _Columns:
    """The batch's columns, filled in chunk by chunk: numbers in numpy arrays, strings as
    `Strings`; `arrays` assembles the Arrow columns."""

    def __init__(self, n: int) -> None:
        self.time = np.zeros(n, np.int64)
        self.strings = {name: Strings() for name in _STRINGS}
        self.values = {column: np.zeros(n, np.int64) for _, column, *_ in _NUMBERS}
        self.present = {column: np.zeros(n, bool) for _, column, *_ in _NUMBERS}
        self.ipv6 = np.zeros(n, bool)
        self.unicode_protocol = False  # a protocol name ASCII lower-casing cannot handle

    def arrays(self) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        cols["time"] = pa.array(self.time, pa.timestamp("us", tz="UTC"))
        strings = {name: s.array() for name, s in self.strings.items()}
        cols["observer"] = strings.pop("observer")
        cols["action"], cols["rule_name"] = _classify_prefixes(strings.pop("prefix"))
        if self.unicode_protocol:
            strings["protocol"] = pc.utf8_lower(strings["protocol"])
        cols.update(strings)
        for _, column, _, _, typ in _NUMBERS:
            values, present = self.values[column], self.present[column]
            if column == "ttl":  # or else the IPv6 hop limit
                values = np.where(present, values, self.values["hop_limit"])
                present = present | self.present["hop_limit"]
            if column != "hop_limit":
                cols[column] = int_array(values, present, typ)
        cols["ip_version"] = pa.array(np.where(self.ipv6, 6, 4).astype(np.int8))
        return cols

    def lower_ascii(self, views: np.ndarray) -> None:
        """Lower-case the ASCII letters of string views in place (instead of pc.utf8_lower),
        noting values that need Unicode rules: non-ASCII, or not inline (over 12 bytes)."""
        inline = (views[:, 0] & np.uint64(0xFFFFFFFF)) <= 12
        self.unicode_protocol |= not inline.all()
        for word, mask in zip(views.T, _INLINE_BYTES, strict=True):
            text = np.where(inline, word & mask, 0)
            self.unicode_protocol |= bool((text & _HIGH).any())
            word |= (~outside(text, _UPPER) & mask & _HIGH) >> np.uint64(2)  # 'A' | 0x20 = 'a'


def parse_iptables(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    batch = LineBatch(lines)
    errors = RowErrors(batch.n)
    out = _Columns(batch.n)
    for lo in range(0, batch.n, _CHUNK):
        hi = min(lo + _CHUNK, batch.n)
        _parse(batch.chunk(lo, hi), ctx, errors.part(lo, hi), out, slice(lo, hi))
    table = conform(errors.accepted(out.arrays()), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


def _parse(raw: Lines, ctx: ParseContext, errors: RowErrors, out: _Columns, rows: slice) -> None:
    """Parse one chunk of lines into rows `rows` of `out`."""
    header = parse_header(raw, ctx, errors)
    out.time[rows] = header.micros
    strings = out.strings
    strings["observer"].put(raw, header.host, header.host_len, header.has_host)
    body = _skip_kernel_tag(raw, header.body)
    f = _Fields(raw, body)
    has_in, _ = f.at("IN")
    src, dst = f.address(" SRC"), f.address(" DST")
    errors.flag(~(has_in & src.present & dst.present), NOT_NETFILTER)

    prefix_end = np.where(f.in_at < _NONE, f.in_at - 2, body)
    strings["prefix"].put(raw, body, prefix_end - body, prefix_end > body)
    f.span("IN").put(strings["in_iface"], raw)
    f.span(" OUT").put(strings["out_iface"], raw)
    _macs(raw, strings, *f.at(" MAC"))
    for name, address in (("src_ip", src), ("dst_ip", dst)):
        address.put(strings[name], raw)
        valid = ip_like(raw, address.start, address.length, address.words)
        errors.flag(~valid, f"invalid {name[:3]} address")
    fe80 = first_flag(equal_bytes(src.words[0], ord(":"))) < 5  # a ':' early on: "fe80:"
    out.ipv6[rows] = src.present & fe80

    for key, column, name, limit, _ in _NUMBERS:
        present, start = f.at(key)
        if present.all():
            value, invalid, too_long = numbers(raw, start, raw.end, len(str(limit)))
        elif present.any():  # decode only the rows that have the key
            found = np.flatnonzero(present)
            value, invalid, too_long = np.zeros(raw.n, np.int64), *np.zeros((2, raw.n), bool)
            value[found], invalid[found], too_long[found] = numbers(
                raw, start[found], raw.end[found], len(str(limit))
            )
        else:
            continue
        bad, too_big = present & invalid, present & (too_long | (value > limit))
        errors.flag(bad, f"invalid {name}")
        errors.flag(too_big, f"{name} out of range")
        out.values[column][rows] = value
        out.present[column][rows] = present & ~bad & ~too_big

    f.span("ROTO").put(strings["protocol"], raw, edit=out.lower_ascii)
    _tcp_flags(raw, strings["tcp_flags"], f.span(" RES"), f.at("URGP"))
    f.span("USER").put(strings["actor_user"], raw)


def _macs(raw: Lines, strings: dict[str, Strings], present, start) -> None:
    """Split `MAC=dst:src:type...` into destination and source MAC. Needs 12 bytes: the first
    35 characters must be ASCII `xx:` groups without a space."""
    ok = present & (start + 35 <= raw.end)
    digits = np.uint64(0x8080008080)  # flags of bytes 0, 1, 3, 4 of a 6-byte group
    words = {}
    for offset in range(0, 31, 6):  # separators at 2, 5, ..., 32: check 6 bytes at a time
        x = words[offset] = raw.load(start + offset)
        sep = np.uint64(0xFF0000FF0000 if offset < 30 else 0xFF0000)
        ok &= (x & sep) == (np.uint64(_COLONS) & sep)
        ok &= ((spaces(x) | (x & np.uint64(0x8080808080808080))) & digits) == 0
    seventeen = np.full(raw.n, 17)
    strings["dst_mac"].put(raw, start, seventeen, ok, (words[0],))
    strings["src_mac"].put(raw, start + 18, seventeen, ok, (words[18],))


def _tcp_flags(raw: Lines, column: Strings, res: _Span, urgp) -> None:
    """The flag words (`SYN`, `ACK PSH`, ...) between `RES=0x..` and `URGP=`."""
    has_urgp, urgp_start = urgp
    begin = res.start + res.length + 1
    end = urgp_start - 6  # 'URGP=' and the space before it
    spaced = raw.byte(end) == 32
    column.put(raw, begin, end - begin, res.present & has_urgp & (end > begin) & spaced)


_ACTIONS = (
    (r"(?i)\bREJECT", "reject"),
    (r"(?i)\b(?:DROP|DENY|BLOCK)", "drop"),
    (r"(?i)\b(?:ACCEPT|ALLOW|PASS|PERMIT)", "allow"),
    (r"(?i)\b(?:LOG|AUDIT)", "log"),
)


def _classify_prefixes(prefix: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(action, rule_name) of each log prefix, classifying each distinct prefix once."""
    if isinstance(prefix, pa.ChunkedArray):  # over 2 GiB of text: one chunk at a time
        parts = [_classify_prefixes(chunk) for chunk in prefix.chunks]
        return tuple(pa.chunked_array(p, pa.string()) for p in zip(*parts, strict=True))
    encoded = pc.dictionary_encode(prefix)
    action, rule = _classify(encoded.dictionary)
    return action.take(encoded.indices), rule.take(encoded.indices)


def _classify(prefixes: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Action and rule name of each distinct prefix (a small array: runs once per batch)."""
    prefixes = pc.utf8_trim_whitespace(prefixes)
    edge = pc.extract_regex(prefixes, r"^\[.+-(?:default|\d+)-(?P<a>[ADR])\]$")
    edge_letter = pc.if_else(edge.is_valid(), edge.field("a"), None)
    conds, values = [], []
    for letter, action in (("A", "allow"), ("D", "drop"), ("R", "reject")):
        conds.append(pc.equal(edge_letter, letter).fill_null(False))
        values.append(action)
    for pattern_, action in _ACTIONS:
        conds.append(pc.match_substring_regex(prefixes, pattern_).fill_null(False))
        values.append(action)
    fields = [str(i) for i in range(len(conds))]
    action = pc.case_when(pc.make_struct(*conds, field_names=fields), *values)
    name = pc.extract_regex(prefixes, r"^\[?(?P<n>.*?)\]?:?$").field("n")
    name = pc.if_else(pc.greater(pc.utf8_length(name), 0).fill_null(False), name, None)
    return action.cast(pa.string()), name


_NETFILTER_LINE = r"(?:^|[\s\]])IN=\S* OUT=\S* .*SRC=[0-9a-fA-F.:]+ DST="


IPTABLES = SourceFormat(
    "iptables",
    NETWORK_ACTIVITY,
    parse_iptables,
    lines_matching(_NETFILTER_LINE),
    examples=(
        "Nov 16 08:00:01 fw1 kernel: [1234.567890] [UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 SRC=203.0.113.7 DST=10.20.1.5 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=4242 DF PROTO=TCP SPT=51515 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",  # noqa: E501
        "2026-11-16T08:00:02.123456+01:00 edge1 kernel: [set-rule-A] IN=eth1 OUT=eth0 SRC=10.20.3.44 DST=198.51.100.20 LEN=52 TTL=63 PROTO=UDP SPT=53000 DPT=443 LEN=32",  # noqa: E501
        "Nov 16 08:00:03 fw1 kernel: ACCEPT IN=eth0 OUT=eth1 SRC=2001:db8::7 DST=2001:db8:1::5 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1",  # noqa: E501
    ),
)
SOURCE_FORMATS = (IPTABLES,)
