"""The vocabulary the firewall parsers (FortiGate, PAN-OS, CEF) share: vendor action and outcome
words mapped to loggvern's, protocol numbers to names, and web URLs made whole (their times go
through transforms.parse.timestamps). Word mappings run once per distinct value of a batch (a
batch holds a handful of actions), never once per row.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.distinct import map_distinct

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
