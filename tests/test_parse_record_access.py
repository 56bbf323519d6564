"""Record look-up CSV exports (health-journal access logs): headers in English and
Norwegian and in any order, quoting, batches from the middle of a file, rejects with
fixed reasons, robustness, an ingest end to end with rec- pseudonyms, throughput."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.datasets import RECORD_ACCESS
from tests import parser_checks as checks
from tests.parser_checks import reasons, rows
from transforms.auto_detect import detect_lines
from transforms.parse.base import ParseContext, ParseResult
from transforms.parse.record_access_csv import (
    EXAMPLES,
    FREE_TEXT,
    R_BAD_HEADER,
    R_BAD_TIME,
    R_DUP_HEADER,
    R_EMPTY,
    R_FIELDS,
    R_HEADER_LINE,
    R_NO_HEADER,
    R_NO_RECORD,
    R_NO_TIME,
    R_NO_USER,
    R_QUOTING,
    REASONS,
    RECORD_ACCESS_CSV,
    parse_record_access_csv,
)
from transforms.parse.registry import FORMATS

ENGLISH = "time,user,user_unit,record_id,record_unit,action,reason_code"
NORWEGIAN = "Tidspunkt;Bruker;Brukers enhet;Journal-ID;Journalens enhet;Handling;Begrunnelse"
REORDERED = "Record_ID,Action,TIME,Reason_Code,User,Record_Unit,User_Unit,Comment"


def parse(lines: list[str | None], header: str | None, tz: str = "UTC") -> ParseResult:
    ctx = ParseContext(first_line=header, timezone=tz)
    return checks.parse_accounted(RECORD_ACCESS_CSV, lines, ctx, REASONS)


def test_english_header_and_the_header_line_itself() -> None:
    lines = [
        ENGLISH,
        "2026-11-16T08:01:02+01:00,kari.nordmann,Kirurgi 2,10234567,Kirurgi 2,read,BEH",
        '2026-11-16 08:05:40,ola.hansen,Akuttmottak,10998877,"Medisin, post 3",Print,',
    ]  # fmt: skip
    result = parse(lines, ENGLISH, tz="Europe/Oslo")
    assert reasons(result) == {0: R_HEADER_LINE}
    first, second = rows(result)[1], rows(result)[2]
    assert first["time"].isoformat() == "2026-11-16T07:01:02+00:00"
    assert (first["actor_user"], first["actor_unit"], first["record_id"]) == (
        "kari.nordmann", "Kirurgi 2", "10234567",
    )  # fmt: skip
    assert (first["action"], first["outcome"], first["reason_code"]) == ("read", "success", "BEH")
    assert second["time"].isoformat() == "2026-11-16T07:05:40+00:00"  # local time, Oslo
    assert second["record_unit"] == "Medisin, post 3" and second["action"] == "print"
    assert second["reason_code"] is None


def test_norwegian_header_semicolons_and_day_first_times() -> None:
    lines = [
        "16.11.2026 08:01:02;kari;Kirurgi;10234567;Medisin;oppslag;Nødrett",
        "16.11.2026 08:01;ola;Barn;10234568;Barn;Skriv ut;",
        '"16.11.2026 09:00";per;Barn;10234569;Barn;eksport;"BEH; tilsyn"',
    ]
    result = parse(lines, NORWEGIAN, tz="Europe/Oslo")
    got = rows(result)
    assert [got[i]["action"] for i in range(3)] == ["read", "print", "export"]
    assert got[0]["time"].isoformat() == "2026-11-16T07:01:02+00:00"
    assert got[0]["reason_code"] == "Nødrett" and got[2]["reason_code"] == "BEH; tilsyn"
    assert got[1]["actor_unit"] == "Barn" and got[0]["record_unit"] == "Medisin"


def test_columns_in_another_order_with_an_unknown_column_counted() -> None:
    lines = ['10234567,read,2026-11-16T07:00:00Z,,kari,"Psykiatri, DPS",Barn,"fritekst, navn"']
    result = parse(lines, REORDERED)
    row = rows(result)[0]
    assert row["record_id"] == "10234567" and row["actor_user"] == "kari"
    assert row["record_unit"] == "Psykiatri, DPS" and row["actor_unit"] == "Barn"
    assert row["reason_code"] is None and row["time"].isoformat() == "2026-11-16T07:00:00+00:00"
    assert result.dropped == {"comment": 1}
    assert "fritekst, navn" not in str(result.table.to_pylist())


def test_a_batch_from_the_middle_of_a_file_knows_its_columns() -> None:
    lines = ["2026-11-16T07:00:00Z,kari,A,1,B,update,X", "2026-11-16T07:01:00Z,ola,A,2,A,slettet,X"]
    result = parse(lines, "\ufeff" + ENGLISH)  # the header (with a BOM) is not in the batch
    assert [r["action"] for r in rows(result).values()] == ["update", "delete"]


def test_values_are_mapped_and_free_text_is_not_kept() -> None:
    header = "time,user,record_id,action,reason_code,outcome"
    long_reason = "Ringte pasienten Kari Nordmann om prøvesvar etter avtale med lege"
    lines = [
        f"2026-11-16T07:00:00Z,kari,1,kikket,{long_reason},nektet",
        "2026-11-16T07:00:00Z,kari,2,,BEH,weird",
        "2026-11-16T07:00:00Z,kari,3,Skrevet ut,BEH,OK",
    ]
    got = rows(parse(lines, header))
    assert (got[0]["action"], got[0]["reason_code"], got[0]["outcome"]) == (
        "other", FREE_TEXT, "failure",
    )  # fmt: skip
    assert (got[1]["action"], got[1]["outcome"]) == ("access", None)
    assert (got[2]["action"], got[2]["outcome"]) == ("print", "success")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", R_EMPTY),
        ("2026-11-16T07:00:00Z,kari,A,1,B,read", R_FIELDS),
        ('2026-11-16T07:00:00Z,kari,A,1,"B,read,X', R_QUOTING),
        ('2026-11-16T07:00:00Z,ka"ri,A,1,B,read,X', R_QUOTING),
        (",kari,A,1,B,read,X", R_NO_TIME),
        ("16/11/2026 kari,kari,A,1,B,read,X", R_BAD_TIME),
        ("2026-02-30 08:00:00,kari,A,1,B,read,X", R_BAD_TIME),
        ("2026-11-16T07:00:00Z, ,A,1,B,read,X", R_NO_USER),
        ("2026-11-16T07:00:00Z,kari,A,,B,read,X", R_NO_RECORD),
    ],
)
def test_rejects_with_fixed_reasons(line: str, reason: str) -> None:
    assert reasons(parse([line], ENGLISH)) == {0: reason}
    assert "kari" not in reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, R_NO_HEADER),
        ("2026-11-16T07:00:00Z,kari,A,1,B,read,X", R_BAD_HEADER),
        ("time,user,action", R_BAD_HEADER),
        ("time,user,bruker,record_id", R_DUP_HEADER),
    ],
)
def test_a_file_without_a_usable_header_is_refused_line_by_line(header, reason) -> None:
    result = parse(["2026-11-16T07:00:00Z,kari,A,1,B,read,X", None], header)
    assert reasons(result)[0] == reason and result.table.num_rows == 0


def test_format_registration_and_detect() -> None:
    assert FORMATS["record-access-csv"] is RECORD_ACCESS_CSV
    assert RECORD_ACCESS_CSV.dataset is RECORD_ACCESS
    assert RECORD_ACCESS_CSV.detect is None  # no per-line detector: `auto` decides by header
    assert detect_lines(pa.array(list(EXAMPLES)), [RECORD_ACCESS_CSV]).to_pylist() == [None] * 3
    assert len(rows(parse(list(EXAMPLES[1:]), EXAMPLES[0]))) == 2


@checks.PROPERTY
@given(
    lines=st.lists(st.one_of(st.none(), st.text(max_size=200)), max_size=20),
    header=st.one_of(st.none(), st.just(ENGLISH), st.just(NORWEGIAN), st.text(max_size=80)),
)
def test_arbitrary_text_never_raises(lines: list[str | None], header: str | None) -> None:
    parse(lines, header)


@checks.PROPERTY
@given(checks.mutated(EXAMPLES, ['"', ",", ";", "\r", "\x00", "ø", "\n", "a", "9"], truncate=True,
               keep_seeds=True))  # fmt: skip
def test_truncated_and_mutated_lines_never_raise(lines: list[str]) -> None:
    parse(lines, EXAMPLES[0])


def test_a_one_megabyte_line() -> None:
    big = "2026-11-16T07:00:00Z,kari,A,1,B,read," + "x" * 1_000_000
    parse([big, EXAMPLES[1], '"' * 1_000_000], EXAMPLES[0])


def test_ingest_end_to_end_pseudonymises_records(tmp_path: Path) -> None:
    lines = [ENGLISH]
    records = [f"1{i:07d}" for i in range(40)]
    for i, record in enumerate(records):
        lines.append(f"2026-11-16T07:{i:02d}:00Z,kari.nordmann,Kirurgi,{record},Medisin,read,")
    lines += ["not,a,row", ""]
    store, summary = checks.ingest_lines(tmp_path, "record-access-csv", lines)
    assert summary.written == 40 and summary.rejected == 3
    files = checks.lake_files(store, "record_access")
    ids: list[str] = []
    for path in files:
        table = pq.read_table(path)
        if "record_id" in table.column_names:
            ids += table.column("record_id").to_pylist()
    strings = checks.string_values(files)
    assert len(ids) >= 40 and all(i.startswith("rec-") for i in ids)
    assert len(set(ids)) == 40
    assert not any(r in s for r in records for s in strings)
    assert not any("kari" in s.casefold() for s in strings)
    assert "Kirurgi" in strings  # care units are kept


def test_a_large_input_parses_whole() -> None:
    n = 200_000
    units = ["Kirurgisk post 2", "Akuttmottak", '"Medisin, post 3"', "Barn", "Psykiatri DPS"]
    lines = pa.array([
        f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}+01:00,"
        f"user{i % 1999},{units[i % 5]},{10_000_000 + i * 7919 % 9_000_000},{units[i * 3 % 5]},"
        f"{('read', 'les', 'print', 'update')[i % 4]},{('BEH', '', 'NØD')[i % 3]}"
        for i in range(n)
    ])  # fmt: skip
    result, _rate = checks.lines_per_second(
        parse_record_access_csv, lines, ParseContext(first_line=ENGLISH), runs=2
    )
    assert result.table.num_rows == n
