"""The contract every log parser keeps: a batch of raw lines in, a table of parsed
rows plus a table of rejected rows out, every input line in exactly one of them.

Parsers are vectorised over a pyarrow StringArray (pyarrow compute, no per-row Python
in the hot path) and emit the columns of their dataset in schemas/datasets.py, before
any privacy transform. Columns a parser cannot fill are null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import DatasetSpec

ROW = "row"  # index of the line within the batch handed to the parser
REASON = "reason"

REJECT_SCHEMA = pa.schema([pa.field(ROW, pa.int64()), pa.field(REASON, pa.string())])


@dataclass(frozen=True)
class ParseContext:
    """What a parser may need beyond the lines themselves."""

    # Year-less syslog timestamps take the year of this instant, or the year before
    # when that would put them more than two days after it (a December line read in
    # January).
    reference_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Zone of timestamps written without an offset (IANA name or "+HHMM").
    timezone: str = "UTC"
    # The file's first line (decoded, at most 64 KiB), for formats with a header line
    # (CSV exports): a batch from the middle of a file still knows its columns.
    first_line: str | None = None


@dataclass(frozen=True)
class ParseResult:
    """`table` has ROW plus the dataset's columns; `rejects` has ROW and REASON.

    Reasons never quote field values from the line (they may hold identities).
    """

    table: pa.Table
    rejects: pa.Table
    # Fields the source carried that no dataset column takes and that were dropped at
    # the edge (e.g. an MDM export's browser history), with how many values: counted,
    # never stored.
    dropped: dict[str, int] = field(default_factory=dict)


Parser = Callable[[pa.StringArray, ParseContext], ParseResult]


@dataclass(frozen=True)
class SourceFormat:
    """A supported input format: its name on the command line, its dataset, its parser,
    and for `--source auto` a test that says which lines of a batch look like it."""

    name: str
    dataset: DatasetSpec
    parse: Parser
    detect: Callable[[pa.StringArray], pa.BooleanArray] | None = None
    # Typical valid lines (invented, no real person's data): the robustness tests mutate
    # them and docs/formats.md shows them. For a format with a header line, the first
    # example is the header.
    examples: tuple[str, ...] = ()


def lines_matching(pattern: str) -> Callable[[pa.StringArray], pa.BooleanArray]:
    """A `--source auto` detector: the lines an RE2 pattern matches (null lines: no)."""

    def detect(lines: pa.StringArray) -> pa.BooleanArray:
        return pc.fill_null(pc.match_substring_regex(lines, pattern), False)

    return detect


def conform(table: pa.Table, dataset: DatasetSpec) -> pa.Table:
    """Order and type a parser's columns as the dataset says; missing ones become null."""
    n = table.num_rows
    arrays = [table.column(ROW).cast(pa.int64())]
    fields = [pa.field(ROW, pa.int64())]
    for col in dataset.columns:
        if col.name in table.column_names:
            arrays.append(table.column(col.name).cast(col.arrow_type))
        else:
            arrays.append(pa.nulls(n, col.arrow_type))
        fields.append(pa.field(col.name, col.arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
