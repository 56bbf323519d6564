"""Cases: validation, ids, ledger-first bookkeeping, windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.policy import default_policies
from store.cases import CaseError, close_case, load_cases, open_case, parse_time, require_open_case
from store.init import init_store
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind

WHY = "IDS alarm on the jump host at 03:10"


@pytest.fixture
def store(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "store", default_policies())


def test_open_close_and_ids(store: StoreLayout) -> None:
    ledger = Ledger(store, "ana")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    first = open_case(store, ledger, "Brute force", WHY, start, datetime(2026, 11, 20, tzinfo=UTC))
    second = open_case(store, ledger, "DLP", WHY)
    assert (first.id, second.id) == ("CASE-0001", "CASE-0002")
    assert first.window_end == datetime(2026, 11, 20, tzinfo=UTC)
    assert second.window_end is None and second.window_from < second.opened_at
    closed = close_case(store, Ledger(store, "bob"), second.id, "resolved")
    assert closed.window_end == closed.closed_at and closed.closed_by == "bob"
    with pytest.raises(CaseError, match="already closed"):
        close_case(store, ledger, second.id)
    with pytest.raises(CaseError, match="closed at"):
        require_open_case(store, second.id)
    assert require_open_case(store, first.id).title == "Brute force"
    kinds = [e.kind for e in ledger.entries()]
    assert kinds.count(EntryKind.CASE_OPENED) == 2 and kinds.count(EntryKind.CASE_CLOSED) == 1
    opened = [e for e in ledger.entries() if e.kind == EntryKind.CASE_OPENED][0]
    assert opened.actor == "ana" and opened.body["case"]["justification"] == WHY
    on_disk = json.loads(store.cases.read_text())
    assert [c["id"] for c in on_disk] == ["CASE-0001", "CASE-0002"]
    assert load_cases(store)[second.id].close_reason == "resolved"


@pytest.mark.parametrize(
    ("title", "why", "start", "end", "message"),
    [
        ("", WHY, None, None, "title"),
        ("t", "because", None, None, "justification"),
        ("t", WHY, "2026-11-10", "2026-11-09", "after"),
    ],
)
def test_invalid_cases_are_refused_and_not_recorded(
    store: StoreLayout, title: str, why: str, start: str | None, end: str | None, message: str
) -> None:
    ledger = Ledger(store, "ana")
    before = len(list(ledger.entries()))
    with pytest.raises(CaseError, match=message):
        open_case(
            store, ledger, title, why,
            parse_time(start, "--from") if start else None,
            parse_time(end, "--to") if end else None,
        )  # fmt: skip
    assert len(list(ledger.entries())) == before
    assert load_cases(store) == {}


def test_time_parsing() -> None:
    assert parse_time("2026-11-16", "--from") == datetime(2026, 11, 16, tzinfo=UTC)
    assert parse_time("2026-11-16T03:00+01:00", "--from").utcoffset() is not None
    with pytest.raises(CaseError, match="--to 'yesterday'"):
        parse_time("yesterday", "--to")


def test_unknown_case(store: StoreLayout) -> None:
    with pytest.raises(CaseError, match="no case 'CASE-0404'"):
        require_open_case(store, "CASE-0404")
    with pytest.raises(CaseError, match="no case"):
        close_case(store, Ledger(store, "ana"), "CASE-0404")
