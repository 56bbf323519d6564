"""Cases: security-incident work happens inside a registered case with a time window.

Opening and closing a case is ledgered first (fail closed), then `STORE/cases.json` is
rewritten atomically; a `security_incident` session needs an open case and sees only
rows inside its window.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.records import RecordFileError, locked, read_records, write_records

DEFAULT_LOOKBACK = timedelta(days=30)
MIN_JUSTIFICATION = 20


class CaseError(ValueError):
    """A case is unknown, closed, or its details are invalid."""


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=1)
    justification: str
    window_from: datetime
    window_to: datetime | None = None  # open-ended until the case is closed
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def window_end(self) -> datetime | None:
        """Rows at or after this instant are outside the case (None: no end yet)."""
        if self.window_to is not None:
            return self.window_to
        return self.closed_at


def parse_time(text: str, option: str) -> datetime:
    """ISO date or date-time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CaseError(f"{option} {text!r}: not an ISO date or date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_cases(layout: StoreLayout) -> dict[str, Case]:
    try:
        return read_records(layout.cases, Case)
    except RecordFileError as exc:
        raise CaseError(str(exc)) from None


def require_open_case(layout: StoreLayout, case_id: str) -> Case:
    case = load_cases(layout).get(case_id)
    if case is None:
        raise CaseError(f"no case {case_id!r} in this store (see `loggvern case list`)")
    if not case.is_open:
        raise CaseError(f"case {case_id} was closed at {case.closed_at:%Y-%m-%d %H:%M} UTC")
    return case


def open_case(
    layout: StoreLayout,
    ledger: Ledger,
    title: str,
    justification: str,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
) -> Case:
    if not title.strip():
        raise CaseError("a case needs a title")
    if len(justification.strip()) < MIN_JUSTIFICATION:
        raise CaseError(f"the justification must say why (at least {MIN_JUSTIFICATION} characters)")
    opened = datetime.now(UTC)
    start = window_from or opened - DEFAULT_LOOKBACK
    if window_to is not None and window_to <= start:
        raise CaseError("--to must be after --from")
    with _locked(layout) as cases:
        case = Case(
            id=f"CASE-{len(cases) + 1:04d}", title=title.strip(),
            justification=justification.strip(), window_from=start, window_to=window_to,
            opened_by=ledger.actor, opened_at=opened,
        )  # fmt: skip
        ledger.append(EntryKind.CASE_OPENED, {"case": case.model_dump(mode="json")})
        cases[case.id] = case
        _save(layout, cases)
    return case


def close_case(layout: StoreLayout, ledger: Ledger, case_id: str, reason: str = "") -> Case:
    with _locked(layout) as cases:
        case = cases.get(case_id)
        if case is None:
            raise CaseError(f"no case {case_id!r} in this store")
        if not case.is_open:
            raise CaseError(f"case {case_id} is already closed")
        closed = case.model_copy(
            update={"closed_at": datetime.now(UTC), "closed_by": ledger.actor,
                    "close_reason": reason or None}
        )  # fmt: skip
        ledger.append(
            EntryKind.CASE_CLOSED,
            {"case_id": case_id, "closed_at": closed.closed_at.isoformat(), "reason": reason},
        )
        cases[case_id] = closed
        _save(layout, cases)
    return closed


@contextmanager
def _locked(layout: StoreLayout) -> Iterator[dict[str, Case]]:
    with locked(layout.cases):
        yield load_cases(layout)


def _save(layout: StoreLayout, cases: dict[str, Case]) -> None:
    write_records(layout.cases, cases)
