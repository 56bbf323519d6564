"""Opening a bundle on a custodian's machine (no store needed) and recording on the
store what was opened.

`open_bundle` checks the store's signature (against a pinned fingerprint when given),
the request's expiry and the approving custodians' shares, opens the requested entries
and returns a receipt: the pseudonyms opened, never the identities. `record_receipt`
ledgers that receipt on the store, after checking it answers the bundle the store
exported for that request.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from queries.breakglass.bundle import SIGN_DOMAIN, Bundle
from queries.breakglass.lifecycle import (
    current_request,
    mark_revealed,
    refusals_ledgered,
    require_approved,
)
from queries.breakglass.opening import Opened, open_entries, quorum_key
from queries.breakglass.request import (
    BreakGlassError,
    BreakGlassRequest,
    locked_requests,
    save_requests,
)
from store.custodians import Share
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.signing import fingerprint, normalise_fingerprint
from store.vault import VAULT_SCHEMA

RECEIPT_FORMAT = "loggvern-breakglass-receipt/1"


class Receipt(BaseModel):
    """What a custodians' session opened from a bundle: pseudonyms only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = RECEIPT_FORMAT
    request: str
    bundle_sha256: str
    custodians: tuple[str, ...]
    revealed: tuple[str, ...]
    not_in_vault: tuple[str, ...]
    failed_check: tuple[str, ...]
    opened_at: datetime


def read_bundle(path: Path) -> tuple[Bundle, str]:
    try:
        data = path.read_bytes()
        bundle = Bundle.model_validate_json(data)
    except OSError as exc:
        raise BreakGlassError("bad_bundle", f"{path}: cannot read ({exc.strerror})") from None
    except ValidationError as exc:
        raise BreakGlassError(
            "bad_bundle", f"{path}: not a break-glass bundle ({exc.error_count()} errors)"
        ) from None
    return bundle, hashlib.sha256(data).hexdigest()


def verify_bundle(bundle: Bundle, path: Path, pinned: str | None) -> None:
    public = bytes.fromhex(bundle.signing_public_key)
    if fingerprint(public) != bundle.signing_key:
        raise BreakGlassError(
            "bad_bundle", f"{path}: the signing key does not match its fingerprint"
        )
    if pinned is not None and normalise_fingerprint(pinned) != bundle.signing_key:
        raise BreakGlassError(
            "bad_bundle", f"{path}: signed by {bundle.signing_key}, not by the pinned key"
        )
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            bytes.fromhex(bundle.signature), SIGN_DOMAIN + bundle.payload()
        )
    except (InvalidSignature, ValueError):
        raise BreakGlassError(
            "bad_bundle", f"{path}: the signature does not verify; the bundle was altered"
        ) from None


def open_bundle(
    path: Path, shares: list[Share], pinned: str | None = None
) -> tuple[Bundle, Opened, Receipt]:
    bundle, digest = read_bundle(path)
    verify_bundle(bundle, path, pinned)
    request = bundle.request
    if datetime.now(UTC) >= request.expires_at:
        raise BreakGlassError(
            "expired", f"{request.id} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    key = quorum_key(bundle.vault, shares, list(request.approvers))
    entries = pa.table(
        {
            "pseudonym": [e.pseudonym for e in bundle.entries],
            "kind": [e.kind for e in bundle.entries],
            "sealed": [base64.b64decode(e.sealed) for e in bundle.entries],
            "mac": [b""] * len(bundle.entries),
        },
        schema=VAULT_SCHEMA,
    )
    # The identity-to-pseudonym HMAC needs the store's key; the store's signature and its
    # MAC check at export stand in for it here, and the HPKE info binds each pseudonym.
    opened = open_entries(key, entries, list(request.pseudonyms), check=None)
    del key
    opened.failed_check.extend(bundle.failed_check)
    receipt = Receipt(
        request=request.id, bundle_sha256=digest,
        custodians=tuple(sorted(s.custodian for s in shares)),
        revealed=tuple(opened.revealed), not_in_vault=tuple(opened.not_in_vault),
        failed_check=tuple(opened.failed_check), opened_at=datetime.now(UTC),
    )  # fmt: skip
    return bundle, opened, receipt


def record_receipt(
    layout: StoreLayout, ledger: Ledger, request_id: str, path: Path
) -> tuple[BreakGlassRequest, Receipt]:
    with refusals_ledgered(ledger, "breakglass record", request_id):
        try:
            receipt = Receipt.model_validate_json(path.read_bytes())
        except OSError as exc:
            raise BreakGlassError("bad_receipt", f"{path}: cannot read ({exc.strerror})") from None
        except ValidationError as exc:
            raise BreakGlassError(
                "bad_receipt", f"{path}: not a break-glass receipt ({exc.error_count()} errors)"
            ) from None
        with locked_requests(layout) as requests:
            request = current_request(layout, ledger, requests, request_id)
            require_approved(request)
            _check_receipt(request, receipt, path)
            body = {
                "request": request.id, "case": request.case, "purpose": request.purpose.value,
                "custodians": list(receipt.custodians), "where": "bundle",
                "pseudonyms": list(request.pseudonyms), "bundle_sha256": receipt.bundle_sha256,
            }  # fmt: skip
            with ledger.action(
                EntryKind.BREAKGLASS_REVEAL_INTENT, EntryKind.BREAKGLASS_REVEAL_RESULT, body
            ) as outcome:
                outcome.fields.update({
                    "request": request.id, "where": "bundle", "revealed": list(receipt.revealed),
                    "not_in_vault": list(receipt.not_in_vault),
                    "failed_check": list(receipt.failed_check),
                    "opened_at": receipt.opened_at.isoformat(),
                })  # fmt: skip
            mark_revealed(request, list(receipt.custodians), list(receipt.revealed))
            save_requests(layout, requests)
        return request, receipt


def _check_receipt(request: BreakGlassRequest, receipt: Receipt, path: Path) -> None:
    if receipt.request != request.id:
        raise BreakGlassError(
            "bad_receipt", f"{path}: a receipt for {receipt.request}, not {request.id}"
        )
    if request.bundle_sha256 is None or receipt.bundle_sha256 != request.bundle_sha256:
        raise BreakGlassError(
            "bad_receipt", f"{path}: does not answer the bundle exported for {request.id}"
        )
    extra = set(receipt.revealed) - set(request.pseudonyms)
    if extra:
        raise BreakGlassError(
            "out_of_scope",
            f"{path}: reveals pseudonyms outside {request.id}: {', '.join(sorted(extra))}",
        )
    outsiders = set(receipt.custodians) - set(request.approvers)
    if outsiders or len(receipt.custodians) < request.threshold:
        raise BreakGlassError(
            "not_an_approver",
            f"{path}: the custodians present are not a quorum of {request.id}'s approvers",
        )
