"""The periods of the pseudonym key: one key per period, so that once every row of a
period has passed retention its key can be destroyed and the pseudonyms made with it
decay into anonymity (nobody can HMAC a name to them any more).

STORE/keys/periods.json         the periods in order: id (k1, k2, …), started, retired
                                (when the next one took over), destroyed
STORE/keys/pseudonym-<id>.key   the key of every period not yet destroyed

Ingest uses the current period; subject access, reveal and the vault's MAC check use
the period named in each pseudonym (`<kind>-<id>-<26 base32>`). A retired period's key
is kept until the retention run finds none of its pseudonyms in the lake any more.
Every rotation and destruction is ledgered first (ids and reasons, never key bytes),
then periods.json is rewritten atomically, under a lock.

The ledger writer lock (`store.write_lock`) is not taken here: `keys rotate` takes it
so a manual rotation never lands inside an ingest run, and the retention run holds it
around `destroy_spent_periods`. An ingest run pins its period when it is planned.

A store made before key periods has `pseudonym.key` and no periods.json: it reads as
one period k1 (started when that file was written) until the first rotation writes
periods.json.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.datasets import IdentityKind
from store.key_files import KeyFileError, new_key, shred_key_file, write_key_file
from store.layout import StoreLayout
from store.ledger import LEDGER_FILE, Ledger
from store.ledger_entry import EntryKind, parse_line
from store.records import RecordFileError, locked, read_records, write_records
from store.settings import load_settings

PERIODS_FILE = "periods.json"
LEGACY_KEY_FILE = "pseudonym.key"
FIRST_PERIOD = "k1"
_ID = r"k[1-9][0-9]*"
_KINDS = "|".join(re.escape(kind.value) for kind in IdentityKind)
_PSEUDONYM = re.compile(rf"(?:{_KINDS})-({_ID})-[a-z2-7]{{26}}")


class KeyPeriodError(KeyFileError):
    """A key period change is refused (no reason given, a clock before the period)."""


class KeyPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=rf"^{_ID}$")
    started: AwareDatetime
    retired: AwareDatetime | None = None  # when the next period took over
    destroyed: AwareDatetime | None = None  # when its key file was destroyed

    @property
    def number(self) -> int:
        return int(self.id[1:])


def key_id_of(pseudonym: str) -> str | None:
    """The key period named in a pseudonym (`usr-k2-…` → `k2`); None if it is not one."""
    match = _PSEUDONYM.fullmatch(pseudonym)
    return match.group(1) if match else None


def key_file(key_dir: Path, period_id: str) -> Path:
    path = key_dir / f"pseudonym-{period_id}.key"
    legacy = key_dir / LEGACY_KEY_FILE
    if period_id == FIRST_PERIOD and not path.exists() and legacy.exists():
        return legacy  # a store made before key periods
    return path


def read_periods(key_dir: Path) -> list[KeyPeriod]:
    """The periods in order, checked: k1, k2, … with only the last one current."""
    path = key_dir / PERIODS_FILE
    if not path.exists():
        legacy = key_dir / LEGACY_KEY_FILE
        if legacy.exists():
            written = datetime.fromtimestamp(legacy.stat().st_mtime, UTC)
            return [KeyPeriod(id=FIRST_PERIOD, started=written)]
        raise KeyFileError(f"{path}: missing; the store has no pseudonym key periods")
    try:
        periods = list(read_records(path, KeyPeriod).values())
    except (RecordFileError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: unreadable key periods ({type(exc).__name__})") from None
    _check(path, periods)
    return periods


def start_first_period(key_dir: Path, now: datetime | None = None) -> KeyPeriod:
    """A new store's first period and its key (called by `generate_keys`)."""
    period = KeyPeriod(id=FIRST_PERIOD, started=_utc(now))
    write_key_file(key_file(key_dir, period.id), new_key())
    _write(key_dir, [period])
    return period


def current_period(layout: StoreLayout) -> KeyPeriod:
    return read_periods(layout.require().keys)[-1]


def rotate(
    layout: StoreLayout, ledger: Ledger, reason: str, now: datetime | None = None
) -> KeyPeriod:
    """Start a new period with a new key; the old one is retired but kept (its data
    still needs it for subject access and reveal). Returns the new period."""
    if not reason.strip():
        raise KeyPeriodError("a key rotation needs a reason")
    moment = _utc(now)
    with _periods(layout) as periods:
        return _rotate(layout, ledger, periods, reason.strip(), moment)


def rotate_if_due(
    layout: StoreLayout, ledger: Ledger, now: datetime | None = None
) -> KeyPeriod | None:
    """Rotate when the current period has lasted the store's `key_period_days`."""
    days = load_settings(layout.require()).key_period_days
    moment = _utc(now)
    with _periods(layout) as periods:
        current = periods[-1]
        if moment - current.started < timedelta(days=days):
            return None
        reason = f"due: {current.id} started {current.started:%Y-%m-%d}, periods last {days} days"
        return _rotate(layout, ledger, periods, reason, moment)


def destroy_spent_periods(
    layout: StoreLayout, ledger: Ledger, in_use: set[str], now: datetime | None = None
) -> list[str]:
    """Destroy the key of every retired period none of whose pseudonyms is in use (the
    retention run passes the key ids still found in the lake). Never the current one.
    Returns the ids destroyed."""
    moment = _utc(now)
    with _periods(layout) as periods:
        for period in periods:
            if period.destroyed is not None:  # finish a destruction cut short by a crash
                shred_key_file(key_file(layout.keys, period.id))
        retired = [p for p in periods if p.retired is not None and p.destroyed is None]
        spent = [p.id for p in retired if p.id not in in_use]
        if not spent:
            return []
        kept = [p.id for p in retired if p.id in in_use]
        ledger.append(EntryKind.KEYS_DESTROYED, {"periods": spent, "kept_in_use": kept})
        _write(
            layout.keys,
            [p.model_copy(update={"destroyed": moment}) if p.id in spent else p for p in periods],
        )
        for period_id in spent:
            shred_key_file(key_file(layout.keys, period_id))
        return spent


def reapply_destructions(layout: StoreLayout, ledger: Ledger) -> list[str]:
    """Destroy again every period the ledger says was destroyed whose key is back (a
    restored backup of `keys/`): a destroyed period must stay destroyed. Returns the ids.
    A period the restored `periods.json` still has as current is left alone and named
    in the error the caller gets (rotating first is the operator's decision)."""
    wanted = destroyed_in_ledger(layout)
    if not wanted:
        return []
    again: list[str] = []
    with _periods(layout) as periods:
        for period in periods:
            path = key_file(layout.keys, period.id)
            if period.id not in wanted or (period.destroyed is not None and not path.exists()):
                continue
            if period.retired is None:
                raise KeyPeriodError(
                    f"key period {period.id} was destroyed (ledger) but the restored "
                    "keys/periods.json has it as current: rotate (`keys rotate`), then run "
                    "retention again"
                )
            again.append(period.id)
        if not again:
            return []
        ledger.append(EntryKind.KEYS_DESTROYED, {"periods": again, "reapplied": True})
        moment = _utc(None)
        _write(layout.keys, [p.model_copy(update={"destroyed": p.destroyed or moment})
                             if p.id in again else p for p in periods])  # fmt: skip
        for period_id in again:
            shred_key_file(key_file(layout.keys, period_id))
    return again


def destroyed_in_ledger(layout: StoreLayout) -> set[str]:
    """Every period id a `keys_destroyed` entry names."""
    path = layout.ledger / LEDGER_FILE
    marker = f'"kind":"{EntryKind.KEYS_DESTROYED.value}"'.encode()
    found: set[str] = set()
    if not path.exists():
        return found
    with open(path, "rb") as fh:
        for line in fh:
            if marker in line and line.endswith(b"\n"):
                periods = parse_line(line[:-1]).body.get("periods")
                if isinstance(periods, list):
                    found |= {p for p in periods if isinstance(p, str)}
    return found


def _rotate(
    layout: StoreLayout, ledger: Ledger, periods: list[KeyPeriod], reason: str, moment: datetime
) -> KeyPeriod:
    current = periods[-1]
    if moment <= current.started:
        raise KeyPeriodError(
            f"cannot rotate at {moment:%Y-%m-%d %H:%M} UTC: key period {current.id} started "
            f"at {current.started:%Y-%m-%d %H:%M} UTC"
        )
    new = KeyPeriod(id=f"k{current.number + 1}", started=moment)
    path = key_file(layout.keys, new.id)
    shred_key_file(path)  # left by a rotation cut short before periods.json named it
    write_key_file(path, new_key())
    body = {"from": current.id, "to": new.id, "reason": reason, "key_file": path.name}
    try:
        ledger.append(EntryKind.KEYS_ROTATED, body)
    except BaseException:
        shred_key_file(path)  # not ledgered: not rotated
        raise
    _write(layout.keys, [*periods[:-1], current.model_copy(update={"retired": moment}), new])
    return new


@contextmanager
def _periods(layout: StoreLayout) -> Iterator[list[KeyPeriod]]:
    """The periods, read under the lock that every change of periods.json holds."""
    key_dir = layout.require().keys
    with locked(key_dir / PERIODS_FILE):
        yield read_periods(key_dir)


def _write(key_dir: Path, periods: list[KeyPeriod]) -> None:
    _check(key_dir / PERIODS_FILE, periods)
    write_records(key_dir / PERIODS_FILE, {p.id: p for p in periods})


def _check(path: Path, periods: list[KeyPeriod]) -> None:
    problem = None
    if not periods:
        problem = "no periods"
    elif [p.id for p in periods] != [f"k{n}" for n in range(1, len(periods) + 1)]:
        problem = "period ids are not k1, k2, … in order"
    elif periods[-1].retired is not None or periods[-1].destroyed is not None:
        problem = f"the current period {periods[-1].id} is retired or destroyed"
    elif any(p.retired is None for p in periods[:-1]):
        problem = "an earlier period was never retired"
    if problem:
        raise KeyFileError(f"{path}: inconsistent key periods ({problem})")


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise KeyPeriodError("a key period time needs a time zone")
    return now.astimezone(UTC)
