"""Purpose-bound query sessions: every read of the store declares one lawful purpose and
sees only that purpose's views.

The session is a read-only DuckDB connection to the catalog whose file access is
limited to the purpose's partitions (`allowed_directories`), then closed to everything
else (`enable_external_access = false`) and locked (`lock_configuration = true`), so a
query cannot reach another purpose's files, raw files, or change the settings. Each
purpose's partitions hold only the columns that purpose may see (projected at write
time), so reading any file inside them reveals nothing more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from schemas.datasets import DATASETS
from schemas.purposes import Purpose, parse_purpose
from store.layout import StoreLayout


class QueryError(RuntimeError):
    """The query failed or was refused; the message says why."""


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    purpose: Purpose
    case: str | None
    actor: str


def default_actor() -> str:
    return os.environ.get("LOGGVERN_ACTOR") or _os_user()


def _os_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "unknown")


class QuerySession:
    def __init__(
        self, layout: StoreLayout, purpose: str, case: str | None = None, actor: str | None = None
    ) -> None:
        self.layout = layout.require()
        self.purpose = parse_purpose(purpose)
        self.case = case
        self.actor = actor or default_actor()
        self._con = self._connect()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.layout.catalog), read_only=True)
        allowed = [
            str(self.layout.partition_dir(d, self.purpose.value).resolve()) + os.sep
            for d in DATASETS
        ]
        con.execute(f"SET search_path = '{self.purpose.value}'")
        con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def execute(self, sql: str) -> QueryResult:
        try:
            table = self._con.sql(sql).to_arrow_table() if sql.strip() else None
        except duckdb.Error as exc:
            raise QueryError(_first_line(str(exc))) from None
        if table is None:
            raise QueryError("the query returned no result set (only SELECT queries return rows)")
        return QueryResult(table, self.purpose, self.case, self.actor)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> QuerySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "query failed"
