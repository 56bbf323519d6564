"""Which pseudonyms, and which pseudonym keys, the lake still holds.

A pseudonym is `<kind>-<key id>-<26 base32>` (transforms/pseudonymize.py). It can stand
alone in an identity column, sit in a list of them (recipients), in an address column
(a personal address) or inside a URL (a personal site's owner), so each of those
columns is searched with one pattern, in DuckDB, over the whole lake; Parquet outside
the lawful dataset × purpose directories is searched in every text column.

The retention run drops vault entries of pseudonyms no longer found here, and hands
the key ids found (`lake_key_ids`) to key destruction: a key period no pseudonym in the
lake was made with can be destroyed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from schemas.datasets import DATASETS, IdentityKind
from schemas.purposes import Purpose
from store.key_periods import key_id_of
from store.lake_files import data_files
from store.layout import StoreError, StoreLayout

_KINDS = "|".join(k.value for k in IdentityKind)
PSEUDONYM_PATTERN = rf"\b(?:{_KINDS})-[a-z0-9]+-[a-z2-7]{{26}}\b"
_SCAN = "read_parquet($files, union_by_name = true, hive_partitioning = false)"


class LakeScanError(StoreError):
    """Part of the lake could not be read: what it holds is unknown."""


def lake_pseudonyms(layout: StoreLayout) -> set[str]:
    """Every pseudonym in the lake; LakeScanError if any part of it cannot be read (an
    unread file may hold any pseudonym)."""
    found: set[str] = set()
    lawful: set[Path] = set()
    con = duckdb.connect()
    try:
        for name, spec in DATASETS.items():
            columns = {c.name for c in spec.columns if c.identity is not None or c.ip or c.url}
            for purpose in Purpose:
                directory = layout.partition_dir(name, purpose.value)
                files = data_files(directory)
                lawful.update(files)
                found |= _scan(con, files, columns, f"{name}/purpose={purpose.value}")
        for path in data_files(layout.lake):
            if path not in lawful:
                found |= _scan(con, [path], None, str(path.relative_to(layout.root)))
    finally:
        con.close()
    return found


def lake_key_ids(layout: StoreLayout) -> set[str]:
    """The pseudonym key ids (e.g. `k1`) still present in the lake's identity columns."""
    return {k for p in lake_pseudonyms(layout) if (k := key_id_of(p)) is not None}


def _scan(
    con: duckdb.DuckDBPyConnection, files: list[Path], columns: set[str] | None, where: str
) -> set[str]:
    """Distinct pseudonyms in the given columns of the files (None: every text column)."""
    if not files:
        return set()
    params = {"files": [str(p) for p in files]}
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_SCAN}", params).fetchall()
        parts = []
        for column, type_, *_ in described:
            if columns is not None and column not in columns:
                continue
            quoted = '"' + column.replace('"', '""') + '"'
            if type_ == "VARCHAR":
                parts.append(f"regexp_extract_all(coalesce({quoted}, ''), '{PSEUDONYM_PATTERN}')")
            elif type_ == "VARCHAR[]":
                parts.append(
                    f"flatten(list_transform(coalesce({quoted}, []::VARCHAR[]), "
                    f"lambda x: regexp_extract_all(coalesce(x, ''), '{PSEUDONYM_PATTERN}')))"
                )
        if not parts:
            return set()
        query = (
            f"SELECT DISTINCT p FROM (SELECT unnest(flatten([{', '.join(parts)}])) AS p "
            f"FROM {_SCAN}) WHERE p IS NOT NULL"
        )
        return {row[0] for row in con.execute(query, params).fetchall()}
    except duckdb.Error as exc:
        raise LakeScanError(f"{where}: cannot read ({type(exc).__name__})") from None
