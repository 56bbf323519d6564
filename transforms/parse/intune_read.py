"""Reading a batch of Intune export lines with pyarrow, mapping every output row back to
its input line, and falling back line by line only where a batch read cannot be trusted.

CSV: each line is prefixed with its index as an extra first field, so a row always says
which line it came from. pyarrow's reader lets an unclosed quote run on into the next
lines; such rows (a value holding a line break) and the lines they swallowed are read
again one by one, as are lines with an odd number of quotes or a bare CR.

JSON: the lines are read as one newline-delimited buffer; when pyarrow refuses it (a
broken line, a type that changes between lines) the batch is halved until the bad lines
are alone, and those are decoded with `json` (reasons then name what is wrong). Lines
that could be nested deeper than pyarrow can safely parse never reach it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from transforms.parse.base import ROW

from .intune_fields import NeedsPython, records_table, select_arrow, select_record

R_EMPTY = "empty line"
R_JSON = "invalid json"
R_NOT_OBJECT = "not a json object"
R_UNREADABLE = "unreadable record"
R_FIELDS = "wrong number of CSV fields"
R_MALFORMED = "malformed CSV line (unbalanced quotes or a bare CR)"

GROUP_BYTES = 32 << 20  # one pyarrow read at a time
JSON_LEAF = 16  # below this many lines a failing JSON group is decoded line by line
# pyarrow.json overflows its stack on objects nested ~10,000 deep, and `json` (the
# per-line path, which must agree with the batch path) refuses ~1,000: a line longer than
# this many bytes is only handed to pyarrow with at most this many `{` and `[` in all.
MAX_NESTING = 500
# Graph's own spellings are read as text: pyarrow.json would otherwise infer timestamps
# and lose what the line said.
GRAPH_STRINGS = (
    "deviceName", "managedDeviceName", "userPrincipalName", "emailAddress",
    "managedDeviceOwnerType", "model", "manufacturer", "serialNumber", "operatingSystem",
    "osVersion", "complianceState", "lastSyncDateTime", "phoneNumber",
)  # fmt: skip
_JSON_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in GRAPH_STRINGS])
_ROWCOL = "\x00row"

Rejects = list[tuple[int, str]]


def groups(lines: pa.StringArray, rows: np.ndarray) -> list[np.ndarray]:
    """`rows` cut into runs of at most GROUP_BYTES of text."""
    if len(rows) == 0:
        return []
    sizes = np.asarray(pc.binary_length(lines.take(pa.array(rows))), np.int64) + 24
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(1, 1 + sizes.sum() // GROUP_BYTES)
                           * GROUP_BYTES)  # fmt: skip
    return [g for g in np.split(rows, np.unique(cuts)) if len(g)]


def _buffer(lines: pa.StringArray, rows: np.ndarray, prefix: bool) -> pa.Buffer:
    """The lines (each prefixed with `row,` when asked), each ending in \\n, as one buffer."""
    text = lines.take(pa.array(rows))
    if prefix:
        text = pc.binary_join_element_wise(pa.array(rows).cast(pa.string()), text, ",")
    text = pc.binary_join_element_wise(text, "", "\n")
    offsets = np.frombuffer(text.buffers()[1], np.int32)
    start, end = offsets[text.offset], offsets[text.offset + len(text)]
    return text.buffers()[2].slice(int(start), int(end - start))


# --- CSV -----------------------------------------------------------------------------


def read_csv_rows(lines: pa.StringArray, rows: np.ndarray, ncols: int) -> tuple[pa.Table, Rejects]:
    """The lines `rows` split into `ncols` string fields c0..: (table with ROW, rejects)."""
    text = lines.take(pa.array(rows, pa.int64()))
    has_cr = byte_counts(text, ord("\r")) > 0
    odd = byte_counts(text, ord('"')) % 2 == 1
    alone = list(rows[has_cr | odd])
    tables: list[pa.Table] = []
    rejects: Rejects = []
    for group in groups(lines, rows[~(has_cr | odd)]):
        table, retry, bad = _bulk_csv(lines, group, ncols)
        tables.append(table)
        alone.extend(retry)
        rejects.extend(bad)
    for row in sorted(alone):
        got = _one_csv(lines[int(row)].as_py(), ncols)
        if isinstance(got, str):
            rejects.append((int(row), got))
        else:
            tables.append(got.set_column(0, _ROWCOL, pa.array([int(row)], pa.int64())))
    names = [_ROWCOL, *(f"c{j}" for j in range(ncols))]
    empty = pa.table({n: pa.array([], pa.int64() if n == _ROWCOL else pa.string()) for n in names})
    table = pa.concat_tables([empty, *tables])
    return table.rename_columns([ROW, *names[1:]]), rejects


def _read_csv(data: pa.Buffer, ncols: int) -> tuple[pa.Table, list[str]]:
    names = [_ROWCOL, *(f"c{j}" for j in range(ncols))]
    invalid: list[str] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row.text or "")
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=max(1 << 20, data.size + 1)
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False
        ),
    )
    return table, invalid


def _broken(table: pa.Table, breaks: tuple[str, ...] = ("\n",)) -> np.ndarray:
    """Rows with a line break in a value: they ran on past their own line."""
    mask = np.zeros(table.num_rows, bool)
    for col in table.columns[1:]:
        for brk in breaks:
            mask |= np.asarray(pc.match_substring(col, brk), bool)
    return mask


def _bulk_csv(
    lines: pa.StringArray, group: np.ndarray, ncols: int
) -> tuple[pa.Table, list[int], Rejects]:
    """(rows read, rows to read again alone, rejects)."""
    try:
        table, invalid = _read_csv(_buffer(lines, group, prefix=True), ncols)
        table = table.set_column(0, _ROWCOL, pc.cast(table.column(0), pa.int64()))
    except (pa.ArrowException, ValueError):
        return _empty_csv(ncols), list(group), []
    broken = _broken(table)
    table = table.filter(pa.array(~broken))
    got = np.asarray(table.column(0).combine_chunks(), np.int64)
    if len(np.unique(got)) != len(got) or not np.isin(got, group).all():
        return _empty_csv(ncols), list(group), []  # cannot happen; never trust it blindly
    rejects: Rejects = []
    members = set(group.tolist())
    for text in invalid:
        head = text.split(",", 1)[0]
        single = "\n" not in text and "\r" not in text
        if single and head.isascii() and head.isdigit() and int(head) in members:
            rejects.append((int(head), R_FIELDS))
    done = set(got.tolist()) | {r for r, _ in rejects}
    return table, [int(r) for r in group if int(r) not in done], rejects


def _empty_csv(ncols: int) -> pa.Table:
    cols = {_ROWCOL: pa.array([], pa.int64())}
    cols.update({f"c{j}": pa.array([], pa.string()) for j in range(ncols)})
    return pa.table(cols)


def _one_csv(line: str, ncols: int) -> pa.Table | str:
    try:
        table, invalid = _read_csv(pa.py_buffer(f"0,{line}\n".encode()), ncols)
    except (pa.ArrowException, ValueError):
        return R_MALFORMED
    if invalid and table.num_rows == 0 and len(invalid) == 1 and "\n" not in invalid[0]:
        return R_FIELDS
    if invalid or table.num_rows != 1 or _broken(table, ("\n", "\r")).any():
        return R_MALFORMED
    return table.set_column(0, _ROWCOL, pa.array([0], pa.int64()))


# --- JSON ----------------------------------------------------------------------------


def read_json_rows(lines: pa.StringArray, rows: np.ndarray) -> tuple[list[pa.Table], Rejects]:
    """Selections (intune_fields) of the JSON lines `rows`, and their rejects."""
    plain = _plain_objects(lines.take(pa.array(rows)))
    tables: list[pa.Table] = []
    rejects: Rejects = []
    alone = list(rows[~plain])
    for group in groups(lines, rows[plain]):
        _bulk_json(lines, group, tables, alone)
    records: list[dict[str, Any]] = []
    kept: list[int] = []
    for row in sorted(alone):
        got = json_record(lines[int(row)].as_py())
        if isinstance(got, str):
            rejects.append((int(row), got))
        else:
            kept.append(int(row))
            records.append(got)
    if records:
        tables.append(records_table(kept, records))
    return tables, rejects


def byte_counts(text: pa.Array, byte: int) -> np.ndarray:
    """How often `byte` occurs in each value (numpy over the data buffer, no per-line work)."""
    n = len(text)
    if n == 0 or text.buffers()[2] is None:
        return np.zeros(n, np.int64)
    wide = pa.types.is_large_string(text.type) or pa.types.is_large_binary(text.type)
    offsets = np.frombuffer(text.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[text.offset : text.offset + n + 1].astype(np.int64)
    body = np.frombuffer(text.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    hits = np.flatnonzero(body == byte) + offsets[0]
    return np.diff(np.searchsorted(hits, offsets))


def _plain_objects(text: pa.StringArray) -> np.ndarray:
    """Lines that are `{...}` exactly and cannot be nested deep enough to hurt pyarrow.
    A CR inside needs no check: pyarrow then sees two rows or a broken one, and the
    group's row count or error sends it to the per-line path."""
    n = len(text)
    if n == 0 or text.buffers()[2] is None:
        return np.zeros(n, bool)
    offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset : text.offset + n + 1]
    data = np.frombuffer(text.buffers()[2], np.uint8)
    starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    nonempty = ends > starts
    first = data[np.where(nonempty, starts, 0)]
    last = data[np.where(nonempty, ends - 1, 0)]
    ok = nonempty & (first == ord("{")) & (last == ord("}"))
    long = np.flatnonzero(ok & (ends - starts > MAX_NESTING))
    if len(long):
        sub = text.take(pa.array(long))
        deep = byte_counts(sub, ord("{")) + byte_counts(sub, ord("[")) > MAX_NESTING
        ok[long[deep]] = False
    return ok


def _bulk_json(lines: pa.StringArray, group: np.ndarray, out: list[pa.Table],
               alone: list[Any]) -> None:  # fmt: skip
    data = _buffer(lines, group, prefix=False)
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(use_threads=False, block_size=data.size + 1),
            parse_options=pajson.ParseOptions(
                explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="infer"
            ),
        )
        if table.num_rows != len(group):
            raise ValueError("lines and rows differ")
        out.append(select_arrow(table, pa.array(group, pa.int64())))
        return
    except NeedsPython:  # a property of a column, not of a few lines
        alone.extend(group)
        return
    except (pa.ArrowException, ValueError, RecursionError):
        pass
    if len(group) <= JSON_LEAF:
        alone.extend(group)
        return
    half = len(group) // 2
    _bulk_json(lines, group[:half], out, alone)
    _bulk_json(lines, group[half:], out, alone)


def json_record(line: str, loads: Callable[[str], Any] = json.loads) -> dict[str, Any] | str:
    """One line decoded with `json` and selected, or its (fixed) reject reason."""
    text = line.lstrip("\ufeff").strip()
    if not text:
        return R_EMPTY
    try:
        rec = loads(text)
    except (ValueError, RecursionError):
        return R_JSON
    if not isinstance(rec, dict):
        return R_NOT_OBJECT
    try:
        selected = select_record(rec)
        for value in selected.values():  # lone surrogates cannot be stored as UTF-8
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    item.encode("utf-8")
    except (RecursionError, UnicodeEncodeError):
        return R_UNREADABLE
    return selected
