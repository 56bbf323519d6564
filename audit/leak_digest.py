"""The digest the report shows for a leaked value, in place of the value itself.

An auditor needs to tell findings apart (is the leak in these three files one value
or three?) without the report repeating the value. A plain hash would do that, but it
would also let anyone holding the report and a staff list hash each candidate name and
confirm who leaked: a dictionary attack on low-entropy identities.

So a digest is HMAC-SHA256 under a random 32-byte key made for one report run
(`secrets.token_bytes`) and held in memory only: it is never written to the report,
the store, the ledger or a log, and it is gone when the run ends. Equal values have
equal digests within one report; a digest cannot be checked against a guessed value,
nor compared with another report's digests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NoReturn

DIGEST_HEX = 12  # hex digits of the HMAC shown for an example
KEY_BYTES = 32
DIGEST_NOTE = (
    "Digests are HMAC-SHA256 under a random key made for this report run and never "
    "stored: equal values have equal digests within this report, but a digest cannot "
    "be checked against a guessed value or compared with another report's digests."
)


class ValueDigest:
    """Keyed digests of values, under a key of its own (one instance per report run)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(KEY_BYTES)

    def __call__(self, value: str) -> str:
        data = value.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:DIGEST_HEX]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key=<{KEY_BYTES} random bytes, not shown>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a ValueDigest holds a key that must stay in memory")
