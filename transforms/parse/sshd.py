"""Parser for OpenSSH, PAM and sudo lines of auth.log / secure, wrapped in syslog.

Logins and privilege escalation are the second security source after the firewall. The syslog
header comes from syslog_header; the message (`program[pid]: text`) is matched by one anchored
regex per message kind over the whole batch (a line of another kind fails at its first bytes),
and the kinds' columns are merged with masks: no per-row Python.

Supported messages and how they map (outcome follows Elastic's event.outcome where it has one):
- sshd `Accepted|Failed <method> for [invalid user ]<user> from <ip> port <port> [ssh2[: <key>]]`
  -> ssh_login, success | failure, auth_method, key_fingerprint (`RSA SHA256:...`)
- sshd `Invalid user <user> from <ip>[ port <port>]` -> ssh_login, failure, invalid_user
- sshd `error: PAM: <reason> for [illegal user ]<user> from <host>` -> ssh_login, failure
- sshd `pam_unix(sshd:auth): authentication failure; ... rhost=<ip> user=<user>`
  -> ssh_login, failure (`pam_unix(sudo:auth)` under sudo -> sudo, failure)
- sshd `Did not receive identification string from <ip>[ port <port>]` -> ssh_connection, unknown
- sshd `Connection closed|reset by`, `Disconnected from`, `Received disconnect from`
  `[authenticating |invalid ]user <user> ]<ip> port <port> ...` -> ssh_disconnect: failure
  before authentication (`[preauth]`, authenticating/invalid user), else success (an
  authenticated session ended)
- sshd/sudo `pam_unix(<service>:session): session opened|closed for user <user>[ by <who>]`
  -> session_opened | session_closed, success (sudo: actor = who ran it, target = user)
- sudo `<user> : [<error> ; ]TTY=<tty> ; PWD=<dir> ; USER=<target> ; [...; ]COMMAND=<cmd>`
  -> sudo, success (failure with the error as reason)
A remote host that is a name rather than an address leaves src_ip null and keeps the row. Other
programs (useradd, cron, ...) and unknown sshd/sudo messages are rejected with fixed reasons.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import AUTHENTICATION
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform, lines_matching
from transforms.parse.line_bytes import is_ip, line_bytes, substrings
from transforms.parse.syslog_header import parse_header

_TAG = r"^(?P<prog>[A-Za-z0-9_.()/-]+)(?:\[(?P<pid>\d+)\])?: ?(?P<text>)"
_PORT = r" port (?P<port>\d+)"
_MESSAGES: dict[str, tuple[str, str]] = {  # kind -> (program, anchored regex over the text)
    "auth": (
        "sshd",
        r"^(?P<event>Accepted|Failed) (?P<method>\S+) for (?P<invalid>invalid user )?"
        r"(?P<user>.*) from (?P<ip>\S+)" + _PORT + r"(?: ssh\d?)?(?:: (?P<key>.+))?$",
    ),
    "invalid": ("sshd", r"^Invalid user (?P<user>.*) from (?P<ip>\S+)(?:" + _PORT + r")?\s*$"),
    "pam_error": (
        "sshd",
        r"^error: PAM: (?P<reason>.+?) for (?P<invalid>illegal user |invalid "
        r"user )?(?P<user>.*) from (?P<ip>\S+)\s*$",
    ),
    "pam_unix": ("", r"^pam_unix\((?P<service>sshd|sudo):auth\): authentication failure;"),
    "session": (
        "",
        r"^pam_unix\((?P<service>sshd|sudo|sudo-i):session\): session (?P<event>opened|closed)"
        r" for user (?P<user>[^\s(]+)(?:\(uid=\d+\))?(?: by (?P<by>[^\s(]*)(?:\(uid=\d+\))?)?\s*$",
    ),
    "no_ident": (
        "sshd",
        r"^Did not receive identification string from (?P<ip>\S+)(?:" + _PORT + r")?\s*$",
    ),
    "closed": (
        "sshd",
        r"^(?:Connection (?:closed|reset) by|Disconnected from|Received disconnect"
        r" from) (?:(?P<invalid>invalid |authenticating )?user (?P<user>.*?) )?"
        r"(?P<ip>\S+)" + _PORT + r"(?:[: ].*)?$",
    ),
    "sudo": (
        "sudo",
        r"^\s*(?P<user>\S+) : (?:(?P<reason>[^;]*?) ; )?TTY=(?P<tty>\S*) ; "
        r"PWD=(?P<pwd>.*?) ; USER=(?P<target>\S+) ; (?:.*? ; )?COMMAND=(?P<command>.*)$",
    ),
}
_ACTION = {
    "auth": "ssh_login",
    "invalid": "ssh_login",
    "pam_error": "ssh_login",
    "no_ident": "ssh_connection",
    "closed": "ssh_disconnect",
    "sudo": "sudo",
}
_KNOWN_PROGRAMS = (
    "useradd",
    "userdel",
    "usermod",
    "groupadd",
    "groupdel",
    "groupmod",
    "passwd",
    "chpasswd",
    "chage",
    "su",
    "login",
    "cron",
    "CRON",
    "crond",
    "systemd-logind",
    "systemd",
    "polkitd",
    "dbus-daemon",
    "sssd",
    "kernel",
)
_SSHD = ("sshd", "sshd-session")  # OpenSSH 9.8+ logs authentication as sshd-session


def parse_sshd(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    header = parse_header(raw, ctx)
    errors = header.errors
    message = substrings(raw, header.body, raw.end - header.body, errors.ok)
    tag = pc.extract_regex_span(message, _TAG)
    tagged = tag.is_valid().to_numpy(False)
    errors.flag(~tagged, "unsupported auth.log message (no program tag)")
    spans = {
        k: tag.field(k).values.fill_null(0).to_numpy().reshape(-1, 2)
        for k in ("prog", "pid", "text")
    }
    base = header.body
    prog = substrings(raw, base + spans["prog"][:, 0], spans["prog"][:, 1], tagged)
    text_start = base + spans["text"][:, 0]
    text = substrings(raw, text_start, raw.end - text_start, tagged)
    has_pid = tagged & tag.field("pid").is_valid().to_numpy(False)
    pid = substrings(raw, base + spans["pid"][:, 0], spans["pid"][:, 1], has_pid)

    cols: dict[str, pa.Array] = {"time": header.time(), "observer": header.observer(raw)}
    cols["process"] = prog
    cols["pid"] = _integer(pid, 2**31 - 1, errors, "pid")
    is_sshd = pc.is_in(prog, pa.array(_SSHD)).fill_null(False).to_numpy(False)
    is_sudo = pc.equal(prog, "sudo").fill_null(False).to_numpy(False)
    matched = np.zeros(len(lines), bool)
    for kind, (program, pattern) in _MESSAGES.items():
        wanted = {"sshd": is_sshd, "sudo": is_sudo}.get(program, is_sshd | is_sudo)
        found = pc.extract_regex(text, pattern)
        mask = wanted & found.is_valid().to_numpy(False) & ~matched
        matched |= mask
        _merge(cols, kind, found, mask, text)
    for program in _KNOWN_PROGRAMS:
        other = tagged & pc.equal(prog, program).fill_null(False).to_numpy(False)
        errors.flag(other, f"unsupported auth.log message ({program})")
    errors.flag(tagged & ~is_sshd & ~is_sudo, "unsupported auth.log message (other program)")
    errors.flag(is_sshd & ~matched, "unsupported sshd message")
    errors.flag(is_sudo & ~matched, "unsupported sudo message")
    cols["src_port"] = _integer(cols.get("src_port", _nulls(len(lines))), 65535, errors, "port")
    address = cols.get("src_ip", _nulls(len(lines)))
    cols["src_ip"] = pc.if_else(pa.array(is_ip(address)), address, None)
    table = conform(errors.accepted(cols), AUTHENTICATION)
    return ParseResult(table, errors.rejects())


def _nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _merge(cols: dict[str, pa.Array], kind: str, found: pa.StructArray, mask, text) -> None:
    """Write one message kind's columns into the rows where it matched."""
    n = len(mask)
    where = pa.array(mask)

    def put(name: str, value) -> None:
        typ = pa.bool_() if name == "invalid_user" else pa.string()  # ints are cast later
        cols[name] = pc.if_else(where, value, cols.get(name, pa.nulls(n, typ)))

    def group(name: str) -> pa.Array:
        value = found.field(name)
        return pc.if_else(pc.equal(value, ""), None, value)  # "" = empty or absent group

    names = {found.type.field(i).name for i in range(found.type.num_fields)}
    if kind == "pam_unix":
        service = found.field("service")
        sudo = pc.equal(service, "sudo")
        put("action", pc.if_else(sudo, "sudo", "ssh_login"))
        put("outcome", pa.scalar("failure"))
        put("reason", pa.scalar("authentication failure"))
        put("actor_user", _key_value(text, "user"))
        put("src_ip", _key_value(text, "rhost"))
        return
    if kind == "session":
        # sshd: the user whose session it is; sudo: `by` is who ran sudo, `user` the target.
        sudo = pc.starts_with(found.field("service"), "sudo")
        put("action", pc.binary_join_element_wise("session_", found.field("event"), ""))
        put("outcome", pa.scalar("success"))
        put("actor_user", pc.if_else(sudo, group("by"), group("user")))
        put("target_user", pc.if_else(sudo, group("user"), None))
        return
    put("action", pa.scalar(_ACTION[kind]))
    for name, column in (
        ("user", "actor_user"),
        ("ip", "src_ip"),
        ("port", "src_port"),
        ("reason", "reason"),
        ("tty", "tty"),
        ("pwd", "pwd"),
        ("target", "target_user"),
        ("command", "command"),
        ("key", "key_fingerprint"),
    ):
        if name in names:
            put(column, group(name))
    if "method" in names:
        put(
            "auth_method",
            pc.replace_substring(
                group("method"), "keyboard-interactive/pam", "keyboard-interactive"
            ),
        )
    if "invalid" in names:  # "invalid user ", "illegal user " (not "authenticating ")
        put(
            "invalid_user", pc.match_substring_regex(found.field("invalid"), "^(?:invalid|illegal)")
        )
    elif kind == "invalid":
        put("invalid_user", pa.scalar(True))
    if kind == "auth":
        put("outcome", pc.if_else(pc.equal(found.field("event"), "Accepted"), "success", "failure"))
    elif kind == "sudo":
        put("outcome", pc.if_else(pc.equal(found.field("reason"), ""), "success", "failure"))
    elif kind in ("invalid", "pam_error"):
        put("outcome", pa.scalar("failure"))
    elif kind == "closed":
        # Before authentication sshd tags its lines `[preauth]` and names `authenticating`
        # or `invalid` users: the attempt never got in. Without them the line ends an
        # authenticated session (an employee's, often from home: its address is personal).
        preauth = pc.or_(
            pc.fill_null(pc.not_equal(found.field("invalid"), ""), False),
            pc.fill_null(pc.match_substring(text, "[preauth]"), False),
        )
        put("outcome", pc.if_else(preauth, "failure", "success"))
    else:
        put("outcome", pa.scalar("unknown"))


def _key_value(text: pa.Array, key: str) -> pa.Array:
    """The value of ` key=value` in PAM's message (null when absent or empty)."""
    value = pc.extract_regex(text, rf"\s{key}=(?P<v>\S+)")
    return pc.if_else(value.is_valid(), value.field("v"), None)


def _integer(digits: pa.Array, limit: int, errors, name: str) -> pa.Array:
    """Digit strings to int32; longer or larger than `limit` rejects the row (fixed reason)."""
    digits = digits.cast(pa.string())
    short = pc.less_equal(pc.utf8_length(digits), len(str(limit))).fill_null(True)
    value = pc.cast(pc.if_else(short, digits, None), pa.int64())
    too_big = pc.or_kleene(pc.invert(short), pc.greater(value, limit)).fill_null(False)
    errors.flag(too_big.to_numpy(False), f"{name} out of range")
    return pc.if_else(too_big, None, value).cast(pa.int32())


_AUTH_PROGRAM = r"\s(?:sshd|sudo)(?:\[\d+\])?: "


SSHD = SourceFormat(
    "sshd",
    AUTHENTICATION,
    parse_sshd,
    lines_matching(_AUTH_PROGRAM),
    examples=(
        "Nov 16 08:01:02 jump1 sshd[4242]: Failed password for invalid user admin from 203.0.113.7 port 51515 ssh2",  # noqa: E501
        "Nov 16 08:01:09 jump1 sshd[4250]: Accepted publickey for kari from 198.51.100.23 port 40022 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",  # noqa: E501
        "Nov 16 08:02:00 app3 sudo:     kari : TTY=pts/0 ; PWD=/home/kari ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",  # noqa: E501
    ),
)
SOURCE_FORMATS = (SSHD,)
