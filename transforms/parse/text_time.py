"""Vectorised parsing of event times written as text, for the JSON and CSV parsers.

Accepted shapes (one RE2 match per batch, then integer arithmetic in numpy):
- ISO 8601 / RFC 3339: `2024-03-01T10:15:00`, `2024-03-01 10:15:00.1234567Z`,
  `2024-03-01T10:15:00+01:00` (seconds and fraction optional, up to 9 fraction digits
  read, more ignored; `T` or spaces between date and clock)
- Norwegian: `01.03.2024 10:15[:00[,123]]` (day first), with the same optional offset
- .NET JSON dates as PowerShell's ConvertTo-Json writes them: `/Date(1709284500000)/`
A time with an offset is converted with it; one without is read in the batch's
timezone (an IANA name or a fixed "+HHMM").
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UTC_TS = pa.timestamp("us", tz="UTC")
_US = 1_000_000
_DAY_US = 86_400 * _US

_DAY_FIRST = r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[T ]+|$)"
_ISO = (
    r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9})\d*)?)?\s*"
    r"(?:(?P<z>[Zz]|UTC)|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?)?\s*$"
)
_DOTNET = r"^\\?/Date\((?P<ms>-?\d{1,15})(?:[+-]\d{4})?\)\\?/$"


def parse_times(values: pa.Array, timezone: str) -> tuple[pa.Array, np.ndarray]:
    """(UTC timestamps, null where absent or unreadable; mask of present but unreadable)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    iso = pc.extract_regex(pc.replace_substring_regex(values, _DAY_FIRST, r"\3-\2-\1 "), _ISO)
    matched = iso.is_valid().to_numpy(zero_copy_only=False)

    def num(name: str) -> np.ndarray:
        text = pc.struct_field(iso, name)
        text = pc.if_else(pc.equal(text, ""), "0", text)
        return pc.fill_null(pc.cast(text, pa.int64()), 0).to_numpy(zero_copy_only=False)

    y, mo, d, h, mi, s = (num(k) for k in ("y", "mo", "d", "h", "mi", "s"))
    frac = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.struct_field(iso, "f"), 6, "0"), 0, 6)
    us = pc.fill_null(pc.cast(frac, pa.int64()), 0).to_numpy(zero_copy_only=False)
    sign = pc.fill_null(pc.equal(pc.struct_field(iso, "sign"), "-"), False).to_numpy(
        zero_copy_only=False
    )
    offset = (num("oh") * 3600 + num("om") * 60) * np.where(sign, -1, 1)
    zoned = (
        pc.fill_null(
            pc.or_(
                pc.not_equal(pc.struct_field(iso, "z"), ""),
                pc.not_equal(pc.struct_field(iso, "sign"), ""),
            ),
            False,
        ).to_numpy(zero_copy_only=False)
        & matched
    )
    ok = (
        matched
        & (y >= 1)
        & (mo >= 1)
        & (mo <= 12)
        & (d >= 1)
        & (d <= _days_in_month(y, mo))
        & (h <= 23)
        & (mi <= 59)
        & (s <= 59)
        & (np.abs(offset) <= 18 * 3600)
    )
    local = _days_from_civil(y, np.clip(mo, 1, 12), d) * _DAY_US
    local += ((h * 60 + mi) * 60 + s) * _US + us
    utc = np.where(zoned, local - offset * _US, local)
    naive = ok & ~zoned
    if naive.any():
        utc[naive] = _local_to_utc(local[naive], y[naive], timezone)

    dotnet = pc.extract_regex(values, _DOTNET)
    if pc.any(dotnet.is_valid()).as_py():
        ms = pc.cast(pc.struct_field(dotnet, "ms"), pa.int64()).to_numpy(zero_copy_only=False)
        hit = dotnet.is_valid().to_numpy(zero_copy_only=False) & ~ok
        fine = hit & (np.abs(np.nan_to_num(ms)) < 253_402_300_800_000)  # before year 10000
        utc = np.where(fine, np.nan_to_num(ms).astype(np.int64) * 1000, utc)
        ok = ok | fine
    times = pa.array(np.where(ok, utc, 0), UTC_TS, mask=~ok)
    return times, present & ~ok if n else np.zeros(0, bool)


def _days_in_month(y: np.ndarray, mo: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    table = np.array([31, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    days = table[np.clip(mo, 0, 12)]
    return np.where((mo == 2) & leap, 29, days)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (March-based years)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def fixed_offset(tz: str) -> int | None:
    """Seconds east of UTC of "UTC", "Z", "+HHMM", "+HH:MM", "+HH"; None for zone names."""
    if tz.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return 0
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", tz)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60)


def _local_to_utc(local_us: np.ndarray, year: np.ndarray, tz: str) -> np.ndarray:
    offset = fixed_offset(tz)
    if offset is not None:
        return local_us - offset * _US
    ZoneInfo(tz)  # an unknown zone name is a configuration error, not a row error
    # Zone rules only for plausible years (others are refused by validation anyway).
    sane = (year >= 1900) & (year <= 2200)
    out = local_us.copy()
    if sane.any():
        local = pa.array(local_us[sane], pa.timestamp("us"))
        zoned = pc.assume_timezone(local, timezone=tz, ambiguous="earliest", nonexistent="earliest")
        out[sane] = zoned.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return out
