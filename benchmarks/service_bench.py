"""Query service benchmark: the same named query N times in direct mode and through the
socket of `loggvern serve`, on the same store, in the same run.

Builds a store from the synthetic municipality (firewall, sshd and DLP logs, a case),
starts `loggvern serve` as this user (the roles file maps this user's primary group to
analyst), then times, interleaved and alternating which goes first:

  direct  loggvern.cli.main(query …) in this process: parse, session, guard, the
          ledger's intent, result and checkpoint (each an fsynced write), rendering
  socket  the same argv with --socket in this process: the client, one connection,
          the service doing the same work in a thread for the peer, the answer back

and prints queries/s of each and the ratio socket/direct. Then two figures around it:
  concurrent  C callers at once through the socket (protocol-level, C threads here)
  processes   one `loggvern` process per query (what a person at a shell sees): the
              socket client imports no DuckDB, pyarrow or Beam

    python benchmarks/service_bench.py [--queries 200] [--employees 300] [--days 3]
        [--concurrency 4] [--processes 10] [--named failed_login_bursts_by_source]
"""

from __future__ import annotations

import argparse
import grp
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loggvern.cli import main  # noqa: E402
from loggvern.commands import ingest  # noqa: E402
from pipelines.synthetic.municipality import generate_municipality  # noqa: E402
from service.protocol import Request, Response, receive, send  # noqa: E402

WHY = "benchmark: failed logins from one source across many accounts"


def cli(argv: list[str]) -> int:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        code = main(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed ({code}): {err.getvalue()[-500:]}")
    return code


def build(work: Path, employees: int, days: int) -> Path:
    inputs = generate_municipality(work / "input", employees=employees, days=days)
    store = work / "store"
    cli(["init", str(store)])
    for source, path in (("iptables", inputs.firewall), ("sshd", inputs.auth),
                         ("o365-dlp", inputs.dlp)):  # fmt: skip
        ingest(store, source, [path], aliases=inputs.aliases, timezone="Europe/Oslo")
    cli(["case", "open", str(store), "--title", "bench", "--justification", WHY, "--from",
         "2026-11-01"])  # fmt: skip
    return store


def serve(work: Path, store: Path) -> tuple[subprocess.Popen[bytes], Path]:
    group = grp.getgrgid(os.getegid()).gr_name
    roles = work / "roles.toml"
    roles.write_text(f'[groups]\n"{group}" = ["analyst", "auditor"]\n')
    sock = work / "s.sock"
    log = open(work / "serve.log", "wb")  # noqa: SIM115 - the service's, closed with it
    proc = subprocess.Popen(
        [sys.executable, "-m", "loggvern.cli", "serve", str(store), "--socket", str(sock),
         "--roles", str(roles)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited: {(work / 'serve.log').read_text()[-1000:]}")
        if sock.exists():
            return proc, sock
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("serve did not start")


def interleaved(direct: list[str], served: list[str], n: int) -> tuple[float, float]:
    spent = {"direct": 0.0, "socket": 0.0}
    runs = [("direct", direct), ("socket", served)]
    for i in range(n):
        for name, argv in runs if i % 2 == 0 else reversed(runs):
            start = time.perf_counter()
            cli(argv)
            spent[name] += time.perf_counter() - start
    return n / spent["direct"], n / spent["socket"]


def concurrent(sock: Path, argv: list[str], callers: int, per_caller: int) -> float:
    request = Request(argv=argv, cwd=os.getcwd())
    failures: list[str] = []

    def caller() -> None:
        for _ in range(per_caller):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(str(sock))
                send(conn, request)
                answer = receive(conn, 1 << 30, time.monotonic() + 600)
                if not isinstance(answer, Response) or answer.exit_code != 0:
                    failures.append(getattr(answer, "stderr", "?"))

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"concurrent calls failed: {failures[0]}")
    return callers * per_caller / (time.perf_counter() - start)


def processes(argv: list[str], n: int) -> float:
    command = [sys.executable, "-m", "loggvern.cli", *argv]
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return n / (time.perf_counter() - start)


def main_bench() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--employees", type=int, default=300)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--processes", type=int, default=10)
    p.add_argument("--named", default="failed_login_bursts_by_source")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loggvern-service-bench-"))
    proc = None
    try:
        t0 = time.perf_counter()
        store = build(work, a.employees, a.days)
        print(f"store: {a.employees} employees, {a.days} days ({time.perf_counter() - t0:.1f} s)")
        proc, sock = serve(work, store)
        argv = ["query", str(store), "--purpose", "security_incident", "--case", "CASE-0001",
                "--named", a.named, "--format", "csv"]  # fmt: skip
        served = [*argv, "--socket", str(sock)]
        for _ in range(5):  # warm both paths (imports, DuckDB, page cache)
            cli(argv)
            cli(served)
        direct_qps, socket_qps = interleaved(argv, served, a.queries)
        print(f"\nnamed query {a.named}, {a.queries} runs each, interleaved:")
        print(f"  direct  {direct_qps:8.1f} queries/s  ({1000 / direct_qps:6.2f} ms each)")
        print(f"  socket  {socket_qps:8.1f} queries/s  ({1000 / socket_qps:6.2f} ms each)")
        print(f"  ratio socket/direct (queries/s): {socket_qps / direct_qps:.2f}")
        per = max(1, a.queries // a.concurrency)
        conc = concurrent(sock, argv, a.concurrency, per)
        print(f"\n  socket, {a.concurrency} callers at once: {conc:8.1f} queries/s "
              f"({conc / socket_qps:.2f} x one caller)")  # fmt: skip
        if a.processes:
            direct_p = processes(argv, a.processes)
            socket_p = processes(served, a.processes)
            print(f"\none process per query ({a.processes} each):")
            print(f"  direct  {direct_p:6.2f} queries/s   socket  {socket_p:6.2f} queries/s   "
                  f"ratio {socket_p / direct_p:.2f}")  # fmt: skip
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main_bench()
