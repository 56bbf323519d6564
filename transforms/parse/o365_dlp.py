"""Microsoft 365 DLP audit records (Office 365 Management Activity API, Purview audit
export) to the data_security_finding dataset.

DLP is one of the monitoring tools the law allows for security after a risk assessment,
so its findings are kept, but the person behind a finding must be the sender or owner
(an identity column, pseudonymised later), never hidden in a plain-text column. The
service principal that reported the match (DLPAgent, ...) goes to `reporter`, and only
names known to be services ever land there.

Per-line `json.loads` rather than `pyarrow.json`: the records are deeply nested and
heterogeneous (Exchange, SharePoint/OneDrive and Endpoint metadata; ExceptionInfo seen as
both string and object; counts sometimes as strings), pyarrow.json infers one schema per
block and fails the whole block on the first conflict, so a per-line fallback would be
needed anyway. DLP volumes are small (a few thousand records a day), far from the hot path
throughput that forces vectorised parsing of firewall logs.

event outcome (the rule Elastic's o365 pipeline applies, kept for comparability):
"failure" when a rule of the record took the action BlockAccess, i.e. the access to the
sensitive content was blocked, unless the block no longer holds: a DLPRuleUndo record
(the block was undone by an override or a policy/document change) or a DLPRuleMatch with
a non-empty ExceptionInfo (user override or false-positive report) is "success". DLPInfo
(false positive noted, nothing undone) keeps "failure" when it blocked. Everything else
(notify/alert/report only) is "success". One deviation: an empty ExceptionInfo object
(`{}`) counts as no exception (Elastic counts any non-empty-string value).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from schemas.datasets import DATA_SECURITY_FINDING
from transforms.parse.base import (
    REASON,
    REJECT_SCHEMA,
    ROW,
    ParseContext,
    ParseResult,
    SourceFormat,
    conform,
    lines_matching,
)

# Fixed reject reasons: they never quote anything from the line.
R_NULL = "null line"
R_EMPTY = "empty line"
R_TOO_LONG = "line too long"
R_JSON = "invalid json"
R_NOT_OBJECT = "not a json object"
R_NO_TIME = "missing CreationTime"
R_BAD_TIME = "invalid CreationTime"
R_OPERATION = "unsupported operation"
R_UNREADABLE = "unreadable record"
REASONS = frozenset(
    {
        R_NULL,
        R_EMPTY,
        R_TOO_LONG,
        R_JSON,
        R_NOT_OBJECT,
        R_NO_TIME,
        R_BAD_TIME,
        R_OPERATION,
        R_UNREADABLE,
    }
)

# Records with SensitiveInformationDetections can be large, but not this large.
MAX_LINE_CHARS = 4 * 1024 * 1024

# Operation spellings vary (DLPRuleMatch in SharePoint, DlpRuleMatch in Exchange).
DLP_OPERATIONS: dict[str, str] = {
    "dlprulematch": "DLPRuleMatch",
    "dlpruleundo": "DLPRuleUndo",
    "dlpinfo": "DLPInfo",
}

# UserId values that name a service, not a person (compared case-insensitively).
SERVICE_PRINCIPALS = frozenset(
    {
        "dlpagent",
        "app@sharepoint",
        "sharepoint\\system",
        "nt authority\\system",
        "securitycompliancealerts",
    }
)
SERVICE_PREFIXES = ("dlppolicyeventbasedassistant",)
# Common-schema UserType values of non-person accounts: System, Application,
# ServicePrincipal, CustomPolicy, SystemPolicy.
SERVICE_USER_TYPES = frozenset({4, 5, 6, 7, 8})

_SEVERITY_RANK = {"informational": 1, "low": 2, "medium": 3, "high": 4}
_SEVERITY_NAME = {1: "Informational", 2: "Low", 3: "Medium", 4: "High"}

_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?P<frac>\.\d{1,9})?(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_EMAIL_RE = re.compile(r"[^@\s<>]+@[^@\s<>]+")
_INT32_MAX = 2**31 - 1

_COLUMNS = (
    "time",
    "workload",
    "operation",
    "outcome",
    "severity",
    "policy_names",
    "rule_names",
    "rule_actions",
    "sensitive_types",
    "sensitive_count",
    "incident_id",
    "object_id",
    "reporter",
    "actor_user",
    "actor_display",
    "file_name",
    "file_url",
    "site_url",
    "recipients",
    "subject",
    "src_ip",
)


def _str(value: Any) -> str | None:
    """A non-empty string, else None (numbers, objects and blanks are not names)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    """A string or a list of strings as a list of non-empty strings."""
    values = value if isinstance(value, list) else [value]
    return [s for s in (_str(v) for v in values) if s is not None]


def _unique(values: Iterable[str]) -> list[str] | None:
    out = list(dict.fromkeys(values))
    return out or None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def _is_service(user_id: str, user_type: Any) -> bool:
    folded = user_id.casefold()
    if folded in SERVICE_PRINCIPALS or folded.startswith(SERVICE_PREFIXES):
        return True
    # A bare account name (no domain, no '@', no spaces) on a non-person account type
    # (UserType arrives as a number, or as a string in some exports).
    bare = not any(c in user_id for c in "@\\ ")
    return bare and _count(user_type) in SERVICE_USER_TYPES


def _is_person_id(value: str) -> bool:
    """An e-mail/UPN or DOMAIN\\user that is not a known service."""
    return ("@" in value or "\\" in value) and not _is_service(value, None)


def _is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value) is not None


def _parse_time(value: str) -> datetime | None:
    m = _TIME_RE.fullmatch(value)
    if m is None:
        return None
    text = value
    frac = m.group("frac")
    if frac and len(frac) > 7:  # fromisoformat takes at most microseconds
        text = value[: m.start("frac")] + frac[:7] + value[m.end("frac") :]
    try:
        parsed = datetime.fromisoformat(text)
        # The API documents CreationTime as UTC; a value without offset is UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _client_ip(value: Any) -> str | None:
    """ClientIP as a bare address: ports and brackets removed, junk dropped."""
    text = _str(value)
    if text is None or text.casefold() in ("null", "<null>"):
        return None
    candidates = [text]
    if text.startswith("["):  # [v6]:port
        candidates.append(text[1:].split("]", 1)[0])
    elif text.count(":") == 1:  # v4:port
        candidates.append(text.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def _has_exception(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, dict | list):
        return len(value) > 0
    return True


def _object_id(rec: dict[str, Any], sp: dict[str, Any], ex: dict[str, Any]) -> str | None:
    """An opaque id of the file or message. ObjectId is skipped when it is a URL, a path
    or an address: for SharePoint it can be the full (personal) URL, for Endpoint a local
    path under the user's profile, and object_id is not pseudonymised."""
    for value in (
        sp.get("UniqueID"),
        sp.get("UniqueId"),
        rec.get("ObjectId"),
        ex.get("MessageID"),
        ex.get("UniqueID"),
    ):
        text = _str(value)
        if text is None or "/" in text or "\\" in text or _is_email(text):
            continue
        return text
    return None


def _record(rec: dict[str, Any], time: datetime, operation: str) -> dict[str, Any]:
    sp = _obj(rec.get("SharePointMetaData"))
    ex = _obj(rec.get("ExchangeMetaData"))
    ep = _obj(rec.get("EndpointMetaData"))

    policies: list[str] = []
    rules: list[str] = []
    actions: list[str] = []
    severity = 0
    blocked = False
    # Several rules usually report the same detection: count each type once, at its
    # highest count, so sensitive_count is the number of items, not items x rules.
    type_counts: dict[str, int] = {}

    def add_sensitive(entries: Any) -> None:
        for entry in _items(entries):
            info = _obj(entry)
            stype = _str(info.get("SensitiveType"))
            if stype is None:
                continue
            count = _count(info.get("Count")) or 0
            type_counts[stype] = max(type_counts.get(stype, 0), count)

    for policy_item in _items(rec.get("PolicyDetails")):
        policy = _obj(policy_item)
        if (name := _str(policy.get("PolicyName"))) is not None:
            policies.append(name)
        for rule_item in _items(policy.get("Rules")):
            rule = _obj(rule_item)
            if (name := _str(rule.get("RuleName"))) is not None:
                rules.append(name)
            rule_actions = _strings(rule.get("Actions"))
            actions.extend(rule_actions)
            blocked = blocked or "BlockAccess" in rule_actions
            sev = _str(rule.get("Severity"))
            severity = max(severity, _SEVERITY_RANK.get(sev.casefold(), 0) if sev else 0)
            add_sensitive(_obj(rule.get("ConditionsMatched")).get("SensitiveInformation"))
    add_sensitive(ep.get("SensitiveInformation"))

    overridden = operation == "DLPRuleUndo" or (
        operation == "DLPRuleMatch" and _has_exception(rec.get("ExceptionInfo"))
    )
    outcome = "failure" if blocked and not overridden else "success"

    # Reporter: the service principal only. Actor: the person (sender, owner).
    user_id = _str(rec.get("UserId"))
    reporter = None
    person_user_id = None
    if user_id is not None:
        if _is_service(user_id, rec.get("UserType")):
            reporter = user_id
        elif _is_person_id(user_id):
            person_user_id = user_id
    owner = _str(sp.get("FileOwner"))
    candidates = [_str(ex.get("From")), _str(sp.get("From"))]
    if owner is not None and _is_email(owner):
        candidates.append(owner)
    candidates.append(person_user_id)
    actor = next((c for c in candidates if c is not None and _is_person_id(c)), None)
    actor_display = owner if owner is not None and not _is_email(owner) else None

    recipients = [*_strings(ex.get("To")), *_strings(ex.get("CC")), *_strings(ex.get("BCC"))]

    file_name = _str(sp.get("FileName"))
    if file_name is None and rec.get("Workload") == "Endpoint":
        path = _str(rec.get("ObjectId"))
        if path is not None:
            file_name = _str(re.split(r"[\\/]", path)[-1])

    return {
        "time": time,
        "workload": _str(rec.get("Workload")),
        "operation": operation,
        "outcome": outcome,
        "severity": _SEVERITY_NAME.get(severity),
        "policy_names": _unique(policies),
        "rule_names": _unique(rules),
        "rule_actions": _unique(actions),
        "sensitive_types": _unique(type_counts),
        "sensitive_count": min(sum(type_counts.values()), _INT32_MAX) if type_counts else None,
        "incident_id": _str(rec.get("IncidentId")),
        "object_id": _object_id(rec, sp, ex),
        "reporter": reporter,
        "actor_user": actor,
        "actor_display": actor_display,
        "file_name": file_name,
        "file_url": _str(sp.get("FilePathUrl")),
        "site_url": _str(sp.get("SiteCollectionUrl")),
        "recipients": recipients or None,
        "subject": _str(ex.get("Subject")),
        "src_ip": _client_ip(rec.get("ClientIP")),
    }


def _parse_line(line: str | None) -> dict[str, Any] | str:
    """The row for one line, or its (fixed) reject reason."""
    if line is None:
        return R_NULL
    if len(line) > MAX_LINE_CHARS:
        return R_TOO_LONG
    text = line.lstrip("\ufeff").strip()
    if not text:
        return R_EMPTY
    try:
        rec = json.loads(text)
    except (ValueError, RecursionError):
        return R_JSON
    if not isinstance(rec, dict):
        return R_NOT_OBJECT
    operation = DLP_OPERATIONS.get((_str(rec.get("Operation")) or "").casefold())
    if operation is None:
        return R_OPERATION
    created = _str(rec.get("CreationTime"))
    if created is None:
        return R_NO_TIME
    time = _parse_time(created)
    if time is None:
        return R_BAD_TIME
    return _record(rec, time, operation)


def parse_o365_dlp(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Parse Microsoft 365 DLP audit records, one JSON object per line.

    `ctx.timezone` is not used: CreationTime is documented as UTC.
    """
    del ctx
    rows: list[int] = []
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    reject_rows: list[int] = []
    reasons: list[str] = []
    for i, line in enumerate(lines.to_pylist()):
        try:
            parsed = _parse_line(line)
        except Exception:  # one weird record must not sink the batch
            parsed = R_UNREADABLE
        if isinstance(parsed, str):
            reject_rows.append(i)
            reasons.append(parsed)
            continue
        rows.append(i)
        for name in _COLUMNS:
            columns[name].append(parsed[name])

    schema = DATA_SECURITY_FINDING.parse_schema()
    arrays = {ROW: pa.array(rows, pa.int64())}
    for name in _COLUMNS:
        arrays[name] = pa.array(columns[name], schema.field(name).type)
    table = conform(pa.table(arrays), DATA_SECURITY_FINDING)
    rejects = pa.table(
        {ROW: pa.array(reject_rows, pa.int64()), REASON: pa.array(reasons, pa.string())},
        schema=REJECT_SCHEMA,
    )
    return ParseResult(table=table, rejects=rejects)


_DLP_RECORD = r'^\s*\{.*"Operation"\s*:\s*"(?i:dlp)[A-Za-z]*"'


O365_DLP = SourceFormat(
    "o365-dlp",
    DATA_SECURITY_FINDING,
    parse_o365_dlp,
    lines_matching(_DLP_RECORD),
    examples=(
        '{"CreationTime": "2026-11-16T08:02:00", "Id": "5d1b6a1e-0000-4000-8000-000000000001", "Operation": "DLPRuleMatch", "OrganizationId": "00000000-0000-4000-8000-000000000000", "RecordType": 13, "UserKey": "DlpAgent", "UserType": 4, "Workload": "Exchange", "UserId": "kari.nordmann@fjordvik.kommune.no", "IncidentId": "6e2c", "PolicyDetails": [{"PolicyId": "p1", "PolicyName": "Personal data", "Rules": [{"RuleId": "r1", "RuleName": "Norwegian ID numbers", "Severity": "High", "Actions": ["BlockAccess"], "ConditionsMatched": {"SensitiveInformation": [{"SensitiveInformationTypeName": "Norway Identification Number", "SensitiveType": "a1", "Count": 3, "Confidence": 85}]}}]}], "SensitiveInfoDetectionIsIncluded": true, "ExchangeMetaData": {"From": "kari.nordmann@fjordvik.kommune.no", "To": ["someone@gmail.com"], "Subject": "list", "MessageID": "<a1@fjordvik.kommune.no>"}}',  # noqa: E501
    ),
)
SOURCE_FORMATS = (O365_DLP,)
