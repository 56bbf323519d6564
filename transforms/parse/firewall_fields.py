"""Column helpers shared by the firewall parsers built on regexes and CSV splits (filterlog,
cisco-asa): numbers and addresses checked with fixed reject reasons, lookups per distinct value,
and columns assembled from the parts of a batch parsed separately. All vectorised: pyarrow
compute and numpy over whole columns, Python only per distinct value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.line_bytes import Lines, is_ip
from transforms.parse.syslog_header import RowErrors

PORT_LIMIT = 65535
INT32_LIMIT = 2**31 - 1


def mask(values: pa.Array) -> np.ndarray:
    """A boolean array (nulls false) as numpy."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def nonempty(values: pa.Array) -> pa.Array:
    """Strings with "" (an empty or absent regex group) as null."""
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


def integers(
    digits: pa.Array, limit: int, errors: RowErrors, name: str, typ: pa.DataType
) -> pa.Array:
    """Decimal strings to integers. Null or empty stays null; anything but digits rejects the
    row as `invalid <name>`, a value over `limit` as `<name> out of range`."""
    digits = nonempty(digits.cast(pa.string()))
    present = digits.is_valid()
    numeric = pc.fill_null(pc.ascii_is_decimal(digits), False)
    errors.flag(mask(present) & ~mask(numeric), f"invalid {name}")
    short = pc.fill_null(pc.less_equal(pc.utf8_length(digits), len(str(limit))), False)
    usable = pc.and_(numeric, short)
    value = pc.cast(pc.if_else(usable, digits, pa.scalar(None, pa.string())), pa.int64())
    too_big = pc.or_kleene(pc.and_not(numeric, short), pc.greater(value, limit))
    errors.flag(mask(too_big), f"{name} out of range")
    return pc.if_else(mask(too_big), pa.scalar(None, pa.int64()), value).cast(typ)


def addresses(values: pa.Array, errors: RowErrors, name: str) -> pa.Array:
    """IP address strings; a value that is not one rejects the row (`invalid <name> address`)."""
    values = nonempty(values.cast(pa.string()))
    present = mask(values.is_valid())
    errors.flag(present & ~is_ip(values), f"invalid {name} address")
    return values


def ip_versions(*columns: pa.Array) -> pa.Array:
    """4 or 6 from the first non-null address of each row (null when none)."""
    address = pc.coalesce(*columns)
    v6 = pc.match_substring(address, ":")
    return pc.if_else(v6, 6, 4).cast(pa.int8())


def lookup(values: pa.Array, table: Mapping[str, object], typ: pa.DataType) -> pa.Array:
    """`table[value]` per row (null for values not in it), one hash lookup per row."""
    keys = pa.array(list(table), pa.string())
    return pa.array(list(table.values()), typ).take(pc.index_in(values, value_set=keys))


def per_distinct(values: pa.Array, fn, typ: pa.DataType) -> pa.Array:
    """`fn(value)` computed once per distinct value (a batch has few) and spread over the rows."""
    encoded = pc.dictionary_encode(values)
    return pa.array([fn(v) for v in encoded.dictionary.to_pylist()], typ).take(encoded.indices)


def scatter(n: int, parts: Sequence[tuple[np.ndarray, pa.Array]], typ: pa.DataType) -> pa.Array:
    """One column of `n` rows from parts computed for disjoint row subsets (others null)."""
    parts = [(rows, values) for rows, values in parts if len(rows)]
    if not parts:
        return pa.nulls(n, typ)
    rows = np.concatenate([r for r, _ in parts])
    values = pa.concat_arrays([v.cast(typ) for _, v in parts] + [pa.nulls(1, typ)])
    where = np.full(n, len(rows), np.int64)  # the trailing null
    where[rows] = np.arange(len(rows))
    return values.take(pa.array(where))


def strip_rfc5424_version(raw: Lines) -> Lines:
    """The lines with an RFC 5424 `<PRI>1 ` prefix skipped, so the syslog header parser reads
    `TIMESTAMP HOST APP PROCID MSGID SD MSG` (its timestamp is RFC 3339)."""
    first = raw.load(raw.start)
    close = np.zeros(raw.n, np.int64)
    for k in (2, 3, 4):  # "<d>", "<dd>", "<ddd>"
        close = np.where((close == 0) & (raw.byte(raw.start + k) == ord(">")), k, close)
    digits = np.ones(raw.n, bool)
    for k in (1, 2, 3):
        byte = raw.byte(raw.start + k)
        digits &= (k >= close) | ((byte >= ord("0")) & (byte <= ord("9")))
    after = raw.start + close + 1
    version = (first & np.uint64(255)) == ord("<")
    version &= (close > 0) & digits & (raw.byte(after) == ord("1")) & (raw.byte(after + 1) == 32)
    version &= after + 2 < raw.end
    return Lines(raw.words, raw.size, np.where(version, after + 2, raw.start), raw.end, raw.valid)
