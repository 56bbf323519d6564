"""The life of a break-glass request once filed: expiry (ledgered once), the state a
reveal needs (approved, and every pseudonym's key period still alive), marking it
revealed, and ledgering any refusal where it happens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from queries.breakglass.request import (
    BreakGlassError,
    BreakGlassRequest,
    State,
    get_request,
    save_requests,
)
from queries.session import refusal_route, refuse
from store.key_periods import key_id_of
from store.keys import KeyFileError, KeyRing
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind


@contextmanager
def refusals_ledgered(
    ledger: Ledger, command: str, request_id: str | None = None, **context: str | None
) -> Iterator[None]:
    """Ledger any refusal of a break-glass step (with its route) where it happens, so
    the CLI, the demo and any other caller leave the same trail; marks it ledgered."""
    try:
        yield
    except ValueError as exc:
        refuse(ledger, command, refusal_route(exc), str(exc)[:500], request=request_id, **context)
        exc.ledgered = True  # type: ignore[attr-defined]
        raise


def require_approved(request: BreakGlassRequest) -> None:
    """Refuse anything but an approved, unexpired, not yet revealed request."""
    if require_live(request) is State.PENDING:
        raise BreakGlassError(
            "not_approved",
            f"{request.id} has {len(request.approvals)} of {request.threshold} approvals",
        )


def require_live(request: BreakGlassRequest) -> State:
    """Refuse an expired, revealed or voided request; its state otherwise."""
    state = request.state()
    if state is State.EXPIRED:
        raise BreakGlassError(
            "expired", f"{request.id} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    if state is State.REVEALED:
        raise BreakGlassError("already_revealed", f"{request.id} was already revealed")
    if state is State.VOIDED:
        raise BreakGlassError("voided", voided_message(request))
    return state


def voided_message(request: BreakGlassRequest) -> str:
    return (
        f"{request.id} was voided when the custodians changed (reshare); its approvals no "
        "longer count: file a new request"
    )


def require_live_keys(keys: KeyRing, pseudonyms: Iterable[str]) -> None:
    """Refuse a request naming a pseudonym whose key period was destroyed: its entry
    can no longer be vouched for, nor its identity checked, and by design that
    pseudonym has decayed into anonymity."""
    for pseudonym in pseudonyms:
        key_id = key_id_of(pseudonym)
        if key_id is None or key_id not in keys.destroyed_periods:
            continue
        try:
            keys.pseudonym_key_for(key_id)
        except KeyFileError as exc:
            raise BreakGlassError("key_destroyed", f"{pseudonym}: {exc}") from None


def mark_revealed(request: BreakGlassRequest, custodians: list[str], revealed: list[str]) -> None:
    request.revealed_at = datetime.now(UTC)
    request.revealed_by = sorted(custodians)
    request.revealed = revealed


def expire_due(
    ledger: Ledger, requests: dict[str, BreakGlassRequest], now: datetime | None = None
) -> list[str]:
    """Ledger (once) every request whose time ran out before it was revealed."""
    moment = now or datetime.now(UTC)
    expired = []
    for request in requests.values():
        ended = (request.revealed_at, request.expired_at, request.voided_at)
        settled = any(t is not None for t in ended)
        if not settled and moment >= request.expires_at:
            ledger.append(
                EntryKind.BREAKGLASS_EXPIRED,
                {
                    "request": request.id,
                    "expired_at": request.expires_at.isoformat(),
                    "approvals": request.approvers,
                    "threshold": request.threshold,
                },
            )
            request.expired_at = request.expires_at
            expired.append(request.id)
    return expired


def current_request(
    layout: StoreLayout, ledger: Ledger, requests: dict[str, BreakGlassRequest], request_id: str
) -> BreakGlassRequest:
    """The request as it stands now (call under `locked_requests`): every request whose
    time ran out is first ledgered as expired and saved."""
    if expire_due(ledger, requests):
        save_requests(layout, requests)
    return get_request(requests, request_id)
