"""Checks the parser tests share: parse a batch and assert every line is accounted for
exactly once (table or rejects, with fixed reasons), hypothesis strategies for the
format-aware property tests, throughput timing, and an ingest end to end with scans of
what the store keeps.

Format-blind robustness (arbitrary bytes, byte mutations and truncations of each format's
examples, wrong encodings, a 10 MB line, through the whole write path) is in
test_parser_robustness.py for every registered format; the per-format tests here add only
what knows the format."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import settings
from hypothesis import strategies as st

from loggvern.commands import ingest
from schemas.policy import default_policies
from store.init import init_store
from tests import elastic_fixtures as ef
from transforms.parse.base import REASON, REJECT_SCHEMA, ROW, ParseContext, ParseResult
from transforms.parse.registry import FORMATS

# The budget of every per-format property test.
PROPERTY = settings(max_examples=150, deadline=None)


def assert_accounted(
    result: ParseResult, n: int, fmt: Any = None, reasons: Iterable[str] | None = None
) -> None:
    """Every one of `n` lines is in exactly one of table / rejects; the table has ROW and the
    dataset's columns (when `fmt`, a SourceFormat, is given); reasons come from `reasons`."""
    parsed = result.table.column(ROW).to_pylist()
    rejected = result.rejects.column(ROW).to_pylist()
    assert sorted(parsed + rejected) == list(range(n)), "each line in table or rejects"
    assert not set(parsed) & set(rejected), "no line in both"
    assert result.rejects.schema == REJECT_SCHEMA
    if fmt is not None:
        assert result.table.column_names == [ROW, *fmt.dataset.column_names]
    if reasons is not None:
        assert set(result.rejects.column(REASON).to_pylist()) <= set(reasons), "fixed reasons"


def parse_accounted(
    fmt: Any,
    lines: Sequence[str | None],
    ctx: ParseContext | None = None,
    reasons: Iterable[str] | None = None,
) -> ParseResult:
    """`fmt`'s parser over `lines`, checked with assert_accounted."""
    result = fmt.parse(pa.array(list(lines), pa.string()), ctx or ParseContext())
    assert_accounted(result, len(lines), fmt, reasons)
    return result


def single_row(result: ParseResult) -> dict[str, Any]:
    """The only row of a one-line batch that must parse."""
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    return result.table.to_pylist()[0]


def rows(result: ParseResult) -> dict[int, dict[str, Any]]:
    return {r[ROW]: r for r in result.table.to_pylist()}


def reasons(result: ParseResult) -> dict[int, str]:
    return {r[ROW]: r[REASON] for r in result.rejects.to_pylist()}


# --- strategies and deterministic variants ----------------------------------------------


def truncations(seeds: Iterable[str]) -> list[str]:
    """Every prefix of every seed, the empty one and the whole line included."""
    return [seed[:i] for seed in seeds for i in range(len(seed) + 1)]


@st.composite
def mutated(
    draw: st.DrawFn,
    seeds: Sequence[str],
    chars: str | Sequence[str] | st.SearchStrategy[str],
    *,
    truncate: bool = False,
    keep_seeds: bool = False,
) -> list[str]:
    """Each seed with up to six characters replaced by one drawn from `chars` (candidates,
    "" deletes, or a strategy), cut at a drawn length first when `truncate`, followed by
    the seed itself when `keep_seeds`."""
    pick = chars if isinstance(chars, st.SearchStrategy) else st.sampled_from(list(chars))
    lines: list[str] = []
    for seed in seeds:
        text = list(seed[: draw(st.integers(0, len(seed)))] if truncate else seed)
        for _ in range(draw(st.integers(0, 6))):
            if text:
                text[draw(st.integers(0, len(text) - 1))] = draw(pick)
        lines += ["".join(text), seed] if keep_seeds else ["".join(text)]
    return lines


# --- detection -------------------------------------------------------------------------


def assert_detects_only(name: str, mine: Sequence[str], others: Sequence[str | None]) -> None:
    """FORMATS[name] claims every line of `mine` and none of `others`; no other format with
    a detector claims any line of `mine`."""
    fmt = FORMATS[name]
    assert fmt.detect is not None
    assert all(fmt.detect(pa.array(list(mine), pa.string())).to_pylist())
    assert not any(fmt.detect(pa.array(list(others), pa.string())).to_pylist())
    for other in FORMATS.values():
        if other.detect is not None and other.name != name:
            assert not any(other.detect(pa.array(list(mine), pa.string())).to_pylist()), other.name


# Elastic's fixture file of each syslog firewall / auth format (folder → file).
ELASTIC_LOGS = {
    "iptables": "test-iptables-raw.log", "system": "test-auth.log",
    "cisco_asa": "test-asa-fix.log", "pfsense": "test-pfsense-bsd.log",
    "fortinet_fortigate": "test-fortinet-fix.log", "panw": "test-panw-panos-sctp-sample.log",
    "checkpoint": "test-checkpoint-cme.log",
}  # fmt: skip


def elastic_lines(folders: Iterable[str]) -> list[str]:
    """The lines of those folders' ELASTIC_LOGS files."""
    return [line for folder in folders for line in ef.load(folder, ELASTIC_LOGS[folder]).lines]


def other_examples(name: str) -> list[str]:
    """The example lines of every registered format but `name`."""
    return [e for other, f in FORMATS.items() if other != name for e in f.examples]


# --- throughput -------------------------------------------------------------------------


def lines_per_second(
    parser: Callable[[pa.StringArray, ParseContext], ParseResult],
    lines: pa.StringArray,
    ctx: ParseContext,
    runs: int = 3,
) -> tuple[ParseResult, float]:
    """The last result and the best rate of `runs` single-threaded parses (the first run
    also pays for fresh memory), printed."""
    best = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        result = parser(lines, ctx)
        best = max(best, len(lines) / (time.perf_counter() - start))
    print(f"{parser.__name__}: {best:,.0f} lines/s single-threaded on {len(lines)} lines")
    return result, best


# --- end to end ------------------------------------------------------------------------


def ingest_lines(
    tmp_path: Path,
    source: str,
    lines: Sequence[str],
    timezone: str = "UTC",
    store: Path | None = None,
) -> tuple[Path, Any]:
    """Write `lines` to a log file and ingest it into `store` (a new one under tmp_path when
    None); asserts nothing read was lost. Returns the store's root and the run summary."""
    if store is None:
        store = tmp_path / "s"
        init_store(store, default_policies(), "op")
    log = tmp_path / f"{source}.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = ingest(store, source, [log], timezone=timezone, actor="op")
    assert summary.read == len(lines) == summary.written + summary.rejected
    return store, summary


def lake_files(store: Path, dataset: str = "", purpose: str = "") -> list[Path]:
    """The lake's data files, of one dataset and purpose when given."""
    lake = store / "lake" / dataset / (f"purpose={purpose}" if purpose else "")
    return sorted(f for f in lake.rglob("*.parquet") if f.name != "_schema.parquet")


def lake_table(store: Path, dataset: str, purpose: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in lake_files(store, dataset, purpose)])


def purpose_strings(
    store: Path, dataset: str, hidden_from_admin: Iterable[str] = ()
) -> dict[str, set[str]]:
    """Per purpose (administration, incident), every string its files hold; asserts each
    has files and that the administration files have none of `hidden_from_admin`."""
    found: dict[str, set[str]] = {}
    for purpose in ("network_administration", "security_incident"):
        files = lake_files(store, dataset, purpose)
        assert files, purpose
        if purpose == "network_administration":
            for path in files:
                assert not set(hidden_from_admin) & set(pq.read_schema(path).names), path
        found[purpose] = string_values(files)
    return found


def string_values(paths: Iterable[Path]) -> set[str]:
    """Every string the files hold, inside list columns too."""
    found: set[str] = set()
    for path in paths:
        for column in pq.read_table(path).columns:
            values = column.combine_chunks()
            while pa.types.is_list(values.type):
                values = values.flatten()
            if pa.types.is_string(values.type):
                found.update(v for v in values.to_pylist() if v is not None)
    return found


def plain_values(
    values: Iterable[str],
    exact: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    contains: Iterable[str] = (),
) -> list[str]:
    """The values that are one of `exact`, start with one of `prefixes` or contain one of
    `contains`: what a scan for plain identities finds."""
    exact, prefixes, contains = set(exact), tuple(prefixes), tuple(contains)
    return [
        v
        for v in values
        if v in exact or (prefixes and v.startswith(prefixes)) or any(c in v for c in contains)
    ]


def assert_no_bytes_in_store(store: Path, needles: Iterable[bytes]) -> None:
    """No file anywhere under the store holds any of `needles`, byte for byte."""
    needles = list(needles)
    for path in store.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
