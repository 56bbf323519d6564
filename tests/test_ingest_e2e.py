"""The whole write path through Beam and the CLI, on Elastic's fixture files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loggvern.cli import main
from schemas.policy import default_policy_path
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from tests.conftest import FIXTURES

IPTABLES = FIXTURES / "elastic/iptables/test-iptables-raw.log"
AUTH = FIXTURES / "elastic/system/test-auth.log"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    assert main(["init", str(root)]) == 0
    return root


def _final_counts(text: str) -> dict[str, int]:
    last = text.strip().splitlines()[-1]
    return {k: int(v) for k, v in (part.split("=") for part in last.split())}


def test_ingest_iptables_fixture(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog_before = hashlib.sha256((store / "catalog.duckdb").read_bytes()).hexdigest()
    assert main(["ingest", str(store), "--source", "iptables", str(IPTABLES)]) == 0
    counts = _final_counts(capsys.readouterr().out)
    lines = len(IPTABLES.read_bytes().splitlines())
    assert counts["read"] == lines
    assert counts["read"] == counts["written"] + counts["rejected"]
    assert counts["written"] >= lines - 2
    files = sorted((store / "lake").rglob("*.parquet"))
    data = [f for f in files if f.name != "_schema.parquet"]
    assert data and not list((store / "lake").rglob("*.part"))
    assert not any((store / "staging").iterdir())
    rows = sum(pq.read_metadata(f).num_rows for f in data)
    assert rows == 2 * counts["written"]  # both purposes, once each
    assert hashlib.sha256((store / "catalog.duckdb").read_bytes()).hexdigest() == catalog_before
    run = json.loads(next((store / "runs").glob("*.json")).read_text())
    assert run["read"] == counts["read"] and run["policy_id"] == "iptables-default"
    assert run["dropped"].get("src_mac", 0) > 0  # minimised and counted


def test_query_and_formats(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(store), "--source", "sshd", str(AUTH)]) == 0
    assert main(["case", "open", str(store), "--title", "fixture", "--from", "2000-01-01",
                 "--justification", "whole fixture under one incident case"]) == 0  # fmt: skip
    assert "CASE-0001 opened" in capsys.readouterr().out
    sql = "SELECT outcome, count(*) AS n FROM authentication GROUP BY ALL ORDER BY outcome"
    assert main(["query", str(store), "--purpose", "security_incident", "--case", "CASE-0001",
                 "--format", "json", sql]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["outcome"] for r in rows} >= {"success", "failure"}
    assert main(["query", str(store), "--purpose", "network_administration", "--format", "csv",
                 "SELECT count(*) AS n FROM authentication"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "n" and int(out[1]) == sum(r["n"] for r in rows)


def test_refusals_exit_2(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(store)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["ingest", str(store), "--source", "netflow", str(IPTABLES)]) == 2
    assert "unknown format 'netflow'" in capsys.readouterr().err
    missing = tmp_path / "nope.log"
    assert main(["ingest", str(store), "--source", "iptables", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\nversion = 1\n')
    assert (
        main(["ingest", str(store), "--source", "iptables", "--policy", str(bad), str(IPTABLES)])
        == 2
    )  # noqa: E501
    assert str(bad) in capsys.readouterr().err
    assert main(["query", str(store), "--purpose", "productivity", "SELECT 1"]) == 2
    assert "not lawful" in capsys.readouterr().err
    assert not list((store / "lake").rglob("*-*.parquet"))  # nothing was written


def test_deadletter_show(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "mixed.log"
    good = IPTABLES.read_bytes().splitlines()[0]
    log.write_bytes(good + b"\nthis is not a firewall line\n\xff\xfe broken\n" + good + b"\n")
    assert main(["ingest", str(store), "--source", "iptables", str(log)]) == 0
    assert _final_counts(capsys.readouterr().out) == {"read": 4, "written": 2, "rejected": 2}
    assert main(["deadletter", "show", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"{log}:2:" in out and f"{log}:3:" in out
    assert "not valid UTF-8" in out and "this is not a firewall line" in out


def test_more_refusals(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("employee_id,identifier\nE1\n")
    args = ["ingest", str(store), "--source", "iptables", str(IPTABLES)]
    assert main([*args, "--aliases", str(aliases)]) == 2
    assert f"{aliases}: line 2" in capsys.readouterr().err
    assert main([*args, "--timezone", "Mars/Olympus"]) == 2
    assert "unknown timezone" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "nostore"), "--source", "iptables", str(IPTABLES)]) == 2
    assert "not a loggvern store" in capsys.readouterr().err


def test_default_runner_is_in_process() -> None:
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from pipelines.runner import make_pipeline

    assert isinstance(make_pipeline().runner, FnApiRunner)
    assert isinstance(make_pipeline(workers=2).runner, FnApiRunner)
    assert type(make_pipeline(runner="DirectRunner").runner).__name__.endswith("DirectRunner")


def test_ingest_opens_no_network_connection(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    assert main(["ingest", str(store), "--source", "iptables", str(IPTABLES)]) == 0
    assert attempts == []
    assert _final_counts(capsys.readouterr().out)["read"] == 24


def test_pipeline_graph_carries_no_keys_or_identities(store: Path, tmp_path: Path) -> None:
    import pickle

    from pipelines.plan import plan_ingest
    from pipelines.run import job_for
    from store.keys import load_keys

    aliases = tmp_path / "aliases.csv"
    aliases.write_text("employee_id,identifier\nE7,kari.nordmann@fjordvik.kommune.no\n")
    plan = plan_ingest(store, "iptables", [str(IPTABLES)], aliases_path=aliases)
    blob = pickle.dumps(job_for(plan))
    assert b"kari.nordmann" not in blob
    keys = load_keys(store / "keys")
    for key in (keys.pseudonym, keys.evidence, keys.ipcrypt, keys.deadletter):
        assert key not in blob and key.hex().encode() not in blob


def test_input_shrinking_mid_run_commits_nothing(store: Path, tmp_path: Path) -> None:
    from pipelines.plan import plan_ingest
    from pipelines.run import run_ingest
    from transforms.sink import AccountingError

    log = tmp_path / "fw.log"
    log.write_bytes(IPTABLES.read_bytes())
    plan = plan_ingest(store, "iptables", [str(log)])
    log.write_bytes(b"\n".join(IPTABLES.read_bytes().splitlines()[:5]) + b"\n")  # rotated away
    with pytest.raises(AccountingError, match="nothing committed"):
        run_ingest(plan)
    assert not list((store / "lake").rglob("*-*.parquet"))
    assert not any((store / "staging").iterdir())
    assert not list((store / "runs").iterdir())


def test_command_line_output_is_clean(store: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "loggvern.cli", "ingest", str(store), "--source", "iptables",
         str(IPTABLES)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # A subprocess ingests on the real day, when the fixture's older lines are past
    # retention (dead-lettered, tests/test_expire.py): only the accounting is fixed.
    counts = _final_counts(done.stdout)
    assert counts["read"] == 24 and counts["written"] + counts["rejected"] == 24
    assert "WARNING" not in done.stderr and "Traceback" not in done.stderr


def test_ingest_is_ledgered(store: Path, tmp_path: Path) -> None:
    """Intent (file SHA-256, policy id and hash) before the run, counts after; a policy
    is registered once per distinct text, and again when its text changes."""
    assert main(["ingest", str(store), "--source", "iptables", "--as", "op", str(IPTABLES)]) == 0
    assert main(["ingest", str(store), "--source", "iptables", str(IPTABLES)]) == 0
    changed = tmp_path / "iptables.toml"
    changed.write_text(default_policy_path("iptables").read_text() + "\n# reviewed\n")
    assert main(["ingest", str(store), "--source", "iptables", "--policy", str(changed),
                 str(IPTABLES)]) == 0  # fmt: skip
    entries = list(Ledger(StoreLayout(store), "t").entries())
    intents = [e for e in entries if e.kind == EntryKind.INGEST_INTENT]
    results = {e.ref: e for e in entries if e.kind == EntryKind.INGEST_RESULT}
    assert len(intents) == 3 and intents[0].actor == "op"
    file = intents[0].body["files"][0]
    assert file["sha256"] == hashlib.sha256(IPTABLES.read_bytes()).hexdigest()
    assert file["bytes"] == IPTABLES.stat().st_size and file["path"] == str(IPTABLES.resolve())
    policy_sha = hashlib.sha256(default_policy_path("iptables").read_bytes()).hexdigest()
    assert intents[0].body["policy"] == {
        "id": "iptables-default",
        "version": 1,
        "sha256": policy_sha,
    }
    result = results[intents[0].seq].body
    assert result["outcome"] == "ok" and result["read"] == result["written"] + result["rejected"]
    run = json.loads((store / "runs" / f"{intents[0].body['run_id']}.json").read_text())
    assert (result["read"], result["written"]) == (run["read"], run["written"])
    registered = [e for e in entries if e.kind == EntryKind.POLICY_REGISTERED]
    assert [e.body["sha256"] for e in registered] == [
        policy_sha, hashlib.sha256(changed.read_bytes()).hexdigest()
    ]  # fmt: skip
    assert registered[1].body["previous"] is not None
    assert len(list((store / "policies" / "iptables-default").glob("*.toml"))) == 2
