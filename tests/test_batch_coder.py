"""Batches cross Beam boundaries as Arrow IPC, and are sized without encoding."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from pipelines.batch_coder import BatchCoder
from transforms.batch import Batch
from transforms.parse.base import REJECT_SCHEMA


def _batch() -> Batch:
    rejects = pa.table({"row": pa.array([1], pa.int64()), "reason": ["bad"]}, schema=REJECT_SCHEMA)
    return Batch(
        "/var/log/fw.log", 3, 1, 101,
        pa.array([b"line one", b"\xff raw"], pa.binary()),
        pa.table({"row": pa.array([0], pa.int64()), "src_ip": ["10.0.0.1"]}),
        rejects, {"src_mac": 2},
    )  # fmt: skip


def test_roundtrip() -> None:
    coder = BatchCoder()
    batch = _batch()
    back = coder.decode(coder.encode(batch))
    assert (back.source_file, back.split_index, back.chunk_index, back.first_line) == (
        "/var/log/fw.log", 3, 1, 101,
    )  # fmt: skip
    assert back.raw.equals(batch.raw)
    assert back.events.equals(batch.events) and back.rejects.equals(batch.rejects)
    assert back.dropped == {"src_mac": 2}


def test_registered_and_sized_from_arrow() -> None:
    assert isinstance(beam.coders.registry.get_coder(Batch), BatchCoder)
    batch = _batch()
    assert BatchCoder().estimate_size(batch) == (
        batch.raw.nbytes + batch.events.nbytes + batch.rejects.nbytes
    )


def test_repr_hides_data() -> None:
    assert "line one" not in repr(_batch()) and "10.0.0.1" not in repr(_batch())
