"""One authorized call, run for its caller: the input files they sent become in-memory
files of the service (`memfd`, never on disk: a custodian's share must not touch the
store's disk), the outputs go to the service's private spool and come back in the
response, and any path of the service's is shown to the caller as their own path.

Which files crossed the socket is ledgered (`service_files`: the caller's paths, sizes
and, for what was returned, its SHA-256) before the outputs are handed over.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from service.authorize import Authorized
from service.files import Kind, file_args, replace_values, values
from service.protocol import OutputFile, Request, receive_chunks
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


class CallFailed(RuntimeError):
    """The call ran but what it wrote cannot be handed back (exit 1)."""


@dataclass
class Returned:
    dest: str
    name: str
    path: Path  # the service's file
    shown: str  # where the caller asked for it
    size: int
    sha256: str


@dataclass
class Workspace:
    """The service's side of one call's files, removed when the call ends."""

    spool: Path
    cwd: str  # the caller's working directory, to ledger their paths whole
    fds: list[int] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # service path → the caller's path
    outputs: dict[str, tuple[Kind, str]] = field(default_factory=dict)  # dest → the caller's

    def whole(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.cwd, path))

    def show(self, text: str) -> str:
        """Messages name the caller's paths, not the service's memfds and spool."""
        if not self.shown:
            return text
        pattern = "|".join(re.escape(k) for k in sorted(self.shown, key=len, reverse=True))
        return re.sub(f"({pattern})(?![0-9])", lambda m: self.shown[m.group(1)], text)


@contextmanager
def workspace(spool_root: Path, cwd: str) -> Iterator[Workspace]:
    ws = Workspace(spool_root / uuid.uuid4().hex, cwd)
    try:
        yield ws
    finally:
        for fd in ws.fds:
            os.close(fd)
        shutil.rmtree(ws.spool, ignore_errors=True)


def receive_inputs(
    ws: Workspace, call: Authorized, request: Request, conn: socket.socket, deadline: float
) -> None:
    """Read each sent file into a memfd and put its /proc path into the arguments."""
    by_place = {(f.dest, f.index): f for f in request.inputs}
    replaced: dict[str, list[str]] = {}
    for arg, index, caller_path in call.reads:
        sent = by_place[(arg.dest, index)]
        fd = os.memfd_create(_memfd_name(caller_path), os.MFD_CLOEXEC)
        ws.fds.append(fd)
        for chunk in receive_chunks(conn, sent.size, deadline):
            os.write(fd, chunk)
        os.lseek(fd, 0, os.SEEK_SET)
        path = f"/proc/self/fd/{fd}"
        ws.shown[path] = caller_path
        replaced.setdefault(arg.dest, values(call.args, arg.dest))[index] = path
    for dest, paths in replaced.items():
        replace_values(call.args, dest, paths)


def redirect_outputs(ws: Workspace, call: Authorized) -> None:
    """Point every output argument at the spool."""
    for arg in file_args(call.key):
        given = values(call.args, arg.dest)
        if arg.kind is Kind.read or not given:
            continue
        place = ws.spool / arg.dest
        if arg.kind is Kind.write_file:
            place.mkdir(parents=True, mode=0o700)
            place = place / (Path(given[0]).name or "out")
        ws.shown[str(place)] = given[0]
        ws.outputs[arg.dest] = (arg.kind, given[0])
        replace_values(call.args, arg.dest, [str(place)])


def collect_outputs(ws: Workspace, limit: int) -> list[Returned]:
    """The regular files the command wrote, each with where the caller wants it."""
    returned: list[Returned] = []
    for dest, (kind, asked) in ws.outputs.items():
        place = ws.spool / dest
        if not place.is_dir():
            continue
        for path in sorted(place.iterdir()):
            if not path.is_file() or path.is_symlink() or path.name.endswith(".tmp"):
                continue
            data = path.read_bytes()
            where = asked if kind is Kind.write_file else os.path.join(asked, path.name)
            digest = hashlib.sha256(data).hexdigest()
            returned.append(Returned(dest, path.name, path, where, len(data), digest))
    if sum(r.size for r in returned) > limit:
        raise CallFailed(f"the files written are over the service's limit of {limit} bytes")
    return returned


def ledger_files(
    layout: StoreLayout, user: str, call: Authorized, ws: Workspace, returned: list[Returned]
) -> None:
    """Record which files crossed the socket, under the caller, before handing any back."""
    received = [
        {"option": arg.option, "path": ws.whole(path), "bytes": os.fstat(fd).st_size}
        for (arg, _, path), fd in zip(call.reads, ws.fds, strict=True)
    ]
    if not received and not returned:
        return
    body = {
        "command": call.key,
        "received": received,
        "returned": [
            {
                "option": "--" + r.dest,
                "path": ws.whole(r.shown),
                "bytes": r.size,
                "sha256": r.sha256,
            }
            for r in returned
        ],
    }
    Ledger(layout, user).append(EntryKind.SERVICE_FILES, body)


def as_output_files(returned: list[Returned]) -> list[OutputFile]:
    return [OutputFile(dest=r.dest, name=r.name, size=r.size) for r in returned]


def _memfd_name(path: str) -> str:
    return (os.path.basename(path) or "input")[:200]
