"""The retention section: for each dataset × purpose and the policy its rows name, the
oldest date partition and those past the policy's retention period; the partitions a
legal hold keeps (not overdue: listed with their holds and cases); the active holds;
the last retention run and what all purges removed.

Retention is checked by the rules the retention run applies (`schemas.retention`),
against the policies in force (`store.policy_registry.policies_in_force`: the store's
registry, or the defaults); the report says which.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from audit.lake_sections import LakeStats
from audit.retention_history import RetentionHistory
from audit.retention_models import HeldItem, HoldItem, RetentionItem, RetentionSection
from audit.section import policy_label
from schemas.datasets import DATASETS
from schemas.policy import Policy
from schemas.purposes import Purpose
from schemas.retention import RetentionRules, is_past, retention_cutoff
from store.holds import holding


def build_retention_section(
    stats: LakeStats,
    policies: list[Policy],
    source: str,
    today: date,
    history: RetentionHistory | None = None,
) -> RetentionSection:
    section = RetentionSection(today=today.isoformat(), policy_source=source)
    history = history or RetentionHistory()
    rules = RetentionRules(policies)
    days: dict[tuple[str, str, str | None], dict[str, int]] = {}
    labels: dict[tuple[str, str, str | None], int | None] = {}
    for g in stats.groups:
        rule = rules.rule(g.dataset, g.purpose, g.policy_id, g.policy_version)
        label = policy_label(rule.policy.id, rule.policy.version) if rule.policy else None
        key = (g.dataset, g.purpose, label)
        labels[key] = rule.days
        per_day = days.setdefault(key, {})
        per_day[g.day or ""] = per_day.get(g.day or "", 0) + g.rows
    for dataset in DATASETS:  # granted purposes without data are listed too
        for purpose in Purpose:
            for p in rules.granting(dataset, purpose.value):
                key = (dataset, purpose.value, policy_label(p.id, p.version))
                if key not in days and not any(k[:2] == key[:2] for k in days):
                    days[key] = {}
                    labels[key] = p.purposes[purpose].retention_days
    held: dict[tuple[str, str, str], HeldItem] = {}
    for key in sorted(days, key=lambda k: (k[0], k[1], k[2] or "")):
        item = _item(section, key, days[key], labels[key], today)
        _split_held(item, history, held)
        section.items.append(item)
    section.overdue_partitions = len(
        {(i.dataset, i.purpose, d) for i in section.items for d in i.overdue_partitions}
    )
    section.held = sorted(held.values(), key=lambda h: (h.dataset, h.purpose, h.date))
    section.held_partitions = len(section.held)
    if section.overdue_partitions:
        section.fail(f"{section.overdue_partitions} date partitions are past their retention")
    for error in stats.errors:
        section.fail(f"not checked: {error}")
    _history(section, history)
    section.summary = (
        f"{section.overdue_partitions} partitions past retention, {section.held_partitions} "
        f"held by {len(section.holds)} active legal holds (today {section.today}; {source})"
    )
    return section


def _item(
    section: RetentionSection,
    key: tuple[str, str, str | None],
    per_day: dict[str, int],
    retention: int | None,
    today: date,
) -> RetentionItem:
    dataset, purpose, label = key
    dated = sorted(d for d in per_day if d)
    item = RetentionItem(
        dataset=dataset,
        purpose=purpose,
        policy=label,
        retention_days=retention,
        rows=sum(per_day.values()),
        oldest=dated[0] if dated else None,
        age_days=(today - date.fromisoformat(dated[0])).days if dated else None,
        cutoff=None,
    )
    if "" in per_day:
        section.warn(
            f"{dataset}/{purpose}: {per_day['']} rows outside any date=YYYY-MM-DD "
            "partition; their age is unknown"
        )
    if retention is None:
        if item.rows:
            section.fail(f"{dataset}/{purpose}: rows stored, but no policy grants this purpose")
    else:
        item.cutoff = retention_cutoff(today, retention).isoformat()
        past = [d for d in dated if is_past(date.fromisoformat(d), today, retention)]
        item.overdue_partitions = past
        item.overdue = bool(item.overdue_partitions)
    if label is None and item.rows:
        section.notes.append(
            f"{dataset}/{purpose}: {item.rows} rows name no known policy; checked against "
            "the strictest policy granting the purpose"
        )
    return item


def _split_held(
    item: RetentionItem, history: RetentionHistory, held: dict[tuple[str, str, str], HeldItem]
) -> None:
    """Move the overdue partitions an active hold covers to `held_partitions`."""
    overdue = []
    for day in item.overdue_partitions:
        holders = holding(history.holds, item.dataset, item.purpose, date.fromisoformat(day))
        if not holders:
            overdue.append(day)
            continue
        item.held_partitions.append(day)
        entry = held.setdefault(
            (item.dataset, item.purpose, day),
            HeldItem(dataset=item.dataset, purpose=item.purpose, date=day, holds=[], cases=[]),
        )
        entry.holds = sorted(set(entry.holds) | {h.id for h in holders})
        entry.cases = sorted(set(entry.cases) | {h.case for h in holders})
    item.overdue_partitions = overdue
    item.overdue = bool(overdue)


def _history(section: RetentionSection, history: RetentionHistory) -> None:
    for hold in history.active_holds:
        case_open = history.case_open.get(hold.case)
        section.holds.append(
            HoldItem(
                id=hold.id, case=hold.case, case_open=case_open, scope=hold.scope(),
                reason=hold.reason, added_by=hold.added_by,
                added_at=hold.added_at.isoformat(),
            )
        )  # fmt: skip
        if case_open is not True:
            state = "is closed" if case_open is False else "is not in the ledger"
            section.warn(
                f"hold {hold.id} is active but its case {hold.case} {state}: release it "
                "when the legal matter has ended"
            )
    for entry in history.unreadable:
        section.warn(f"a hold_added ledger entry could not be read ({entry})")
    section.purges = history.purges
    section.last_run = history.runs[-1] if history.runs else None
    last = section.last_run
    if last is not None and last.outcome != "ok":
        section.warn(f"the last retention run (entry {last.seq}) is {last.outcome}")
    elif last is not None and last.errors:
        section.warn(f"the last retention run (entry {last.seq}) reported errors")
    section.restored = history.restored
    if history.restored:
        section.fail(
            f"{len(history.restored)} file(s) an earlier purge removed exist again (a restored "
            "backup?); `loggvern retention run` removes them again"
        )


def utc_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()
