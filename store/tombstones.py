"""Tombstones: every path an earlier retention purge removed, as its ledger entry lists
it (`retention_purge`, body `removed`). Restoring a backup can bring such a file back;
the retention run removes it again before anything else, so a purge stays a purge.

Paths come from the ledger, so each is checked before it is touched: relative, inside
the store, under a directory a purge may remove from, never a catalog anchor.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from store.catalog import ANCHOR
from store.layout import StoreLayout
from store.ledger import LEDGER_FILE
from store.ledger_entry import EntryKind, parse_line

# Directory a purge removes from → how many path parts stay even when emptied.
_ROOTS = {"lake": 3, "vault": 2, "deadletter": 1}  # lake/<dataset>/purpose=<p>, vault/entries
_KIND = f'"kind":"{EntryKind.RETENTION_PURGE.value}"'.encode()


def purged_paths(layout: StoreLayout) -> Iterator[str]:
    """Every path earlier purges removed, oldest first (a repeated one once)."""
    path = layout.ledger / LEDGER_FILE
    if not path.exists():
        return
    seen: set[str] = set()
    with open(path, "rb") as fh:
        for line in fh:
            if _KIND not in line or not line.endswith(b"\n"):
                continue
            removed = parse_line(line[:-1]).body.get("removed")
            for rel in removed if isinstance(removed, list) else []:
                if isinstance(rel, str) and rel not in seen:
                    seen.add(rel)
                    yield rel


def purge_target(layout: StoreLayout, rel: str) -> Path | None:
    """The path a purge may remove, or None if `rel` is not one (outside the store, a
    directory no purge removes from, an anchor)."""
    parts = PurePosixPath(rel).parts
    if not parts or parts[0] not in _ROOTS or len(parts) <= _ROOTS[parts[0]]:
        return None
    if parts[0] == "vault" and parts[1:2] != ("entries",):
        return None
    if ".." in parts or PurePosixPath(rel).is_absolute() or parts[-1] == ANCHOR:
        return None
    target = layout.root / Path(*parts)
    root = layout.root.resolve()
    if not target.resolve().is_relative_to(root) or target.resolve() == root:
        return None
    return target


def remove_purged(layout: StoreLayout, rel: str) -> bool:
    """Remove a file or directory a purge names, then the directories it leaves empty
    (never a purpose directory, which holds the catalog's anchor). False if absent."""
    target = purge_target(layout, rel)
    if target is None or not (target.exists() or target.is_symlink()):
        return False
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink()
    keep = _ROOTS[PurePosixPath(rel).parts[0]]
    parent = target.parent
    while len(parent.relative_to(layout.root).parts) > keep:
        try:
            parent.rmdir()
        except OSError:  # not empty
            break
        parent = parent.parent
    return True


def resurrected(layout: StoreLayout) -> list[str]:
    """Paths earlier purges removed that exist again (a restored backup)."""
    found = []
    for rel in purged_paths(layout):
        target = purge_target(layout, rel)
        if target is not None and (target.exists() or target.is_symlink()):
            found.append(rel)
    return found
