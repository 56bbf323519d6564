"""Printing query results and summaries: rich tables on a terminal, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):  # sum() of integers is a HUGEINT, which arrives as Decimal
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.utcoffset() is not None else "")
    return str(_plain(value))


def render(table: pa.Table, fmt: str, console: Console | None = None, title: str = "") -> None:
    rows = table.to_pylist()
    if fmt == "json":
        for row in rows:
            plain = {k: _plain(v) for k, v in row.items()}
            sys.stdout.write(json.dumps(plain, default=str, ensure_ascii=False) + "\n")
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow(
                ["" if v is None else json.dumps(_plain(v)) if isinstance(v, list) else _plain(v)
                 for v in row.values()]
            )  # fmt: skip
        sys.stdout.write(buf.getvalue())
        return
    grid = Table(title=title or None, show_lines=False, title_justify="left")
    for name in table.column_names:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*("" if v is None else _cell(v) for v in row.values()))
    (console or Console()).print(grid)
    (console or Console()).print(f"[dim]{table.num_rows} row(s)[/dim]")
