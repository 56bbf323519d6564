"""CEF's timestamps (rt, start, end) and the syslog header in front of a CEF line.

CEF allows epoch milliseconds, `MMM dd yyyy HH:mm:ss[.SSS] [zone]`, the same without the year,
and vendors also write ISO 8601. The values are short, so one regex per form over the column
(no per-row Python) splits them into numbers; zones come from the value, else the line's `dtz`,
else the context's timezone (see firewall_words.to_utc).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse import firewall_words as fw
from transforms.parse.base import ParseContext
from transforms.parse.line_bytes import Lines, line_bytes, substrings
from transforms.parse.syslog_header import (
    _date_ok,
    _days_from_civil,
    _local_reference,
    parse_header,
)

_US, _DAY_US = 1_000_000, 86_400_000_000
_MONTHS = pa.array(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
_CLOCK = r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,9}))?"
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

    def part(name: str, default: str = "0") -> pa.Array:
        got = (
            iso.field(name)
            if name == "mo"
            else pc.if_else(is_named, named.field(name), iso.field(name))
        )
        return pc.if_else(pc.equal(pc.fill_null(got, ""), ""), default, got)

    month_name = pc.index_in(pc.utf8_lower(named.field("mon")), _MONTHS)
    month = pc.if_else(is_named, pc.add(month_name, 1), part("mo").cast(pa.int64()))
    numbers = {k: _ints(part(k)) for k in ("d", "h", "mi", "s")}
    year = _ints(part("y"))
    frac = pc.utf8_slice_codeunits(pc.utf8_rpad(part("frac", ""), 6, "0"), 0, 6)
    d, h, mi, s = numbers["d"], numbers["h"], numbers["mi"], numbers["s"]
    m = pc.fill_null(month, 0).to_numpy(zero_copy_only=False)
    found = (is_named.to_numpy(False) & (m > 0)) | iso.is_valid().to_numpy(False)
    yearless = found & (year == 0)
    ref = _local_reference(ctx)
    year = np.where(yearless, ref.year, year)
    ok = found & _date_ok(year, np.clip(m, 1, 12), d) & (h <= 23) & (mi <= 59) & (s <= 60)
    days = _days_from_civil(np.where(ok, year, 1970), np.where(ok, m, 1), np.where(ok, d, 1))
    naive = (days * 86_400 + h * 3600 + mi * 60 + s) * _US + _ints(frac)
    late = yearless & (naive > _micros(ref + timedelta(days=2)))  # December, read in January
    if late.any():
        prior = _days_from_civil(
            np.where(ok, year - 1, 1970), np.where(ok, m, 1), np.where(ok, d, 1)
        )
        naive = np.where(late, naive - (days - prior) * _DAY_US, naive)
        ok &= ~late | _date_ok(year - 1, np.clip(m, 1, 12), d)
    zone = pc.coalesce(pc.if_else(is_named, named.field("zone"), iso.field("zone")), dtz)
    zone = pc.if_else(pc.equal(zone, ""), dtz, zone)
    utc, ok = fw.to_utc(naive, ok, zone, ctx)
    epoch = pc.fill_null(pc.match_substring_regex(values, _EPOCH), False)
    if pc.any(epoch).as_py():
        digits = pc.if_else(epoch, values, "0")
        value = digits.cast(pa.int64()).to_numpy(zero_copy_only=False)
        seconds = pc.utf8_length(digits).to_numpy(zero_copy_only=False) <= 11
        is_epoch = epoch.to_numpy(zero_copy_only=False)
        utc = np.where(is_epoch, np.where(seconds, value * _US, value * 1000), utc)
        ok |= is_epoch
    return utc, ok


def _ints(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, "0").cast(pa.int64()).to_numpy(zero_copy_only=False)


def _micros(t: datetime) -> int:
    return (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)


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
