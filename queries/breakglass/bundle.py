"""A break-glass bundle: just one approved request's sealed vault entries and metadata,
signed with the store's ledger key, so the reveal can happen on a custodian's machine
and the store host never holds the vault's private key, not even in memory.

The store checks each entry's vault MAC before export, under the key of the
pseudonym's key period (an entry sealed by a mere holder of the public key is left out;
a request naming a pseudonym whose period key was destroyed is refused); the custodians'
machine checks the signature, the shares and the HPKE binding of each entry to its
pseudonym.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from queries.breakglass.lifecycle import (
    current_request,
    refusals_ledgered,
    require_approved,
    require_live_keys,
)
from queries.breakglass.request import (
    BreakGlassError,
    BreakGlassRequest,
    locked_requests,
    save_requests,
)
from store.custodians import VaultConfig, load_vault_config
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.signing import load_signer
from store.vault import find_entries, genuine_entries, vault_mac_keys

BUNDLE_FORMAT = "loggvern-breakglass-bundle/1"
SIGN_DOMAIN = b"loggvern-breakglass-bundle/v1\n"


class BundleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pseudonym: str
    kind: str
    sealed: str  # base64 of the HPKE ciphertext


class BundleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    case: str
    purpose: str
    justification: str
    pseudonyms: tuple[str, ...]
    window_from: datetime
    window_to: datetime
    requested_by: str
    approvers: tuple[str, ...]
    expires_at: datetime


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = BUNDLE_FORMAT
    request: BundleRequest
    vault: VaultConfig
    entries: tuple[BundleEntry, ...]
    not_in_vault: tuple[str, ...]  # requested, never sealed (e.g. failed-login names)
    failed_check: tuple[str, ...]  # entries without a valid vault MAC, left out
    created: datetime
    signing_public_key: str
    signing_key: str  # fingerprint, as printed at init and pinned by auditors
    signature: str = ""

    def payload(self) -> bytes:
        """Canonical bytes the signature covers (everything but the signature)."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def export_bundle(layout: StoreLayout, ledger: Ledger, request_id: str, out: Path) -> Bundle:
    with refusals_ledgered(ledger, "breakglass bundle", request_id):
        if out.exists():
            raise BreakGlassError(
                "invalid_request", f"{out}: already exists; refusing to overwrite"
            )
        keys = load_keys(layout.keys)
        signer = load_signer(layout.keys)
        with locked_requests(layout) as requests:
            config = load_vault_config(layout)  # under the lock a reshare also holds
            request = current_request(layout, ledger, requests, request_id)
            require_approved(request)
            require_live_keys(keys, request.pseudonyms)
            found = find_entries(layout, list(request.pseudonyms))
            genuine, foreign = genuine_entries(found, vault_mac_keys(keys))
            entries = [
                BundleEntry(pseudonym=row["pseudonym"], kind=row["kind"],
                            sealed=base64.b64encode(row["sealed"]).decode())
                for row in genuine.to_pylist()
            ]  # fmt: skip
            present = {e.pseudonym for e in entries} | set(foreign)
            bundle = Bundle(
                request=_bundle_request(request), vault=config, entries=tuple(entries),
                not_in_vault=tuple(p for p in request.pseudonyms if p not in present),
                failed_check=tuple(foreign), created=datetime.now(UTC),
                signing_public_key=signer.public_key.hex(), signing_key=signer.fingerprint,
            )  # fmt: skip
            signature = signer.sign_document(SIGN_DOMAIN, bundle.payload())
            bundle = bundle.model_copy(update={"signature": signature.hex()})
            data = (bundle.model_dump_json(indent=2) + "\n").encode()
            digest = hashlib.sha256(data).hexdigest()
            ledger.append(
                EntryKind.BREAKGLASS_BUNDLE,
                {"request": request.id, "bundle_sha256": digest, "entries": len(entries),
                 "out": str(out.resolve())},
            )  # fmt: skip
            _write_new(out, data)
            request.bundle_sha256 = digest
            save_requests(layout, requests)
        return bundle


def _bundle_request(request: BreakGlassRequest) -> BundleRequest:
    return BundleRequest(
        id=request.id, case=request.case, purpose=request.purpose.value,
        justification=request.justification, pseudonyms=request.pseudonyms,
        window_from=request.window_from, window_to=request.window_to,
        requested_by=request.requested_by, approvers=tuple(request.approvers),
        expires_at=request.expires_at,
    )  # fmt: skip


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
