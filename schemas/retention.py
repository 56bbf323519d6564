"""The retention rules, in one place for everything that applies or checks them: ingest
(lines already past retention are not written), the retention run (partitions past
retention are removed) and the audit report (partitions past retention are a failure).

A row of date D stored under purpose P is past retention on `today` when
D < today − retention_days(P); the partition of date D is then past retention too.
Which retention applies to stored rows: the one their own policy (id and version, as
stamped on every row) gives the partition's purpose; for rows naming no known policy,
the strictest policy granting the dataset that purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from schemas.policy import Policy
from schemas.purposes import Purpose


def retention_cutoff(today: date, days: int) -> date:
    """Rows and partitions dated before this day are past retention."""
    return today - timedelta(days=days)


def is_past(day: date, today: date, days: int) -> bool:
    return day < retention_cutoff(today, days)


@dataclass(frozen=True)
class RetentionRule:
    """The retention of one group of stored rows, and the policy it comes from."""

    policy: Policy | None  # None: the rows name no known policy (strictest granting one)
    days: int | None  # None: no policy grants the purpose (retention unknown)


class RetentionRules:
    """Looks up the retention of stored rows by dataset, purpose and their policy."""

    def __init__(self, policies: list[Policy]) -> None:
        self.policies = list(policies)
        self._by_version = {(p.id, p.version): p for p in self.policies}
        self._latest: dict[str, Policy] = {}
        for p in sorted(self.policies, key=lambda p: p.version):
            self._latest[p.id] = p

    def granting(self, dataset: str, purpose: str) -> list[Policy]:
        """Policies that grant `purpose` over `dataset`."""
        return [
            p for p in self.policies if p.dataset == dataset and _purpose(purpose) in p.purposes
        ]

    def rule(
        self, dataset: str, purpose: str, policy_id: str | None, policy_version: int | None
    ) -> RetentionRule:
        wanted = _purpose(purpose)
        policy = self._by_version.get((policy_id or "", policy_version or 0))
        policy = policy or self._latest.get(policy_id or "")
        if policy is not None and wanted is not None and wanted in policy.purposes:
            return RetentionRule(policy, policy.purposes[wanted].retention_days)
        granting = self.granting(dataset, purpose)
        days = min(
            (p.purposes[wanted].retention_days for p in granting if wanted is not None),
            default=None,
        )
        return RetentionRule(None, days)


def _purpose(word: str) -> Purpose | None:
    try:
        return Purpose(word)
    except ValueError:
        return None
