"""Purpose-bound query sessions: every read of the store declares one lawful purpose
(and, for `security_incident`, an open case), sees only that purpose's views (cut to
the case's window), and leaves an intent and a result in the ledger.

Refusals (unlawful purpose, missing or closed case, any statement the guard stops) are
ledgered before they are raised. If the ledger cannot be written, nothing runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from queries.guard import EscapeRefused, check_statement
from queries.sandbox import Sandbox
from schemas.purposes import Purpose, UnlawfulPurposeError, parse_purpose
from store.actor import default_actor
from store.cases import Case, CaseError, require_open_case
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


class QueryError(RuntimeError):
    """The query failed; the message says why."""


class QueryRefused(ValueError):
    """The query was refused before it ran (and the refusal ledgered)."""

    def __init__(self, route: str, message: str) -> None:
        super().__init__(message)
        self.route = route


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    purpose: Purpose
    case: str | None
    actor: str


def refusal_route(exc: Exception) -> str:
    """The route a refusal is ledgered under: the error's own, else by its kind."""
    route = getattr(exc, "route", None)
    if route:
        return str(route)
    return "unlawful_purpose" if isinstance(exc, UnlawfulPurposeError) else "invalid_request"


def refuse(ledger: Ledger, command: str, route: str, reason: str, **context: Any) -> None:
    """Ledger a refusal (fail closed: if that fails, LedgerError is what propagates)."""
    ledger.append(
        EntryKind.REFUSAL, {"command": command, "route": route, "reason": reason, **context}
    )


class QuerySession:
    def __init__(
        self, layout: StoreLayout, purpose: str, case: str | None = None, actor: str | None = None
    ) -> None:
        self.layout = layout.require()
        self.actor = actor or default_actor()
        self.ledger = Ledger(self.layout, self.actor)
        self.case = case
        context = {"purpose": purpose, "case": case}
        try:
            self.purpose = parse_purpose(purpose)
        except UnlawfulPurposeError as exc:
            refuse(self.ledger, "query", "unlawful_purpose", str(exc), **context)
            exc.ledgered = True  # type: ignore[attr-defined]
            raise
        self.case_record = self._check_case(context)
        start = self.case_record.window_from if self.case_record else None
        end = self.case_record.window_end if self.case_record else None
        self._sandbox = Sandbox(self.layout, self.purpose, start, end)

    def _check_case(self, context: dict[str, Any]) -> Case | None:
        if self.purpose is Purpose.security_incident and not self.case:
            reason = "security_incident queries need an open case: --case ID (loggvern case open)"
            refuse(self.ledger, "query", "missing_case", reason, **context)
            raise QueryRefused("missing_case", reason)
        if not self.case:
            return None
        try:
            case = require_open_case(self.layout, self.case)
        except CaseError as exc:
            refuse(self.ledger, "query", "case_not_open", str(exc), **context)
            raise QueryRefused("case_not_open", str(exc)) from None
        # A case bounds what incident work sees; administration only records it.
        return case if self.purpose is Purpose.security_incident else None

    @property
    def views(self) -> tuple[str, ...]:
        return self._sandbox.views

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, named: str | None = None
    ) -> QueryResult:
        context = {"purpose": self.purpose.value, "case": self.case, "sql": sql, "named": named}
        kinds = (EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT)
        table, _ = ledgered_run(self.ledger, self._sandbox, "query", sql, params, context, kinds)
        return QueryResult(table, self.purpose, self.case, self.actor)

    def close(self) -> None:
        self._sandbox.close()

    def __enter__(self) -> QuerySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Finish = Callable[[pa.Table], tuple[pa.Table, dict[str, Any]]]


def _count_rows(table: pa.Table) -> tuple[pa.Table, dict[str, Any]]:
    return table, {"rows": table.num_rows}


def ledgered_run(
    ledger: Ledger,
    sandbox: Sandbox,
    command: str,
    sql: str,
    params: Mapping[str, Any] | None,
    context: dict[str, Any],
    kinds: tuple[EntryKind, EntryKind],
    finish: Finish = _count_rows,
) -> tuple[pa.Table, dict[str, Any]]:
    """Every read's path: guard (a refusal is ledgered), intent, run in the sandbox,
    `finish` the table, result with what `finish` reports (rows returned at least);
    returns the finished table and that report."""
    try:
        statement = check_statement(sql, sandbox.views)
    except EscapeRefused as exc:
        refuse(ledger, command, exc.route, exc.message, **context)
        raise QueryRefused(exc.route, exc.message) from None
    body = {**context, "params": {k: str(v) for k, v in (params or {}).items()}}
    with ledger.action(*kinds, body) as outcome:
        try:
            table = sandbox.run(statement, params)
        except duckdb.Error as exc:
            raise QueryError(redact_values(str(exc))) from None
        table, fields = finish(table)
        outcome.fields.update(fields)
    return table, fields


def redact_values(message: str) -> str:
    """DuckDB quotes the values it chokes on in single quotes ("Could not convert string
    'usr-k1-…'"); the message goes to the ledger, which outlives the lake, so quoted
    values are cut. Identifiers (double-quoted) stay: they help and hold no data."""
    first = message.strip().splitlines()[0] if message.strip() else "query failed"
    return re.sub(r"'[^']*'", "'…'", first)[:300]
