"""The real ingest through Beam's portable path: Beam's own local job service (a
subprocess on localhost) and `--runner PortableRunner` with LOOPBACK workers, given
only through `--runner-option`. The lake must hold what an in-process run of the same
files holds, with the same accounting: nothing in the pipeline is runner-specific."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loggvern.cli import main
from tests.conftest import FIXTURES
from tests.lake_lines import recent_inputs
from tests.lake_rows import rows_by_dataset_purpose, run_summaries

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = FIXTURES / "elastic/iptables/test-iptables-raw.log"


@pytest.fixture
def job_endpoint(tmp_path: Path) -> Iterator[str]:
    port_file = tmp_path / "job.port"
    log = (tmp_path / "job-service.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
         "--port", "0", "--port_file", str(port_file), "--staging_dir", str(tmp_path / "jobs")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"job service did not start (exit {proc.poll()})")
            time.sleep(0.1)
        yield f"localhost:{port_file.read_text().strip()}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_portable_runner_writes_what_the_local_runner_writes(
    tmp_path: Path, job_endpoint: str
) -> None:
    local, portable = tmp_path / "local", tmp_path / "portable"
    inputs = recent_inputs(tmp_path / "in")
    for store in (local, portable):
        assert main(["init", str(store)]) == 0
    assert main(["ingest", str(local), "--source", "auto", *map(str, inputs)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "loggvern.cli", "ingest", str(portable), "--source", "auto",
         "--runner", "PortableRunner", "--runner-option", f"job_endpoint={job_endpoint}",
         "--runner-option", "environment_type=LOOPBACK", *map(str, inputs)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "with state DONE" in (tmp_path / "job-service.log").read_text()  # ran there
    rows = rows_by_dataset_purpose(portable)
    assert rows == rows_by_dataset_purpose(local)
    assert {dataset for dataset, _ in rows} == {"network_activity", "authentication"}
    (a,), (b,) = run_summaries(local), run_summaries(portable)
    for field in ("read", "written", "rejected", "formats", "reasons", "lake_files", "sealed"):
        assert a[field] == b[field], field
    assert b["read"] == b["written"] + b["rejected"] > 0
    assert not any((portable / "staging").iterdir())


def test_runner_options_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["init", str(store)]) == 0
    args = ["ingest", str(store), "--source", "iptables", str(FIXTURE)]
    assert main([*args, "--runner", "PortableRunner", "--runner-option", "=x"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not list((store / "runs").iterdir())
