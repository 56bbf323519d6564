"""The messages between the CLI and the query service, and how they travel.

Each message is one frame: a 4-byte big-endian length, then that many bytes of UTF-8
JSON, validated by pydantic on arrival. File contents never go inside the JSON: input
files follow a `ready` answer as raw bytes of their declared sizes, output files follow
the `response`. A conversation is one call:

    client → request (argv, cwd, the input files' sizes)
    service → response (refused or done)          if nothing needs sending, or
    service → ready; client → the input files' bytes; service → response
    service → the output files' bytes (as the response lists them)
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
_LENGTH = struct.Struct(">I")
MAX_REQUEST = 1 << 20  # a request's JSON (argv, names): an SQL statement fits many times
MAX_RESPONSE = 1 << 30  # what a client accepts: stdout of a large result, with the JSON


class ProtocolError(RuntimeError):
    """A frame was too large, malformed, cut short or too slow."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputFile(_Message):
    """A file the command reads, sent by the caller (who could open it)."""

    dest: str = Field(max_length=64)  # the argument's name (`share`, `aliases`, `paths`)
    index: int = Field(ge=0, lt=256)  # its place in a repeated option
    path: str = Field(max_length=4096)  # as the caller named it (for messages only)
    size: int = Field(ge=0)


class Request(_Message):
    type: Literal["request"] = "request"
    version: Literal[1] = VERSION
    argv: list[Annotated[str, Field(max_length=1 << 18)]] = Field(max_length=512)
    cwd: str = Field(max_length=4096)
    inputs: list[InputFile] = Field(default_factory=list, max_length=256)


class Ready(_Message):
    type: Literal["ready"] = "ready"


class OutputFile(_Message):
    """A file the command wrote, for the caller to write where they asked."""

    dest: str = Field(max_length=64)
    name: str = Field(max_length=255, pattern=r"^[^/\x00]+$")  # a file name, never a path
    size: int = Field(ge=0)


class Response(_Message):
    type: Literal["response"] = "response"
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    outputs: list[OutputFile] = Field(default_factory=list)


Message = Annotated[Request | Ready | Response, Field(discriminator="type")]
_MESSAGE: TypeAdapter[Request | Ready | Response] = TypeAdapter(Message)


def send(sock: socket.socket, message: _Message) -> None:
    data = message.model_dump_json().encode("utf-8")
    sock.sendall(_LENGTH.pack(len(data)) + data)


def receive(sock: socket.socket, limit: int, deadline: float) -> Request | Ready | Response:
    (length,) = _LENGTH.unpack(receive_exactly(sock, _LENGTH.size, deadline))
    if length > limit:
        raise ProtocolError(f"message of {length} bytes is over the limit of {limit}")
    data = receive_exactly(sock, length, deadline)
    try:
        return _MESSAGE.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"malformed message ({where}: {first['msg']})") from None


def receive_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = _recv_into(sock, view[got:], deadline)
        got += n
    return bytes(buf)


def receive_chunks(
    sock: socket.socket, size: int, deadline: float, chunk: int = 1 << 20
) -> Iterator[bytes]:
    """Yield exactly `size` bytes in chunks (for file contents)."""
    buf = bytearray(min(chunk, max(size, 1)))
    left = size
    while left > 0:
        view = memoryview(buf)[: min(len(buf), left)]
        n = _recv_into(sock, view, deadline)
        left -= n
        yield bytes(view[:n])


def _recv_into(sock: socket.socket, view: memoryview, deadline: float) -> int:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProtocolError("the other side was too slow; call abandoned")
    sock.settimeout(remaining)
    try:
        n = sock.recv_into(view)
    except TimeoutError:
        raise ProtocolError("the other side was too slow; call abandoned") from None
    if n == 0:
        raise ProtocolError("connection closed in the middle of a message")
    return n
