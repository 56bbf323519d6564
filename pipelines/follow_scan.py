"""Follow mode's view of the files: what is new since the manifest's positions, aware
of log rotation.

Files are known by device + inode and by a fingerprint of their first bytes:

- appended bytes: read from the position up to the last complete line (a line still
  being written waits for the next poll);
- rotation by rename (`app.log` → `app.log.1`, a new `app.log`): the old inode is found
  again in the same directory and read to its end, the new file from its start;
- rotation by copy-truncate (`app.log` copied to `app.log.1`, then emptied): the file
  no longer starts with the bytes that were read, so it is read again from its start,
  and a new file that does start with them and is at least as long continues where
  the old one was left (the lines written between the last poll and the copy);
- a reused inode (a file deleted and another created) fails the fingerprint: new file.

Compressed rotations (`.gz`, …) are skipped: their lines were read before compression.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from pipelines.slices import FileSlice
from store.manifest import FilePosition, Manifest, file_key, same_file
from transforms.read_lines import complete_lines_end

COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z")


@dataclass
class FollowScan:
    slices: list[FileSlice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rotations, truncations, files gone
    forget: list[str] = field(default_factory=list)  # positions of files gone for good
    more: bool = False  # the byte budget cut a slice short: poll again at once


def matching_files(patterns: list[str]) -> dict[str, tuple[str, str]]:
    """device:inode → (path, pattern) of the regular, uncompressed files matched now."""
    found: dict[str, tuple[str, str]] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if path.lower().endswith(COMPRESSED) or not os.path.isfile(path):
                continue
            found.setdefault(file_key(os.stat(path)), (path, pattern))
    return found


def scan(patterns: list[str], manifest: Manifest, budget: int) -> FollowScan:
    result = FollowScan()
    matched = matching_files(patterns)
    current = {key: path for key, (path, _) in matched.items()}
    orphans: list[FilePosition] = []
    continued: set[str] = set()
    for position in manifest.positions.values():
        if position.pattern not in patterns:
            continue
        path = current.get(position.key) or _renamed(position)
        if path is None:
            orphans.append(position)
            continue
        if not same_file(path, position):
            orphans.append(position)  # truncated, or the inode now holds another file
            result.notes.append(f"{path}: no longer starts with what was read; read anew")
            continue
        continued.add(position.key)
        rotated_away = current.get(position.key) != path
        end = os.path.getsize(path) if rotated_away else None
        if rotated_away and path != position.path:
            result.notes.append(f"{position.path}: rotated to {path}; reading its rest")
        _add(result, path, position.key, position.offset, position.lines + 1, position.pattern,
             end)  # fmt: skip
    for key, path in current.items():
        if key in continued:
            continue
        pattern = matched[key][1]
        copy_of = next((o for o in orphans if same_file(path, o) and o.key != key), None)
        if copy_of is not None:
            result.notes.append(f"{path}: a copy of {copy_of.path}; continuing after its line "
                                f"{copy_of.lines}")  # fmt: skip
            orphans.remove(copy_of)
            _add(result, path, key, copy_of.offset, copy_of.lines + 1, pattern, None)
        else:
            _add(result, path, key, 0, 1, pattern, None)
    for gone in orphans:
        if gone.key not in current:
            result.notes.append(f"{gone.path}: gone (deleted or moved away); no longer followed")
            result.forget.append(gone.key)
    return _within(result, budget)


def _renamed(position: FilePosition) -> str | None:
    """The file's new name in its directory, if it was renamed there (rotation)."""
    directory = os.path.dirname(position.path) or "."
    device, inode = (int(part) for part in position.key.split(":"))
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if (
                    entry.inode() == inode
                    and entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_dev == device
                ):
                    return entry.path
    except OSError:
        return None
    return None


def _add(
    result: FollowScan, path: str, key: str, start: int, first_line: int,
    pattern: str | None, end: int | None,
) -> None:  # fmt: skip
    size = os.path.getsize(path)
    stop = size if end is not None else complete_lines_end(path, start, size)
    if stop > start:
        result.slices.append(FileSlice(path, key, start, stop, first_line, pattern=pattern))


def _within(result: FollowScan, budget: int) -> FollowScan:
    """Keep a batch within `budget` bytes (whole lines; at least one line per file)."""
    kept: list[FileSlice] = []
    left = budget
    for piece in result.slices:
        if left <= 0:
            result.more = True
            break
        if piece.end - piece.start > left:
            cut = complete_lines_end(piece.path, piece.start, piece.start + left)
            if cut == piece.start:
                cut = piece.end if not kept else piece.start
            if cut == piece.start:
                result.more = True
                break
            if cut < piece.end:
                result.more = True
            piece = FileSlice(piece.path, piece.key, piece.start, cut, piece.first_line,
                              pattern=piece.pattern)  # fmt: skip
        kept.append(piece)
        left -= piece.end - piece.start
    result.slices = kept
    return result
