"""The sandbox every read runs in: a DuckDB connection that can reach only one purpose's
partitions, through temporary views named after the datasets (cut to a case's window
when there is one).

The views are built from the store's layout as it is now (so a moved or restored store
still works), then file access is limited to the purpose's partitions
(`allowed_directories`), everything else is closed (`enable_external_access = false`)
and the configuration locked. DuckDB would still let a statement `COPY … TO` or
`ATTACH` a file inside the allowed directories, so nothing runs here that
queries/guard.py has not checked first.

A case window uses the lake's `date=` partitions (UTC days of each row's time): days
wholly inside the window are read without a row filter, days outside are not read,
and only the boundary days are filtered row by row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from queries.guard import CheckedStatement
from schemas.datasets import DATASETS
from schemas.purposes import Purpose
from store.catalog import ANCHOR
from store.layout import StoreLayout


class Sandbox:
    def __init__(
        self,
        layout: StoreLayout,
        purpose: Purpose,
        window_from: datetime | None = None,
        window_to: datetime | None = None,
    ) -> None:
        self.purpose = purpose
        self.views = tuple(DATASETS)
        self._partitions = {d: layout.partition_dir(d, purpose.value).resolve() for d in self.views}
        self._window = (window_from, window_to)
        self._made: set[str] = set()
        con = duckdb.connect(":memory:")
        try:
            allowed = [str(p) + os.sep for p in self._partitions.values()]
            con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        self._con = con

    def _ensure_views(self, names: frozenset[str]) -> None:
        """Views are made when a statement first names them (binding one reads its files'
        metadata, which a statement over one dataset should not pay for three)."""
        for name in sorted(names - self._made):
            body = view_sql(self._partitions[name], *self._window)
            self._con.execute(f'CREATE TEMP VIEW "{name}" AS {body}')
            self._made.add(name)

    def run(self, statement: CheckedStatement, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a statement the guard accepted; DuckDB errors propagate as duckdb.Error."""
        self._ensure_views(statement.tables)
        if params:
            return self._con.sql(statement.sql, params=dict(params)).to_arrow_table()
        return self._con.sql(statement.sql).to_arrow_table()

    def close(self) -> None:
        self._con.close()


def view_sql(partition: Path, start: datetime | None, end: datetime | None) -> str:
    """The SELECT behind one session view (the anchor file keeps an empty view bound)."""
    anchor = partition / ANCHOR
    if start is None and end is None:
        return _scan([str(partition / "**" / "*.parquet")])
    inner, boundary = split_by_window(partition, start, end)
    whole = _scan([str(anchor), *inner])
    if not boundary:
        return whole
    cut = _scan([str(anchor), *boundary]) + " WHERE " + _window_terms(start, end)
    return cut if not inner else f"{whole} UNION ALL BY NAME {cut}"


def split_by_window(
    partition: Path, start: datetime | None, end: datetime | None
) -> tuple[list[str], list[str]]:
    """Data files of days wholly inside the window, and of days that straddle it (or
    that are not in a date partition); files of days outside are left out."""
    inner: list[str] = []
    boundary: list[str] = []
    if not partition.is_dir():
        return inner, boundary
    for path in sorted(partition.rglob("*.parquet")):
        if path.name == ANCHOR:
            continue
        day = _partition_day(path.relative_to(partition))
        if day is None:
            boundary.append(str(path))
            continue
        day_start = datetime.combine(day, time(), tzinfo=UTC)
        day_end = day_start + timedelta(days=1)
        if (start is not None and day_end <= start) or (end is not None and day_start >= end):
            continue
        if (start is None or day_start >= start) and (end is None or day_end <= end):
            inner.append(str(path))
        else:
            boundary.append(str(path))
    return inner, boundary


def _partition_day(relative: Path) -> date | None:
    for part in relative.parts[:-1]:
        if part.startswith("date="):
            try:
                return date.fromisoformat(part.removeprefix("date="))
            except ValueError:
                return None
    return None


def _scan(paths: list[str]) -> str:
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"SELECT * FROM read_parquet([{quoted}], union_by_name = true)"


def _window_terms(start: datetime | None, end: datetime | None) -> str:
    terms = []
    if start is not None:
        terms.append(f"\"time\" >= TIMESTAMPTZ '{start.isoformat()}'")
    if end is not None:
        terms.append(f"\"time\" < TIMESTAMPTZ '{end.isoformat()}'")
    return " AND ".join(terms) or "true"
