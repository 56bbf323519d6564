"""Statistics without a purpose: only named aggregate queries, and only groups with at
least k distinct people are returned (k from the dataset's policy, default 5).

Such a query reads one purpose's partitions in the same sandbox as a purpose session,
must return a `people` column (distinct people in the group) and is ledgered as stats,
with the number of groups suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from queries.guard import EscapeRefused, check_statement
from queries.named import STATISTICS, NamedQuery, load_named
from queries.sandbox import Sandbox
from queries.session import QueryError, QueryRefused, redact_values, refuse
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
    try:
        statement = check_statement(query.sql, sandbox.views)
    except EscapeRefused as exc:
        refuse(ledger, "stats", exc.route, exc.message, named=query.name)
        raise QueryRefused(exc.route, exc.message) from None
    body = {"named": query.name, "dataset": query.dataset, "k": k,
            "params": {key: str(v) for key, v in bound.items()}}  # fmt: skip
    with ledger.action(EntryKind.STATS_INTENT, EntryKind.STATS_RESULT, body) as outcome:
        try:
            table = sandbox.run(statement, bound)
        except duckdb.Error as exc:
            raise QueryError(redact_values(str(exc))) from None
        kept, suppressed = suppress_small_groups(table, k)
        outcome.fields.update(rows=kept.num_rows, suppressed_groups=suppressed)
    return StatsResult(kept, k, suppressed)
