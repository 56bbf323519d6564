"""The ledger writer: chaining, canonical bytes, intent/result actions, failing closed,
concurrent appends, checkpoints and the signing key; and a smoke run of the verify
benchmark's ledger builder so it cannot rot."""

from __future__ import annotations

import hashlib
import importlib.util
import multiprocessing
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.policy import default_policies
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import HEAD_FILE, LEDGER_FILE, Ledger, LedgerError
from store.ledger_entry import (
    GENESIS,
    EntryKind,
    LedgerEntry,
    content_bytes,
    line_seq_hash,
    parse_line,
    seal,
)
from store.ledger_verify import verify_ledger
from store.signing import SIGNING_KEY_FILE

ROOT = Path(__file__).resolve().parents[1]
SQL = "SELECT \"user\", count(*) FROM authentication WHERE city = 'Zürich' -- «SOC» ✓"


@pytest.fixture
def store(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "store", default_policies())


def _stored(layout: StoreLayout) -> list[bytes]:
    return (layout.ledger / LEDGER_FILE).read_bytes().splitlines()


def _entry(**changes: Any) -> LedgerEntry:
    fields: dict[str, Any] = {
        "seq": 7, "prev": "ab" * 32, "time": "2024-05-01T08:00:00.000000+00:00",
        "kind": EntryKind.QUERY_INTENT, "actor": "zoë", "mode": "service", "ref": None,
        "body": {"sql": SQL, "purpose": "security_incident", "nested": {"b": [1, 2.5], "a": None}},
    }  # fmt: skip
    return LedgerEntry(**{**fields, **changes})


# -- chaining and canonical bytes ----------------------------------------------------------


def test_appends_chain_seq_and_prev(store: StoreLayout) -> None:
    ledger = Ledger(store, "alice")
    written = [ledger.append(EntryKind.AUDIT_REPORT, {"i": i, "sql": SQL}) for i in range(5)]
    written.append(ledger.append(EntryKind.QUERY_RESULT, {"outcome": "ok"}, ref=written[0].seq))
    lines = _stored(store)
    entries = [parse_line(line) for line in lines]
    assert [e.seq for e in entries] == list(range(len(entries)))
    assert entries[0].prev == GENESIS and entries[0].kind == EntryKind.STORE_INIT
    for before, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev == before.hash
    for line, entry in zip(lines, entries, strict=True):
        assert entry.hash == hashlib.sha256(content_bytes(entry)).hexdigest()
        assert line_seq_hash(line) == (entry.seq, entry.hash)
        assert seal(entry)[1] == line + b"\n"
    assert entries[-len(written) :] == written  # append returns what it stored
    assert written[-1].ref == written[0].seq and written[-1].actor == "alice"
    assert verify_ledger(store.ledger).ok


def test_canonical_bytes_are_stable() -> None:
    entry = _entry()
    again = _entry()
    assert content_bytes(entry) == content_bytes(again) == content_bytes(entry.model_copy())
    assert seal(entry) == seal(again)
    reordered = _entry(
        body={"nested": {"a": None, "b": [1, 2.5]}, "purpose": "security_incident", "sql": SQL}
    )
    assert list(reordered.body) != list(entry.body)
    assert content_bytes(reordered) == content_bytes(entry)
    assert seal(reordered)[1] == seal(entry)[1]
    assert content_bytes(_entry(body={**entry.body, "sql": SQL + " "})) != content_bytes(entry)


def test_line_layout() -> None:
    sealed, line = seal(_entry())
    assert line.startswith(b'{"seq":7,"prev":"' + b"ab" * 32 + b'","time":"2024-05-01T08:00')
    assert line.endswith(b',"hash":"' + sealed.hash.encode() + b'"}\n')
    assert line.count(b"\n") == 1
    assert "'Zürich' -- «SOC» ✓".encode() in line  # UTF-8, not \\u escapes
    assert b'"body":{"nested":{"a":null,"b":[1,2.5]},"purpose"' in line  # keys sorted
    assert sealed.hash == hashlib.sha256(content_bytes(sealed)).hexdigest()
    assert line_seq_hash(line[:-1]) == (7, sealed.hash)


def test_parse_line_round_trip() -> None:
    sealed, line = seal(_entry(ref=3, body={"note": 'a "quoted"\nline\\ – 東京', "n": 1}))
    parsed = parse_line(line[:-1])
    assert parsed == sealed
    assert seal(parsed.model_copy(update={"hash": ""}))[1] == line


_json_text = st.text(st.characters(codec="utf-8"), max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_json_text, inner, max_size=4),
    max_leaves=12,
)


@given(
    body=st.dictionaries(_json_text, _json, max_size=6),
    actor=_json_text,
    ref=st.none() | st.integers(0, 10**9),
)
def test_round_trip_property(body: dict[str, Any], actor: str, ref: int | None) -> None:
    sealed, line = seal(_entry(body=body, actor=actor, ref=ref))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = parse_line(line[:-1])
    assert parsed == sealed
    assert seal(parsed)[1] == line
    assert line_seq_hash(line[:-1]) == (7, sealed.hash)


# -- action(): intent, then result ----------------------------------------------------------


def test_action_writes_intent_then_ok_result(store: StoreLayout) -> None:
    ledger = Ledger(store, "alice", mode="service")
    with ledger.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"sql": SQL}) as out:
        intent = parse_line(_stored(store)[-1])  # already written when the body runs
        assert intent.kind == EntryKind.QUERY_INTENT and intent.body == {"sql": SQL}
        out.fields.update(rows=42, columns=["user"])
    result = parse_line(_stored(store)[-1])
    assert result.seq == intent.seq + 1 and result.ref == intent.seq
    assert result.kind == EntryKind.QUERY_RESULT and result.mode == "service"
    assert result.body == {"outcome": "ok", "rows": 42, "columns": ["user"]}


def test_action_failure_propagates_and_is_recorded(store: StoreLayout) -> None:
    ledger = Ledger(store, "alice")
    error = ValueError('Binder Error: column "usr" not found\nLINE 1: SELECT usr')
    with (
        pytest.raises(ValueError) as raised,
        ledger.action(EntryKind.STATS_INTENT, EntryKind.STATS_RESULT, {"sql": "SELECT usr"}),
    ):
        raise error
    assert raised.value is error
    intent, result = (parse_line(line) for line in _stored(store)[-2:])
    assert intent.kind == EntryKind.STATS_INTENT
    assert result.kind == EntryKind.STATS_RESULT and result.ref == intent.seq
    assert result.body == {
        "outcome": "failed",
        "error": 'ValueError: Binder Error: column "usr" not found',
    }
    assert verify_ledger(store.ledger).ok


def test_action_failure_whose_result_cannot_be_written_raises_the_original(
    store: StoreLayout,
) -> None:
    ledger = Ledger(store, "alice")
    path = store.ledger / LEDGER_FILE
    with (
        pytest.raises(KeyError, match="the original"),
        ledger.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"sql": SQL}),
    ):
        path.rename(path.with_suffix(".moved"))
        path.mkdir()  # the result append fails
        raise KeyError("the original")


# -- failing closed --------------------------------------------------------------------------


def _break_with_dev_full(layout: StoreLayout) -> None:
    """Every write to the ledger fails with ENOSPC."""
    path = layout.ledger / LEDGER_FILE
    path.unlink()
    path.symlink_to("/dev/full")


def _break_with_directory(layout: StoreLayout) -> None:
    """ledger.jsonl cannot be opened for writing (tests run as root: chmod would not do)."""
    path = layout.ledger / LEDGER_FILE
    path.unlink()
    path.mkdir()


def _break_by_removing_the_directory(layout: StoreLayout) -> None:
    shutil.rmtree(layout.ledger)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_break_with_dev_full, "cannot write the ledger|ends before entry"),
        (_break_with_directory, "cannot open the ledger"),
        (_break_by_removing_the_directory, "cannot open the ledger"),
    ],
)
def test_fail_closed_when_the_ledger_cannot_be_written(
    store: StoreLayout, breakage: Any, message: str
) -> None:
    if breakage is _break_with_dev_full and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    breakage(store)
    ledger = Ledger(store, "alice")
    with pytest.raises(LedgerError, match=message):
        ledger.append(EntryKind.AUDIT_REPORT, {"x": 1})
    ran = False
    with (
        pytest.raises(LedgerError, match=message),
        ledger.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"sql": SQL}),
    ):
        ran = True
    assert not ran


def test_fail_closed_when_the_last_entry_is_unreadable(store: StoreLayout) -> None:
    path = store.ledger / LEDGER_FILE
    with open(path, "ab") as fh:
        fh.write(b"not an entry\n")
    before = path.read_bytes()
    ran = False
    with (
        pytest.raises(LedgerError, match="last entry is unreadable"),
        Ledger(store, "alice").action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {}),
    ):
        ran = True
    assert not ran and path.read_bytes() == before


@pytest.mark.parametrize("problem", ["missing", "group-readable"])
def test_checkpoint_fails_closed_without_a_usable_key(store: StoreLayout, problem: str) -> None:
    ledger = Ledger(store, "alice")
    ledger.append(EntryKind.AUDIT_REPORT, {"x": 1})
    key = store.keys / SIGNING_KEY_FILE
    if problem == "missing":
        key.unlink()
    else:
        key.chmod(0o640)
    before = (store.ledger / LEDGER_FILE).read_bytes(), (store.ledger / HEAD_FILE).read_bytes()
    with pytest.raises(LedgerError, match="ledger-signing.key"):
        ledger.checkpoint()
    after = (store.ledger / LEDGER_FILE).read_bytes(), (store.ledger / HEAD_FILE).read_bytes()
    assert after == before


def test_head_without_head_json_is_a_ledger_error(store: StoreLayout) -> None:
    (store.ledger / HEAD_FILE).unlink()
    with pytest.raises(LedgerError, match="no signed head"):
        Ledger(store, "alice").head()


# -- concurrency --------------------------------------------------------------------------------

WORKERS, PER_WORKER = 4, 50


def _append_many(root: str, worker: int, barrier: Any) -> None:
    """Runs in a child process: append PER_WORKER entries, a checkpoint every tenth."""
    ledger = Ledger(StoreLayout(Path(root)), f"worker-{worker}")
    barrier.wait()
    for i in range(PER_WORKER):
        ledger.append(EntryKind.AUDIT_REPORT, {"worker": worker, "i": i, "sql": SQL})
        if i % 10 == 9:
            ledger.checkpoint()


def test_concurrent_appends_from_processes(store: StoreLayout) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [
        ctx.Process(target=_append_many, args=(str(store.root), w, barrier)) for w in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    Ledger(store, "alice").checkpoint()

    entries = [parse_line(line) for line in _stored(store)]
    assert [e.seq for e in entries] == list(range(len(entries)))
    reports = [e for e in entries if e.kind == EntryKind.AUDIT_REPORT]
    assert len(reports) == WORKERS * PER_WORKER and len(entries) > WORKERS * PER_WORKER
    for w in range(WORKERS):
        mine = [e.body["i"] for e in reports if e.actor == f"worker-{w}"]
        assert mine == list(range(PER_WORKER))  # each worker's own order kept
    switches = sum(a.actor != b.actor for a, b in zip(reports, reports[1:], strict=False))
    assert switches >= WORKERS, "the workers ran one after another, not concurrently"
    report = verify_ledger(store.ledger)
    assert report.ok and report.warnings == [] and report.entries == len(entries), report


# -- checkpoints and the signing key ----------------------------------------------------------


def test_checkpoint_signs_the_entry_before_it_and_head_json_signs_it(store: StoreLayout) -> None:
    ledger = Ledger(store, "alice")
    last = ledger.append(EntryKind.AUDIT_REPORT, {"x": 1})
    head = ledger.checkpoint()
    assert head is not None and head.signature_valid()
    checkpoint = parse_line(_stored(store)[-1])
    assert checkpoint.kind == EntryKind.CHECKPOINT and checkpoint.prev == last.hash
    assert (checkpoint.body["seq"], checkpoint.body["hash"]) == (last.seq, last.hash)
    assert (head.seq, head.hash, head.time) == (checkpoint.seq, checkpoint.hash, checkpoint.time)
    assert ledger.head() == head


def test_checkpoint_is_a_no_op_after_a_checkpoint(store: StoreLayout) -> None:
    ledger = Ledger(store, "alice")
    files = store.ledger / LEDGER_FILE, store.ledger / HEAD_FILE
    before = [f.read_bytes() for f in files]
    assert parse_line(_stored(store)[-1]).kind == EntryKind.CHECKPOINT  # init ends with one
    assert ledger.checkpoint() is None
    assert [f.read_bytes() for f in files] == before
    ledger.append(EntryKind.AUDIT_REPORT, {"x": 1})
    assert ledger.checkpoint() is not None
    after = [f.read_bytes() for f in files]
    assert ledger.checkpoint() is None
    assert [f.read_bytes() for f in files] == after


def test_signing_key_is_owner_only_and_never_written_out(store: StoreLayout) -> None:
    key_file = store.keys / SIGNING_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    raw = bytes.fromhex(key_file.read_text().strip())
    assert len(raw) == 32
    ledger = Ledger(store, "alice")
    for i in range(3):
        with ledger.action(EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, {"i": i}):
            pass
        ledger.checkpoint()
    for path in (store.ledger / LEDGER_FILE, store.ledger / HEAD_FILE):
        data = path.read_bytes()
        for form in (raw, raw.hex().encode(), raw.hex().upper().encode()):
            assert form not in data, path
    assert raw.hex() not in repr(ledger._signer())


# -- the verify benchmark's builder --------------------------------------------------------------


def test_benchmark_builder_smoke(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "ledger_verify_bench", ROOT / "benchmarks" / "ledger_verify_bench.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    ledger_dir = tmp_path / "ledger"
    signer = bench.build_ledger(ledger_dir, 2_000)
    report = verify_ledger(ledger_dir, pinned=signer.fingerprint)
    assert report.ok and report.warnings == [], report
    assert report.entries == 2_000 and report.head_seq == 1_999
    assert bench.hash_every_line(ledger_dir / LEDGER_FILE) == 2_000

    lines = (ledger_dir / LEDGER_FILE).read_bytes().splitlines()
    entries = [parse_line(line) for line in lines]
    assert [e.seq for e in entries if e.kind == EntryKind.CHECKPOINT] == [999, 1_999]
    assert len({e.kind for e in entries}) >= 8
    for e in entries:
        if e.ref is not None:
            assert entries[e.ref].kind.value.endswith("_intent")
    body_sizes = sorted(
        len(line) - len(seal(e.model_copy(update={"body": {}}))[1])
        for line, e in zip(lines, entries, strict=True)
        if e.kind.value.endswith("_intent")
    )
    assert 200 <= body_sizes[len(body_sizes) // 2] <= 450


def test_checkpoint_re_signs_a_stale_head(tmp_path: Path) -> None:
    """If head.json could not be written after a checkpoint line, the next checkpoint
    signs that checkpoint instead of doing nothing."""
    layout = init_store(tmp_path / "s", default_policies())
    ledger = Ledger(layout, "alice")
    old = ledger.head()
    ledger.append(EntryKind.REFUSAL, {"route": "x"})
    newer = ledger.checkpoint()
    assert newer is not None and newer.seq > old.seq
    ledger.head_path.write_text(old.model_dump_json())  # as if the last head write failed
    again = ledger.checkpoint()
    assert again is not None and again.seq == newer.seq and again.hash == newer.hash
    assert ledger.checkpoint() is None  # now nothing to do
    assert verify_ledger(layout.ledger).ok


@pytest.mark.parametrize("block", [97, 1000, 4096])
def test_verify_reads_in_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Verification streams the ledger; lines cut by a block boundary are joined, and
    results do not depend on where the boundaries fall."""
    import store.ledger_verify as ledger_verify

    layout = init_store(tmp_path / "s", default_policies())
    ledger = Ledger(layout, "alice")
    for i in range(40):
        ledger.append(EntryKind.QUERY_INTENT, {"sql": f"SELECT {i} -- ø " + "x" * (i * 7)})
        if i % 9 == 0:
            ledger.checkpoint()
    ledger.checkpoint()
    whole = verify_ledger(layout.ledger)
    monkeypatch.setattr(ledger_verify, "BLOCK", block)
    streamed = verify_ledger(layout.ledger, pinned=whole.fingerprint, against=ledger.head())
    assert streamed.ok and (streamed.entries, streamed.head_seq) == (whole.entries, whole.head_seq)
    path = layout.ledger / LEDGER_FILE
    lines = path.read_bytes().split(b"\n")
    lines[20] = lines[20].replace(b"SELECT", b"SELECX", 1)
    path.write_bytes(b"\n".join(lines) + b"torn")
    broken = verify_ledger(layout.ledger)
    assert not broken.ok and broken.first_bad == 20 and "content changed" in broken.reason
