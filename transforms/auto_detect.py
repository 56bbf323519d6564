"""`--source auto`: which format each line is, and a chunk split into one part per format.

Every format's `detect` looks at a whole batch of lines at once (vectorised); the first
format (in name order) that claims a line takes it. Files whose lines no detector can
claim by themselves (CSV exports with a header) get a per-file default format, chosen
at planning time by trying each format on the file's first lines with its header
(`detect_file`). Lines that nothing claims are rejected with a reason, so every line is
still accounted for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.batch import Batch
from transforms.decode import decode_lines
from transforms.parse.base import REASON, REJECT_SCHEMA, ROW, ParseContext, SourceFormat

UNRECOGNISED = "format not recognised (--source auto)"
AUTO = "auto"
SAMPLE_LINES = 1000
SAMPLE_BYTES = 4 << 20


def detect_lines(
    lines: pa.StringArray,
    formats: Sequence[SourceFormat],
    fallback: str | None = None,
    order: Sequence[str] = (),
) -> pa.Array:
    """The format name claiming each line (null: none).

    Each detector sees only the lines no earlier one claimed, so the formats expected to
    be most common (`order`, from the planning sample) go first: a file that is 90% one
    format pays the other detectors on 10% of its lines. The detectors are disjoint (no
    line is claimed by two; tested), so the order changes the cost, not the answer."""
    rank = {name: i for i, name in enumerate(order)}
    ranked = sorted(
        (f for f in formats if f.detect is not None),
        key=lambda f: (rank.get(f.name, len(rank)), f.name),
    )
    codes = np.full(len(lines), -1, np.int32)
    rows = np.arange(len(lines))
    current = lines
    for code, fmt in enumerate(ranked):
        if len(current) == 0:
            break
        claimed = pc.fill_null(fmt.detect(current), False)  # type: ignore[misc]
        if not pc.any(claimed).as_py():
            continue
        mask = claimed.to_numpy(zero_copy_only=False)
        codes[rows[mask]] = code
        rows = rows[~mask]
        current = current.filter(pc.invert(claimed))
    dictionary = pa.array([f.name for f in ranked], pa.string())
    indices = pa.array(codes, pa.int32(), mask=codes < 0)
    names = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())
    if fallback is not None:
        names = pc.fill_null(names, pa.scalar(fallback))
    return names


def split_by_format(
    batch: Batch,
    formats: Sequence[SourceFormat],
    fallback: str | None = None,
    order: Sequence[str] = (),
) -> list[Batch]:
    """One batch per detected format (lines keep their file line numbers), plus one for
    the lines no format claims, all of them already rejected."""
    text, undecodable = decode_lines(batch.raw)
    names = detect_lines(text, formats, fallback, order)
    if undecodable.num_rows:
        bad = pc.is_in(pa.array(range(len(text)), pa.int64()), undecodable.column(ROW))
        names = pc.if_else(bad, pa.scalar(None, pa.string()), names)
    lines = batch.lines_of(pa.array(range(len(batch.raw)), pa.int64()))
    parts = []
    for name in sorted(n for n in pc.unique(names).to_pylist() if n is not None):
        rows = pc.indices_nonzero(pc.fill_null(pc.equal(names, name), False))
        parts.append(_part(batch, rows, lines, name, name))
    rows = pc.indices_nonzero(pc.is_null(names))
    if len(rows):
        part = _part(batch, rows, lines, "", "unrecognised")
        parts.append(replace(part, rejects=_unrecognised(rows, undecodable)))
    return parts


def _part(batch: Batch, rows: pa.Array, lines: pa.Array, fmt: str, subpart: str) -> Batch:
    return replace(
        batch, raw=batch.raw.take(rows), line_numbers=lines.take(rows), source_format=fmt,
        subpart=subpart, events=pa.table({ROW: pa.array([], pa.int64())}),
        rejects=REJECT_SCHEMA.empty_table(),
    )  # fmt: skip


def _unrecognised(rows: pa.Array, undecodable: pa.Table) -> pa.Table:
    """Rejects of the unclaimed part (its rows renumbered 0..n-1): undecodable lines keep
    their decoding reason, the rest are unrecognised."""
    reasons = dict(zip(undecodable.column(ROW).to_pylist(),
                       undecodable.column(REASON).to_pylist(), strict=True))  # fmt: skip
    texts = [reasons.get(r, UNRECOGNISED) for r in rows.to_pylist()]
    return pa.table(
        {ROW: pa.array(range(len(texts)), pa.int64()), REASON: pa.array(texts, pa.string())}
    )


@dataclass(frozen=True)
class FileDetection:
    """What a sample of a file's first lines looks like."""

    path: str
    sampled: int
    counts: dict[str, int]  # lines per format claimed by the detectors
    fallback: str | None  # the format of lines no detector claims (header-based files)


def detect_file(path: str, formats: Sequence[SourceFormat]) -> FileDetection:
    """Detection over the file's first lines (at most SAMPLE_LINES, at most SAMPLE_BYTES:
    a file without line breaks is not read whole at planning time)."""
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
        complete = len(head) < SAMPLE_BYTES
    lines = head.split(b"\n")
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    raw = [line.rstrip(b"\r") for line in lines[:SAMPLE_LINES]]
    text, _ = decode_lines(pa.array(raw, pa.binary()))
    names = detect_lines(text, formats)
    counts = {c["values"]: c["counts"] for c in pc.value_counts(names).to_pylist() if c["values"]}
    fallback = None
    if len(raw) > 1 and sum(counts.values()) * 2 < len(raw):
        fallback = _by_header(text, formats)
    return FileDetection(path, len(raw), counts, fallback)


def _by_header(text: pa.StringArray, formats: Sequence[SourceFormat]) -> str | None:
    """The format that parses most of the sample when told its first line is a header."""
    header = text[0].as_py()
    ctx = ParseContext(first_line=header)
    best, best_rows = None, 0
    for fmt in sorted(formats, key=lambda f: f.name):
        try:
            parsed = fmt.parse(text.slice(1), ctx).table.num_rows
        except Exception:  # noqa: BLE001 - a parser failing on a foreign file is a "no"
            continue
        if parsed > best_rows:
            best, best_rows = fmt.name, parsed
    return best if best_rows * 2 >= len(text) - 1 else None
