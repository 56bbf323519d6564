"""The append-only audit ledger: `STORE/ledger/ledger.jsonl`, one entry per line.

Each append takes an exclusive lock, reads the last entry (its seq and hash), writes the
new line with a single `write` and fsyncs it. A torn last line left by a crash is cut
on the next append and the cut itself becomes the next entry, so crash recovery never
looks like (or hides) truncation. After every command a checkpoint entry signs the
entry before it and `head.json` signs the checkpoint: the latest signed head.

Fail closed: if an entry cannot be written, `LedgerError` is raised and the caller
must not run, return or write anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from store.caller import DIRECT, current_caller
from store.durable import fsync_dir
from store.layout import StoreLayout
from store.ledger_entry import EntryKind, LedgerEntry, line_seq_hash, now, parse_line, seal
from store.signing import Head, Signer, SigningKeyError, load_signer

LEDGER_FILE = "ledger.jsonl"
HEAD_FILE = "head.json"
_TAIL_BLOCK = 1 << 16
_HEAD_LOOKBACK = 256  # entries after the signed head that an append still checks


class LedgerError(RuntimeError):
    """The ledger cannot be written or read; the action it would record is refused."""


@dataclass
class Outcome:
    """What an action reports into its result entry (e.g. rows returned)."""

    fields: dict[str, Any] = field(default_factory=dict)
    intent_seq: int | None = None  # the seq of the intent entry this outcome answers


@dataclass(frozen=True)
class _Tail:
    seq: int
    hash: str
    kind: str
    head_seq: int | None = None  # the entry head.json signed when the tail was read


class Ledger:
    def __init__(self, layout: StoreLayout, actor: str, mode: str | None = None) -> None:
        self.layout = layout
        self.path = layout.ledger / LEDGER_FILE
        self.head_path = layout.ledger / HEAD_FILE
        self.caller = current_caller()  # inside a query-service call: the kernel's word
        self.actor = self.caller.name if self.caller else actor
        self.mode = self.caller.mode if self.caller else mode or DIRECT

    # -- writing -------------------------------------------------------------------

    def append(
        self, kind: EntryKind, body: dict[str, Any] | None = None, ref: int | None = None
    ) -> LedgerEntry:
        with self._locked() as fd:
            return self._append(fd, self._tail(fd), kind, body or {}, ref)

    def checkpoint(self) -> Head | None:
        """Sign the ledger's end; nothing to do if the last entry is a checkpoint."""
        signer = self._signer()
        with self._locked() as fd:
            tail = self._tail(fd)
            if tail is None:
                return None
            if tail.kind == EntryKind.CHECKPOINT:
                if tail.head_seq == tail.seq:
                    return None
                stale = signer.sign(tail.seq, tail.hash, now())  # head.json write failed before
                self._write_head(stale)
                return stale
            inner = signer.sign(tail.seq, tail.hash, now())
            entry = self._append(fd, tail, EntryKind.CHECKPOINT, inner.model_dump(), None)
            head = signer.sign(entry.seq, entry.hash, entry.time)
            self._write_head(head)
            return head

    @contextmanager
    def action(
        self, intent: EntryKind, result: EntryKind, body: dict[str, Any]
    ) -> Iterator[Outcome]:
        """Intent before, result after; if the intent cannot be written nothing runs."""
        opened = self.append(intent, body)
        outcome = Outcome(intent_seq=opened.seq)
        try:
            yield outcome
        except BaseException as exc:
            failure = {"outcome": "failed", "error": f"{type(exc).__name__}: {_line(exc)}"}
            with suppress(LedgerError):  # the original error is what the caller must see
                self.append(result, failure, ref=opened.seq)
            raise
        self.append(result, {**outcome.fields, "outcome": "ok"}, ref=opened.seq)

    def _signer(self) -> Signer:
        try:
            return load_signer(self.layout.keys)
        except SigningKeyError as exc:
            raise LedgerError(str(exc)) from None

    @contextmanager
    def _locked(self) -> Iterator[int]:
        try:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot open the ledger ({_reason(exc)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if created:
                fsync_dir(self.path.parent)
            yield fd
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot write the ledger ({_reason(exc)})") from None
        finally:
            os.close(fd)  # releases the lock

    def _append(
        self, fd: int, tail: _Tail | None, kind: EntryKind, body: dict[str, Any], ref: int | None
    ) -> LedgerEntry:
        entry, line = seal(
            LedgerEntry(
                seq=0 if tail is None else tail.seq + 1,
                prev=tail.hash if tail else "0" * 64,
                time=now(),
                kind=kind,
                actor=self.actor,
                mode=self.mode,
                ref=ref,
                body=body,
            )  # fmt: skip
        )
        size = os.fstat(fd).st_size
        written = os.write(fd, line)
        if written != len(line):
            os.ftruncate(fd, size)
            raise LedgerError(f"{self.path}: short write to the ledger; entry not recorded")
        os.fsync(fd)
        if self.caller is not None and kind != EntryKind.CHECKPOINT:
            self.caller.appended.append(entry.seq)
        return entry

    def _tail(self, fd: int) -> _Tail | None:
        """The last complete entry; a torn last line is cut and the cut ledgered.

        The ledger must still hold what its signed head signs: a tail cut below the
        head is tampering, not a crash (head.json is written only after the line it
        signs is fsynced), and appending would re-sign the cut ledger — so refuse."""
        size = os.fstat(fd).st_size
        head = self._current_head()
        window = _read_back(fd, size, need_lines=2) if size else b""
        torn = b"" if window.endswith(b"\n") or not window else window[window.rfind(b"\n") + 1 :]
        tail = _last_entry(fd, size - len(torn), self.path)
        self._check_against_head(fd, size - len(torn), tail, head)
        head_seq = head.seq if head else None
        if not torn:
            return replace(tail, head_seq=head_seq) if tail else None
        os.ftruncate(fd, size - len(torn))
        os.fsync(fd)
        repair = {
            "cut_bytes": len(torn),
            "cut_sha256": hashlib.sha256(torn).hexdigest(),
            "reason": "torn last line (an interrupted write) cut on open",
        }
        entry = self._append(fd, tail, EntryKind.LEDGER_REPAIR, repair, None)
        return _Tail(entry.seq, entry.hash, entry.kind.value, head_seq)

    def _current_head(self) -> Head | None:
        if not self.head_path.exists():
            return None
        return self.head()

    def _check_against_head(self, fd: int, end: int, tail: _Tail | None, head: Head | None) -> None:
        if head is None:
            return
        problem = "run `loggvern audit verify`; nothing was recorded"
        if tail is None or tail.seq < head.seq:
            raise LedgerError(
                f"{self.path}: the ledger ends before entry {head.seq}, which its signed head "
                f"signs (cut or rewritten); {problem}"
            )
        behind = tail.seq - head.seq
        if behind > _HEAD_LOOKBACK:
            return  # too far back to check on every append; `audit verify` checks it
        lines = _read_back(fd, end, need_lines=behind + 2).rstrip(b"\n").split(b"\n")
        signed = lines[-1 - behind] if len(lines) > behind else b""
        if not signed.endswith(f'"{head.hash}"}}'.encode()):
            raise LedgerError(
                f"{self.path}: entry {head.seq} no longer has the hash its signed head signs; "
                f"{problem}"
            )

    def _write_head(self, head: Head) -> None:
        tmp = self.head_path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(head.model_dump_json(indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    # -- reading -------------------------------------------------------------------

    def head(self) -> Head:
        try:
            return Head.model_validate_json(self.head_path.read_bytes())
        except OSError as exc:
            raise LedgerError(f"{self.head_path}: no signed head ({_reason(exc)})") from None
        except ValueError:
            raise LedgerError(f"{self.head_path}: not a signed head") from None

    def entries(self) -> Iterator[LedgerEntry]:
        """Every complete entry, parsed (for reports; `audit verify` checks the bytes)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for line in fh:
                if line.endswith(b"\n"):
                    yield parse_line(line[:-1])


def _last_entry(fd: int, end: int, path: Path) -> _Tail | None:
    """Seq, hash and kind of the last complete line ending at byte `end`."""
    if end == 0:
        return None
    window = _read_back(fd, end, need_lines=2)
    last = window[:-1].rsplit(b"\n", 1)[-1]
    try:
        seq, digest = line_seq_hash(last)
        kind = json.loads(last)["kind"]
    except (ValueError, KeyError, TypeError):
        raise LedgerError(
            f"{path}: the last entry is unreadable; run `loggvern audit verify`"
        ) from None
    return _Tail(seq, digest, kind)


def _read_back(fd: int, size: int, need_lines: int) -> bytes:
    """The end of the file, holding at least `need_lines` line breaks (or all of it)."""
    block = _TAIL_BLOCK
    while True:
        start = max(0, size - block)
        data = os.pread(fd, size - start, start)
        if start == 0 or data.count(b"\n") >= need_lines:
            return data
        block *= 4


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _line(exc: BaseException) -> str:
    """First line of an error, with single-quoted values cut: libraries quote the data
    they choke on, and the ledger outlives the lake."""
    text = str(exc).strip()
    return re.sub(r"'[^']*'", "'…'", text.splitlines()[0] if text else "")[:300]
