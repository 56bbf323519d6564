"""`loggvern serve`: listen on a Unix socket and run each caller's command as them.

Each connection is one call in its own thread: at most `max_clients` run at once, up to
three times as many more wait (each at most the I/O timeout) for a turn, and a caller
beyond that is told at once that the service is busy. The ledger's flock serialises the
threads' appends as it does separate processes'. SIGTERM or SIGINT stops accepting,
lets the calls under way finish and ledgers the stop.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from service.handle import EXIT_FAILED, EXIT_REFUSED, handle
from service.peer import UnknownPeer, peer_of
from service.protocol import MAX_REQUEST, ProtocolError, Request, Response, receive, send
from service.role_policy import RolePolicy
from store.caller import Caller, calling_as
from store.layout import StoreLayout
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind


@dataclass
class ServiceConfig:
    layout: StoreLayout
    roles: RolePolicy
    spool: Path
    max_clients: int = 8
    max_input_bytes: int = 64 << 20
    io_timeout: float = 30.0
    max_output: int = 256 << 20  # characters of stdout, of stderr, bytes of files returned


class Service:
    def __init__(self, config: ServiceConfig, listener: socket.socket) -> None:
        self.config = config
        self.listener = listener
        self.slots = threading.BoundedSemaphore(config.max_clients)
        self.admitted = threading.BoundedSemaphore(config.max_clients * 4)
        self.stop = threading.Event()
        self.threads: set[threading.Thread] = set()
        self.calls = 0
        self._lock = threading.Lock()

    def run(self) -> int:
        """Accept until SIGTERM or SIGINT, finish the calls under way; calls served."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            if not self.admitted.acquire(blocking=False):
                _busy(conn)
                continue
            thread = threading.Thread(target=self._serve_one, args=(conn,), daemon=True)
            with self._lock:
                self.threads.add(thread)
            thread.start()
        with self._lock:
            running = list(self.threads)
        for thread in running:
            thread.join(timeout=self.config.io_timeout * 2)
        return self.calls

    def _serve_one(self, conn: socket.socket) -> None:
        turn = self.slots.acquire(timeout=self.config.io_timeout)
        try:
            if not turn:
                _busy(conn)
                return
            with conn:
                self._call(conn)
        except (ProtocolError, OSError) as exc:
            log(f"a call was abandoned: {exc}")
        except Exception as exc:  # noqa: BLE001 - one call's bug must not stop the service
            log(f"a call failed: internal error ({type(exc).__name__})")
        finally:
            with self._lock:
                self.threads.discard(threading.current_thread())
                self.calls += int(turn)
            if turn:
                self.slots.release()
            self.admitted.release()

    def _call(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.config.io_timeout
        try:
            peer = peer_of(conn)
        except UnknownPeer as exc:
            self._refuse_unknown(conn, exc)
            return
        message = receive(conn, MAX_REQUEST, deadline)
        if not isinstance(message, Request):
            raise ProtocolError(f"{peer.name}: expected a request, got {message.type}")
        handle(self.config, conn, peer, message, deadline)

    def _refuse_unknown(self, conn: socket.socket, exc: UnknownPeer) -> None:
        from queries.session import refuse

        with calling_as(Caller(f"uid:{exc.uid}")), suppress(LedgerError):
            refuse(Ledger(self.config.layout, "-"), "-", "unknown_user", str(exc))
        send(conn, Response(exit_code=EXIT_REFUSED, stderr=f"loggvern: refused: {exc}\n"))


def ledger_service(layout: StoreLayout, kind: EntryKind, body: dict[str, object]) -> None:
    ledger = Ledger(layout, os_user())
    ledger.append(kind, body)
    ledger.checkpoint()


def os_user() -> str:
    from store.actor import os_user_name

    return os_user_name(os.geteuid())


def _busy(conn: socket.socket) -> None:
    with conn:
        try:
            conn.settimeout(1.0)
            busy = "loggvern: the query service is busy; try again\n"
            send(conn, Response(exit_code=EXIT_FAILED, stderr=busy))
        except OSError:
            pass


def log(message: str) -> None:
    os.write(2, f"loggvern serve: {message}\n".encode())
