"""Vectorised syslog header parsing and the byte-level toolkit of the syslog parsers.

Firewall (netfilter) and auth.log lines arrive behind a BSD (RFC 3164) or RFC 3339 syslog
header: `[<PRI>]TIMESTAMP [HOST] MESSAGE`. Firewall logs come by the gigabyte, so this module
parses the header of a whole batch at once without per-row Python and without RE2 capture
groups (which cost several ns per matched byte): one capture-free regex (a DFA pass) checks the
header's shape, and numpy reads the fields straight from the batch's bytes, eight bytes at a
time (SWAR: SIMD within a register). The same toolkit (`Lines`, `scan`, `numbers`,
`substrings`, `RowErrors`) is what the netfilter parser uses for its key=value fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.base import REJECT_SCHEMA, ROW, ParseContext

EMPTY_LINE = "empty line"
BAD_HEADER = "unsupported syslog header"
BAD_TIME = "invalid timestamp"

_SHAPE = (  # validated by a capture-free regex: RE2 answers it with its DFA alone
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?) "
)
_MONTH_CODES = [
    int.from_bytes(m.encode(), "little")
    for m in ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
]
_US, _DAY_US = 1_000_000, 86_400_000_000

# --- SWAR helpers: uint64 words holding 8 bytes, first byte in the lowest bits -------------------
U = np.uint64
_ONES, _HIGH, _LOW7 = U(0x0101010101010101), U(0x8080808080808080), U(0x7F7F7F7F7F7F7F7F)
_DEBRUIJN = U(0x03F79D71B4CB0A89)
_BIT = np.zeros(64, np.int64)
_BIT[[((1 << i) * 0x03F79D71B4CB0A89 & (2**64 - 1)) >> 58 for i in range(64)]] = np.arange(64)
_BYTES_BELOW = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], np.uint64)


def nonzero_bytes(y: np.ndarray) -> np.ndarray:
    """High bit set in every nonzero byte of each word."""
    return (((y & _LOW7) + _LOW7) | y) & _HIGH


def equal_bytes(x: np.ndarray, byte: int) -> np.ndarray:
    """High bit set in every byte equal to `byte`."""
    return ~nonzero_bytes(x ^ (_ONES * U(byte))) & _HIGH


def non_digits(x: np.ndarray) -> np.ndarray:
    """High bit set in every byte that is not an ASCII digit."""
    low = x & _LOW7
    return (
        (x & _HIGH)
        | ((low + U(0x4646464646464646)) & _HIGH)
        | (~(low + U(0x5050505050505050)) & _HIGH)
    )


def first_flag(flags: np.ndarray) -> np.ndarray:
    """Index (0-7) of the first flagged byte of each word, 8 when none is."""
    lowest = flags & (~flags + U(1))
    return np.where(flags == 0, 8, _BIT[(lowest * _DEBRUIJN) >> U(58)] >> 3)


def byte_at(x: np.ndarray, k) -> np.ndarray:
    return ((x >> (U(8) * np.asarray(k, np.uint64))) & U(255)).astype(np.int64)


def digits2(x: np.ndarray, k: int) -> np.ndarray:
    return (byte_at(x, k) - 48) * 10 + byte_at(x, k + 1) - 48


@dataclass(frozen=True)
class Lines:
    """The bytes of a batch of lines, copied once into 8-byte-aligned, zero-padded words.

    Row i is data[start[i]:end[i]] (a trailing CR/LF excluded); `valid` is False for nulls.
    """

    words: np.ndarray
    size: int
    start: np.ndarray
    end: np.ndarray
    valid: np.ndarray

    @property
    def n(self) -> int:
        return len(self.start)

    @property
    def data(self) -> np.ndarray:
        return self.words.view(np.uint8)[: self.size]

    def load(self, pos: np.ndarray) -> np.ndarray:
        """The 8 bytes from each position as a uint64 (zeros past the end)."""
        unaligned = np.ndarray((self.size + 1,), "<u8", self.words, 0, (1,))
        return unaligned[np.clip(pos, 0, self.size)]

    def scan(self, pos: np.ndarray, limit: np.ndarray, stop: Callable) -> np.ndarray:
        """Position of the first byte at or after `pos` that `stop` flags, or `limit`."""
        found = np.array(limit, np.int64, copy=True)
        rows = np.flatnonzero(pos < limit)
        at = pos[rows]
        while len(rows):
            idx = first_flag(stop(self.load(at)))
            hit = (idx < 8) | (at + 8 >= found[rows])
            found[rows[hit]] = np.minimum(at[hit] + idx[hit], found[rows[hit]])
            rows, at = rows[~hit], at[~hit] + 8
        return found


def line_bytes(lines: pa.Array) -> Lines:
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if not pa.types.is_large_string(lines.type):
        lines = lines.cast(pa.string())
    n = len(lines)
    off_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    bufs = lines.buffers()
    offs = np.frombuffer(bufs[1], off_type, n + 1, lines.offset * off_type().itemsize)
    offs = offs.astype(np.int64)
    base, top = (int(offs[0]), int(offs[-1])) if n else (0, 0)
    words = np.zeros((top - base) // 8 + 3, np.uint64)
    if top > base:
        words.view(np.uint8)[: top - base] = np.frombuffer(bufs[2], np.uint8)[base:top]
    start, end = offs[:-1] - base, offs[1:] - base
    raw = Lines(words, top - base, start, end, np.ones(n, bool))
    for _ in range(2):  # drop a trailing "\n" and "\r"
        last = byte_at(raw.load(end - 1), 0)
        end = end - ((end > start) & ((last == 10) | (last == 13)))
    valid = np.ones(n, bool) if lines.null_count == 0 else lines.is_valid().to_numpy(False)
    return Lines(words, top - base, start, end, valid)


def substrings(lines: Lines, start: np.ndarray, length: np.ndarray, valid: np.ndarray):
    """A StringArray of the byte spans [start, start + length), null where not `valid`.

    Built as an Arrow string_view array pointing into the batch's bytes (values of up to 12
    bytes inline), then cast to a plain string array. Spans begin and end at ASCII delimiters,
    so the result is valid UTF-8 whenever the input was.
    """
    n = len(start)
    length = np.where(valid, np.clip(length, 0, 2**31 - 1), 0)
    head = lines.load(start) & _BYTES_BELOW[np.minimum(length, 8)]
    tail = np.zeros(n, np.uint64)
    mid = np.flatnonzero((length > 8) & (length <= 12))  # the only ones with inline bytes 8-11
    tail[mid] = lines.load(start[mid] + 8) & _BYTES_BELOW[length[mid] - 8]
    long = length > 12  # long values: length, 4-byte prefix, buffer 0, offset
    views = np.empty((n, 2), np.uint64)
    views[:, 0] = length.astype(np.uint64) | (head << U(32))
    views[:, 1] = np.where(
        long, start.astype(np.uint64) << U(32), (head >> U(32)) | (tail << U(32))
    )
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    bufs = [validity, pa.py_buffer(views), pa.py_buffer(lines.data)]
    return pa.Array.from_buffers(pa.string_view(), n, bufs).cast(pa.string())


def _beyond(room: np.ndarray) -> np.ndarray:
    """Flags for the bytes of a word at index >= room (past the end of the line)."""
    return ~_BYTES_BELOW[np.clip(room, 0, 8)] & _HIGH


def _swar_value(x: np.ndarray, run: np.ndarray) -> np.ndarray:
    """The number written by the first `run` (0-8) ASCII digits of each word."""
    d = (x - U(0x3030303030303030)) << (U(8) * (8 - np.maximum(run, 1)).astype(np.uint64))
    d = (d * U(10) + (d >> U(8))) & U(0x00FF00FF00FF00FF)
    d = (d * U(100) + (d >> U(16))) & U(0x0000FFFF0000FFFF)
    d = (d * U(10000) + (d >> U(32))) & U(0xFFFFFFFF)
    return np.where(run > 0, d.astype(np.int64), 0)


def numbers(lines: Lines, start: np.ndarray, end: np.ndarray, max_digits: int):
    """Decode the unsigned decimal number at each position: (values int64, status int8).

    The digits must run to a space or to `end` (the line's end). status is 0 for a number,
    1 for no digits or another character after them, 2 for more than `max_digits` digits.
    """
    x = lines.load(start)
    run = first_flag(non_digits(x) | _beyond(end - start))
    value = _swar_value(x, run)
    after = byte_at(x, np.minimum(run, 7))
    count = run.copy()
    long = np.flatnonzero(run == 8)  # 8 digits so far: read the next word (rare)
    if len(long):
        x2 = lines.load(start[long] + 8)
        run2 = first_flag(non_digits(x2) | _beyond(end[long] - start[long] - 8))
        value[long] = value[long] * 10**run2 + _swar_value(x2, run2)
        after[long] = np.where(run2 < 8, byte_at(x2, np.minimum(run2, 7)), 0)
        count[long] += run2
    ends_well = (start + count >= end) | (after == 32)
    status = np.where(count == 0, 1, np.where(count > max_digits, 2, np.where(ends_well, 0, 1)))
    return value, status.astype(np.int8)


def int_array(values: np.ndarray, present: np.ndarray, typ: pa.DataType) -> pa.Array:
    return pa.array(np.where(present, values, 0), typ, mask=~present)


_IP = (
    r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$"
    r"|^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){0,3}[0-9A-Fa-f]*$"
)


def is_ip(values: pa.Array) -> np.ndarray:
    """Whether each string looks like an IPv4 or IPv6 address (False for null)."""
    return pc.match_substring_regex(values, _IP).fill_null(False).to_numpy(False)


class RowErrors:
    """Per-row reject bookkeeping: the first reason flagged for a row wins."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, np.int16)
        self.reasons = [""]

    def flag(self, mask: np.ndarray, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.code[(self.code == 0) & mask] = self.reasons.index(reason)

    @property
    def ok(self) -> np.ndarray:
        return self.code == 0

    def rejects(self) -> pa.Table:
        rows = np.flatnonzero(self.code)
        reasons = pa.array(self.reasons, pa.string()).take(pa.array(self.code[rows]))
        return pa.Table.from_arrays([pa.array(rows, pa.int64()), reasons], schema=REJECT_SCHEMA)

    def accepted(self, columns: dict[str, pa.Array]) -> pa.Table:
        """The accepted rows of full-length columns, with ROW = their index in the batch."""
        ok = self.ok
        table = pa.table({ROW: pa.array(np.arange(len(ok)), pa.int64()), **columns})
        return table if ok.all() else table.filter(pa.array(ok))


@dataclass(frozen=True)
class SyslogHeader:
    """Per row: event time (null on failure), observer (null when the line names no host),
    where the message starts in the batch's bytes, and the header's verdict in `errors`."""

    time: pa.Array
    observer: pa.Array
    body: np.ndarray
    errors: RowErrors


def spaces(x: np.ndarray) -> np.ndarray:
    return equal_bytes(x, 32)


def non_spaces(x: np.ndarray) -> np.ndarray:
    return ~equal_bytes(x, 32) & _HIGH


def _host_end(x: np.ndarray) -> np.ndarray:
    return spaces(x) | equal_bytes(x, ord("[")) | equal_bytes(x, ord("="))


def parse_header(lines: Lines, arr: pa.Array, ctx: ParseContext) -> SyslogHeader:
    """Parse the syslog header of every line: `[<PRI>]TIMESTAMP [HOST] ` then the message.

    A token after the timestamp is the host unless it ends with ':' or holds '[' or '=' (then
    the line has no host: `Jan  8 03:37:09 DENY: IN=...`)."""
    errors = RowErrors(lines.n)
    errors.flag(~lines.valid | (lines.end <= lines.start), EMPTY_LINE)
    shaped = pc.match_substring_regex(arr, _SHAPE).fill_null(False).to_numpy(False)
    errors.flag(~shaped, BAD_HEADER)
    ok = errors.ok
    start = np.where(ok, lines.start, 0)
    first = lines.load(start)
    pri = np.where(byte_at(first, 0) == ord("<"), first_flag(equal_bytes(first, ord(">"))) + 1, 0)
    ts = start + pri
    rfc = ok & (byte_at(lines.load(ts), 0) <= ord("9"))
    ts_end = np.where(
        rfc, lines.scan(ts, lines.end, spaces), ts + 15 - (byte_at(lines.load(ts + 5), 0) == 32)
    )
    host = lines.scan(ts_end, lines.end, non_spaces)
    stop = lines.scan(host, lines.end, _host_end)
    last = byte_at(lines.load(stop - 1), 0)
    has_host = ok & (stop > host) & (stop < lines.end) & (last != ord(":"))
    has_host &= byte_at(lines.load(stop), 0) == 32
    body = np.where(has_host, lines.scan(stop, lines.end, non_spaces), host)
    micros, time_ok = _timestamps(lines, ts, ts_end, ok, rfc, ctx)
    errors.flag(ok & ~time_ok, BAD_TIME)
    ok = errors.ok
    time = pa.array(np.where(ok, micros, 0), pa.timestamp("us", tz="UTC"), mask=~ok)
    observer = substrings(lines, host, stop - host, has_host & ok)
    return SyslogHeader(time, observer, np.where(ok, body, lines.end), errors)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _date_ok(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 1, 12) - 1]
    return (m >= 1) & (m <= 12) & (d >= 1) & (d <= dim + ((m == 2) & leap))


def _clock(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of the day of "hh:mm:ss" held in a word, and whether it is a valid time."""
    h, m, s = digits2(x, 0), digits2(x, 3), digits2(x, 6)
    return h * 3600 + m * 60 + s, (h <= 23) & (m <= 59) & (s <= 60)


def _bsd(lines: Lines, ts: np.ndarray, ts_end: np.ndarray, ctx: ParseContext):
    """Naive wall-clock microseconds of "Mmm dd hh:mm:ss" (year inferred) and validity."""
    head = lines.load(ts)
    code = (head & U(0xFFFFFF)).astype(np.int64)
    month = np.zeros(len(ts), np.int64)
    for number, month_code in enumerate(_MONTH_CODES, 1):
        month = np.where(code == month_code, number, month)
    tens = byte_at(lines.load(ts_end - 11), 0)  # "dd hh:mm:ss" with day " d", "dd" or "d"
    day = np.where(tens == 32, 0, tens - 48) * 10 + byte_at(lines.load(ts_end - 10), 0) - 48
    secs, clock_ok = _clock(lines.load(ts_end - 8))
    ref = _local_reference(ctx)
    ref_us = (ref - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    year = np.full(len(ts), ref.year, np.int64)
    this_year = _days_from_civil(year, month, day) * _DAY_US + secs * _US
    year = year - (this_year > ref_us + 2 * _DAY_US)  # a December line read in January
    naive = _days_from_civil(year, month, day) * _DAY_US + secs * _US
    return naive, (month > 0) & _date_ok(year, month, day) & clock_ok


def _rfc3339(lines: Lines, ts: np.ndarray, ts_end: np.ndarray):
    """(UTC or naive microseconds, validity, has a zone) of "YYYY-MM-DDThh:mm:ss[.f][zone]"."""
    a, b, c = lines.load(ts), lines.load(ts + 8), lines.load(ts + 11)
    year = digits2(a, 0) * 100 + digits2(a, 2)
    month, day = digits2(a, 5), digits2(b, 0)
    secs, clock_ok = _clock(c)
    frac_word = lines.load(ts + 20)
    has_frac = byte_at(lines.load(ts + 19), 0) == ord(".")
    frac_len = np.where(has_frac, first_flag(non_digits(frac_word)), 0)
    frac = np.zeros(len(ts), np.int64)
    for j in range(6):  # microseconds: pad or truncate the fraction to 6 digits
        frac = frac * 10 + np.where(j < frac_len, byte_at(frac_word, j) - 48, 0)
    frac_len = np.where(has_frac, lines.scan(ts + 20, ts_end, non_digits) - ts - 19, 0)
    zone = lines.load(ts + 19 + frac_len)
    sign = byte_at(zone, 0)
    signed = (sign == ord("+")) | (sign == ord("-"))
    offset = np.where(signed, (digits2(zone, 1) * 3600 + digits2(zone, 4) * 60), 0)
    offset = np.where(sign == ord("-"), -offset, offset)
    local = _days_from_civil(year, month, day) * _DAY_US + secs * _US + frac
    ok = _date_ok(year, month, day) & clock_ok & (np.abs(offset) < 86_400)
    return local - offset * _US, ok, signed | (sign == ord("Z"))


def _timestamps(lines: Lines, ts, ts_end, ok, rfc, ctx: ParseContext):
    """UTC microseconds of each timestamp and which rows were valid; each format is decoded
    only for the rows that carry it."""
    utc = np.zeros(len(ts), np.int64)
    valid = np.zeros(len(ts), bool)
    rows = np.flatnonzero(ok & ~rfc)
    if len(rows):
        naive, valid[rows] = _bsd(lines, ts[rows], ts_end[rows], ctx)
        utc[rows] = _to_utc(naive, ctx.timezone)
    rows = np.flatnonzero(rfc)
    if len(rows):
        us, valid[rows], zoned = _rfc3339(lines, ts[rows], ts_end[rows])
        utc[rows] = us if zoned.all() else np.where(zoned, us, _to_utc(us, ctx.timezone))
    return utc, valid


def _fixed_offset(tz: str) -> int | None:
    """Seconds east of UTC for "UTC", "Z", "+HHMM", "+HH:MM", "+HH"; None for IANA names."""
    if tz.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return 0
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", tz)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60)


def _local_reference(ctx: ParseContext) -> datetime:
    """ctx.reference_time as a naive wall-clock time in ctx.timezone."""
    ref = ctx.reference_time
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    offset = _fixed_offset(ctx.timezone)
    if offset is not None:
        return (ref.astimezone(UTC) + timedelta(seconds=offset)).replace(tzinfo=None)
    return ref.astimezone(ZoneInfo(ctx.timezone)).replace(tzinfo=None)


def _to_utc(naive_us: np.ndarray, tz: str) -> np.ndarray:
    offset = _fixed_offset(tz)
    if offset is not None:
        return naive_us - offset * _US
    ZoneInfo(tz)  # raises for an unknown zone name: a configuration error, not a row error
    local = pa.array(naive_us, pa.timestamp("us"))
    zoned = pc.assume_timezone(local, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return zoned.cast(pa.int64()).to_numpy()
