"""Byte-level toolkit of the syslog parsers: numpy reads fields straight from a batch's bytes.

Firewall logs come by the gigabyte: neither a Python loop per line nor RE2 capture groups
(several ns per matched byte) are affordable. Instead numpy loads the bytes of every row at a
position as one uint64, eight bytes at a time (SWAR: SIMD within a register, first byte in the
lowest bits), and bit tricks flag the bytes of interest in all rows at once. `LineBatch` hands
out a batch in chunks small enough for the CPU caches, `Lines` is one chunk's bytes,
`substrings` copies spans out of them as a string column (`Strings` joins a column's chunks),
and `ip_like` checks addresses with a DFA instead of a regex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# --- SWAR helpers: uint64 words holding 8 bytes, first byte in the lowest bits -------------------
U = np.uint64
_ONES, _HIGH, _LOW7 = U(0x0101010101010101), U(0x8080808080808080), U(0x7F7F7F7F7F7F7F7F)


def nonzero_bytes(y: np.ndarray) -> np.ndarray:
    """High bit set in every nonzero byte of each word."""
    return (((y & _LOW7) + _LOW7) | y) & _HIGH


def equal_bytes(x: np.ndarray, byte: int) -> np.ndarray:
    """High bit set in every byte equal to `byte`."""
    return ~nonzero_bytes(x ^ (_ONES * U(byte))) & _HIGH


def non_digits(x: np.ndarray) -> np.ndarray:
    """High bit set in every byte that is not an ASCII digit."""
    low = x & _LOW7
    return (
        (x & _HIGH)
        | ((low + U(0x4646464646464646)) & _HIGH)
        | (~(low + U(0x5050505050505050)) & _HIGH)
    )


def spaces(x: np.ndarray) -> np.ndarray:
    return equal_bytes(x, 32)


def non_spaces(x: np.ndarray) -> np.ndarray:
    return ~equal_bytes(x, 32) & _HIGH


def pattern(*lanes: str) -> tuple[np.uint64, np.uint64]:
    """Byte classes for `outside`, one per byte from the first: "a-z" or a single character."""
    lo = hi = 0
    for k, lane in enumerate(lanes):
        lo |= ord(lane[0]) << (8 * k)
        hi |= ord(lane[-1]) << (8 * k)
    # per byte 0x80 - lo and 0x7F - hi: added to a 7-bit byte they carry into its high bit
    # exactly when the byte is >= lo, or > hi (and never into the next byte)
    return _HIGH - U(lo), _LOW7 - U(hi)


def outside(x: np.ndarray, classes: tuple) -> np.ndarray:
    """High bit set in every byte outside its class (bytes past the pattern's end: unless 0)."""
    low = x & _LOW7
    return (x | ~(low + classes[0]) | (low + classes[1])) & _HIGH


def first_flag(flags: np.ndarray) -> np.ndarray:
    """Index (0-7) of the first flagged byte of each word, 8 when none is."""
    # numpy has no count-trailing-zeros: count the bits below the lowest flag instead
    return (np.bitwise_count((flags & -flags) - U(1)) >> 3).astype(np.int64)


def byte_at(x: np.ndarray, k) -> np.ndarray:
    return ((x >> (U(8) * np.asarray(k, np.uint64))) & U(255)).astype(np.int64)


def digits2(x: np.ndarray, k: int) -> np.ndarray:
    """The two-digit number at bytes k and k+1 of each word (digits assumed)."""
    return (byte_at(x, k) - 48) * 10 + byte_at(x, k + 1) - 48


def bytes_below(count: np.ndarray) -> np.ndarray:
    """Words with all bits set in their first `count` bytes (uint64 counts; 8 or more: all)."""
    return ~(~U(0) << (count << U(3)))  # numpy shifts by 64 or more give 0


@dataclass(frozen=True)
class Lines:
    """The bytes of some lines, copied into 8-byte-aligned words with zeros after the last.

    Row i is data[start[i]:end[i]] (a trailing CR/LF excluded); `valid` is False for nulls.
    """

    words: np.ndarray
    size: int
    start: np.ndarray
    end: np.ndarray
    valid: np.ndarray

    @property
    def n(self) -> int:
        return len(self.start)

    @property
    def data(self) -> np.ndarray:
        return self.words.view(np.uint8)[: self.size]

    def load(self, pos: np.ndarray) -> np.ndarray:
        """The 8 bytes from each position as a uint64 (zeros outside the data)."""
        unaligned = np.ndarray((self.size + 1,), "<u8", self.words, 0, (1,))
        return unaligned[self._inside(pos)]

    def byte(self, pos: np.ndarray) -> np.ndarray:
        """The byte at each position as uint8 (0 outside the data): cheaper than a load."""
        return self.words.view(np.uint8)[self._inside(pos)]

    def _inside(self, pos: np.ndarray) -> np.ndarray:
        """Positions outside [0, size] moved to size, where only zeros follow."""
        # negative positions wrap around to huge unsigned ones: one np.minimum clips both ends
        return np.minimum(np.asarray(pos, np.int64).view(np.uint64), U(self.size))

    def scan(self, pos: np.ndarray, limit: np.ndarray, stop: Callable, first=None) -> np.ndarray:
        """Position of the first byte at or after `pos` that `stop` flags, or `limit`.

        `first` may pass `load(pos)` when the caller has it already."""
        idx = first_flag(stop(self.load(pos) if first is None else first))
        found = np.minimum(pos + idx, limit)
        going = (idx == 8) & (pos + 8 < limit)  # rows that read on, 8 bytes at a time
        at = pos + 8
        while np.count_nonzero(going) > len(pos) // 4:  # most rows: read on in all of them
            idx = first_flag(stop(self.load(at)))
            found = np.where(going, np.minimum(at + idx, limit), found)
            going &= (idx == 8) & (at + 8 < limit)
            at += 8
        rows = np.flatnonzero(going)  # a few rows: read on in just those
        at = at[rows]
        while len(rows):
            lim = limit[rows]
            idx = first_flag(stop(self.load(at)))
            found[rows] = np.minimum(at + idx, lim)
            more = np.flatnonzero((idx == 8) & (at + 8 < lim))
            rows, at = rows[more], at[more] + 8
        return found


class LineBatch:
    """A batch of lines (a string array) to be parsed chunk by chunk.

    `chunk` copies a chunk's bytes into one reused buffer, so each chunk is parsed while its
    bytes sit in the CPU caches and no memory is allocated per chunk.
    """

    def __init__(self, lines: pa.Array) -> None:
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        if not pa.types.is_large_string(lines.type):
            lines = lines.cast(pa.string())
        self.n = n = len(lines)
        off_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
        bufs = lines.buffers()
        offs = np.frombuffer(bufs[1], off_type, n + 1, lines.offset * off_type().itemsize)
        self.offsets = offs.astype(np.int64)
        empty = n == 0 or self.offsets[-1] == self.offsets[0]
        self.bytes = np.zeros(0, np.uint8) if empty else np.frombuffer(bufs[2], np.uint8)
        self.valid = np.ones(n, bool) if lines.null_count == 0 else lines.is_valid().to_numpy(False)
        self._words = np.zeros(0, np.uint64)

    def chunk(self, lo: int, hi: int) -> Lines:
        """Rows [lo, hi) with their bytes in the shared buffer (valid until the next call)."""
        offs = self.offsets[lo : hi + 1]
        base, top = int(offs[0]), int(offs[-1])
        size = top - base
        if len(self._words) < size // 8 + 3:
            self._words = np.zeros(size // 8 + 3, np.uint64)
        words = self._words[: size // 8 + 3]
        words[size // 8 :] = 0  # the 16+ bytes after the last line read as zeros
        words.view(np.uint8)[:size] = self.bytes[base:top]
        start, end = offs[:-1] - base, offs[1:] - base
        raw = Lines(words, size, start, end, self.valid[lo:hi])
        for _ in range(2):  # drop a trailing "\n" and "\r"
            last = raw.byte(end - 1)
            end = end - ((end > start) & ((last == 10) | (last == 13)))
        return Lines(words, size, start, end, self.valid[lo:hi])


def line_bytes(lines: pa.Array) -> Lines:
    """All rows of a string array as one `Lines` (with a buffer of its own)."""
    return LineBatch(lines).chunk(0, len(lines))


def substrings(lines: Lines, start, length, valid, words=(), edit: Callable | None = None):
    """A StringArray of the byte spans [start, start + length) of `lines`, null where not
    `valid`. `words` may pass the first 8 (or 16) bytes of each span, when loaded already.

    Built as an Arrow string_view array pointing into the lines' bytes (values of up to 12
    bytes held in the views themselves, which `edit` may change in place), then cast to a
    plain string array. Spans begin and end at ASCII delimiters, so the result is valid UTF-8
    whenever the input was.
    """
    if lines.size > _INT32:  # a view's length is an int32
        length = np.minimum(length, _INT32)
    size = np.where(valid, length, 0).astype(np.uint64)
    head = (words[0] if words else lines.load(start)) & bytes_below(size)
    views = np.empty((len(start), 2), np.uint64)
    views[:, 0] = size | (head << U(32))  # length, first 4 bytes
    views[:, 1] = np.where(size > 12, _locations(lines, start), head >> U(32))
    mid = np.flatnonzero(size - U(9) < U(4))  # 9-12 bytes: the only ones with bytes 8-11 inline
    tail = words[1][mid] if len(words) > 1 else lines.load(start[mid] + 8)
    views[mid, 1] |= (tail & bytes_below(size[mid] - U(8))) << U(32)
    if edit is not None:
        edit(views)
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = [validity, pa.py_buffer(views), *_windows(lines)]
    return pa.Array.from_buffers(pa.string_view(), len(start), buffers).cast(pa.string())


_INT32 = 2**31 - 1  # a view's length and offset are int32s: bigger buffers go in windows
_WINDOW = 1 << 30


def _locations(lines: Lines, start: np.ndarray) -> np.ndarray:
    """Where long values are: buffer index | offset << 32 (see _windows)."""
    at = start.astype(np.uint64)
    if lines.size <= _INT32:
        return at << U(32)
    window = at // U(_WINDOW)
    return window | ((at - window * U(_WINDOW)) << U(32))


def _windows(lines: Lines) -> list[pa.Buffer]:
    """The lines' bytes as one buffer, or over 2 GiB as overlapping 2 GiB windows, one every
    GiB, so any value under 1 GiB lies in one of them."""
    data = pa.py_buffer(lines.data)
    if lines.size <= _INT32:
        return [data]
    return [data.slice(s, min(2 * _WINDOW, lines.size - s)) for s in range(0, lines.size, _WINDOW)]


class Strings:
    """A string column built chunk by chunk: each chunk's values are copied out while its
    bytes are in the CPU caches (see `substrings`), and the parts joined at the end."""

    def __init__(self) -> None:
        self.parts: list[pa.Array] = []

    def put(self, lines: Lines, start, length, valid, words=(), edit=None) -> None:
        self.parts.append(substrings(lines, start, length, valid, words, edit))

    def array(self) -> pa.Array | pa.ChunkedArray:
        """One array (chunked only if its text would overflow a StringArray's offsets)."""
        if sum(part.nbytes for part in self.parts) > _INT32:
            return pa.chunked_array(self.parts, pa.string())
        if len(self.parts) == 1:
            return self.parts[0]
        return pa.concat_arrays(self.parts) if self.parts else pa.array([], pa.string())


def _swar_value(x: np.ndarray, run: np.ndarray) -> np.ndarray:
    """The number written by the first `run` (0-8) ASCII digits of each word."""
    d = (x - U(0x3030303030303030)) << (U(8) * (8 - np.maximum(run, 1)).astype(np.uint64))
    d = (d * U(10) + (d >> U(8))) & U(0x00FF00FF00FF00FF)
    d = (d * U(100) + (d >> U(16))) & U(0x0000FFFF0000FFFF)
    d = (d * U(10000) + (d >> U(32))) & U(0xFFFFFFFF)
    return np.where(run > 0, d.astype(np.int64), 0)


def numbers(lines: Lines, start: np.ndarray, end: np.ndarray, max_digits: int):
    """Decode the unsigned decimal number at each position: (values int64, invalid, too long).

    The digits must run to a space or to `end` (the line's end): no digits, or another
    character after them, is invalid; more than `max_digits` digits is too long.
    """
    x = lines.load(start)
    run = first_flag(non_digits(x) | _beyond(end - start))
    value = _swar_value(x, run)
    after = byte_at(x, np.minimum(run, 7))
    count = run
    long = np.flatnonzero(run == 8)  # 8 digits so far: read the next word (rare)
    if len(long):
        x2 = lines.load(start[long] + 8)
        run2 = first_flag(non_digits(x2) | _beyond(end[long] - start[long] - 8))
        value[long] = value[long] * 10**run2 + _swar_value(x2, run2)
        after[long] = np.where(run2 < 8, byte_at(x2, np.minimum(run2, 7)), 0)
        count = run.copy()
        count[long] += run2
    too_long = count > max_digits
    invalid = (count == 0) | ~(too_long | (start + count >= end) | (after == 32))
    return value, invalid, too_long


def _beyond(room: np.ndarray) -> np.ndarray:
    """Flags for the bytes of a word at index >= room (past the end of the line)."""
    return _HIGH << (U(8) * np.clip(room, 0, 8).astype(np.uint64))  # << 64 gives 0


def int_array(values: np.ndarray, present: np.ndarray, typ: pa.DataType) -> pa.Array:
    if not present.any():
        return pa.nulls(len(present), typ)
    return pa.array(np.where(present, values, 0), typ, mask=~present)


# --- Address check: a DFA over the bytes, in place of RE2 ---------------------------------------
# The regex it replaces (RE2 costs more per value than the whole DFA does):
#   ^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$
#   |^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){0,3}[0-9A-Fa-f]*$
# The second alternative holds exactly when there is a ':', only [0-9A-Fa-f:] come before the
# last one, and after it come hex digits and at most 3 dots, the first dot after a digit and
# the parts between dots octets. The DFA's states, as tuples:
#   ("v4", dots, octet)   all digits and dots so far: an IPv4 address, or the start of an IPv6
#   ("hex",)              a hex letter (or a too long number) before any ':'
#   ("v6", dots, octet, digit)  after a ':' (digit: the last character was one; dots: after it)
# `octet` tracks the octet grammar: "" nothing yet, "A" 0 or 3-9 (one more digit allowed), "B" 1
# (two more), "T" 2, "C" one more digit, "C5" one more in 0-5, "F" full; None: not an octet.
_DIGITS = "0123456789"
_OCTET = {
    "": dict.fromkeys("03456789", "A") | {"1": "B", "2": "T"},
    "A": dict.fromkeys(_DIGITS, "F"),
    "B": dict.fromkeys(_DIGITS, "C"),
    "T": dict.fromkeys("01234", "C") | {"5": "C5"} | dict.fromkeys("6789", "F"),
    "C": dict.fromkeys(_DIGITS, "F"),
    "C5": dict.fromkeys("012345", "F"),
    "F": {},
    None: {},
}
_HEX_LETTERS = "abcdefABCDEF"
_V6_START = ("v6", 0, None, False)
_END = 0xFF  # stands for the bytes past a value's end: 0xFF never occurs in UTF-8


def _ip_step(state: tuple, c: str) -> tuple | None:
    """The state after character `c`; None when the value can no longer match."""
    kind, *rest = state
    if kind == "v4":
        dots, octet = rest
        if c in _DIGITS:
            if c in _OCTET[octet]:
                return ("v4", dots, _OCTET[octet][c])
            return None if dots else ("hex",)  # too long for an octet: IPv6 only
        if c in _HEX_LETTERS:
            return None if dots else ("hex",)
        if c == ":":
            return None if dots else _V6_START
        return ("v4", dots + 1, "") if c == "." and octet and dots < 3 else None
    if kind == "hex":
        if c in _DIGITS or c in _HEX_LETTERS:
            return state
        return _V6_START if c == ":" else None
    dots, octet, digit = rest
    if c in _DIGITS or c in _HEX_LETTERS:
        if dots == 0:  # before the first dot only "was it a digit" matters
            return ("v6", 0, None, c in _DIGITS)
        return ("v6", dots, _OCTET[octet].get(c), False)
    if c == ":":
        return _V6_START if dots == 0 else None
    if c == "." and dots < 3 and (digit if dots == 0 else octet not in ("", None)):
        return ("v6", dots + 1, "", False)
    return None


def _ip_accepts(state: tuple) -> bool:
    return state[0] == "v6" or (state[0] == "v4" and state[1] == 3 and state[2] != "")


def _ip_dfa() -> tuple[np.ndarray, int, int, int]:
    """(table, start, accept, reject): table[state + byte] is the next state, the states being
    multiples of 256. A value ends with the byte _END, which leads to accept or reject."""
    start = ("v4", 0, "")
    states = {"reject": 0, "accept": 1, start: 2}
    table = np.zeros((64, 256), np.int64)  # all to reject (64 states fit an int16 table)
    table[1, _END] = 1
    todo = [start]
    while todo:
        state = todo.pop()
        row = table[states[state]]
        row[_END] = states["accept" if _ip_accepts(state) else "reject"]
        for c in range(128):
            after = _ip_step(state, chr(c))
            if after is not None:
                if after not in states:
                    states[after] = len(states)
                    todo.append(after)
                row[c] = states[after]
    return (table[: len(states)] * 256).ravel().astype(np.int16), 2 * 256, 1 * 256, 0


_IP_DFA, _IP_START, _IP_ACCEPT, _IP_REJECT = _ip_dfa()


def ip_like(lines: Lines, start: np.ndarray, length: np.ndarray, words=()) -> np.ndarray:
    """Whether each span [start, start + length) is an IPv4 or IPv6 address as the regex above
    says, running the DFA on all rows at once, 8 bytes at a time. An empty span is not.
    `words` may pass the first 8 (or 16) bytes of each span, when loaded already."""
    state = np.full(len(start), _IP_START, np.int16)  # int16: the quickest gathers
    rows: slice | np.ndarray = slice(None)  # all rows, then those not decided yet
    done = 0
    while True:
        k = done // 8
        x = words[k][rows] if k < len(words) else lines.load(start[rows] + done)
        room = np.maximum(length[rows] - done, 0).astype(np.uint64)
        x = x | ~bytes_below(room)  # _END past the end
        columns = np.ascontiguousarray(x.view(np.uint8).reshape(-1, 8).T)  # byte j of each
        s = state[rows]
        for column in columns:
            s = _IP_DFA.take(s + column)
        state[rows] = s
        done += 8
        undecided = (length[rows] >= done) & (s != _IP_REJECT)  # its end not read yet
        rows = np.flatnonzero(undecided) if isinstance(rows, slice) else rows[undecided]
        if not len(rows):
            return state == _IP_ACCEPT


def is_ip(values: pa.Array) -> np.ndarray:
    """Whether each string is an IPv4 or IPv6 address (False for null)."""
    batch = LineBatch(values)
    lines = batch.chunk(0, batch.n)
    return ip_like(lines, lines.start, np.where(lines.valid, np.diff(batch.offsets), 0))
