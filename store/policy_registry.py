"""Which policies the store has been fed: every policy version an ingest used is kept
under `STORE/policies/<id>/` (by content hash) and ledgered when new or changed, so an
auditor can read the exact rules any row was written under; and which policies are in
force for retention (the registry, or the defaults where it has none).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from schemas.policy import Policy, PolicyError, default_policies, load_policy
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


def _versions(directory: Path) -> list[Path]:
    """A policy id's kept texts, oldest first."""
    return sorted(directory.glob("*.toml"), key=lambda p: p.stat().st_mtime_ns)


def register_policy(layout: StoreLayout, ledger: Ledger, path: Path, policy: Policy) -> str:
    """Keep and ledger the policy if this exact text is new to the store; return its hash."""
    text = path.read_bytes()
    digest = hashlib.sha256(text).hexdigest()
    directory = layout.policies / policy.id
    target = directory / f"v{policy.version}-{digest[:16]}.toml"
    if target.is_file():
        return digest
    known = _versions(directory)
    previous = known[-1].name if known else None
    ledger.append(
        EntryKind.POLICY_REGISTERED,
        {
            "id": policy.id,
            "version": policy.version,
            "sha256": digest,
            "dataset": policy.dataset,
            "source": policy.source,
            "purposes": sorted(p.value for p in policy.purposes),
            "previous": previous,
            "file": str(target.relative_to(layout.root)),
        },
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_suffix(".toml.tmp")
    tmp.write_bytes(text)
    os.replace(tmp, target)
    return digest


def registered_policies(layout: StoreLayout) -> list[Policy]:
    """The latest registered version of each policy id (as ingests used them)."""
    policies = []
    if not layout.policies.is_dir():
        return policies
    for directory in sorted(p for p in layout.policies.iterdir() if p.is_dir()):
        versions = _versions(directory)
        if versions:
            try:
                policies.append(load_policy(versions[-1]))
            except PolicyError:
                continue
    return policies


def policies_in_force(layout: StoreLayout) -> tuple[list[Policy], str]:
    """The policies retention is applied and checked by: the latest registered version
    of each policy id, the defaults (policies/*.toml) for ids never registered; and a
    sentence saying which, for the report and the retention run's ledger entry."""
    try:
        policies = registered_policies(layout)
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and says so
        return default_policies(), (
            f"default policies (policies/*.toml): the registry failed ({type(exc).__name__})"
        )
    if not policies:
        return default_policies(), "default policies (policies/*.toml): the registry is empty"
    known = {p.id for p in policies}
    defaults = [p for p in default_policies() if p.id not in known]
    source = f"{len(policies)} policies registered in the store"
    if defaults:
        source += f", defaults for {', '.join(p.id for p in defaults)} (not registered)"
    return policies + defaults, source
