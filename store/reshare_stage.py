"""The files of a reshare, staged so that a crash leaves the old vault or the new one.

Order (STORE/reshare/ is the staging area, on the store's own filesystem):
1. stage: `reshare/vault/` (the new `custodians.json` and every entry file re-sealed
   under the same name) and `reshare/custodians/` (the new share files), all fsynced;
2. `reshare/plan.json` last, atomically: the staging is complete. Without it a
   later run throws the staging away (the old vault never changed);
3. commit: `STORE/vault` and `reshare/vault` are exchanged in one atomic rename
   (`store.exchange`). Before it, the old vault and configuration are live; after it,
   the new ones, and `reshare/vault` holds the retired vault;
4. finish: the new share files move into `STORE/custodians/`, share files of the
   retired key left there are deleted, the retired vault is deleted, `plan.json` last.

`interrupted` runs before any reshare: with a plan whose new key is live it finishes (the
new shares must reach `STORE/custodians/`); otherwise it deletes the staging.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from store.custodians import SHARE_SUFFIX, VAULT_CONFIG_FILE, load_vault_config
from store.durable import fsync_dir
from store.exchange import exchange
from store.layout import StoreError, StoreLayout

RESHARE_DIR = "reshare"
PLAN_FILE = "plan.json"


class ResharePlan(BaseModel):
    """What a staged reshare will do; the result body is ledgered once it is done."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    old_vault_key: str
    new_vault_key: str
    new_custodians: tuple[str, ...]
    intent_seq: int
    result: dict[str, Any]


class Staging:
    """Paths of the staging area of one store."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.root = layout.root / RESHARE_DIR
        self.vault = self.root / "vault"
        self.entries = self.vault / "entries"
        self.shares = self.root / "custodians"
        self.plan = self.root / PLAN_FILE

    @property
    def live_vault(self) -> Path:
        return self.layout.root / "vault"

    @property
    def live_shares(self) -> Path:
        return self.layout.root / "custodians"

    def create(self) -> None:
        for directory in (self.root, self.vault, self.entries, self.shares):
            directory.mkdir(mode=0o700)

    def config_path(self) -> Path:
        return self.vault / VAULT_CONFIG_FILE

    def write_plan(self, plan: ResharePlan) -> None:
        """Mark the staging complete (after everything in it is fsynced)."""
        for directory in (self.entries, self.vault, self.shares, self.root):
            fsync_dir(directory)
        tmp = self.root / (PLAN_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(plan.model_dump_json(indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.plan)
        fsync_dir(self.root)

    def read_plan(self) -> ResharePlan | None:
        try:
            return ResharePlan.model_validate_json(self.plan.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def commit(self) -> None:
        """The one step that switches the store from the old vault to the new."""
        exchange(self.live_vault, self.vault)

    def finish(self, plan: ResharePlan) -> int:
        """Put the new shares in place and delete what the reshare retired; returns how
        many share files of the retired key were deleted from `STORE/custodians/`.
        Safe to run again after a crash."""
        self.live_shares.mkdir(mode=0o700, exist_ok=True)
        new = set(plan.new_custodians)
        retired = 0
        for old in self.live_shares.glob(f"*{SHARE_SUFFIX}"):
            if old.name.removesuffix(SHARE_SUFFIX) not in new or (self.shares / old.name).exists():
                old.unlink()
                retired += 1
        for name in plan.new_custodians:
            staged = self.shares / f"{name}{SHARE_SUFFIX}"
            if staged.exists():
                os.replace(staged, self.live_shares / staged.name)
        fsync_dir(self.live_shares)
        self.discard(keep_plan=True)
        return retired

    def discard(self, keep_plan: bool = False) -> None:
        """Delete the staging area (with `keep_plan`, everything but the plan)."""
        if not self.root.exists():
            return
        for child in self.root.iterdir():
            if child == self.plan and keep_plan:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        if not keep_plan:
            self.root.rmdir()
        fsync_dir(self.layout.root if not keep_plan else self.root)


def interrupted(layout: StoreLayout) -> ResharePlan | None:
    """The plan of an interrupted reshare whose new key went live (to be finished by the
    caller); a staging that never went live is thrown away first (returns None)."""
    staging = Staging(layout)
    if not staging.root.exists():
        return None
    plan = staging.read_plan()
    live = load_vault_config(layout).fingerprint
    if plan is None or live == plan.old_vault_key:
        staging.discard()
        return None
    if live != plan.new_vault_key:
        raise StoreError(
            f"{staging.root}: an interrupted reshare to {plan.new_vault_key} is staged, but "
            f"the vault's key is {live}; left as it is, resolve it by hand"
        )
    return plan
