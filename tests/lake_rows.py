"""What a store holds after ingest, for tests that compare two runs of the same input
(different runners, worker counts or pipeline shapes): rows per dataset and purpose,
and the committed run summaries."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq


def rows_by_dataset_purpose(store: Path) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for path in (store / "lake").rglob("*.parquet"):
        if path.name == "_schema.parquet":
            continue
        rel = path.relative_to(store / "lake").parts  # dataset/purpose=P/date=D/file
        counts[(rel[0], rel[1].removeprefix("purpose="))] += pq.read_metadata(path).num_rows
    return dict(counts)


def run_summaries(store: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((store / "runs").glob("*.json"))]
