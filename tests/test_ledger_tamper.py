"""The tamper matrix: every kind of edit to a ledger is caught by `verify_ledger`, which
names the right entry (`first_bad`) and says why.

One ledger of ~30 varied entries (intents and results through `action()`, a failed
action, refusals, cases, unicode and quotes in SQL text, checkpoints in between) is built
once; each test tampers with a fresh copy of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.policy import default_policies
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import HEAD_FILE, LEDGER_FILE, Ledger, LedgerError
from store.ledger_entry import HASH_FIELD, EntryKind, LedgerEntry, now, parse_line, seal
from store.ledger_verify import VerifyReport, verify_ledger
from store.signing import Head

SQL = (
    "SELECT src_endpoint_ip, count(*) AS \"attempts\" FROM authentication WHERE city = 'Zürich'"
    " AND user_pseudonym <> 'u_ø' -- l'équipe «SOC» ✓"
)
NOTE = 'naïve "quoted" note – 東京 \\ backslash'


@dataclass(frozen=True)
class Built:
    root: Path  # the pristine store (never modified by a test)
    fingerprint: str
    intent: int  # seq of the query intent holding SQL
    result: int  # seq of its result (ref = intent)
    head: Head  # head.json of the pristine store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    layout = init_store(tmp_path_factory.mktemp("tamper") / "store", default_policies())
    alice = Ledger(layout, "alice")
    svc = Ledger(layout, "svc-query", mode="service")
    zoe = Ledger(layout, "zoë")
    alice.append(
        EntryKind.POLICY_REGISTERED,
        {"dataset": "authentication", "policy": "auth-default", "sha256": "ab" * 32},
    )
    with alice.action(
        EntryKind.INGEST_INTENT,
        EntryKind.INGEST_RESULT,
        {"source": "sshd", "files": ["/var/log/auth.log"], "workers": 2},
    ) as out:
        out.fields["rows"] = 1234
    alice.checkpoint()
    zoe.append(
        EntryKind.CASE_OPENED,
        {"case": "CASE-0001", "title": "Brute force on «vpn-1» — Zürich", "purpose": "ir"},
    )
    body = {"case": "CASE-0001", "purpose": "security_incident", "sql": SQL, "limit": 50}
    with svc.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, body) as out:
        out.fields.update(rows=17, note=NOTE, columns=["src_endpoint_ip", "attempts"])
    svc.checkpoint()
    with zoe.action(
        EntryKind.STATS_INTENT,
        EntryKind.STATS_RESULT,
        {"sql": "SELECT count(DISTINCT user_pseudonym) FROM authentication", "k": 10},
    ) as out:
        out.fields["suppressed_groups"] = 2
    alice.append(
        EntryKind.REFUSAL,
        {"sql": 'SELECT "user_name" FROM authentication', "reason": "column not granted"},
    )
    with (
        pytest.raises(RuntimeError),
        alice.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"sql": "SELECT usr"}),
    ):
        raise RuntimeError('Binder Error: column "usr" not found')
    alice.checkpoint()
    for i in range(5):
        body = {"sql": f"SELECT * FROM network_activity WHERE dst_port = {1000 + i}", "i": i}
        with svc.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, body) as out:
            out.fields["rows"] = i * 7
    svc.checkpoint()
    zoe.append(EntryKind.CASE_CLOSED, {"case": "CASE-0001", "outcome": "no personal data used"})
    alice.append(EntryKind.AUDIT_REPORT, {"entries": 30, "verdict": "intact ✓"})
    alice.checkpoint()

    entries = list(alice.entries())
    assert len(entries) >= 30
    intent = next(e.seq for e in entries if e.body.get("sql") == SQL)
    result = next(e.seq for e in entries if e.ref == intent)
    assert entries[result].body["note"] == NOTE
    report = verify_ledger(layout.ledger)
    assert report.ok and not report.warnings, report
    return Built(layout.root, report.fingerprint or "", intent, result, alice.head())


@pytest.fixture
def store(built: Built, tmp_path: Path) -> StoreLayout:
    """A fresh copy of the built store."""
    return StoreLayout(Path(shutil.copytree(built.root, tmp_path / "store")))


def _lines(layout: StoreLayout) -> list[bytes]:
    return (layout.ledger / LEDGER_FILE).read_bytes().splitlines(keepends=True)


def _write(layout: StoreLayout, lines: list[bytes]) -> None:
    (layout.ledger / LEDGER_FILE).write_bytes(b"".join(lines))


def _checkpoints(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if b',"kind":"checkpoint",' in line]


def _fails_at(report: VerifyReport, first_bad: int | None, *reason: str) -> None:
    assert not report.ok, report
    assert report.first_bad == first_bad, report.summary()
    assert any(r in report.reason for r in reason), report.summary()
    assert "FAILED" in report.summary()


# -- one byte of one field ------------------------------------------------------------


def _span(line: bytes, field: str) -> tuple[int, int]:
    """Byte span of a field's value in a stored line (inside the quotes of a string)."""
    if field == "seq":
        start = len(b'{"seq":')
        return start, line.index(b",", start)
    if field == "hash":
        start = line.rindex(b',"hash":"') + len(b',"hash":"')
        return start, start + 64
    if field.startswith(("body_key:", "body_value:")):
        what, key = field.split(":")
        body = line.index(b',"body":{')
        entry = parse_line(line.rstrip(b"\n"))
        value = json.dumps(entry.body[key], ensure_ascii=False).encode()
        at = line.index(b'"' + key.encode() + b'":' + value, body)
        if what == "body_key":
            return at + 1, at + 1 + len(key)
        start = at + len(key) + 3
        return start + 1, start + len(value) - 1
    marker = b',"' + field.encode() + b'":'
    start = line.index(marker) + len(marker)
    if line[start : start + 1] == b'"':
        return start + 1, line.index(b'"', start + 1)
    return start, line.index(b",", start)


def _other(byte: int) -> int:
    """A different printable ASCII byte of the same sort (digit, hex letter, letter)."""
    for alphabet in (b"0123456789", b"abcdef", b"abcdefghijklmnopqrstuvwxyz"):
        for abc in (alphabet, alphabet.upper()):
            if byte in abc:
                return abc[(abc.index(byte) + 1) % len(abc)]
    raise AssertionError(f"not a letter or digit: {byte!r}")


def _flip_in(line: bytes, lo: int, hi: int) -> bytes:
    """Change one ASCII letter or digit near the middle of line[lo:hi]."""
    assert hi > lo, (lo, hi)
    mid = (lo + hi) // 2
    for pos in sorted(range(lo, hi), key=lambda p: abs(p - mid)):
        if chr(line[pos]).isascii() and chr(line[pos]).isalnum():
            return line[:pos] + bytes([_other(line[pos])]) + line[pos + 1 :]
    raise AssertionError(f"no ASCII letter or digit in {line[lo:hi]!r}")


FIELDS = ["seq", "prev", "time", "kind", "actor", "mode", "ref", "body_key", "body_value", "hash"]
BODY_KEY = {"intent": "sql", "result": "note"}  # the values with unicode, quotes, backslash


@pytest.mark.parametrize("target", ["intent", "result"])
@pytest.mark.parametrize("field", FIELDS)
def test_one_byte_of_a_field(built: Built, store: StoreLayout, target: str, field: str) -> None:
    seq = getattr(built, target)
    lines = _lines(store)
    line = lines[seq]
    if field.startswith("body_"):
        field = f"{field}:{BODY_KEY[target]}"
    lo, hi = _span(line, field)
    edited = _flip_in(line, lo, hi)
    assert len(edited) == len(line) and edited != line and edited.isascii() is line.isascii()
    lines[seq] = edited
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), seq, "content changed")


PUNCTUATION = {
    # name: (where in the line, replacement), each a realistic one-byte edit
    "opening brace": (lambda line: 0, b"["),
    "colon after seq": (lambda line: line.index(b":"), b";"),
    "comma before prev": (lambda line: line.index(b',"prev"'), b";"),
    "quote around kind": (lambda line: line.index(b'"kind":"') + 7, b"'"),
    "body brace": (lambda line: line.index(b'"body":{') + 7, b"["),
    "comma before hash": (lambda line: line.rindex(b',"hash":"'), b" "),
    "colon of hash": (lambda line: line.rindex(b'"hash":"') + 6, b"="),
    "closing brace": (lambda line: len(line) - 2, b"]"),
}


@pytest.mark.parametrize("where", PUNCTUATION)
def test_one_byte_of_json_punctuation(built: Built, store: StoreLayout, where: str) -> None:
    find, replacement = PUNCTUATION[where]
    lines = _lines(store)
    line = lines[built.result]
    pos = find(line)
    assert line[pos : pos + 1] in b'{}[]:,"', (where, line[pos : pos + 1])
    lines[built.result] = line[:pos] + replacement + line[pos + 1 :]
    _write(store, lines)
    report = verify_ledger(store.ledger)
    _fails_at(report, built.result, "content changed", "malformed")


@pytest.mark.parametrize("replacement", [b" ", b"\r", b"x"])
def test_the_lines_newline(built: Built, store: StoreLayout, replacement: bytes) -> None:
    """The newline ending a line is part of the entry: replacing it joins two lines."""
    lines = _lines(store)
    lines[built.result] = lines[built.result][:-1] + replacement
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), built.result, "content changed")


def test_a_deleted_newline(built: Built, store: StoreLayout) -> None:
    lines = _lines(store)
    lines[built.intent] = lines[built.intent][:-1]
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), built.intent, "content changed")


# -- whole entries ---------------------------------------------------------------------


def test_delete_an_entry_in_the_middle(built: Built, store: StoreLayout) -> None:
    lines = _lines(store)
    del lines[built.result]
    _write(store, lines)
    report = verify_ledger(store.ledger)
    _fails_at(report, built.result, f"sequence number {built.result + 1} where {built.result}")
    assert report.entries == built.result


def test_delete_the_first_entry(store: StoreLayout) -> None:
    _write(store, _lines(store)[1:])
    _fails_at(verify_ledger(store.ledger), 0, "sequence number 1 where 0 belongs")


@pytest.mark.parametrize("keep_from_end", [1, 2, 5])
def test_tail_cut_at_a_line_boundary(store: StoreLayout, keep_from_end: int) -> None:
    """The last checkpoint and the entries before it go: only head.json can tell."""
    lines = _lines(store)
    assert _checkpoints(lines)[-1] == len(lines) - 1
    kept = lines[: len(lines) - keep_from_end]
    _write(store, kept)
    _fails_at(verify_ledger(store.ledger), len(kept), "truncated")


def test_tail_cut_back_to_an_earlier_checkpoint(store: StoreLayout) -> None:
    """Even when the cut ledger ends in a valid checkpoint of its own."""
    lines = _lines(store)
    earlier = _checkpoints(lines)[-2]
    _write(store, lines[: earlier + 1])
    _fails_at(verify_ledger(store.ledger), earlier + 1, "truncated")


@pytest.mark.parametrize("which", ["intent", "result", "last checkpoint"])
def test_cut_in_the_middle_of_a_signed_line(built: Built, store: StoreLayout, which: str) -> None:
    """The partial line looks like a torn write, but head.json signed entries past it."""
    lines = _lines(store)
    seq = len(lines) - 1 if which == "last checkpoint" else getattr(built, which)
    _write(store, [*lines[:seq], lines[seq][: len(lines[seq]) // 2]])
    _fails_at(verify_ledger(store.ledger), seq, "truncated")


@pytest.mark.parametrize("copy_of", ["itself", "an earlier entry", "a later entry"])
def test_insert_a_copied_entry(built: Built, store: StoreLayout, copy_of: str) -> None:
    lines = _lines(store)
    at = built.result
    source = {"itself": at - 1, "an earlier entry": 3, "a later entry": at + 4}[copy_of]
    lines.insert(at, lines[source])
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), at, "sequence number")


def _forged(after: bytes, kind: EntryKind, body: dict, actor: str = "mallory") -> bytes:  # type: ignore[type-arg]
    """A well-formed entry chained onto `after` (correct seq, prev and hash)."""
    last = parse_line(after.rstrip(b"\n"))
    _, line = seal(
        LedgerEntry(seq=last.seq + 1, prev=last.hash, time=now(), kind=kind, actor=actor, body=body)
    )
    return line


def test_insert_a_forged_entry_with_a_correct_hash(built: Built, store: StoreLayout) -> None:
    """The forged entry itself checks out; the chain breaks at the entry after it."""
    lines = _lines(store)
    at = built.intent
    forged = _forged(lines[at - 1], EntryKind.AUDIT_REPORT, {"note": "nothing to see"})
    lines.insert(at, forged)
    _write(store, lines)
    report = verify_ledger(store.ledger)
    _fails_at(report, at + 1, f"sequence number {at} where {at + 1} belongs")
    assert report.entries == at + 1  # everything up to and including the forgery chains


@pytest.mark.parametrize("distance", [1, 9])
def test_swap_two_entries(built: Built, store: StoreLayout, distance: int) -> None:
    lines = _lines(store)
    a, b = built.intent, built.intent + distance
    lines[a], lines[b] = lines[b], lines[a]
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), a, f"sequence number {b} where {a} belongs")


def test_rehashed_chain_after_an_edit_is_caught_by_the_checkpoint(
    built: Built, store: StoreLayout
) -> None:
    """Someone without the key edits an entry and recomputes every hash after it: each
    line checks out, but the latest checkpoint signed the old hash of the entry before
    it. Only the latest checkpoint's signature is checked, so it is the one named."""
    lines = _lines(store)
    entry = parse_line(lines[built.intent][:-1])
    body = {**entry.body, "sql": "SELECT 1"}
    _, lines[built.intent] = seal(entry.model_copy(update={"body": body, "hash": ""}))
    for seq in range(built.intent + 1, len(lines)):
        old = parse_line(lines[seq][:-1])
        prev = parse_line(lines[seq - 1][:-1]).hash
        _, lines[seq] = seal(old.model_copy(update={"prev": prev, "hash": ""}))
    _write(store, lines)
    last = len(lines) - 1
    _fails_at(verify_ledger(store.ledger), last, "checkpoint does not sign the entry before it")


# -- head.json ---------------------------------------------------------------------------


def _edit_head(store: StoreLayout, edit: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = store.ledger / HEAD_FILE
    head = json.loads(path.read_text())
    edit(head)
    path.write_text(json.dumps(head, indent=2) + "\n")


def _flip_last(hex_text: str) -> str:
    """A different last hex digit (a fixed "0" left one signature in 16 unchanged)."""
    return hex_text[:-1] + ("1" if hex_text[-1] == "0" else "0")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda h: h.update(signature=_flip_last(h["signature"])), id="signature"),
        pytest.param(lambda h: h.update(seq=h["seq"] - 1), id="seq"),
        pytest.param(lambda h: h.update(hash="0" * 64), id="hash"),
        pytest.param(lambda h: h.update(time=h["time"].replace("+00:00", "+01:00")), id="time"),
    ],
)
def test_head_json_edited(built: Built, store: StoreLayout, edit: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    _edit_head(store, edit)
    head = Ledger(store, "-").head()
    assert head != built.head
    _fails_at(verify_ledger(store.ledger), head.seq, "head.json: signature is not valid")


def test_head_json_deleted(store: StoreLayout) -> None:
    (store.ledger / HEAD_FILE).unlink()
    _fails_at(verify_ledger(store.ledger), None, "head.json: missing or unreadable")


def test_head_json_garbled(store: StoreLayout) -> None:
    (store.ledger / HEAD_FILE).write_text("{not json")
    _fails_at(verify_ledger(store.ledger), None, "head.json: missing or unreadable")


# -- the whole ledger rewritten with a new key -------------------------------------------


def test_rewritten_with_a_new_key(built: Built, store: StoreLayout, tmp_path: Path) -> None:
    saved = Ledger(store, "-").head()
    other = init_store(tmp_path / "other", default_policies())
    forger = Ledger(other, "alice")
    for i in range(20):
        forger.append(EntryKind.AUDIT_REPORT, {"i": i})
    forger.checkpoint()
    for sub in ("ledger", "keys"):
        shutil.rmtree(store.root / sub)
        shutil.copytree(other.root / sub, store.root / sub)

    report = verify_ledger(store.ledger, pinned=built.fingerprint)
    _fails_at(report, 0, f"initialised with another signing key, not {built.fingerprint}")

    report = verify_ledger(store.ledger, against=saved)
    _fails_at(report, saved.seq, "the given head: signed by")

    # Without a pinned key or a kept head the rewrite verifies: it is a well-formed
    # ledger signed by the key now in the store, and nothing inside the store can tell
    # the new key from the old. That is what pinning the fingerprint printed at init
    # (`audit verify --key`) and keeping heads outside the store (`--against`) are for.
    report = verify_ledger(store.ledger)
    assert report.ok and report.fingerprint != built.fingerprint, report


def test_pinned_key_accepts_the_right_store(built: Built, store: StoreLayout) -> None:
    for pin in (built.fingerprint, built.fingerprint.upper(), built.fingerprint[8:]):
        report = verify_ledger(store.ledger, pinned=pin)
        assert report.ok and report.fingerprint == built.fingerprint, (pin, report)


# -- a head kept outside the store -------------------------------------------------------


def test_a_kept_head_still_verifies_after_more_entries(built: Built, store: StoreLayout) -> None:
    ledger = Ledger(store, "alice")
    for i in range(3):
        with ledger.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"sql": SQL, "i": i}):
            pass
        ledger.checkpoint()
    report = verify_ledger(store.ledger, against=built.head)
    assert report.ok and not report.warnings, report
    assert report.head_seq == ledger.head().seq > built.head.seq


def test_a_head_from_another_store_fails(store: StoreLayout, tmp_path: Path) -> None:
    other = init_store(tmp_path / "other", default_policies())
    foreign = Ledger(other, "-").head()
    report = verify_ledger(store.ledger, against=foreign)
    _fails_at(report, foreign.seq, "the given head: signed by")


def test_a_kept_head_catches_a_tail_cut_with_head_json_rolled_back(
    built: Built, store: StoreLayout
) -> None:
    """Cut back to an earlier checkpoint and put back the head.json of that time: the
    store alone is consistent again, a head kept outside it is not."""
    ledger = Ledger(store, "alice")
    old_head = (store.ledger / HEAD_FILE).read_bytes()
    n = len(_lines(store))
    for i in range(4):
        ledger.append(EntryKind.AUDIT_REPORT, {"i": i})
        ledger.checkpoint()
    kept = ledger.head()
    _write(store, _lines(store)[:n])
    (store.ledger / HEAD_FILE).write_bytes(old_head)
    assert verify_ledger(store.ledger).ok
    _fails_at(verify_ledger(store.ledger, against=kept), n, "the given head", "truncated")


# -- torn tail (a crash) vs. forged tail ---------------------------------------------------


def test_a_torn_tail_warns_and_the_next_append_cuts_and_records_it(store: StoreLayout) -> None:
    path = store.ledger / LEDGER_FILE
    before = path.read_bytes()
    n = len(_lines(store))
    torn = f'{{"seq":{n},"prev":"{"ab" * 20}'.encode()
    with open(path, "ab") as fh:
        fh.write(torn)

    report = verify_ledger(store.ledger)
    assert report.ok and report.entries == n, report
    assert (
        len(report.warnings) == 1
        and f"{len(torn)} bytes of a torn last line" in (report.warnings[0])
    )

    entry = Ledger(store, "alice").append(EntryKind.AUDIT_REPORT, {"after": "crash"})
    assert entry.seq == n + 1
    data = path.read_bytes()
    assert data.startswith(before) and torn not in data
    repair = parse_line(_lines(store)[n][:-1])
    assert repair.kind == EntryKind.LEDGER_REPAIR and repair.seq == n
    assert repair.body["cut_bytes"] == len(torn)
    assert repair.body["cut_sha256"] == hashlib.sha256(torn).hexdigest()

    report = verify_ledger(store.ledger)
    assert report.ok and not any("torn" in w for w in report.warnings), report
    Ledger(store, "alice").checkpoint()
    report = verify_ledger(store.ledger)
    assert report.ok and report.warnings == [] and report.entries == n + 3, report


def test_a_forged_entry_after_the_signed_head_is_only_a_warning(store: StoreLayout) -> None:
    """Without the key anyone can chain entries onto the end; they are not signed, and
    verify says so (the next checkpoint would sign them: run verify before commands)."""
    lines = _lines(store)
    lines.append(_forged(lines[-1], EntryKind.AUDIT_REPORT, {"verdict": "all fine"}))
    _write(store, lines)
    report = verify_ledger(store.ledger)
    assert report.ok, report
    assert report.warnings == ["1 entries after the signed head (not yet checkpointed)"]


@pytest.mark.parametrize("body", ["not a head", "not JSON"])
def test_a_forged_checkpoint_with_a_bad_body_fails_cleanly(store: StoreLayout, body: str) -> None:
    """A chained "checkpoint" whose body is not a signed head must fail, not crash."""
    lines = _lines(store)
    if body == "not a head":
        lines.append(_forged(lines[-1], EntryKind.CHECKPOINT, {"seq": 1, "note": "trust me"}))
    else:  # right seq, prev and hash, but the rest is not JSON
        last = parse_line(lines[-1][:-1])
        content = (
            f'{{"seq":{last.seq + 1},"prev":"{last.hash}","time":"{now()}",'
            '"kind":"checkpoint","body":{trust me}}'
        ).encode()
        digest = hashlib.sha256(content).hexdigest().encode()
        lines.append(content[:-1] + HASH_FIELD + digest + b'"}\n')
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), len(lines) - 1, "checkpoint body is not a signed head")


def test_a_forged_checkpoint_copying_an_old_signed_head_fails(store: StoreLayout) -> None:
    lines = _lines(store)
    old = json.loads(lines[_checkpoints(lines)[0]])["body"]
    lines.append(_forged(lines[-1], EntryKind.CHECKPOINT, old))
    _write(store, lines)
    _fails_at(verify_ledger(store.ledger), len(lines) - 1, "does not sign the entry before it")


# -- the writer refuses to re-sign a cut ledger ---------------------------------------------


@pytest.mark.parametrize("cut", ["line boundary", "mid-line"])
def test_a_cut_tail_is_not_laundered_by_the_next_command(store: StoreLayout, cut: str) -> None:
    lines = _lines(store)
    seq = len(lines) - 4
    kept = lines[:seq] if cut == "line boundary" else [*lines[:seq], lines[seq][:100]]
    _write(store, kept)
    assert not verify_ledger(store.ledger).ok
    ledger = Ledger(store, "alice")
    before = (store.ledger / "ledger.jsonl").read_bytes()
    with pytest.raises(LedgerError, match="signed head"):
        ledger.append(EntryKind.AUDIT_REPORT, {"after": "cut"})
    with pytest.raises(LedgerError, match="signed head"):
        ledger.checkpoint()
    assert (store.ledger / "ledger.jsonl").read_bytes() == before  # nothing cut or added
    assert not verify_ledger(store.ledger).ok
