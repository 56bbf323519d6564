"""CEF's timestamps (rt, start, end) and the syslog header in front of a CEF line.

CEF allows epoch milliseconds, `MMM dd yyyy HH:mm:ss[.SSS] [zone]`, the same without the year,
and vendors also write ISO 8601. The values are short, so one regex per form over the column
(no per-row Python) splits them into numbers; zones come from the value, else the line's `dtz`,
else the context's timezone (see timestamps.zones_to_utc); a time without a year gets one as
a BSD syslog header's does (timestamps.yearless_naive).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.base import ParseContext
from transforms.parse.line_bytes import Lines, line_bytes, substrings
from transforms.parse.syslog_header import parse_header
from transforms.parse.timestamps import (
    DAY_US,
    US,
    clock_ok,
    date_ok,
    days_from_civil,
    local_reference,
    text_fields,
    yearless_naive,
    zones_to_utc,
)

_MONTHS = pa.array(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
_CLOCK = r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,9}))?"
_NAMED = (
    r"^(?P<mon>[A-Za-z]{3}) +(?P<d>\d{1,2})(?: (?P<y>\d{4}))? " + _CLOCK + r"(?: (?P<zone>\S+))?$"
)
_ISO = r"^(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ]" + _CLOCK + r"(?P<zone>Z|[+-]\d\d:?\d\d)?$"
_EPOCH = r"^\d{9,14}$"


def event_time(
    text: dict[str, pa.Array], fallback: pa.Array, ctx: ParseContext
) -> tuple[np.ndarray, np.ndarray]:
    """(UTC microseconds, found) from rt, else start, else end, else `fallback`."""
    n = len(fallback)
    micros, ok = np.zeros(n, np.int64), np.zeros(n, bool)
    for key in ("rt", "start", "end"):
        if text[key].null_count == n:
            continue
        value, valid = parse_times(text[key], text["dtz"], ctx)
        micros = np.where(ok, micros, value)
        ok |= valid
    given = fallback.is_valid().to_numpy(zero_copy_only=False) & ~ok
    if given.any():
        micros = np.where(given, fallback.cast(pa.int64()).fill_null(0).to_numpy(False), micros)
        ok |= given
    return micros, ok


def parse_times(values: pa.Array, dtz: pa.Array, ctx: ParseContext):
    """(UTC microseconds, valid) of CEF timestamp texts."""
    named, iso = pc.extract_regex(values, _NAMED), pc.extract_regex(values, _ISO)
    is_named = named.is_valid()
    keys = ("y", "d", "h", "mi", "s", "f")
    picked = [pc.if_else(is_named, named.field(k), iso.field(k)) for k in keys]
    f = text_fields(pa.StructArray.from_arrays([*picked, iso.field("mo")], [*keys, "mo"]))
    is_named = is_named.to_numpy(zero_copy_only=False)
    month_name = pc.fill_null(pc.index_in(pc.utf8_lower(named.field("mon")), _MONTHS), -1)
    m = np.where(is_named, month_name.to_numpy(zero_copy_only=False) + 1, f["mo"])
    y, d, h, mi, s = (f[k] for k in ("y", "d", "h", "mi", "s"))
    clock_us = ((h * 60 + mi) * 60 + s) * US + f["f"]
    found = (is_named & (m > 0)) | iso.is_valid().to_numpy(zero_copy_only=False)
    day_ok = date_ok(y, m, d)
    days = days_from_civil(
        np.where(day_ok, y, 1970), np.where(day_ok, m, 1), np.where(day_ok, d, 1)
    )
    naive = days * DAY_US + clock_us
    yearless = found & (y == 0)
    if yearless.any():
        reference = local_reference(ctx.reference_time, ctx.timezone)
        guess, guess_ok = yearless_naive(np.where(yearless, m, 0), d, clock_us, reference)
        naive = np.where(yearless, guess, naive)
        day_ok = np.where(yearless, guess_ok, day_ok)
    ok = found & day_ok & clock_ok(h, mi, s)
    zone = pc.coalesce(pc.if_else(is_named, named.field("zone"), iso.field("zone")), dtz)
    zone = pc.if_else(pc.equal(zone, ""), dtz, zone)
    utc, ok = zones_to_utc(naive, ok, zone, ctx.timezone)
    epoch = pc.fill_null(pc.match_substring_regex(values, _EPOCH), False)
    if pc.any(epoch).as_py():
        digits = pc.if_else(epoch, values, "0")
        value = digits.cast(pa.int64()).to_numpy(zero_copy_only=False)
        seconds = pc.utf8_length(digits).to_numpy(zero_copy_only=False) <= 11
        is_epoch = epoch.to_numpy(zero_copy_only=False)
        utc = np.where(is_epoch, np.where(seconds, value * US, value * 1000), utc)
        ok |= is_epoch
    return utc, ok


def syslog_prefix(raw: Lines, at: np.ndarray, ctx: ParseContext) -> tuple[pa.Array, pa.Array]:
    """(time, host) of a BSD or RFC 5424 syslog header before the CEF text at offset `at` of
    each line (null where there is none)."""
    has = at > 0
    if not has.any():
        return pa.nulls(raw.n, pa.timestamp("us", tz="UTC")), pa.nulls(raw.n, pa.string())
    prefix = substrings(raw, raw.start, np.where(has, at, 0), has)
    prefix = pc.replace_substring_regex(prefix, r"^(<\d{1,3}>)1 ", r"\1")  # RFC 5424 version
    lines = line_bytes(prefix)
    header = parse_header(lines, ctx)
    ok = pa.array(header.errors.ok & has)
    time = pc.if_else(ok, header.time(), None)
    host = pc.if_else(ok, header.observer(lines), None)
    return time, host
