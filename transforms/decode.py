"""Decoding raw lines to text for the parsers.

Lines that are not valid UTF-8 are refused with a reason (never decoded with
replacement characters: that would silently alter the data) and handed to the parser as
empty strings so row positions stay aligned; their rejection here wins.
"""

from __future__ import annotations

import pyarrow as pa

from transforms.parse.base import REASON, REJECT_SCHEMA, ROW


def decode_lines(raw: pa.BinaryArray) -> tuple[pa.StringArray, pa.Table]:
    """Return (text lines, rejects for lines that are not UTF-8 or contain NUL)."""
    try:
        text = raw.cast(pa.string())
    except pa.ArrowInvalid:
        return _decode_slowly(raw)
    return text, REJECT_SCHEMA.empty_table()


def _decode_slowly(raw: pa.BinaryArray) -> tuple[pa.StringArray, pa.Table]:
    # Only for the rare chunk holding an invalid line: find which, row by row.
    values: list[str | None] = []
    bad: list[int] = []
    for i, item in enumerate(raw.to_pylist()):
        if item is None:
            values.append(None)
            continue
        try:
            values.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            values.append("")
            bad.append(i)
    rejects = pa.table(
        {
            ROW: pa.array(bad, pa.int64()),
            REASON: pa.array(["line is not valid UTF-8"] * len(bad), pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return pa.array(values, pa.string()), rejects
