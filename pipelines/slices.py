"""Which bytes of which files a run reads: a slice per file, from where the manifest
says the file was left to the end of what is to be read now, and the position the
file reaches once the run commits.

Batch mode reads whole files, except that a file already ingested (same content) is
skipped and a file that has grown since it was ingested (same inode, same first bytes)
is read from where it was left. Follow mode (pipelines/follow_scan.py) makes its own
slices from the same positions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from store.manifest import HEAD_BYTES, FilePosition, Manifest, file_key, head_digest, same_file


@dataclass(frozen=True)
class FileSlice:
    path: str
    key: str  # device:inode
    start: int  # a line start
    end: int  # a line end, or the end of the file
    first_line: int  # 1-based number of the line at `start`
    sha256: str = ""  # of the whole file, when the slice ends at its end (batch mode)
    pattern: str | None = None  # follow mode: the path or glob that found the file


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def batch_slices(
    paths: list[str], digests: list[str], manifest: Manifest
) -> tuple[list[FileSlice], list[Skipped]]:
    """Slices of a batch run over `paths` (with their whole-file SHA-256)."""
    slices: list[FileSlice] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()  # file keys and contents already in this run
    for path, digest in zip(paths, digests, strict=True):
        stat = os.stat(path)
        key = file_key(stat)
        if key in seen or digest in seen:
            skipped.append(Skipped(path, "given twice in this run"))
            continue
        seen.update((key, digest))
        earlier = manifest.contents.get(digest)
        if earlier is not None:
            skipped.append(Skipped(path, f"already ingested by run {earlier} (same SHA-256)"))
            continue
        position = manifest.positions.get(key)
        if position is not None and same_file(path, position):
            if position.offset >= stat.st_size:
                skipped.append(Skipped(path, f"nothing new since run {position.run_id}"))
                continue
            slices.append(
                FileSlice(path, key, position.offset, stat.st_size, position.lines + 1, digest)
            )
            continue
        slices.append(FileSlice(path, key, 0, stat.st_size, 1, digest))
    return slices, skipped


def position_after(piece: FileSlice, lines: int, run_id: str) -> FilePosition:
    """Where the file stands once this slice (of `lines` lines) is committed."""
    head_len = min(piece.end, HEAD_BYTES)
    return FilePosition(
        key=piece.key,
        path=os.path.realpath(piece.path),
        offset=piece.end,
        lines=piece.first_line - 1 + lines,
        head=head_digest(piece.path, head_len),
        head_len=head_len,
        run_id=run_id,
        pattern=piece.pattern,
    )
