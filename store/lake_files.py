"""The lake's data files as retention sees them: for each Parquet file under a lawful
`lake/<dataset>/purpose=<p>/` directory, its date partition, rows and the policies its
rows name (the anchors that keep empty views bound are never data).

One DuckDB pass per dataset × purpose reads only the policy columns; the audit report
and the retention run both decide by these facts and `schemas.retention`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from schemas.datasets import DATASETS
from schemas.purposes import Purpose
from store.catalog import ANCHOR
from store.layout import StoreLayout

_DAY = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_FILES_SQL = """
SELECT filename, CAST(policy_id AS VARCHAR), TRY_CAST(policy_version AS INTEGER), count(*)
FROM read_parquet($glob, union_by_name = true, filename = true, hive_partitioning = false)
GROUP BY ALL
"""


@dataclass(frozen=True)
class LakeFile:
    path: Path
    rel: str  # relative to the store root: what a purge entry names
    dataset: str
    purpose: str
    day: date | None  # None: outside any date=YYYY-MM-DD partition
    rows: int
    policies: tuple[tuple[str | None, int | None], ...]  # (policy id, version) of its rows


@dataclass
class LakeFiles:
    files: list[LakeFile]
    errors: list[str]  # dataset × purpose directories that could not be read


def data_files(directory: Path) -> list[Path]:
    """The Parquet files under a directory, anchors excluded."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.parquet") if p.name != ANCHOR and p.is_file())


def partition_day(path: Path, partition: Path) -> date | None:
    """The date of the `date=YYYY-MM-DD` directory a file lies in, below `partition`."""
    for part in path.relative_to(partition).parts[:-1]:
        found = _DAY.match(part)
        if found:
            try:
                return date.fromisoformat(found.group(1))
            except ValueError:
                return None
    return None


def lake_files(layout: StoreLayout) -> LakeFiles:
    result = LakeFiles([], [])
    con = duckdb.connect()
    try:
        for dataset in DATASETS:
            for purpose in Purpose:
                directory = layout.partition_dir(dataset, purpose.value)
                files = data_files(directory)
                if not files:
                    continue
                glob = str(directory.resolve() / "**" / "*.parquet")
                try:
                    fetched = con.execute(_FILES_SQL, {"glob": glob}).fetchall()
                except duckdb.Error as exc:
                    result.errors.append(
                        f"{dataset}/purpose={purpose.value}: cannot read ({type(exc).__name__})"
                    )
                    continue
                groups: dict[str, list[tuple[str | None, int | None, int]]] = {}
                for name, pid, pver, n in fetched:
                    groups.setdefault(str(Path(name).resolve()), []).append((pid, pver, n))
                for path in files:
                    found = groups.get(str(path.resolve()), [])
                    result.files.append(
                        LakeFile(
                            path=path,
                            rel=str(path.relative_to(layout.root)),
                            dataset=dataset,
                            purpose=purpose.value,
                            day=partition_day(path, directory),
                            rows=sum(n for _, _, n in found),
                            policies=tuple((pid, pver) for pid, pver, _ in found),
                        )
                    )
    finally:
        con.close()
    return result
