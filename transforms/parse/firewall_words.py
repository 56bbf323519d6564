"""The vocabulary the firewall parsers (FortiGate, PAN-OS, CEF) share: vendor action and outcome
words mapped to loggvern's, protocol numbers to names, timestamps decoded from byte spans, and
web URLs made whole. Word mappings run once per distinct value of a batch (a batch holds a
handful of actions), never once per row.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.distinct import map_distinct
from transforms.parse.base import ParseContext
from transforms.parse.line_bytes import Lines, outside, pattern
from transforms.parse.syslog_header import _date_ok, _days_from_civil, _to_utc, digits2

_ALLOW = {
    "accept", "accepted", "allow", "allowed", "permit", "permitted", "pass", "passthrough",
    "continue", "override",
    # FortiGate: an accepted session that ended (closed, timed out, reset by an endpoint)
    "close", "timeout", "client-rst", "server-rst",
}  # fmt: skip
_DROP = {
    "deny", "denied", "drop", "dropped", "block", "blocked", "discard", "discarded",
    "drop-icmp", "drop icmp", "block-url", "block-ip", "random-drop", "sinkhole",
    "block-continue", "block-override", "override-lockout", "quarantine", "drop-all-packets",
}  # fmt: skip
_REJECT = {"reject", "rejected", "reset"}
_LOG = {"detected", "alert", "monitor", "monitored", "log", "logged", "audit", "log-only"}


def action_word(word: str) -> str | None:
    """loggvern's action (allow / drop / reject / log) for a vendor's action word."""
    w = word.strip().lower()
    if w in _REJECT or w.startswith("reset-") or w.startswith("reset "):
        return "reject"
    for words, action in ((_ALLOW, "allow"), (_DROP, "drop"), (_LOG, "log")):
        if w in words:
            return action
    return None


_SUCCESS = {"success", "succeeded", "successful", "ok", "pass", "passed"}
_FAILURE = {"failure", "failed", "fail", "error", "negotiate_error", "denied"}


def outcome_word(word: str) -> str | None:
    """success / failure for a vendor's status or outcome word."""
    w = word.strip().lower()
    return "success" if w in _SUCCESS else "failure" if w in _FAILURE else None


def actions(values: pa.Array) -> pa.Array:
    return map_distinct(values, lambda ws: [action_word(w) for w in ws])


def outcomes(values: pa.Array) -> pa.Array:
    return map_distinct(values, lambda ws: [outcome_word(w) for w in ws])


_PROTOCOLS = {
    "1": "icmp", "2": "igmp", "4": "ipip", "6": "tcp", "17": "udp", "41": "ipv6", "47": "gre",
    "50": "esp", "51": "ah", "58": "icmpv6", "89": "ospf", "103": "pim", "112": "vrrp",
    "132": "sctp", "ipv6-icmp": "icmpv6", "icmp6": "icmpv6",
}  # fmt: skip


def protocols(values: pa.Array) -> pa.Array:
    """Transport protocol in lower case: IANA numbers by name, names as given."""

    def name(words: list[str]) -> list[str | None]:
        out = []
        for w in words:
            w = w.strip().lower()
            out.append(_PROTOCOLS.get(w, w) or None)
        return out

    return map_distinct(values, name)


def lower(values: pa.Array) -> pa.Array:
    return map_distinct(values, lambda ws: [w.strip().lower() or None for w in ws])


def ip_versions(*addresses: pa.Array) -> pa.Array:
    """6 when the first present address holds a ':', 4 when it holds a '.', else null."""
    first = pc.coalesce(*addresses)
    six = pc.match_substring(first, ":")
    return pc.if_else(six, 6, pc.if_else(pc.is_valid(first), 4, None)).cast(pa.int8())


# --- timestamps --------------------------------------------------------------------------------
_DATE = {sep: pattern("0-9", "0-9", "0-9", "0-9", sep, "0-9", "0-9", sep) for sep in "-/"}
_DAY = pattern("0-9", "0-9")
_CLOCK = pattern("0-9", "0-9", ":", "0-9", "0-9", ":", "0-9", "0-9")
_US = 1_000_000


def naive_micros(
    raw: Lines, date: np.ndarray, clock: np.ndarray, valid: np.ndarray, sep: str
) -> tuple[np.ndarray, np.ndarray]:
    """(wall-clock microseconds, valid) of `YYYY<sep>MM<sep>DD` at `date` and `hh:mm:ss` at
    `clock` (the caller checks the spans' lengths)."""
    a, b, c = raw.load(date), raw.load(date + 8), raw.load(clock)
    ok = valid & (outside(a, _DATE[sep]) == 0)
    ok &= (outside(b, _DAY) & np.uint64(0xFFFF)) == 0
    ok &= outside(c, _CLOCK) == 0
    year = digits2(a, 0) * 100 + digits2(a, 2)
    month, day = digits2(a, 5), digits2(b, 0)
    h, m, s = digits2(c, 0), digits2(c, 3), digits2(c, 6)
    ok &= _date_ok(year, month, day) & (h <= 23) & (m <= 59) & (s <= 60)
    days = _days_from_civil(np.where(ok, year, 1970), np.where(ok, month, 1), np.where(ok, day, 1))
    return (days * 86_400 + h * 3600 + m * 60 + s) * _US, ok


def to_utc(naive: np.ndarray, ok: np.ndarray, zones: pa.Array | None, ctx: ParseContext):
    """(UTC microseconds, valid) of wall-clock times: rows naming a zone (`-0500`, `+01:00`,
    `UTC+1:00`, `CET`, `Europe/Oslo`) use it, the others the context's timezone. A zone that
    is none of these makes the time invalid."""
    local = np.where(ok, naive, 0)
    if zones is None or zones.null_count == len(zones):
        return (_to_utc(local, ctx.timezone) if ok.any() else local), ok
    encoded = pc.dictionary_encode(zones)
    code = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    utc = np.zeros(len(naive), np.int64)
    groups = [(code < 0, ctx.timezone)]
    groups += [(code == i, _zone(z)) for i, z in enumerate(encoded.dictionary.to_pylist())]
    valid = ok.copy()
    for rows, zone in groups:
        rows = rows & ok
        if not rows.any():
            continue
        if zone is None:
            valid &= ~rows
        elif isinstance(zone, int):
            utc[rows] = local[rows] - zone * _US
        else:
            utc[rows] = _to_utc(local[rows], zone)
    return utc, valid


_OFFSET = re.compile(r"^(?:[A-Za-z]{1,4})?([+-])(\d{1,2}):?(\d\d)?$", re.IGNORECASE)
_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2,
    "EEST": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
    "PDT": -7,
}  # fmt: skip


def _zone(text: str) -> int | str | None:
    """Seconds east of UTC, an IANA zone name, or None for a zone we do not know."""
    t = text.strip()
    if t.upper() in _ABBREVIATIONS:
        return _ABBREVIATIONS[t.upper()] * 3600
    m = _OFFSET.match(t)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        return (-1 if m.group(1) == "-" else 1) * (hours * 3600 + minutes * 60)
    if re.fullmatch(r"[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+", t):
        try:
            ZoneInfo(t)
        except (ValueError, ZoneInfoNotFoundError):
            return None
        return t
    return None


def timestamps(micros: np.ndarray, ok: np.ndarray) -> pa.Array:
    return pa.array(np.where(ok, micros, 0), pa.timestamp("us", tz="UTC"), mask=~ok)


# --- URLs --------------------------------------------------------------------------------------
def web_urls(url: pa.Array, host: pa.Array | None, https: pa.Array) -> pa.Array:
    """Whole URLs: a URL with a scheme stays; a path gets `scheme://host` in front; a URL
    without a scheme (`host/path`) gets one: https where `https` says so, else http."""
    scheme = pc.if_else(pc.fill_null(https, False), "https://", "http://")
    has_scheme = pc.fill_null(pc.match_substring_regex(url, r"^[A-Za-z][A-Za-z0-9+.-]*://"), False)
    path = pc.fill_null(pc.starts_with(url, "/"), False)
    joined = pc.binary_join_element_wise(scheme, url, "")
    if host is not None:
        on_host = pc.binary_join_element_wise(scheme, host, pc.if_else(path, url, "/"), "")
        joined = pc.if_else(pc.or_(path, pc.is_null(url)), on_host, joined)
    return pc.if_else(has_scheme, url, joined)
