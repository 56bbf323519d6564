"""Vectorised key=value tokenising for the firewall parsers (FortiGate, CEF) and the value
spans they share with PAN-OS CSV fields.

A regex per key costs a pass over the whole batch per key (~0.1 s per 200k FortiGate lines
each). Instead the tokeniser walks all lines of a batch at once, one token per step: numpy
finds every row's next `=` or space eight bytes at a time (the SWAR helpers of line_bytes),
reads the value to the next space or, when quoted, to its closing quote, and recognises the
key by its bytes through a small perfect-hash table. Only wanted keys are kept, as byte spans
(`Fields`); strings, numbers and addresses are copied out of the spans once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.line_bytes import (
    Lines,
    U,
    bytes_below,
    equal_bytes,
    first_flag,
    ip_like,
    non_spaces,
    numbers,
    spaces,
    substrings,
)

MAX_TOKENS = 1024  # a line with more tokens is rejected (no firewall writes that many)
ROW_STEP = 8192  # rows walked together: keeps the working set in the CPU caches
_BACKSLASH = 92
_NOT_APPLICABLE = int.from_bytes(b"N/A", "little")


class KeyTable:
    """Wanted keys (1-32 bytes) recognised from their bytes by a perfect hash."""

    BITS = 10
    WORDS = 4

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        encoded = [k.encode() for k in self.keys]
        if any(not 0 < len(k) <= 8 * self.WORDS for k in encoded) or len(set(encoded)) != len(
            encoded
        ):
            raise ValueError("keys must be distinct and 1-32 bytes long")
        words = [
            [int.from_bytes(k[8 * j : 8 * j + 8], "little") for j in range(self.WORDS)]
            for k in encoded
        ]
        mix = [_mix(w, len(k)) for w, k in zip(words, encoded, strict=True)]
        self.mul = next(
            m
            for m in range(0x9E3779B97F4A7C15, 1 << 64, 2)
            if len({(h * m % (1 << 64)) >> (64 - self.BITS) for h in mix}) == len(mix)
        )
        size = 1 << self.BITS
        self.words = np.zeros((self.WORDS, size), np.uint64)
        self.length, self.ids = np.zeros(size, np.int64), np.full(size, -1, np.int64)
        for i, (w, h) in enumerate(zip(words, mix, strict=True)):
            slot = (h * self.mul % (1 << 64)) >> (64 - self.BITS)
            self.words[:, slot], self.ids[slot] = w, i
            self.length[slot] = len(encoded[i])

    def lookup(self, raw: Lines, start: np.ndarray, end: np.ndarray, first=None) -> np.ndarray:
        """Key number of each span [start, end), -1 when it is no wanted key. `first` may pass
        the 8 bytes at `start`, when loaded already."""
        length = end - start
        fits = (length > 0) & (length <= 8 * self.WORDS)
        size = np.where(fits, length, 0).astype(np.uint64)
        w0 = (raw.load(start) if first is None else first) & bytes_below(size)
        h = w0 ^ (size * U(_LEN_MUL))
        rest = np.flatnonzero(size > U(8))  # most keys fit in one word: load more only for these
        more = np.zeros((self.WORDS - 1, len(start)), np.uint64)
        for j in range(1, self.WORDS):
            below = np.maximum(size[rest], U(8 * j)) - U(8 * j)
            more[j - 1, rest] = raw.load(start[rest] + 8 * j) & bytes_below(below)
            h ^= more[j - 1] * U(_WORD_MUL[j])
        slot = ((h * U(self.mul)) >> U(64 - self.BITS)).astype(np.intp)
        hit = fits & (self.words[0, slot] == w0) & (self.length[slot] == length)
        for j in range(1, self.WORDS):
            hit &= self.words[j, slot] == more[j - 1]
        return np.where(hit, self.ids[slot], -1)


_LEN_MUL = 0x165667B19E3779F9
_WORD_MUL = (1, 0xC2B2AE3D27D4EB4F, 0x27D4EB2F165667C5, 0x94D049BB133111EB)


def _mix(words: list[int], length: int) -> int:
    m = 1 << 64
    h = words[0] ^ (length * _LEN_MUL % m)
    for j in range(1, len(words)):
        h ^= words[j] * _WORD_MUL[j] % m
    return h


Unescape = Callable[[pa.Array], pa.Array]


def backslash_unescape(values: pa.Array) -> pa.Array:
    """`\\"` -> `"` and `\\\\` -> `\\` (FortiGate's quoted values)."""
    return pc.replace_substring_regex(values, r'\\(["\\])', r"\1")


@dataclass
class Fields:
    """Value spans of named fields in every row: start and end (-1: absent), and whether the
    value was quoted (only quoted values are unescaped)."""

    raw: Lines
    names: dict[str, int]
    start: np.ndarray  # (fields, rows)
    end: np.ndarray
    quoted: np.ndarray
    unescape: Unescape | None = backslash_unescape
    escape_byte: int = _BACKSLASH

    def present(self, name: str) -> np.ndarray:
        return self.start[self.names[name]] >= 0

    def span(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(present and non-empty, start, length) of a field."""
        i = self.names[name]
        start, end = self.start[i], self.end[i]
        length = np.maximum(end - start, 0)
        return (start >= 0) & (length > 0), np.maximum(start, 0), length

    def text(self, name: str) -> pa.Array:
        """The field as strings: null when absent or empty."""
        valid, start, length = self.span(name)
        values = substrings(self.raw, start, length, valid)
        if self.unescape is None:
            return values
        quoted = self.quoted[self.names[name]] & valid
        if not quoted.any():
            return values
        escaped = quoted & _holds(self.raw, start, length, self.escape_byte)
        if not escaped.any():
            return values
        return pc.if_else(pa.array(escaped), self.unescape(values), values)

    def number(self, name: str, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values, valid, malformed): unsigned decimals up to `limit`."""
        valid, start, length = self.span(name)
        value = np.zeros(len(start), np.int64)
        bad = np.zeros(len(start), bool)
        rows = np.flatnonzero(valid)
        if len(rows):
            v, invalid, too_long = numbers(
                self.raw, start[rows], start[rows] + length[rows], len(str(limit))
            )
            value[rows] = v
            bad[rows] = invalid | too_long | (v > limit)
        return value, valid & ~bad, bad

    def address(self, name: str) -> tuple[pa.Array, np.ndarray]:
        """(addresses, malformed): a value that is not an IPv4/IPv6 address is null; `N/A`
        (FortiGate's word for none) is no address and not malformed either."""
        valid, start, length = self.span(name)
        ok = valid & ip_like(self.raw, start, np.where(valid, length, 0))
        none = (length == 3) & ((self.raw.load(start) & U(0xFFFFFF)) == _NOT_APPLICABLE)
        return substrings(self.raw, start, length, ok), valid & ~ok & ~none


_NEAR = 512  # bytes every row reads on together; the rare rows with more finish on their own


def scan(raw: Lines, pos: np.ndarray, limit: np.ndarray, stop: Callable) -> np.ndarray:
    """Lines.scan, but a row that reads on past _NEAR bytes finishes with one numpy pass over
    its remaining bytes (a megabyte-long value takes one step, not 125,000)."""
    pos = np.asarray(pos, np.int64)
    near = np.minimum(limit, pos + _NEAR)
    found = raw.scan(pos, near, stop)
    for row in np.flatnonzero((found == near) & (near < limit)):
        found[row] = _far(raw, int(near[row]), int(limit[row]), stop)
    return found


def _far(raw: Lines, at: int, limit: int, stop: Callable) -> int:
    """Position of the first byte in [at, limit) that `stop` flags, or `limit`."""
    count = (limit - at + 7) // 8
    words = np.ndarray((count,), "<u8", raw.words, at, (8,))  # 8-byte steps from `at`
    flagged = np.flatnonzero(stop(words))
    if not len(flagged):
        return limit
    first = int(flagged[0])
    return min(at + 8 * first + int(first_flag(stop(words[first : first + 1]))[0]), limit)


def _first(raw: Lines, pos, limit, word, stop: Callable) -> np.ndarray:
    """`scan` when the first 8 bytes at `pos` are loaded already: only rows without a flagged
    byte among them read on."""
    idx = first_flag(stop(word))
    found = np.minimum(pos + idx, limit)
    on = np.flatnonzero((idx == 8) & (pos + 8 < limit))
    if len(on):
        found[on] = scan(raw, pos[on] + 8, limit[on], stop)
    return found


def _holds(raw: Lines, start: np.ndarray, length: np.ndarray, byte: int) -> np.ndarray:
    """Whether each span contains `byte` (spans are short: read 8 bytes at a time)."""
    end = start + length
    found = scan(raw, start, end, lambda x: equal_bytes(x, byte))
    return found < end


def _eq_or_space(x: np.ndarray) -> np.ndarray:
    return equal_bytes(x, 61) | spaces(x)


@dataclass
class Tokens:
    """What a tokeniser found: the wanted fields and the rows it could not read."""

    fields: Fields
    unterminated: np.ndarray  # a quoted value without its closing quote
    too_many: np.ndarray  # more than MAX_TOKENS tokens


def quoted_pairs(raw: Lines, body: np.ndarray, keys: KeyTable) -> Tokens:
    """`key=value key="quoted value" ...` from `body` on, in every row: tokens without '='
    (a syslog header's words) are skipped, a value in double quotes may hold spaces, '=' and
    backslash-escaped quotes; the first occurrence of a key wins."""
    n, k = raw.n, len(keys.keys)
    start, end = np.full((k, n), -1, np.int64), np.full((k, n), -1, np.int64)
    quoted = np.zeros((k, n), bool)
    unterminated, too_many = np.zeros(n, bool), np.zeros(n, bool)
    for lo in range(0, n, ROW_STEP):
        rows = np.arange(lo, min(lo + ROW_STEP, n))
        cur = body[rows]
        keep = (cur < raw.end[rows]) & raw.valid[rows]
        rows, cur = rows[keep], cur[keep]
        steps = 0
        while len(rows):
            steps += 1
            if steps > MAX_TOKENS:
                too_many[rows] = True
                break
            lim = raw.end[rows]
            x = raw.load(cur)  # the token's first 8 bytes: the key's end and bytes, mostly
            lead = np.flatnonzero((x & U(255)) == 32)  # runs of spaces
            if len(lead):
                cur[lead] = scan(raw, cur[lead], lim[lead], non_spaces)
                x[lead] = raw.load(cur[lead])
            stop = _first(raw, cur, lim, x, _eq_or_space)
            kv = (stop < lim) & (raw.byte(stop) == 61)
            value = stop + 1
            y = raw.load(value)
            q = kv & (value < lim) & ((y & U(255)) == 34)
            after = _first(raw, value, lim, y, spaces)  # bare value end; the next token
            v_start, v_end = np.where(q, value + 1, value), after.copy()
            if q.any():
                at = np.flatnonzero(q)
                close, open_ = unescaped(raw, value[at] + 1, lim[at])
                unterminated[rows[at[open_]]] = True
                v_end[at] = close  # the line's end when unterminated: never inside a character
                after[at] = np.minimum(close + 1, lim[at])
            ids = keys.lookup(raw, cur, np.where(kv, stop, cur), x)
            hit = np.flatnonzero(ids >= 0)
            key, row = ids[hit], rows[hit]
            fresh = start[key, row] < 0  # the first occurrence wins
            key, row, hit = key[fresh], row[fresh], hit[fresh]
            start[key, row], end[key, row] = v_start[hit], v_end[hit]
            quoted[key, row] = q[hit]
            cur = np.where(kv, after, stop)
            cur = cur + (raw.byte(cur) == 32)
            more = cur < lim
            rows, cur = rows[more], cur[more]
    fields = Fields(raw, {name: i for i, name in enumerate(keys.keys)}, start, end, quoted)
    return Tokens(fields, unterminated, too_many)


_ESCAPE_ROUNDS = 64


def unescaped(raw: Lines, pos: np.ndarray, limit: np.ndarray, byte: int = 34):
    """(position of the first `byte` at or after each `pos` that no odd run of backslashes
    escapes, or `limit`; whether none was found). Lines that need more than _ESCAPE_ROUNDS
    rounds count as not found (bounded work on hostile input)."""

    def stop(x: np.ndarray) -> np.ndarray:
        return equal_bytes(x, byte)

    close = scan(raw, pos, limit, stop)
    missing = close >= limit
    todo = np.flatnonzero(~missing & (raw.byte(close - 1) == _BACKSLASH))
    for _ in range(_ESCAPE_ROUNDS):
        if not len(todo):
            return close, missing
        at = close[todo]
        run = _backslash_run(raw, at, pos[todo])
        escaped = (run % 2) == 1
        todo = todo[escaped]
        close[todo] = scan(raw, close[todo] + 1, limit[todo], stop)
        missing[todo] = close[todo] >= limit[todo]
        todo = todo[~missing[todo] & (raw.byte(close[todo] - 1) == _BACKSLASH)]
    missing[todo] = True
    close[todo] = limit[todo]
    return close, missing


def _backslash_run(raw: Lines, at: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """How many backslashes come right before each position (not before `floor`), counted
    up to 64 (a longer run counts as 64: even)."""
    run = np.zeros(len(at), np.int64)
    going = np.arange(len(at))
    for _ in range(64):
        if not len(going):
            break
        p = at[going] - run[going] - 1
        more = (p >= floor[going]) & (raw.byte(p) == _BACKSLASH)
        run[going[more]] += 1
        going = going[more]
    return run
