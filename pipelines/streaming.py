"""The same ingest transforms in an unbounded pipeline: groups of raw lines instead of
file splits.

Beam's local runners cannot stream from files without the network, so following growing
files locally means micro-batches of the bounded pipeline. On a streaming runner (Flink, Dataflow)
lines arrive one by one from Pub/Sub or Kafka instead: keyed by their source, windowed,
and grouped with `GroupIntoBatches`. `LinesToBatches` turns each group into the
pipeline's `Batch` element, after which the bounded pipeline's own DoFns (ParseLines →
Protect → WriteParts) run unchanged. docs/scale.md shows the unbounded form and what
exactly-once then relies on.

A group's lines need not be contiguous: each batch keeps the file line number of every
line (as `--source auto` parts do), so dead letters still name file and line. Its part
id, and so its staged file names, are derived from its content (the source and its first
line number), so a retried bundle writes the same names again instead of new ones.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa

from pipelines.ingest import IngestJob, ParseLines, Protect, WriteParts
from transforms.batch import Batch
from transforms.parse.base import REJECT_SCHEMA, ROW
from transforms.read_lines import CHUNK_LINES

Line = tuple[int, bytes]  # (file line number, raw bytes without terminator)


def source_id(source_file: str) -> int:
    """A stable number for a source, used where a bounded run numbers its splits."""
    return zlib.crc32(source_file.encode("utf-8", "surrogateescape"))


class LinesToBatches(beam.DoFn):
    """(source file, lines) → one Batch of those lines, in line order."""

    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def process(self, group: tuple[str, Iterable[Line]]) -> Iterator[Batch]:
        source_file, lines = group
        ordered = sorted(lines)
        if not ordered:
            return
        numbers = pa.array([n for n, _ in ordered], pa.int64())
        raw = pa.array([r for _, r in ordered], pa.binary())
        first = ordered[0][0]
        yield Batch(
            source_file, source_id(source_file), first, first, raw,
            pa.table({ROW: pa.array([], pa.int64())}), REJECT_SCHEMA.empty_table(),
            source_format=self.job.format_name, line_numbers=numbers,
        )  # fmt: skip


class IngestLineGroups(beam.PTransform):
    """PCollection[(source file, (line number, raw))], keyed and windowed →
    PCollection[PartReport]: the bounded pipeline's steps after reading."""

    def __init__(self, job: IngestJob, batch_lines: int = CHUNK_LINES) -> None:
        super().__init__()
        self.job = job
        self.batch_lines = batch_lines

    def expand(self, lines: beam.PCollection) -> beam.PCollection:
        return (
            lines
            | "Group" >> beam.GroupIntoBatches(self.batch_lines)
            | "ToBatches" >> beam.ParDo(LinesToBatches(self.job)).with_output_types(Batch)
            | "ParseAndValidate" >> beam.ParDo(ParseLines(self.job)).with_output_types(Batch)
            | "Protect" >> beam.ParDo(Protect(self.job)).with_output_types(Batch)
            | "Write" >> beam.ParDo(WriteParts(self.job))
        )
