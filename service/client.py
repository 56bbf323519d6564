"""The CLI's side of the query service: send the command, print what comes back.

The caller opens the input files the command names (with their own rights, before
connecting) and streams their bytes; the service returns the files the command wrote
and the caller writes them where they asked, with their own rights. Nothing else of
the caller's is sent: not the environment, not `LOGGVERN_ACTOR` (the service knows the
caller from the kernel), and `--as` is refused by the service.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import BinaryIO

from service.files import FileArg, Kind, file_args, values
from service.protocol import (
    MAX_RESPONSE,
    InputFile,
    ProtocolError,
    Ready,
    Request,
    Response,
    receive,
    receive_chunks,
    send,
)
from service.roles import command_key

EXIT_FAILED, EXIT_REFUSED = 1, 2
WAIT = 3600.0  # a call may run long (an ingest, a report); the service bounds itself


class ClientError(RuntimeError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def call(socket_path: str, argv: list[str], args: argparse.Namespace) -> int:
    try:
        return _call(socket_path, argv, args)
    except ClientError as exc:
        sys.stderr.write(f"loggvern: {exc}\n")
        return exc.code


def _call(socket_path: str, argv: list[str], args: argparse.Namespace) -> int:
    key = command_key(args)
    with ExitStack() as stack:
        inputs = [(f, stack.enter_context(fh)) for f, fh in _open_inputs(key, args)]
        outputs = _check_outputs(key, args)
        conn = stack.enter_context(_connect(socket_path))
        request = Request(argv=argv, cwd=os.getcwd(), inputs=[f for f, _ in inputs])
        try:
            answer = _exchange(conn, request, inputs)
        except (ProtocolError, OSError) as exc:
            failed = f"the query service at {socket_path} failed: {exc}"
            raise ClientError(failed, EXIT_FAILED) from None
        _print(answer)
        _write_outputs(conn, answer, outputs)
        return answer.exit_code


def _exchange(
    conn: socket.socket, request: Request, inputs: list[tuple[InputFile, BinaryIO]]
) -> Response:
    _send_request(conn, request)
    answer = receive(conn, MAX_RESPONSE, time.monotonic() + WAIT)
    if isinstance(answer, Ready):
        for sent, fh in inputs:
            _stream(conn, fh, sent.size)
        answer = receive(conn, MAX_RESPONSE, time.monotonic() + WAIT)
    if not isinstance(answer, Response):
        raise ProtocolError(f"unexpected {answer.type} from the service")
    return answer


def _print(answer: Response) -> None:
    try:
        sys.stdout.write(answer.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `… | head`: the reader is gone, the call still counts
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.stderr.write(answer.stderr)


def _send_request(conn: socket.socket, request: Request) -> None:
    """A service that answers before reading everything (busy, refused) closes early;
    its answer is still there to read, so a broken pipe here is not the end."""
    with suppress(BrokenPipeError, ConnectionResetError):
        send(conn, request)


def _connect(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as exc:
        conn.close()
        raise ClientError(
            f"cannot reach the query service at {path} ({exc.strerror or exc})", EXIT_FAILED
        ) from None
    return conn


def _open_inputs(key: str, args: argparse.Namespace) -> list[tuple[InputFile, BinaryIO]]:
    """Open every input file now, as the caller: refused here if they cannot read it."""
    opened: list[tuple[InputFile, BinaryIO]] = []
    for arg in file_args(key):
        if arg.kind is not Kind.read:
            continue
        for index, path in enumerate(values(args, arg.dest)):
            try:
                fh = open(path, "rb")  # noqa: SIM115 - closed by the caller's ExitStack
            except OSError as exc:
                for _, done in opened:
                    done.close()
                raise ClientError(f"{path}: cannot read ({exc.strerror})", EXIT_REFUSED) from None
            size = os.fstat(fh.fileno()).st_size
            opened.append((InputFile(dest=arg.dest, index=index, path=path, size=size), fh))
    return opened


def _check_outputs(key: str, args: argparse.Namespace) -> dict[str, tuple[FileArg, Path]]:
    outputs: dict[str, tuple[FileArg, Path]] = {}
    for arg in file_args(key):
        given = values(args, arg.dest)
        if arg.kind is Kind.read or not given:
            continue
        path = Path(given[0])
        if arg.kind is Kind.write_file and (path.exists() or path.is_symlink()):
            raise ClientError(f"{path}: already exists; refusing to overwrite", EXIT_REFUSED)
        outputs[arg.dest] = (arg, path)
    return outputs


def _stream(conn: socket.socket, fh: BinaryIO, size: int) -> None:
    """Send exactly the size announced (a file that grew is cut, one that shrank fails)."""
    left = size
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            raise ClientError(f"{fh.name}: shrank while being sent", EXIT_FAILED)
        conn.sendall(chunk)
        left -= len(chunk)


def _write_outputs(
    conn: socket.socket, answer: Response, outputs: dict[str, tuple[FileArg, Path]]
) -> None:
    """Write what came back, with the caller's own rights, where they asked."""
    for item in answer.outputs:
        if item.dest not in outputs or item.name in (".", ".."):
            unasked = f"the service returned an unasked-for file {item.name!r}"
            raise ClientError(unasked, EXIT_FAILED)
        arg, path = outputs[item.dest]
        target = path if arg.kind is Kind.write_file else path / item.name
        try:
            _write_one(conn, target, item.size, exclusive=arg.kind is Kind.write_file)
        except ProtocolError as exc:
            stopped = f"{target}: the service stopped sending it ({exc})"
            raise ClientError(stopped, EXIT_FAILED) from None
        except OSError as exc:
            failed = f"{target}: cannot write ({exc.strerror or exc})"
            raise ClientError(failed, EXIT_FAILED) from None


def _write_one(conn: socket.socket, target: Path, size: int, exclusive: bool) -> None:
    """0600; a file (`--out FILE`) never over an existing one, a directory's files
    replaced whole (written aside, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target if exclusive else target.with_name(target.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_EXCL if exclusive else 0)
    with os.fdopen(os.open(tmp, flags, 0o600), "wb") as fh:
        for chunk in receive_chunks(conn, size, time.monotonic() + WAIT):
            fh.write(chunk)
    if tmp != target:
        os.replace(tmp, target)
