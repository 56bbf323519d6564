"""The ingest pipeline: splits → lines → parse → validate → evidence → minimise →
pseudonymise → purposes → Parquet per purpose + dead letter, as Apache Beam transforms
whose elements are whole pyarrow Tables (one chunk of lines each).

Each step is a thin DoFn over a function in transforms/; secrets are loaded by the
workers from the store in `setup()`, never pickled into the pipeline graph.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import apache_beam as beam
import pyarrow as pa

from pipelines.batch_coder import BatchCoder  # noqa: F401  (registers the coder)
from schemas.policy import Policy
from store.custodians import load_vault_config
from store.keys import load_keys
from store.layout import StoreLayout
from store.vault import Sealer, mac_key
from transforms.auto_detect import AUTO, split_by_format
from transforms.batch import Batch
from transforms.expire import expire_batch
from transforms.identity import AliasDirectory
from transforms.parse.base import REJECT_SCHEMA, ParseContext
from transforms.parse.registry import source_format
from transforms.pseudonymize import Pseudonymizer
from transforms.purpose import RunStamp
from transforms.read_lines import CHUNK_LINES, Split, first_line, read_split
from transforms.seal import seal_batch
from transforms.sink import PartReport, write_batch
from transforms.stages import (
    attach_evidence,
    minimize_batch,
    parse_batch,
    pseudonymize_batch,
    tag_batch,
    validate_batch,
)


@dataclass(frozen=True)
class IngestJob:
    """Everything a worker needs, picklable and free of secrets and identities: keys and
    the alias directory (a staff list) are read by the workers themselves."""

    store: str
    run_id: str
    format_name: str  # a format, or "auto": detected per line
    policies: dict[str, Policy]  # per format that may occur in this run
    aliases_path: str | None
    today: str  # ISO date retention is counted from: fixed when the run is planned
    timezone: str = "UTC"
    chunk_lines: int = CHUNK_LINES
    file_formats: dict[str, str] = field(default_factory=dict)  # auto: header-based files
    format_order: tuple[str, ...] = ()  # auto: most common formats first (detection cost)
    reference_time: str | None = None  # replay: when the lines were first read (ISO)
    key_id: str = ""  # the run's pseudonym key period, pinned at planning ("": current)

    @property
    def run_dir(self) -> Path:
        return StoreLayout(Path(self.store)).staging / self.run_id


class ReadSplit(beam.DoFn):
    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def process(self, split: Split) -> Iterator[Batch]:
        empty = pa.table({"row": pa.array([], pa.int64())})
        for chunk, (line_no, raw) in enumerate(read_split(split, self.job.chunk_lines)):
            yield Batch(
                split.path, split.index, chunk, line_no, raw, empty, REJECT_SCHEMA.empty_table(),
                source_format=self.job.format_name,
            )  # fmt: skip


class ParseLines(beam.DoFn):
    """Parse and validate; with `--source auto` first split each chunk by format."""

    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def setup(self) -> None:
        self.formats = {name: source_format(name) for name in self.job.policies}
        self.contexts: dict[str, ParseContext] = {}

    def process(self, batch: Batch) -> Iterator[Batch]:
        ctx = self.contexts.get(batch.source_file)
        if ctx is None:
            ctx = self._context(batch.source_file)
            self.contexts[batch.source_file] = ctx
        parts = [batch]
        if batch.source_format == AUTO:
            fallback = self.job.file_formats.get(batch.source_file)
            formats = list(self.formats.values())
            parts = split_by_format(batch, formats, fallback, self.job.format_order)
        for part in parts:
            fmt = self.formats.get(part.source_format)
            yield part if fmt is None else validate_batch(parse_batch(part, fmt, ctx), fmt)

    def _context(self, path: str) -> ParseContext:
        """The file's time (for years syslog leaves out) and first line (CSV headers). A
        replayed dead letter's file may be gone: then the time of the run that read it,
        and no header."""
        try:
            mtime = datetime.fromtimestamp(os.path.getmtime(path), UTC)
            return ParseContext(mtime, self.job.timezone, first_line(path))
        except FileNotFoundError:
            if self.job.reference_time is None:
                raise
            reference = datetime.fromisoformat(self.job.reference_time)
            return ParseContext(reference, self.job.timezone, None)


class Protect(beam.DoFn):
    """Lines past retention out, then evidence tags, minimisation, pseudonymisation
    (sealing new identities into the vault as a side output) and purpose tagging."""

    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def setup(self) -> None:
        layout = StoreLayout(Path(self.job.store))
        keys = load_keys(layout.keys)
        self.evidence_key = keys.evidence
        path = self.job.aliases_path
        aliases = AliasDirectory.load(Path(path)) if path else AliasDirectory()
        key_id = self.job.key_id or keys.pseudonym_key_id  # one period for the whole run
        self.pz = Pseudonymizer(keys, aliases, key_id)
        vault_mac = mac_key(keys.pseudonym_key_for(key_id))
        self.sealer = Sealer(load_vault_config(layout).public(), vault_mac)

    def process(self, batch: Batch) -> Iterator[Batch]:
        policy = self.job.policies.get(batch.source_format)
        if policy is None:  # lines no format recognised: all rejected already
            yield batch
            return
        today = date.fromisoformat(self.job.today)
        batch = expire_batch(batch, policy, today)
        batch = attach_evidence(batch, self.evidence_key)
        batch = minimize_batch(batch, policy)
        batch = pseudonymize_batch(batch, policy, self.pz)
        batch = seal_batch(batch, policy, self.pz, self.sealer)
        yield tag_batch(batch, policy, today)


class WriteParts(beam.DoFn):
    def __init__(self, job: IngestJob) -> None:
        self.job = job

    def setup(self) -> None:
        self.deadletter_key = load_keys(StoreLayout(Path(self.job.store)).keys).deadletter

    def process(self, batch: Batch) -> Iterator[PartReport]:
        policy = self.job.policies.get(batch.source_format)
        stamp = RunStamp(batch.source_format, self.job.run_id, date.fromisoformat(self.job.today))
        yield write_batch(batch, policy, stamp, self.job.run_dir, self.deadletter_key)


class IngestSplits(beam.PTransform):
    """PCollection[Split] → PCollection[PartReport] (files staged under the run dir)."""

    def __init__(self, job: IngestJob) -> None:
        super().__init__()
        self.job = job

    def expand(self, splits: beam.PCollection) -> beam.PCollection:
        return (
            splits
            | "Read" >> beam.ParDo(ReadSplit(self.job)).with_output_types(Batch)
            | "ParseAndValidate" >> beam.ParDo(ParseLines(self.job)).with_output_types(Batch)
            | "Protect" >> beam.ParDo(Protect(self.job)).with_output_types(Batch)
            | "Write" >> beam.ParDo(WriteParts(self.job))
        )


def build(pipeline: beam.Pipeline, job: IngestJob, splits: list[Split]) -> None:
    """Splits are spread over workers by a reshuffle; everything after it is fused."""
    _ = (
        pipeline
        | "Splits" >> beam.Create(splits)
        | "Spread" >> beam.Reshuffle()
        | "Ingest" >> IngestSplits(job)
    )


def build_replay(pipeline: beam.Pipeline, job: IngestJob, batches: list[Batch]) -> None:
    """Dead letters replayed: their lines are already in memory as batches (with their
    original files and line numbers), and take the same steps after reading."""
    _ = (
        pipeline
        | "DeadLetters" >> beam.Create(batches)
        | "Spread" >> beam.Reshuffle()
        | "ParseAndValidate" >> beam.ParDo(ParseLines(job)).with_output_types(Batch)
        | "Protect" >> beam.ParDo(Protect(job)).with_output_types(Batch)
        | "Write" >> beam.ParDo(WriteParts(job))
    )
