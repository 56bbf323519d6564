"""Follow mode and re-ingest: every input line lands exactly once, across appends,
partial lines, rotation by rename and by copy-truncate, inode reuse and re-runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loggvern.cli import main
from loggvern.commands import ingest
from pipelines.follow import FollowOptions, follow
from pipelines.signals import StopFlag
from schemas.policy import default_policies
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_verify import verify_ledger
from store.manifest import load_manifest
from tests.lake_lines import assert_exactly_once, lake_tags, unique_lines

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def layout(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "store", default_policies(), "op")


def _poll(layout: StoreLayout, pattern: Path, budget: int = 64 << 20) -> list[str]:
    options = FollowOptions("iptables", [str(pattern)], interval=0, batch_bytes=budget)
    notes: list[str] = []
    follow(layout, Ledger(layout, "op"), options, StopFlag(), on_note=notes.append, max_polls=1)
    return notes


def test_appends_partial_lines_and_both_rotations(layout: StoreLayout, tmp_path: Path) -> None:
    lines = unique_lines(tmp_path, 700)
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    pattern = logs / "app.log*"
    app.write_bytes(b"".join(lines[:100]) + lines[100][:40])  # a line still being written
    _poll(layout, pattern)
    assert_exactly_once(layout.root, 100)
    with app.open("ab") as fh:
        fh.write(lines[100][40:] + b"".join(lines[101:200]))
    _poll(layout, pattern)
    assert_exactly_once(layout.root, 200)
    # rotation by rename; the writer still appends to the old inode before reopening
    app.rename(logs / "app.log.1")
    with (logs / "app.log.1").open("ab") as fh:
        fh.write(b"".join(lines[200:250]))
    app.write_bytes(b"".join(lines[250:400]))
    _poll(layout, pattern)
    assert_exactly_once(layout.root, 400)
    # copy-truncate: lines written after the last poll are only in the copy
    with app.open("ab") as fh:
        fh.write(b"".join(lines[400:450]))
    shutil.copyfile(app, logs / "app.log.2")
    with app.open("r+b") as fh:
        fh.truncate(0)
    with app.open("ab") as fh:
        fh.write(b"".join(lines[450:500]))
    notes = _poll(layout, pattern)
    assert any("a copy of" in n and "continuing after its line 150" in n for n in notes), notes
    assert any("no longer starts with what was read" in n for n in notes), notes
    assert_exactly_once(layout.root, 500)
    # compressed rotations are not read again; a deleted file is forgotten
    (logs / "app.log.3.gz").write_bytes(b"\x1f\x8b not lines")
    (logs / "app.log.1").unlink()
    with app.open("ab") as fh:
        fh.write(b"".join(lines[500:700]))
    notes = _poll(layout, pattern)
    assert any("gone" in n for n in notes), notes
    assert_exactly_once(layout.root, 700)
    assert len(load_manifest(layout).positions) == 2  # app.log and app.log.2
    assert verify_ledger(layout.ledger).ok


def test_a_reused_inode_is_a_new_file(layout: StoreLayout, tmp_path: Path) -> None:
    lines = unique_lines(tmp_path, 300)
    app = tmp_path / "app.log"
    app.write_bytes(b"".join(lines[:200]))
    _poll(layout, app)
    with app.open("r+b") as fh:  # same inode, other content, longer than before
        fh.seek(0)
        fh.write(b"".join(lines[200:300]) + b"".join(lines[:150]))
        fh.truncate()
    _poll(layout, app)
    tags = lake_tags(layout.root)
    assert len(tags) == 200 + 250  # the new content whole, from line 1


def test_a_batch_budget_splits_work_without_losing_lines(
    layout: StoreLayout, tmp_path: Path
) -> None:
    lines = unique_lines(tmp_path, 1000)
    app = tmp_path / "app.log"
    app.write_bytes(b"".join(lines))
    options = FollowOptions("iptables", [str(app)], interval=0, batch_bytes=50_000)
    totals = follow(layout, Ledger(layout, "op"), options, StopFlag(), max_polls=20)
    assert totals.batches >= 5
    assert_exactly_once(layout.root, 1000)


def test_reingesting_a_file_writes_nothing_and_says_so(
    layout: StoreLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = unique_lines(tmp_path, 300)
    log = tmp_path / "fw.log"
    log.write_bytes(b"".join(lines[:200]))
    first = ingest(layout.root, "iptables", [log], actor="op")
    assert first.written == 200
    copy = tmp_path / "copy-of-fw.log"
    shutil.copyfile(log, copy)
    runs_before = sorted(layout.runs.iterdir())
    assert main(["ingest", str(layout.root), "--source", "iptables", str(log), str(copy)]) == 0
    captured = capsys.readouterr()
    assert "nothing new to ingest" in captured.out
    assert f"already ingested by run {first.run_id} (same SHA-256)" in captured.err
    assert sorted(layout.runs.iterdir()) == runs_before
    assert_exactly_once(layout.root, 200)
    with log.open("ab") as fh:  # the file grows: only the new lines are read
        fh.write(b"".join(lines[200:300]))
    again = ingest(layout.root, "iptables", [log], actor="op")
    assert again.read == 100
    assert_exactly_once(layout.root, 300)
    entries = list(Ledger(layout, "op").entries())
    skipped = [e for e in entries if e.kind == "ingest_intent" and e.body.get("skipped")]
    assert skipped and "same SHA-256" in skipped[0].body["skipped"][0]["reason"]
    grown = [e for e in entries if e.kind == "ingest_intent"][-1]
    assert grown.body["files"][0]["from_line"] == 201


def test_follow_cli_stops_cleanly_on_sigterm(layout: StoreLayout, tmp_path: Path) -> None:
    lines = unique_lines(tmp_path, 400)
    app = tmp_path / "app.log"
    app.write_bytes(b"".join(lines[:300]))
    cmd = [sys.executable, "-m", "loggvern.cli", "ingest", str(layout.root), "--source",
           "iptables", "--follow", str(app), "--interval", "0.2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(lake_tags(layout.root)) == 300)
        with app.open("ab") as fh:
            fh.write(b"".join(lines[300:]))
        _wait_for(lambda: len(lake_tags(layout.root)) == 400)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert b"stopped:" in out and b"read=400" in out
    assert_exactly_once(layout.root, 400)
    assert verify_ledger(layout.ledger).ok
    assert not any(layout.staging.iterdir())


def test_follow_refuses_bad_options_before_any_work(layout: StoreLayout, tmp_path: Path) -> None:
    store = str(layout.root)
    missing = tmp_path / "no-such-dir" / "*.log"
    assert main(["ingest", store, "--source", "iptables", "--follow", str(missing)]) == 2
    log = tmp_path / "a.log"
    log.write_text("")
    assert main(["ingest", store, "--source", "iptables", "--follow", str(log), str(log)]) == 2
    args = ["ingest", store, "--source", "iptables", "--follow", str(log), "--interval", "0"]
    assert main(args) == 2
    assert main(["ingest", store, "--source", "iptables"]) == 2
    assert not os.listdir(layout.runs)


def _wait_for(condition, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the follower")


def test_ctrl_c_during_the_commit_stops_after_the_run_is_committed_and_ledgered(
    layout: StoreLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.commit as commit

    log = tmp_path / "fw.log"
    log.write_bytes(b"".join(unique_lines(tmp_path, 100)))
    apply = commit.apply_journal

    def interrupted_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while the record is being applied
        return apply(*args, **kwargs)

    monkeypatch.setattr(commit, "apply_journal", interrupted_apply)
    with pytest.raises(KeyboardInterrupt):
        ingest(layout.root, "iptables", [log], actor="op")
    assert_exactly_once(layout.root, 100)
    (result,) = [e for e in Ledger(layout, "op").entries() if e.kind == "ingest_result"]
    assert result.body["outcome"] == "ok" and result.body["written"] == 100
    assert not any(layout.staging.iterdir())
