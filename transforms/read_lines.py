"""Reading input files in bounded pieces: plan byte-range splits aligned to line starts
(with the line number each starts at), then read one split as chunks of raw lines.

Memory stays bounded by the split size whatever the file size. Lines are cut at `\\n`;
a `\\r` before it is part of the terminator. Bytes are kept exactly as read, so dead
letters and evidence tags refer to the original line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SPLIT_BYTES = 16 << 20  # per worker in memory at once: raw bytes plus their parsed columns
CHUNK_LINES = 1 << 18
_SCAN = 8 << 20


@dataclass(frozen=True)
class Split:
    path: str
    index: int
    start: int  # byte offset of the first line
    end: int  # byte offset just past the last line
    first_line: int  # 1-based line number at `start`
    lines: int


def plan_splits(path: str, split_bytes: int = SPLIT_BYTES) -> list[Split]:
    """Cut a file into splits of about `split_bytes`, each starting at a line start."""
    return plan_range(path, 0, os.path.getsize(path), 1, split_bytes)


def plan_range(
    path: str, start: int, end: int, first_line: int, split_bytes: int = SPLIT_BYTES
) -> list[Split]:
    """Cut the bytes [start, end) of a file (`start` at a line start, line `first_line`)
    into splits; `end` is a line end or the end of the file."""
    size = os.path.getsize(path)
    end = min(end, size)
    splits: list[Split] = []
    with open(path, "rb") as fh:
        line = first_line
        while start < end:
            cut = min(_line_start_after(fh, start + split_bytes, size), end)
            lines = _count_lines(fh, start, cut, at_eof=cut == size)
            splits.append(Split(path, len(splits), start, cut, line, lines))
            start, line = cut, line + lines
    return splits


def complete_lines_end(path: str, start: int, end: int) -> int:
    """The end of the last complete line (ending in `\\n`) in [start, end); `start` if
    there is none. A line still being written is left for a later batch."""
    with open(path, "rb") as fh:
        pos = end
        while pos > start:
            block_start = max(start, pos - (1 << 16))
            fh.seek(block_start)
            block = fh.read(pos - block_start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                return block_start + nl + 1
            pos = block_start
    return start


def _line_start_after(fh: object, pos: int, size: int) -> int:
    if pos >= size:
        return size
    fh.seek(pos)  # type: ignore[attr-defined]
    while True:
        block = fh.read(1 << 16)  # type: ignore[attr-defined]
        if not block:
            return size
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(block)


def _count_lines(fh: object, start: int, end: int, *, at_eof: bool) -> int:
    fh.seek(start)  # type: ignore[attr-defined]
    remaining, count, last = end - start, 0, b""
    while remaining > 0:
        block = fh.read(min(_SCAN, remaining))  # type: ignore[attr-defined]
        if not block:
            break
        count += block.count(b"\n")
        remaining -= len(block)
        last = block[-1:]
    if at_eof and last not in (b"", b"\n"):
        count += 1  # a last line without terminator
    return count


def read_split(
    split: Split, chunk_lines: int = CHUNK_LINES
) -> Iterator[tuple[int, pa.BinaryArray]]:
    """Yield (first line number, raw lines) chunks of a split."""
    with open(split.path, "rb") as fh:
        fh.seek(split.start)
        data = fh.read(split.end - split.start)
    lines = split_lines(data)
    for offset in range(0, len(lines), chunk_lines):
        yield split.first_line + offset, lines.slice(offset, chunk_lines)


def split_lines(data: bytes) -> pa.BinaryArray:
    """Cut a buffer into lines without terminators (vectorised: numpy finds the line
    ends, bytes.replace removes the terminators in one pass)."""
    if not data:
        return pa.array([], pa.binary())
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")  # a \r before \n belongs to the terminator
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    count = len(newlines) + (0 if buf[-1] == 10 else 1)
    ends = np.empty(count + 1, dtype=np.int64)
    ends[0] = -1
    ends[1 : len(newlines) + 1] = newlines
    if count > len(newlines):
        ends[-1] = len(buf)
    lengths = np.diff(ends) - 1  # a missing last terminator is counted at len(buf)
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    body = data.replace(b"\n", b"")
    return pa.Array.from_buffers(
        pa.binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(body)]
    )


def first_line(path: str, limit: int = 1 << 16) -> str | None:
    """A file's first line, decoded (UTF-8 with a BOM dropped; undecodable bytes
    replaced), without its terminator; None for an empty file."""
    with open(path, "rb") as fh:
        head = fh.read(limit)
    if not head:
        return None
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("utf-8-sig", errors="replace")
