"""`audit verify`: recompute the ledger's chain over the stored bytes and check the
signed heads.

Each line is checked by slicing (see ledger_entry): its hash against its content, its
seq against its position, its prev against the previous line's hash. Only the latest
checkpoint's signature is checked, and the signed head in `head.json` (and any head an
auditor kept outside the store) must name an entry that is still there with the same
hash — so a cut tail or a rewritten ledger is caught, not only an edited line. The
file is read in blocks, so memory stays bounded however long the ledger grows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from store.ledger import HEAD_FILE, LEDGER_FILE
from store.ledger_entry import GENESIS, HASH_FIELD, HASH_TAIL, PREV_FIELD, SEQ_HEAD, parse_line
from store.signing import Head, normalise_fingerprint

_CHECKPOINT = b',"kind":"checkpoint",'
BLOCK = 64 << 20  # bytes read at a time: memory stays bounded whatever the ledger's size


@dataclass
class VerifyReport:
    ok: bool
    entries: int  # complete entries whose chain checked out
    reason: str = ""
    first_bad: int | None = None  # seq (= position) of the first bad entry
    head_seq: int | None = None  # the latest signed entry
    fingerprint: str | None = None  # the key that signed it
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            return f"ledger intact: {self.entries} entries verified, signed head at entry " + (
                f"{self.head_seq} by {self.fingerprint}"
            )
        where = (
            ""
            if self.first_bad is None
            else f"entry {self.first_bad} (line {self.first_bad + 1}): "
        )
        return f"ledger verification FAILED: {where}{self.reason}"


def _fail(entries: int, seq: int | None, reason: str) -> VerifyReport:
    return VerifyReport(ok=False, entries=entries, first_bad=seq, reason=reason)


def check_chain(lines: list[bytes]) -> VerifyReport:
    """Hash, position and link of every line of a whole ledger held in memory."""
    bad, _ = _check_lines(lines, 0, GENESIS.encode())
    return bad or VerifyReport(ok=True, entries=len(lines))


def _check_lines(lines: list[bytes], start: int, prev: bytes) -> tuple[VerifyReport | None, bytes]:
    """The hot loop over complete lines whose first is entry `start`; returns the first
    failure (or None) and the hash of the last line, to carry into the next block."""
    sha256 = hashlib.sha256
    head_len = len(SEQ_HEAD)
    for offset, line in enumerate(lines):
        i = start + offset
        if (
            len(line) <= HASH_TAIL + 80
            or not line.startswith(SEQ_HEAD)
            or line[-HASH_TAIL : -HASH_TAIL + len(HASH_FIELD)] != HASH_FIELD
            or line[-2:] != b'"}'
        ):
            return _fail(i, i, "not a ledger entry (malformed line)"), prev
        stored = line[-66:-2]
        if sha256(line[:-HASH_TAIL] + b"}").hexdigest().encode() != stored:
            return _fail(i, i, "content changed: its hash does not match its bytes"), prev
        comma = line.find(b",", head_len)
        if line[head_len:comma] != str(i).encode():
            return _fail(
                i, i, f"sequence number {line[head_len:comma].decode(errors='replace')} "
                f"where {i} belongs: an entry was deleted, inserted or moved here",
            ), prev  # fmt: skip
        if line[comma : comma + len(PREV_FIELD)] != PREV_FIELD or (
            line[comma + len(PREV_FIELD) : comma + len(PREV_FIELD) + 64] != prev
        ):
            return _fail(i, i, "chain broken: prev is not the previous entry's hash"), prev
        prev = stored
    return None, prev


@dataclass
class _Scan:
    """What verification keeps of a ledger read block by block (memory stays bounded)."""

    entries: int = 0
    first: bytes = b""
    checkpoint: tuple[int, bytes] | None = None  # the latest checkpoint entry: seq, line
    signed_before: str = ""  # hash of the entry before that checkpoint
    hashes: dict[int, str] = field(default_factory=dict)  # hashes at the heads' seqs
    torn: int = 0  # bytes after the last newline


def _scan(path: Path, wanted: set[int]) -> _Scan | VerifyReport:
    scan, prev, rest = _Scan(), GENESIS.encode(), b""
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            data = rest + block
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if not cut:
                continue
            lines = data[: cut - 1].split(b"\n")
            before = prev.decode()
            bad, prev = _check_lines(lines, scan.entries, prev)
            if bad:
                return bad
            scan.first = scan.first or lines[0]
            for seq in wanted:
                if scan.entries <= seq < scan.entries + len(lines):
                    scan.hashes[seq] = _hash_of(lines[seq - scan.entries])
            at = _latest_checkpoint_index(lines)
            if at is not None:
                scan.checkpoint = (scan.entries + at, lines[at])
                scan.signed_before = _hash_of(lines[at - 1]) if at else before
            scan.entries += len(lines)
    scan.torn = len(rest)
    return scan


def verify_ledger(
    ledger_dir: Path, pinned: str | None = None, against: Head | None = None
) -> VerifyReport:
    path = ledger_dir / LEDGER_FILE
    stored_head = _load_head(ledger_dir / HEAD_FILE)
    heads = [("head.json", stored_head)]
    if against is not None:
        heads.append(("the given head", against))
    try:
        scan = _scan(path, {h.seq for _, h in heads if h is not None})
    except OSError as exc:
        return _fail(0, None, f"{path}: cannot read the ledger ({exc.strerror})")
    if isinstance(scan, VerifyReport):
        return scan
    n = scan.entries
    if n == 0:
        return _fail(0, 0, "the ledger is empty")
    expected = normalise_fingerprint(pinned) if pinned else _init_fingerprint(scan.first)
    if pinned and _init_fingerprint(scan.first) != expected:
        return _fail(n, 0, f"the store was initialised with another signing key, not {expected}")
    if scan.checkpoint is None:
        return _fail(n, None, "no signed checkpoint in the ledger")
    seq, inner = scan.checkpoint[0], _checkpoint_head(scan.checkpoint[1])
    if inner is None:
        return _fail(n, seq, "checkpoint body is not a signed head")
    if not inner.signature_valid():
        return _fail(n, seq, "checkpoint signature is not valid")
    if inner.fingerprint != expected:
        return _fail(n, seq, f"checkpoint signed by {inner.fingerprint}, not {expected}")
    if inner.seq != seq - 1 or inner.hash != scan.signed_before:
        return _fail(n, seq, "checkpoint does not sign the entry before it")
    for name, head in heads:
        problem = _check_head(head, n, scan.hashes, expected)
        if problem:
            return _fail(n, problem[0], f"{name}: {problem[1]}")
    report = VerifyReport(ok=True, entries=n, fingerprint=expected)
    report.head_seq = max(h.seq for _, h in heads if h is not None)
    if scan.torn:
        report.warnings.append(
            f"{scan.torn} bytes of a torn last line after entry {n - 1} (an interrupted "
            "write); the next command cuts them and records the cut"
        )
    unsigned = n - 1 - report.head_seq
    if unsigned > 0:
        report.warnings.append(f"{unsigned} entries after the signed head (not yet checkpointed)")
    return report


def _hash_of(line: bytes) -> str:
    return line[-66:-2].decode()


def _init_fingerprint(first: bytes) -> str | None:
    try:
        return parse_line(first).body.get("signing_key")
    except ValueError:
        return None


def _latest_checkpoint_index(lines: list[bytes]) -> int | None:
    for at in range(len(lines) - 1, -1, -1):
        if lines[at].find(_CHECKPOINT, 0, 200) >= 0:
            return at
    return None


def _checkpoint_head(line: bytes) -> Head | None:
    """The head in a checkpoint's body (None if it holds none: an entry chained on after
    the signed head by someone without the key)."""
    try:
        return Head.model_validate(json.loads(line)["body"])
    except (ValueError, KeyError, TypeError):
        return None


def _load_head(path: Path) -> Head | None:
    try:
        return Head.model_validate_json(path.read_bytes())
    except OSError:
        return None
    except ValueError:
        return None


def _check_head(
    head: Head | None, entries: int, hashes: dict[int, str], expected: str | None
) -> tuple[int | None, str] | None:
    if head is None:
        return None, "missing or unreadable signed head"
    if not head.signature_valid():
        return head.seq, "signature is not valid"
    if head.fingerprint != expected:
        return head.seq, f"signed by {head.fingerprint}, not {expected}"
    if head.seq >= entries:
        return entries, (
            f"signs entry {head.seq} but the ledger ends at entry {entries - 1}: truncated"
        )
    if hashes.get(head.seq) != head.hash:
        return head.seq, "the ledger no longer holds the entry this head signed (rewritten)"
    return None
