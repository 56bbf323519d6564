"""Record look-up logs exported as CSV (health-journal systems such as DIPS or other EPJ
access logs) to the record_access dataset: who opened which record, from which care
unit, with which stated reason (seeds 001 and 004: look-ups without a service need are
to be found and confronted).

The file's first line is its header (ParseContext.first_line, so a batch from the middle
of the file still knows its columns). Names are matched case-insensitively, in any order,
with spaces, dashes and dots read as `_`, in English or Norwegian (HEADER_ALIASES). A
time, a user and a record id column are required; the others are optional; unknown
columns are dropped at the edge and counted. The delimiter is what the header uses: `,`,
`;` (Norwegian spreadsheets) or a tab. Fields may be quoted (`"Medisin, post 3"`, `""`
inside quotes), but a row must sit on one line.

The record id is a third party's personal data (identity=record): the policy
pseudonymises it (`rec-...`). Nothing in a line can be detected as this format without
its header, so `detect` claims no line: name the format (`--source record-access-csv`),
or let `--source auto` choose it per file by its header.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import RECORD_ACCESS
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform
from transforms.parse.syslog_header import RowErrors
from transforms.parse.timestamps import EVENT_FORMS, parse_text_times

NAME = "record-access-csv"

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "datetime", "date_time", "event_time", "logged_at",
             "tidspunkt", "tid", "dato_tid", "datotid", "tidsstempel"),
    "actor_user": ("user", "user_id", "userid", "username", "user_name", "actor",
                   "bruker", "brukernavn", "bruker_id", "brukerid", "ansatt", "ansatt_id"),
    "actor_unit": ("user_unit", "actor_unit", "users_unit", "brukers_enhet",
                   "brukerens_enhet", "bruker_enhet", "brukerenhet"),
    "record_id": ("record_id", "record", "recordid", "record_number", "journal_id",
                  "journalid", "journal", "journal_nr", "journalnr", "journalnummer",
                  "patient_id", "pasient_id", "pasientid"),
    "record_unit": ("record_unit", "records_unit", "journalens_enhet", "journal_enhet",
                    "journalenhet", "pasientens_enhet"),
    "action": ("action", "operation", "handling", "hendelse", "aktivitet"),
    "reason_code": ("reason_code", "reason", "access_reason", "begrunnelse",
                    "begrunnelseskode", "begrunnelse_kode", "årsak", "arsak", "årsakskode",
                    "tilgangsgrunnlag"),
    "outcome": ("outcome", "result", "status", "resultat", "utfall"),
    "observer": ("observer", "host", "hostname", "server", "system", "kilde"),
    "event_id": ("event_id", "log_id", "logid", "logg_id", "hendelse_id", "hendelsesid"),
}  # fmt: skip
REQUIRED = ("time", "actor_user", "record_id")
_COLUMN_OF = {alias: col for col, names in HEADER_ALIASES.items() for alias in names}

ACTIONS: dict[str, str] = {
    **dict.fromkeys(("read", "view", "viewed", "open", "opened", "lookup", "look_up",
                     "oppslag", "les", "lese", "lest", "lesing", "vis", "vist", "visning",
                     "åpne", "åpnet", "apne", "apnet", "innsyn"), "read"),
    **dict.fromkeys(("update", "updated", "write", "edit", "modify", "endre", "endret",
                     "endring", "oppdater", "oppdatert", "skriv", "lagre", "lagret"), "update"),
    **dict.fromkeys(("print", "printed", "skriv_ut", "utskrift", "skrive_ut", "skrevet_ut"),
                    "print"),
    **dict.fromkeys(("export", "exported", "download", "eksport", "eksporter", "eksportert",
                     "nedlasting"), "export"),
    **dict.fromkeys(("delete", "deleted", "remove", "slett", "slette", "slettet", "sletting"),
                    "delete"),
    **dict.fromkeys(("access", "tilgang"), "access"),
}  # fmt: skip
OUTCOMES: dict[str, str] = {
    **dict.fromkeys(("success", "succeeded", "ok", "granted", "allowed", "innvilget",
                     "godkjent", "vellykket", "ja", "true", "1"), "success"),
    **dict.fromkeys(("failure", "failed", "denied", "refused", "nektet", "avvist", "avslått",
                     "feil", "nei", "false", "0"), "failure"),
}  # fmt: skip
OTHER_ACTION = "other"  # an action word we do not know (its text is not kept)
FREE_TEXT = "(free text)"  # a reason longer than a code (free text may name people)
MAX_REASON_CODE = 40

# Fixed reject reasons: they never quote anything from the line.
R_NULL = "null line"
R_EMPTY = "empty line"
R_TOO_LONG = "line too long"
R_NO_HEADER = "no CSV header (the file's first line)"
R_BAD_HEADER = "CSV header lacks a time, user or record id column"
R_DUP_HEADER = "CSV header names a column twice"
R_HEADER_LINE = "CSV header line (not an event)"
R_QUOTING = "malformed CSV quoting"
R_FIELDS = "wrong number of CSV fields"
R_NO_TIME = "missing time"
R_BAD_TIME = "invalid time"
R_NO_USER = "missing user"
R_NO_RECORD = "missing record id"
REASONS = frozenset(
    {R_NULL, R_EMPTY, R_TOO_LONG, R_NO_HEADER, R_BAD_HEADER, R_DUP_HEADER, R_HEADER_LINE,
     R_QUOTING, R_FIELDS, R_NO_TIME, R_BAD_TIME, R_NO_USER, R_NO_RECORD}
)  # fmt: skip
MAX_LINE_CHARS = 1 << 16


class Header:
    """A header line read once: its delimiter, width, and where each column is."""

    def __init__(self, text: str, delimiter: str, names: list[str]) -> None:
        self.text = text
        self.delimiter = delimiter
        self.width = len(names)
        self.columns = {_COLUMN_OF[n]: i for i, n in enumerate(names) if n in _COLUMN_OF}
        self.unknown = {i: n[:40] for i, n in enumerate(names) if n not in _COLUMN_OF and n}
        d = re.escape(delimiter)
        field = rf'(?:[^"{d}\r\n\x00]*|"(?:[^"\r\n\x00]|"")*")'
        self.grammar = rf"^{field}(?:{d}{field})*$"


def _normal(name: str) -> str:
    return re.sub(r"[\s\-./]+", "_", name.strip().strip('"').strip().casefold()).strip("_")


@lru_cache(maxsize=64)
def read_header(first_line: str | None) -> Header | str:
    """The header, or the reason every line of its file is refused."""
    if first_line is None:
        return R_NO_HEADER
    text = first_line.lstrip("\ufeff").rstrip("\r")
    counts = {d: text.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    try:
        fields = next(csv.reader([text], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return R_BAD_HEADER
    names = [_normal(f) for f in fields]
    known = [_COLUMN_OF[n] for n in names if n in _COLUMN_OF]
    if len(known) != len(set(known)):
        return R_DUP_HEADER
    if not all(col in known for col in REQUIRED):
        return R_BAD_HEADER
    return Header(text, delimiter, names)


def _split(lines: list[str], delimiter: str) -> list[list[str]] | None:
    """The fields of lines that each hold one record (checked by the header's grammar)."""
    try:
        rows = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows if len(rows) == len(lines) else None


def _fields(lines: list[str], header: Header) -> tuple[list[list[str]], np.ndarray]:
    """(fields per line, lines csv refused): one pass in C; line by line only on error."""
    rows = _split(lines, header.delimiter)
    if rows is not None:
        return rows, np.zeros(len(lines), bool)
    rows, bad = [], np.zeros(len(lines), bool)
    for i, line in enumerate(lines):
        one = _split([line], header.delimiter)
        bad[i] = one is None
        rows.append(one[0] if one else [])
    return rows, bad


def _lookup(values: pa.Array, table: dict[str, str], otherwise: str | None) -> pa.Array:
    key = pc.replace_substring_regex(pc.utf8_lower(values), r"[\s\-]+", "_")
    index = pc.index_in(key, value_set=pa.array(list(table), pa.string()))
    mapped = pa.array(list(table.values()), pa.string()).take(index)
    unknown = pc.and_(pc.is_valid(values), pc.is_null(mapped))
    return pc.if_else(unknown, pa.scalar(otherwise, pa.string()), mapped)


def parse_record_access_csv(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Parse record look-up rows; ctx.first_line must be the file's header line."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    lines = lines.cast(pa.string())
    n = len(lines)
    errors = RowErrors(n)
    header = read_header(ctx.first_line)
    errors.flag(~lines.is_valid().to_numpy(zero_copy_only=False), R_NULL)
    if isinstance(header, str):
        errors.flag(np.ones(n, bool), header)
        return ParseResult(conform(pa.table({"row": pa.array([], pa.int64())}), RECORD_ACCESS),
                           errors.rejects())  # fmt: skip
    text = pc.utf8_rtrim(pc.utf8_ltrim(lines, "\ufeff"), "\r")
    size = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
    errors.flag(size > MAX_LINE_CHARS, R_TOO_LONG)
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), False)
    errors.flag(blank.to_numpy(zero_copy_only=False), R_EMPTY)
    errors.flag(pc.fill_null(pc.equal(text, header.text), False).to_numpy(False), R_HEADER_LINE)
    shaped = pc.fill_null(pc.match_substring_regex(text, header.grammar), False)
    errors.flag(~shaped.to_numpy(zero_copy_only=False), R_QUOTING)

    todo = np.flatnonzero(errors.ok)
    rows, refused = _fields(text.take(pa.array(todo, pa.int64())).to_pylist(), header)
    errors.flag(_spread(n, todo, refused), R_QUOTING)
    widths = np.fromiter(map(len, rows), np.int64, len(rows))
    errors.flag(_spread(n, todo, widths != header.width), R_FIELDS)
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int32)
    flat = pa.array(chain.from_iterable(rows), pa.string(), size=int(offsets[-1]))
    nested = pa.ListArray.from_arrays(pa.array(offsets), flat)
    keep = widths == header.width
    values = nested.filter(pa.array(keep)).flatten()
    m = int(keep.sum())

    def column(name: str) -> pa.Array:
        at = header.columns.get(name)
        if at is None:
            return pa.nulls(m, pa.string())
        value = pc.utf8_trim_whitespace(values.take(np.arange(at, m * header.width, header.width)))
        return pc.if_else(pc.equal(value, ""), pa.scalar(None, pa.string()), value)

    got = todo[keep]
    times, unreadable = parse_text_times(column("time"), ctx.timezone, EVENT_FORMS)
    errors.flag(_spread(n, got, unreadable), R_BAD_TIME)
    errors.flag(_spread(n, got, pc.is_null(times).to_numpy(zero_copy_only=False)), R_NO_TIME)
    for name, reason in (("actor_user", R_NO_USER), ("record_id", R_NO_RECORD)):
        errors.flag(_spread(n, got, pc.is_null(column(name)).to_numpy(False)), reason)

    reason = column("reason_code")
    long = pc.greater(pc.utf8_length(reason), MAX_REASON_CODE)
    table = pa.table(
        {
            "row": pa.array(got, pa.int64()),
            "time": times,
            "observer": column("observer"),
            "event_id": pc.utf8_slice_codeunits(column("event_id"), 0, 64),
            "action": pc.fill_null(_lookup(column("action"), ACTIONS, OTHER_ACTION), "access"),
            "outcome": _outcomes(column("outcome"), "outcome" in header.columns),
            "actor_user": column("actor_user"),
            "actor_unit": column("actor_unit"),
            "record_id": column("record_id"),
            "record_unit": column("record_unit"),
            "reason_code": pc.if_else(pc.fill_null(long, False), FREE_TEXT, reason),
        }
    )
    dropped = _dropped(values, m, header)
    table = table.filter(pa.array(errors.ok[got]))
    return ParseResult(conform(table, RECORD_ACCESS), errors.rejects(), dropped)


def _outcomes(values: pa.Array, given: bool) -> pa.Array:
    """success / failure as the export says; a look-up log without the column logs
    look-ups that happened (success); unknown words are null."""
    if not given:
        return pa.array(["success"] * len(values), pa.string())
    return _lookup(values, OUTCOMES, None)


def _dropped(values: pa.Array, m: int, header: Header) -> dict[str, int]:
    """Non-empty values per column no dataset column takes (counted, never stored)."""
    counts = {}
    for at, name in header.unknown.items():
        cells = pc.utf8_trim_whitespace(values.take(np.arange(at, m * header.width, header.width)))
        filled = int(pc.sum(pc.not_equal(cells, "")).as_py() or 0)
        if filled:
            counts[name] = counts.get(name, 0) + filled
    return counts


def _spread(n: int, rows: np.ndarray, mask) -> np.ndarray:
    """A mask over the subset `rows` as a mask over all n rows."""
    out = np.zeros(n, bool)
    out[rows[np.asarray(mask, bool)]] = True
    return out


EXAMPLES = (
    "time,user,user_unit,record_id,record_unit,action,reason_code",
    "2026-11-16T08:01:02+01:00,kari.nordmann,Kirurgisk post 2,10234567,Kirurgisk post 2,read,BEH",
    '2026-11-16 08:05:40,ola.hansen,Akuttmottak,10998877,"Medisin, post 3",print,',
)
RECORD_ACCESS_CSV = SourceFormat(
    NAME,
    RECORD_ACCESS,
    parse_record_access_csv,
    None,
    examples=EXAMPLES,  # auto: by header
)
SOURCE_FORMATS = (RECORD_ACCESS_CSV,)
