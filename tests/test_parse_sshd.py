"""The OpenSSH/PAM/sudo parser against Elastic's auth.log fixture, plus focused cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from schemas.datasets import AUTHENTICATION
from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.sshd import SSHD, parse_sshd

CTX = ParseContext(reference_time=datetime(2024, 3, 10, tzinfo=UTC))
# Lines of the fixture that are not authentication events (rejected on purpose).
UNSUPPORTED = {
    "groupadd[6991]: new group": "unsupported auth.log message (groupadd)",
    "useradd[6995]: new user": "unsupported auth.log message (useradd)",
}


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(SSHD, lines, ctx)


def row(line: str) -> dict:
    return checks.single_row(parse(line))


FIELDS = {
    "actor_user": "user.name",
    "src_ip": "source.ip",
    "src_port": "source.port",
    "action": "event.action",
    "outcome": "event.outcome",
    "process": "process.name",
    "pid": "process.pid",
    "observer": "host.hostname",
    "target_user": "system.auth.sudo.user",
    "command": "system.auth.sudo.command",
    "tty": "system.auth.sudo.tty",
    "pwd": "system.auth.sudo.pwd",
    "auth_method": "system.auth.ssh.method",
    "key_fingerprint": "system.auth.ssh.signature",
}  # our column → Elastic's field


def test_elastic_fixture_agreement() -> None:
    fx = ef.load("system", "test-auth.log")
    result = parse(
        *fx.lines, ctx=ParseContext(reference_time=CTX.reference_time, timezone=fx.timezone)
    )
    for reject in result.rejects.to_pylist():
        line = fx.lines[reject[ROW]]
        print(f"unsupported line {reject[ROW] + 1}: {reject[REASON]}")
        assert [r for key, r in UNSUPPORTED.items() if key in line] == [reject[REASON]]
    assert result.rejects.num_rows == len(UNSUPPORTED)
    agreement = ef.Agreement()
    for ours in result.table.to_pylist():
        i = ours[ROW]
        doc, line = fx.expected[i], fx.lines[i]
        agreement.check_fields(i, ours, doc, FIELDS)
        stamp = ours["time"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        expected = doc["@timestamp"]
        if ef.is_year_less(line):  # the expected year is when Elastic generated the file
            stamp, expected = stamp[5:], expected[5:]
        agreement.check(i, "time", stamp, expected)
    print(agreement.summary())
    assert agreement.compared > 60
    assert agreement.ratio >= 0.99, agreement.disagreements


def test_accepted_publickey_and_keyboard_interactive() -> None:
    got = row(
        "Mar  1 10:00:00 h sshd[42]: Accepted publickey for kari from 10.0.0.4 port 4444 "
        "ssh2: ED25519 SHA256:abcdef"
    )
    assert (got["action"], got["outcome"], got["auth_method"]) == (
        "ssh_login",
        "success",
        "publickey",
    )
    assert (got["actor_user"], got["invalid_user"], got["src_ip"], got["src_port"]) == (
        "kari",
        False,
        "10.0.0.4",
        4444,
    )
    assert (got["key_fingerprint"], got["process"], got["pid"]) == (
        "ED25519 SHA256:abcdef",
        "sshd",
        42,
    )
    got = row(
        "Mar  1 10:00:00 h sshd[1]: Accepted keyboard-interactive/pam for kari from "
        "2001:db8::1 port 22 ssh2"
    )
    assert (got["auth_method"], got["src_ip"]) == ("keyboard-interactive", "2001:db8::1")


def test_failed_login_with_password_typed_as_user_name_never_reaches_a_reason() -> None:
    secret = "Sommer2024!"
    lines = [
        f"Mar  1 10:00:00 h sshd[1]: Failed password for invalid user {secret} from "
        f"10.0.0.1 port {port} ssh2"
        for port in (2222, 99999999)
    ]
    lines.append(f"Mar  1 10:00:00 h sshd[1]: Weird message about {secret}")
    lines.append(f"Mar  1 10:00:00 h {secret}[1]: whatever")
    lines.append("Mar  1 10:00:00 h Sommer2024[1]: whatever")
    result = parse(*lines)
    got = result.table.to_pylist()[0]
    assert (got["actor_user"], got["invalid_user"], got["outcome"]) == (secret, True, "failure")
    reasons = result.rejects.column(REASON).to_pylist()
    assert reasons == [
        "port out of range",
        "unsupported sshd message",
        "unsupported auth.log message (no program tag)",
        "unsupported auth.log message (other program)",
    ]
    assert not any(word in reason for reason in reasons for word in ("Sommer", "10.0.0.1"))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Invalid user admin from 10.0.0.5 port 1",
            {
                "action": "ssh_login",
                "outcome": "failure",
                "actor_user": "admin",
                "invalid_user": True,
            },
        ),
        (
            "Did not receive identification string from 10.0.0.6",
            {"action": "ssh_connection", "outcome": "unknown", "src_ip": "10.0.0.6"},
        ),
        (
            "Connection closed by authenticating user root 10.0.0.2 port 5555 [preauth]",
            {
                "action": "ssh_disconnect",
                "actor_user": "root",
                "invalid_user": False,
                "src_port": 5555,
            },
        ),
        (
            "Disconnected from invalid user a b 10.0.0.3 port 5556 [preauth]",
            {"action": "ssh_disconnect", "actor_user": "a b", "invalid_user": True},
        ),
        (
            "Connection closed by 10.0.0.7 port 1 [preauth]",
            {"action": "ssh_disconnect", "actor_user": None, "src_ip": "10.0.0.7"},
        ),
        (
            "Received disconnect from 10.0.0.8 port 22:11: Bye Bye [preauth]",
            {"action": "ssh_disconnect", "src_ip": "10.0.0.8", "src_port": 22},
        ),
        (
            "error: PAM: Authentication failure for illegal user test from test.example.com",
            {
                "action": "ssh_login",
                "outcome": "failure",
                "actor_user": "test",
                "src_ip": None,
                "invalid_user": True,
                "reason": "Authentication failure",
            },
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=10.0.0.9  user=root",
            {
                "action": "ssh_login",
                "outcome": "failure",
                "actor_user": "root",
                "src_ip": "10.0.0.9",
            },
        ),
    ],
)
def test_sshd_messages(message: str, expected: dict) -> None:
    got = row(f"2024-03-01T10:00:00.5+01:00 host sshd[7]: {message}")
    assert {key: got[key] for key in expected} == expected
    assert got["time"] == datetime(2024, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)


def test_sudo_success_and_failure() -> None:
    ok = row(
        "Mar  1 10:00:00 h sudo:     kari : TTY=pts/0 ; PWD=/home/kari ; USER=root ; "
        "ENV=A=1 ; COMMAND=/bin/cat /etc/shadow"
    )
    assert (ok["action"], ok["outcome"], ok["actor_user"], ok["target_user"]) == (
        "sudo",
        "success",
        "kari",
        "root",
    )
    assert (ok["command"], ok["tty"], ok["pwd"], ok["pid"]) == (
        "/bin/cat /etc/shadow",
        "pts/0",
        "/home/kari",
        None,
    )
    bad = row(
        "Mar  1 10:00:00 h sudo: kari : 3 incorrect password attempts ; TTY=pts/0 ; "
        "PWD=/ ; USER=root ; COMMAND=/bin/ls"
    )
    assert (bad["outcome"], bad["reason"]) == ("failure", "3 incorrect password attempts")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        (None, "empty line"),
        ("garbage", "unsupported syslog header"),
        ("Mar  1 10:00:00 h no tag here", "unsupported auth.log message (no program tag)"),
        (
            "Mar  1 10:00:00 h CRON[5]: pam_unix(cron:session): session opened for user root",
            "unsupported auth.log message (CRON)",
        ),
        (
            "Mar  1 10:00:00 h sudo: pam_unix(sudo:account): account root has expired",
            "unsupported sudo message",
        ),
        (
            "Mar  1 10:00:00 h sshd[99999999999]: Server listening on 0.0.0.0 port 22.",
            "pid out of range",
        ),
    ],
)
def test_rejects(line: str | None, reason: str) -> None:
    assert parse(line).rejects.to_pylist() == [{ROW: 0, REASON: reason}]


def test_source_format() -> None:
    assert SSHD.name == "sshd" and SSHD.dataset is AUTHENTICATION


def test_truncated_and_mutated_lines_never_raise() -> None:
    lines = ef.load("system", "test-auth.log").lines
    cut = [line[:i] for line in lines for i in range(len(line) + 1)]
    mutated = [
        line[:i] + c + line[i + 1 :]
        for line in lines
        for i in range(0, len(line), 5)
        for c in "=[: é"
    ]
    result = parse(*cut, *mutated)
    result.table.validate(full=True)
    assert result.table.num_rows > 0 and result.rejects.num_rows > 0


def test_pam_sessions_of_sshd_and_sudo() -> None:
    lines = pa.array(
        [
            "Nov 16 08:01:02 srv-a sshd[9]: pam_unix(sshd:session): session opened for user "
            "karnor01(uid=1000) by (uid=0)",
            "Nov 16 08:01:03 srv-a sudo: pam_unix(sudo:session): session opened for user "
            "root(uid=0) by karnor01(uid=1000)",
            "Nov 16 08:01:04 srv-a sudo: pam_unix(sudo:session): session closed for user root",
            "Nov 16 08:01:05 srv-a CRON[7]: pam_unix(cron:session): session opened for user root",
        ]
    )
    result = parse_sshd(lines, ParseContext())
    rows = result.table.select(["action", "outcome", "actor_user", "target_user"]).to_pylist()
    assert rows == [
        {"action": "session_opened", "outcome": "success", "actor_user": "karnor01",
         "target_user": None},
        {"action": "session_opened", "outcome": "success", "actor_user": "karnor01",
         "target_user": "root"},
        {"action": "session_closed", "outcome": "success", "actor_user": None,
         "target_user": "root"},
    ]  # fmt: skip
    assert result.rejects.column("reason").to_pylist() == ["unsupported auth.log message (CRON)"]
