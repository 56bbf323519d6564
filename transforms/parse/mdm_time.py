"""Vectorised parsing of the timestamps MDM exports write: ISO 8601 (Graph's
`2026-11-20T08:12:33.1234567Z`, `2026-11-20 08:12:33` in CSV exports), US admin-center
style `11/20/2026 8:12:33 AM`, and Norwegian/Danish `20.11.2026 08:12`. A value without
an offset is in the parse context's zone. Dates are checked (no 30 February, no hour 25).
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TZ = r"\s*(?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
_CLOCK = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
PATTERNS = (
    r"^\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})(?:(?:T|\s+)" + _CLOCK + r")?(?P<ap>)" + _TZ,
    r"^\s*(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})(?:,?\s+" + _CLOCK
    + r")?\s*(?P<ap>[AaPp][Mm])?" + _TZ,
    r"^\s*(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4})(?:,?\s+" + _CLOCK + r")?(?P<ap>)" + _TZ,
)  # fmt: skip
_US = 1_000_000
_DAY_US = 86_400 * _US


def parse_times(values: pa.Array, timezone: str) -> tuple[pa.Array, pa.Array]:
    """(timestamp[us, UTC] or null, invalid): `invalid` marks non-blank values that are
    no time; blank and null values are null and not invalid."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    out = np.zeros(n, np.int64)
    done = np.zeros(n, bool)
    for pattern in PATTERNS:
        parts = pc.extract_regex(values, pattern)
        matched = np.asarray(pc.fill_null(pc.is_valid(parts), False)) & ~done
        if not matched.any():
            continue
        us, ok = _components(parts, timezone)
        good = matched & ok
        out[good] = us[good]
        done |= good
    blank = np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True))
    times = pa.array(out, pa.int64(), mask=~done).cast(pa.timestamp("us", tz="UTC"))
    return times, pa.array(~done & ~blank)


def _ints(parts: pa.StructArray, name: str) -> np.ndarray:
    # Prefixing "0" turns a missing (empty) group into 0 and keeps digits as they are.
    text = pc.binary_join_element_wise("0", pc.struct_field(parts, name), "")
    return np.asarray(pc.cast(pc.fill_null(text, "0"), pa.int64()))


def _components(parts: pa.StructArray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    y, mo, d = _ints(parts, "y"), _ints(parts, "mo"), _ints(parts, "d")
    h, mi, s = _ints(parts, "h"), _ints(parts, "mi"), _ints(parts, "s")
    frac = pc.utf8_slice_codeunits(
        pc.binary_join_element_wise(pc.struct_field(parts, "f"), "000000", ""), 0, 6
    )
    f = np.asarray(pc.cast(pc.fill_null(frac, "000000"), pa.int64()))
    ap = np.asarray(pc.fill_null(pc.utf8_lower(pc.struct_field(parts, "ap")), ""), object)
    am, pm = ap == "am", ap == "pm"
    twelve = am | pm
    ok = ~twelve | ((h >= 1) & (h <= 12))
    h = np.where(twelve, h % 12 + np.where(pm, 12, 0), h)
    ok &= (y >= 1) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= _month_days(y, mo))
    ok &= (h < 24) & (mi < 60) & (s < 60)
    local = _civil_days(y, mo, d) * _DAY_US + ((h * 60 + mi) * 60 + s) * _US + f
    tz = pc.fill_null(pc.struct_field(parts, "tz"), "")
    offset, zoned = _offsets(tz)
    utc = local - offset * _US
    if not zoned.all():
        utc = np.where(zoned, utc, _local_to_utc(np.where(ok, local, 0), timezone))
    return utc, ok


def _offsets(tz: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Seconds east of UTC per value and whether the value carried an offset."""
    text = pc.replace_substring(tz, ":", "")
    zoned = np.asarray(pc.not_equal(text, ""))
    signed = np.asarray(pc.or_(pc.starts_with(text, "+"), pc.starts_with(text, "-")))
    hh = pc.binary_join_element_wise("0", pc.utf8_slice_codeunits(text, 1, 3), "")
    mm = pc.binary_join_element_wise("0", pc.utf8_slice_codeunits(text, 3, 5), "")
    hours = np.where(signed, np.asarray(pc.cast(hh, pa.int64(), safe=False)), 0)
    minutes = np.where(signed, np.asarray(pc.cast(mm, pa.int64(), safe=False)), 0)
    sign = np.where(np.asarray(pc.starts_with(text, "-")), -1, 1)
    return sign * (hours * 3600 + minutes * 60), zoned


def _fixed_offset(tz: str) -> int | None:
    """Seconds east of UTC for "UTC", "Z", "+HHMM", "+HH:MM", "+HH"; None for IANA names."""
    if tz.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return 0
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", tz)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60)


def _local_to_utc(local_us: np.ndarray, timezone: str) -> np.ndarray:
    offset = _fixed_offset(timezone)
    if offset is not None:
        return local_us - offset * _US
    ZoneInfo(timezone)  # an unknown zone is a configuration error, not a row error
    naive = pa.array(local_us, pa.timestamp("us"))
    zoned = pc.assume_timezone(
        naive, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
    )
    return np.asarray(zoned.cast(pa.int64()))


def _month_days(y: np.ndarray, mo: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(mo, 0, 12)]
    return np.where((mo == 2) & leap, 29, days)


def _civil_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
