"""The element that flows through the Beam pipeline: one chunk of raw lines of one file,
the events parsed from it so far, and the rows refused so far with their reasons.

Every stage is a plain function on pyarrow Tables; `Batch` only carries their results,
so that each input line is accounted for exactly once: in `events` or in `rejects`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.base import REASON, REJECT_SCHEMA, ROW


@dataclass(frozen=True)
class Batch:
    source_file: str  # path as given on the command line
    split_index: int  # which split of the file
    chunk_index: int  # which chunk of the split
    first_line: int  # 1-based line number of raw[0] in the file
    raw: pa.BinaryArray  # each line's bytes, without its line terminator
    events: pa.Table  # ROW + event columns
    rejects: pa.Table = field(default_factory=REJECT_SCHEMA.empty_table)
    dropped: dict[str, int] = field(default_factory=dict)  # field → values dropped
    sealed: pa.Table | None = None  # vault entries of identities first seen here
    source_format: str = ""  # the format these lines are parsed as ("auto": not yet known)
    # `--source auto` splits a chunk by detected format: then each part names its format
    # in its id and carries the file line number of each of its lines.
    subpart: str = ""
    line_numbers: pa.Int64Array | None = None

    def __repr__(self) -> str:
        # Never show the data: lines and events hold identities until pseudonymised.
        return (
            f"Batch({self.source_file!r}, lines {self.first_line}+{len(self.raw)}, "
            f"events={self.events.num_rows}, rejects={self.rejects.num_rows})"
        )

    @property
    def part_id(self) -> str:
        base = f"{self.split_index:05d}-{self.chunk_index:04d}"
        return f"{base}-{self.subpart}" if self.subpart else base

    def lines_of(self, rows: pa.Array) -> pa.Array:
        """File line numbers of the given rows."""
        if self.line_numbers is not None:
            return self.line_numbers.take(rows)
        return pc.add(rows, self.first_line)

    def with_events(self, events: pa.Table, rejects: pa.Table | None = None) -> Batch:
        """Replace the events, appending rows refused by the stage that made them."""
        if rejects is None or rejects.num_rows == 0:
            return replace(self, events=events)
        merged = pa.concat_tables([self.rejects, rejects.select([ROW, REASON]).cast(REJECT_SCHEMA)])
        return replace(self, events=events, rejects=merged)

    def apply(self, stage: Callable[[pa.Table], tuple[pa.Table, pa.Table]]) -> Batch:
        """Run a stage that returns (kept events, rejects)."""
        kept, rejected = stage(self.events)
        return self.with_events(kept, rejected)


def reject_rows(events: pa.Table, mask: pa.Array, reason: str) -> tuple[pa.Table, pa.Table]:
    """Split `events` by a boolean mask: masked rows become rejects with `reason`."""
    mask = pc.fill_null(mask, False)
    bad = events.filter(mask)
    rejects = pa.table(
        {ROW: bad.column(ROW), REASON: pa.array([reason] * bad.num_rows, pa.string())}
    )
    return events.filter(pc.invert(mask)), rejects
