"""The vault side output of pseudonymisation: the identities a batch pseudonymised for
the first time, sealed to the custodians' public key (store/vault.py).

User names of failed logins that match no known employee are held back: people type
their password into the user field, and a sealed password is still a stored password.
Such a name is sealed later only if it also appears in an event that is not a failed
login (then it is a real account).
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import IdentityKind
from schemas.policy import Policy
from store.vault import Sealer
from transforms.batch import Batch
from transforms.pseudonymize import Pseudonymizer

LOGIN_DATASET = "authentication"
FAILED = "failure"


def held_back(events: pa.Table, policy: Policy) -> set[str]:
    """User pseudonyms that appear only in failed logins of this batch."""
    if policy.dataset != LOGIN_DATASET or "outcome" not in events.column_names:
        return set()
    failed = pc.fill_null(pc.equal(events.column("outcome"), FAILED), False)
    only_failed: set[str] = set()
    elsewhere: set[str] = set()
    for col in policy.spec.columns:
        if col.identity is not IdentityKind.user or col.name not in events.column_names:
            continue
        if col.type != "string" or col.url:
            continue
        values = events.column(col.name)
        only_failed.update(_distinct(values.filter(failed)))
        elsewhere.update(_distinct(values.filter(pc.invert(failed))))
    return only_failed - elsewhere


def take_sealable(pz: Pseudonymizer, hold: set[str]) -> list[tuple[str, str, str]]:
    """(pseudonym, kind, canonical value) of every pending identity that may be sealed;
    held-back ones stay pending, so a later non-failed appearance seals them."""
    ready = []
    for token, (kind, canonical, known) in list(pz.pending.items()):
        if token in hold and not known:
            continue
        ready.append((token, kind.value, canonical))
        pz.sealed.add(token)
        del pz.pending[token]
    for token in hold:
        pz.pending.pop(token, None)  # re-queued when next seen
    return ready


def seal_batch(batch: Batch, policy: Policy, pz: Pseudonymizer, sealer: Sealer) -> Batch:
    ready = take_sealable(pz, held_back(batch.events, policy))
    return replace(batch, sealed=sealer.seal(ready))


def _distinct(values: pa.ChunkedArray | pa.Array) -> list[str]:
    return [v for v in pc.unique(values).to_pylist() if v is not None]
