"""Legal holds: added only for an open case with a reason and a valid scope (refusals
exit 2 and are ledgered), listed, released once with a reason; every change in the
ledger first; a hold covers dataset, purpose and a date window, both ends included."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from loggvern.cli import main
from store.holds import Hold, holding, load_holds
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind, LedgerEntry

JUSTIFICATION = "suspected exfiltration by a departing contractor"


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "store"
    assert main(["init", str(root)]) == 0
    for title in ("exfiltration", "old matter"):
        assert main(["case", "open", str(root), "--title", title,
                     "--justification", JUSTIFICATION]) == 0  # fmt: skip
    assert main(["case", "close", str(root), "CASE-0002", "--reason", "done"]) == 0
    capsys.readouterr()
    return root


def _entries(store: Path) -> list[LedgerEntry]:
    return list(Ledger(StoreLayout(store), "t").entries())


def test_add_list_release(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hold", "add", str(store), "--case", "CASE-0001", "--reason", "court order 17",
                 "--dataset", "network_activity", "--purpose", "security_incident",
                 "--from", "2026-01-01", "--to", "2026-03-31", "--as", "dpo"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("HOLD-0001 added for CASE-0001")
    assert "network_activity / security_incident / dates 2026-01-01 to 2026-03-31" in out
    (hold,) = load_holds(StoreLayout(store)).values()
    assert hold.active and hold.added_by == "dpo" and hold.date_to == date(2026, 3, 31)
    added = [e for e in _entries(store) if e.kind is EntryKind.HOLD_ADDED]
    assert len(added) == 1 and added[0].actor == "dpo"
    assert added[0].body["hold"]["case"] == "CASE-0001"
    assert added[0].body["hold"]["reason"] == "court order 17"
    stored = json.loads((store / "holds.json").read_text())
    assert stored[0]["id"] == "HOLD-0001" and (store / "holds.json").stat().st_mode & 0o077 == 0

    assert main(["hold", "add", str(store), "--case", "CASE-0001", "--reason", "all of it"]) == 0
    assert capsys.readouterr().out.startswith("HOLD-0002 added for CASE-0001: every dataset")
    assert main(["hold", "list", str(store)]) == 0
    listed = capsys.readouterr().out
    assert "HOLD-0001" in listed and "HOLD-0002" in listed and "active" in listed

    assert main(["hold", "release", str(store), "HOLD-0001", "--reason", "order lifted"]) == 0
    assert "HOLD-0001 released" in capsys.readouterr().out
    holds = load_holds(StoreLayout(store))
    assert not holds["HOLD-0001"].active and holds["HOLD-0001"].release_reason == "order lifted"
    assert holds["HOLD-0002"].active
    released = [e for e in _entries(store) if e.kind is EntryKind.HOLD_RELEASED]
    assert [(e.body["hold_id"], e.body["reason"]) for e in released] == [
        ("HOLD-0001", "order lifted")
    ]
    assert main(["hold", "list", str(store)]) == 0
    assert "released" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "CASE-0009"], "no case 'CASE-0009'"),
        (["--case", "CASE-0002"], "was closed"),
        (["--case", "CASE-0001", "--dataset", "browsing"], "unknown dataset"),
        (["--case", "CASE-0001", "--purpose", "productivity"], "is not lawful"),
        (["--case", "CASE-0001", "--from", "2026-05-01", "--to", "2026-04-01"], "--to must not"),
        (["--case", "CASE-0001", "--from", "yesterday"], "not an ISO date"),
        (["--case", "CASE-0001", "--reason", "  "], "needs a reason"),
    ],
)
def test_refusals_exit_2_and_are_ledgered(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["hold", "add", str(store), *args]
    if "--reason" not in args:
        argv += ["--reason", "keep it"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (store / "holds.json").exists()
    kinds = [e.kind for e in _entries(store)]
    assert EntryKind.HOLD_ADDED not in kinds
    refusal = [e for e in _entries(store) if e.kind is EntryKind.REFUSAL][-1]
    assert refusal.body["command"] == "hold add" and message in refusal.body["reason"]


def test_release_refusals(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hold", "release", str(store), "HOLD-0001", "--reason", "x"]) == 2
    assert "no hold 'HOLD-0001'" in capsys.readouterr().err
    assert main(["hold", "add", str(store), "--case", "CASE-0001", "--reason", "keep"]) == 0
    assert main(["hold", "release", str(store), "HOLD-0001", "--reason", ""]) == 2
    assert main(["hold", "release", str(store), "HOLD-0001", "--reason", "over"]) == 0
    capsys.readouterr()
    assert main(["hold", "release", str(store), "HOLD-0001", "--reason", "again"]) == 2
    assert "already released" in capsys.readouterr().err
    assert sum(e.kind is EntryKind.HOLD_RELEASED for e in _entries(store)) == 1


def test_a_hold_covers_its_scope_with_both_ends_included() -> None:
    hold = Hold(
        id="HOLD-0001", case="CASE-0001", reason="r", dataset="authentication",
        purpose="security_incident", date_from=date(2026, 1, 10), date_to=date(2026, 1, 12),
        added_by="dpo", added_at=datetime.now(UTC),
    )  # fmt: skip
    inside = ("authentication", "security_incident")
    assert hold.covers(*inside, date(2026, 1, 10)) and hold.covers(*inside, date(2026, 1, 12))
    assert not hold.covers(*inside, date(2026, 1, 9))
    assert not hold.covers(*inside, date(2026, 1, 13))
    assert not hold.covers("network_activity", "security_incident", date(2026, 1, 11))
    assert not hold.covers("authentication", "network_administration", date(2026, 1, 11))
    everything = hold.model_copy(update={"dataset": None, "purpose": None, "date_from": None,
                                         "date_to": None})  # fmt: skip
    assert everything.covers("network_activity", "network_administration", date(1999, 1, 1))
    released = hold.model_copy(update={"released_at": datetime.now(UTC)})
    assert holding([hold, released], *inside, date(2026, 1, 11)) == [hold]
