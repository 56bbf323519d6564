"""`--workers N`: one process with threads for N = 1, N Beam SDK worker processes on this
machine for N > 1; the same rows and accounting either way, no keys in what the worker
processes are sent, and no network beyond localhost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest

from loggvern.cli import main
from pipelines.ingest import build
from pipelines.plan import plan_ingest
from pipelines.run import job_for
from pipelines.runner import THREADS, make_pipeline, running_mode
from store.keys import load_keys
from tests.conftest import FIXTURES
from tests.lake_lines import recent_inputs
from tests.lake_rows import rows_by_dataset_purpose, run_summaries

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = FIXTURES / "elastic/iptables/test-iptables-raw.log"


def _store(root: Path) -> Path:
    assert main(["init", str(root)]) == 0
    return root


def test_worker_count_means_processes() -> None:
    assert running_mode(1) == ("multi_threading", THREADS)
    assert running_mode(3) == ("multi_processing", 3)
    with pytest.raises(ValueError, match="at least 1"):
        running_mode(0)


def test_cli_refuses_zero_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ingest", str(tmp_path), "--source", "auto", "--workers", "0", str(FIXTURE)])
    assert "must be at least 1" in capsys.readouterr().err


class _RecordPid(beam.DoFn):
    def __init__(self, out: str) -> None:
        self.out = out

    def process(self, element: int):  # type: ignore[no-untyped-def]
        Path(self.out, f"{element}-{os.getpid()}").touch()
        yield element


def test_two_workers_are_two_other_processes(tmp_path: Path) -> None:
    pipeline = make_pipeline(workers=2)
    _ = (
        pipeline
        | beam.Create(list(range(8)))
        | beam.Reshuffle()
        | beam.ParDo(_RecordPid(str(tmp_path)))
    )
    pipeline.run().wait_until_finish()
    pids = {int(p.name.split("-")[1]) for p in tmp_path.iterdir()}
    assert len(list(tmp_path.iterdir())) == 8
    assert len(pids) == 2 and os.getpid() not in pids


def test_graph_sent_to_workers_carries_no_keys(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    plan = plan_ingest(store, "auto", [str(p) for p in recent_inputs(tmp_path / "in")])
    pipeline = make_pipeline(workers=2)
    build(pipeline, job_for(plan), list(plan.splits))
    blob = pipeline.to_runner_api().SerializeToString()
    keys = load_keys(store / "keys")
    for key in (keys.pseudonym, keys.evidence, keys.ipcrypt, keys.deadletter):
        assert key not in blob and key.hex().encode() not in blob


def _isolated() -> list[str]:
    """A network namespace with loopback only, where the machine allows one (root,
    util-linux `unshare`, iproute2 `ip`); else nothing (then only as isolated as the
    host)."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None or os.geteuid() != 0:
        return []
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
    return [unshare, "-n"] if probe.returncode == 0 else []


def test_two_worker_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    inputs = recent_inputs(tmp_path / "in")
    one = _store(tmp_path / "one")
    assert main(["ingest", str(one), "--source", "auto", *map(str, inputs)]) == 0
    two = _store(tmp_path / "two")
    wrap = _isolated()
    # In a fresh network namespace even loopback is down: bring it up, nothing else.
    cmd = [sys.executable, "-m", "loggvern.cli", "ingest", str(two), "--source", "auto",
           "--workers", "2", *map(str, inputs)]  # fmt: skip
    if wrap:
        cmd = [*wrap, "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "Traceback" not in done.stderr
    assert rows_by_dataset_purpose(two) == rows_by_dataset_purpose(one)
    (a,), (b,) = run_summaries(one), run_summaries(two)
    fields = (
        "read",
        "written",
        "rejected",
        "dropped",
        "reasons",
        "formats",
        "lake_files",
        "sealed",
    )
    for field in fields:
        assert a[field] == b[field], field
    assert b["read"] == b["written"] + b["rejected"] > 0
    assert b["sealed"] > 0 and not any((two / "staging").iterdir())
