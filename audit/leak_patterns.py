"""What the leak scan looks for, and which distinct values match it.

- the alias directories (every identifier and employee id, case-insensitively, as a
  whole value or inside a longer one; identifiers shorter than `MIN_IDENTIFIER` are
  skipped, they would match by chance),
- identity patterns: e-mail addresses, `DOMAIN\\user`, internal IPv4 (RFC 1918,
  100.64/10) and IPv6 (fc00::/7, fe80::/10) addresses in plain form,
- the policy: a column the row's policy pseudonymises must hold pseudonyms
  (`usr-k1-<26 base32>` …), nothing else (`PSEUDONYM`, applied by `audit.leak_scan`).

The patterns are RE2 regexes applied to lower-cased values. `Classifier` matches them
once over every distinct value of the whole scan, not once per column: compiling the
alias alternations costs more than matching.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from audit.lake_models import AliasSource
from transforms.identity import AliasDirectory, AliasError, normalize_identifier

MIN_IDENTIFIER = 4  # shorter alias identifiers are not checked (they match by chance)
ALIAS_CHUNK = 200  # identifiers per regex: RE2's DFA stays small and fast

ALIAS_EXACT = "alias_identifier"
ALIAS_EMBEDDED = "alias_identifier_in_text"
NOT_PSEUDONYM = "not_pseudonymised"
EMAIL = "email"
DOMAIN_USER = "domain_user"
INTERNAL_IPV4 = "internal_ipv4"
INTERNAL_IPV6 = "internal_ipv6"

# RE2 syntax, applied to lower-cased values.
_REGEX = {
    EMAIL: r"[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}",
    DOMAIN_USER: r"(?:^|[^\p{L}\p{N}._-])[\p{L}\p{N}][\p{L}\p{N}._-]{0,14}\\[\p{L}\p{N}._$-]+",
    INTERNAL_IPV4: (
        r"(?:^|[^0-9.])(?:10\.[0-9]{1,3}|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168"
        r"|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\.[0-9]{1,3}\.[0-9]{1,3}(?:$|[^0-9])"
    ),
    INTERNAL_IPV6: r"(?:^|[^0-9a-z:])(?:f[cd][0-9a-f]{2}|fe[89ab][0-9a-f]):[0-9a-f]{0,4}:",
}
PATTERNS: dict[str, str] = {
    ALIAS_EXACT: "a value equal to an identifier or employee id of the alias directory",
    ALIAS_EMBEDDED: "an alias-directory identifier inside a longer value",
    EMAIL: "an e-mail address",
    DOMAIN_USER: "a Windows DOMAIN\\user account",
    INTERNAL_IPV4: "a plain internal IPv4 address (10/8, 172.16/12, 192.168/16, 100.64/10)",
    INTERNAL_IPV6: "a plain internal IPv6 address (fc00::/7, fe80::/10)",
    NOT_PSEUDONYM: "a value that is not a pseudonym in a column the policy pseudonymises",
}
IP_PATTERNS = (INTERNAL_IPV4, INTERNAL_IPV6)
PSEUDONYM = r"^(?:usr|dev|hst|adr|mac|pth|rec)-[a-z0-9]+-[a-z2-7]{26}$"
MESSAGE_ID = r"^<[^<>@\s]+@[^<>@\s]+>$"
_NON_ALNUM = r"[^\p{L}\p{N}]"
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


@dataclass
class AliasSet:
    values: pa.Array  # lower-cased identifiers, at least MIN_IDENTIFIER long
    regexes: list[str]  # the same, as bounded alternations for matching inside values
    sources: list[AliasSource]

    @classmethod
    def load(cls, given: Sequence[Path], recorded: Iterable[str]) -> AliasSet:
        identifiers: set[str] = set()
        sources: list[AliasSource] = []
        seen: set[Path] = set()
        candidates = [(Path(p), "given") for p in given]
        candidates += [(Path(p), "ledger") for p in recorded]
        for path, origin in candidates:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            source = AliasSource(path=str(path), origin=origin, status="loaded")  # type: ignore[arg-type]
            sources.append(source)
            if not path.is_file():
                source.status = "missing"
                continue
            try:
                found = _identifiers(path)
            except AliasError:
                source.status = "unreadable"
                continue
            kept = {i for i in found if len(i) >= MIN_IDENTIFIER}
            source.identifiers = len(kept)
            source.skipped_short = len(found) - len(kept)
            identifiers |= kept
        ordered = sorted(identifiers, key=lambda i: (-len(i), i))
        regexes = [
            r"(?:^|[^\p{L}\p{N}])(?:"
            + "|".join(_re2_escape(i) for i in ordered[n : n + ALIAS_CHUNK])
            + r")(?:$|[^\p{L}\p{N}])"
            for n in range(0, len(ordered), ALIAS_CHUNK)
        ]
        return cls(pa.array(ordered, pa.string()), regexes, sources)


def _identifiers(path: Path) -> set[str]:
    """Every identifier and employee id of an alias CSV, lower-cased, with the variants
    the pipeline matches (DOMAIN\\ removed, case-folded, OneDrive site segments)."""
    directory = AliasDirectory.load(path)  # validates; raises AliasError
    found = {k.lower() for k in directory.index} | {v.lower() for v in directory.index.values()}
    rows = csv.reader(path.read_text(encoding="utf-8-sig").splitlines())
    next(rows, None)
    for row in rows:
        if len(row) == 2 and row[1].strip():
            found.add(row[1].strip().lower())
            found.add(normalize_identifier(row[1]).lower())
    found.discard("")
    return found


def _re2_escape(text: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


class Classifier:
    """Which distinct lower-cased values match which pattern, decided once for the whole
    scan: compiling the regexes (the alias alternations above all) costs more than
    matching, so they run once over every distinct value instead of once per column."""

    COMPACT_AT = 1_000_000

    def __init__(self, aliases: AliasSet) -> None:
        self.aliases = aliases
        self._parts: list[pa.Array] = []
        self._size = 0
        self.matched: dict[str, pa.Array] = {}

    def add(self, values: pa.Array) -> None:
        distinct = pc.drop_null(pc.unique(pc.utf8_lower(values)))
        self._parts.append(distinct)
        self._size += len(distinct)
        if self._size > self.COMPACT_AT and len(self._parts) > 1:
            self._parts = [self._distinct()]
            self._size = len(self._parts[0])

    def _distinct(self) -> pa.Array:
        if not self._parts:
            return pa.array([], pa.string())
        return pc.unique(pa.concat_arrays(self._parts))

    def classify(self) -> None:
        distinct = self._distinct()
        self._parts = []
        exact = pc.fill_null(pc.is_in(distinct, value_set=self.aliases.values), False)
        self.matched[ALIAS_EXACT] = pc.filter(distinct, exact)
        rest = pc.filter(distinct, pc.invert(exact))
        rest = pc.filter(rest, pc.match_substring_regex(rest, _NON_ALNUM))
        inside = pa.array([False] * len(rest), pa.bool_())
        for regex in self.aliases.regexes if len(rest) else ():
            inside = pc.or_(inside, pc.match_substring_regex(rest, regex))
        self.matched[ALIAS_EMBEDDED] = pc.filter(rest, inside)
        for name, regex in _REGEX.items():
            self.matched[name] = pc.filter(distinct, pc.match_substring_regex(distinct, regex))
