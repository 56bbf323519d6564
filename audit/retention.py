"""The retention section: for each dataset × purpose and the policy its rows name,
the oldest date partition and those past the policy's retention period.

Retention is checked against the policies the ingests used (the store's registry, when
there is one) or, failing that, the default policies; the report says which.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from audit.lake_models import RetentionItem, RetentionSection
from audit.lake_sections import LakeStats
from audit.section import policy_label
from schemas.datasets import DATASETS
from schemas.policy import Policy, default_policies
from schemas.purposes import Purpose
from store.layout import StoreLayout


def load_policies(layout: StoreLayout) -> tuple[list[Policy], str]:
    """The policies ingests used (the registry, when there is one) or the defaults."""
    try:
        from store import policy_registry  # type: ignore[attr-defined]
    except ImportError:
        return default_policies(), "default policies (policies/*.toml): no policy registry"
    try:
        policies = list(policy_registry.registered_policies(layout))
    except Exception as exc:  # noqa: BLE001 - any failure falls back, and is reported
        return default_policies(), (
            f"default policies (policies/*.toml): the registry failed ({type(exc).__name__})"
        )
    if not policies:
        return default_policies(), "default policies (policies/*.toml): the registry is empty"
    known = {p.id for p in policies}
    defaults = [p for p in default_policies() if p.id not in known]
    source = f"{len(policies)} policies registered in the store"
    if defaults:
        source += f", defaults for {', '.join(p.id for p in defaults)} (not registered)"
    return policies + defaults, source


def build_retention_section(
    stats: LakeStats, policies: list[Policy], source: str, today: date
) -> RetentionSection:
    section = RetentionSection(today=today.isoformat(), policy_source=source)
    by_version = {(p.id, p.version): p for p in policies}
    by_id: dict[str, Policy] = {}
    for p in sorted(policies, key=lambda p: p.version):
        by_id[p.id] = p  # the latest version

    def grants(dataset: str, purpose: str) -> list[Policy]:
        return [p for p in policies if p.dataset == dataset and Purpose(purpose) in p.purposes]

    days: dict[tuple[str, str, str | None], dict[str, int]] = {}
    labels: dict[tuple[str, str, str | None], int | None] = {}
    for g in stats.groups:
        policy = by_version.get((g.policy_id or "", g.policy_version or 0)) or by_id.get(
            g.policy_id or ""
        )
        if policy is not None and Purpose(g.purpose) in policy.purposes:
            label: str | None = policy_label(policy.id, policy.version)
            retention: int | None = policy.purposes[Purpose(g.purpose)].retention_days
        else:  # rows naming no known policy: the strictest policy granting the purpose
            granting = grants(g.dataset, g.purpose)
            label = None
            retention = min((p.purposes[Purpose(g.purpose)].retention_days for p in granting),
                            default=None)  # fmt: skip
        key = (g.dataset, g.purpose, label)
        labels[key] = retention
        per_day = days.setdefault(key, {})
        per_day[g.day or ""] = per_day.get(g.day or "", 0) + g.rows
    for dataset in DATASETS:  # granted purposes without data are listed too
        for purpose in Purpose:
            for p in grants(dataset, purpose.value):
                key = (dataset, purpose.value, policy_label(p.id, p.version))
                if key not in days and not any(k[:2] == key[:2] for k in days):
                    days[key] = {}
                    labels[key] = p.purposes[purpose].retention_days
    for key in sorted(days, key=lambda k: (k[0], k[1], k[2] or "")):
        dataset, purpose, label = key
        retention = labels[key]
        dated = sorted(d for d in days[key] if d)
        item = RetentionItem(
            dataset=dataset,
            purpose=purpose,
            policy=label,
            retention_days=retention,
            rows=sum(days[key].values()),
            oldest=dated[0] if dated else None,
            age_days=(today - date.fromisoformat(dated[0])).days if dated else None,
            cutoff=None,
        )
        if "" in days[key]:
            section.warn(
                f"{dataset}/{purpose}: {days[key]['']} rows outside any date=YYYY-MM-DD "
                "partition; their age is unknown"
            )
        if retention is None:
            if item.rows:
                section.fail(f"{dataset}/{purpose}: rows stored, but no policy grants this purpose")
        else:
            cutoff = today - timedelta(days=retention)
            item.cutoff = cutoff.isoformat()
            item.overdue_partitions = [d for d in dated if date.fromisoformat(d) < cutoff]
            item.overdue = bool(item.overdue_partitions)
        if label is None and item.rows:
            section.notes.append(
                f"{dataset}/{purpose}: {item.rows} rows name no known policy; checked against "
                "the strictest policy granting the purpose"
            )
        section.items.append(item)
    section.overdue_partitions = len(
        {(i.dataset, i.purpose, d) for i in section.items for d in i.overdue_partitions}
    )
    if section.overdue_partitions:
        section.fail(f"{section.overdue_partitions} date partitions are past their retention")
    for error in stats.errors:
        section.fail(f"not checked: {error}")
    section.summary = (
        f"{section.overdue_partitions} partitions past retention (today {section.today}; {source})"
    )
    return section


def utc_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()
