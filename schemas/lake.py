"""Arrow schemas of the rows stored in the lake, derived from the dataset columns and a
policy: one schema per dataset × purpose, holding only the columns that purpose sees.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.datasets import INTERNAL_FLAG_SUFFIX, SYSTEM_COLUMNS, ColumnSpec
from schemas.policy import Action, Policy
from schemas.purposes import Purpose


def stored_type(col: ColumnSpec, policy: Policy) -> pa.DataType:
    """Pseudonyms are strings whatever the input type was."""
    rule = policy.fields.get(col.name)
    if rule is not None and rule.action is Action.pseudonymize and col.type != "list<string>":
        return pa.string()
    return col.arrow_type


def purpose_schema(policy: Policy, purpose: Purpose) -> pa.Schema:
    """System columns, then the purpose's columns (with an `<ip>_internal` flag each)."""
    fields = [pa.field(c.name, c.arrow_type) for c in SYSTEM_COLUMNS]
    grant = policy.purposes[purpose]
    for col in policy.spec.columns:
        if col.name not in grant.columns:
            continue
        fields.append(pa.field(col.name, stored_type(col, policy)))
        if col.ip:
            fields.append(pa.field(col.name + INTERNAL_FLAG_SUFFIX, pa.bool_()))
    return pa.schema(fields)


def minimal_schema() -> pa.Schema:
    """Schema of a dataset × purpose that no policy grants: system columns and time."""
    fields = [pa.field(c.name, c.arrow_type) for c in SYSTEM_COLUMNS]
    fields.append(pa.field("time", pa.timestamp("us", tz="UTC")))
    return pa.schema(fields)
