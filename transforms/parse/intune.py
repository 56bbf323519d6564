"""Microsoft Intune device inventory exports to the device_inventory dataset.

Two formats: `intune-csv`, the admin center's "All devices" CSV export (header line
first; every batch of the file knows it from `ParseContext.first_line`), and
`intune-json`, one Graph `managedDevice` object per line. Field names are matched
case-insensitively, ignoring spaces and punctuation (intune_fields.ALIASES).

Seed 003 (Jammerbugt's MDM terms): the MDM may see a device's name, model, serial, OS,
installed apps and work phone number, never browser data, personal mail, documents,
contacts, calendar, passwords or photos, and location only for a lost device. Such
fields (mdm_forbidden) are never read into the table: only how many non-empty values
each carried, among the rows parsed, is reported in `ParseResult.dropped`.

`time` is the device's last check-in (the instant the inventory row describes), else the
export's reference time (the file's modification time on ingest); Intune's "never"
check-in (0001-01-01) and any check-in before 1990 leave `last_sync` null. `observer`
is null: the export names no log host.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from schemas.datasets import DEVICE_INVENTORY
from transforms.distinct import map_distinct
from transforms.parse.base import (
    REASON,
    REJECT_SCHEMA,
    ROW,
    ParseContext,
    ParseResult,
    SourceFormat,
    conform,
)

from .intune_fields import FLAG, PAGE, SCALARS, records_table, select_arrow, target_of
from .intune_read import (
    R_EMPTY,
    R_FIELDS,
    R_JSON,
    R_MALFORMED,
    R_NOT_OBJECT,
    R_UNREADABLE,
    Rejects,
    byte_counts,
    read_csv_rows,
    read_json_rows,
)
from .timestamps import MDM_FORMS, parse_text_times

# Fixed reject reasons: they never quote anything from the line.
R_NULL = "null line"
R_TOO_LONG = "line too long"
R_NUL = "NUL character in line"
R_HEADER = "CSV header line (not an event)"
R_NO_HEADER = "CSV header line unreadable"
R_HEADER_NO_DEVICE = "CSV header names no device name or serial number column"
R_PAGE = "Graph collection page ('value' array): export one device per line"
R_NO_DEVICE = "no device name or serial number"
R_BAD_TIME = "invalid last check-in time"

REASONS = frozenset(
    {
        R_NULL, R_TOO_LONG, R_NUL, R_EMPTY, R_HEADER, R_NO_HEADER, R_HEADER_NO_DEVICE, R_PAGE,
        R_NO_DEVICE, R_BAD_TIME, R_JSON, R_NOT_OBJECT, R_UNREADABLE, R_FIELDS, R_MALFORMED,
    }
)  # fmt: skip

MAX_LINE_BYTES = 4 * 1024 * 1024
# Check-ins before this are Intune's "never" (0001-01-01); the lake refuses them as times.
_FLOOR = pa.scalar(631_152_000_000_000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))

OWNERSHIP = {
    "company": "corporate", "corporate": "corporate", "corp": "corporate",
    "organization": "corporate", "organisation": "corporate", "personal": "personal",
    "private": "personal", "byod": "personal", "employee": "personal",
    "employeeowned": "personal",
}  # fmt: skip
COMPLIANCE = {
    "compliant": "compliant", "noncompliant": "noncompliant", "notcompliant": "noncompliant",
    "ingraceperiod": "ingraceperiod", "graceperiod": "ingraceperiod", "conflict": "conflict",
    "error": "error", "unknown": "unknown", "configmanager": "configmanager",
    "notevaluated": "notevaluated",
}  # fmt: skip


def _prefilter(lines: pa.StringArray) -> tuple[np.ndarray, Rejects]:
    """Rows still to parse, and the rejects of null, too long, NUL-holding and blank lines
    (a NUL is never part of an export's text)."""
    length = pc.binary_length(lines)
    checks = (
        (pc.is_null(lines), R_NULL),
        (pc.greater(length, MAX_LINE_BYTES), R_TOO_LONG),
        (pa.array(byte_counts(lines, 0) > 0), R_NUL),
        (pc.or_(pc.equal(length, 0), pc.utf8_is_space(lines)), R_EMPTY),
    )
    left = np.ones(len(lines), bool)
    rejects: Rejects = []
    for mask, reason in checks:
        hit = np.asarray(pc.fill_null(mask, False), bool) & left
        rejects.extend((int(r), reason) for r in np.flatnonzero(hit))
        left &= ~hit
    return np.flatnonzero(left), rejects


# --- CSV -----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def header_names(header: str) -> tuple[str, ...] | None:
    """The column names of a CSV header line, or None when it is not one."""
    try:
        table = pacsv.read_csv(
            pa.py_buffer((header + "\n").encode()),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != 1:
        return None
    return tuple(str(col[0].as_py()) for col in table.columns)


def parse_intune_csv(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Parse Intune CSV export lines; the header is ctx.first_line (else the first line)."""
    rows, rejects = _prefilter(lines)
    header = ctx.first_line
    if header is None and len(lines):
        header = lines[0].as_py()
    header = (header or "").lstrip("\ufeff").rstrip("\r")
    text = lines.take(pa.array(rows, pa.int64()))
    same = pc.or_(pc.equal(text, header), pc.equal(text, "\ufeff" + header))
    is_header = np.asarray(pc.fill_null(same, False), bool)
    rejects.extend((int(r), R_HEADER) for r in rows[is_header])
    rows = rows[~is_header]
    names = header_names(header) if header.strip() else None
    targets = {target_of(name) for name in names or ()}
    if names is None or not targets & {"device", "serial"}:
        reason = R_NO_HEADER if names is None else R_HEADER_NO_DEVICE
        rejects.extend((int(r), reason) for r in rows)
        return finish([], rejects, ctx)
    table, bad = read_csv_rows(lines, rows, len(names))
    raw = table.drop_columns([ROW]).rename_columns(list(names))
    return finish([select_arrow(raw, table.column(ROW).combine_chunks())], rejects + bad, ctx)


# --- JSON ----------------------------------------------------------------------------


def parse_intune_json(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Parse Graph managedDevice objects, one per line."""
    rows, rejects = _prefilter(lines)
    tables, bad = read_json_rows(lines, rows)
    return finish(tables, rejects + bad, ctx)


def detect_intune_json(lines: pa.StringArray) -> pa.BooleanArray:
    looks = pc.and_(
        pc.starts_with(pc.utf8_ltrim_whitespace(lines), "{"),
        pc.match_substring(lines, '"deviceName"'),
    )
    other = pc.match_substring_regex(lines, '"(userPrincipalName|serialNumber|operatingSystem)"')
    return pc.fill_null(pc.and_(looks, other), False)


# --- shared: checks, normalisation, counts -----------------------------------------------


def _clean(values: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _enum(values: pa.Array, known: dict[str, str]) -> pa.Array:
    def fn(distinct: list[str]) -> list[str]:
        keys = ["".join(ch for ch in v.lower() if ch.isalnum()) for v in distinct]
        return [known.get(k, "unknown") for k in keys]

    return map_distinct(_clean(values), fn)


def _clean_lists(lists: pa.Array) -> pa.Array:
    """Names trimmed, blanks dropped; a list left empty is null."""
    n = len(lists)
    values = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    parents = pc.list_parent_indices(lists)
    keep = pc.fill_null(pc.greater(pc.utf8_length(values), 0), False)
    counts = np.bincount(np.asarray(parents.filter(keep), np.int64), minlength=n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(
        pa.array(offsets), values.filter(keep), mask=pa.array(counts == 0)
    )


def finish(selected: list[pa.Table], rejects: Rejects, ctx: ParseContext) -> ParseResult:
    sel = pa.concat_tables([records_table([], []), *selected], promote_options="default")
    sel = sel.combine_chunks()
    col = {name: sel.column(name).combine_chunks() for name in sel.column_names}
    scalars = {name: _clean(col[name]) for name in SCALARS}
    sync, bad_time = parse_text_times(scalars["last_sync"], ctx.timezone, MDM_FORMS)
    no_id = pc.and_(pc.is_null(scalars["device"]), pc.is_null(scalars["serial"]))
    checks = ((pc.fill_null(col[PAGE], False), R_PAGE), (no_id, R_NO_DEVICE),
              (bad_time, R_BAD_TIME))  # fmt: skip
    ok = np.ones(sel.num_rows, bool)
    rows = np.asarray(col[ROW], np.int64)
    for mask, reason in checks:
        hit = np.asarray(mask, bool) & ok
        rejects.extend(zip(rows[hit].tolist(), [reason] * int(hit.sum()), strict=True))
        ok &= ~hit
    dropped = {}
    for name in sel.column_names:
        if name.startswith(FLAG):
            count = int((np.asarray(pc.fill_null(col[name], False), bool) & ok).sum())
            if count:
                dropped[name.removeprefix(FLAG)] = count
    keep = pa.array(ok)
    sync = sync.filter(keep)
    sync = pc.if_else(pc.less(sync, _FLOOR), pa.scalar(None, sync.type), sync)
    ref = pa.scalar(ctx.reference_time, pa.timestamp("us", tz="UTC"))
    out = {name: values.filter(keep) for name, values in scalars.items()}
    out.update(
        ownership=_enum(out["ownership"], OWNERSHIP),
        compliance=_enum(out["compliance"], COMPLIANCE),
        phone_number=_clean(pc.replace_substring_regex(out["phone_number"], r"[\s().\-/]", "")),
        last_sync=sync,
        time=pc.coalesce(sync, ref),
        installed_apps=_clean_lists(col["installed_apps"].filter(keep)),
    )
    table = pa.table({ROW: col[ROW].filter(keep), **out}).sort_by(ROW)
    order = sorted(range(len(rejects)), key=lambda i: rejects[i][0])
    reject_table = pa.table(
        {
            ROW: pa.array([rejects[i][0] for i in order], pa.int64()),
            REASON: pa.array([rejects[i][1] for i in order], pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return ParseResult(conform(table, DEVICE_INVENTORY), reject_table, dropped)


INTUNE_CSV = SourceFormat(
    "intune-csv",
    DEVICE_INVENTORY,
    parse_intune_csv,
    None,  # a CSV line says nothing without its header: `auto` decides per file
    examples=(
        "Device name,Primary user UPN,Ownership,Model,Manufacturer,Serial number,OS,OS version,"
        "Compliance,Last check-in,Phone number,Installed apps",
        "FV-MOB-00012,kari.nordmann@fjordvik.kommune.no,Corporate,iPhone 14,Apple,F2LXK1ABCD,"
        'iOS,17.5.1,Compliant,2026-11-17 08:12:33.0000000,+47 912 34 567,"Teams;Outlook;TikTok"',
        'Karis Galaxy,kari.nordmann@fjordvik.kommune.no,Personal,"Galaxy A54, 5G",samsung,'
        "R58N12ABCDE,Android,14,Not compliant,11/17/2026 9:00:00 PM,,Outlook;Telegram",
    ),
)
INTUNE_JSON = SourceFormat(
    "intune-json",
    DEVICE_INVENTORY,
    parse_intune_json,
    detect_intune_json,
    examples=(
        '{"id": "6f1c2d3e-0000-4000-8000-000000000001", "deviceName": "FV-LT-04411", '
        '"userPrincipalName": "ola.hansen@fjordvik.kommune.no", "managedDeviceOwnerType": '
        '"company", "operatingSystem": "Windows", "osVersion": "10.0.22631.4460", "model": '
        '"Latitude 5440", "manufacturer": "Dell Inc.", "serialNumber": "5CG1234", '
        '"complianceState": "compliant", "lastSyncDateTime": "2026-11-17T09:00:00Z", '
        '"phoneNumber": "", "detectedApps": [{"displayName": "Microsoft Teams", "version": '
        '"24295.605"}, {"displayName": "Telegram Desktop", "version": "5.8"}]}',
        '{"deviceName": "Olas iPhone", "userPrincipalName": "ola.hansen@fjordvik.kommune.no", '
        '"managedDeviceOwnerType": "personal", "operatingSystem": "iOS", "osVersion": "18.1", '
        '"serialNumber": "F17ZZ1ABCDE", "complianceState": "inGracePeriod", '
        '"lastSyncDateTime": "0001-01-01T00:00:00Z", "installedApps": ["Outlook", "TikTok"]}',
    ),
)
SOURCE_FORMATS = (INTUNE_CSV, INTUNE_JSON)
