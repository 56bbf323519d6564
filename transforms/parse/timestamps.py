"""Timestamp parsing shared by every parser: one place for the calendar, zones and text forms.

The parsers were written in parallel and each grew its own vectorised copy of the civil-date
arithmetic, the local-time-to-UTC conversion and the text grammars; this module holds the one
copy they all use. Everything works on whole columns (numpy / pyarrow compute, a regex per
form, never a Python loop over rows). Times are int64 microseconds since 1970-01-01: "naive"
ones are wall-clock times in some zone, "UTC" ones are instants.

- calendar: `date_ok`, `days_in_month`, `days_from_civil`
- zones: `fixed_offset`, `parse_zone`, `local_to_utc` (one zone), `zones_to_utc` (per row)
- year-less times (BSD syslog, CEF `Nov 16 08:01:02`): `local_reference`, `yearless_naive`
- text: `parse_text_times` over the forms `ISO`, `ISO_DATE`, `US_DATE`, `DAY_FIRST`,
  `DAY_FIRST_CLOCK` (and .NET `/Date(ms)/`); `text_fields` for parsers with forms of their own
- bytes: `ymd_hms_naive` for `YYYY-MM-DD hh:mm:ss` at known offsets of a batch's bytes
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.line_bytes import Lines, digits2, outside, pattern

US = 1_000_000
DAY_US = 86_400 * US
UTC_TS = pa.timestamp("us", tz="UTC")
MAX_OFFSET = 18 * 3600  # seconds; a larger offset written in a value makes it unreadable


# --- calendar -----------------------------------------------------------------------------------
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Days of month `m` (1-12) of year `y` (proleptic Gregorian); 0 for other months."""
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = _MONTH_DAYS[np.clip(m, 0, 12)]
    return np.where((m == 2) & leap, 29, days)


def date_ok(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether y-m-d is a date (month 1-12, day within it: no 30 February)."""
    return (m >= 1) & (m <= 12) & (d >= 1) & (d <= days_in_month(y, m))


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); the
    date must be valid for the result to mean anything."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def clock_ok(h: np.ndarray, mi: np.ndarray, s: np.ndarray, leap_second: bool = True) -> np.ndarray:
    """Whether h:mi:s is a time of day (second 60 only with `leap_second`)."""
    return (h >= 0) & (h <= 23) & (mi >= 0) & (mi <= 59) & (s >= 0) & (s <= 59 + leap_second)


# --- zones --------------------------------------------------------------------------------------
def fixed_offset(tz: str) -> int | None:
    """Seconds east of UTC of "UTC", "Z", "GMT", "+HHMM", "+HH:MM", "+HH"; None for zone names."""
    if tz.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return 0
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", tz)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60)


def local_to_utc(naive_us: np.ndarray, tz: str) -> np.ndarray:
    """UTC microseconds of wall-clock times in `tz` (an IANA name or a fixed offset). A time
    in a DST gap or overlap takes the earliest reading. An unknown zone name raises: it is a
    configuration error, not a row error."""
    offset = fixed_offset(tz)
    if offset is not None:
        return naive_us - offset * US
    ZoneInfo(tz)
    local = pa.array(naive_us, pa.timestamp("us"))
    zoned = pc.assume_timezone(local, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return zoned.cast(pa.int64()).to_numpy(zero_copy_only=False, writable=True)


_OFFSET = re.compile(r"^(?:[A-Za-z]{1,4})?([+-])(\d{1,2}):?(\d\d)?$", re.IGNORECASE)
_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2,
    "EEST": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
    "PDT": -7,
}  # fmt: skip


def parse_zone(text: str) -> int | str | None:
    """A zone as written in a log value (`-0500`, `+01:00`, `UTC+1:00`, `CET`, `Europe/Oslo`):
    seconds east of UTC, an IANA zone name, or None for a zone we do not know."""
    t = text.strip()
    if t.upper() in _ABBREVIATIONS:
        return _ABBREVIATIONS[t.upper()] * 3600
    m = _OFFSET.match(t)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        return (-1 if m.group(1) == "-" else 1) * (hours * 3600 + minutes * 60)
    if re.fullmatch(r"[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+", t):
        try:
            ZoneInfo(t)
        except (ValueError, ZoneInfoNotFoundError):
            return None
        return t
    return None


def zones_to_utc(
    naive: np.ndarray, ok: np.ndarray, zones: pa.Array | None, timezone: str
) -> tuple[np.ndarray, np.ndarray]:
    """(UTC microseconds, valid) of wall-clock times: rows naming a zone (see `parse_zone`)
    use it, the others (null zone) `timezone`. A zone we do not know makes the time invalid.
    Each distinct zone of the batch is looked at once."""
    local = np.where(ok, naive, 0)
    if zones is None or zones.null_count == len(zones):
        return (local_to_utc(local, timezone) if ok.any() else local), ok
    encoded = pc.dictionary_encode(zones)
    code = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    utc = np.zeros(len(naive), np.int64)
    groups = [(code < 0, timezone)]
    groups += [(code == i, parse_zone(z)) for i, z in enumerate(encoded.dictionary.to_pylist())]
    valid = ok.copy()
    for rows, zone in groups:
        rows = rows & ok
        if not rows.any():
            continue
        if zone is None:
            valid &= ~rows
        elif isinstance(zone, int):
            utc[rows] = local[rows] - zone * US
        else:
            utc[rows] = local_to_utc(local[rows], zone)
    return utc, valid


def utc_timestamps(micros: np.ndarray, ok: np.ndarray) -> pa.Array:
    """timestamp[us, UTC] of UTC microseconds, null where not `ok`."""
    return pa.array(np.where(ok, micros, 0), UTC_TS, mask=~ok)


# --- year-less times ----------------------------------------------------------------------------
def local_reference(reference_time: datetime, timezone: str) -> datetime:
    """`reference_time` (naive = UTC) as a naive wall-clock time in `timezone`."""
    ref = reference_time
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    offset = fixed_offset(timezone)
    if offset is not None:
        return (ref.astimezone(UTC) + timedelta(seconds=offset)).replace(tzinfo=None)
    return ref.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


@dataclass(frozen=True)
class _Year:
    """Per month (1-12; 0 for none): days from 1970-01-01 to its first day, days it has."""

    first: np.ndarray
    days: np.ndarray


@lru_cache(maxsize=16)
def _year(year: int) -> _Year:
    years = np.array([year] * 12 + [year + 1])  # the first days of its months, then of
    first = days_from_civil(years, np.array([*range(1, 13), 1]), 1)  # the next year
    return _Year(np.array([0, *first[:12]]), np.array([0, *np.diff(first)]))


def yearless_naive(
    month: np.ndarray, day: np.ndarray, clock_us: np.ndarray, reference: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """(naive microseconds, valid date) of times without a year: month (1-12, 0 for none),
    day and microseconds since midnight. The year is `reference`'s (a naive wall-clock time,
    see `local_reference`), or the year before when that would put the time more than two
    days after the reference (a December line read in January)."""
    ref_us = (reference - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    this_year, last_year = _year(reference.year), _year(reference.year - 1)
    month = np.where((month >= 1) & (month <= 12), month, 0)
    us = clock_us + (day - 1) * DAY_US
    late = this_year.first[month] * DAY_US + us > ref_us + 2 * DAY_US
    naive = np.where(late, last_year.first[month], this_year.first[month]) * DAY_US + us
    days = np.where(late, last_year.days[month], this_year.days[month])
    return naive, (month > 0) & (day >= 1) & (day <= days)


# --- text ---------------------------------------------------------------------------------------
# Regexes (RE2) with named groups: y, mo, d, then optionally h, mi, s, f (fraction, up to 9
# digits), ap (AM/PM) and tz (`Z`, `UTC`, `GMT` or `+hh[[:]mm]`). A missing group reads as 0.
_TZ = r"\s*(?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
_CLOCK = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
# ISO 8601 with a clock (`T` or blanks before it); fraction digits past the ninth are ignored.
ISO = (
    r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9})\d*)?)?\s*"
    r"(?P<tz>[Zz]|UTC|[+-]\d{2}:?(?:\d{2})?)?\s*$"
)
# Norwegian/Danish day first with a clock: `01.03.2024 10:15[:00[,123]]` (`T` allowed too).
DAY_FIRST_CLOCK = (
    r"^\s*(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4})[T ]+\s*(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9})\d*)?)?\s*"
    r"(?P<tz>[Zz]|UTC|[+-]\d{2}:?(?:\d{2})?)?\s*$"
)
# ISO 8601 date with an optional clock: `2026-11-20`, `2026-11-20T08:12:33.1234567Z`.
ISO_DATE = r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:(?:T|\s+)" + _CLOCK + r")?" + _TZ
# US admin-center style: `11/20/2026 8:12:33 AM` (clock and AM/PM optional).
US_DATE = (
    r"^\s*(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})(?:,?\s+" + _CLOCK + r")?"
    r"\s*(?P<ap>[AaPp][Mm])?" + _TZ
)
# Day first with an optional clock: `20.11.2026`, `20.11.2026 08:12`.
DAY_FIRST = r"^\s*(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4})(?:,?\s+" + _CLOCK + r")?" + _TZ
# .NET JSON dates as PowerShell's ConvertTo-Json writes them: `/Date(1709284500000)/`.
DOTNET = r"^\\?/Date\((?P<ms>-?\d{1,15})(?:[+-]\d{4})?\)\\?/$"

# The forms of event logs (Windows events, record-access exports), and of MDM exports.
EVENT_FORMS = (ISO, DAY_FIRST_CLOCK, DOTNET)
MDM_FORMS = (ISO_DATE, US_DATE, DAY_FIRST)


def text_fields(parts: pa.StructArray) -> dict[str, np.ndarray]:
    """int64 numbers of the named groups of `pc.extract_regex` matches: y, mo, d, h, mi, s,
    f (the fraction as microseconds); 0 where a group is missing, empty or the row did not
    match."""
    names = {parts.type.field(i).name for i in range(parts.type.num_fields)}

    def ints(name: str) -> np.ndarray:
        if name not in names:
            return np.zeros(len(parts), np.int64)
        text = pc.binary_join_element_wise("0", pc.struct_field(parts, name), "")  # "" -> "0"
        return pc.cast(pc.fill_null(text, "0"), pa.int64()).to_numpy(zero_copy_only=False)

    out = {k: ints(k) for k in ("y", "mo", "d", "h", "mi", "s")}
    out["f"] = np.zeros(len(parts), np.int64)
    if "f" in names:
        frac = pc.binary_join_element_wise(pc.struct_field(parts, "f"), "000000", "")
        frac = pc.fill_null(pc.utf8_slice_codeunits(frac, 0, 6), "0")
        out["f"] = pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False)
    return out


def text_offsets(tz: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(seconds east of UTC, carries a zone) of zone texts `Z`, `UTC`, `GMT`, `+hh[[:]mm]`
    (null or empty for none)."""
    text = pc.fill_null(pc.replace_substring(tz, ":", ""), "")
    zoned = pc.not_equal(text, "").to_numpy(zero_copy_only=False)
    minus = pc.starts_with(text, "-").to_numpy(zero_copy_only=False)
    signed = minus | pc.starts_with(text, "+").to_numpy(zero_copy_only=False)
    offset = np.zeros(len(text), np.int64)
    rows = np.flatnonzero(signed)  # `Z`, `UTC`, `GMT`: 0
    if len(rows):
        digits = text.take(pa.array(rows))

        def number(start: int) -> np.ndarray:
            two = pc.utf8_slice_codeunits(digits, start, start + 2)
            text = pc.binary_join_element_wise("0", two, "")  # "" (no minutes) -> "0"
            return pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)

        offset[rows] = number(1) * 3600 + number(3) * 60
    return np.where(minus, -offset, offset), zoned


def _form_times(parts: pa.StructArray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """(UTC microseconds, valid) of the rows of one form's matches."""
    f = text_fields(parts)
    y, mo, d, h, mi, s = f["y"], f["mo"], f["d"], f["h"], f["mi"], f["s"]
    ok = (y >= 1) & date_ok(y, mo, d)
    if parts.type.get_field_index("ap") >= 0:
        ap = pc.fill_null(pc.utf8_lower(pc.struct_field(parts, "ap")), "")
        am = pc.equal(ap, "am").to_numpy(zero_copy_only=False)
        pm = pc.equal(ap, "pm").to_numpy(zero_copy_only=False)
        twelve = am | pm
        ok &= ~twelve | ((h >= 1) & (h <= 12))
        h = np.where(twelve, h % 12 + np.where(pm, 12, 0), h)
    ok &= clock_ok(h, mi, s, leap_second=False)
    local = days_from_civil(y, np.clip(mo, 1, 12), d) * DAY_US
    local += ((h * 60 + mi) * 60 + s) * US + f["f"]
    utc = local
    if parts.type.get_field_index("tz") >= 0:
        offset, zoned = text_offsets(pc.struct_field(parts, "tz"))
        ok &= np.abs(offset) <= MAX_OFFSET
        utc = np.where(zoned, local - offset * US, local)
        naive = ok & ~zoned
    else:
        naive = ok
    if naive.any():
        utc[naive] = local_to_utc(local[naive], timezone)
    return utc, ok


def _dotnet_times(parts: pa.StructArray) -> tuple[np.ndarray, np.ndarray]:
    ms = pc.cast(pc.fill_null(pc.struct_field(parts, "ms"), "0"), pa.int64())
    ms = ms.to_numpy(zero_copy_only=False)
    return ms * 1000, np.abs(ms) < 253_402_300_800_000  # before year 10000


def parse_text_times(
    values: pa.Array, timezone: str, forms: Sequence[str]
) -> tuple[pa.Array, np.ndarray]:
    """(timestamp[us, UTC], null where absent or unreadable; mask of present but unreadable
    values) of time texts in any of `forms` (tried in order; a value is read by the first
    form that matches it and yields a valid time). A time with an offset is converted with it;
    one without is read in `timezone` (an IANA name or a fixed "+HHMM")."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    utc, done = np.zeros(n, np.int64), np.zeros(n, bool)
    for form in forms:
        todo = np.flatnonzero(present & ~done)
        if not len(todo):
            break
        subset = values if len(todo) == n else values.take(pa.array(todo))
        parts = pc.extract_regex(subset, form)
        matched = parts.is_valid().to_numpy(zero_copy_only=False)
        if not matched.any():
            continue
        us, ok = _dotnet_times(parts) if form == DOTNET else _form_times(parts, timezone)
        good = matched & ok
        utc[todo[good]] = us[good]
        done[todo[good]] = True
    return utc_timestamps(utc, done), present & ~done


# --- bytes --------------------------------------------------------------------------------------
_DATE = {sep: pattern("0-9", "0-9", "0-9", "0-9", sep, "0-9", "0-9", sep) for sep in "-/"}
_DAY = pattern("0-9", "0-9")
_CLOCK_BYTES = pattern("0-9", "0-9", ":", "0-9", "0-9", ":", "0-9", "0-9")


def ymd_hms_naive(
    raw: Lines, date: np.ndarray, clock: np.ndarray, valid: np.ndarray, sep: str
) -> tuple[np.ndarray, np.ndarray]:
    """(wall-clock microseconds, valid) of `YYYY<sep>MM<sep>DD` at byte offset `date` and
    `hh:mm:ss` at `clock` of each line (the caller checks the spans' lengths)."""
    a, b, c = raw.load(date), raw.load(date + 8), raw.load(clock)
    ok = valid & (outside(a, _DATE[sep]) == 0)
    ok &= (outside(b, _DAY) & np.uint64(0xFFFF)) == 0
    ok &= outside(c, _CLOCK_BYTES) == 0
    year = digits2(a, 0) * 100 + digits2(a, 2)
    month, day = digits2(a, 5), digits2(b, 0)
    h, m, s = digits2(c, 0), digits2(c, 3), digits2(c, 6)
    ok &= date_ok(year, month, day) & (h <= 23) & (m <= 59) & (s <= 60)
    days = days_from_civil(np.where(ok, year, 1970), np.where(ok, month, 1), np.where(ok, day, 1))
    return (days * 86_400 + h * 3600 + m * 60 + s) * US, ok
