"""Vectorised splitting of comma-separated lines (PAN-OS syslog), field by field for a whole
batch at once: every row's next comma is found eight bytes at a time, a field in double quotes
runs to its closing quote (`""` inside is a quote). The fields come back as byte spans
(keyvalue.Fields), copied out as strings or numbers only where a parser needs them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.keyvalue import ROW_STEP, Fields, scan
from transforms.parse.line_bytes import Lines, equal_bytes

_ESCAPE_ROUNDS = 64


def _quotes(x: np.ndarray) -> np.ndarray:
    return equal_bytes(x, 34)


def _commas(x: np.ndarray) -> np.ndarray:
    return equal_bytes(x, 44)


def csv_unescape(values: pa.Array) -> pa.Array:
    """`""` -> `"` (CSV's quoted values)."""
    return pc.replace_substring(values, '""', '"')


def csv_fields(raw: Lines, begin: np.ndarray, count: int) -> tuple[Fields, np.ndarray, np.ndarray]:
    """The first `count` comma-separated fields from `begin` on, in every row: (fields named
    "0", "1", ..., how many fields each row has (up to `count`), rows with an unterminated
    quoted field). A field in double quotes may hold commas and doubled quotes."""
    n = raw.n
    start, end = np.full((count, n), -1, np.int64), np.full((count, n), -1, np.int64)
    quoted = np.zeros((count, n), bool)
    found, unterminated = np.zeros(n, np.int64), np.zeros(n, bool)
    for lo in range(0, n, ROW_STEP):
        rows = np.arange(lo, min(lo + ROW_STEP, n))
        keep = raw.valid[rows] & (begin[rows] <= raw.end[rows])
        rows, cur = rows[keep], begin[rows][keep]
        for i in range(count):
            if not len(rows):
                break
            lim = raw.end[rows]
            q = (cur < lim) & (raw.byte(cur) == 34)
            stop = scan(raw, cur, lim, _commas)
            v_start, v_end = cur.copy(), stop.copy()
            if q.any():
                at = np.flatnonzero(q)
                close, open_ = _csv_closing(raw, cur[at] + 1, lim[at])
                unterminated[rows[at[open_]]] = True
                v_start[at], v_end[at] = cur[at] + 1, close
                stop[at] = scan(raw, np.minimum(close + 1, lim[at]), lim[at], _commas)
            start[i, rows], end[i, rows], quoted[i, rows] = v_start, v_end, q
            found[rows] = i + 1
            more = stop < lim
            rows, cur = rows[more], stop[more] + 1
    names = {str(i): i for i in range(count)}
    return Fields(raw, names, start, end, quoted, csv_unescape, 34), found, unterminated


def _csv_closing(raw: Lines, pos: np.ndarray, limit: np.ndarray):
    """(closing quote of each quoted CSV field, whether none was found): `""` inside is an
    escaped quote. Bounded like `unescaped`."""
    close = scan(raw, pos, limit, _quotes)
    todo = np.flatnonzero((close + 1 < limit) & (raw.byte(close + 1) == 34))
    for _ in range(_ESCAPE_ROUNDS):
        if not len(todo):
            break
        close[todo] = scan(raw, close[todo] + 2, limit[todo], _quotes)
        todo = todo[(close[todo] + 1 < limit[todo]) & (raw.byte(close[todo] + 1) == 34)]
    missing = close >= limit
    missing[todo] = True
    close[todo] = limit[todo]
    return close, missing
