"""Pseudonymisation of identities and internal addresses, on distinct values only.

- users, devices, hosts, home addresses: `<kind>-<key id>-<26 base32>`, a keyed
  HMAC-SHA256 (128 bits) over a domain-separated canonical value. Never a plain hash: a
  plain SHA-256 of a staff list or of the IPv4 space is reversed in minutes.
- internal IP addresses: ipcrypt-pfx, prefix-preserving, so analysts still see subnets;
  a `<column>_internal` flag says so (an encrypted address looks like a public one).
- external addresses stay clear (needed for blocking), except where the policy marks
  them personal (the remote address of an employee's successful login).
- personal-site URLs (`/personal/<user>/`) become the site root with the owner's
  pseudonym; other URLs become their site root.

A batch has few distinct values, so each column is dictionary-encoded, the dictionary
is mapped (with a cache across batches), and the indices are taken: never per row.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import INTERNAL_FLAG_SUFFIX, IdentityKind
from schemas.policy import Action, Policy
from store.keys import KeyRing
from transforms.distinct import map_distinct
from transforms.identity import AliasDirectory
from transforms.ipcrypt_pfx import encrypt_pfx

_DOMAIN = b"loggvern/pseudonym/v1\x00"
_PERSONAL_SITE = re.compile(r"^(https?://[^/?#]+)/personal/([^/?#]+)", re.IGNORECASE)
_SITE_ROOT = re.compile(r"^(https?://[^/?#]+(?:/(?:sites|teams)/[^/?#]+)?)", re.IGNORECASE)


def pseudonym_token(key: bytes, key_id: str, kind: IdentityKind, canonical: str) -> str:
    """`<kind>-<key id>-<26 base32>`: HMAC-SHA256 (128 bits) of the canonical value."""
    mac = hmac.digest(key, _DOMAIN + kind.value.encode() + b"\x00" + canonical.encode(), "sha256")
    b32 = base64.b32encode(mac[:16]).decode().rstrip("=").lower()
    return f"{kind.value}-{key_id}-{b32}"


class Pseudonymizer:
    """Holds the keys and caches; one per worker.

    Every pseudonym handed out and not yet sealed into the vault waits in `pending`
    with its identity (kind, canonical value, known employee?) until the batch's
    sealing step takes it (transforms/seal.py).
    """

    def __init__(self, keys: KeyRing, aliases: AliasDirectory, key_id: str | None = None) -> None:
        """`key_id`: the pseudonym key period to use (default: the current one)."""
        self._key_id = key_id or keys.pseudonym_key_id
        self._key = keys.pseudonym_key_for(self._key_id)
        self._ip_key = keys.ipcrypt
        self._aliases = aliases
        self._tokens: dict[tuple[IdentityKind, str], str] = {}
        self._ips: dict[str, str] = {}
        self.pending: dict[str, tuple[IdentityKind, str, bool]] = {}
        self.sealed: set[str] = set()

    def token(self, kind: IdentityKind, value: str) -> str:
        """Pseudonym of one identifier (canonicalised first for people)."""
        cache_key = (kind, value)
        cached = self._tokens.get(cache_key)
        if cached is not None:
            if cached not in self.sealed and cached not in self.pending:
                self.pending[cached] = self._identity(kind, value)
            return cached
        canonical, known = self._identity(kind, value)[1:]
        token = pseudonym_token(self._key, self._key_id, kind, canonical)
        if len(self._tokens) > 1_000_000:
            self._tokens.clear()
            self.sealed.clear()  # at worst sealed again; the vault keeps one per pseudonym
        self._tokens[cache_key] = token
        if token not in self.sealed:
            self.pending[token] = (kind, canonical, known)
        return token

    def _identity(self, kind: IdentityKind, value: str) -> tuple[IdentityKind, str, bool]:
        if kind is IdentityKind.user:
            canonical, known = self._aliases.canonical(value)
            return kind, canonical, known
        return kind, value.strip().casefold(), False

    def tokens(self, values: pa.Array, kind: IdentityKind) -> pa.Array:
        return map_distinct(values, lambda vs: [self.token(kind, v) for v in vs])

    def encrypt_internal(self, addresses: Sequence[str]) -> list[str]:
        """ipcrypt-pfx of internal addresses, batched over the ones not cached."""
        missing = [a for a in dict.fromkeys(addresses) if a not in self._ips]
        if missing:
            if len(self._ips) > 1_000_000:
                self._ips.clear()
            self._ips.update(zip(missing, encrypt_pfx(missing, self._ip_key), strict=True))
        return [self._ips[a] for a in addresses]


def internal_mask(addresses: list[str], ranges: Sequence[ipaddress._BaseNetwork]) -> list[bool]:
    networks = tuple(ranges)
    return [_is_internal(text, networks) for text in addresses]


@lru_cache(maxsize=1 << 18)
def _is_internal(text: str, ranges: tuple[ipaddress._BaseNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in ranges)


def pseudonymize(events: pa.Table, policy: Policy, pz: Pseudonymizer) -> pa.Table:
    """Replace every column the policy marks `pseudonymize`; add `<ip>_internal` flags."""
    ranges = [ipaddress.ip_network(r, strict=False) for r in policy.internal_ranges]
    for col in policy.spec.columns:
        rule = policy.fields.get(col.name)
        if col.name not in events.column_names or rule is None:
            continue
        if rule.action is not Action.pseudonymize:
            continue
        values = events.column(col.name).combine_chunks()
        if col.ip:
            new, flags = _addresses(events, values, col.name, policy, pz, ranges)
            events = _set(events, col.name, new)
            events = events.append_column(col.name + INTERNAL_FLAG_SUFFIX, flags)
        elif col.url:
            events = _set(events, col.name, _urls(values, pz))
        elif col.type == "list<string>":
            assert col.identity is not None
            flat = pz.tokens(pc.list_flatten(values), col.identity)
            events = _set(events, col.name, _relist(values, flat))
        else:
            assert col.identity is not None
            events = _set(events, col.name, pz.tokens(values, col.identity))
    return events


def _addresses(
    events: pa.Table,
    values: pa.Array,
    name: str,
    policy: Policy,
    pz: Pseudonymizer,
    ranges: Sequence[ipaddress._BaseNetwork],
) -> tuple[pa.Array, pa.Array]:
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    distinct = encoded.dictionary.to_pylist()
    is_internal = internal_mask(distinct, ranges)
    internal = [a for a, i in zip(distinct, is_internal, strict=True) if i]
    encrypted = dict(zip(internal, pz.encrypt_internal(internal), strict=True))
    mapped = [encrypted.get(a, a) for a in distinct]
    new = pa.array(mapped, pa.string()).take(encoded.indices)
    flags = pa.array(is_internal, pa.bool_()).take(encoded.indices)
    for rule in policy.personal_addresses:
        if rule.column != name:
            continue
        personal = pc.invert(pc.fill_null(flags, True))
        for cond_col, allowed in rule.when.items():
            cond = pc.is_in(events.column(cond_col).cast(pa.string()), pa.array(allowed))
            personal = pc.and_(personal, pc.fill_null(cond, False))
        if pc.any(personal).as_py():
            # only the personal rows' addresses: others must not get (or seal) pseudonyms
            masked = pc.if_else(personal, values.cast(pa.string()), pa.scalar(None, pa.string()))
            new = pc.if_else(personal, pz.tokens(masked, IdentityKind.address), new)
    return new, flags


def _urls(values: pa.Array, pz: Pseudonymizer) -> pa.Array:
    def site(urls: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for url in urls:
            personal = _PERSONAL_SITE.match(url)
            if personal:
                owner = pz.token(IdentityKind.user, personal.group(2))
                out.append(f"{personal.group(1).lower()}/personal/{owner}")
                continue
            root = _SITE_ROOT.match(url)
            out.append(root.group(1) if root else None)
        return out

    return map_distinct(values, site)  # type: ignore[arg-type]


def _relist(lists: pa.Array, flat: pa.Array) -> pa.Array:
    offsets = lists.offsets
    if lists.offset:
        offsets = pc.subtract(offsets, offsets[0])
    return pa.ListArray.from_arrays(offsets, flat, mask=lists.is_null())


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)
