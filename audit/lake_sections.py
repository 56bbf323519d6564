"""The sections built from the lake's rows: rows per dataset × purpose (and Parquet
outside every lawful dataset × purpose directory), and rows without a lawful purpose.

One DuckDB pass per dataset × purpose (`lake_stats`) counts rows by date partition and
policy, with the purpose problems; the same statistics serve `audit.retention`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from audit.lake_models import PurposeSection, PurposeViolation, RowCount, RowsSection, StrayLocation
from schemas.datasets import DATASETS
from schemas.purposes import LAWFUL_PURPOSES, Purpose
from store.lake_files import data_files
from store.layout import StoreLayout


@dataclass
class PartitionStats:
    """One group of a partition's rows: date, policy and purpose problems."""

    dataset: str
    purpose: str
    day: str | None
    policy_id: str | None
    policy_version: int | None
    rows: int
    null_or_empty: int
    missing_partition_purpose: int
    unlawful_values: int
    without_lawful: int


@dataclass
class LakeStats:
    groups: list[PartitionStats]
    files: dict[tuple[str, str], int]  # data files per dataset × purpose
    stray: list[StrayLocation]
    errors: list[str]


_LAWFUL_SQL = ", ".join(f"'{p}'" for p in LAWFUL_PURPOSES)
_STATS_SQL = f"""
SELECT
  regexp_extract(filename, '/date=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/', 1) AS day,
  CAST(policy_id AS VARCHAR) AS policy_id,
  TRY_CAST(policy_version AS INTEGER) AS policy_version,
  count(*) AS rows,
  count(*) FILTER (WHERE purposes IS NULL OR len(purposes) = 0) AS null_or_empty,
  count(*) FILTER (WHERE len(purposes) > 0 AND NOT list_contains(purposes, $purpose))
    AS missing_partition_purpose,
  count(*) FILTER (
    WHERE len(list_filter(purposes, lambda x: x IS NULL OR x NOT IN ({_LAWFUL_SQL}))) > 0
  ) AS unlawful_values,
  count(*) FILTER (
    WHERE purposes IS NULL OR len(purposes) = 0 OR NOT list_contains(purposes, $purpose)
       OR len(list_filter(purposes, lambda x: x IS NULL OR x NOT IN ({_LAWFUL_SQL}))) > 0
  ) AS without_lawful
FROM read_parquet($glob, union_by_name = true, filename = true, hive_partitioning = false)
GROUP BY ALL
"""
_COUNT_SQL = """
SELECT count(*) FROM read_parquet($glob, union_by_name = true, hive_partitioning = false)
"""


def lake_stats(layout: StoreLayout) -> LakeStats:
    """One DuckDB pass per dataset × purpose: rows by date and policy, purpose problems."""
    stats = LakeStats([], {}, [], [])
    con = duckdb.connect()
    try:
        for dataset in DATASETS:
            for purpose in Purpose:
                directory = layout.partition_dir(dataset, purpose.value)
                files = data_files(directory)
                stats.files[(dataset, purpose.value)] = len(files)
                if not files:
                    continue
                glob = str(directory.resolve() / "**" / "*.parquet")
                try:
                    rows = con.execute(_STATS_SQL, {"glob": glob, "purpose": purpose.value})
                    fetched = rows.fetchall()
                except duckdb.Error as exc:
                    stats.errors.append(
                        f"{dataset}/purpose={purpose.value}: cannot read ({_first_line(exc)})"
                    )
                    continue
                for day, pid, pver, n, empty, missing, unlawful, without in fetched:
                    stats.groups.append(
                        PartitionStats(dataset, purpose.value, day or None, pid, pver, n,
                                       empty, missing, unlawful, without)
                    )  # fmt: skip
        stats.stray = _stray(layout, con, stats.errors)
    finally:
        con.close()
    return stats


def _stray(
    layout: StoreLayout, con: duckdb.DuckDBPyConnection, errors: list[str]
) -> list[StrayLocation]:  # noqa: E501
    """Parquet files outside every lawful dataset × purpose directory."""
    lawful = {layout.partition_dir(d, p.value).resolve() for d in DATASETS for p in Purpose}
    by_dir: dict[Path, list[Path]] = {}
    for path in data_files(layout.lake):
        parents = set(path.resolve().parents)
        if parents & lawful:
            continue
        rel = path.relative_to(layout.lake)
        top = layout.lake / Path(*rel.parts[:2]) if len(rel.parts) > 2 else path.parent
        by_dir.setdefault(top, []).append(path)
    stray = []
    for top, files in sorted(by_dir.items()):
        rows = 0
        for f in files:
            try:
                rows += con.execute(_COUNT_SQL, {"glob": str(f.resolve())}).fetchone()[0]
            except duckdb.Error as exc:
                errors.append(f"{f.relative_to(layout.root)}: cannot read ({_first_line(exc)})")
        stray.append(
            StrayLocation(path=str(top.relative_to(layout.root)), files=len(files), rows=rows)
        )
    return stray


def build_rows_section(stats: LakeStats) -> RowsSection:
    section = RowsSection(datasets=list(DATASETS), purposes=[p.value for p in Purpose])
    totals: Counter[tuple[str, str]] = Counter()
    for g in stats.groups:
        totals[(g.dataset, g.purpose)] += g.rows
    for dataset in DATASETS:
        for purpose in Purpose:
            key = (dataset, purpose.value)
            section.counts.append(
                RowCount(
                    dataset=dataset,
                    purpose=purpose.value,
                    rows=totals[key],
                    files=stats.files.get(key, 0),
                )
            )
    section.total_rows = sum(totals.values())
    section.stray = stats.stray
    for error in stats.errors:
        section.fail(error)
    for s in stats.stray:
        section.fail(
            f"{s.files} Parquet file(s) with {s.rows} rows in {s.path}, outside every "
            "lawful dataset × purpose directory"
        )
    section.summary = (
        f"{section.total_rows} rows in {sum(stats.files.values())} files over "
        f"{len(DATASETS)} datasets × {len(Purpose)} purposes"
    )
    return section


def build_purpose_section(stats: LakeStats) -> PurposeSection:
    section = PurposeSection()
    by_partition: dict[tuple[str, str], PurposeViolation] = {}
    for g in stats.groups:
        section.rows_checked += g.rows
        if not g.without_lawful:
            continue
        v = by_partition.setdefault(
            (g.dataset, g.purpose),
            PurposeViolation(dataset=g.dataset, purpose=g.purpose, rows=0, null_or_empty=0,
                             missing_partition_purpose=0, unlawful_values=0),
        )  # fmt: skip
        v.rows += g.without_lawful
        v.null_or_empty += g.null_or_empty
        v.missing_partition_purpose += g.missing_partition_purpose
        v.unlawful_values += g.unlawful_values
    section.violations = list(by_partition.values())
    section.stray_rows = sum(s.rows for s in stats.stray)
    section.rows_without_lawful_purpose = sum(v.rows for v in section.violations) + (
        section.stray_rows
    )
    if section.rows_without_lawful_purpose:
        section.fail(
            f"{section.rows_without_lawful_purpose} rows are stored without a lawful purpose"
        )
    for error in stats.errors:
        section.fail(f"not checked: {error}")
    section.summary = (
        f"{section.rows_without_lawful_purpose} of {section.rows_checked + section.stray_rows} "
        "rows without a lawful purpose (must be 0)"
    )
    return section


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _first_line(exc: BaseException) -> str:
    """An error's first line with quoted parts cut: they may quote a value."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _QUOTED.sub("'…'", line)[:300]
