"""Mapping a column through its distinct values: a batch has few distinct users, hosts
or addresses, so per-value Python work is done once per value, never once per row.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc


def map_distinct(values: pa.Array, fn: Callable[[list[str]], list[str]]) -> pa.Array:
    """Apply `fn` to the distinct non-null strings of `values` and spread the result."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    encoded = pc.dictionary_encode(values)
    mapped = pa.array(fn(encoded.dictionary.to_pylist()), pa.string())
    return mapped.take(encoded.indices)
