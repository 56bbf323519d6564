"""Small shared pieces of the synthetic log writers: syslog headers in the
municipality's local time, a recorder of every identity actually written (the ground
truth privacy tests compare the store against), and deliberately broken lines for the
dead letter.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    LOCAL_TZ: timezone | ZoneInfo = ZoneInfo("Europe/Oslo")
except Exception:  # no tz database: November is CET anyway
    LOCAL_TZ = timezone(timedelta(hours=1), "CET")

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

IDENTITY_KINDS = (
    "user_names",
    "emails",
    "aliases",
    "display_names",
    "sam_accounts",
    "host_names",
    "device_names",
    "internal_ips",
    "home_ips",
    "mistyped_secrets",
    "personal_site_segments",
    "mac_addresses",
    "key_fingerprints",
)


class Seen:
    """Identities in the order they were first written, per kind."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, None]] = {k: {} for k in IDENTITY_KINDS}

    def add(self, kind: str, *values: str) -> None:
        bucket = self._kinds[kind]
        for v in values:
            bucket[v] = None

    def ip(self, *addresses: str) -> None:
        """Record the internal ones (10/8 and the fd00::/8 unique local range)."""
        for a in addresses:
            if a.startswith("10.") or a.startswith("fd"):
                self._kinds["internal_ips"][a] = None

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self._kinds.items()}


def local(t: datetime) -> datetime:
    return t.astimezone(LOCAL_TZ)


def bsd_header(t: datetime, host: str) -> str:
    """`Nov 16 08:01:02 host` in local time (RFC 3164: day padded with a space)."""
    lt = local(t)
    return f"{MONTHS[lt.month - 1]} {lt.day:2d} {lt:%H:%M:%S} {host}"


def rfc3339_header(t: datetime, host: str) -> str:
    """`2026-11-16T08:01:02.123456+01:00 host` (rsyslog's high-precision format)."""
    return f"{local(t).isoformat(timespec='microseconds')} {host}"


_GARBAGE_BYTES = [b for b in range(1, 256) if b not in (10, 11, 12, 13, 28, 29, 30, 133)]


def garbage_line(rng: random.Random) -> str:
    """Random bytes shown as Latin-1 text: control characters and mojibake, but nothing
    any reader (str.splitlines included) would take for a line break."""
    raw = bytes(rng.choice(_GARBAGE_BYTES) for _ in range(60))
    return raw.decode("latin-1")


def truncated(line: str, rng: random.Random) -> str:
    return line[: rng.randrange(len(line) // 4, len(line) // 2)]


def insert_malformed(
    lines: list[str], bad: list[str], rng: random.Random, *, skip: int = 0
) -> list[str]:
    """`lines` with `bad` inserted at random places after the first `skip` lines."""
    out = list(lines)
    for b in bad:
        out.insert(rng.randrange(min(skip, len(out)), len(out) + 1), b)
    return out


def work_time(day: datetime, rng: random.Random, night_share: float = 0.1) -> datetime:
    """A UTC instant on local calendar `day`: mostly office hours, sometimes any hour."""
    lday = local(day)
    base = datetime(lday.year, lday.month, lday.day, tzinfo=LOCAL_TZ)
    if rng.random() < night_share:
        secs = rng.uniform(0, 86400)
    else:
        secs = min(max(rng.gauss(11.5 * 3600, 2.4 * 3600), 6.5 * 3600), 18 * 3600)
    return (base + timedelta(seconds=secs)).astimezone(day.tzinfo)
