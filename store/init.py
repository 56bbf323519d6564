"""Creating a store: directories, keys, the catalog with a view per dataset × purpose,
and last the marker (so a half-created store is never taken for a store).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from schemas.datasets import DATASETS
from schemas.lake import minimal_schema, purpose_schema
from schemas.policy import Policy
from schemas.purposes import Purpose
from store.catalog import create_catalog
from store.keys import generate_keys
from store.layout import StoreLayout, create_layout, write_marker


def catalog_schemas(policies: list[Policy]) -> dict[tuple[str, Purpose], pa.Schema]:
    """Anchor schema of every dataset × purpose: from the policy granting it, if any."""
    schemas: dict[tuple[str, Purpose], pa.Schema] = {}
    for dataset in DATASETS:
        for purpose in Purpose:
            schemas[(dataset, purpose)] = minimal_schema()
    for policy in policies:
        for purpose in policy.purposes:
            schemas[(policy.dataset, purpose)] = purpose_schema(policy, purpose)
    return schemas


def init_store(root: Path, policies: list[Policy]) -> StoreLayout:
    layout = create_layout(root)
    generate_keys(layout.keys)
    create_catalog(layout, catalog_schemas(policies))
    write_marker(layout)
    return layout
