"""Creating a store: directories, keys, the vault key split among custodians, the
catalog with a view per dataset × purpose, the ledger's first entries and signed head,
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
from store.custodians import DEFAULT_CUSTODIAN, new_vault_key, write_custodians
from store.key_periods import FIRST_PERIOD
from store.keys import generate_keys
from store.layout import FORMAT_VERSION, StoreLayout, create_layout, write_marker
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.settings import StoreSettings, write_settings
from store.signing import SIGNING_KEY_FILE, generate_signing_key


def catalog_schemas(policies: list[Policy]) -> dict[tuple[str, Purpose], pa.Schema]:
    """Anchor schema of every dataset × purpose: the union of the columns every policy
    granting it stores (several formats feed one dataset)."""
    schemas: dict[tuple[str, Purpose], pa.Schema] = {}
    for dataset in DATASETS:
        for purpose in Purpose:
            schemas[(dataset, purpose)] = minimal_schema()
    granted: dict[tuple[str, Purpose], list[pa.Schema]] = {}
    for policy in policies:
        for purpose in policy.purposes:
            granted.setdefault((policy.dataset, purpose), []).append(
                purpose_schema(policy, purpose)
            )
    for key, found in granted.items():  # several formats feed one dataset: all columns
        schemas[key] = pa.unify_schemas(found)
    return schemas


def init_store(
    root: Path,
    policies: list[Policy],
    actor: str = "loggvern",
    custodians: list[str] | None = None,
    threshold: int = 1,
    settings: StoreSettings | None = None,
) -> StoreLayout:
    """Custodians (default: one `dpo`) receive the vault key's shares in
    STORE/custodians/, to be handed out and deleted."""
    vault_key = new_vault_key(custodians or [DEFAULT_CUSTODIAN], threshold)
    vault = vault_key.config
    settings = settings or StoreSettings()
    layout = create_layout(root)
    write_settings(layout, settings)
    key_files = generate_keys(layout.keys)
    signer = generate_signing_key(layout.keys)
    write_custodians(layout, vault_key)
    del vault_key
    create_catalog(layout, catalog_schemas(policies))
    ledger = Ledger(layout, actor)
    ledger.append(
        EntryKind.STORE_INIT,
        {
            "format": FORMAT_VERSION,
            "signing_key": signer.fingerprint,
            "datasets": sorted(DATASETS),
            "purposes": [p.value for p in Purpose],
            "settings": settings.model_dump(),
        },
    )
    ledger.append(
        EntryKind.KEYS_GENERATED,
        {
            "keys": [*key_files, SIGNING_KEY_FILE],
            "pseudonym_key_period": FIRST_PERIOD,
            "signing_key": signer.fingerprint,
            "vault_key": vault.fingerprint,
            "custodians": vault.names,
            "threshold": vault.threshold,
        },
    )
    ledger.checkpoint()
    write_marker(layout)
    return layout


def signing_fingerprint(layout: StoreLayout) -> str:
    return Ledger(layout, "-").head().fingerprint
