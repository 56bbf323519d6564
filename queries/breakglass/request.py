"""A break-glass request and where requests are kept.

A request names a case, one lawful purpose, a justification, the pseudonyms to reveal
and the time window they were seen in, and how the employee will be told. It lives for
a limited time (default 24 h): approvals and the reveal must happen inside it. Each
change is ledgered first, then `STORE/breakglass.json` is rewritten atomically (the
same pattern as cases).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from schemas.purposes import Purpose
from store.layout import StoreLayout
from store.records import RecordFileError, locked, read_records, write_records

MIN_JUSTIFICATION = 40
DEFAULT_VALIDITY = timedelta(hours=24)
DEFAULT_NOTIFY_DELAY = timedelta(days=30)


class BreakGlassError(ValueError):
    """A break-glass step is refused; the message says why. `route` names the rule."""

    def __init__(self, route: str, message: str) -> None:
        super().__init__(message)
        self.route = route


class State(StrEnum):
    PENDING = "pending"  # waiting for approvals
    APPROVED = "approved"  # quorum reached, not yet revealed
    REVEALED = "revealed"
    EXPIRED = "expired"
    VOIDED = "voided"  # the custodians changed (reshare) before it was revealed


class Notify(BaseModel):
    """How the employee is told: now, or deferred (with a reason and a due date)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = Field(pattern=r"^(now|deferred)$")
    reason: str | None = None
    due: datetime | None = None


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    custodian: str
    at: datetime


class BreakGlassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    case: str
    purpose: Purpose
    justification: str
    pseudonyms: tuple[str, ...]
    window_from: datetime
    window_to: datetime
    notify: Notify
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    threshold: int
    approvals: list[Approval] = Field(default_factory=list)
    expired_at: datetime | None = None
    voided_at: datetime | None = None
    revealed_at: datetime | None = None
    revealed_by: list[str] = Field(default_factory=list)  # custodians present
    revealed: list[str] = Field(default_factory=list)  # pseudonyms opened
    bundle_sha256: str | None = None
    notified_at: datetime | None = None

    @property
    def approvers(self) -> list[str]:
        return [a.custodian for a in self.approvals]

    def state(self, now: datetime | None = None) -> State:
        if self.revealed_at is not None:
            return State.REVEALED
        if self.voided_at is not None:
            return State.VOIDED
        if self.expired_at is not None or (now or datetime.now(UTC)) >= self.expires_at:
            return State.EXPIRED
        if len(self.approvals) >= self.threshold:
            return State.APPROVED
        return State.PENDING

    def notification_overdue(self, now: datetime) -> bool:
        due = self.notify.due
        return due is not None and self.notified_at is None and now >= due


def parse_notify(text: str, requested_at: datetime, due: datetime | None = None) -> Notify:
    """`now` or `deferred:REASON`; a deferred notice is due `due` or 30 days later."""
    if text == "now":
        if due is not None:
            raise BreakGlassError("invalid_request", "--notify-by only goes with deferred:REASON")
        return Notify(mode="now")
    mode, sep, reason = text.partition(":")
    if mode != "deferred" or not sep or len(reason.strip()) < 10:
        raise BreakGlassError(
            "invalid_request",
            "--notify must be 'now' or 'deferred:REASON' (a reason of at least 10 characters)",
        )
    when = due or requested_at + DEFAULT_NOTIFY_DELAY
    if when <= requested_at:
        raise BreakGlassError("invalid_request", "--notify-by must be in the future")
    return Notify(mode="deferred", reason=reason.strip(), due=when)


def requests_file(layout: StoreLayout) -> Path:
    return layout.root / "breakglass.json"


def load_requests(layout: StoreLayout) -> dict[str, BreakGlassRequest]:
    try:
        return read_records(requests_file(layout), BreakGlassRequest)
    except RecordFileError as exc:
        raise BreakGlassError("invalid_request", str(exc)) from None


def get_request(requests: dict[str, BreakGlassRequest], request_id: str) -> BreakGlassRequest:
    found = requests.get(request_id)
    if found is None:
        raise BreakGlassError(
            "unknown_request", f"no break-glass request {request_id!r} (see `breakglass list`)"
        )
    return found


@contextmanager
def locked_requests(layout: StoreLayout) -> Iterator[dict[str, BreakGlassRequest]]:
    """The requests under an exclusive lock; changes are saved by `save_requests`."""
    with locked(requests_file(layout)):
        yield load_requests(layout)


def save_requests(layout: StoreLayout, requests: dict[str, BreakGlassRequest]) -> None:
    write_records(requests_file(layout), requests)


def next_id(requests: dict[str, BreakGlassRequest]) -> str:
    return f"BG-{len(requests) + 1:04d}"
