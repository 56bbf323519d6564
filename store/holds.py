"""Legal holds: partitions that must outlive their retention while a case needs them.

A hold belongs to an open case and covers the date partitions of one dataset (or all),
one purpose (or both) and a date window (either end open). The retention run skips
every partition an active hold covers and says so; a hold ends only when it is
released, with a reason (closing its case does not release it: the legal matter may
outlast the investigation). Adding and releasing are ledgered first (fail closed),
then `STORE/holds.json` is rewritten atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict

from schemas.datasets import DATASETS
from schemas.purposes import parse_purpose
from store.cases import require_open_case
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.records import RecordFileError, locked, read_records, write_records


class HoldError(ValueError):
    """A hold is unknown, already released, or its details are invalid."""


class Hold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    case: str
    reason: str
    dataset: str | None = None  # None: every dataset
    purpose: str | None = None  # None: both purposes
    date_from: date | None = None  # first partition date held (None: no start)
    date_to: date | None = None  # last partition date held (None: no end)
    added_by: str
    added_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, dataset: str, purpose: str, day: date) -> bool:
        """Whether this hold (active or not) covers the partition dataset/purpose/day."""
        return (
            (self.dataset is None or self.dataset == dataset)
            and (self.purpose is None or self.purpose == purpose)
            and (self.date_from is None or day >= self.date_from)
            and (self.date_to is None or day <= self.date_to)
        )

    def scope(self) -> str:
        """What the hold covers, in words."""
        start = self.date_from.isoformat() if self.date_from else "…"
        end = self.date_to.isoformat() if self.date_to else "…"
        return (
            f"{self.dataset or 'every dataset'} / {self.purpose or 'both purposes'} / "
            f"dates {start} to {end}"
        )


def holding(holds: Iterable[Hold], dataset: str, purpose: str, day: date) -> list[Hold]:
    """The active holds among `holds` that cover a partition."""
    return [h for h in holds if h.active and h.covers(dataset, purpose, day)]


def load_holds(layout: StoreLayout) -> dict[str, Hold]:
    try:
        return read_records(layout.holds, Hold)
    except RecordFileError as exc:
        raise HoldError(str(exc)) from None


def active_holds(layout: StoreLayout) -> list[Hold]:
    return [h for h in load_holds(layout).values() if h.active]


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise HoldError(f"{option} {text!r}: not an ISO date (YYYY-MM-DD)") from None


def add_hold(
    layout: StoreLayout,
    ledger: Ledger,
    case_id: str,
    reason: str,
    dataset: str | None = None,
    purpose: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Hold:
    """Hold the partitions in scope for an open case; returns the hold (with its id)."""
    require_open_case(layout, case_id)
    if not reason.strip():
        raise HoldError("a hold needs a reason (--reason)")
    if dataset is not None and dataset not in DATASETS:
        raise HoldError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    lawful = parse_purpose(purpose).value if purpose is not None else None
    if date_from is not None and date_to is not None and date_to < date_from:
        raise HoldError("--to must not be before --from")
    with locked(layout.holds):
        holds = load_holds(layout)
        hold = Hold(
            id=f"HOLD-{len(holds) + 1:04d}", case=case_id, reason=reason.strip(),
            dataset=dataset, purpose=lawful, date_from=date_from, date_to=date_to,
            added_by=ledger.actor, added_at=datetime.now(UTC),
        )  # fmt: skip
        ledger.append(EntryKind.HOLD_ADDED, {"hold": hold.model_dump(mode="json")})
        holds[hold.id] = hold
        write_records(layout.holds, holds)
    return hold


def release_hold(layout: StoreLayout, ledger: Ledger, hold_id: str, reason: str) -> Hold:
    """End a hold; the partitions it covered are purged by the next retention run."""
    if not reason.strip():
        raise HoldError("a release needs a reason (--reason)")
    with locked(layout.holds):
        holds = load_holds(layout)
        hold = holds.get(hold_id)
        if hold is None:
            raise HoldError(f"no hold {hold_id!r} in this store (see `loggvern hold list`)")
        if not hold.active:
            raise HoldError(f"hold {hold_id} was already released")
        released = hold.model_copy(
            update={"released_at": datetime.now(UTC), "released_by": ledger.actor,
                    "release_reason": reason.strip()}
        )  # fmt: skip
        assert released.released_at is not None
        ledger.append(
            EntryKind.HOLD_RELEASED,
            {"hold_id": hold_id, "case": hold.case, "reason": released.release_reason,
             "released_at": released.released_at.isoformat()},
        )  # fmt: skip
        holds[hold_id] = released
        write_records(layout.holds, holds)
    return released
