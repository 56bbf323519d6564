"""Batch-level steps of the write path, each a thin shell over a table function, so
the Beam pipeline (pipelines/ingest.py) and tests compose the same code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from schemas.policy import Policy
from transforms.batch import Batch
from transforms.decode import decode_lines
from transforms.evidence import evidence_tags
from transforms.minimize import minimize
from transforms.parse.base import REASON, REJECT_SCHEMA, ROW, ParseContext, SourceFormat
from transforms.pseudonymize import Pseudonymizer, pseudonymize
from transforms.purpose import tag_purposes
from transforms.validate import validate

EVIDENCE = "evidence_tag"


def parse_batch(batch: Batch, fmt: SourceFormat, ctx: ParseContext) -> Batch:
    text, undecodable = decode_lines(batch.raw)
    result = fmt.parse(text, ctx)
    table, rejects = result.table, result.rejects
    if undecodable.num_rows:
        gone = undecodable.column(ROW)
        table = table.filter(pc.invert(pc.is_in(table.column(ROW), gone)))
        rejects = rejects.filter(pc.invert(pc.is_in(rejects.column(ROW), gone)))
    all_rejects = pa.concat_tables(
        [batch.rejects, undecodable, rejects.select([ROW, REASON]).cast(REJECT_SCHEMA)]
    )
    dropped = dict(batch.dropped)
    for name, count in result.dropped.items():
        dropped[name] = dropped.get(name, 0) + count
    return replace(batch, events=table, rejects=all_rejects, dropped=dropped)


def validate_batch(batch: Batch, fmt: SourceFormat) -> Batch:
    return batch.apply(lambda events: validate(events, fmt.dataset))


def attach_evidence(batch: Batch, key: bytes) -> Batch:
    rows = batch.events.column(ROW).combine_chunks()
    tags = evidence_tags(batch.raw.take(rows), key)
    return replace(batch, events=batch.events.append_column(EVIDENCE, tags))


def minimize_batch(batch: Batch, policy: Policy) -> Batch:
    events, dropped = minimize(batch.events, policy)
    merged = dict(batch.dropped)
    for name, count in dropped.items():
        merged[name] = merged.get(name, 0) + count
    return replace(batch, events=events, dropped=merged)


def pseudonymize_batch(batch: Batch, policy: Policy, pz: Pseudonymizer) -> Batch:
    return replace(batch, events=pseudonymize(batch.events, policy, pz))


def tag_batch(batch: Batch, policy: Policy, today: date | None = None) -> Batch:
    return batch.apply(lambda events: tag_purposes(events, policy, today))
