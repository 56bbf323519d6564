"""Purpose tagging and per-purpose projection.

Each row gets the lawful purposes its source's policy grants (optionally only rows
matching a purpose's `where`); a row with none is refused. A row serving both purposes
is written once per purpose, each copy holding only that purpose's columns with that
purpose's generalisations (network administration: time to the hour, subnets).

Given the run's date, a row past one purpose's retention no longer serves that purpose:
it is neither tagged with it nor written into its partitions (see `transforms.expire`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import INTERNAL_FLAG_SUFFIX
from schemas.lake import purpose_schema
from schemas.policy import Policy
from schemas.purposes import Purpose
from transforms.batch import reject_rows
from transforms.expire import EXPIRED_REASON, TIME, in_retention
from transforms.generalise import generalise
from transforms.parse.base import REJECT_SCHEMA

PURPOSES = "purposes"


@dataclass(frozen=True)
class RunStamp:
    """System values stamped on every stored row, and the day the run counts retention
    from (None: write every row for every purpose it serves)."""

    source_format: str
    ingest_run: str
    today: date | None = None


def purpose_mask(
    events: pa.Table, policy: Policy, purpose: Purpose, today: date | None = None
) -> np.ndarray:
    """Rows that serve `purpose`: all of them unless its grant has a `where`, and given
    `today`, only those still in the purpose's retention."""
    grant = policy.purposes[purpose]
    mask = np.ones(events.num_rows, dtype=bool)
    for name, allowed in grant.where.items():
        cond = pc.is_in(events.column(name).cast(pa.string()), pa.array(allowed))
        mask &= pc.fill_null(cond, False).to_numpy(zero_copy_only=False)
    if today is not None and TIME in events.column_names:
        mask &= in_retention(events.column(TIME), today, grant.retention_days)
    return mask


def tag_purposes(
    events: pa.Table, policy: Policy, today: date | None = None
) -> tuple[pa.Table, pa.Table]:
    """Add the `purposes` list column; refuse rows that serve no lawful purpose (or, given
    `today`, that serve purposes only past their retention)."""
    granted = list(policy.purposes)
    serves = np.zeros((events.num_rows, len(granted)), dtype=bool)  # row × purpose
    for k, purpose in enumerate(granted):
        serves[:, k] = purpose_mask(events, policy, purpose, today)
    counts = serves.sum(axis=1)
    offsets = np.zeros(events.num_rows + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    which = np.nonzero(serves.ravel())[0] % len(granted)  # row-major: each row's in order
    names = pa.array([p.value for p in granted], pa.string())
    tags = pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(which)))
    events = events.append_column(PURPOSES, tags)
    if counts.all():
        return events, REJECT_SCHEMA.empty_table()
    if today is None:
        return reject_rows(events, pa.array(counts == 0), "no lawful purpose")
    lawful = np.zeros(events.num_rows, dtype=bool)  # served some purpose before retention
    for purpose in granted:
        lawful |= purpose_mask(events, policy, purpose)
    events, expired = reject_rows(events, pa.array((counts == 0) & lawful), EXPIRED_REASON)
    kept = counts[(counts > 0) | ~lawful]
    events, refused = reject_rows(events, pa.array(kept == 0), "no lawful purpose")
    return events, pa.concat_tables([expired, refused])


def project(events: pa.Table, policy: Policy, purpose: Purpose, stamp: RunStamp) -> pa.Table:
    """The rows serving `purpose`, with exactly that purpose's columns."""
    grant = policy.purposes[purpose]
    if grant.where or stamp.today is not None:
        rows = events.filter(pa.array(purpose_mask(events, policy, purpose, stamp.today)))
    else:
        rows = events
    schema = purpose_schema(policy, purpose)
    n = rows.num_rows
    constants = {
        "class_uid": pa.repeat(pa.scalar(policy.spec.class_uid, pa.int32()), n),
        "source_format": pa.repeat(pa.scalar(stamp.source_format, pa.string()), n),
        "policy_id": pa.repeat(pa.scalar(policy.id, pa.string()), n),
        "policy_version": pa.repeat(pa.scalar(policy.version, pa.int32()), n),
        "ingest_run": pa.repeat(pa.scalar(stamp.ingest_run, pa.string()), n),
    }
    arrays = []
    for field in schema:
        if field.name in constants:
            arrays.append(constants[field.name])
            continue
        if field.name not in rows.column_names:
            arrays.append(pa.nulls(n, field.type))
            continue
        values = rows.column(field.name).combine_chunks()
        base = field.name.removesuffix(INTERNAL_FLAG_SUFFIX)
        if field.name == base and field.name in grant.generalise:
            values = generalise(values, grant.generalise[field.name])
        arrays.append(values.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
