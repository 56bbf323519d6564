"""The OCSF-aligned datasets: one source of truth for every column loggvern knows.

Parsers emit these columns (before any privacy transform), policies name them, and the
Arrow schemas of the Parquet lake are derived from them. A column's `identity` says
which kind of personal identifier it holds; identity columns can never be kept in
clear (see schemas/policy.py).
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class IdentityKind(StrEnum):
    """Kinds of identifier, each with its own pseudonym prefix and HMAC domain."""

    user = "usr"  # a person: user name, UPN, e-mail, display name, SID
    device = "dev"  # a personal device name or serial number
    host = "hst"  # an internal host name (log source, server)
    address = "adr"  # a personal network address (e.g. an employee's home IP)
    mac = "mac"  # a hardware address
    path = "pth"  # a home directory or personal path
    record = "rec"  # a third party's record (a patient journal, a case file)


ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
}


class ColumnSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    description: str
    identity: IdentityKind | None = None
    ip: bool = False  # holds an IP address (internal ones are encrypted prefix-preserving)
    url: bool = False  # holds a URL (personal sites name their owner)

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


class DatasetSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    class_uid: int
    columns: tuple[ColumnSpec, ...]

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def parse_schema(self) -> pa.Schema:
        """Schema of a parser's output (before privacy transforms)."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])


def _c(name: str, type_: str, description: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name=name, type=type_, description=description, **kw)  # type: ignore[arg-type]


# Columns every parser emits.
_EVENT_BASE = (
    _c("time", "timestamp", "event time, UTC"),
    _c("observer", "string", "host that wrote the log line", identity=IdentityKind.host),
)

NETWORK_ACTIVITY = DatasetSpec(
    name="network_activity",
    class_uid=4001,
    columns=(
        *_EVENT_BASE,
        _c("action", "string", "allow / drop / reject / log, from the rule prefix"),
        _c("rule_name", "string", "log prefix or rule name"),
        _c("in_iface", "string", "input interface"),
        _c("out_iface", "string", "output interface"),
        _c("src_mac", "string", "source MAC address", identity=IdentityKind.mac),
        _c("dst_mac", "string", "destination MAC address", identity=IdentityKind.mac),
        _c("src_ip", "string", "source address", ip=True),
        _c("dst_ip", "string", "destination address", ip=True),
        _c("src_port", "int32", "source port"),
        _c("dst_port", "int32", "destination port"),
        _c("protocol", "string", "transport protocol, lower case"),
        _c("ip_version", "int8", "4 or 6"),
        _c("length", "int32", "packet length"),
        _c("ttl", "int16", "time to live / hop limit"),
        _c("tcp_flags", "string", "TCP flags, space separated"),
        _c("icmp_type", "int16", "ICMP type"),
        _c("icmp_code", "int16", "ICMP code"),
        _c("uid", "int32", "socket owner uid (--log-uid)", identity=IdentityKind.user),
        _c("gid", "int32", "socket owner gid (--log-uid)"),
        _c("actor_user", "string", "user behind the connection", identity=IdentityKind.user),
        _c("device", "string", "client device name", identity=IdentityKind.device),
        _c("event_id", "string", "vendor message or log id (ASA 106023, FortiGate logid ...)"),
        _c("event_type", "string", "vendor log type/subtype (traffic, threat, utm, vpn ...)"),
        _c("outcome", "string", "success / failure, where the source says"),
        _c("severity", "string", "vendor severity, lower case"),
        _c("session_id", "string", "firewall session id"),
        _c("duration", "int64", "connection duration, seconds"),
        _c("bytes_in", "int64", "bytes from destination to source"),
        _c("bytes_out", "int64", "bytes from source to destination"),
        _c("app", "string", "application the firewall identified"),
        _c(
            "url",
            "string",
            "URL of a web request (threat/URL logs)",
            url=True,
            identity=IdentityKind.user,
        ),
        _c("url_category", "string", "URL category"),
        _c("threat_name", "string", "threat or signature name"),
        _c("nat_src_ip", "string", "source address after NAT", ip=True),
        _c("nat_dst_ip", "string", "destination address after NAT", ip=True),
        _c("vpn_tunnel", "string", "VPN tunnel or group policy"),
    ),
)

AUTHENTICATION = DatasetSpec(
    name="authentication",
    class_uid=3002,
    columns=(
        *_EVENT_BASE,
        _c("process", "string", "program that logged (sshd, sudo, ...)"),
        _c("pid", "int32", "process id"),
        _c("action", "string", "ssh_login / sudo / ssh_disconnect ..."),
        _c("outcome", "string", "success / failure / unknown"),
        _c("auth_method", "string", "password / publickey / keyboard-interactive / none"),
        _c("actor_user", "string", "account the attempt was for", identity=IdentityKind.user),
        _c("invalid_user", "bool", "the account does not exist on the host"),
        _c("src_ip", "string", "remote address", ip=True),
        _c("src_port", "int32", "remote port"),
        _c("target_user", "string", "sudo target account", identity=IdentityKind.user),
        _c("command", "string", "sudo command line"),
        _c("tty", "string", "terminal"),
        _c("pwd", "string", "working directory", identity=IdentityKind.path),
        _c("reason", "string", "failure reason given by the program"),
        _c("key_fingerprint", "string", "public key fingerprint", identity=IdentityKind.user),
        _c("event_id", "string", "vendor event id (Windows 4624 ...)"),
        _c("logon_type", "string", "Windows logon type (2 interactive, 3 network, 10 remote ...)"),
        _c(
            "target_host",
            "string",
            "server named in explicit credentials",
            identity=IdentityKind.host,
        ),
        _c("privileges", "list<string>", "special privileges assigned at logon (4672)"),
        _c("session_id", "string", "logon id"),
    ),
)

RECORD_ACCESS = DatasetSpec(
    name="record_access",
    class_uid=6005,
    columns=(
        *_EVENT_BASE,
        _c("event_id", "string", "vendor event id (Windows 4663 ...)"),
        _c("action", "string", "read / update / print / export / delete / access"),
        _c("outcome", "string", "success / failure"),
        _c("actor_user", "string", "who opened the record", identity=IdentityKind.user),
        _c("actor_unit", "string", "care unit / department of the user"),
        _c(
            "record_id",
            "string",
            "the record opened (a third party's data)",
            identity=IdentityKind.record,
        ),
        _c("record_unit", "string", "care unit the record belongs to"),
        _c("reason_code", "string", "stated reason for the access (service need)"),
        _c("object_type", "string", "File / Key / mailbox ... (Windows object access)"),
        _c("object_name", "string", "object path or name", identity=IdentityKind.path),
        _c("access", "list<string>", "accesses requested (ReadData, WriteData ...)"),
        _c("process", "string", "program that accessed the object"),
        _c("privileged", "bool", "the access used administrator privileges"),
        _c("session_id", "string", "logon id of the session (joins Windows 4672 logons)"),
        _c(
            "store_class",
            "string",
            "privileged store the object is in: quarantine / mailbox "
            "/ hr / journal / backup (from its path), else null",
        ),
    ),
)

DEVICE_INVENTORY = DatasetSpec(
    name="device_inventory",
    class_uid=5001,
    columns=(
        *_EVENT_BASE,
        _c("device", "string", "device name", identity=IdentityKind.device),
        _c("owner", "string", "primary user (UPN)", identity=IdentityKind.user),
        _c("ownership", "string", "corporate / personal"),
        _c("model", "string", "device model"),
        _c("manufacturer", "string", "manufacturer"),
        _c("serial", "string", "serial number", identity=IdentityKind.device),
        _c("os", "string", "operating system"),
        _c("os_version", "string", "operating system version"),
        _c("compliance", "string", "compliant / noncompliant / unknown ..."),
        _c("phone_number", "string", "work phone number", identity=IdentityKind.user),
        _c("last_sync", "timestamp", "last check-in with the MDM"),
        _c("installed_apps", "list<string>", "installed applications"),
    ),
)

DATA_SECURITY_FINDING = DatasetSpec(
    name="data_security_finding",
    class_uid=2006,
    columns=(
        *_EVENT_BASE,
        _c("workload", "string", "Exchange / SharePoint / OneDrive / Teams / Endpoint"),
        _c("operation", "string", "DLPRuleMatch / DLPRuleUndo / DLPInfo ..."),
        _c("outcome", "string", "success / failure: whether the rule blocked"),
        _c("severity", "string", "highest rule severity"),
        _c("policy_names", "list<string>", "DLP policy names"),
        _c("rule_names", "list<string>", "DLP rule names"),
        _c("rule_actions", "list<string>", "actions the rules took"),
        _c("sensitive_types", "list<string>", "sensitive information type ids"),
        _c("sensitive_count", "int32", "number of sensitive items matched"),
        _c("incident_id", "string", "DLP incident id"),
        _c("object_id", "string", "id of the file or message"),
        _c("reporter", "string", "service principal that reported the match"),
        _c("actor_user", "string", "person: sender or owner", identity=IdentityKind.user),
        _c("actor_display", "string", "display name of the person", identity=IdentityKind.user),
        _c("file_name", "string", "file name"),
        _c("file_url", "string", "file URL", identity=IdentityKind.user, url=True),
        _c("site_url", "string", "site collection URL", identity=IdentityKind.user, url=True),
        _c("recipients", "list<string>", "recipient addresses", identity=IdentityKind.user),
        _c("subject", "string", "message subject"),
        _c("src_ip", "string", "client address", ip=True),
    ),
)

DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in (
        NETWORK_ACTIVITY, AUTHENTICATION, DATA_SECURITY_FINDING, RECORD_ACCESS,
        DEVICE_INVENTORY,
    )
}  # fmt: skip


# Columns loggvern adds to every stored row; no policy can remove them.
SYSTEM_COLUMNS: tuple[ColumnSpec, ...] = (
    _c("class_uid", "int32", "OCSF class"),
    _c("source_format", "string", "input format"),
    _c("purposes", "list<string>", "lawful purposes this row serves"),
    _c("policy_id", "string", "policy that produced the row"),
    _c("policy_version", "int32", "version of that policy"),
    _c("ingest_run", "string", "ingest run id"),
    _c("evidence_tag", "string", "HMAC of the raw line (legal log), hex"),
)

# Columns added by pseudonymisation next to IP columns.
INTERNAL_FLAG_SUFFIX = "_internal"
