"""Who is calling, as the ledger must record it: in direct mode the CLI's own user (or
`--as`), through the query service the OS user the kernel names for the socket's peer.

The service runs each call in its own thread; a context variable carries that call's
caller to every `Ledger` and `default_actor()` the handlers create, so no handler needs
to know whether it runs directly or for a socket peer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

DIRECT, SOCKET = "direct", "socket"


@dataclass(frozen=True)
class Caller:
    name: str  # the authenticated OS user name
    mode: str = SOCKET
    appended: list[int] = field(default_factory=list)  # seqs the call has ledgered


_CALLER: ContextVar[Caller | None] = ContextVar("loggvern_caller", default=None)


@contextmanager
def calling_as(caller: Caller) -> Iterator[Caller]:
    token = _CALLER.set(caller)
    try:
        yield caller
    finally:
        _CALLER.reset(token)


def current_caller() -> Caller | None:
    return _CALLER.get()
