"""The ingest transforms composed the way an unbounded pipeline uses them (keyed,
windowed lines → GroupIntoBatches → LinesToBatches → ParseLines → Protect → WriteParts),
run bounded over `beam.Create`: the rows written and the dead letters must be those of
the file-based pipeline on the same lines."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from loggvern.cli import main
from pipelines.commit import RunSummary, commit_run
from pipelines.plan import plan_ingest
from pipelines.run import job_for
from pipelines.runner import make_pipeline
from pipelines.streaming import IngestLineGroups, LinesToBatches, source_id
from store.deadletter import read_all
from store.keys import load_keys
from store.layout import StoreLayout
from tests.conftest import FIXTURES
from tests.lake_rows import rows_by_dataset_purpose, run_summaries

IPTABLES = FIXTURES / "elastic/iptables/test-iptables-raw.log"


def _lines(path: Path, garbage_at: int) -> list[tuple[str, tuple[int, bytes]]]:
    raw = path.read_bytes().splitlines()
    raw.insert(garbage_at - 1, b"this is not a firewall line")
    return [(str(path), (n, line)) for n, line in enumerate(raw, start=1)]


def test_lines_to_batches_orders_lines_and_keeps_their_numbers(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert main(["init", str(store)]) == 0
    job = job_for(plan_ingest(store, "iptables", [str(IPTABLES)]))
    (batch,) = LinesToBatches(job).process(("fw.log", [(9, b"c"), (2, b"a"), (5, b"b")]))
    assert batch.raw.to_pylist() == [b"a", b"b", b"c"]
    assert batch.lines_of(pa.array([0, 2])).to_pylist() == [2, 9]
    assert batch.first_line == 2 and batch.source_format == "iptables"
    assert batch.split_index == source_id("fw.log") and batch.part_id.endswith("-0002")


def test_windowed_line_groups_write_what_the_file_pipeline_writes(tmp_path: Path) -> None:
    # The reference: the file, with one bad line, through the ordinary bounded ingest.
    log = tmp_path / "fw.log"
    lines = _lines(IPTABLES, garbage_at=7)
    log.write_bytes(b"\n".join(raw for _, (_, raw) in lines) + b"\n")
    reference = tmp_path / "reference"
    assert main(["init", str(reference)]) == 0
    assert main(["ingest", str(reference), "--source", "iptables", str(log)]) == 0

    store = tmp_path / "store"
    assert main(["init", str(store)]) == 0
    plan = plan_ingest(store, "iptables", [str(log)])
    job = job_for(plan)
    job.run_dir.mkdir(parents=True)
    keyed = [(str(log), line) for _, line in lines]
    pipeline = make_pipeline()
    _ = (
        pipeline
        | beam.Create(keyed)
        | "Stamp" >> beam.Map(lambda kv: TimestampedValue(kv, kv[1][0] * 10))  # 10 s apart
        | beam.WindowInto(FixedWindows(60))
        | IngestLineGroups(job, batch_lines=4)
    )
    pipeline.run().wait_until_finish()
    reports = list((job.run_dir / "reports").glob("*.json"))
    sizes = [json.loads(p.read_text())["read"] for p in reports]
    assert max(sizes) <= 4 and len(reports) >= len(lines) // 4  # groups of at most 4 lines
    summary = RunSummary(plan.run_id, "iptables", plan.policy.id, plan.policy.version, [str(log)])
    committed = commit_run(plan.layout, summary, len(lines))
    (ref,) = run_summaries(reference)
    assert committed.read == ref["read"] == committed.written + committed.rejected
    assert (committed.written, committed.rejected) == (ref["written"], ref["rejected"]) != (0, 0)
    assert rows_by_dataset_purpose(store) == rows_by_dataset_purpose(reference)
    key = load_keys(StoreLayout(store).keys).deadletter
    dead = [r for _, t in read_all(StoreLayout(store).deadletter, key) for r in t.to_pylist()]
    assert [(r["line"], r["raw"]) for r in dead] == [(7, b"this is not a firewall line")]
