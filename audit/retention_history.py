"""What the ledger says about retention: the legal holds (added, released) and the
state of their cases, every retention run and what its purges removed, and which of
the removed paths exist again (a restored backup not yet purged again).

The holds are rebuilt from the ledger rather than read from `holds.json`: the ledger
is the record, the file only a convenience view of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from audit.ledger_view import LedgerView, as_int, as_text, outcome_of
from audit.retention_models import PurgeTotals, RetentionRunItem
from store.holds import Hold
from store.layout import StoreLayout
from store.ledger_entry import EntryKind
from store.tombstones import purge_target


@dataclass
class RetentionHistory:
    holds: list[Hold] = field(default_factory=list)  # active and released
    case_open: dict[str, bool] = field(default_factory=dict)
    runs: list[RetentionRunItem] = field(default_factory=list)  # oldest first
    purges: PurgeTotals = field(default_factory=PurgeTotals)
    restored: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # hold entries that did not parse

    @property
    def active_holds(self) -> list[Hold]:
        return [h for h in self.holds if h.active]


def read_history(view: LedgerView, layout: StoreLayout | None = None) -> RetentionHistory:
    history = RetentionHistory()
    holds: dict[str, Hold] = {}
    removed: dict[str, None] = {}
    kinds = (EntryKind.HOLD_ADDED, EntryKind.HOLD_RELEASED, EntryKind.CASE_OPENED,
             EntryKind.CASE_CLOSED, EntryKind.RETENTION_PURGE)  # fmt: skip
    for entry in view.of(*kinds):
        body = entry.body
        if entry.kind is EntryKind.HOLD_ADDED:
            try:
                hold = Hold.model_validate(body.get("hold"))
            except ValidationError:
                history.unreadable.append(f"entry {entry.seq}")
                continue
            holds[hold.id] = hold
        elif entry.kind is EntryKind.HOLD_RELEASED:
            hold_id = as_text(body.get("hold_id")) or ""
            if hold_id in holds:
                holds[hold_id] = holds[hold_id].model_copy(
                    update={"released_at": _time(body.get("released_at"), entry.time),
                            "released_by": entry.actor,
                            "release_reason": as_text(body.get("reason"))}
                )  # fmt: skip
        elif entry.kind is EntryKind.CASE_OPENED:
            case = body.get("case") if isinstance(body.get("case"), dict) else {}
            history.case_open[as_text(case.get("id")) or ""] = True
        elif entry.kind is EntryKind.CASE_CLOSED:
            history.case_open[as_text(body.get("case_id")) or ""] = False
        else:
            _count_purge(history.purges, body)
            paths = body.get("removed") if isinstance(body.get("removed"), list) else []
            removed.update({p: None for p in paths if isinstance(p, str)})
    history.holds = list(holds.values())
    history.runs = _runs(view)
    history.purges.runs = len(history.runs)
    if layout is not None:
        history.restored = [rel for rel in removed if _exists(layout, rel)]
    return history


def _count_purge(totals: PurgeTotals, body: dict) -> None:  # type: ignore[type-arg]
    step = body.get("step")
    removed = body.get("removed") if isinstance(body.get("removed"), list) else []
    if step == "lake":
        totals.lake_files += len(removed)
        totals.rows += as_int(body.get("rows")) or 0
    elif step == "vault":
        totals.vault_entries += as_int(body.get("entries_removed")) or 0
    elif step == "deadletter":
        totals.deadletter_runs += len(removed)
    elif step == "tombstones":
        totals.tombstones_reapplied += len(removed)


def _runs(view: LedgerView) -> list[RetentionRunItem]:
    results = view.results(EntryKind.RETENTION_RESULT)
    runs = []
    for intent in view.of(EntryKind.RETENTION_INTENT):
        result = results.get(intent.seq)
        outcome, _, error = outcome_of(result)
        rb = result.body if result is not None else {}
        held = rb.get("held")
        keys = rb.get("key_ids")
        errors = rb.get("errors") if isinstance(rb.get("errors"), list) else []
        runs.append(
            RetentionRunItem(
                seq=intent.seq, time=intent.time, actor=intent.actor,
                today=as_text(intent.body.get("today")), outcome=outcome,
                files_removed=as_int(rb.get("files_removed")),
                rows_removed=as_int(rb.get("rows_removed")),
                held_partitions=len(held) if isinstance(held, list) else None,
                tombstones_reapplied=as_int(rb.get("tombstones_reapplied")),
                vault_entries_removed=as_int(rb.get("vault_entries_removed")),
                deadletter_runs_removed=as_int(rb.get("deadletter_runs_removed")),
                key_ids=[str(k) for k in keys] if isinstance(keys, list) else None,
                errors=[str(e) for e in errors] + ([error] if error else []),
            )
        )  # fmt: skip
    return runs


def _time(value: object, fallback: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromisoformat(fallback)


def _exists(layout: StoreLayout, rel: str) -> bool:
    target = purge_target(layout, rel)
    return target is not None and (target.exists() or target.is_symlink())
