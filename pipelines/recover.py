"""Finishing what a killed writer left in `STORE/staging/`: a run with a commit record
is applied (it was committed), a run without one is removed (it never happened), and
either way the ledger gets the result entry its intent is still waiting for.

Every writer runs this first, under the store's writer lock, so a crash is repaired
by the next ingest, replay or retention run, never by hand.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from pipelines.commit import apply_journal, load_journal, read_intent
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


@dataclass(frozen=True)
class Recovered:
    run_id: str
    committed: bool  # finished from its commit record; else rolled back


def recover_runs(layout: StoreLayout, ledger: Ledger) -> list[Recovered]:
    if not layout.staging.is_dir():
        return []
    found = []
    for run_dir in sorted(p for p in layout.staging.iterdir() if p.is_dir()):
        journal = load_journal(run_dir)
        intent_seq = read_intent(run_dir)
        if intent_seq is None:  # killed right after its intent entry, before noting it
            intent_seq = _intent_of(ledger, run_dir.name)
        if journal is not None:
            apply_journal(layout, journal)
            body = {
                "outcome": "ok",
                "recovered": "committed before the writer stopped; finished from its record",
                **{k: journal.summary.get(k) for k in ("run_id", "read", "written", "rejected",
                                                       "lake_files")},
            }  # fmt: skip
        else:
            body = {
                "outcome": "failed",
                "run_id": run_dir.name,
                "error": "interrupted before its commit: nothing of it was kept",
            }
        if intent_seq is not None and not _has_result(ledger, intent_seq):
            ledger.append(EntryKind.INGEST_RESULT, body, ref=intent_seq)
        shutil.rmtree(run_dir, ignore_errors=True)
        found.append(Recovered(run_dir.name, journal is not None))
    return found


def _intent_of(ledger: Ledger, run_id: str) -> int | None:
    for entry in ledger.entries():
        if entry.kind == EntryKind.INGEST_INTENT and entry.body.get("run_id") == run_id:
            return entry.seq
    return None


def _has_result(ledger: Ledger, intent_seq: int) -> bool:
    """Was the result already ledgered (a writer killed after its result entry)?"""
    return any(e.ref == intent_seq for e in ledger.entries() if e.seq > intent_seq)
