"""A Beam coder for `Batch` elements.

Beam samples output sizes by encoding elements; with its default (pickling) coder that
copies every sampled table whole. This coder sizes a batch from Arrow's own byte counts
and, when a runner does move a batch between workers, encodes its tables as Arrow IPC
streams instead of pickles.
"""

from __future__ import annotations

import json
import struct

import apache_beam as beam
import pyarrow as pa

from transforms.batch import Batch

_LEN = struct.Struct(">Q")


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class BatchCoder(beam.coders.Coder):
    def encode(self, value: Batch) -> bytes:
        meta = json.dumps(
            [value.source_file, value.split_index, value.chunk_index, value.first_line,
             value.dropped, value.source_format, value.subpart,
             value.sealed is not None, value.line_numbers is not None]
        ).encode()  # fmt: skip
        parts = [meta, _ipc(pa.table({"raw": value.raw})), _ipc(value.events), _ipc(value.rejects)]
        if value.sealed is not None:
            parts.append(_ipc(value.sealed))
        if value.line_numbers is not None:
            parts.append(_ipc(pa.table({"line": value.line_numbers})))
        return b"".join(_LEN.pack(len(p)) + p for p in parts)

    def decode(self, encoded: bytes) -> Batch:
        parts, pos = [], 0
        while pos < len(encoded):
            (size,) = _LEN.unpack_from(encoded, pos)
            parts.append(encoded[pos + _LEN.size : pos + _LEN.size + size])
            pos += _LEN.size + size
        (source_file, split_index, chunk_index, first_line, dropped, source_format, subpart,
         has_sealed, has_lines) = json.loads(parts[0])  # fmt: skip
        raw = _table(parts[1]).column("raw").combine_chunks()
        rest = parts[4:]
        sealed = _table(rest.pop(0)) if has_sealed else None
        lines = _table(rest.pop(0)).column("line").combine_chunks() if has_lines else None
        return Batch(
            source_file, split_index, chunk_index, first_line, raw,
            _table(parts[2]), _table(parts[3]), dropped, sealed, source_format, subpart, lines,
        )  # fmt: skip

    def estimate_size(self, value: Batch) -> int:
        sealed = value.sealed.nbytes if value.sealed is not None else 0
        return value.raw.nbytes + value.events.nbytes + value.rejects.nbytes + sealed

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self) -> type:
        return Batch


beam.coders.registry.register_coder(Batch, BatchCoder)
