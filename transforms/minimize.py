"""Minimisation: keep only what the source's policy names (default deny), and apply
its field-level generalisations. Dropped values are counted per field, never stored.

Seed 003 (MDM terms) and the data-minimisation principle: a field the policy does not
name, or names `drop`, never leaves this stage.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.datasets import SYSTEM_COLUMNS
from schemas.policy import Action, Policy
from transforms.generalise import generalise
from transforms.parse.base import ROW


def minimize(events: pa.Table, policy: Policy) -> tuple[pa.Table, dict[str, int]]:
    """Return the minimised events and, per dropped field, how many values it held."""
    dropped: dict[str, int] = {}
    system = {c.name for c in SYSTEM_COLUMNS}
    keep = [ROW]
    for name in events.column_names:
        if name == ROW:
            continue
        if name in system:
            keep.append(name)
            continue
        rule = policy.fields.get(name)
        if rule is None or rule.action is Action.drop:
            present = events.num_rows - events.column(name).null_count
            if present:
                dropped[name] = present
            continue
        keep.append(name)
    events = events.select(keep)
    for name in keep:
        rule = policy.fields.get(name)
        if rule is not None and rule.action is Action.generalise:
            assert rule.method is not None
            index = events.schema.get_field_index(name)
            events = events.set_column(index, name, generalise(events.column(name), rule.method))
    return events, dropped
