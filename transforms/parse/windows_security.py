"""Windows Security events (Winlogbeat JSON, or flat JSON from Windows Event Forwarding /
NXLog-style collectors; see winlog_fields) to two datasets:

- `windows-security` -> authentication: 4624 logon, 4625 logon_failed, 4634 logoff,
  4648 explicit_credentials, 4672 special_privileges, 4740 account_locked_out;
- `windows-object-access` -> record_access: 4663 (an attempt to access an object).

A format has one dataset, so each rejects the other's event ids with a reason naming
the format that takes them; `--source auto` routes lines by the two `detect` functions.
The whole batch is parsed at once (DuckDB's JSON functions, pyarrow compute, Python only
per distinct privilege/access list or address). Mapping, per event id:

- actor_user: TargetUserName qualified by TargetDomainName (`DOMAIN\\user`, or as given
  when it holds `\\` or `@`); 4648 and 4672: the Subject (the account acting), 4648's
  Target goes to target_user; 4740: the locked-out account (its TargetDomainName is the
  caller computer, which goes to target_host)
- target_host: 4648 TargetServerName, 4740 caller computer
- process: LogonProcessName, else the base name of ProcessName, else the provider
- src_ip / src_port: IpAddress / IpPort, "-" and non-addresses null, ::ffff:a.b.c.d as IPv4
- reason (4625): SubStatus unless 0x0, else Status, else FailureReason's message id
- session_id: TargetLogonId (4624, 4634), SubjectLogonId (4648, 4672), lower case
- privileges (4672): the Se...Privilege names of PrivilegeList
- 4663: actor_user the Subject, object_type, object_name, access (AccessList names),
  process (base name), action "access", outcome success, privileged null (no field says),
  session_id (SubjectLogonId: joins the 4672 of the same logon), store_class (the
  privileged store the path lies in: quarantine, mailbox, hr, journal, backup; else null)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import AUTHENTICATION, RECORD_ACCESS, DatasetSpec
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform
from transforms.parse.syslog_header import RowErrors
from transforms.parse.timestamps import EVENT_FORMS, parse_text_times
from transforms.parse.winlog_fields import extract, is_json_object
from transforms.parse.winlog_values import (
    STR_NULL,
    access_lists,
    addresses,
    base_name,
    failure_code,
    is_in,
    lookup,
    matching,
    pick,
    ports,
    privilege_lists,
    qualified,
    store_classes,
)

SECURITY_NAME = "windows-security"
OBJECT_ACCESS_NAME = "windows-object-access"

# event id -> (action, outcome)
AUTH_EVENTS: dict[str, tuple[str, str]] = {
    "4624": ("logon", "success"),
    "4625": ("logon_failed", "failure"),
    "4634": ("logoff", "success"),
    "4648": ("explicit_credentials", "success"),
    "4672": ("special_privileges", "success"),
    "4740": ("account_locked_out", "success"),
}
ACCESS_EVENTS: dict[str, tuple[str, str]] = {"4663": ("access", "success")}

# Fixed reject reasons: they never quote anything from the line.
R_NULL = "null line"
R_EMPTY = "empty line"
R_TOO_LONG = "line too long"
R_JSON = "invalid json"
R_NOT_OBJECT = "not a json object"
R_NO_ID = "missing event id"
R_UNSUPPORTED = "unsupported event id"
R_TO_OBJECT_ACCESS = f"object access event (4663): use --source {OBJECT_ACCESS_NAME}"
R_TO_SECURITY = f"logon event (4624-4740): use --source {SECURITY_NAME}"
R_NO_TIME = "missing event time"
R_BAD_TIME = "invalid event time"
REASONS = frozenset(
    {R_NULL, R_EMPTY, R_TOO_LONG, R_JSON, R_NOT_OBJECT, R_NO_ID, R_UNSUPPORTED,
     R_TO_OBJECT_ACCESS, R_TO_SECURITY, R_NO_TIME, R_BAD_TIME}
)  # fmt: skip

MAX_LINE_CHARS = 1 << 20  # a Security event is a few KB; a megabyte is not an event


def _event_ids(values: pa.Array) -> pa.Array:
    """Event ids as decimal text ("4624"): numbers and strings alike."""
    return matching(pc.utf8_trim_whitespace(values), r"^\d{1,6}$")


def _read(lines: pa.Array, ctx: ParseContext, events: dict, foreign: dict, to_foreign: str):
    """(fields, times, errors): every row's fields, and the reasons rows are refused."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    lines = lines.cast(pa.string())
    n = len(lines)
    errors = RowErrors(n)
    errors.flag(~lines.is_valid().to_numpy(zero_copy_only=False), R_NULL)
    size = pc.fill_null(pc.binary_length(lines), 0).to_numpy(zero_copy_only=False)
    errors.flag(size > MAX_LINE_CHARS, R_TOO_LONG)
    text = pc.utf8_trim_whitespace(pc.utf8_ltrim(lines, "\ufeff"))
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    errors.flag(empty, R_EMPTY)
    fields = extract(pick(pa.array(errors.ok), text))
    errors.flag(~fields["ok"].to_numpy(zero_copy_only=False), R_JSON)
    errors.flag(~is_json_object(text).to_numpy(zero_copy_only=False), R_NOT_OBJECT)
    eid = _event_ids(fields["event_id"])
    errors.flag(pc.is_null(eid).to_numpy(zero_copy_only=False), R_NO_ID)
    errors.flag(is_in(eid, tuple(foreign)).to_numpy(zero_copy_only=False), to_foreign)
    errors.flag(~is_in(eid, tuple(events)).to_numpy(zero_copy_only=False), R_UNSUPPORTED)
    times, unreadable = parse_text_times(fields["time"], ctx.timezone, EVENT_FORMS)
    errors.flag(unreadable, R_BAD_TIME)
    errors.flag(~times.is_valid().to_numpy(zero_copy_only=False), R_NO_TIME)
    return {**fields, "event_id": eid}, times, errors


def _common(f: dict[str, pa.Array], times: pa.Array, events: dict) -> dict[str, pa.Array]:
    eid = f["event_id"]
    return {
        "time": times,
        "observer": f["computer"],
        "event_id": eid,
        "action": lookup(eid, {k: v[0] for k, v in events.items()}),
        "outcome": lookup(eid, {k: v[1] for k, v in events.items()}),
    }


def _authentication(f: dict[str, pa.Array], times: pa.Array) -> dict[str, pa.Array]:
    eid = f["event_id"]
    subject = is_in(eid, ("4648", "4672"))
    locked = is_in(eid, ("4740",))
    user = pick(subject, f["SubjectUserName"], f["TargetUserName"])
    domain = pick(subject, f["SubjectDomainName"], pick(locked, STR_NULL, f["TargetDomainName"]))
    explicit = is_in(eid, ("4648",))
    target = qualified(f["TargetUserName"], f["TargetDomainName"])
    session = pick(is_in(eid, ("4624", "4634")), f["TargetLogonId"], STR_NULL)
    session = pick(subject, f["SubjectLogonId"], session)
    process = pc.coalesce(
        pc.utf8_trim_whitespace(f["LogonProcessName"]), base_name(f["ProcessName"]), f["provider"]
    )
    return {
        **_common(f, times, AUTH_EVENTS),
        "process": pick(pc.equal(process, ""), STR_NULL, process),
        "auth_method": pc.utf8_lower(f["AuthenticationPackageName"]),
        "actor_user": qualified(user, domain),
        "target_user": pick(explicit, target),
        "src_ip": addresses(f["IpAddress"]),
        "src_port": ports(f["IpPort"]),
        "reason": pick(
            is_in(eid, ("4625",)), failure_code(f["Status"], f["SubStatus"], f["FailureReason"])
        ),
        "logon_type": matching(f["LogonType"], r"^\d{1,2}$"),
        "target_host": pick(explicit, f["TargetServerName"], pick(locked, f["TargetDomainName"])),
        "privileges": pick(
            is_in(eid, ("4672",)),
            privilege_lists(f["PrivilegeList"]),
            pa.scalar(None, pa.list_(pa.string())),
        ),
        "session_id": pc.utf8_lower(session),
    }


def _object_access(f: dict[str, pa.Array], times: pa.Array) -> dict[str, pa.Array]:
    return {
        **_common(f, times, ACCESS_EVENTS),
        "actor_user": qualified(f["SubjectUserName"], f["SubjectDomainName"]),
        "object_type": f["ObjectType"],
        "object_name": f["ObjectName"],
        "access": access_lists(f["AccessList"]),
        "process": base_name(f["ProcessName"]),
        "session_id": pc.utf8_lower(f["SubjectLogonId"]),
        "store_class": store_classes(f["ObjectName"]),
    }


def _parse(lines, ctx, dataset: DatasetSpec, events, foreign, to_foreign, build) -> ParseResult:
    fields, times, errors = _read(lines, ctx, events, foreign, to_foreign)
    rows = np.flatnonzero(errors.ok)
    if len(rows) < len(errors.ok):  # build only the accepted rows
        take = pa.array(rows, pa.int64())
        fields = {name: col.take(take) for name, col in fields.items()}
        times = times.take(take)
    table = pa.table({"row": pa.array(rows, pa.int64()), **build(fields, times)})
    return ParseResult(table=conform(table, dataset), rejects=errors.rejects())


def parse_windows_security(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Logon events (4624, 4625, 4634, 4648, 4672, 4740) to authentication rows."""
    return _parse(
        lines, ctx, AUTHENTICATION, AUTH_EVENTS, ACCESS_EVENTS, R_TO_OBJECT_ACCESS, _authentication
    )


def parse_windows_object_access(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    """Object access events (4663) to record_access rows."""
    return _parse(
        lines, ctx, RECORD_ACCESS, ACCESS_EVENTS, AUTH_EVENTS, R_TO_SECURITY, _object_access
    )


def _detector(events: dict):
    def detect(lines: pa.StringArray) -> pa.BooleanArray:
        """JSON objects whose event id is one of this format's."""
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        lines = lines.cast(pa.string())
        small = pc.less_equal(pc.fill_null(pc.binary_length(lines), 0), MAX_LINE_CHARS)
        candidate = pc.and_(is_json_object(lines), small)
        if not pc.any(candidate).as_py():
            return candidate
        eid = _event_ids(extract(pick(candidate, lines), ("event_id",))["event_id"])
        return pc.and_(candidate, is_in(eid, tuple(events)))

    return detect


_EXAMPLE = (
    '{"@timestamp":"2026-11-16T07:01:02.345Z","event":{"code":"%s","provider":'
    '"Microsoft-Windows-Security-Auditing"},"winlog":{"event_id":%s,"computer_name":'
    '"ws-0421.fjordvik.example","provider_name":"Microsoft-Windows-Security-Auditing",'
    '"channel":"Security","event_data":{%s}}}'
)
SECURITY_EXAMPLES = (
    _EXAMPLE % ("4624", "4624", '"TargetUserName":"kari","TargetDomainName":"FJORDVIK",'
                '"TargetLogonId":"0x5a3e1","LogonType":"10","LogonProcessName":"User32 ",'
                '"AuthenticationPackageName":"Negotiate","IpAddress":"198.51.100.23",'
                '"IpPort":"50122"'),
    '{"EventID":4625,"EventTime":"2026-11-16 08:01:09","Hostname":"dc01.fjordvik.example",'
    '"SourceName":"Microsoft-Windows-Security-Auditing","TargetUserName":"admin",'
    '"TargetDomainName":"FJORDVIK","Status":"0xc000006d","SubStatus":"0xc000006a",'
    '"LogonType":"3","IpAddress":"203.0.113.7","IpPort":"0"}',
    _EXAMPLE % ("4672", "4672", '"SubjectUserName":"ola.adm","SubjectDomainName":"FJORDVIK",'
                '"SubjectLogonId":"0x5a3e1","PrivilegeList":"SeBackupPrivilege\\n\\t\\t\\t'
                'SeDebugPrivilege"'),
)  # fmt: skip
OBJECT_ACCESS_EXAMPLES = (
    _EXAMPLE % ("4663", "4663", '"SubjectUserName":"kari","SubjectDomainName":"FJORDVIK",'
                '"SubjectLogonId":"0x7b21","ObjectType":"File","ObjectName":'
                '"D:\\\\Felles\\\\Budsjett\\\\2027.xlsx","AccessList":"%%4416\\n\\t\\t\\t\\t",'
                '"ProcessName":"C:\\\\Windows\\\\explorer.exe"'),
    _EXAMPLE % ("4663", "4663", '"SubjectUserName":"ola.adm","SubjectDomainName":"FJORDVIK",'
                '"SubjectLogonId":"0x5A3E1","ObjectType":"File","ObjectName":'
                '"E:\\\\Exchange\\\\Quarantine\\\\msg-0042.eml","AccessList":'
                '"%%4416\\n\\t\\t\\t\\t%%4417","ProcessName":"C:\\\\Windows\\\\notepad.exe"'),
)  # fmt: skip

WINDOWS_SECURITY = SourceFormat(
    SECURITY_NAME,
    AUTHENTICATION,
    parse_windows_security,
    _detector(AUTH_EVENTS),
    examples=SECURITY_EXAMPLES,
)
WINDOWS_OBJECT_ACCESS = SourceFormat(
    OBJECT_ACCESS_NAME,
    RECORD_ACCESS,
    parse_windows_object_access,
    _detector(ACCESS_EVENTS),
    examples=OBJECT_ACCESS_EXAMPLES,
)
SOURCE_FORMATS = (WINDOWS_SECURITY, WINDOWS_OBJECT_ACCESS)
