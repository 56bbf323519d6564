"""The query service as one OS user (whoever runs the tests, holding every role): the
protocol, the confinement of paths and the limits, against a real `loggvern serve` on a
real store. Roles between different OS users are in test_service_roles.py (root only).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

from loggvern.commands import ingest
from pipelines.synthetic.municipality import generate_municipality
from service.protocol import Ready, Request, Response, receive, send
from store.actor import os_user_name
from tests.service_helpers import ledger_entries, run_cli, start_service, stop_service

ME = os_user_name(os.geteuid())
WHY = "DLP matches: personal numbers sent to a private mail address"
QUERY = ("--purpose", "security_incident", "--case", "CASE-0001", "--named",
         "dlp_matches_by_pseudonym", "--format", "csv")  # fmt: skip


class World:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.store = base / "store"
        self.socket = base / "s.sock"
        self.inputs = generate_municipality(base / "input", employees=20, days=2)

    def cli(self, *argv: str) -> tuple[int, str, str]:
        return run_cli(*argv, "--socket", str(self.socket))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World(tmp_path_factory.mktemp("service"))
    assert run_cli("init", str(w.store))[0] == 0
    for source, path in (("sshd", w.inputs.auth), ("o365-dlp", w.inputs.dlp)):
        ingest(w.store, source, [path], aliases=w.inputs.aliases, timezone="Europe/Oslo")
    code, _, err = run_cli("case", "open", str(w.store), "--title", "DLP", "--justification",
                           WHY, "--from", "2026-11-01")  # fmt: skip
    assert code == 0, err
    group = grp.getgrgid(os.getegid()).gr_name
    roles = w.base / "roles.toml"
    roles.write_text(f'version = 1\n[groups]\n"{group}" = ["analyst", "custodian", '
                     '"auditor", "operator"]\n')  # fmt: skip
    command = [sys.executable, "-m", "loggvern.cli", "serve", str(w.store), "--socket",
               str(w.socket), "--roles", str(roles), "--io-timeout", "2"]  # fmt: skip
    proc = start_service(command, w.socket, w.base / "serve.log")
    yield w
    assert stop_service(proc) == 0
    assert not w.socket.exists()
    stopped = [e for e in ledger_entries(w.store) if e["kind"] == "service_stopped"]
    assert stopped and stopped[-1]["body"]["calls"] > 0


def raw_call(world: World, request: Request) -> Response:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(world.socket))
        send(conn, request)
        answer = receive(conn, 1 << 30, time.monotonic() + 30)
        assert isinstance(answer, Response)
        return answer


def last(world: World, kind: str) -> dict:
    return [e for e in ledger_entries(world.store) if e["kind"] == kind][-1]


def test_a_query_through_the_socket_answers_as_directly_and_is_ledgered_as_socket(world):
    direct = run_cli("query", str(world.store), *QUERY)
    served = world.cli("query", str(world.store), *QUERY)
    assert direct[0] == served[0] == 0, served[2]
    assert served[1] == direct[1] and served[1].count("usr-k1-") >= 1
    intents = [e for e in ledger_entries(world.store) if e["kind"] == "query_intent"]
    assert [(e["actor"], e["mode"]) for e in intents[-2:]] == [(ME, "direct"), (ME, "socket")]


def test_the_socket_comes_from_the_environment_too(world, monkeypatch):
    monkeypatch.setenv("LOGGVERN_SOCKET", str(world.socket))
    monkeypatch.setenv("LOGGVERN_ACTOR", "someone-else")  # the kernel's word wins
    code, out, _ = run_cli("case", "list", str(world.store))
    assert code == 0 and "CASE-0001" in out
    entry = last(world, "service_call")
    assert (entry["actor"], entry["mode"], entry["body"]) == (
        ME, "socket", {"command": "case list", "exit_code": 0})  # fmt: skip


def test_as_is_refused_over_the_socket_and_ledgered(world):
    code, out, err = world.cli("query", str(world.store), *QUERY, "--as", "dpo")
    assert code == 2 and out == ""
    assert "--as is not allowed over the socket" in err and f"{ME} acts as {ME}" in err
    entry = last(world, "refusal")
    route = entry["body"]["route"]
    assert (entry["actor"], entry["mode"], route) == (ME, "socket", "actor_override")


def test_another_store_is_refused(world, tmp_path):
    code, _, err = world.cli("case", "list", str(tmp_path / "elsewhere"))
    assert code == 2 and f"this service serves {world.store}" in err
    assert last(world, "refusal")["body"]["route"] == "wrong_store"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["init", "/tmp/x"], "`init` over the socket: it is never served"),
        (["demo"], "`demo` over the socket: it is never served"),
        (["frobnicate", "x"], "`frobnicate x` is not a command the service serves"),
        (["--help"], "is not a command the service serves"),
    ],
)
def test_unserved_and_unknown_commands_are_refused(world, argv, says):
    answer = raw_call(world, Request(argv=argv, cwd="/"))
    assert answer.exit_code == 2 and says in answer.stderr and answer.stdout == ""
    assert last(world, "refusal")["body"]["route"] == "not_served"


def test_parse_errors_come_back_as_usage_and_are_ledgered(world):
    answer = raw_call(world, Request(argv=["query", str(world.store), "--bogus"], cwd="/"))
    assert answer.exit_code == 2 and "usage:" in answer.stderr
    assert last(world, "service_call")["body"] == {"command": "query", "exit_code": 2}


def test_input_files_must_match_the_arguments(world, tmp_path):
    share = tmp_path / "x.share"
    share.write_text("not a share")
    argv = ["breakglass", "approve", str(world.store), "BG-0001", "--share", str(share)]
    answer = raw_call(world, Request(argv=argv, cwd="/"))  # no file sent with it
    assert answer.exit_code == 2 and "the files sent do not match" in answer.stderr
    assert last(world, "refusal")["body"]["route"] == "bad_inputs"


def test_input_over_the_limit_is_refused_before_it_is_sent(world, tmp_path):
    argv = ["audit", "verify", str(world.store), "--against", str(tmp_path / "head.json")]
    huge = {"dest": "against", "index": 0, "path": "head.json", "size": 1 << 40}
    answer = raw_call(world, Request.model_validate({"argv": argv, "cwd": "/",
                                                     "inputs": [huge]}))  # fmt: skip
    assert answer.exit_code == 2 and "over the service's limit" in answer.stderr


def test_an_input_file_is_read_by_the_caller_and_named_as_theirs(world, tmp_path):
    head = tmp_path / "head.json"
    code, out, _ = world.cli("audit", "head", str(world.store))
    assert code == 0
    head.write_text(out)
    code, out, err = world.cli("audit", "verify", str(world.store), "--against", str(head))
    assert code == 0 and "ledger intact" in out, err
    head.write_text("{}")
    code, _, err = world.cli("audit", "verify", str(world.store), "--against", str(head))
    assert code == 1 and f"{head}: not a signed head" in err and "/proc/" not in err
    unreadable = tmp_path / "missing.json"
    code, _, err = world.cli("audit", "verify", str(world.store), "--against", str(unreadable))
    assert code == 2 and f"{unreadable}: cannot read" in err


def test_output_files_come_back_to_the_callers_path_and_are_ledgered(world, tmp_path):
    out_dir = tmp_path / "report"
    code, out, err = world.cli("audit", "report", str(world.store), "--out", str(out_dir))
    assert code == 0, err
    assert f"wrote {out_dir / 'report.html'}" in out and "/dev/shm" not in out
    files = {p.name: p for p in out_dir.iterdir()}
    assert sorted(files) == ["report.html", "report.json"]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files.values())
    returned = last(world, "service_files")["body"]["returned"]
    assert {r["path"]: r["sha256"] for r in returned} == {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()
    }
    report = json.loads(files["report.json"].read_text())
    roles = next(s for s in report["sections"] if s["id"] == "roles")
    assert ME in [h["user"] for h in roles["analyst_and_custodian"]]  # holds every role here


def test_an_existing_output_file_is_never_overwritten(world, tmp_path):
    target = tmp_path / "bundle.json"
    target.write_text("keep me")
    code, _, err = world.cli("breakglass", "bundle", str(world.store), "BG-0001", "--out",
                             str(target))  # fmt: skip
    assert code == 2 and "already exists" in err and target.read_text() == "keep me"


def test_ingest_through_the_socket_reads_what_the_caller_sent(world, tmp_path):
    log = tmp_path / "auth-later.log"  # the store has the original: it would be skipped
    log.write_bytes(world.inputs.auth.read_bytes() + b"\n")
    code, out, err = world.cli("ingest", str(world.store), "--source", "sshd", str(log),
                               "--workers", "64")  # fmt: skip
    assert code == 0 and "written=" in out, err
    result = last(world, "ingest_result")
    assert (result["mode"], result["body"]["outcome"]) == ("socket", "ok")
    received = last(world, "service_files")["body"]["received"]
    assert received == [{"option": "PATH", "path": str(log),
                         "bytes": log.stat().st_size}]  # fmt: skip
    code, _, err = world.cli("ingest", str(world.store), "--source", "sshd", str(log))
    assert code == 0 and "already ingested" in err  # the same content again: nothing new
    code, _, err = world.cli("ingest", str(world.store), "--source", "sshd", "--follow", str(log))
    assert code == 2 and "`ingest --follow` is not served" in err
    code, _, err = world.cli("ingest", str(world.store), "--source", "sshd",
                             str(world.inputs.auth), "--runner", "DirectRunner")  # fmt: skip
    assert code == 2 and "--runner is not served" in err


def test_a_stalled_caller_does_not_hold_the_service(world):
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(world.socket))
    stalled.sendall(struct.pack(">I", 100) + b'{"type":')  # then nothing
    try:
        code, out, _ = world.cli("case", "list", str(world.store))
        assert code == 0 and "CASE-0001" in out
        stalled.settimeout(10)
        assert stalled.recv(1) == b""  # dropped after --io-timeout 2
    finally:
        stalled.close()


def test_an_oversized_request_is_dropped(world):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(world.socket))
        conn.sendall(struct.pack(">I", 1 << 30))
        conn.settimeout(10)
        assert conn.recv(1) == b""
    assert world.cli("case", "list", str(world.store))[0] == 0


def test_concurrent_callers_share_one_intact_ledger(world):
    before = sum(e["kind"] == "query_intent" for e in ledger_entries(world.store))
    results: list[Response] = []
    request = Request(argv=["query", str(world.store), *QUERY], cwd="/")

    def caller() -> None:  # the protocol itself: redirect_stdout is one for all threads
        for _ in range(4):
            results.append(raw_call(world, request))

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 24 and all(r.exit_code == 0 for r in results), results[0].stderr
    assert len({r.stdout for r in results}) == 1  # each got the whole answer, and only theirs
    assert results[0].stdout.count("usr-k1-") >= 2
    entries = ledger_entries(world.store)
    assert sum(e["kind"] == "query_intent" for e in entries) == before + 24
    code, out, _ = world.cli("audit", "verify", str(world.store))
    assert code == 0 and "ledger intact" in out


def test_ready_is_only_sent_when_files_follow(world):
    assert Ready().type == "ready"  # the message exists; a call without files never sees it
    answer = raw_call(world, Request(argv=["case", "list", str(world.store)], cwd="/"))
    assert answer.exit_code == 0 and "CASE-0001" in answer.stdout


def test_relative_paths_are_the_callers_and_ledgered_whole(world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = world.cli("audit", "report", str(world.store), "--out", "rel")
    assert code == 0 and "wrote rel/report.html" in out, err
    assert (tmp_path / "rel" / "report.json").is_file()
    returned = last(world, "service_files")["body"]["returned"]
    assert str(tmp_path / "rel" / "report.json") in [r["path"] for r in returned]
