"""Dropping vault entries of pseudonyms the lake no longer holds: once the last row
naming a person is past retention, nothing stored can be tied back to them, so their
sealed identity goes too (old pseudonyms decay into anonymity).

Planned first (so the retention run can ledger the counts before anything changes),
then applied file by file: an entry file is rewritten atomically without the dropped
entries (temporary file, fsync, rename), or removed when none of its entries is left.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from store.layout import StoreLayout
from store.retention_models import VaultPrune
from store.vault import VAULT_SCHEMA, entries_dir


@dataclass
class VaultPrunePlan:
    rewrite: dict[Path, pa.Table] = field(default_factory=dict)  # file → entries kept
    remove: list[Path] = field(default_factory=list)
    summary: VaultPrune = field(default_factory=VaultPrune)


def plan_vault_prune(layout: StoreLayout, in_lake: set[str]) -> VaultPrunePlan:
    """Which entry files lose entries, given every pseudonym still in the lake."""
    plan = VaultPrunePlan()
    directory = entries_dir(layout)
    if not directory.is_dir():
        return plan
    wanted = pa.array(sorted(in_lake), pa.string())
    for path in sorted(directory.glob("*.parquet")):
        table = pq.read_table(path, schema=VAULT_SCHEMA)
        kept = table.filter(pc.is_in(table.column("pseudonym"), value_set=wanted))
        plan.summary.entries_kept += kept.num_rows
        gone = table.num_rows - kept.num_rows
        if not gone:
            continue
        plan.summary.entries_removed += gone
        rel = str(path.relative_to(layout.root))
        if kept.num_rows:
            plan.rewrite[path] = kept
            plan.summary.files_rewritten.append(rel)
        else:
            plan.remove.append(path)
            plan.summary.files_removed.append(rel)
    return plan


def apply_vault_prune(plan: VaultPrunePlan) -> None:
    for path, kept in plan.rewrite.items():
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(kept, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    for path in plan.remove:
        path.unlink(missing_ok=True)
    if plan.rewrite or plan.remove:
        directory = next(iter(plan.rewrite), None) or plan.remove[0]
        fd = os.open(directory.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
