"""Parser for netfilter LOG lines (iptables, nftables, UFW, EdgeOS/Ubiquiti) wrapped in syslog.

Firewall logs are the largest source loggvern ingests, so this parser is built for throughput.
A netfilter line is `[prefix]IN=.. OUT=.. [MAC=..] SRC=.. DST=.. LEN=.. ... PROTO=.. SPT=..`.
RE2 capture groups cost several ns per matched byte and a line has ~20 fields, so instead of a
regex per field this module finds every '=' of the batch in one numpy pass, recognises a key by
the four bytes in front of its '=' (a perfect hash into a small table), keeps each key's first
occurrence per row with one `np.minimum.at`, and decodes values straight from the bytes with
the SWAR helpers of syslog_header. Regexes remain only for the header's shape (a capture-free
DFA pass), the address check and the few distinct log prefixes (through a dictionary). Batches
are cut into chunks of 16k rows so the working set stays in the CPU caches.

Rules: keys count only after `IN=`, the first occurrence wins, and keys inside an ICMP error's
nested `[SRC=... ]` payload are ignored. `action` comes from the log prefix: EdgeOS
`[set-rule-A|D|R]`, UFW `[UFW BLOCK|ALLOW|AUDIT]` or keywords (reject; drop/deny/block;
accept/allow/pass/permit; log/audit), null when the prefix says nothing. `MAC=` splits into
dst_mac and src_mac when it holds at least 12 bytes. A malformed address or number rejects the
row; reasons are fixed texts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.parse.base import ROW, ParseContext, ParseResult, SourceFormat, conform
from transforms.parse.syslog_header import (
    Lines,
    byte_at,
    equal_bytes,
    first_flag,
    int_array,
    is_ip,
    line_bytes,
    non_digits,
    non_spaces,
    numbers,
    parse_header,
    spaces,
    substrings,
)

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
_CODES = np.array([int.from_bytes(k.encode(), "little") for k in _KEYS], np.uint64)
_K = len(_KEYS) + 2  # column 0: any other key, 1..len(_KEYS): _KEYS, last: IN
_IN = _K - 1
_MUL = next(
    m
    for m in range(1, 1 << 20, 2)
    if len({(int(c) * m & 0xFFFFFFFF) >> 24 for c in _CODES}) == len(_CODES)
)
_SLOT = np.zeros(256, np.uint8)  # perfect hash slot -> key number
_SLOT[((_CODES * np.uint64(_MUL)) & np.uint64(0xFFFFFFFF)) >> np.uint64(24)] = range(1, _K - 1)
_SLOT_CODE = np.concatenate([[0], _CODES]).astype(np.uint64)
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
        at = np.searchsorted(pos, body)  # the first '=' of each message
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

    def span(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(present, value start, value length): a value runs to the next space."""
        present, start = self.at(key)
        end = self.raw.scan(start, np.where(present, self.raw.end, start), spaces)
        return present, start, end - start

    def string(self, key: str) -> pa.Array:
        present, start, length = self.span(key)
        return substrings(self.raw, start, length, present & (length > 0))


def _ranges(begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """All indices of the ranges [begin[i], end[i]) as one array (usually empty)."""
    length = np.maximum(end - begin, 0)
    offsets = np.cumsum(length) - length
    return np.repeat(begin - offsets, length) + np.arange(length.sum())


def _keys(raw: Lines, pos: np.ndarray) -> np.ndarray:
    """Key number (0 for keys we do not use) of each '=' from the 4 bytes in front of it."""
    code = raw.load(pos - 4) & np.uint64(0xFFFFFFFF)
    key = _SLOT[((code * np.uint64(_MUL)) & np.uint64(0xFFFFFFFF)) >> np.uint64(24)]
    return np.where(_SLOT_CODE[key] == code, key, 0).astype(np.int64)


def _skip_kernel_tag(raw: Lines, body: np.ndarray) -> np.ndarray:
    """Move past a `kernel:` tag and a `[ 1234.567890]` uptime stamp after the syslog host."""
    x = raw.load(body)
    tagged = (x & np.uint64(0xFFFFFFFFFFFFFF)) == _KERNEL
    body = np.where(tagged, raw.scan(body + 7, raw.end, non_spaces), body)
    opened = byte_at(raw.load(body), 0) == ord("[")
    close = raw.scan(body + 1, np.where(opened, np.minimum(raw.end, body + 24), body), _not_uptime)
    uptime = opened & (close > body + 1) & (byte_at(raw.load(close), 0) == ord("]"))
    after = raw.scan(close + 1, raw.end, non_spaces)
    return np.where(uptime, after, body)


_CHUNK = 16_384  # rows parsed at a time: keeps the working set in the CPU caches


def parse_iptables(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    if len(lines) <= _CHUNK:
        return _parse(lines, ctx)
    parts = [_parse(lines.slice(i, _CHUNK), ctx) for i in range(0, len(lines), _CHUNK)]
    return ParseResult(_concat([p.table for p in parts]), _concat([p.rejects for p in parts]))


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Concatenate per-chunk tables, turning chunk-relative ROW numbers into batch ones."""
    shifted = []
    for i, table in enumerate(tables):
        rows = pc.add(table.column(ROW), i * _CHUNK)
        shifted.append(table.set_column(0, ROW, rows))
    return pa.concat_tables(shifted)


def _parse(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    header = parse_header(raw, lines, ctx)
    errors = header.errors
    body = _skip_kernel_tag(raw, header.body)
    f = _Fields(raw, body)
    has_in, _ = f.at("IN")
    has_src, src_start = f.at(" SRC")
    has_dst, _ = f.at(" DST")
    errors.flag(~(has_in & has_src & has_dst), NOT_NETFILTER)

    cols: dict[str, pa.Array] = {"time": header.time, "observer": header.observer}
    cols["action"], cols["rule_name"] = _prefix(raw, body, f.in_at)
    cols["in_iface"], cols["out_iface"] = f.string("IN"), f.string(" OUT")
    cols["dst_mac"], cols["src_mac"] = _macs(raw, *f.at(" MAC"))
    for name, key in (("src_ip", " SRC"), ("dst_ip", " DST")):
        cols[name] = f.string(key)
        errors.flag(~is_ip(cols[name]), f"invalid {name[:3]} address")
    ipv6 = has_src & (first_flag(equal_bytes(raw.load(src_start), ord(":"))) < 5)  # "fe80:"
    cols["ip_version"] = pa.array(np.where(ipv6, 6, 4), pa.int8())

    def number(key: str, name: str, limit: int, typ: pa.DataType) -> pa.Array:
        present, start = f.at(key)
        rows = np.flatnonzero(present)  # decode only the rows that have the key
        value, status = np.zeros(raw.n, np.int64), np.zeros(raw.n, np.int8)
        value[rows], status[rows] = numbers(raw, start[rows], raw.end[rows], len(str(limit)))
        bad, too_big = present & (status == 1), present & ((status == 2) | (value > limit))
        errors.flag(bad, f"invalid {name}")
        errors.flag(too_big, f"{name} out of range")
        return int_array(value, present & ~bad & ~too_big, typ)

    cols["src_port"] = number(" SPT", "port", 65535, pa.int32())
    cols["dst_port"] = number(" DPT", "port", 65535, pa.int32())
    cols["length"] = number(" LEN", "packet length", 2**31 - 1, pa.int32())
    ttl = number(" TTL", "ttl", 255, pa.int16())
    cols["ttl"] = pc.coalesce(ttl, number("IMIT", "ttl", 255, pa.int16()))
    cols["icmp_type"] = number("TYPE", "icmp type", 255, pa.int16())
    cols["icmp_code"] = number("CODE", "icmp code", 255, pa.int16())
    cols["uid"] = number(" UID", "uid", 2**31 - 1, pa.int32())
    cols["gid"] = number(" GID", "gid", 2**31 - 1, pa.int32())
    cols["protocol"] = pc.utf8_lower(f.string("ROTO"))
    cols["tcp_flags"] = _tcp_flags(raw, f.span(" RES"), f.at("URGP"))
    cols["actor_user"] = f.string("USER")
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


def _macs(raw: Lines, present, start) -> tuple[pa.Array, pa.Array]:
    """Split `MAC=dst:src:type...` into destination and source MAC. Needs 12 bytes: the first
    35 characters must be ASCII `xx:` groups without a space."""
    ok = present & (start + 35 <= raw.end)
    digits = np.uint64(0x8080008080)  # flags of bytes 0, 1, 3, 4 of a 6-byte group
    for offset in range(0, 31, 6):  # separators at 2, 5, ..., 32: check 6 bytes at a time
        x = raw.load(start + offset)
        sep = np.uint64(0xFF0000FF0000 if offset < 30 else 0xFF0000)
        ok &= (x & sep) == (np.uint64(_COLONS) & sep)
        ok &= ((spaces(x) | (x & np.uint64(0x8080808080808080))) & digits) == 0
    seventeen = np.full(raw.n, 17)
    return substrings(raw, start, seventeen, ok), substrings(raw, start + 18, seventeen, ok)


def _tcp_flags(raw: Lines, res, urgp) -> pa.Array:
    """The flag words (`SYN`, `ACK PSH`, ...) between `RES=0x..` and `URGP=`."""
    begin = res[1] + res[2] + 1
    end = urgp[1] - 6  # 'URGP=' and the space before it
    spaced = byte_at(raw.load(end), 0) == 32
    return substrings(raw, begin, end - begin, res[0] & urgp[0] & (end > begin) & spaced)


def _prefix(raw: Lines, body: np.ndarray, in_at: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """(action, rule_name) from the log prefix between the syslog header and `IN=`."""
    end = np.where(in_at < _NONE, in_at - 2, body)
    prefix = substrings(raw, body, end - body, end > body)
    encoded = pc.dictionary_encode(prefix)
    action, rule = _classify(encoded.dictionary)
    return action.take(encoded.indices), rule.take(encoded.indices)


_ACTIONS = (
    (r"(?i)\bREJECT", "reject"),
    (r"(?i)\b(?:DROP|DENY|BLOCK)", "drop"),
    (r"(?i)\b(?:ACCEPT|ALLOW|PASS|PERMIT)", "allow"),
    (r"(?i)\b(?:LOG|AUDIT)", "log"),
)


def _classify(prefixes: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Action and rule name of each distinct prefix (a small array: runs once per batch)."""
    prefixes = pc.utf8_trim_whitespace(prefixes)
    edge = pc.extract_regex(prefixes, r"^\[.+-(?:default|\d+)-(?P<a>[ADR])\]$")
    edge_letter = pc.if_else(edge.is_valid(), edge.field("a"), None)
    conds, values = [], []
    for letter, action in (("A", "allow"), ("D", "drop"), ("R", "reject")):
        conds.append(pc.equal(edge_letter, letter).fill_null(False))
        values.append(action)
    for pattern, action in _ACTIONS:
        conds.append(pc.match_substring_regex(prefixes, pattern).fill_null(False))
        values.append(action)
    fields = [str(i) for i in range(len(conds))]
    action = pc.case_when(pc.make_struct(*conds, field_names=fields), *values)
    name = pc.extract_regex(prefixes, r"^\[?(?P<n>.*?)\]?:?$").field("n")
    name = pc.if_else(pc.greater(pc.utf8_length(name), 0).fill_null(False), name, None)
    return action.cast(pa.string()), name


IPTABLES = SourceFormat("iptables", NETWORK_ACTIVITY, parse_iptables)
