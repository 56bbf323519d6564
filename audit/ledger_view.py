"""The ledger as the report reads it: parsed once (`LedgerView`) for all the sections
built from it, and the helpers that read an entry's loosely typed body.

Bodies were written by many commands over time, so a field may be missing or of
another type; these helpers turn such a field into `None` rather than fail the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind, LedgerEntry

SQL_SHOWN = 200  # characters of a query's SQL (or an error, a reason) shown in the report


@dataclass
class LedgerView:
    """The parsed ledger, read once for all the ledger-based sections."""

    entries: list[LedgerEntry]
    error: str | None = None  # why reading stopped early

    @classmethod
    def read(cls, layout: StoreLayout) -> LedgerView:
        entries: list[LedgerEntry] = []
        try:
            for entry in Ledger(layout, "auditor").entries():
                entries.append(entry)
        except (OSError, ValueError) as exc:
            reason = f"{type(exc).__name__}" if isinstance(exc, ValueError) else str(exc)
            return cls(entries, f"reading stopped after {len(entries)} entries ({reason})")
        return cls(entries)

    def of(self, *kinds: EntryKind) -> Iterator[LedgerEntry]:
        return (e for e in self.entries if e.kind in kinds)

    def results(self, kind: EntryKind) -> dict[int, LedgerEntry]:
        """Result entries by the seq of the intent they answer (the last one wins)."""
        return {e.ref: e for e in self.of(kind) if e.ref is not None}


def outcome_of(result: LedgerEntry | None) -> tuple[str, int | None, str | None]:
    """A result entry's outcome, rows and error: `unanswered` when there is none."""
    if result is None:
        return "unanswered", None, None
    outcome = as_text(result.body.get("outcome")) or "unknown"
    error = truncate(as_text(result.body.get("error")))
    return outcome, as_int(result.body.get("rows")), error


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def truncate(text: str | None, limit: int = SQL_SHOWN) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
