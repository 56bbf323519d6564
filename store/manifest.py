"""The ingest manifest: how far each input file has been ingested, and which whole files
(by content) are already in the lake. It is what makes every input line land exactly
once across re-runs, follow mode, rotation and crashes.

- `positions`: per file identity (device:inode), the byte offset and line count up to
  which its lines are committed, and a fingerprint of its first bytes (so a reused
  inode or a truncated file is not mistaken for the file that was read);
- `contents`: SHA-256 of every whole file ingested → the run that ingested it.

`STORE/manifest.json` changes only inside a run's commit (pipelines/commit.py), which
writes the new manifest into the commit journal first; so the manifest and the lake
always move together.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from store.layout import StoreLayout
from store.model_file import read_model, write_model

MANIFEST_FILE = "manifest.json"
HEAD_BYTES = 1024  # fingerprint length: log lines start with times, so 1 KiB is distinctive


class FilePosition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str  # "<device>:<inode>"
    path: str  # where the file was last read
    offset: int = Field(ge=0)  # bytes committed; always at a line end
    lines: int = Field(ge=0)  # lines committed (the next line is lines + 1)
    head: str  # SHA-256 of the first head_len bytes
    head_len: int = Field(ge=0)
    run_id: str  # the run that last advanced it
    pattern: str | None = None  # follow mode: the path or glob it was found by


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: dict[str, FilePosition] = Field(default_factory=dict)
    contents: dict[str, str] = Field(default_factory=dict)  # sha256 → run id


def manifest_path(layout: StoreLayout) -> Path:
    return layout.root / MANIFEST_FILE


def load_manifest(layout: StoreLayout) -> Manifest:
    return read_model(manifest_path(layout), Manifest, "ingest manifest") or Manifest()


def write_manifest(layout: StoreLayout, manifest: Manifest) -> None:
    write_model(manifest_path(layout), manifest)


def file_key(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}"


def head_digest(path: str, length: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read(length)).hexdigest()


def same_file(path: str, position: FilePosition) -> bool:
    """Does the file at `path` still start with the bytes that were read from it?"""
    try:
        if os.path.getsize(path) < max(position.head_len, position.offset):
            return False
        return head_digest(path, position.head_len) == position.head
    except OSError:
        return False
