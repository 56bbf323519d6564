"""What the leak scan reads: every string value (list elements too, and the column
names) of a Parquet table, and of the DuckDB catalog its view names and SQL, any table
data (opened read-only) and the printable byte runs of the file and of its WAL.

Each becomes a `Column` of string values with what the scan must know about it:

- the row of each value (a list element's row, a raw run's byte offset),
- internal addresses in IP columns are stored encrypted (ipcrypt-pfx) with a
  `<col>_internal` flag; an encrypted address can look like a private one by chance,
  so a value whose row is flagged internal is exempt from the IP patterns,
- Message-IDs (`<…@…>`) in the DLP `object_id` column are not e-mail addresses,
- the columns every policy named by the file's rows pseudonymises (`PolicyIndex`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from audit.lake_models import LeakScanSection
from schemas.datasets import DATASETS, INTERNAL_FLAG_SUFFIX
from schemas.policy import Action, Policy
from store.layout import StoreLayout

# Columns holding RFC 5322 Message-IDs, which look like e-mail addresses but are not.
MESSAGE_ID_COLUMNS = frozenset({("data_security_finding", "object_id")})
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\x80-\xff]{4,}")


@dataclass(frozen=True)
class Column:
    """String values to scan, with what the scan must know about them."""

    file: str
    name: str
    values: pa.Array  # string values (list elements flattened)
    rows: pa.Array | None = None  # row of each value (None: its position)
    ip_exempt: pa.Array | None = None  # per value: internal-flagged, so encrypted
    message_ids: bool = False
    pseudonyms: bool = False


def _string_values(array: pa.Array) -> tuple[pa.Array, pa.Array | None] | None:
    """String values of a column and, for lists, the row of each element."""
    type_ = array.type
    if pa.types.is_dictionary(type_):
        array = array.cast(type_.value_type)
        type_ = array.type
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return array.cast(pa.string()), None
    if (pa.types.is_list(type_) or pa.types.is_large_list(type_)) and (
        pa.types.is_string(type_.value_type) or pa.types.is_large_string(type_.value_type)
    ):
        return pc.list_flatten(array).cast(pa.string()), pc.list_parent_indices(array)
    return None


def table_columns(
    table: pa.Table,
    file: str,
    dataset: str | None,
    prefix: str = "",
    pseudonymised: frozenset[str] = frozenset(),
) -> tuple[list[Column], list[str]]:
    """A table's string columns (and its column names) to scan; and the names of its
    nested or binary columns, which are not scanned."""
    names = pa.array(table.column_names, pa.string())
    columns = [Column(file, prefix + "(column names)", names)]
    skipped = []
    for name in table.column_names:
        chunked = table.column(name)
        array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        got = _string_values(array)
        if got is None:
            if pa.types.is_nested(array.type) or pa.types.is_binary(array.type):
                skipped.append(prefix + name)
            continue
        values, rows = got
        flag_name = name + INTERNAL_FLAG_SUFFIX
        exempt = None
        if rows is None and flag_name in table.column_names:
            flag = table.column(flag_name).combine_chunks()
            if pa.types.is_boolean(flag.type):
                exempt = pc.fill_null(flag, False)
        columns.append(
            Column(
                file=file,
                name=prefix + name,
                values=values,
                rows=rows,
                ip_exempt=exempt,
                message_ids=(dataset, name) in MESSAGE_ID_COLUMNS,
                pseudonyms=name in pseudonymised,
            )
        )
    return columns, skipped


def pseudonymised_columns(
    table: pa.Table, dataset: str | None, policies: PolicyIndex
) -> tuple[frozenset[str], bool]:
    """Columns every policy named by the file's rows pseudonymises into pseudonyms (not
    addresses or URLs); and whether every row named a known policy."""
    if table.num_rows == 0:
        return frozenset(), True
    if dataset not in DATASETS or "policy_id" not in table.column_names:
        return frozenset(), False
    ids = table.column("policy_id")
    versions = (
        table.column("policy_version")
        if "policy_version" in table.column_names
        else pa.nulls(table.num_rows, pa.int32())
    )
    pairs = pa.table({"i": ids.cast(pa.string()), "v": versions.cast(pa.int64())})
    known: list[Policy] = []
    for pair in pairs.group_by(["i", "v"]).aggregate([]).to_pylist():
        policy = policies.find(pair["i"], pair["v"])
        if policy is None:
            return frozenset(), False
        known.append(policy)
    spec = DATASETS[dataset]
    columns: set[str] | None = None
    for policy in known:
        own = {
            c.name
            for c in spec.columns
            if c.identity is not None
            and not c.ip
            and not c.url
            and (rule := policy.fields.get(c.name)) is not None
            and rule.action is Action.pseudonymize
        }
        columns = own if columns is None else columns & own
    return frozenset(columns or ()), True


@dataclass
class PolicyIndex:
    """Policies by (id, version), falling back to the latest version of an id."""

    policies: Sequence[Policy]

    def find(self, policy_id: str | None, version: int | None) -> Policy | None:
        if policy_id is None:
            return None
        same = [p for p in self.policies if p.id == policy_id]
        exact = [p for p in same if p.version == version]
        if exact:
            return exact[0]
        return max(same, key=lambda p: p.version, default=None)


def catalog_columns(layout: StoreLayout, section: LeakScanSection) -> list[Column]:
    """The catalog's view names and SQL, any table data (opened read-only), and the
    printable byte runs of the file (and of a WAL left next to it)."""
    rel = str(layout.catalog.relative_to(layout.root))
    if not layout.catalog.is_file():
        section.errors.append(f"{rel}: missing")
        return []
    columns: list[Column] = []
    try:
        con = duckdb.connect(str(layout.catalog), read_only=True)
    except duckdb.Error as exc:
        section.errors.append(f"{rel}: cannot open read-only ({type(exc).__name__})")
    else:
        try:
            views = con.execute(
                "SELECT schema_name || '.' || view_name, sql FROM duckdb_views() "
                "WHERE NOT internal ORDER BY 1"
            ).fetchall()
            names = pa.array([v[0] for v in views], pa.string())
            sqls = pa.array([v[1] for v in views], pa.string())
            columns += [Column(rel, "views (names)", names), Column(rel, "views (sql)", sqls)]
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal"
            ).fetchall()
            if tables:
                section.warn(f"{rel}: holds {len(tables)} table(s); a catalog holds only views")
            for schema, table in tables:
                quoted = '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))
                data = con.execute(f"SELECT * FROM {quoted}").fetch_arrow_table()
                columns += table_columns(data, rel, None, f"{schema}.{table}.")[0]
        except duckdb.Error as exc:
            section.errors.append(f"{rel}: cannot read ({type(exc).__name__})")
        finally:
            con.close()
    columns.append(_raw_column(layout.catalog, rel, duckdb_file=True))
    wal = layout.catalog.with_name(layout.catalog.name + ".wal")
    if wal.is_file():
        columns.append(_raw_column(wal, str(wal.relative_to(layout.root))))
    return columns


# DuckDB's file starts with three 4 KiB headers (magic, version, checksums and a random
# 16-byte salt, kept twice) and every block starts with an 8-byte checksum. Those bytes
# are random, not data; read as text they match an identity pattern now and then
# (a letter, a backslash, a letter is a DOMAIN\user), so they are blanked before the scan.
DUCKDB_HEADERS = 3 * 4096
DUCKDB_BLOCK = 262144
DUCKDB_CHECKSUM = 8


def _without_duckdb_noise(data: bytes) -> bytes:
    blank = bytearray(data)
    blank[:DUCKDB_HEADERS] = bytes(min(DUCKDB_HEADERS, len(blank)))
    for start in range(DUCKDB_HEADERS, len(blank), DUCKDB_BLOCK):
        end = min(start + DUCKDB_CHECKSUM, len(blank))
        blank[start:end] = bytes(end - start)
    return bytes(blank)


def _raw_column(path: Path, rel: str, duckdb_file: bool = False) -> Column:
    """Printable byte runs of a file, as a column of strings at their byte offsets."""
    data = path.read_bytes()
    if duckdb_file:
        data = _without_duckdb_noise(data)
    offsets, runs = [], []
    for m in _PRINTABLE_RUN.finditer(data):
        offsets.append(m.start())
        runs.append(m.group().decode("utf-8", "replace"))
    return Column(rel, "(raw bytes)", pa.array(runs, pa.string()), pa.array(offsets, pa.int64()))
