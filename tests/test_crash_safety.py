"""Crash safety: the ingest process is killed with SIGKILL at every named failpoint
(store/failpoints.py: while Parquet files are staged, before and after the commit
record, half-way through its renames, after the manifest, around the ledger's result)
and at random instants, in batch and follow mode; after each kill it is started again.
The lake must then hold every input line exactly once, every bad line must be in the
dead letter exactly once, and `audit verify` must pass.

The seed is printed; rerun with LOGGVERN_CRASH_SEED=N to replay a failure.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from loggvern.cli import main
from pipelines.follow import FollowOptions, follow
from pipelines.signals import StopFlag
from schemas.policy import default_policies
from store import deadletter
from store.failpoints import ENV, FAILPOINTS
from store.init import init_store
from store.keys import load_keys
from store.ledger import Ledger
from tests.lake_lines import assert_exactly_once, unique_lines

ROOT = Path(__file__).resolve().parents[1]
BAD = b"this is not a firewall line %d\n"
LINES_PER_ROUND = 400


class Rig:
    """A store, an input directory and what has been fed into it so far."""

    def __init__(self, tmp: Path) -> None:
        self.layout = init_store(tmp / "store", default_policies(), "op")
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.pool = unique_lines(tmp, 40 * LINES_PER_ROUND)
        self.fed = 0
        self.bad = 0
        self.rounds = 0

    def chunk(self) -> bytes:
        lines = self.pool[self.fed : self.fed + LINES_PER_ROUND]
        assert len(lines) == LINES_PER_ROUND, "pool exhausted"
        self.fed += LINES_PER_ROUND
        self.bad += 1
        return b"".join(lines[:200]) + BAD % self.bad + b"".join(lines[200:])

    def new_batch_file(self) -> Path:
        self.rounds += 1
        path = self.logs / f"batch-{self.rounds}.log"
        path.write_bytes(self.chunk())
        return path

    def append_followed(self) -> Path:
        path = self.logs / "follow.log"
        with path.open("ab") as fh:
            fh.write(self.chunk())
        return path

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "loggvern.cli", "ingest", str(self.layout.root), "--source",
                "iptables", "--workers", "1", *args]  # fmt: skip

    def check(self) -> None:
        assert_exactly_once(self.layout.root, self.fed)
        key = load_keys(self.layout.keys).deadletter
        dead = [t.num_rows for _, t in deadletter.read_all(self.layout.deadletter, key)]
        assert sum(dead) == self.bad, "a bad line is dead-lettered twice or not at all"
        assert not list(self.layout.staging.iterdir()), "staging left behind"
        entries = list(Ledger(self.layout, "op").entries())
        intents = {e.seq for e in entries if e.kind == "ingest_intent"}
        answered = {e.ref for e in entries if e.kind == "ingest_result"}
        assert intents <= answered, "an ingest intent was left without its result"
        assert main(["audit", "verify", str(self.layout.root)]) == 0


def _killed_at(cmd: list[str], failpoint: str) -> int:
    env = {**os.environ, ENV: failpoint}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=300)
    return proc.returncode


def _killed_after(cmd: list[str], seconds: float) -> int | None:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return proc.returncode  # finished before the kill
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return None


def _restart_batch(rig: Rig, path: Path) -> None:
    assert main(["ingest", str(rig.layout.root), "--source", "iptables", str(path)]) == 0


def _restart_follow(rig: Rig, path: Path) -> None:
    options = FollowOptions("iptables", [str(path)], interval=0)
    follow(rig.layout, Ledger(rig.layout, "op"), options, StopFlag(), max_polls=2)


def test_sigkill_at_every_failpoint_and_at_random_instants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("LOGGVERN_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with capsys.disabled():
        print(f"\ncrash test seed {seed}")
    rig = Rig(tmp_path)
    points = list(FAILPOINTS) + rng.sample([p for p in FAILPOINTS if p.startswith("commit")], 2)
    rng.shuffle(points)
    kills = 0
    for point in points:
        mode = "follow" if point.startswith("follow") else rng.choice(["batch", "follow"])
        if mode == "batch":
            path = rig.new_batch_file()
            cmd = rig.cli(str(path))
        else:
            path = rig.append_followed()
            cmd = rig.cli("--follow", str(path), "--interval", "0.2")
            if point == "follow.between_batches":  # a second batch must be waiting
                rig.append_followed()
        code = _killed_at(cmd, point)
        assert code == -signal.SIGKILL, f"{point} ({mode}) was not reached: exit {code}"
        kills += 1
        (_restart_batch if mode == "batch" else _restart_follow)(rig, path)
        rig.check()
    for _ in range(4):  # and at instants no failpoint names
        mode = rng.choice(["batch", "follow"])
        path = rig.new_batch_file() if mode == "batch" else rig.append_followed()
        cmd = rig.cli(str(path)) if mode == "batch" else rig.cli("--follow", str(path))
        if _killed_after(cmd, rng.uniform(1.0, 4.0)) is None:
            kills += 1
        (_restart_batch if mode == "batch" else _restart_follow)(rig, path)
        rig.check()
    assert kills >= 10
    with capsys.disabled():
        print(f"crash test: {kills} SIGKILLs, {rig.fed} lines + {rig.bad} bad, exactly once")


def test_a_stale_staging_run_without_record_is_rolled_back_and_ledgered(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    path = rig.new_batch_file()
    assert _killed_at(rig.cli(str(path)), "commit.before_journal") == -signal.SIGKILL
    staged = list(rig.layout.staging.iterdir())
    assert len(staged) == 1 and not (staged[0] / "COMMIT.json").exists()
    assert not [p for p in rig.layout.lake.rglob("*.parquet") if not p.name.startswith("_")]
    _restart_batch(rig, path)
    rig.check()
    results = [e for e in Ledger(rig.layout, "op").entries() if e.kind == "ingest_result"]
    rolled = [e for e in results if e.body.get("run_id") == staged[0].name]
    assert rolled and rolled[0].body["outcome"] == "failed"
    assert "interrupted before its commit" in rolled[0].body["error"]


def test_a_committed_run_is_finished_by_the_next_writer(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    path = rig.new_batch_file()
    assert _killed_at(rig.cli(str(path)), "commit.mid_moves") == -signal.SIGKILL
    run_id = next(rig.layout.staging.iterdir()).name
    assert not (rig.layout.runs / f"{run_id}.json").exists()
    _restart_batch(rig, path)  # recovery finishes the run; the file is then already in
    rig.check()
    assert (rig.layout.runs / f"{run_id}.json").exists()
    results = [e for e in Ledger(rig.layout, "op").entries() if e.kind == "ingest_result"]
    finished = [e for e in results if e.body.get("run_id") == run_id]
    assert len(finished) == 1 and finished[0].body["outcome"] == "ok"
    assert finished[0].body["written"] == LINES_PER_ROUND
