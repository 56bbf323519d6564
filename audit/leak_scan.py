"""The leak scan: is any plain identity stored in the lake or the catalog?

Every string value of every Parquet file in the lake, the view SQL, table data and
printable byte runs of the DuckDB catalog (`audit.leak_columns`) are checked against
the alias directories, the identity patterns and the policy's pseudonym columns
(`audit.leak_patterns`).

Columns are checked vectorised: values are lower-cased, their distinct values matched
(RE2 regexes, `is_in` against the alias set) and the matches mapped back to the rows
with `is_in`; Python touches only the few examples kept per finding. The report never
holds a leaked value: only file, column, row, pattern and a keyed digest of the value
(`audit.leak_digest`: HMAC-SHA256 under a key made for this scan and never stored, so
that a digest cannot be checked against guessed names).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from audit.lake_models import LeakExample, LeakFinding, LeakScanSection
from audit.leak_columns import (
    Column,
    PolicyIndex,
    catalog_columns,
    pseudonymised_columns,
    table_columns,
)
from audit.leak_digest import ValueDigest
from audit.leak_patterns import (
    EMAIL,
    IP_PATTERNS,
    MESSAGE_ID,
    MIN_IDENTIFIER,
    NOT_PSEUDONYM,
    PATTERNS,
    PSEUDONYM,
    AliasSet,
    Classifier,
)
from schemas.policy import Policy
from store.layout import StoreLayout

EXAMPLES = 3  # examples kept per finding


@dataclass
class _Hits:
    """Findings of one scan, with counts of values that were not counted and why."""

    findings: list[LeakFinding] = field(default_factory=list)
    exempt: dict[str, int] = field(default_factory=dict)
    values: int = 0
    columns: int = 0

    def exempted(self, why: str, n: int) -> None:
        if n:
            self.exempt[why] = self.exempt.get(why, 0) + n


def _sum(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _scan_column(col: Column, classifier: Classifier, hits: _Hits, digest: ValueDigest) -> None:
    values = col.values
    if len(values) == 0 or values.null_count == len(values):
        return
    hits.values += len(values) - values.null_count
    lowered = pc.utf8_lower(values)
    masks: dict[str, pa.Array] = {}
    for name, matched in classifier.matched.items():
        if len(matched) == 0:
            continue
        m = pc.fill_null(pc.is_in(lowered, value_set=matched), False)
        if not _sum(m):
            continue
        if name in IP_PATTERNS and col.ip_exempt is not None:
            hits.exempted("internal IP values flagged internal (encrypted)",
                          _sum(pc.and_(m, col.ip_exempt)))  # fmt: skip
            m = pc.and_(m, pc.invert(col.ip_exempt))
        if name == EMAIL and col.message_ids:
            msgid = pc.fill_null(pc.match_substring_regex(lowered, MESSAGE_ID), False)
            hits.exempted("Message-IDs in data_security_finding.object_id (not e-mail)",
                          _sum(pc.and_(m, msgid)))  # fmt: skip
            m = pc.and_(m, pc.invert(msgid))
        masks[name] = m
    if col.pseudonyms:
        distinct = pc.drop_null(pc.unique(lowered))
        bad = pc.filter(distinct, pc.invert(pc.match_substring_regex(distinct, PSEUDONYM)))
        if len(bad):
            masks[NOT_PSEUDONYM] = pc.fill_null(pc.is_in(lowered, value_set=bad), False)
    for name, mask in masks.items():
        count = _sum(mask)
        if not count:
            continue
        first = pc.indices_nonzero(mask).slice(0, EXAMPLES).to_pylist()
        examples = [
            LeakExample(
                row=int(col.rows[i].as_py()) if col.rows is not None else i,
                digest=digest(values[i].as_py()),
            )
            for i in first
        ]
        hits.findings.append(
            LeakFinding(file=col.file, column=col.name, pattern=name, count=count,
                        examples=examples)
        )  # fmt: skip


@dataclass(frozen=True)
class _LakeFile:
    path: Path
    rel: str
    dataset: str | None


def scan_store(
    layout: StoreLayout,
    aliases: Sequence[Path],
    recorded_aliases: Iterable[str],
    policies: Sequence[Policy],
) -> LeakScanSection:
    """Two passes over the lake: collect the distinct values and classify them once,
    then find the rows holding the matched values."""
    start = time.perf_counter()
    section = LeakScanSection(min_identifier_length=MIN_IDENTIFIER, patterns=dict(PATTERNS))
    digest = ValueDigest()  # this scan's key: in memory only, gone when the scan ends
    alias_set = AliasSet.load(aliases, recorded_aliases)
    section.alias_sources = alias_set.sources
    section.alias_identifiers = len(alias_set.values)
    index = PolicyIndex(policies)
    classifier = Classifier(alias_set)
    hits = _Hits()
    files, other_files = _lake_files(layout)
    readable = []
    for f in files:
        try:
            table = pq.read_table(f.path)
        except (OSError, pa.ArrowException) as exc:
            section.errors.append(f"{f.rel}: cannot read ({type(exc).__name__})")
            continue
        readable.append(f)
        for col in table_columns(table, f.rel, f.dataset)[0]:
            classifier.add(col.values)
    catalog = catalog_columns(layout, section)
    for col in catalog:
        classifier.add(col.values)
    classifier.classify()
    unpoliced: list[str] = []
    skipped: list[str] = []
    for f in readable:
        table = pq.read_table(f.path)
        section.files_scanned += 1
        section.rows_scanned += table.num_rows
        pseudonymised, policed = pseudonymised_columns(table, f.dataset, index)
        if not policed:
            unpoliced.append(f.rel)
        columns, not_scanned = table_columns(table, f.rel, f.dataset, "", pseudonymised)
        skipped += [f"{f.rel}:{c}" for c in not_scanned]
        for col in columns:
            _scan_column(col, classifier, hits, digest)
        hits.columns += len(columns) - 1
    for col in catalog:
        _scan_column(col, classifier, hits, digest)
    hits.columns += len(catalog)
    section.files_scanned += len({c.file for c in catalog})
    section.values_scanned = hits.values
    section.columns_scanned = hits.columns
    section.findings = sorted(hits.findings, key=lambda f: (f.file, f.column, f.pattern))
    section.total_findings = sum(f.count for f in section.findings)
    by_pattern: dict[str, int] = {}
    for finding in section.findings:
        by_pattern[finding.pattern] = by_pattern.get(finding.pattern, 0) + finding.count
    section.by_pattern = by_pattern
    section.exempt = hits.exempt
    _summarise(section, unpoliced, skipped, other_files)
    section.seconds = round(time.perf_counter() - start, 4)
    return section


def _lake_files(layout: StoreLayout) -> tuple[list[_LakeFile], int]:
    """Every Parquet file in the lake (anchors too), and how many other files there are."""
    files, others = [], 0
    for path in sorted(layout.lake.rglob("*")) if layout.lake.is_dir() else []:
        if not path.is_file():
            continue
        if path.suffix != ".parquet":
            others += 1
            continue
        parts = path.relative_to(layout.lake).parts
        dataset = parts[0] if len(parts) > 1 else None
        files.append(_LakeFile(path, str(path.relative_to(layout.root)), dataset))
    return files, others


def _summarise(
    section: LeakScanSection, unpoliced: list[str], skipped: list[str], other_files: int
) -> None:
    skipped_short = sum(s.skipped_short for s in section.alias_sources)
    loaded = [s for s in section.alias_sources if s.status == "loaded"]
    section.notes.append(
        f"alias identifiers shorter than {MIN_IDENTIFIER} characters are not checked (they "
        f"would match by chance): {skipped_short} skipped"
    )
    if not loaded:
        section.warn("no alias directory could be read: only the identity patterns were checked")
    for s in section.alias_sources:
        if s.status != "loaded":
            section.warn(f"alias directory {s.path} ({s.origin}): {s.status}, not checked")
    if unpoliced:
        section.notes.append(
            f"{len(unpoliced)} file(s) hold rows of no known policy: their pseudonym columns "
            "were checked by pattern only"
        )
    if skipped:
        section.warn(f"{len(skipped)} nested or binary column(s) not scanned: {skipped[:5]}")
    if other_files:
        section.warn(f"{other_files} file(s) in the lake that are not Parquet were not scanned")
    for error in section.errors:
        section.fail(f"not scanned: {error}")
    if section.total_findings:
        section.fail(
            f"{section.total_findings} plain identity value(s) found in "
            f"{len({f.file for f in section.findings})} file(s)"
        )
    section.summary = (
        f"{section.total_findings} findings in {section.files_scanned} files, "
        f"{section.rows_scanned} rows, {section.values_scanned} string values; "
        f"{section.alias_identifiers} alias identifiers from {len(loaded)} directory(ies)"
    )
