"""`loggvern deadletter replay`: a run's dead letters parsed again by a new run, with
their original files and line numbers; the old dead letters are retired by the same
commit, so every line ends up exactly once (lake or new dead letter)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from loggvern.cli import main
from loggvern.commands import ingest
from schemas.policy import default_policies
from store import deadletter
from store.init import init_store
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_verify import verify_ledger
from tests.conftest import FIXTURES
from tests.lake_lines import assert_exactly_once, unique_lines
from transforms import expire

AUTH = FIXTURES / "elastic/system/test-auth.log"


@pytest.fixture
def layout(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "store", default_policies(), "op")


def dead_letters(layout: StoreLayout) -> list[dict[str, object]]:
    key = load_keys(layout.keys).deadletter
    rows: list[dict[str, object]] = []
    for path, table in deadletter.read_all(layout.deadletter, key):
        rows += [{**r, "run": path.parent.name} for r in table.to_pylist()]
    return rows


def test_replay_after_a_fix_moves_lines_to_the_lake_once(
    layout: StoreLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    firewall = unique_lines(tmp_path, 50)
    auth = [line + b"\n" for line in AUTH.read_bytes().splitlines() if line.strip()][:5]
    mixed = tmp_path / "mixed.log"  # auth lines among firewall lines, ingested as iptables
    mixed.write_bytes(b"".join(firewall[:20] + auth + firewall[20:] + [b"garbage\n"]))
    first = ingest(layout.root, "iptables", [mixed], actor="op")
    assert (first.written, first.rejected) == (50, 6)
    before = dead_letters(layout)
    assert sorted(r["line"] for r in before) == [21, 22, 23, 24, 25, 56]
    store = str(layout.root)
    assert main(["deadletter", "replay", store, first.run_id, "--source", "auto"]) == 0
    assert "read=6" in capsys.readouterr().out
    after = dead_letters(layout)
    assert not (layout.deadletter / first.run_id).exists()  # retired by the replay's commit
    assert [(r["file"], r["line"], r["raw"]) for r in after] == [
        (str(mixed), 56, b"garbage")
    ]  # still unparseable: the same file and line, the bytes kept
    assert_exactly_once(layout.root, 50)
    replayed = [e for e in Ledger(layout, "op").entries() if e.body.get("replay_of")]
    assert len(replayed) == 1 and replayed[0].body["lines"] == 6
    results = [e for e in Ledger(layout, "op").entries() if e.ref == replayed[0].seq]
    assert results[0].body["written"] == 5 and results[0].body["rejected"] == 1
    # replaying the same run again is refused: nothing of it is left
    assert main(["deadletter", "replay", store, first.run_id]) == 2
    assert "no dead letters for run" in capsys.readouterr().err
    assert verify_ledger(layout.ledger).ok


def test_lines_withheld_for_retention_are_carried_over_as_they_are(
    layout: StoreLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "old.log"
    log.write_bytes(b"".join(unique_lines(tmp_path, 30)))
    monkeypatch.setattr(expire, "run_date", lambda: date(2031, 1, 1))  # all past retention
    first = ingest(layout.root, "iptables", [log], actor="op")
    assert (first.written, first.rejected) == (0, 30)
    assert {r["raw"] for r in dead_letters(layout)} == {b""}
    again = ingest_replay(layout, first.run_id)
    assert (again.read, again.written, again.rejected) == (30, 0, 30)
    rows = dead_letters(layout)
    assert len(rows) == 30 and {r["run"] for r in rows} == {again.run_id}
    assert {r["reason"] for r in rows} == {expire.EXPIRED_REASON}
    assert sorted(r["line"] for r in rows) == list(range(1, 31))


def ingest_replay(layout: StoreLayout, run_id: str):  # type: ignore[no-untyped-def]
    from pipelines.ledgered import ledgered_ingest
    from pipelines.replay import plan_replay

    retired = f"deadletter/{run_id}"
    result = ledgered_ingest(layout, Ledger(layout, "op"), lambda: plan_replay(layout, run_id),
                             remove=(retired,), intent_extra={"replay_of": run_id})  # fmt: skip
    assert result is not None
    return result.summary
