"""One call, from its request to the bytes sent back: authorize, receive the input
files, run the command as the caller, ledger what crossed the socket, answer.

Every call leaves at least one ledger entry under the caller: the command's own, a
refusal, or (for a command that writes none, like `audit verify` or a parse error) a
`service_call` entry with its exit code.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import TYPE_CHECKING

from service import capture
from service.authorize import Authorized, ParseFailed, Refused, authorize, describe
from service.call import (
    CallFailed,
    Returned,
    Workspace,
    as_output_files,
    collect_outputs,
    ledger_files,
    receive_inputs,
    redirect_outputs,
    workspace,
)
from service.peer import Peer
from service.protocol import Ready, Request, Response, send
from store.caller import Caller, calling_as
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind

if TYPE_CHECKING:
    from service.server import ServiceConfig

EXIT_FAILED, EXIT_REFUSED = 1, 2
MIN_RATE = 1 << 20  # bytes/s a caller must at least keep up when sending files


def handle(
    config: ServiceConfig, conn: socket.socket, peer: Peer, request: Request, deadline: float
) -> int:
    """Serve one request on `conn`; returns the exit code sent back."""
    caller = Caller(peer.name)
    with (
        workspace(config.spool, request.cwd) as ws,
        calling_as(caller),
        capture.capturing(config.max_output) as (out, err),
    ):
        key, code, returned = _run(config, conn, peer, request, deadline, ws)
        if not caller.appended:
            code = _ledger_call(config, peer, key, code)
        _checkpoint(config, peer)
        if out.cut or err.cut:
            err.write(f"loggvern: output over {config.max_output} characters was cut\n")
            code = code or EXIT_FAILED
        response = Response(
            exit_code=code,
            stdout=ws.show(out.getvalue()),
            stderr=ws.show(err.getvalue()),
            outputs=as_output_files(returned),
        )
        conn.settimeout(config.io_timeout)
        send(conn, response)
        for item in returned:
            with open(item.path, "rb") as fh:
                conn.sendfile(fh)
    return code


def _run(
    config: ServiceConfig,
    conn: socket.socket,
    peer: Peer,
    request: Request,
    deadline: float,
    ws: Workspace,
) -> tuple[str, int, list[Returned]]:
    from loggvern.cli import run

    try:
        call = authorize(request, peer, config.roles, config.layout.root)
        _receive(config, conn, call, request, deadline, ws)
    except Refused as exc:
        print(f"loggvern: {exc}", file=sys.stderr)
        _ledger_refusal(config, peer, exc)
        return exc.command, EXIT_REFUSED, []
    except ParseFailed as exc:
        return exc.command, exc.code, []
    redirect_outputs(ws, call)
    code = run(call.args)
    try:
        returned = collect_outputs(ws, config.max_output)
        ledger_files(config.layout, peer.name, call, ws, returned)
    except (CallFailed, LedgerError, OSError) as exc:
        print(f"loggvern: {exc}; nothing was handed back", file=sys.stderr)
        return call.key, code or EXIT_FAILED, []
    return call.key, code, returned


def _receive(
    config: ServiceConfig,
    conn: socket.socket,
    call: Authorized,
    request: Request,
    deadline: float,
    ws: Workspace,
) -> None:
    if not call.reads:
        return
    total = sum(f.size for f in request.inputs)
    if total > config.max_input_bytes:
        limit = config.max_input_bytes
        too_large = (
            f"refused: {describe(call.member)}: the files sent ({total} bytes) are over the "
            f"service's limit of {limit} (`{call.key}`)"
        )
        raise Refused("too_large", too_large, call.key)
    send(conn, Ready())
    until = max(deadline, time.monotonic() + config.io_timeout) + total / MIN_RATE
    receive_inputs(ws, call, request, conn, until)


def _ledger_refusal(config: ServiceConfig, peer: Peer, exc: Refused) -> None:
    from queries.session import refuse

    try:
        refuse(Ledger(config.layout, peer.name), exc.command, exc.route, str(exc)[:500])
    except LedgerError as failure:
        print(f"loggvern: the refusal could not be ledgered: {failure}", file=sys.stderr)


def _ledger_call(config: ServiceConfig, peer: Peer, command: str, code: int) -> int:
    try:
        Ledger(config.layout, peer.name).append(
            EntryKind.SERVICE_CALL, {"command": command, "exit_code": code}
        )
    except LedgerError as failure:
        print(f"loggvern: the call could not be ledgered: {failure}", file=sys.stderr)
        return code or EXIT_FAILED
    return code


def _checkpoint(config: ServiceConfig, peer: Peer) -> None:
    try:
        Ledger(config.layout, peer.name).checkpoint()
    except LedgerError as failure:
        print(f"loggvern: ledger checkpoint failed: {failure}", file=sys.stderr)
