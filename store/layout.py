"""Where everything lives inside a store directory, and how a store is created.

STORE/loggvern-store.json   marker: format version and creation time (no secrets)
STORE/catalog.duckdb        views per dataset × purpose over the lake's globs
STORE/lake/<dataset>/purpose=<p>/date=<yyyy-mm-dd>/<run>-<part>.parquet
STORE/keys/                 owner-only key files
STORE/deadletter/<run>/     encrypted rejected lines with file, line and reason
STORE/runs/<run>.json       summary of each ingest run
STORE/staging/<run>/        files being written; outside the lake's globs
STORE/ledger/               the hash-chained audit ledger and its latest signed head
STORE/cases.json            open and closed cases (each change is in the ledger first)
STORE/holds.json            legal holds, active and released (each change ledgered first)
STORE/policies/             every policy version an ingest has used (as ledgered)
STORE/reshare/              a custodian reshare being staged or finished (store/reshare_stage.py)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MARKER = "loggvern-store.json"
FORMAT_VERSION = 1


class StoreError(RuntimeError):
    """The store is missing, already exists, or is not a loggvern store."""


@dataclass(frozen=True)
class StoreLayout:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def deadletter(self) -> Path:
        return self.root / "deadletter"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def cases(self) -> Path:
        return self.root / "cases.json"

    @property
    def holds(self) -> Path:
        return self.root / "holds.json"

    @property
    def policies(self) -> Path:
        return self.root / "policies"

    def partition_dir(self, dataset: str, purpose: str) -> Path:
        return self.lake / dataset / f"purpose={purpose}"

    def require(self) -> StoreLayout:
        """Refuse to work on a directory that is not an initialised store."""
        if not self.marker.is_file():
            raise StoreError(f"{self.root}: not a loggvern store (run `loggvern init` first)")
        return self


def create_layout(root: Path) -> StoreLayout:
    """Create the directories and marker of a new store; refuse an existing one."""
    layout = StoreLayout(root)
    if layout.marker.exists():
        raise StoreError(f"{root}: already holds a loggvern store; refusing to overwrite it")
    if root.exists() and any(root.iterdir()):
        raise StoreError(f"{root}: directory is not empty; refusing to create a store in it")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    for sub in (
        layout.lake,
        layout.deadletter,
        layout.runs,
        layout.staging,
        layout.ledger,
        layout.policies,
    ):
        sub.mkdir(mode=0o700)
    return layout


def write_marker(layout: StoreLayout) -> None:
    """Written last by init, so a half-created store is never mistaken for a store."""
    info = {"format": FORMAT_VERSION, "created": datetime.now(UTC).isoformat()}
    tmp = layout.root / (MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, layout.marker)
