"""The sandbox every read runs in: a DuckDB connection that can reach only one purpose's
partitions, through temporary views named after the datasets (cut to a case's window
when there is one).

It attaches the catalog read-only, defines the views, then limits file access to the
purpose's partitions (`allowed_directories`), closes everything else
(`enable_external_access = false`) and locks the configuration. DuckDB would still let
a statement `COPY … TO` or `ATTACH` a file inside the allowed directories, so nothing
runs here that queries/guard.py has not checked first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from queries.guard import CheckedStatement
from schemas.datasets import DATASETS
from schemas.purposes import Purpose
from store.layout import StoreLayout

CATALOG_ALIAS = "lake_catalog"


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
        con = duckdb.connect(":memory:")
        try:
            catalog = str(layout.catalog.resolve()).replace("'", "''")
            con.execute(f"ATTACH '{catalog}' AS {CATALOG_ALIAS} (READ_ONLY)")
            window = _window_clause(window_from, window_to)
            for dataset in self.views:
                con.execute(
                    f'CREATE TEMP VIEW "{dataset}" AS SELECT * FROM '
                    f'{CATALOG_ALIAS}."{purpose.value}"."{dataset}"{window}'
                )
            allowed = [
                str(layout.partition_dir(d, purpose.value).resolve()) + os.sep for d in DATASETS
            ]
            con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        self._con = con

    def run(self, statement: CheckedStatement, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a statement the guard accepted; DuckDB errors propagate as duckdb.Error."""
        if params:
            return self._con.sql(statement.sql, params=dict(params)).to_arrow_table()
        return self._con.sql(statement.sql).to_arrow_table()

    def close(self) -> None:
        self._con.close()


def _window_clause(start: datetime | None, end: datetime | None) -> str:
    terms = []
    if start is not None:
        terms.append(f"\"time\" >= TIMESTAMPTZ '{start.isoformat()}'")
    if end is not None:
        terms.append(f"\"time\" < TIMESTAMPTZ '{end.isoformat()}'")
    return (" WHERE " + " AND ".join(terms)) if terms else ""
