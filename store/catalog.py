"""The DuckDB catalog: one view per dataset × purpose over the lake's Parquet globs.

Ingest writes only Parquet files, never this file, so readers (read-only, many at once)
are never locked out by a running ingest. Each purpose directory holds an empty
`_schema.parquet` anchor so a view binds before any data has arrived.
"""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.datasets import DATASETS
from schemas.purposes import Purpose
from store.layout import StoreLayout

ANCHOR = "_schema.parquet"


def view_name(purpose: Purpose, dataset: str) -> str:
    return f"{purpose.value}.{dataset}"


def lake_glob(layout: StoreLayout, dataset: str, purpose: Purpose) -> str:
    return str(layout.partition_dir(dataset, purpose.value).resolve() / "**" / "*.parquet")


def write_anchor(layout: StoreLayout, dataset: str, purpose: Purpose, schema: pa.Schema) -> None:
    directory = layout.partition_dir(dataset, purpose.value)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / (ANCHOR + ".part")
    pq.write_table(schema.empty_table(), tmp)
    os.replace(tmp, directory / ANCHOR)


def create_catalog(layout: StoreLayout, schemas: dict[tuple[str, Purpose], pa.Schema]) -> None:
    """Write the anchors and create a schema per purpose with a view per dataset."""
    for (dataset, purpose), schema in schemas.items():
        write_anchor(layout, dataset, purpose, schema)
    con = duckdb.connect(str(layout.catalog))
    try:
        for purpose in Purpose:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{purpose.value}"')
            for dataset in DATASETS:
                glob = lake_glob(layout, dataset, purpose).replace("'", "''")
                con.execute(
                    f'CREATE OR REPLACE VIEW "{purpose.value}"."{dataset}" AS '
                    f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
                )
    finally:
        con.close()
