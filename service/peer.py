"""Who is on the other end of a Unix socket: the kernel's word (SO_PEERCRED), taken when
the caller connected, so no argument, variable or file of theirs can change it."""

from __future__ import annotations

import pwd
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # pid, uid, gid


class UnknownPeer(RuntimeError):
    """The caller's uid has no user name: no roles can be looked up for it."""

    def __init__(self, uid: int) -> None:
        super().__init__(f"uid {uid} has no user name; no roles can be looked up")
        self.uid = uid


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    name: str


def peer_of(conn: socket.socket) -> Peer:
    pid, uid, gid = _UCRED.unpack(
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise UnknownPeer(uid) from None
    return Peer(pid, uid, gid, name)
