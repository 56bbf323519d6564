"""One ledger entry and its canonical bytes.

An entry is a pydantic model; its stored form is one line of compact JSON with the
fields in declared order and the body's keys sorted, so one entry has exactly one byte
form. The line ends with the SHA-256 of everything before the `hash` field, and each
entry holds the previous entry's hash in `prev`: changing, deleting, inserting or
reordering entries breaks the chain at the first entry touched.

The fixed layout (`{"seq":N,"prev":"<64 hex>",…,"hash":"<64 hex>"}`) lets the verifier
check a line by slicing bytes instead of parsing JSON, which is what makes verifying a
million entries take seconds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64
HASH_FIELD = b',"hash":"'
HASH_TAIL = len(HASH_FIELD) + 64 + 2  # ,"hash":"<64 hex>"}
SEQ_HEAD = b'{"seq":'
PREV_FIELD = b',"prev":"'


class EntryKind(StrEnum):
    STORE_INIT = "store_init"
    KEYS_GENERATED = "keys_generated"
    POLICY_REGISTERED = "policy_registered"
    INGEST_INTENT = "ingest_intent"
    INGEST_RESULT = "ingest_result"
    QUERY_INTENT = "query_intent"
    QUERY_RESULT = "query_result"
    STATS_INTENT = "stats_intent"
    STATS_RESULT = "stats_result"
    REFUSAL = "refusal"
    CASE_OPENED = "case_opened"
    CASE_CLOSED = "case_closed"
    DEADLETTER_INTENT = "deadletter_intent"
    DEADLETTER_RESULT = "deadletter_result"
    AUDIT_REPORT = "audit_report"
    BREAKGLASS_REQUESTED = "breakglass_requested"
    BREAKGLASS_APPROVED = "breakglass_approved"
    BREAKGLASS_EXPIRED = "breakglass_expired"
    BREAKGLASS_REVEAL_INTENT = "breakglass_reveal_intent"
    BREAKGLASS_REVEAL_RESULT = "breakglass_reveal_result"
    BREAKGLASS_BUNDLE = "breakglass_bundle"
    BREAKGLASS_NOTIFIED = "breakglass_notified"
    SUBJECT_ACCESS_INTENT = "subject_access_intent"
    SUBJECT_ACCESS_RESULT = "subject_access_result"
    SERVICE_STARTED = "service_started"
    SERVICE_STOPPED = "service_stopped"
    SERVICE_CALL = "service_call"
    SERVICE_FILES = "service_files"
    CHECKPOINT = "checkpoint"
    LEDGER_REPAIR = "ledger_repair"
    KEYS_ROTATED = "keys_rotated"
    KEYS_DESTROYED = "keys_destroyed"
    HOLD_ADDED = "hold_added"
    HOLD_RELEASED = "hold_released"
    RETENTION_INTENT = "retention_intent"
    RETENTION_PURGE = "retention_purge"  # paths removed (tombstones), before removing them
    RETENTION_RESULT = "retention_result"
    CUSTODIANS_RESHARE_INTENT = "custodians_reshare_intent"
    CUSTODIANS_RESHARED = "custodians_reshared"
    BREAKGLASS_VOIDED = "breakglass_voided"


class LedgerEntry(BaseModel):
    """What happened, who did it, when, and (for a result) which intent it answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    prev: str = Field(pattern=r"^[0-9a-f]{64}$")
    time: str
    kind: EntryKind
    actor: str
    mode: str = "direct"  # "direct": the CLI on the store; "socket": via the query service
    ref: int | None = None  # seq of the intent a result answers
    body: dict[str, Any] = Field(default_factory=dict)
    hash: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def content_bytes(entry: LedgerEntry) -> bytes:
    """The canonical JSON of an entry without its hash (what the hash covers)."""
    payload = entry.model_dump(mode="json", exclude={"hash"})
    payload["body"] = json.loads(json.dumps(payload["body"], sort_keys=True))
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def seal(entry: LedgerEntry) -> tuple[LedgerEntry, bytes]:
    """Compute the entry's hash; return the sealed entry and its stored line."""
    content = content_bytes(entry)
    digest = hashlib.sha256(content).hexdigest()
    line = content[:-1] + HASH_FIELD + digest.encode("ascii") + b'"}\n'
    return entry.model_copy(update={"hash": digest}), line


def parse_line(line: bytes) -> LedgerEntry:
    """Parse one stored line (without its newline) into an entry."""
    return LedgerEntry.model_validate(json.loads(line))


def line_seq_hash(line: bytes) -> tuple[int, str]:
    """Sequence number and hash of a stored line, by slicing (see the module docstring)."""
    comma = line.find(b",", len(SEQ_HEAD))
    return int(line[len(SEQ_HEAD) : comma]), line[-HASH_TAIL + len(HASH_FIELD) : -2].decode()
