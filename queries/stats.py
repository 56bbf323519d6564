"""Statistics without a purpose: only named aggregate queries, and only groups with at
least k distinct people are returned (k from the dataset's policy, default 5).

Such a query reads one purpose's partitions in the same sandbox as a purpose session,
must return a `people` column (distinct people in the group) and is ledgered as stats,
with the number of groups suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from queries.named import STATISTICS, NamedQuery, load_named
from queries.sandbox import Sandbox
from queries.session import QueryError, QueryRefused, ledgered_run, refuse
from schemas.policy import Policy, default_policies
from schemas.purposes import Purpose
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.policy_registry import registered_policies

PEOPLE = "people"
DEFAULT_K = 5


@dataclass(frozen=True)
class StatsResult:
    table: pa.Table
    k: int
    suppressed: int


def k_for(dataset: str | None, policies: Sequence[Policy]) -> int:
    """The strictest k among the policies writing this dataset (default 5)."""
    ks = [p.k_anonymity for p in policies if p.dataset == dataset]
    return max(ks) if ks else DEFAULT_K


def suppress_small_groups(table: pa.Table, k: int) -> tuple[pa.Table, int]:
    if PEOPLE not in table.column_names:
        raise QueryError(f"a statistics query must return a {PEOPLE!r} column")
    keep = pc.fill_null(pc.greater_equal(table[PEOPLE], k), False)
    kept = table.filter(keep)
    return kept, table.num_rows - kept.num_rows


def run_stats(
    layout: StoreLayout, name: str, params: Sequence[str] | None, actor: str
) -> StatsResult:
    layout.require()
    ledger = Ledger(layout, actor)
    query = load_named(name)
    if query.purpose != STATISTICS:
        reason = f"{name} is not a statistics query (it is for {query.purpose})"
        refuse(ledger, "stats", "not_statistics", reason, named=name)
        raise QueryRefused("not_statistics", reason)
    bound = query.bind(params)
    k = k_for(query.dataset, registered_policies(layout) or default_policies())
    sandbox = Sandbox(layout, query.reads or Purpose.security_incident)
    try:
        return _run(ledger, sandbox, query, bound, k)
    finally:
        sandbox.close()


def _run(ledger: Ledger, sandbox: Sandbox, query: NamedQuery, bound: dict, k: int) -> StatsResult:
    def suppress(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
        kept, suppressed = suppress_small_groups(table, k)
        return kept, {"rows": kept.num_rows, "suppressed_groups": suppressed}

    context = {"named": query.name, "dataset": query.dataset, "k": k}
    kinds = (EntryKind.STATS_INTENT, EntryKind.STATS_RESULT)
    kept, fields = ledgered_run(
        ledger, sandbox, "stats", query.sql, bound, context, kinds, suppress
    )
    return StatsResult(kept, k, fields["suppressed_groups"])
