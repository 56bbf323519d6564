"""The shared timestamp functions of transforms.parse.timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from transforms.parse.line_bytes import line_bytes
from transforms.parse.timestamps import (
    EVENT_FORMS,
    MDM_FORMS,
    date_ok,
    days_from_civil,
    days_in_month,
    fixed_offset,
    local_reference,
    local_to_utc,
    parse_text_times,
    parse_zone,
    yearless_naive,
    ymd_hms_naive,
    zones_to_utc,
)

EPOCH = datetime(1970, 1, 1)


def naive_us(*texts: str) -> np.ndarray:
    return np.array(
        [(datetime.fromisoformat(t) - EPOCH) // timedelta(microseconds=1) for t in texts]
    )


def as_utc(micros) -> list[datetime]:
    return [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(u)) for u in micros]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


# --- calendar -----------------------------------------------------------------------------------
def test_invalid_dates_are_rejected() -> None:
    y = ints(2026, 2026, 2024, 2026, 1900, 2000, 2026, 2026, 2026, 2026)
    m = ints(2, 2, 2, 2, 2, 2, 0, 13, 4, 12)
    d = ints(30, 28, 29, 29, 29, 29, 1, 1, 31, 31)
    expected = [False, True, True, False, False, True, False, False, False, True]
    assert date_ok(y, m, d).tolist() == expected
    assert days_in_month(ints(2024, 2100, 2026), ints(2, 2, 0)).tolist() == [29, 28, 0]


def test_days_from_civil_matches_the_proleptic_gregorian_calendar() -> None:
    days = [
        date(1, 1, 1),
        date(1600, 2, 29),
        date(1969, 12, 31),
        date(1970, 1, 1),
        date(2024, 2, 29),
    ]
    days += [date(2026, 3, 1), date(9999, 12, 31)]
    got = days_from_civil(
        ints(*(x.year for x in days)), ints(*(x.month for x in days)), ints(*(x.day for x in days))
    )
    assert got.tolist() == [(x - date(1970, 1, 1)).days for x in days]


# --- zones --------------------------------------------------------------------------------------
def test_oslo_dst_gap_and_overlap_take_the_earliest_reading() -> None:
    got = as_utc(
        local_to_utc(
            naive_us(
                "2026-03-29T01:59:59",  # the last second of CET
                "2026-03-29T02:30:00",  # in the spring gap: the last instant before it
                "2026-03-29T03:00:00",  # the first of CEST
                "2026-10-25T02:30:00",  # in the autumn overlap: the CEST reading
                "2026-10-25T03:00:00",  # CET again
                "2026-07-01T12:00:00",
            ),
            "Europe/Oslo",
        )
    )
    assert got == [
        utc("2026-03-29T00:59:59"),
        utc("2026-03-29T00:59:59.999999"),
        utc("2026-03-29T01:00:00"),
        utc("2026-10-25T00:30:00"),
        utc("2026-10-25T02:00:00"),
        utc("2026-07-01T10:00:00"),
    ]


@pytest.mark.parametrize(
    ("tz", "seconds"),
    [("UTC", 0), ("Z", 0), ("GMT", 0), ("+0530", 19_800), ("-05:00", -18_000), ("+01", 3600)],
)
def test_fixed_offsets(tz: str, seconds: int) -> None:
    assert fixed_offset(tz) == seconds
    (got,) = as_utc(local_to_utc(naive_us("2026-01-15T12:00:00"), tz))
    assert got == utc("2026-01-15T12:00:00") - timedelta(seconds=seconds)


def test_a_zone_name_is_not_a_fixed_offset_and_an_unknown_one_raises() -> None:
    assert fixed_offset("Europe/Oslo") is None
    with pytest.raises(Exception, match="Mars"):
        local_to_utc(naive_us("2026-01-15T12:00:00"), "Mars/Olympus")


def test_zones_written_in_values() -> None:
    assert parse_zone("CET") == 3600
    assert parse_zone("UTC+1:00") == 3600
    assert parse_zone("-0500") == -18_000
    assert parse_zone(" Europe/Oslo ") == "Europe/Oslo"
    assert parse_zone("+1500") is None  # no such offset
    assert parse_zone("Mars/Olympus") is None
    assert parse_zone("cest") == 7200


def test_zones_to_utc_per_row_with_the_default_for_rows_without_one() -> None:
    naive = naive_us(*["2026-07-01T12:00:00"] * 5)
    ok = np.array([True, True, True, True, False])
    zones = pa.array([None, "-0500", "Europe/Oslo", "Mars/Olympus", "CET"])
    micros, valid = zones_to_utc(naive, ok, zones, "+0100")
    assert valid.tolist() == [True, True, True, False, False]
    assert as_utc(micros[:3]) == [
        utc("2026-07-01T11:00:00"),
        utc("2026-07-01T17:00:00"),
        utc("2026-07-01T10:00:00"),
    ]
    micros, valid = zones_to_utc(naive, ok, None, "Europe/Oslo")
    assert valid.tolist() == ok.tolist()
    assert as_utc(micros[:1]) == [utc("2026-07-01T10:00:00")]


# --- year-less times ----------------------------------------------------------------------------
def test_local_reference_is_the_wall_clock_in_the_zone() -> None:
    ref = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert local_reference(ref, "Europe/Oslo") == datetime(2026, 1, 1, 0, 30)
    assert local_reference(ref, "-0500") == datetime(2025, 12, 31, 18, 30)
    assert local_reference(ref.replace(tzinfo=None), "UTC") == datetime(2025, 12, 31, 23, 30)


def test_year_inference_across_new_year() -> None:
    reference = datetime(2026, 1, 1, 0, 30)  # just after midnight on New Year's Day
    month, day = ints(12, 1, 1, 1, 6), ints(31, 1, 3, 4, 1)
    clock = ints(23, 0, 0, 0, 12) * 3600 * 1_000_000
    naive, ok = yearless_naive(month, day, clock, reference)
    assert ok.all()
    assert [EPOCH + timedelta(microseconds=int(u)) for u in naive] == [
        datetime(2025, 12, 31, 23),  # December, read in January: last year
        datetime(2026, 1, 1, 0),
        datetime(2026, 1, 3, 0),  # up to two days ahead of the reference: this year
        datetime(2025, 1, 4, 0),  # further ahead: last year
        datetime(2025, 6, 1, 12),
    ]


def test_year_inference_checks_the_day_in_the_year_it_chose() -> None:
    month, day, clock = ints(2, 2, 0, 13, 4), ints(29, 30, 1, 1, 31), ints(0, 0, 0, 0, 0)
    naive, ok = yearless_naive(month, day, clock, datetime(2025, 1, 10))
    assert ok.tolist() == [True, False, False, False, False]
    assert EPOCH + timedelta(microseconds=int(naive[0])) == datetime(2024, 2, 29)
    _, ok = yearless_naive(ints(2), ints(29), ints(0), datetime(2026, 3, 10))
    assert not ok[0]  # 2026 has no 29 February


# --- text ---------------------------------------------------------------------------------------
def test_event_forms() -> None:
    values = pa.array(
        [
            "2026-11-16T08:01:02.345Z",
            "2026-11-16 08:01:02+01:00",
            "2026-11-16T08:01",  # read in the batch's zone
            "16.11.2026 08:01:02,5",
            "/Date(1794812462000)/",
            "2026-02-30 08:00:00",
            "11/16/2026 08:01",  # a US date is no event form
            "2026-11-16 08:01:02 UTC",
            "",
            None,
        ]
    )
    times, unreadable = parse_text_times(values, "Europe/Oslo", EVENT_FORMS)
    assert times.to_pylist() == [
        utc("2026-11-16T08:01:02.345"),
        utc("2026-11-16T07:01:02"),
        utc("2026-11-16T07:01:00"),
        utc("2026-11-16T07:01:02.5"),
        utc("2026-11-16T07:01:02"),
        None,
        None,
        utc("2026-11-16T08:01:02"),
        None,
        None,
    ]
    assert unreadable.tolist() == [False] * 5 + [True, True, False, True, False]


def test_mdm_forms() -> None:
    values = pa.array(
        [
            "2026-11-20T08:12:33.1234567Z",
            "2026-11-20",
            "11/20/2026 8:12:33 PM",
            "11/20/2026 12:05 AM",
            "20.11.2026 08:12",
            "2026-11-20 08:12:33 GMT",
            "11/20/2026 13:00 PM",
            "2026-11-20T08:12:33+19:00",  # no zone is 19 hours from UTC
            "30.02.2026",
        ]
    )
    times, unreadable = parse_text_times(values, "+0100", MDM_FORMS)
    assert times.to_pylist() == [
        utc("2026-11-20T08:12:33.123456"),
        utc("2026-11-19T23:00:00"),
        utc("2026-11-20T19:12:33"),
        utc("2026-11-19T23:05:00"),
        utc("2026-11-20T07:12:00"),
        utc("2026-11-20T08:12:33"),
        None,
        None,
        None,
    ]
    assert unreadable.tolist() == [False] * 6 + [True] * 3


def test_text_times_in_a_dst_gap_and_overlap() -> None:
    values = pa.array(["2026-03-29 02:30:00", "25.10.2026 02:30"])
    times, unreadable = parse_text_times(values, "Europe/Oslo", EVENT_FORMS)
    assert not unreadable.any()
    assert times.to_pylist() == [utc("2026-03-29T00:59:59.999999"), utc("2026-10-25T00:30:00")]


def test_dates_and_clocks_from_line_bytes() -> None:
    lines = line_bytes(
        pa.array(["x 2026-02-28 23:59:60 y", "x 2026-02-30 10:00:00 y", "x 2026/02/28 10:00:00"])
    )
    start = lines.start + 2
    naive, ok = ymd_hms_naive(lines, start, start + 11, np.ones(3, bool), "-")
    assert ok.tolist() == [True, False, False]
    assert EPOCH + timedelta(microseconds=int(naive[0])) == datetime(2026, 3, 1, 0, 0, 0)
    _, ok = ymd_hms_naive(lines, start, start + 11, np.ones(3, bool), "/")
    assert ok.tolist() == [False, False, True]
