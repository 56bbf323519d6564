"""Vectorised syslog header parsing, and the per-row reject bookkeeping of the syslog parsers.

Firewall (netfilter) and auth.log lines arrive behind a BSD (RFC 3164) or RFC 3339 syslog
header: `[<PRI>]TIMESTAMP [HOST] MESSAGE`. Firewall logs come by the gigabyte, so this module
parses the header of a whole batch at once, without per-row Python and without regexes: numpy
checks the header's shape and reads its fields straight from the batch's bytes, eight bytes at a
time (the SWAR toolkit of line_bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from transforms.parse.base import REJECT_SCHEMA, ROW, ParseContext
from transforms.parse.line_bytes import (
    Lines,
    U,
    byte_at,
    digits2,
    equal_bytes,
    first_flag,
    non_digits,
    non_spaces,
    outside,
    pattern,
    spaces,
    substrings,
)
from transforms.parse.timestamps import (
    DAY_US,
    US,
    date_ok,
    days_from_civil,
    local_reference,
    local_to_utc,
    utc_timestamps,
    yearless_naive,
)

EMPTY_LINE = "empty line"
BAD_HEADER = "unsupported syslog header"
BAD_TIME = "invalid timestamp"


class RowErrors:
    """Per-row reject bookkeeping: the first reason flagged for a row wins."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, np.int16)
        self.reasons = [""]

    def part(self, lo: int, hi: int) -> RowErrors:
        """Rows [lo, hi) as RowErrors of their own that write through to these."""
        part = RowErrors(0)
        part.code, part.reasons = self.code[lo:hi], self.reasons
        return part

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
    """Per row: event time (UTC microseconds), the host's span and whether the line names one,
    and where the message starts; the header's verdict is in `errors` (the other fields mean
    nothing for rows it rejected)."""

    micros: np.ndarray
    host: np.ndarray
    host_len: np.ndarray
    has_host: np.ndarray
    body: np.ndarray
    errors: RowErrors

    def time(self) -> pa.Array:
        return utc_timestamps(self.micros, self.errors.ok)

    def observer(self, lines: Lines) -> pa.Array:
        return substrings(lines, self.host, self.host_len, self.has_host)


def _host_end(x: np.ndarray) -> np.ndarray:
    return spaces(x) | equal_bytes(x, ord("[")) | equal_bytes(x, ord("="))


def parse_header(lines: Lines, ctx: ParseContext, errors: RowErrors | None = None) -> SyslogHeader:
    """Parse the syslog header of every line: `[<PRI>]TIMESTAMP [HOST] ` then the message.

    A token after the timestamp is the host unless it ends with ':' or holds '[' or '=' (then
    the line has no host: `Jan  8 03:37:09 DENY: IN=...`). Verdicts go to `errors` (new ones
    when not given)."""
    errors = RowErrors(lines.n) if errors is None else errors
    end = lines.end
    errors.flag(~lines.valid | (end <= lines.start), EMPTY_LINE)
    shape = _Shape(lines, np.where(errors.ok, lines.start, 0))
    errors.flag(~shape.ok, BAD_HEADER)
    ok = errors.ok
    ts_end = np.where(ok, shape.ts_end, end)
    host = lines.scan(ts_end, end, non_spaces)
    stop = lines.scan(host, end, _host_end)
    has_host = ok & (stop > host) & (stop < end) & (lines.byte(stop - 1) != ord(":"))
    has_host &= lines.byte(stop) == 32
    body = np.where(has_host, lines.scan(stop, end, non_spaces), host)
    micros, time_ok = _timestamps(lines, shape, ok, ctx)
    errors.flag(ok & ~time_ok, BAD_TIME)
    ok = errors.ok
    return SyslogHeader(micros, host, stop - host, has_host & ok, np.where(ok, body, end), errors)


# Byte classes of the BSD timestamp `Mmm dd hh:mm:ss ` (the day may be " d", "dd" or "d"): its
# first 8 bytes, then the clock.
_BSD_SHORT_DAY = pattern("A-Z", "a-z", "a-z", " ", "0-9", " ", "0-9", "0-9")
_BSD = pattern("A-Z", "a-z", "a-z", " ", " -9", "0-9", " ", "0-9")  # byte 4: checked again
_BSD_CLOCK = pattern("0-9", "0-9", ":", "0-9", "0-9", ":", "0-9", "0-9")
# RFC 3339 `YYYY-MM-DDThh:mm:ss[.fraction][Z|+hh:mm] `: bytes 0-7, 8-15, 16-18, zone 1-5.
_RFC_DATE = pattern("0-9", "0-9", "0-9", "0-9", "-", "0-9", "0-9", "-")
_RFC_TIME = pattern("0-9", "0-9", "T", "0-9", "0-9", ":", "0-9", "0-9")
_RFC_SECS = pattern(":", "0-9", "0-9")
_RFC_ZONE = pattern("0-9", "0-9", ":", "0-9", "0-9")
_MASK3, _MASK5 = U(0x808080), U(0x8080808080)


class _Shape:
    """Which rows start with a supported header, checked with numpy instead of a regex:
    `^(?:<\\d{1,3}>)?(?:BSD|RFC3339) ` (see the byte classes above). Also where the timestamp
    starts (`ts`, and its first 8 bytes `head`) and ends (`ts_end`, at a space), and which rows
    carry an RFC 3339 one (`rfc`)."""

    def __init__(self, lines: Lines, start: np.ndarray) -> None:
        first = lines.load(start)
        pri = (first & U(255)) == ord("<")
        digits = first_flag(non_digits(first >> U(8)))  # after "<"
        pri_ok = (digits >= 1) & (digits <= 3) & (byte_at(first, digits + 1) == ord(">"))
        self.ts = ts = start + np.where(pri, digits + 2, 0)
        self.head = head = first.copy()  # the timestamp's first 8 bytes
        rows = np.flatnonzero(pri)
        head[rows] = lines.load(ts[rows])
        short = byte_at(head, 5) == 32  # "Mmm d hh:mm:ss"
        classes = (
            np.where(short, _BSD_SHORT_DAY[0], _BSD[0]),
            np.where(short, _BSD_SHORT_DAY[1], _BSD[1]),
        )
        day = byte_at(head, 4)
        bsd = (outside(head, classes) == 0) & (short | (day == 32) | (day >= ord("0")))
        self.ts_end = ts + 15 - short
        self.clock = lines.load(self.ts_end - 8)  # "hh:mm:ss" then the space at ts_end
        bsd &= (outside(self.clock, _BSD_CLOCK) == 0) & (lines.byte(self.ts_end) == 32)
        self.rfc = (head & U(255)) - U(ord("0")) <= U(9)
        rows = np.flatnonzero(self.rfc)
        if len(rows):
            self.ts_end[rows], bsd[rows] = self._rfc3339(lines, ts[rows], head[rows])
        self.ok = (~pri | pri_ok) & bsd & (self.ts_end < lines.end)

    @staticmethod
    def _rfc3339(lines: Lines, ts: np.ndarray, head: np.ndarray):
        """(end, shape ok) of RFC 3339 timestamps; the fraction has 1-9 digits."""
        ok = outside(head, _RFC_DATE) == 0
        ok &= outside(lines.load(ts + 8), _RFC_TIME) == 0
        ok &= outside(lines.load(ts + 16), _RFC_SECS) & _MASK3 == 0
        dot = lines.byte(ts + 19) == ord(".")
        fraction = lines.scan(ts + 20, ts + 30, non_digits) - ts - 20
        ok &= ~dot | ((fraction >= 1) & (fraction <= 9))
        zone = np.where(dot, ts + 20 + fraction, ts + 19)
        sign = lines.byte(zone)
        offset = (sign == ord("+")) | (sign == ord("-"))
        offset &= outside(lines.load(zone + 1), _RFC_ZONE) & _MASK5 == 0
        end = zone + np.where(offset, 6, sign == ord("Z"))
        return end, ok & (lines.byte(end) == 32)


def _timestamps(lines: Lines, shape: _Shape, ok: np.ndarray, ctx: ParseContext):
    """UTC microseconds of each timestamp and which rows were valid; each format is decoded
    only when some row carries it."""
    utc = np.zeros(lines.n, np.int64)
    valid = np.zeros(lines.n, bool)
    bsd = ok & ~shape.rfc
    if bsd.any():
        naive, valid = _bsd(lines, shape, ctx)
        valid &= bsd
        utc = local_to_utc(np.where(valid, naive, 0), ctx.timezone)
    rows = np.flatnonzero(ok & shape.rfc)
    if len(rows):
        us, valid[rows], zoned = _rfc3339(lines, shape.ts[rows], shape.ts_end[rows])
        utc[rows] = us if zoned.all() else np.where(zoned, us, local_to_utc(us, ctx.timezone))
    return utc, valid


_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTHS = np.array([int.from_bytes(m.encode(), "little") for m in _MONTH_NAMES], np.uint64)
_MONTH_ORDER = np.argsort(_MONTHS)


def _clock(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of the day of "hh:mm:ss" held in a word, and whether it is a valid time."""
    d = x - U(0x3030303030303030)  # digit values (':' -> 10: no carries below)
    pairs = d * U(10) + (d >> U(8))  # bytes 0, 3, 6: hh, mm, ss
    h, m, s = ((pairs >> U(k)) & U(255) for k in (0, 24, 48))
    secs = (h * U(3600) + m * U(60) + s).astype(np.int64)
    return secs, (h <= 23) & (m <= 59) & (s <= 60)


def _bsd(lines: Lines, shape: _Shape, ctx: ParseContext):
    """Naive wall-clock microseconds of "Mmm dd hh:mm:ss" (year inferred) and validity."""
    code = shape.head & U(0xFFFFFF)
    at = _MONTH_ORDER[np.minimum(np.searchsorted(_MONTHS, code, sorter=_MONTH_ORDER), 11)]
    month = np.where(_MONTHS[at] == code, at + 1, 0)
    tens = lines.byte(shape.ts_end - 11).astype(np.int64)  # a space in " d" and "Mmm d hh"
    ones = lines.byte(shape.ts_end - 10).astype(np.int64)
    day = np.where(tens == 32, 0, tens - 48) * 10 + ones - 48
    secs, clock_ok = _clock(shape.clock)
    reference = local_reference(ctx.reference_time, ctx.timezone)
    naive, day_ok = yearless_naive(month, day, secs * US, reference)
    return naive, day_ok & clock_ok


def _rfc3339(lines: Lines, ts: np.ndarray, ts_end: np.ndarray):
    """(UTC or naive microseconds, validity, has a zone) of "YYYY-MM-DDThh:mm:ss[.f][zone]"."""
    a, b, c = lines.load(ts), lines.load(ts + 8), lines.load(ts + 11)
    year = digits2(a, 0) * 100 + digits2(a, 2)
    month, day = digits2(a, 5), digits2(b, 0)
    h, m, s = digits2(c, 0), digits2(c, 3), digits2(c, 6)
    secs, clock_ok = h * 3600 + m * 60 + s, (h <= 23) & (m <= 59) & (s <= 60)
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
    local = days_from_civil(year, month, day) * DAY_US + secs * US + frac
    ok = date_ok(year, month, day) & clock_ok & (np.abs(offset) < 86_400)
    return local - offset * US, ok, signed | (sign == ord("Z"))
