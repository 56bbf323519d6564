"""Which requested pseudonyms the lake holds for a purpose and window: a break-glass
request may only name pseudonyms that the case's own evidence contains.

The search runs in the same sandbox as a query under that purpose (only its partitions,
cut to the window), over every column that can carry a pseudonym: identity columns,
address columns (personal addresses become `adr-` pseudonyms) and identity lists.
"""

from __future__ import annotations

from datetime import datetime

from queries.guard import CheckedStatement
from queries.sandbox import Sandbox
from schemas.datasets import DATASETS
from schemas.purposes import Purpose
from store.layout import StoreLayout


def pseudonyms_in_lake(
    layout: StoreLayout,
    purpose: Purpose,
    pseudonyms: list[str],
    window_from: datetime,
    window_to: datetime,
) -> set[str]:
    if not pseudonyms:
        return set()
    found: set[str] = set()
    sandbox = Sandbox(layout, purpose, window_from, window_to)
    try:
        for name, spec in DATASETS.items():
            tables = frozenset({name})
            visible = set(
                sandbox.run(
                    CheckedStatement(f'SELECT * FROM "{name}" LIMIT 0', tables)
                ).column_names
            )
            scalars = [
                c.name
                for c in spec.columns
                if c.name in visible and (c.identity or c.ip) and c.type == "string" and not c.url
            ]
            lists = [
                c.name
                for c in spec.columns
                if c.name in visible and c.identity and c.type == "list<string>"
            ]
            parts = [f'SELECT "{c}" AS v FROM "{name}"' for c in scalars]
            parts += [f'SELECT unnest("{c}") AS v FROM "{name}"' for c in lists]
            if not parts:
                continue
            sql = (
                f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) "
                "WHERE v IN (SELECT unnest($wanted))"
            )
            table = sandbox.run(CheckedStatement(sql, tables), {"wanted": pseudonyms})
            found.update(v for v in table.column("v").to_pylist() if v is not None)
    finally:
        sandbox.close()
    return found
