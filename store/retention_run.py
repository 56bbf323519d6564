"""`loggvern retention run`: enforce retention on a store, under the store's writer lock.

In order, each removal ledgered (a `retention_purge` entry naming the exact paths and
counts, written before they are removed, so the ledger never misses a removal and its
`removed` lists are the tombstones of step 1):
1. tombstones: files earlier purges removed that exist again (a restored backup) are
   removed again, and so are the keys of periods the ledger says were destroyed;
2. the lake: every date partition past its purpose's retention (`schemas.retention`,
   by the policy its rows name) is removed, except where an active legal hold covers it;
3. the vault: entries of pseudonyms no longer anywhere in the lake are dropped;
4. dead letters: runs finished longer ago than the store's dead-letter retention;
5. the pseudonym key ids the lake still holds are found;
6. the key of every retired period none of whose pseudonyms is left is destroyed
   (store/key_periods.py): those pseudonyms decay into anonymity.
An intent entry opens the run and a result entry (totals, held partitions, key ids)
closes it. `today` is a parameter for tests; the CLI passes the UTC date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.retention import RetentionRule, RetentionRules, is_past
from store.deadletter_expiry import expired_deadletters
from store.holds import Hold, active_holds, holding
from store.key_periods import destroy_spent_periods, key_id_of, reapply_destructions
from store.lake_files import LakeFile, lake_files
from store.lake_pseudonyms import LakeScanError, lake_pseudonyms
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.policy_registry import policies_in_force
from store.retention_models import DeadletterPurge, HeldPartition, PurgedFile, RetentionResult
from store.settings import load_settings
from store.tombstones import remove_purged, resurrected
from store.vault_prune import apply_vault_prune, plan_vault_prune
from store.write_lock import store_writer


def run_retention(layout: StoreLayout, ledger: Ledger, today: date) -> RetentionResult:
    layout.require()
    settings = load_settings(layout)
    policies, source = policies_in_force(layout)
    with store_writer(layout):
        holds = active_holds(layout)
        intent = {
            "today": today.isoformat(),
            "policy_source": source,
            "policies": sorted(f"{p.id} v{p.version}" for p in policies),
            "deadletter_retention_days": settings.deadletter_retention_days,
            "active_holds": [h.id for h in holds],
        }
        with ledger.action(EntryKind.RETENTION_INTENT, EntryKind.RETENTION_RESULT, intent) as out:
            run = _Run(layout, ledger, out.intent_seq, today)
            result = RetentionResult(today=today.isoformat(), policy_source=source)
            run.tombstones(result)
            result.keys_destroyed = reapply_destructions(layout, ledger)  # a restored keys/
            run.lake(result, RetentionRules(policies), holds)
            run.vault(result)
            run.deadletters(result, settings.deadletter_retention_days)
            if result.key_ids is not None:  # 6. keys of periods with nothing left in the lake
                result.keys_destroyed += destroy_spent_periods(layout, ledger, set(result.key_ids))
            out.fields.update(_result_body(result))
    return result


class _Run:
    def __init__(self, layout: StoreLayout, ledger: Ledger, ref: int | None, today: date) -> None:
        self.layout = layout
        self.ledger = ledger
        self.ref = ref
        self.today = today

    def purge(self, step: str, removed: list[str], **body: Any) -> None:
        """Ledger a removal before doing it: its paths become tombstones."""
        self.ledger.append(
            EntryKind.RETENTION_PURGE, {"step": step, "removed": removed, **body}, ref=self.ref
        )
        for rel in removed:
            remove_purged(self.layout, rel)

    def tombstones(self, result: RetentionResult) -> None:
        back = resurrected(self.layout)
        if back:
            self.purge("tombstones", back, reapplied=True, files=len(back))
        result.tombstones_reapplied = back

    def lake(self, result: RetentionResult, rules: RetentionRules, holds: list[Hold]) -> None:
        scan = lake_files(self.layout)
        result.errors += scan.errors
        held: dict[tuple[str, str, str], HeldPartition] = {}
        unknown: set[str] = set()
        for f in scan.files:
            if f.day is None:
                result.undated_files += 1
                continue
            rule = _strictest(f, rules)
            if rule is None or rule.days is None:
                unknown.add(f"{f.dataset}/purpose={f.purpose}/date={f.day.isoformat()}")
                continue
            if not is_past(f.day, self.today, rule.days):
                continue
            holders = holding(holds, f.dataset, f.purpose, f.day)
            if holders:
                _hold(held, f, holders)
                continue
            result.purged.append(
                PurgedFile(
                    path=f.rel, dataset=f.dataset, purpose=f.purpose, date=f.day.isoformat(),
                    rows=f.rows, retention_days=rule.days,
                    policy_id=rule.policy.id if rule.policy else None,
                    policy_version=rule.policy.version if rule.policy else None,
                )
            )  # fmt: skip
        result.held = sorted(held.values(), key=lambda h: (h.dataset, h.purpose, h.date))
        result.unknown_retention = sorted(unknown)
        if result.purged:
            self.purge(
                "lake",
                [f.path for f in result.purged],
                files=[f.model_dump() for f in result.purged],
                rows=result.rows_purged,
            )

    def vault(self, result: RetentionResult) -> None:
        try:
            in_lake = lake_pseudonyms(self.layout)
        except LakeScanError as exc:
            result.errors.append(f"vault not pruned, key ids unknown: {exc}")
            return
        plan = plan_vault_prune(self.layout, in_lake)
        summary = plan.summary
        if plan.rewrite or plan.remove:
            self.ledger.append(
                EntryKind.RETENTION_PURGE,
                {"step": "vault", "removed": summary.files_removed,
                 "rewritten": summary.files_rewritten, "entries_removed": summary.entries_removed,
                 "entries_kept": summary.entries_kept},
                ref=self.ref,
            )  # fmt: skip
            apply_vault_prune(plan)
        result.vault = summary
        result.key_ids = sorted({k for p in in_lake if (k := key_id_of(p)) is not None})

    def deadletters(self, result: RetentionResult, days: int) -> None:
        expiry = expired_deadletters(self.layout, self.today, days)
        removed = [str(p.relative_to(self.layout.root)) for p in expiry.expired]
        result.deadletter = DeadletterPurge(
            removed=removed, files=expiry.files, retention_days=days,
            unknown_age=expiry.unknown_age,
        )  # fmt: skip
        if removed:
            self.purge("deadletter", removed, runs=len(removed), files=expiry.files,
                       retention_days=days)  # fmt: skip


def _strictest(f: LakeFile, rules: RetentionRules) -> RetentionRule | None:
    """The retention of a file's rows: the shortest among the policies they name (a file
    holds one policy's rows unless it was put there by hand)."""
    found = [rules.rule(f.dataset, f.purpose, pid, pver) for pid, pver in f.policies]
    found = found or [rules.rule(f.dataset, f.purpose, None, None)]
    known = [r for r in found if r.days is not None]
    return min(known, key=lambda r: r.days or 0) if known else None


def _hold(held: dict[tuple[str, str, str], HeldPartition], f: LakeFile, holds: list[Hold]) -> None:
    assert f.day is not None
    key = (f.dataset, f.purpose, f.day.isoformat())
    item = held.setdefault(
        key, HeldPartition(dataset=key[0], purpose=key[1], date=key[2], files=0, rows=0,
                           holds=[], cases=[])
    )  # fmt: skip
    item.files += 1
    item.rows += f.rows
    item.holds = sorted(set(item.holds) | {h.id for h in holds})
    item.cases = sorted(set(item.cases) | {h.case for h in holds})


def _result_body(result: RetentionResult) -> dict[str, Any]:
    vault = result.vault
    return {
        "tombstones_reapplied": len(result.tombstones_reapplied),
        "files_removed": len(result.purged),
        "rows_removed": result.rows_purged,
        "held": [h.model_dump() for h in result.held],
        "unknown_retention": result.unknown_retention,
        "undated_files": result.undated_files,
        "vault_entries_removed": vault.entries_removed if vault else None,
        "vault_entries_kept": vault.entries_kept if vault else None,
        "deadletter_runs_removed": len(result.deadletter.removed),
        "deadletter_files_removed": result.deadletter.files,
        "key_ids": result.key_ids,
        "keys_destroyed": result.keys_destroyed,
        "errors": result.errors,
    }
