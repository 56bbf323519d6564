"""Starting and stopping a real `loggvern serve` for the service tests, and calling it."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from loggvern.cli import main

START_TIMEOUT = 90.0

# The issue's role table, written out here (not imported from service/roles.py) so that
# a change there which breaks it fails the tests.
ISSUE_ROLES: dict[str, set[str]] = {
    "analyst": {"query", "stats", "case open", "case close", "case list",
                "breakglass request", "breakglass notified", "breakglass list"},
    "custodian": {"breakglass approve", "breakglass reveal", "breakglass bundle",
                  "breakglass record", "breakglass list", "custodians reshare"},
    "auditor": {"audit verify", "audit head", "audit report", "stats", "case list",
                "breakglass list"},
    "operator": {"ingest", "deadletter show", "deadletter replay", "retention run", "hold add",
                 "hold list", "hold release", "subject-access", "keys rotate"},
}  # fmt: skip


def start_service(
    command: list[str], socket_path: Path, log: Path, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start `serve` and wait until its socket answers; the log says why if it does not."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, **popen)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode}: {log.read_text()[-2000:]}")
        if socket_path.exists() and _answers(socket_path):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"serve did not listen within {START_TIMEOUT} s: {log.read_text()[-2000:]}")


def stop_service(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def run_cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The CLI in this process (direct mode, or a client of a service)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(list(argv))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, stdout.getvalue(), stderr.getvalue()


def ledger_entries(store: Path) -> list[dict[str, Any]]:
    import json

    with open(store / "ledger" / "ledger.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
